/*
 * testutil.h — shared helpers for the Check suites in tests/.
 *
 * Every suite is its own program (tests/check_<module>.c) so that automake reports each
 * module separately, and a suite that needs an OpenCL device can SKIP (exit 77) where
 * none exists. Build/run OpenCL cases with DIDCL_CL_TIMEOUT: Check's 4 s default is
 * shorter than a cold kernel compile.
 */
#ifndef DIDCL_TESTUTIL_H
#define DIDCL_TESTUTIL_H

#include <check.h>
#include <stddef.h>

#include "didcl.h"

#define DIDCL_CL_TIMEOUT 120

/* Run suite and return the process exit status (0 if no test failed). */
int testutil_run(Suite *s);

/* Open the default device, or exit(77) (SKIP) when the machine has no OpenCL device.
 * Call inside a test. */
didcl_runtime_t testutil_runtime_or_skip(void);

/* Call from main() of a suite that needs OpenCL: exit(77) (SKIP) with a message when no
 * OpenCL device exists, so automake reports SKIP instead of a failure. */
void testutil_skip_without_device(void);

/* A fresh empty temporary directory (mkdtemp under $TMPDIR or /tmp); caller frees the
 * string. testutil_rmtree removes it again. */
char *testutil_tmpdir(void);
void testutil_rmtree(const char *dir);

/* Write n bytes to path; returns 0 on success. */
int testutil_write_file(const char *path, const void *data, size_t n);

/* Assert that the last library error contains needle. */
#define ck_assert_last_error_has(needle)                                               \
    ck_assert_msg(strstr(didcl_last_error(), (needle)) != NULL,                        \
                  "expected error containing \"%s\", got \"%s\"", (needle),             \
                  didcl_last_error())

/* Path of the source tree's tests/ folder (for fixtures), from the build. */
#ifndef DIDCL_TEST_SRCDIR
#define DIDCL_TEST_SRCDIR "."
#endif

#endif /* DIDCL_TESTUTIL_H */

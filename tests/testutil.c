/*
 * testutil.c — helpers shared by the Check suites (see testutil.h).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

int testutil_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

didcl_runtime_t testutil_runtime_or_skip(void) {
    didcl_runtime_t rt = NULL;
    didcl_status st = didcl_runtime_init(NULL, &rt);
    if (st == DIDCL_ERR_NO_PLATFORM || st == DIDCL_ERR_NO_DEVICE) {
        fprintf(stderr, "SKIP: no OpenCL device: %s\n", didcl_last_error());
        exit(77);
    }
    ck_assert_msg(st == DIDCL_OK, "didcl_runtime_init: %s", didcl_last_error());
    return rt;
}

/* The probe runs in a child process: an OpenCL runtime initialised in the parent (PoCL
 * starts worker threads) does not survive the fork Check makes for every test. */
void testutil_skip_without_device(void) {
    pid_t pid = fork();
    if (pid == 0) {
        didcl_device_info *devs = NULL;
        size_t n = 0;
        if (didcl_devices_list(&devs, &n) != DIDCL_OK || n == 0) {
            fprintf(stderr, "SKIP: no OpenCL device: %s\n", didcl_last_error());
            _exit(77);
        }
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        exit(77);
}

char *testutil_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    ck_assert_ptr_nonnull(path);
    snprintf(path, 4096, "%s/didcl-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void testutil_rmtree(const char *dir) {
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int testutil_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

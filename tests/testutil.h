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

/* Compare got with want element by element: every |got - want| must be within
 * atol + rtol * |want| (equal infinities match; a NaN on either side fails). Prints one
 * line "label n= max abs err (atol)" (the figure the parity logs record) and, on a
 * mismatch, the max relative error and the first bad element. Returns 1 on a match. */
int testutil_check_tensor(const char *label, const float *got, const float *want, size_t n,
                          double atol, double rtol);

#define CK_TENSOR(label, got, want, n, atol, rtol)                                      \
    ck_assert_msg(testutil_check_tensor((label), (got), (want), (n), (atol), (rtol)),   \
                  "%s differs", (label))

/* Assert that the last library error contains needle. */
#define ck_assert_last_error_has(needle)                                               \
    ck_assert_msg(strstr(didcl_last_error(), (needle)) != NULL,                        \
                  "expected error containing \"%s\", got \"%s\"", (needle),             \
                  didcl_last_error())

/* The Python interpreter that imports torch (parity tests): $PYTHON_TORCH when set (a
 * tree run on another machine), else the one configure found; "" when there is none. */
const char *testutil_python_torch(void);

/* Path of the source tree's tests/ folder (for fixtures), from the build. */
#ifndef DIDCL_TEST_SRCDIR
#define DIDCL_TEST_SRCDIR "."
#endif


/* ---- checkpoint files (safetensors, config.json, model directories) ---- */

#include <stdint.h>

/* One tensor to write. dtype is written verbatim (so tests can write "I64"); data holds
 * numel * element-size bytes, or is NULL for a deterministic non-NaN fill. */
typedef struct testutil_tensor {
    char name[96];
    char dtype[8];
    int ndim;
    uint64_t shape[4];
    const void *data;
} testutil_tensor;

/* Write a safetensors file from a literal header: the 8-byte length of header, header
 * itself (not padded) and ndata bytes of data. For building malformed files. */
int testutil_write_raw_safetensors(const char *path, const char *header, const void *data,
                                   size_t ndata);

/* Write a valid safetensors file holding tensors in order, the header padded with spaces
 * to a multiple of 8 like the reference writer. Returns 0 on success. */
int testutil_write_safetensors(const char *path, const testutil_tensor *t, size_t n);

/* A tiny model in the exact layout of its architecture. */
typedef struct testutil_model {
    const char *arch;   /* "bd3lm" or "gpt2" */
    int layers, hidden, heads, cond, vocab, length, block;
    const char *dtype;  /* storage dtype of every tensor ("F32" when NULL) */
    const char *prefix; /* gpt2: "" or "transformer." */
    int lm_head;        /* gpt2: also store lm_head.weight */
    int buffers;        /* bd3lm: also store inv_freq and the eps scalars (0.25, 0.75) */
} testutil_model;

/* The default tiny BD3-LM: 2 layers, hidden 64, 4 heads, cond 16, vocab 100, length 32,
 * block 4. */
testutil_model testutil_tiny_bd3lm(void);
testutil_model testutil_tiny_gpt2(void);

/* The model's tensors (malloc'd array, free with free()) and their count. */
size_t testutil_model_tensors(const testutil_model *m, testutil_tensor **out);

/* Write dir/config.json for m (extra is appended inside the object, e.g.
 * "\"mask_token_id\": 7", or NULL). */
int testutil_write_config(const char *dir, const testutil_model *m, const char *extra);

/* Write config.json and model.safetensors (shards == 1) or model.safetensors.index.json
 * with shards files model-0000i-of-0000n.safetensors (shards > 1) into dir. */
int testutil_write_model(const char *dir, const testutil_model *m, int shards);

/* The generation tests' model in dir: m (a tiny BD3-LM) plus the project's
 * models/tokenizer.json copied beside it. 0 on success. */
int testutil_write_generator(const char *dir, const testutil_model *m);

/* Copy the file from to the file to. 0 on success. */
int testutil_copy_file(const char *from, const char *to);

#endif /* DIDCL_TESTUTIL_H */

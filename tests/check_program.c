/*
 * check_program.c — kernel programs: a family built and run with its result checked, the
 * in-memory and on-disk caches (a second runtime hits the disk cache), a corrupt cache
 * entry falling back silently, a broken kernel giving a readable compiler log, and the
 * DIDCL_CL_DIR override; and the cache on hostile ground: another family's binary under a
 * key (dropped, rebuilt), a symlink at the old temporary name, a directory others can write.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progcache.h"
#include "program.h"
#include "runtime.h"
#include "testutil.h"

static char *cache_dir;

static void setup(void) {
    cache_dir = testutil_tmpdir();
    setenv("DIDCL_CACHE_DIR", cache_dir, 1);
    unsetenv("DIDCL_CL_DIR");
}

static void teardown(void) {
    testutil_rmtree(cache_dir);
    free(cache_dir);
    unsetenv("DIDCL_CACHE_DIR");
    unsetenv("DIDCL_CL_DIR");
}

/* y = 2*x + y on n elements through elementwise.cl:axpy_f32; returns max error. */
static float run_axpy(didcl_runtime_t rt, int n) {
    cl_kernel k;
    ck_assert_msg(didcl_program_kernel(rt, "elementwise", NULL, "axpy_f32", &k) == DIDCL_OK, "%s",
                  didcl_last_error());
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (int i = 0; i < n; i++) {
        x[i] = (float)i * 0.5f;
        y[i] = 1.0f - (float)i;
    }
    cl_int err;
    cl_mem bx = clCreateBuffer(rt->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * sizeof *x, x, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem by = clCreateBuffer(rt->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof *y, y, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    float a = 2.0f;
    clSetKernelArg(k, 0, sizeof n, &n);
    clSetKernelArg(k, 1, sizeof a, &a);
    clSetKernelArg(k, 2, sizeof bx, &bx);
    clSetKernelArg(k, 3, sizeof by, &by);
    size_t global = (size_t)((n + 63) / 64 * 64);
    ck_assert_int_eq(clEnqueueNDRangeKernel(rt->queue, k, 1, NULL, &global, NULL, 0, NULL, NULL), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueReadBuffer(rt->queue, by, CL_TRUE, 0, n * sizeof *y, y, 0, NULL, NULL), CL_SUCCESS);
    float maxerr = 0;
    for (int i = 0; i < n; i++) {
        float want = 1.0f - (float)i + 2.0f * ((float)i * 0.5f);
        float e = y[i] > want ? y[i] - want : want - y[i];
        maxerr = e > maxerr ? e : maxerr;
    }
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    free(x);
    free(y);
    return maxerr;
}

static int count_entries(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l > s && !strcmp(e->d_name + l - s, suffix);
    }
    closedir(d);
    return n;
}

START_TEST(test_kernel_runs_and_disk_cache_hits) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    didcl_cache_stats st;
    ck_assert_str_eq(didcl_runtime_cache_dir(rt), cache_dir);
    ck_assert_float_eq(run_axpy(rt, 1000), 0.0f);
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.compiles, 1);
    ck_assert_uint_eq(st.disk_hits, 0);
    /* Same kernel again: served from memory, nothing rebuilt. */
    ck_assert_float_eq(run_axpy(rt, 77), 0.0f);
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.compiles, 1);
    ck_assert_uint_eq(st.memory_hits, 1);
    didcl_runtime_free(rt);
    ck_assert_int_eq(count_entries(cache_dir, ".bin"), 1);
    ck_assert_int_eq(count_entries(cache_dir, ".tmp"), 0);

    /* A new runtime (as a second process would) loads the binary from disk. */
    rt = testutil_runtime_or_skip();
    ck_assert_float_eq(run_axpy(rt, 1000), 0.0f);
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.disk_hits, 1);
    ck_assert_uint_eq(st.compiles, 0);
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_options_change_the_key) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    cl_kernel k1, k2;
    ck_assert_int_eq(didcl_program_kernel(rt, "elementwise", NULL, "axpy_f32", &k1), DIDCL_OK);
    ck_assert_int_eq(didcl_program_kernel(rt, "elementwise", "-DDIDCL_WEIGHT_HALF", "axpy_f32", &k2), DIDCL_OK);
    ck_assert_ptr_ne(k1, k2);
    didcl_cache_stats st;
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.compiles, 2);
    didcl_runtime_free(rt);
    ck_assert_int_eq(count_entries(cache_dir, ".bin"), 2);
}
END_TEST

START_TEST(test_corrupt_cache_entry_falls_back) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    ck_assert_float_eq(run_axpy(rt, 100), 0.0f);
    didcl_runtime_free(rt);
    /* Overwrite every cache entry with garbage: the next build must silently recompile. */
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".bin"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
        ck_assert_int_eq(testutil_write_file(path, "DIDCLKB\0garbage", 15), 0);
    }
    closedir(d);
    rt = testutil_runtime_or_skip();
    ck_assert_float_eq(run_axpy(rt, 100), 0.0f);
    didcl_cache_stats st;
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.disk_hits, 0);
    ck_assert_uint_eq(st.compiles, 1);
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_unusable_cache_dir_is_silent) {
    /* A cache path under a regular file can never be created. */
    char path[4096], file[4096];
    snprintf(file, sizeof file, "%s/plainfile", cache_dir);
    ck_assert_int_eq(testutil_write_file(file, "x", 1), 0);
    snprintf(path, sizeof path, "%s/sub", file);
    setenv("DIDCL_CACHE_DIR", path, 1);
    didcl_runtime_t rt = testutil_runtime_or_skip();
    ck_assert_float_eq(run_axpy(rt, 10), 0.0f);
    didcl_runtime_free(rt);
    setenv("DIDCL_CACHE_DIR", "off", 1);
    rt = testutil_runtime_or_skip();
    ck_assert_str_eq(didcl_runtime_cache_dir(rt), "");
    ck_assert_float_eq(run_axpy(rt, 10), 0.0f);
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_broken_kernel_reports_log) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    static const char src[] = "__kernel void broken(__global float *x) {\n"
                              "    x[get_global_id(0)] = undefined_symbol_here;\n"
                              "}\n";
    cl_program prog = NULL;
    ck_assert_int_eq(didcl_program_build_source(rt, "broken.cl", src, sizeof src - 1, NULL, &prog),
                     DIDCL_ERR_BUILD);
    ck_assert_ptr_null(prog);
    ck_assert_last_error_has("broken.cl: OpenCL build failed on ");
    ck_assert_last_error_has("undefined_symbol_here");
    ck_assert_last_error_has("CL_BUILD_PROGRAM_FAILURE");
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_unknown_family_and_kernel) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    cl_kernel k;
    ck_assert_int_eq(didcl_program_kernel(rt, "nosuchfamily", NULL, "x", &k), DIDCL_ERR_NOT_FOUND);
    ck_assert_last_error_has("no kernel family 'nosuchfamily'");
    ck_assert_int_eq(didcl_program_kernel(rt, "elementwise", NULL, "nosuchkernel", &k), DIDCL_ERR_OPENCL);
    ck_assert_last_error_has("cl/elementwise.cl: kernel 'nosuchkernel'");
    ck_assert_last_error_has("CL_INVALID_KERNEL_NAME");
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_cl_dir_override) {
    /* A kernel directory whose elementwise.cl computes something else proves the
     * override is used, and its line numbers survive in a build error. */
    char *dir = testutil_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/common.cl", dir);
    ck_assert_int_eq(testutil_write_file(path, "\n", 1), 0);
    snprintf(path, sizeof path, "%s/elementwise.cl", dir);
    const char *src = "\n\n__kernel void axpy_f32(int n, float a, __global const float *x,"
                      " __global float *y) { oops }\n";
    ck_assert_int_eq(testutil_write_file(path, src, strlen(src)), 0);
    setenv("DIDCL_CL_DIR", dir, 1);
    didcl_runtime_t rt = testutil_runtime_or_skip();
    cl_kernel k;
    ck_assert_int_eq(didcl_program_kernel(rt, "elementwise", NULL, "axpy_f32", &k), DIDCL_ERR_BUILD);
    ck_assert_last_error_has("elementwise.cl:3:");
    ck_assert_last_error_has("oops");
    didcl_runtime_free(rt);
    snprintf(path, sizeof path, "%s/missing", dir);
    setenv("DIDCL_CL_DIR", path, 1);
    rt = testutil_runtime_or_skip();
    ck_assert_int_eq(didcl_program_kernel(rt, "elementwise", NULL, "axpy_f32", &k), DIDCL_ERR_IO);
    ck_assert_last_error_has("common.cl: cannot open kernel source (DIDCL_CL_DIR is set)");
    didcl_runtime_free(rt);
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

/* The name of the one .bin entry of dir not in `except` (NULL: any), into name. */
static void find_entry(const char *dir, const char *except, char *name, size_t size) {
    DIR *d = opendir(dir);
    struct dirent *e;
    name[0] = '\0';
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".bin") && (!except || strcmp(e->d_name, except)))
            snprintf(name, size, "%s", e->d_name);
    closedir(d);
    ck_assert_msg(name[0], "no cache entry in %s", dir);
}

static char *read_text_file(const char *path) {
    static char buf[256];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A well-formed entry holding another family's binary: dropped and rebuilt, once. */
START_TEST(test_foreign_binary_is_rebuilt) {
    char a[256], b[256], pa[4200], pb[4200];
    cl_kernel k;
    didcl_runtime_t rt = testutil_runtime_or_skip();
    ck_assert_float_eq(run_axpy(rt, 10), 0.0f);
    didcl_runtime_free(rt);
    find_entry(cache_dir, NULL, a, sizeof a);
    rt = testutil_runtime_or_skip();
    ck_assert_int_eq(didcl_program_kernel(rt, "logits", NULL, "gather_logprob", &k), DIDCL_OK);
    didcl_runtime_free(rt);
    find_entry(cache_dir, a, b, sizeof b);
    snprintf(pa, sizeof pa, "%s/%s", cache_dir, a);
    snprintf(pb, sizeof pb, "%s/%s", cache_dir, b);
    ck_assert_int_eq(rename(pa, pb), 0); /* logits' key now holds elementwise's binary */

    didcl_cache_stats st;
    rt = testutil_runtime_or_skip();
    ck_assert_msg(didcl_program_kernel(rt, "logits", NULL, "gather_logprob", &k) == DIDCL_OK, "%s",
                  didcl_last_error());
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.disk_hits, 1);
    ck_assert_uint_eq(st.compiles, 1);
    didcl_runtime_free(rt);
    /* the entry was rewritten: the next run loads it */
    rt = testutil_runtime_or_skip();
    ck_assert_int_eq(didcl_program_kernel(rt, "logits", NULL, "gather_logprob", &k), DIDCL_OK);
    didcl_runtime_cache_stats(rt, &st);
    ck_assert_uint_eq(st.disk_hits, 1);
    ck_assert_uint_eq(st.compiles, 0);
    didcl_runtime_free(rt);
}
END_TEST

/* A symlink planted at the old predictable temporary name is never written through. */
START_TEST(test_store_ignores_planted_symlink) {
    char *other = testutil_tmpdir(), victim[4200], link[4200];
    const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    snprintf(victim, sizeof victim, "%s/victim", other);
    ck_assert_int_eq(testutil_write_file(victim, "precious", 8), 0);
    snprintf(link, sizeof link, "%s/%s.tmp.%ld", cache_dir, key, (long)getpid());
    ck_assert_int_eq(symlink(victim, link), 0);
    const unsigned char bin[] = "binary";
    ck_assert_int_eq(didcl_progcache_store(cache_dir, key, bin, sizeof bin), 1);
    ck_assert_str_eq(read_text_file(victim), "precious");
    unsigned char *got = NULL;
    size_t len = 0;
    ck_assert_int_eq(didcl_progcache_load(cache_dir, key, &got, &len), 1);
    ck_assert_uint_eq(len, sizeof bin);
    ck_assert_int_eq(memcmp(got, bin, len), 0);
    free(got);
    struct stat sb;
    snprintf(link, sizeof link, "%s/%s.bin", cache_dir, key);
    ck_assert_int_eq(lstat(link, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode) && (sb.st_mode & 077) == 0);
    testutil_rmtree(other);
    free(other);
}
END_TEST

static int warnings;
static void count_warnings(enum didcl_log_level level, const char *msg, void *user) {
    (void)msg;
    (void)user;
    warnings += level == DIDCL_LOG_WARN;
}

/* A cache directory others can write is refused: the cache is off, with a warning. */
START_TEST(test_shared_cache_dir_refused) {
    const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const unsigned char bin[] = "binary";
    ck_assert_int_eq(didcl_progcache_store(cache_dir, key, bin, sizeof bin), 1);
    ck_assert_int_eq(chmod(cache_dir, 0777), 0);
    unsigned char *got = NULL;
    size_t len = 0;
    ck_assert_int_eq(didcl_progcache_load(cache_dir, key, &got, &len), 0);
    ck_assert_int_eq(didcl_progcache_store(cache_dir, key, bin, sizeof bin), 0);
    warnings = 0;
    didcl_log_set(count_warnings, NULL);
    didcl_runtime_t rt = testutil_runtime_or_skip();
    didcl_log_set(NULL, NULL);
    ck_assert_int_eq(warnings, 1);
    ck_assert_str_eq(didcl_runtime_cache_dir(rt), "");
    ck_assert_float_eq(run_axpy(rt, 10), 0.0f);
    didcl_runtime_free(rt);
    ck_assert_int_eq(chmod(cache_dir, 0700), 0);
    ck_assert_int_eq(didcl_progcache_load(cache_dir, key, &got, &len), 1);
    free(got);
}
END_TEST

static Suite *program_suite(void) {
    Suite *s = suite_create("program");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_kernel_runs_and_disk_cache_hits);
    tcase_add_test(tc, test_options_change_the_key);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(lim, setup, teardown);
    tcase_add_test(lim, test_corrupt_cache_entry_falls_back);
    tcase_add_test(lim, test_unusable_cache_dir_is_silent);
    tcase_add_test(lim, test_broken_kernel_reports_log);
    tcase_add_test(lim, test_unknown_family_and_kernel);
    tcase_add_test(lim, test_cl_dir_override);
    tcase_add_test(lim, test_foreign_binary_is_rebuilt);
    tcase_add_test(lim, test_store_ignores_planted_symlink);
    tcase_add_test(lim, test_shared_cache_dir_refused);
    suite_add_tcase(s, lim);
    return s;
}

int main(void) {
    testutil_skip_without_device();
    return testutil_run(program_suite());
}

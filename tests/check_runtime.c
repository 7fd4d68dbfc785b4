/*
 * check_runtime.c — OpenCL device enumeration and selection (runs on PoCL in CI).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "profile.h"
#include "runtime.h"
#include "testutil.h"

START_TEST(test_list_devices) {
    didcl_device_info *devs = NULL;
    size_t n = 0;
    ck_assert_int_eq(didcl_devices_list(&devs, &n), DIDCL_OK);
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(devs[i].name[0] != '\0', "device %zu has no name", i);
        ck_assert_uint_gt(devs[i].global_mem, 0);
        ck_assert_uint_gt(devs[i].max_work_group, 0);
        ck_assert_uint_gt(devs[i].compute_units, 0);
        ck_assert_msg(strstr(devs[i].version, "OpenCL") != NULL, "version '%s'", devs[i].version);
    }
    free(devs);
}
END_TEST

START_TEST(test_select_default_and_by_index) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    const didcl_device_info *d = didcl_runtime_device(rt);
    char sel[32];
    snprintf(sel, sizeof sel, "%u:%u", d->platform_index, d->device_index);
    char name[256];
    snprintf(name, sizeof name, "%s", d->name);
    didcl_runtime_free(rt);

    ck_assert_int_eq(didcl_runtime_init(sel, &rt), DIDCL_OK);
    ck_assert_str_eq(didcl_runtime_device(rt)->name, name);
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_select_by_name_substring) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    char name[256], upper[8] = {0};
    snprintf(name, sizeof name, "%s", didcl_runtime_device(rt)->name);
    didcl_runtime_free(rt);
    /* Case-insensitive: the first 4 characters in upper case select the same device. */
    for (int i = 0; i < 4 && name[i]; i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    ck_assert_int_eq(didcl_runtime_init(upper, &rt), DIDCL_OK);
    ck_assert_str_eq(didcl_runtime_device(rt)->name, name);
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_select_from_env) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    didcl_runtime_free(rt);
    setenv("DIDCL_DEVICE", "no-such-device-xyz", 1);
    ck_assert_int_eq(didcl_runtime_init(NULL, &rt), DIDCL_ERR_NO_DEVICE);
    ck_assert_last_error_has("DIDCL_DEVICE 'no-such-device-xyz' matches no OpenCL device");
    /* An explicit selector wins over the environment. */
    ck_assert_int_eq(didcl_runtime_init("0:0", &rt), DIDCL_OK);
    didcl_runtime_free(rt);
    unsetenv("DIDCL_DEVICE");
}
END_TEST

START_TEST(test_select_bad) {
    didcl_runtime_t rt = NULL;
    ck_assert_int_eq(didcl_runtime_init("99:0", &rt), DIDCL_ERR_NO_DEVICE);
    ck_assert_last_error_has("--device '99:0' matches no OpenCL device");
    ck_assert_last_error_has("didcl devices");
    ck_assert_ptr_null(rt);
    ck_assert_int_eq(didcl_runtime_init("nonexistent-gpu", &rt), DIDCL_ERR_NO_DEVICE);
    ck_assert_int_eq(didcl_runtime_init("0:0", NULL), DIDCL_ERR_INVALID_ARG);
    didcl_runtime_free(NULL); /* accepted */
}
END_TEST

/* Kernel and command names land in the kind their names say, new ones included. */
START_TEST(test_profile_kinds) {
    static const struct {
        const char *name;
        enum didcl_time_kind kind;
    } cases[] = {
        {"gemv", DIDCL_TIME_PRODUCTS},          {"sgemm", DIDCL_TIME_PRODUCTS},
        {"fused_gemv_gelu", DIDCL_TIME_PRODUCTS}, {"attention", DIDCL_TIME_ATTENTION},
        {"attention_wide_qk", DIDCL_TIME_ATTENTION}, {"attention_probs", DIDCL_TIME_ATTENTION},
        {"sample_nucleus", DIDCL_TIME_SAMPLING}, {"sample_argmax_rows", DIDCL_TIME_SAMPLING},
        {"read_logits", DIDCL_TIME_TRANSFERS},  {"write_ids", DIDCL_TIME_TRANSFERS},
        {"copy_kv_cache", DIDCL_TIME_OTHER},    {"layernorm_modulate", DIDCL_TIME_OTHER},
        {"gelu_tanh_f32", DIDCL_TIME_OTHER},    {NULL, DIDCL_TIME_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(didcl_profile_kind(cases[i].name) == cases[i].kind, "%s: kind %d, expected %d",
                      cases[i].name ? cases[i].name : "(null)",
                      (int)didcl_profile_kind(cases[i].name), (int)cases[i].kind);
    ck_assert_str_eq(didcl_time_kind_str(DIDCL_TIME_PRODUCTS), "products");
    ck_assert_str_eq(didcl_time_kind_str(DIDCL_TIME_OTHER), "other");
    ck_assert_str_eq(didcl_time_kind_str(DIDCL_TIME_KINDS), "unknown");
}
END_TEST

/* Off by default; on, each command counts once under its kind; off again, nothing. */
START_TEST(test_profiling_counts_commands) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    didcl_profile p;
    ck_assert_int_eq(didcl_runtime_profile(rt, &p), DIDCL_OK);
    ck_assert_int_eq(p.enabled, 0);
    ck_assert_ptr_null(didcl_profile_event(rt, "gemv"));
    ck_assert_int_eq(didcl_runtime_set_profiling(rt, 1), DIDCL_OK);
    cl_int err;
    cl_mem x = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, 1024 * sizeof(float), NULL, &err);
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(didcl_ops_scale(rt, 1024, 0.5f, x), DIDCL_OK);
    float host[1024];
    ck_assert_int_eq(clEnqueueReadBuffer(rt->queue, x, CL_TRUE, 0, sizeof host, host, 0, NULL,
                                         didcl_profile_event(rt, "read_test")),
                     CL_SUCCESS);
    ck_assert_int_eq(didcl_runtime_profile(rt, &p), DIDCL_OK);
    ck_assert_int_eq(p.enabled, 1);
    ck_assert_uint_eq(p.commands[DIDCL_TIME_OTHER], 3);
    ck_assert_uint_eq(p.commands[DIDCL_TIME_TRANSFERS], 1);
    ck_assert_uint_eq(p.commands[DIDCL_TIME_PRODUCTS], 0);
    ck_assert(p.seconds[DIDCL_TIME_OTHER] >= 0.0 && p.seconds[DIDCL_TIME_PRODUCTS] == 0.0);
    ck_assert_int_eq(didcl_runtime_set_profiling(rt, 0), DIDCL_OK);
    ck_assert_int_eq(didcl_ops_scale(rt, 1024, 0.5f, x), DIDCL_OK);
    ck_assert_int_eq(didcl_runtime_profile(rt, &p), DIDCL_OK);
    ck_assert_int_eq(p.enabled, 0);
    ck_assert_uint_eq(p.commands[DIDCL_TIME_OTHER], 0);
    clReleaseMemObject(x);
    didcl_runtime_free(rt);
}
END_TEST

START_TEST(test_copy_bandwidth_and_warmup) {
    didcl_runtime_t rt = testutil_runtime_or_skip();
    double bps = 0.0;
    ck_assert_int_eq(didcl_runtime_copy_bandwidth(rt, 1 << 20, 2, &bps), DIDCL_OK);
    ck_assert(bps > 0.0);
    ck_assert_int_eq(didcl_runtime_copy_bandwidth(rt, 16, 2, &bps), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_runtime_copy_bandwidth(rt, 1 << 20, 0, &bps), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_runtime_warmup(rt, 0x80), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_last_error(), "unknown flags"));
    ck_assert_int_eq(didcl_runtime_warmup(NULL, 0), DIDCL_ERR_INVALID_ARG);
    /* a warm-up builds every family: the kernels of a forward are then memory hits */
    ck_assert_int_eq(didcl_runtime_warmup(rt, DIDCL_WARMUP_HALF), DIDCL_OK);
    didcl_cache_stats before, after;
    didcl_runtime_cache_stats(rt, &before);
    ck_assert_uint_gt(before.compiles + before.disk_hits, 1);
    cl_int err;
    cl_mem x = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, 64 * sizeof(float), NULL, &err);
    ck_assert_int_eq(didcl_ops_scale(rt, 64, 2.0f, x), DIDCL_OK);
    didcl_runtime_cache_stats(rt, &after);
    ck_assert_uint_eq(after.compiles + after.disk_hits, before.compiles + before.disk_hits);
    clReleaseMemObject(x);
    didcl_runtime_free(rt);
}
END_TEST

static Suite *runtime_suite(void) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, DIDCL_CL_TIMEOUT);
    tcase_add_test(tc, test_list_devices);
    tcase_add_test(tc, test_select_default_and_by_index);
    tcase_add_test(tc, test_select_by_name_substring);
    tcase_add_test(tc, test_select_from_env);
    tcase_add_test(tc, test_profile_kinds);
    tcase_add_test(tc, test_profiling_counts_commands);
    tcase_add_test(tc, test_copy_bandwidth_and_warmup);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, DIDCL_CL_TIMEOUT);
    tcase_add_test(lim, test_select_bad);
    suite_add_tcase(s, lim);
    return s;
}

int main(void) {
    testutil_skip_without_device();
    return testutil_run(runtime_suite());
}

/*
 * check_runtime.c — OpenCL device enumeration and selection (runs on PoCL in CI).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static Suite *runtime_suite(void) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, DIDCL_CL_TIMEOUT);
    tcase_add_test(tc, test_list_devices);
    tcase_add_test(tc, test_select_default_and_by_index);
    tcase_add_test(tc, test_select_by_name_substring);
    tcase_add_test(tc, test_select_from_env);
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

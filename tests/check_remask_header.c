/*
 * check_remask_header.c — the plugin header compiles on its own under strict warnings and
 * its option helper parses "key=value" lists.
 */
#include <didcl/remask.h>

#include "testutil.h"

START_TEST(test_option_helper) {
    char buf[16];
    ck_assert_int_eq(didcl_remask_option("len=4,agg=min", "len", buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "4");
    ck_assert_int_eq(didcl_remask_option("len=4,agg=min", "agg", buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "min");
    ck_assert_int_eq(didcl_remask_option("length=4", "len", buf, sizeof buf), 0);
    ck_assert_int_eq(didcl_remask_option("", "len", buf, sizeof buf), 0);
    ck_assert_int_eq(didcl_remask_option(NULL, "len", buf, sizeof buf), 0);
    ck_assert_int_eq(didcl_remask_option("x=,len=", "x", buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(didcl_remask_option("len=0123456789abcdef", "len", buf, sizeof buf), -1);
}
END_TEST

START_TEST(test_abi_layout) {
    /* The descriptor starts with the version and size: a host reads these two fields
     * before trusting anything else, whatever version the plugin was built against. */
    ck_assert_uint_eq(offsetof(didcl_remask_plugin, abi_version), 0);
    ck_assert_uint_eq(offsetof(didcl_remask_plugin, struct_size), 4);
    ck_assert_uint_eq(DIDCL_REMASK_ABI_VERSION, 1);
}
END_TEST

static Suite *remask_header_suite(void) {
    Suite *s = suite_create("remask_header");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_option_helper);
    tcase_add_test(tc, test_abi_layout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return testutil_run(remask_header_suite()); }

/*
 * check_status.c — status names, the last-error message, OpenCL error names, the log
 * callback and the SHA-256 used to key the kernel cache.
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "sha256.h"
#include "testutil.h"

START_TEST(test_status_names) {
    ck_assert_str_eq(didcl_status_str(DIDCL_OK), "DIDCL_OK");
    ck_assert_str_eq(didcl_status_str(DIDCL_ERR_FORMAT), "DIDCL_ERR_FORMAT");
    ck_assert_str_eq(didcl_status_str(DIDCL_ERR_ENCODING), "DIDCL_ERR_ENCODING");
    ck_assert_str_eq(didcl_status_str(DIDCL_ERR_CANCELLED), "DIDCL_ERR_CANCELLED");
    ck_assert_str_eq(didcl_status_str((didcl_status)-999), "DIDCL_ERR_UNKNOWN");
}
END_TEST

START_TEST(test_fail_sets_message) {
    didcl_error_clear();
    ck_assert_str_eq(didcl_last_error(), "");
    ck_assert_int_eq(didcl_fail(DIDCL_ERR_IO, "%s: cannot open", "x.bin"), DIDCL_ERR_IO);
    ck_assert_str_eq(didcl_last_error(), "x.bin: cannot open");
    ck_assert_int_eq(didcl_fail_context(DIDCL_ERR_IO, "model %d", 7), DIDCL_ERR_IO);
    ck_assert_str_eq(didcl_last_error(), "model 7: x.bin: cannot open");
}
END_TEST

START_TEST(test_fail_cl_keeps_code) {
    ck_assert_int_eq(didcl_fail_cl(-5, "clEnqueueNDRangeKernel(%s)", "axpy"), DIDCL_ERR_OPENCL);
    ck_assert_int_eq(didcl_last_cl_error(), -5);
    ck_assert_str_eq(didcl_last_error(), "clEnqueueNDRangeKernel(axpy): CL_OUT_OF_RESOURCES (-5)");
    ck_assert_str_eq(didcl_cl_error_str(-11), "CL_BUILD_PROGRAM_FAILURE");
    ck_assert_str_eq(didcl_cl_error_str(-12345), "CL_UNKNOWN_ERROR");
}
END_TEST

/* Messages quote untrusted bytes (file contents, tensor names): they stay one printable
 * line, control and non-UTF-8 bytes escaped, UTF-8 text kept. */
START_TEST(test_fail_escapes_control_bytes) {
    didcl_fail(DIDCL_ERR_FORMAT, "tensor '%s' bad", "a\nb\x1b[31mc\tz\x7f\xff\xc2\x9b\xc3\xa9");
    ck_assert_str_eq(didcl_last_error(),
                     "tensor 'a\\nb\\x1b[31mc\\tz\\x7f\\xff\\xc2\\x9b\xc3\xa9' bad");
    didcl_fail_context(DIDCL_ERR_FORMAT, "file %s", "x\ry");
    ck_assert_str_eq(didcl_last_error(),
                     "file x\\x0dy: tensor 'a\\nb\\x1b[31mc\\tz\\x7f\\xff\\xc2\\x9b\xc3\xa9' bad");
    didcl_fail_cl(-5, "kernel %s", "k\n");
    ck_assert_str_eq(didcl_last_error(), "kernel k\\n: CL_OUT_OF_RESOURCES (-5)");
    /* a long message of escapes is cut between escapes, never inside one */
    char big[3000];
    memset(big, '\x01', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    didcl_fail(DIDCL_ERR_FORMAT, "%s", big);
    size_t n = strlen(didcl_last_error());
    ck_assert_uint_lt(n, 4096);
    ck_assert_uint_eq(n % 4, 0);
    ck_assert_ptr_null(strchr(didcl_last_error(), '\x01'));
}
END_TEST

static int log_calls;
static char log_last[256];
static void log_capture(enum didcl_log_level level, const char *msg, void *user) {
    ck_assert_ptr_eq(user, &log_calls);
    if (level >= DIDCL_LOG_WARN) {
        log_calls++;
        snprintf(log_last, sizeof log_last, "%s", msg);
    }
}

START_TEST(test_log_callback) {
    didcl_log_set(log_capture, &log_calls);
    didcl_log(DIDCL_LOG_WARN, "tensor %s ignored", "foo");
    ck_assert_int_eq(log_calls, 1);
    ck_assert_str_eq(log_last, "tensor foo ignored");
    didcl_log(DIDCL_LOG_WARN, "tensor %s ignored", "f\x1b]0;x\x07");
    ck_assert_str_eq(log_last, "tensor f\\x1b]0;x\\x07 ignored");
    didcl_log_set(NULL, NULL);
    didcl_log(DIDCL_LOG_DEBUG, "not delivered");
    ck_assert_int_eq(log_calls, 2);
}
END_TEST

static void sha_hex(const char *msg, size_t repeat, char out[65]) {
    didcl_sha256 s;
    didcl_sha256_init(&s);
    for (size_t i = 0; i < repeat; i++)
        didcl_sha256_update(&s, msg, strlen(msg));
    didcl_sha256_hex(&s, out);
}

/* FIPS 180-2 test vectors. */
START_TEST(test_sha256_vectors) {
    char hex[65];
    sha_hex("", 1, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 1, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha_hex("a", 1000000, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

static Suite *status_suite(void) {
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_status_names);
    tcase_add_test(tc, test_fail_sets_message);
    tcase_add_test(tc, test_fail_cl_keeps_code);
    tcase_add_test(tc, test_fail_escapes_control_bytes);
    tcase_add_test(tc, test_log_callback);
    tcase_add_test(tc, test_sha256_vectors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return testutil_run(status_suite()); }

/*
 * check_safetensors.c — the safetensors reader: valid files, shards and directories,
 * exact F16/BF16 widening, and one case per malformed input asserting its message.
 * Every file is written at run time into a fresh temporary directory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "testutil.h"

static int warnings;
static char last_warning[1024];
static void log_capture(enum didcl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == DIDCL_LOG_WARN) {
        warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    }
}

static char *dir;
static char path[4096];

static void setup(void) {
    dir = testutil_tmpdir();
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    warnings = 0;
    didcl_log_set(log_capture, NULL); /* keep expected warnings off stderr */
}

static void teardown(void) {
    didcl_log_set(NULL, NULL);
    testutil_rmtree(dir);
    free(dir);
}

static didcl_status open_raw(const char *header, const void *data, size_t n, didcl_weights_t *w) {
    ck_assert_int_eq(testutil_write_raw_safetensors(path, header, data, n), 0);
    *w = NULL;
    return didcl_weights_open(path, w);
}

/* Expect header + data to be refused with status st and a message containing needle. */
static void expect_bad(const char *header, size_t ndata, didcl_status st, const char *needle) {
    unsigned char data[256] = {0};
    didcl_weights_t w;
    ck_assert_uint_le(ndata, sizeof data);
    ck_assert_int_eq(open_raw(header, data, ndata, &w), st);
    ck_assert_ptr_null(w);
    ck_assert_last_error_has(needle);
    ck_assert_last_error_has(path);
}

/* ---- core --------------------------------------------------------------------------- */

START_TEST(test_valid_file) {
    static const float a[6] = {1, -2, 3.5f, 0, 1e-30f, -65504};
    static const uint16_t h[2] = {0x3c00, 0xc000}; /* 1, -2 */
    static const uint16_t b[3] = {0x3f80, 0x4049, 0xff80}; /* 1, 3.140625, -inf */
    static const float s = 0.5f;
    testutil_tensor t[5] = {
        {"w.a", "F32", 2, {2, 3}, a}, {"w.h", "F16", 1, {2}, h}, {"w.b", "BF16", 1, {3}, b},
        {"scalar", "F32", 0, {0}, &s}, {"empty", "F32", 2, {0, 7}, NULL}};
    ck_assert_int_eq(testutil_write_safetensors(path, t, 5), 0);
    didcl_weights_t w;
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_OK);
    ck_assert_uint_eq(didcl_weights_count(w), 5);
    ck_assert_uint_eq(didcl_weights_file_count(w), 1);
    ck_assert_str_eq(didcl_weights_source(w), path);
    ck_assert_ptr_null(didcl_weights_at(w, 5));
    ck_assert_ptr_null(didcl_weights_find(w, "w.c"));

    const didcl_tensor_info *ta = didcl_weights_find(w, "w.a");
    ck_assert_ptr_nonnull(ta);
    ck_assert_str_eq(ta->name, "w.a");
    ck_assert_int_eq(ta->dtype, DIDCL_DTYPE_F32);
    ck_assert_uint_eq(ta->ndim, 2);
    ck_assert_uint_eq(ta->shape[0], 2);
    ck_assert_uint_eq(ta->shape[1], 3);
    ck_assert_uint_eq(ta->numel, 6);
    ck_assert_uint_eq(ta->nbytes, 24);
    ck_assert_str_eq(ta->file, path);
    ck_assert_uint_eq(ta->offset % 8, 0); /* the writer pads the header */
    ck_assert_int_eq(memcmp(ta->data, a, sizeof a), 0);
    float out[6];
    ck_assert_int_eq(didcl_tensor_to_f32(ta, out), DIDCL_OK);
    ck_assert_int_eq(memcmp(out, a, sizeof a), 0);

    /* file order: the header order of the writer, i.e. by offset */
    ck_assert_ptr_eq(didcl_weights_at(w, 0), ta);
    ck_assert_str_eq(didcl_weights_at(w, 1)->name, "w.h");
    ck_assert_uint_eq(didcl_weights_at(w, 1)->offset, ta->offset + 24);

    const didcl_tensor_info *th = didcl_weights_find(w, "w.h");
    ck_assert_int_eq(th->dtype, DIDCL_DTYPE_F16);
    ck_assert_int_eq(didcl_tensor_to_f32(th, out), DIDCL_OK);
    ck_assert(out[0] == 1.0f && out[1] == -2.0f);
    const didcl_tensor_info *tb = didcl_weights_find(w, "w.b");
    ck_assert_int_eq(tb->dtype, DIDCL_DTYPE_BF16);
    ck_assert_int_eq(didcl_tensor_to_f32(tb, out), DIDCL_OK);
    ck_assert(out[0] == 1.0f && out[1] == 3.140625f && isinf(out[2]) && out[2] < 0);

    const didcl_tensor_info *ts = didcl_weights_find(w, "scalar");
    ck_assert_uint_eq(ts->ndim, 0);
    ck_assert_uint_eq(ts->numel, 1);
    ck_assert_int_eq(didcl_tensor_to_f32(ts, out), DIDCL_OK);
    ck_assert(out[0] == 0.5f);
    const didcl_tensor_info *te = didcl_weights_find(w, "empty");
    ck_assert_uint_eq(te->numel, 0);
    ck_assert_uint_eq(te->nbytes, 0);
    didcl_weights_free(w);
}
END_TEST

START_TEST(test_f16_exhaustive) {
    /* every binary16 bit pattern, against the value the format defines */
    uint16_t *bits = malloc(65536 * sizeof *bits);
    float *out = malloc(65536 * sizeof *out);
    ck_assert(bits && out);
    for (uint32_t i = 0; i < 65536; i++)
        bits[i] = (uint16_t)i;
    testutil_tensor t = {"all", "F16", 1, {65536}, bits};
    ck_assert_int_eq(testutil_write_safetensors(path, &t, 1), 0);
    didcl_weights_t w;
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_OK);
    ck_assert_int_eq(didcl_tensor_to_f32(didcl_weights_find(w, "all"), out), DIDCL_OK);
    for (uint32_t i = 0; i < 65536; i++) {
        int e = (i >> 10) & 31, m = i & 1023, neg = i >> 15;
        if (e == 31) {
            ck_assert_msg(m ? isnan(out[i]) : (isinf(out[i]) && !!signbit(out[i]) == neg),
                          "0x%04x -> %g", i, out[i]);
            continue;
        }
        double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        ck_assert_msg(out[i] == (float)(neg ? -v : v) && !!signbit(out[i]) == neg,
                      "0x%04x -> %.9g, expected %.9g", i, out[i], neg ? -v : v);
    }
    /* NaN payload and sign survive */
    uint32_t nb;
    float nan = didcl_f16_to_f32(0xfe01);
    memcpy(&nb, &nan, 4);
    ck_assert_uint_eq(nb, 0xffc02000u);
    didcl_weights_free(w);
    free(bits);
    free(out);
}
END_TEST

START_TEST(test_bf16_values) {
    static const struct { uint16_t bits; float want; } cases[] = {
        {0x3f80, 1.0f}, {0xc040, -3.0f}, {0x4049, 3.140625f}, {0x0080, 0x1p-126f},
        {0x0001, 0x1p-133f}, {0x7f7f, 0x1.fep127f}, {0x8000, -0.0f}, {0x3c23, 0x1.46p-7f}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float f = didcl_bf16_to_f32(cases[i].bits);
        ck_assert_msg(f == cases[i].want && signbit(f) == signbit(cases[i].want),
                      "0x%04x -> %a, expected %a", cases[i].bits, f, cases[i].want);
    }
    ck_assert(isinf(didcl_bf16_to_f32(0x7f80)) && isnan(didcl_bf16_to_f32(0x7fc1)));
    /* F16 spot values */
    ck_assert(didcl_f16_to_f32(0x7bff) == 65504.0f);
    ck_assert(didcl_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(didcl_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    ck_assert(didcl_f16_to_f32(0x0400) == 0x1p-14f);
    ck_assert(didcl_f16_to_f32(0x3555) == 0x1.554p-2f);
}
END_TEST

START_TEST(test_sharded_and_dir) {
    static const float x[2] = {1, 2}, y[3] = {3, 4, 5};
    testutil_tensor a = {"a", "F32", 1, {2}, x}, b = {"b", "F32", 1, {3}, y};
    char p1[4200], p2[4200], idx[4200];
    snprintf(p1, sizeof p1, "%s/s1.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/s2.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    ck_assert_int_eq(testutil_write_safetensors(p1, &a, 1), 0);
    ck_assert_int_eq(testutil_write_safetensors(p2, &b, 1), 0);
    const char *index = "{\"metadata\": {\"total_size\": 20}, \"weight_map\": "
                        "{\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}";
    ck_assert_int_eq(testutil_write_file(idx, index, strlen(index)), 0);

    didcl_weights_t w;
    for (int via_dir = 0; via_dir < 2; via_dir++) {
        ck_assert_int_eq(didcl_weights_open(via_dir ? dir : idx, &w), DIDCL_OK);
        ck_assert_str_eq(didcl_weights_source(w), idx);
        ck_assert_uint_eq(didcl_weights_file_count(w), 2);
        ck_assert_uint_eq(didcl_weights_count(w), 2);
        const didcl_tensor_info *tb = didcl_weights_find(w, "b");
        ck_assert_str_eq(tb->file, p2);
        ck_assert_str_eq(didcl_weights_find(w, "a")->file, p1);
        float out[3];
        ck_assert_int_eq(didcl_tensor_to_f32(tb, out), DIDCL_OK);
        ck_assert(out[0] == 3 && out[2] == 5);
        didcl_weights_free(w);
    }
    /* a directory with model.safetensors prefers it over an index */
    ck_assert_int_eq(testutil_write_safetensors(path, &b, 1), 0);
    ck_assert_int_eq(didcl_weights_open(dir, &w), DIDCL_OK);
    ck_assert_str_eq(didcl_weights_source(w), path);
    didcl_weights_free(w);
}
END_TEST

START_TEST(test_unpadded_header_warns) {
    static const float x[1] = {7};
    didcl_weights_t w;
    /* 79 bytes: not a multiple of 8, so the data is unaligned; allowed by the spec */
    ck_assert_int_eq(open_raw("{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"F32\","
                              "\"shape\":[1],\"data_offsets\":[0,4]}}",
                              x, 4, &w), DIDCL_OK);
    ck_assert_int_eq(warnings, 1);
    ck_assert_msg(strstr(last_warning, "not a multiple of 8"), "%s", last_warning);
    float out;
    ck_assert_int_eq(didcl_tensor_to_f32(didcl_weights_find(w, "x"), &out), DIDCL_OK);
    ck_assert(out == 7);
    didcl_weights_free(w);
}
END_TEST

/* ---- limits: one malformed input each ---------------------------------------------- */

START_TEST(test_short_file) {
    ck_assert_int_eq(testutil_write_file(path, "\x10\0\0", 3), 0);
    didcl_weights_t w;
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("file is 3 bytes, shorter than the 8-byte header length field");
}
END_TEST

START_TEST(test_header_cut_short) {
    /* a real header, but the file ends inside it */
    const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}   ";
    ck_assert_int_eq(testutil_write_raw_safetensors(path, hdr, NULL, 0), 0);
    unsigned char buf[40];
    FILE *f = fopen(path, "rb");
    ck_assert_uint_eq(fread(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    ck_assert_int_eq(testutil_write_file(path, buf, sizeof buf), 0);
    didcl_weights_t w;
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("header length 57 exceeds the 32 bytes after the length field "
                             "(truncated file?)");
}
END_TEST

START_TEST(test_header_length_too_large) {
    unsigned char buf[24] = {0};
    buf[2] = 0x10; /* 1 MiB */
    memcpy(buf + 8, "{}              ", 16);
    ck_assert_int_eq(testutil_write_file(path, buf, sizeof buf), 0);
    didcl_weights_t w;
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("header length 1048576 exceeds the 16 bytes after the length field");
    buf[2] = 0;
    buf[7] = 0x80; /* beyond the 100 MB limit */
    ck_assert_int_eq(testutil_write_file(path, buf, sizeof buf), 0);
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("exceeds the 100000000-byte limit");
}
END_TEST

START_TEST(test_invalid_json) {
    expect_bad("{\"x\": {\"dtype\": \"F32\",", 0, DIDCL_ERR_FORMAT,
               "header is not valid JSON");
    expect_bad("[1, 2, 3]       ", 0, DIDCL_ERR_FORMAT, "header does not start with '{'");
    expect_bad("{\"x\": 1} trailing", 0, DIDCL_ERR_FORMAT, "header is not valid JSON");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
               "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
               4, DIDCL_ERR_FORMAT, "duplicate");
    expect_bad("{\"x\": [1]}     ", 0, DIDCL_ERR_FORMAT, "header entry 'x' is not an object");
}
END_TEST

START_TEST(test_metadata) {
    expect_bad("{\"__metadata__\": {\"step\": 100}}", 0, DIDCL_ERR_FORMAT,
               "\"__metadata__\" key 'step' is not a string");
    expect_bad("{\"__metadata__\": [\"a\"]}", 0, DIDCL_ERR_FORMAT,
               "\"__metadata__\" is not an object");
    didcl_weights_t w;
    ck_assert_int_eq(open_raw("{\"__metadata__\": {\"format\": \"pt\"}}     ", NULL, 0, &w),
                     DIDCL_OK);
    ck_assert_uint_eq(didcl_weights_count(w), 0);
    didcl_weights_free(w);
}
END_TEST

/* No tensors at all: empty tables reach qsort and pointer arithmetic, which must not be
 * handed NULL (undefined behaviour; the sanitizer lane, tools/sanitize.sh, sees it). */
START_TEST(test_empty_table) {
    didcl_weights_t w;
    ck_assert_int_eq(open_raw("{}      ", NULL, 0, &w), DIDCL_OK);
    ck_assert_uint_eq(didcl_weights_count(w), 0);
    ck_assert_ptr_null(didcl_weights_at(w, 0));
    ck_assert_ptr_null(didcl_weights_find(w, "x"));
    didcl_weights_free(w);
}
END_TEST

START_TEST(test_unsupported_dtype) {
    expect_bad("{\"step\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
               DIDCL_ERR_UNSUPPORTED, "tensor 'step' has unsupported dtype I64, expected F32, "
                                      "F16 or BF16");
}
END_TEST

START_TEST(test_bad_fields) {
    /* a header claiming a tensor of 2^64 elements in 4 bytes: refused with the numbers */
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
               "\"data_offsets\":[0,4]}}", 4, DIDCL_ERR_FORMAT,
               "tensor 'x': shape [4294967296, 4294967296] has more than 2305843009213693951 "
               "elements");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
               DIDCL_ERR_FORMAT, "tensor 'x': shape entry 0 is not a non-negative integer");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2, 1.5],\"data_offsets\":[0,4]}}", 4,
               DIDCL_ERR_FORMAT, "tensor 'x': shape entry 1 is not a non-negative integer");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, DIDCL_ERR_FORMAT,
               "tensor 'x': \"shape\" is missing or not an array");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
               DIDCL_ERR_FORMAT, "\"data_offsets\" is missing or not [begin, end]");
    expect_bad("{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, DIDCL_ERR_FORMAT,
               "tensor 'x': \"dtype\" is missing or not a string");
}
END_TEST

START_TEST(test_offsets_out_of_range) {
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
               DIDCL_ERR_FORMAT, "tensor 'x': data_offsets [0, 16] lie outside the data area "
                                 "of 8 bytes");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
               DIDCL_ERR_FORMAT, "data_offsets [8, 4] lie outside");
}
END_TEST

START_TEST(test_overlap) {
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, DIDCL_ERR_FORMAT,
               "tensors 'a' and 'b' overlap (data_offsets [0, 8] and [4, 12])");
}
END_TEST

START_TEST(test_gap_and_trailing) {
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, DIDCL_ERR_FORMAT, "4 unused bytes in the data area before tensor 'b'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
               DIDCL_ERR_FORMAT, "8 unused bytes after the last tensor");
}
END_TEST

START_TEST(test_size_shape_disagree) {
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12,
               DIDCL_ERR_FORMAT, "tensor 'w': data_offsets span 12 bytes, but shape [2, 2] of "
                                 "F32 needs 16");
    expect_bad("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12,
               DIDCL_ERR_FORMAT, "shape [3] of BF16 needs 6");
}
END_TEST

START_TEST(test_shard_problems) {
    static const float x[1] = {1};
    testutil_tensor a = {"a", "F32", 1, {1}, x};
    char p1[4200], idx[4200];
    snprintf(p1, sizeof p1, "%s/s1.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    ck_assert_int_eq(testutil_write_safetensors(p1, &a, 1), 0);
    didcl_weights_t w;

    const char *missing_shard = "{\"weight_map\": {\"a\": \"s1.safetensors\", "
                                "\"b\": \"s2.safetensors\"}}";
    ck_assert_int_eq(testutil_write_file(idx, missing_shard, strlen(missing_shard)), 0);
    ck_assert_int_eq(didcl_weights_open(idx, &w), DIDCL_ERR_IO);
    ck_assert_last_error_has("model.safetensors.index.json: shard 's2.safetensors' (for tensor "
                             "'b'): ");
    ck_assert_last_error_has("s2.safetensors: cannot open: No such file or directory");

    const char *missing_tensor = "{\"weight_map\": {\"a\": \"s1.safetensors\", "
                                 "\"c\": \"s1.safetensors\"}}";
    ck_assert_int_eq(testutil_write_file(idx, missing_tensor, strlen(missing_tensor)), 0);
    ck_assert_int_eq(didcl_weights_open(idx, &w), DIDCL_ERR_NOT_FOUND);
    ck_assert_last_error_has("tensor 'c' is listed in weight_map for shard 's1.safetensors', but "
                             "that file does not contain it");

    char p2[4200];
    snprintf(p2, sizeof p2, "%s/s2.safetensors", dir);
    ck_assert_int_eq(testutil_write_safetensors(p2, &a, 1), 0);
    const char *twice = "{\"weight_map\": {\"a\": \"s1.safetensors\", "
                        "\"b\": \"s2.safetensors\"}}";
    ck_assert_int_eq(testutil_write_file(idx, twice, strlen(twice)), 0);
    ck_assert_int_eq(didcl_weights_open(idx, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("tensor 'a' is stored in both");

    const char *escape = "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}";
    ck_assert_int_eq(testutil_write_file(idx, escape, strlen(escape)), 0);
    ck_assert_int_eq(didcl_weights_open(idx, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("weight_map entry 'a' is not a file name in the index's directory");

    ck_assert_int_eq(testutil_write_file(idx, "{\"metadata\": {}}", 16), 0);
    ck_assert_int_eq(didcl_weights_open(idx, &w), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("\"weight_map\" is missing or not an object");
}
END_TEST

START_TEST(test_missing_paths) {
    didcl_weights_t w;
    ck_assert_int_eq(didcl_weights_open(dir, &w), DIDCL_ERR_NOT_FOUND);
    ck_assert_last_error_has("no model.safetensors or model.safetensors.index.json");
    ck_assert_int_eq(didcl_weights_open(path, &w), DIDCL_ERR_NOT_FOUND);
    ck_assert_last_error_has("No such file or directory");
    ck_assert_int_eq(didcl_weights_open(NULL, &w), DIDCL_ERR_INVALID_ARG);
    didcl_weights_free(NULL);
}
END_TEST

static Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_valid_file);
    tcase_add_test(core, test_f16_exhaustive);
    tcase_add_test(core, test_bf16_values);
    tcase_add_test(core, test_sharded_and_dir);
    tcase_add_test(core, test_unpadded_header_warns);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_short_file);
    tcase_add_test(limits, test_header_cut_short);
    tcase_add_test(limits, test_header_length_too_large);
    tcase_add_test(limits, test_invalid_json);
    tcase_add_test(limits, test_metadata);
    tcase_add_test(limits, test_unsupported_dtype);
    tcase_add_test(limits, test_empty_table);
    tcase_add_test(limits, test_bad_fields);
    tcase_add_test(limits, test_offsets_out_of_range);
    tcase_add_test(limits, test_overlap);
    tcase_add_test(limits, test_gap_and_trailing);
    tcase_add_test(limits, test_size_shape_disagree);
    tcase_add_test(limits, test_shard_problems);
    tcase_add_test(limits, test_missing_paths);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) { return testutil_run(safetensors_suite()); }

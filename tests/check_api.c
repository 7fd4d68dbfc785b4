/*
 * check_api.c — the public API on bad arguments (issue 17): NULL handles, NULL outputs,
 * out-of-range enums and degenerate sizes must give DIDCL_ERR_INVALID_ARG or a neutral
 * value, never a crash, a hang (Check's timeout) or a division by zero.
 */
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"

/* ---- no device -------------------------------------------------------------------- */

START_TEST(test_null_model_handles) {
    ck_assert_uint_eq(didcl_model_max_tokens(NULL), 0);
    ck_assert_uint_eq(didcl_model_cached(NULL), 0);
    ck_assert_uint_eq(didcl_model_logit_rows(NULL), 0);
    ck_assert_ptr_null(didcl_model_get_config(NULL));
    didcl_model_reset(NULL);
    didcl_model_free(NULL);
    float out[4];
    int32_t tgt[4] = {0};
    ck_assert_int_eq(didcl_model_rows(NULL, 0, 1, DIDCL_ROWS_LOGITS, out), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("model rows: NULL model");
    ck_assert_int_eq(didcl_model_token_logprobs(NULL, 0, 1, tgt, out), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("token logprobs: NULL model");
    ck_assert_int_eq(didcl_gen_options_check(NULL, 32, 0), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("gen options: NULL options");
}
END_TEST

/* didcl_score_blocks by brute force, for small sizes */
static uint32_t blocks_slow(uint32_t n, uint32_t window, uint32_t block) {
    uint32_t nb = 0;
    for (uint32_t s = 0; s < n; s += window) {
        uint32_t len = n - s < window ? n - s : window;
        nb += (len + block - 1) / block;
    }
    return nb;
}

START_TEST(test_score_sizes) {
    for (uint32_t n = 0; n < 40; n++)
        for (uint32_t w = 1; w < 12; w++)
            for (uint32_t b = 1; b < 6; b++)
                ck_assert_uint_eq(didcl_score_blocks(n, w, b), blocks_slow(n, w, b));
    ck_assert_uint_eq(didcl_score_blocks(10, 0, 4), 0);
    ck_assert_uint_eq(didcl_score_blocks(10, 8, 0), 0);
    /* a loop stepping by the window wrapped past 2^32 here and never ended */
    ck_assert_uint_eq(didcl_score_blocks(UINT32_MAX, 0x80000000u, 1), UINT32_MAX);
    ck_assert_uint_eq(didcl_score_blocks(UINT32_MAX, UINT32_MAX - 1, UINT32_MAX), 2);
    /* window 0 looped forever and block 0 divided by zero; NULL arrays are no-ops */
    uint8_t masked[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    double tb[8] = {0};
    didcl_score_draw(8, 0, 4, 1, 0, 0.5, 1e-3, masked, tb);
    didcl_score_draw(8, 8, 0, 1, 0, 0.5, 1e-3, masked, tb);
    didcl_score_draw(8, 8, 4, 1, 0, 0.5, 1e-3, NULL, tb);
    didcl_score_draw(8, 8, 4, 1, 0, 0.5, 1e-3, masked, NULL);
    ck_assert_int_eq(masked[0], 7);
    didcl_score_draw(8, 8, 4, 1, 0, 0.5, 1e-3, masked, tb);
    ck_assert(masked[0] <= 1 && tb[0] == 0.5 && tb[1] == 0.5);
}
END_TEST

/* ---- on a device: the tiny BD3-LM of testutil ------------------------------------- */

static char *dir;
static didcl_runtime_t rt;
static didcl_model_t model;

static void setup_model(void) {
    dir = testutil_tmpdir();
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    rt = testutil_runtime_or_skip();
    didcl_model_files_t files;
    ck_assert_int_eq(didcl_model_files_open(dir, &files), DIDCL_OK);
    didcl_model_options opt = {0, 8, 0};
    ck_assert_msg(didcl_model_open(rt, files, &opt, &model) == DIDCL_OK, "%s", didcl_last_error());
    didcl_model_files_free(files);
}

static void teardown_model(void) {
    didcl_model_free(model);
    didcl_runtime_free(rt);
    testutil_rmtree(dir);
    free(dir);
}

START_TEST(test_bad_enum_and_null_outputs) {
    int32_t ids[4] = {1, 2, 3, 4}, tgt[4] = {5, 6, 7, 8};
    didcl_forward f = {.mode = DIDCL_FORWARD_GLOBAL, .ids = ids, .n = 4};
    ck_assert_int_eq(didcl_model_forward(model, &f), DIDCL_OK);
    float *out = malloc(4 * 100 * sizeof *out);
    ck_assert_int_eq(didcl_model_rows(model, 0, 1, (enum didcl_rows_kind)7, out),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("unknown kind");
    ck_assert_int_eq(didcl_model_rows(model, 0, 1, DIDCL_ROWS_LOGITS, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("NULL out");
    ck_assert_int_eq(didcl_model_token_logprobs(model, 0, 4, NULL, out), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_model_token_logprobs(model, 0, 4, tgt, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("NULL targets or out");
    /* the good calls still work after the refused ones */
    ck_assert_int_eq(didcl_model_rows(model, 0, 4, DIDCL_ROWS_LOGPROBS, out), DIDCL_OK);
    ck_assert_int_eq(didcl_model_token_logprobs(model, 0, 4, tgt, out), DIDCL_OK);
    free(out);
}
END_TEST

/* [MASK] in the text to score has probability 0: the NELBO would be infinite. */
START_TEST(test_score_refuses_mask_id) {
    int32_t x0[6] = {1, 2, 99, 4, 5, 6};
    uint8_t masked[6] = {1, 0, 1, 0, 1, 0};
    double tb[2] = {0.5, 0.5};
    double v = 0;
    ck_assert_int_eq(didcl_score_nelbo(model, x0, 6, 4, masked, tb, &v), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("token 2 is 99, expected a text token in 0..99 other than the mask id 99");
    didcl_score_result r;
    ck_assert_int_eq(didcl_score(model, x0, 6, NULL, &r), DIDCL_ERR_INVALID_ARG);
    x0[2] = 3;
    ck_assert_int_eq(didcl_score(model, x0, 6, NULL, &r), DIDCL_OK);
    ck_assert(r.nll > 0 && r.nll < 1e6);
}
END_TEST

static Suite *api_suite(void) {
    Suite *s = suite_create("api");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_null_model_handles);
    tcase_add_test(core, test_score_sizes);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(limits, setup_model, teardown_model);
    tcase_add_test(limits, test_bad_enum_and_null_outputs);
    tcase_add_test(limits, test_score_refuses_mask_id);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) { return testutil_run(api_suite()); }

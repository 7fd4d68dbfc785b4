/*
 * check_generate.c — generation on the device: the sampler (sampler.c) over the model's
 * denoiser (didcl_model_denoiser, model.c), as `didcl generate` runs them, on a tiny
 * random BD3-LM written at run time: the cached block step agrees with the uncached
 * block-causal forward, only the flagged rows come back (packed), FLOPs from the config,
 * and whole cached/uncached generations with a revision give the same tokens and the
 * NFE the spec states. Batches: the model's batched block/store steps equal the
 * per-sequence ones, and didcl_sampler_run_batch gives every sample exactly what
 * didcl_sampler_run gives it alone (tokens, trajectory, counts), with and without a
 * revision stage. K/V reuse: the global pass that keeps K/V gives the global pass's
 * logits, rows over that cache with nothing changed give them too, and a generation with
 * an exact pass every forward (revise_reuse 1) gives the exact revision's tokens.
 *
 * `check_generate --write-model DIR` writes the tiny model tests/generate.sh uses
 * (`--write-evaluator DIR [gpt2]` a tiny GPT-2 evaluator for tests/eval.sh)
 * (vocabulary 8192 to match models/tokenizer.json, copied beside it) and exits.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "runtime.h"
#include "sampler.h"
#include "testutil.h"

enum { TINY_VOCAB = 8192, TINY_LENGTH = 32 };

static testutil_model tiny(void) {
    testutil_model m = testutil_tiny_bd3lm();
    m.vocab = TINY_VOCAB;
    m.length = TINY_LENGTH;
    return m;
}

/* The tiny model plus the project's tokenizer in dir. */
static int write_tiny(const char *dir) {
    testutil_model m = tiny();
    return testutil_write_generator(dir, &m);
}

static char *dir;
static didcl_runtime_t rt;
static didcl_model_files_t files;
static didcl_model_t model;
static didcl_denoiser dn;

static void setup(void) {
    dir = testutil_tmpdir();
    ck_assert_int_eq(write_tiny(dir), 0);
    rt = testutil_runtime_or_skip();
    ck_assert_int_eq(didcl_model_files_open(dir, &files), DIDCL_OK);
    ck_assert_int_eq(didcl_model_open(rt, files, NULL, &model), DIDCL_OK);
    ck_assert_int_eq(didcl_model_denoiser(model, &dn), DIDCL_OK);
}

static void teardown(void) {
    didcl_model_free(model);
    didcl_model_files_free(files);
    didcl_runtime_free(rt);
    testutil_rmtree(dir);
    free(dir);
}

static void fill_seq(int32_t *seq, int n) {
    seq[0] = dn.bos_id;
    for (int i = 1; i < n; i++)
        seq[i] = (i * 37 + 11) % 8000;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

START_TEST(test_table) {
    ck_assert_int_eq(dn.vocab, TINY_VOCAB);
    ck_assert_int_eq(dn.mask_id, TINY_VOCAB - 1);
    ck_assert_int_eq(dn.bos_id, TINY_VOCAB - 2);
    ck_assert_int_eq(dn.eos_id, TINY_VOCAB - 2);
    ck_assert_int_eq(dn.model_length, TINY_LENGTH);
}
END_TEST

/* block step at [4, 8) over a stored block [0, 4) == rows 4..7 of the uncached forward
 * over [0, 8) with block-causal blocks of 4; one flagged row comes back alone */
START_TEST(test_cached_matches_global) {
    const size_t V = TINY_VOCAB;
    int32_t seq[8];
    fill_seq(seq, 8);
    seq[5] = seq[7] = dn.mask_id;
    float *cached = malloc(4 * V * sizeof(float)), *global = malloc(8 * V * sizeof(float));
    ck_assert_int_eq(dn.reset(dn.ctx, 0), DIDCL_OK);
    ck_assert_int_eq(dn.store_kv(dn.ctx, 0, seq, 0, 4), DIDCL_OK);
    ck_assert_int_eq(dn.block_logits(dn.ctx, 0, seq, 4, 4, NULL, cached), DIDCL_OK);
    uint8_t rows[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    ck_assert_int_eq(dn.global_logits(dn.ctx, 0, seq, 8, 4, rows, global), DIDCL_OK);
    ck_assert_double_lt(max_diff(cached, global, 4 * V), 1e-4);
    /* rows 5 and 7 only: packed in position order */
    uint8_t two[8] = {0, 0, 0, 0, 0, 1, 0, 1};
    float *packed = malloc(2 * V * sizeof(float));
    ck_assert_int_eq(dn.global_logits(dn.ctx, 0, seq, 8, 4, two, packed), DIDCL_OK);
    ck_assert_double_lt(max_diff(packed, cached + V, V), 1e-4);
    ck_assert_double_lt(max_diff(packed + V, cached + 3 * V, V), 1e-4);
    /* full attention (attn_block = n) differs from block-causal for the first block */
    ck_assert_int_eq(dn.global_logits(dn.ctx, 0, seq, 8, 8, rows, global), DIDCL_OK);
    ck_assert_double_eq(max_diff(cached, global, 4 * V) > 1e-6, 1);
    free(cached);
    free(global);
    free(packed);
}
END_TEST

/* hidden 64, MLP 256, 2 layers, vocab 8192 (counted by hand) */
START_TEST(test_flops) {
    const didcl_model_config *c = didcl_model_get_config(model);
    /* one layer, B = 4 queries over 8 keys: QKV 2*4*64*192 = 98304, out 2*4*64*64 = 32768,
     * MLP 4*4*64*256 = 262144, attention 4*4*8*64 = 8192 → 401408; head 2*4*64*8192 */
    ck_assert_int_eq(c->mlp_dim, 256);
    ck_assert_double_eq(dn.flops(dn.ctx, DIDCL_FWD_BLOCK, 4, 8), 2 * 401408.0 + 4194304.0);
    ck_assert_double_eq(dn.flops(dn.ctx, DIDCL_FWD_GLOBAL, 4, 8), 2 * 401408.0 + 4194304.0);
    /* a store pass has no output head and stops after the last layer's QKV product */
    ck_assert_double_eq(dn.flops(dn.ctx, DIDCL_FWD_STORE_KV, 4, 8), 401408.0 + 98304.0);
}
END_TEST

/* a whole generation: cached and uncached drafts give the same tokens, and revision runs */
START_TEST(test_generate_cached_uncached) {
    didcl_gen_options o = didcl_gen_options_default();
    o.length = TINY_LENGTH;
    o.seed = 7;
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.25;
    const int32_t prompt[3] = {39, 508, 78};
    didcl_gen_result a, b;
    ck_assert_int_eq(didcl_sampler_run(&dn, &o, prompt, 3, 0, NULL, &a), DIDCL_OK);
    o.use_kv_cache = 0;
    ck_assert_int_eq(didcl_sampler_run(&dn, &o, prompt, 3, 0, NULL, &b), DIDCL_OK);
    ck_assert_int_eq(a.n, TINY_LENGTH);
    ck_assert_int_eq(b.n, TINY_LENGTH);
    for (int i = 0; i < TINY_LENGTH; i++)
        ck_assert_int_eq(a.tokens[i], b.tokens[i]);
    ck_assert_int_eq(a.tokens[0], dn.bos_id);
    ck_assert_int_eq(a.tokens[2], 508);
    ck_assert_int_eq(a.stages[0].nfe, TINY_LENGTH - 1 - 3);
    ck_assert_int_eq(a.stages[0].store_kv, TINY_LENGTH / 4 - 1);
    ck_assert_int_eq(b.stages[0].store_kv, 0);
    ck_assert_int_eq(a.stages[1].remasked, 7); /* round(0.25 * 28) */
    ck_assert_int_eq(a.stages[1].nfe, 7);
    ck_assert_double_gt(a.stages[0].flops, 0);
    didcl_gen_result_free(&a);
    didcl_gen_result_free(&b);
}
END_TEST

/* K/V reuse at the forward level: GLOBAL_KV == GLOBAL (and fills the cache); ROWS over
 * that cache with nothing changed == GLOBAL's rows (a few queries over the cache, as a
 * block step, instead of the whole sequence); a changed token forwarded as a row moves
 * the logits of rows that see it; the mode's argument checks. */
START_TEST(test_reuse_forward) {
    const size_t V = TINY_VOCAB;
    enum { N = TINY_LENGTH };
    int32_t seq[N];
    fill_seq(seq, N);
    seq[3] = seq[10] = seq[17] = seq[30] = dn.mask_id;
    float *g = malloc(N * V * sizeof(float)), *k = malloc(N * V * sizeof(float));
    didcl_forward f = {.mode = DIDCL_FORWARD_GLOBAL, .ids = seq, .n = N};
    ck_assert_int_eq(didcl_model_forward(model, &f), DIDCL_OK);
    ck_assert_int_eq(didcl_model_rows(model, 0, N, DIDCL_ROWS_LOGITS, g), DIDCL_OK);
    f.mode = DIDCL_FORWARD_GLOBAL_KV;
    ck_assert_int_eq(didcl_model_forward(model, &f), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_cached(model), N);
    ck_assert_int_eq(didcl_model_rows(model, 0, N, DIDCL_ROWS_LOGITS, k), DIDCL_OK);
    ck_assert_double_lt(max_diff(g, k, N * V), 1e-6);

    int32_t pos[3] = {3, 10, 30}, ids[3] = {seq[3], seq[10], seq[30]};
    didcl_forward fr = {.mode = DIDCL_FORWARD_ROWS, .ids = ids, .n = 3, .pos = pos};
    ck_assert_int_eq(didcl_model_forward(model, &fr), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_cached(model), N);
    ck_assert_uint_eq(didcl_model_logit_rows(model), 3);
    ck_assert_int_eq(didcl_model_rows(model, 0, 3, DIDCL_ROWS_LOGITS, k), DIDCL_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_lt(max_diff(k + i * V, g + pos[i] * V, V), 1e-4);
    const uint8_t want[3] = {0, 1, 0}; /* one wanted row: position 10 alone */
    fr.want = want;
    ck_assert_int_eq(didcl_model_forward(model, &fr), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_logit_rows(model), 1);
    ck_assert_int_eq(didcl_model_rows(model, 0, 1, DIDCL_ROWS_LOGITS, k), DIDCL_OK);
    ck_assert_double_lt(max_diff(k, g + 10 * V, V), 1e-4);

    /* position 3 gets a token, forwarded with row 10: row 10 sees it (its K/V changed),
     * and lands nearer the exact pass over the new sequence than the old logits are (the
     * other positions' deeper K/V are stale: an approximation) */
    int32_t pos2[2] = {3, 10}, ids2[2] = {123, seq[10]};
    didcl_forward fc = {.mode = DIDCL_FORWARD_ROWS, .ids = ids2, .n = 2, .pos = pos2};
    ck_assert_int_eq(didcl_model_forward(model, &fc), DIDCL_OK);
    ck_assert_int_eq(didcl_model_rows(model, 1, 1, DIDCL_ROWS_LOGITS, k), DIDCL_OK);
    seq[3] = 123;
    f.mode = DIDCL_FORWARD_GLOBAL;
    ck_assert_int_eq(didcl_model_forward(model, &f), DIDCL_OK);
    float *g2 = malloc(V * sizeof(float));
    ck_assert_int_eq(didcl_model_rows(model, 10, 1, DIDCL_ROWS_LOGITS, g2), DIDCL_OK);
    ck_assert_double_lt(max_diff(k, g2, V), 0.5 * max_diff(g + 10 * V, g2, V));
    free(g2);

    /* arguments */
    int32_t bad[2] = {10, 3};
    fc.pos = bad;
    ck_assert_int_eq(didcl_model_forward(model, &fc), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward rows: pos[1] = 3, expected increasing positions below "
                             "the cached length 32");
    fc.pos = NULL;
    ck_assert_int_eq(didcl_model_forward(model, &fc), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward rows: expected the rows' positions (pos)");
    f.pos = pos2;
    ck_assert_int_eq(didcl_model_forward(model, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward global: positions (pos) are for mode rows only");
    didcl_model_reset(model);
    fc.pos = pos2;
    ck_assert_int_eq(didcl_model_forward(model, &fc), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward rows: 2 rows over a cache of 0 positions");
    free(g);
    free(k);
}
END_TEST

/* K/V reuse in a whole generation: an exact pass every forward (1) gives the exact
 * revision's tokens; reuse every 4 forwards runs the same NFE for fewer FLOPs */
START_TEST(test_reuse_generate) {
    didcl_gen_options o = didcl_gen_options_default();
    o.length = TINY_LENGTH;
    o.seed = 9;
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.5;
    didcl_gen_result a, b, c;
    ck_assert_int_eq(didcl_sampler_run(&dn, &o, NULL, 0, 0, NULL, &a), DIDCL_OK);
    o.revise_reuse = 1;
    ck_assert_int_eq(didcl_sampler_run(&dn, &o, NULL, 0, 0, NULL, &b), DIDCL_OK);
    for (int i = 0; i < TINY_LENGTH; i++)
        ck_assert_int_eq(a.tokens[i], b.tokens[i]);
    ck_assert_double_eq(a.stages[1].flops, b.stages[1].flops);
    o.revise_reuse = 4;
    ck_assert_int_eq(didcl_sampler_run(&dn, &o, NULL, 0, 0, NULL, &c), DIDCL_OK);
    ck_assert_int_eq(c.stages[1].nfe, a.stages[1].nfe);
    ck_assert_int_eq(c.stages[1].nfe, 16); /* round(0.5 * 31) */
    ck_assert_double_lt(c.stages[1].flops, 0.5 * a.stages[1].flops);
    for (int i = 0; i < TINY_LENGTH; i++)
        ck_assert(c.tokens[i] >= 0 && c.tokens[i] < dn.mask_id);
    didcl_gen_result_free(&a);
    didcl_gen_result_free(&b);
    didcl_gen_result_free(&c);
}
END_TEST

/* ---- batches: the same model opened with three KV caches ---- */

static didcl_model_t bmodel;
static didcl_denoiser bdn;

static void setup_batch(void) {
    setup();
    didcl_model_options mo = {0, 0, 3};
    ck_assert_int_eq(didcl_model_open(rt, files, &mo, &bmodel), DIDCL_OK);
    ck_assert_int_eq(didcl_model_denoiser(bmodel, &bdn), DIDCL_OK);
}

static void teardown_batch(void) {
    didcl_model_free(bmodel);
    teardown();
}

/* store [0, 4) then block step at [4, 8) of three different sequences at once == the
 * same steps one sequence at a time on the batch-1 model */
START_TEST(test_batch_block_step) {
    const size_t V = TINY_VOCAB;
    int32_t seqs[3][8];
    const int32_t *ptr[3];
    float *one = malloc(3 * 4 * V * sizeof(float)), *all = malloc(3 * 4 * V * sizeof(float));
    for (int b = 0; b < 3; b++) {
        fill_seq(seqs[b], 8);
        for (int i = 1; i < 8; i++)
            seqs[b][i] = (seqs[b][i] + 1000 * b) % 8000;
        seqs[b][5 + (b % 2)] = dn.mask_id;
        ptr[b] = seqs[b];
        ck_assert_int_eq(dn.reset(dn.ctx, 0), DIDCL_OK);
        ck_assert_int_eq(dn.store_kv(dn.ctx, 0, seqs[b], 0, 4), DIDCL_OK);
        ck_assert_int_eq(dn.block_logits(dn.ctx, 0, seqs[b], 4, 4, NULL, one + b * 4 * V),
                         DIDCL_OK);
    }
    ck_assert_uint_eq(bdn.max_batch, 3);
    ck_assert_int_eq(bdn.reset_batch(bdn.ctx, 3), DIDCL_OK);
    ck_assert_int_eq(bdn.store_kv_batch(bdn.ctx, 3, ptr, 0, 4), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_cached(bmodel), 4);
    ck_assert_int_eq(bdn.block_logits_batch(bdn.ctx, 3, ptr, 4, 4, NULL, all), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_logit_rows(bmodel), 12);
    ck_assert_uint_eq(didcl_model_cached(bmodel), 4);
    ck_assert_double_lt(max_diff(one, all, 3 * 4 * V), 1e-5);
    ck_assert_double_eq(max_diff(one, all, 3 * 4 * V), 0.0); /* the same product rows */
    /* the sequences differ, so a mix-up of caches would show */
    ck_assert_double_gt(max_diff(all, all + 4 * V, 4 * V), 1e-3);
    /* a batch of two of the three caches, then the batch-1 API on cache 0 */
    ck_assert_int_eq(bdn.block_logits_batch(bdn.ctx, 2, ptr, 4, 4, NULL, all), DIDCL_OK);
    ck_assert_double_lt(max_diff(one, all, 2 * 4 * V), 1e-5);
    ck_assert_int_eq(bdn.block_logits(bdn.ctx, 0, seqs[0], 4, 4, NULL, all), DIDCL_OK);
    ck_assert_double_lt(max_diff(one, all, 4 * V), 1e-5);
    /* first-hitting's head: one wanted row per sequence comes back packed, bitwise that
     * row of the full step (batched and alone) */
    const uint8_t want[12] = {0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0};
    const int rows[3] = {1, 7, 8};
    ck_assert_int_eq(bdn.reset_batch(bdn.ctx, 3), DIDCL_OK);
    ck_assert_int_eq(bdn.store_kv_batch(bdn.ctx, 3, ptr, 0, 4), DIDCL_OK);
    ck_assert_int_eq(bdn.block_logits_batch(bdn.ctx, 3, ptr, 4, 4, want, all), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_logit_rows(bmodel), 3);
    for (int j = 0; j < 3; j++)
        ck_assert_double_eq(max_diff(all + j * V, one + rows[j] * V, V), 0.0);
    for (int b = 0; b < 3; b++) {
        ck_assert_int_eq(dn.reset(dn.ctx, 0), DIDCL_OK);
        ck_assert_int_eq(dn.store_kv(dn.ctx, 0, seqs[b], 0, 4), DIDCL_OK);
        ck_assert_int_eq(dn.block_logits(dn.ctx, 0, seqs[b], 4, 4, want + 4 * b, all),
                         DIDCL_OK);
        ck_assert_uint_eq(didcl_model_logit_rows(model), 1);
        ck_assert_double_eq(max_diff(all, one + rows[b] * V, V), 0.0);
    }
    const uint8_t none[4] = {0};
    ck_assert_int_eq(dn.block_logits(dn.ctx, 0, seqs[2], 4, 4, none, all), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_logit_rows(model), 0);
    free(one);
    free(all);
}
END_TEST

/* blocks of 20 rows, through the device's product path (_i 0: the skinny kernel over
 * the stacked rows on most devices), the per-sequence SGEMM path (_i 1, forced) and
 * gemm_tiled for the batch's 40 rows but gemm_skinny for a sequence's 20 alone (_i 2,
 * forced): a tiny model of length 40, two sequences, store [0, 20) then a block step at
 * [20, 40); logits equal the per-sequence ones exactly */
START_TEST(test_batch_wide_block) {
    const struct didcl_gemm_tuning keep = rt->gemm;
    if (_i == 1)
        rt->gemm.wide_m = rt->gemm.half_wide_m = 16;
    if (_i == 2) {
        rt->gemm.wide_m = rt->gemm.half_wide_m = INT_MAX;
        rt->gemm.tiled_m = 21;
    }
    testutil_model t = tiny();
    t.length = 40;
    char *wdir = testutil_tmpdir();
    ck_assert_int_eq(testutil_write_model(wdir, &t, 1), 0);
    didcl_model_files_t wf;
    didcl_model_t one, two;
    didcl_model_options mo = {0, 0, 2};
    ck_assert_int_eq(didcl_model_files_open(wdir, &wf), DIDCL_OK);
    ck_assert_int_eq(didcl_model_open(rt, wf, NULL, &one), DIDCL_OK);
    ck_assert_int_eq(didcl_model_open(rt, wf, &mo, &two), DIDCL_OK);
    const size_t V = TINY_VOCAB;
    int32_t ids[2][40], stacked[40];
    float *a = malloc(40 * V * sizeof(float)), *b = malloc(40 * V * sizeof(float));
    for (int s = 0; s < 2; s++) {
        fill_seq(ids[s], 40);
        for (int i = 1; i < 40; i++)
            ids[s][i] = (ids[s][i] + 3000 * s) % 8000;
        ids[s][25 + s] = dn.mask_id;
        didcl_model_reset(one);
        didcl_forward f = {.mode = DIDCL_FORWARD_STORE_KV, .ids = ids[s], .n = 20};
        ck_assert_int_eq(didcl_model_forward(one, &f), DIDCL_OK);
        f = (didcl_forward){.mode = DIDCL_FORWARD_BLOCK, .ids = ids[s] + 20, .n = 20,
                            .start = 20};
        ck_assert_int_eq(didcl_model_forward(one, &f), DIDCL_OK);
        ck_assert_int_eq(didcl_model_rows(one, 0, 20, DIDCL_ROWS_LOGITS, a + s * 20 * V),
                         DIDCL_OK);
    }
    for (int s = 0; s < 2; s++)
        memcpy(stacked + 20 * s, ids[s], 20 * sizeof(int32_t));
    didcl_forward f = {.mode = DIDCL_FORWARD_STORE_KV, .ids = stacked, .n = 20};
    ck_assert_int_eq(didcl_model_forward_batch(two, &f, 2), DIDCL_OK);
    for (int s = 0; s < 2; s++)
        memcpy(stacked + 20 * s, ids[s] + 20, 20 * sizeof(int32_t));
    f = (didcl_forward){.mode = DIDCL_FORWARD_BLOCK, .ids = stacked, .n = 20, .start = 20};
    ck_assert_int_eq(didcl_model_forward_batch(two, &f, 2), DIDCL_OK);
    ck_assert_int_eq(didcl_model_rows(two, 0, 40, DIDCL_ROWS_LOGITS, b), DIDCL_OK);
    ck_assert_double_eq(max_diff(a, b, 40 * V), 0.0);
    ck_assert_double_gt(max_diff(b, b + 20 * V, 20 * V), 1e-3);
    /* wanted rows only, packed (_i 0: gathered before the head; _i 1: the head on every
     * row, the wanted moved up): bitwise the rows above, batched and alone */
    uint8_t want[40] = {0};
    const int rows[5] = {1, 5, 19, 20, 27};
    for (int j = 0; j < 5; j++)
        want[rows[j]] = 1;
    f.want = want;
    ck_assert_int_eq(didcl_model_forward_batch(two, &f, 2), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_logit_rows(two), 5);
    ck_assert_int_eq(didcl_model_rows(two, 0, 5, DIDCL_ROWS_LOGITS, b), DIDCL_OK);
    for (int j = 0; j < 5; j++)
        ck_assert_double_eq(max_diff(b + j * V, a + rows[j] * V, V), 0.0);
    f = (didcl_forward){.mode = DIDCL_FORWARD_BLOCK, .ids = ids[1] + 20, .n = 20, .start = 20,
                        .want = want + 20};
    ck_assert_int_eq(didcl_model_forward(one, &f), DIDCL_OK); /* cache 0 holds sequence 1 */
    ck_assert_uint_eq(didcl_model_logit_rows(one), 2);
    ck_assert_int_eq(didcl_model_rows(one, 0, 2, DIDCL_ROWS_LOGITS, b), DIDCL_OK);
    for (int j = 0; j < 2; j++)
        ck_assert_double_eq(max_diff(b + j * V, a + rows[3 + j] * V, V), 0.0);
    free(a);
    free(b);
    didcl_model_free(one);
    didcl_model_free(two);
    didcl_model_files_free(wf);
    testutil_rmtree(wdir);
    free(wdir);
    rt->gemm = keep;
}
END_TEST

static void assert_same_result(const didcl_gen_result *a, const didcl_gen_result *b) {
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(a->n_stages, b->n_stages);
    ck_assert_int_eq(a->low_entropy, b->low_entropy);
    for (int32_t i = 0; i < a->n; i++) {
        const didcl_remask_position *p = &a->traj[i], *q = &b->traj[i];
        ck_assert_int_eq(a->tokens[i], b->tokens[i]);
        ck_assert_int_eq(p->token, q->token);
        ck_assert_float_eq(p->confidence, q->confidence);
        ck_assert_float_eq(p->entropy, q->entropy);
        ck_assert_float_eq(p->margin, q->margin);
        ck_assert_int_eq(p->step, q->step);
        ck_assert_int_eq(p->block, q->block);
        ck_assert_int_eq(p->stage, q->stage);
        ck_assert_int_eq(p->nfe, q->nfe);
        ck_assert_uint_eq(p->flags, q->flags);
    }
    for (int32_t k = 0; k < a->n_stages; k++) {
        const didcl_stage_stats *x = &a->stages[k], *y = &b->stages[k];
        ck_assert_int_eq(x->stage, y->stage);
        ck_assert_int_eq(x->block, y->block);
        ck_assert_int_eq(x->remasked, y->remasked);
        ck_assert_int_eq(x->committed, y->committed);
        ck_assert_int_eq(x->nfe, y->nfe);
        ck_assert_int_eq(x->store_kv, y->store_kv);
        ck_assert_int_eq(x->tries, y->tries);
        ck_assert_double_eq(x->flops, y->flops);
    }
}

typedef struct {
    int events[3], block_done[3];
} batch_seen;

static int count_events(void *user, const didcl_gen_event *ev) {
    batch_seen *s = user;
    ck_assert_uint_lt(ev->sample, 3);
    s->events[ev->sample]++;
    s->block_done[ev->sample] += ev->kind == DIDCL_GEN_BLOCK_DONE && ev->stage == 1;
    return 0;
}

/* N = 3 in lockstep == each sample alone, for first-hitting without and with a revision
 * stage, and for the steps commit rule */
START_TEST(test_batch_generate) {
    didcl_gen_options o = didcl_gen_options_default();
    o.length = TINY_LENGTH;
    o.seed = 11;
    const int32_t prompt[2] = {39, 508};
    ck_assert_int_eq(didcl_sampler_batchable(&bdn, &o), 1);
    ck_assert_int_eq(didcl_sampler_batchable(&dn, &o), 0);
    for (int variant = 0; variant < 3; variant++) {
        o.n_revisions = variant == 1;
        o.revisions[0].gamma = 0.25;
        o.mode = variant == 2 ? DIDCL_COMMIT_STEPS : DIDCL_COMMIT_FIRST_HITTING;
        o.steps = 2;
        didcl_gen_result one[3], all[3];
        batch_seen seen;
        memset(&seen, 0, sizeof seen);
        ck_assert_int_eq(didcl_sampler_run_batch(&bdn, &o, prompt, 2, 0, 3, NULL,
                                                 count_events, &seen, all),
                         DIDCL_OK);
        for (uint32_t s = 0; s < 3; s++) {
            ck_assert_int_eq(didcl_sampler_run(&dn, &o, prompt, 2, s, NULL, &one[s]),
                             DIDCL_OK);
            assert_same_result(&one[s], &all[s]);
            ck_assert_int_eq(seen.block_done[s], TINY_LENGTH / 4);
            ck_assert_int_gt(seen.events[s], TINY_LENGTH / 4);
        }
        ck_assert_int_eq(all[0].stages[0].nfe, variant == 2 ? 2 * TINY_LENGTH / 4 - 1
                                                            : TINY_LENGTH - 1 - 2);
        if (variant == 1)
            ck_assert_int_eq(all[2].stages[1].remasked, 7); /* round(0.25 * 29) */
        /* samples differ from each other */
        ck_assert_int_ne(memcmp(all[0].tokens, all[1].tokens, sizeof(int32_t) * TINY_LENGTH), 0);
        for (int s = 0; s < 3; s++) {
            didcl_gen_result_free(&one[s]);
            didcl_gen_result_free(&all[s]);
        }
    }
}
END_TEST

/* Sampling on the device (sample_rows) == the host sampler over the same model: same
 * tokens, trajectory statistics equal to float rounding, for every commit rule, greedy
 * and top-p 1, a revision stage (global rows) and a lockstep batch. */
static void assert_same_draws(const didcl_gen_result *a, const didcl_gen_result *b) {
    ck_assert_int_eq(a->n, b->n);
    for (int32_t i = 0; i < a->n; i++) {
        const didcl_remask_position *p = &a->traj[i], *q = &b->traj[i];
        ck_assert_int_eq(a->tokens[i], b->tokens[i]);
        ck_assert_float_eq_tol(p->confidence, q->confidence, 1e-6f);
        ck_assert_float_eq_tol(p->entropy, q->entropy, 1e-5f);
        ck_assert_float_eq_tol(p->margin, q->margin, 1e-6f);
        ck_assert_int_eq(p->nfe, q->nfe);
    }
    for (int32_t k = 0; k < a->n_stages; k++)
        ck_assert_int_eq(a->stages[k].nfe, b->stages[k].nfe);
}

START_TEST(test_device_sampling_equals_host) {
    ck_assert_ptr_nonnull(bdn.sample_rows); /* PoCL and NVIDIA have cl_khr_fp64 */
    didcl_denoiser host = dn, bhost = bdn;
    host.sample_rows = NULL;
    bhost.sample_rows = NULL;
    const int32_t prompt[2] = {39, 508};
    static const struct {
        enum didcl_commit_mode mode;
        double temperature, top_p;
        int revise;
    } cases[] = {{DIDCL_COMMIT_FIRST_HITTING, 1.0, 0.9, 1},
                 {DIDCL_COMMIT_FIRST_HITTING, 0.0, 0.9, 1},
                 {DIDCL_COMMIT_STEPS, 0.8, 1.0, 0},
                 {DIDCL_COMMIT_THRESHOLD, 1.3, 0.5, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        didcl_gen_options o = didcl_gen_options_default();
        o.length = TINY_LENGTH;
        o.seed = 5 + c;
        o.mode = o.revise_mode = cases[c].mode;
        o.steps = 2;
        o.threshold = o.revise_threshold = 0.05;
        o.temperature = cases[c].temperature;
        o.top_p = cases[c].top_p;
        o.n_revisions = cases[c].revise;
        o.revisions[0].gamma = 0.5;
        didcl_gen_result a, b, all[3], hall[3];
        ck_assert_int_eq(didcl_sampler_run(&dn, &o, prompt, 2, 1, NULL, &a), DIDCL_OK);
        ck_assert_int_eq(didcl_sampler_run(&host, &o, prompt, 2, 1, NULL, &b), DIDCL_OK);
        assert_same_draws(&a, &b);
        ck_assert_int_eq(didcl_sampler_run_batch(&bdn, &o, prompt, 2, 0, 3, NULL, NULL, NULL,
                                                 all), DIDCL_OK);
        ck_assert_int_eq(didcl_sampler_run_batch(&bhost, &o, prompt, 2, 0, 3, NULL, NULL, NULL,
                                                 hall), DIDCL_OK);
        for (int s = 0; s < 3; s++) {
            assert_same_draws(&all[s], &hall[s]);
            didcl_gen_result_free(&all[s]);
            didcl_gen_result_free(&hall[s]);
        }
        /* the last forward of the draft (or of the revision) drew one row: first-hitting
         * asks the head for that row alone */
        if (cases[c].mode == DIDCL_COMMIT_FIRST_HITTING)
            ck_assert_uint_eq(didcl_model_logit_rows(model), 1);
        didcl_gen_result_free(&a);
        didcl_gen_result_free(&b);
    }
}
END_TEST

/* Session batching of several requests: one lockstep batch of jobs with their own seeds,
 * temperatures (greedy among them), top-p, commit rules and lengths, drawn on the
 * device in one call per step == the host sampler == each job alone. */
START_TEST(test_device_sampling_mixed_batch) {
    ck_assert_ptr_nonnull(bdn.sample_rows);
    didcl_denoiser bhost = bdn;
    bhost.sample_rows = NULL;
    const int32_t prompt[3] = {39, 508, 77};
    static const struct {
        enum didcl_commit_mode mode;
        double temperature, top_p;
        int32_t length;
    } cfg[3] = {{DIDCL_COMMIT_FIRST_HITTING, 0.0, 0.9, TINY_LENGTH},
                {DIDCL_COMMIT_THRESHOLD, 1.2, 0.7, TINY_LENGTH - 8},
                {DIDCL_COMMIT_FIRST_HITTING, 0.9, 1.0, TINY_LENGTH}};
    didcl_gen_options o[3];
    didcl_sampler_job jobs[3];
    for (int j = 0; j < 3; j++) {
        o[j] = didcl_gen_options_default();
        o[j].length = cfg[j].length;
        o[j].seed = 40 + (uint64_t)j;
        o[j].mode = cfg[j].mode;
        o[j].threshold = 0.1;
        o[j].temperature = cfg[j].temperature;
        o[j].top_p = cfg[j].top_p;
        jobs[j] = (didcl_sampler_job){&o[j], prompt, 1 + j, (uint32_t)j, NULL, 0, NULL, NULL};
    }
    didcl_gen_result dev[3], host[3];
    didcl_status st[3];
    ck_assert_msg(didcl_sampler_run_group(&bdn, jobs, 3, 0, dev, st) == DIDCL_OK, "%s",
                  didcl_last_error());
    ck_assert_msg(didcl_sampler_run_group(&bhost, jobs, 3, 0, host, st) == DIDCL_OK, "%s",
                  didcl_last_error());
    for (int j = 0; j < 3; j++) {
        ck_assert_uint_eq(dev[j].batch, 3);
        assert_same_draws(&dev[j], &host[j]);
        didcl_gen_result alone;
        ck_assert_msg(didcl_sampler_run(&dn, &o[j], prompt, 1 + j, (uint32_t)j, NULL, &alone) ==
                          DIDCL_OK, "%s", didcl_last_error());
        assert_same_result(&dev[j], &alone);
        didcl_gen_result_free(&alone);
        didcl_gen_result_free(&dev[j]);
        didcl_gen_result_free(&host[j]);
    }
}
END_TEST

/* An in-process plugin (didcl_remask_register): the first `count` unlocked positions,
 * except that it fails on sample 1. */
static int fail_on_sample_1(void *state, const didcl_remask_input *in, uint32_t *out,
                            uint32_t *n_out, char *err, size_t err_size) {
    (void)state;
    if (in->sample == 1) {
        snprintf(err, err_size, "no selection for sample 1");
        return 1;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < in->n && k < in->count; i++)
        if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED))
            out[k++] = i;
    *n_out = k;
    return 0;
}

static const didcl_remask_plugin fail_plugin = {
    DIDCL_REMASK_ABI_VERSION, sizeof(didcl_remask_plugin), "fail-on-1", "fails on sample 1",
    "1.0", NULL, fail_on_sample_1, NULL};

/* a selector failing on the batch's second sample: the whole call fails (the memory
 * side of such failures is checked in check_sampler, which runs under valgrind) */
START_TEST(test_batch_select_fails) {
    didcl_gen_options o = didcl_gen_options_default();
    o.length = TINY_LENGTH;
    o.seed = 2;
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.5;
    didcl_gen_result all[3];
    didcl_remask_t h;
    ck_assert_int_eq(didcl_remask_register(&fail_plugin), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_open("fail-on-1", NULL, NULL, &h), DIDCL_OK);
    ck_assert_int_eq(didcl_sampler_run_batch(&bdn, &o, NULL, 0, 0, 3, h, NULL, NULL, all),
                     DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has("remask selection (stage 2): plugin 'fail-on-1' failed to select: "
                             "no selection for sample 1");
    didcl_remask_free(h);
    ck_assert_int_eq(didcl_remask_unregister("fail-on-1"), DIDCL_OK);
}
END_TEST

/* a batch wider than the model's caches, or a batched uncached forward, is refused */
START_TEST(test_batch_limits) {
    int32_t ids[16] = {0};
    didcl_forward f = {.mode = DIDCL_FORWARD_BLOCK, .ids = ids, .n = 4, .start = 0};
    ck_assert_int_eq(didcl_model_forward_batch(bmodel, &f, 4), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward block: batch of 4 sequences of 4 tokens, expected a "
                             "cached mode (block, store-kv), 1 to max_batch 3 sequences");
    f.mode = DIDCL_FORWARD_GLOBAL;
    ck_assert_int_eq(didcl_model_forward_batch(bmodel, &f, 2), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward global: batch of 2 sequences");
    f.mode = DIDCL_FORWARD_BLOCK;
    ck_assert_int_eq(didcl_model_forward_batch(model, &f, 2), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("max_batch 1 sequences");
}
END_TEST

START_TEST(test_not_bd3lm) {
    testutil_model g = testutil_tiny_gpt2();
    char *gdir = testutil_tmpdir();
    ck_assert_int_eq(testutil_write_model(gdir, &g, 1), 0);
    didcl_model_files_t gf;
    didcl_model_t gm;
    ck_assert_int_eq(didcl_model_files_open(gdir, &gf), DIDCL_OK);
    ck_assert_int_eq(didcl_model_open(rt, gf, NULL, &gm), DIDCL_OK);
    didcl_denoiser d;
    ck_assert_int_eq(didcl_model_denoiser(gm, &d), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("model denoiser: needs a bd3lm model, not gpt2");
    didcl_model_free(gm);
    didcl_model_files_free(gf);
    testutil_rmtree(gdir);
    free(gdir);
}
END_TEST

static Suite *generate_suite(void) {
    Suite *s = suite_create("generate");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_table);
    tcase_add_test(core, test_cached_matches_global);
    tcase_add_test(core, test_flops);
    tcase_add_test(core, test_generate_cached_uncached);
    tcase_add_test(core, test_reuse_forward);
    tcase_add_test(core, test_reuse_generate);
    suite_add_tcase(s, core);
    TCase *batch = tcase_create("batch");
    tcase_set_timeout(batch, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(batch, setup_batch, teardown_batch);
    tcase_add_test(batch, test_batch_block_step);
    tcase_add_test(batch, test_batch_generate);
    tcase_add_test(batch, test_device_sampling_equals_host);
    tcase_add_test(batch, test_device_sampling_mixed_batch);
    tcase_add_loop_test(batch, test_batch_wide_block, 0, 3);
    suite_add_tcase(s, batch);
    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(limits, setup_batch, teardown_batch);
    tcase_add_test(limits, test_not_bd3lm);
    tcase_add_test(limits, test_batch_limits);
    tcase_add_test(limits, test_batch_select_fails);
    suite_add_tcase(s, limits);
    return s;
}

/* A tiny GPT-2 evaluator for tests/eval.sh: context 16 (so 32-token samples need the
 * sliding window), with models/tokenizer.json (vocabulary 8192, BOS = EOS = 8190: the
 * generator's own tokenizer) or, with kind "gpt2", GPT-2's tokenizer from tests/data
 * (vocabulary 50257: samples are retokenized). */
static int write_evaluator(const char *out, const char *kind) {
    testutil_model m = testutil_tiny_gpt2();
    int gpt2 = kind && !strcmp(kind, "gpt2");
    m.vocab = gpt2 ? 50257 : TINY_VOCAB;
    m.length = 16;
    char to[4096];
    if (testutil_write_model(out, &m, 1) != 0 ||
        (!gpt2 && testutil_write_config(out, &m, "\"bos_token_id\": 8190, "
                                                  "\"eos_token_id\": 8190") != 0))
        return -1;
    if (gpt2) {
        snprintf(to, sizeof to, "%s/encoder.json", out);
        if (testutil_copy_file(DIDCL_TEST_SRCDIR "/data/gpt2/encoder.json", to) != 0)
            return -1;
        snprintf(to, sizeof to, "%s/vocab.bpe", out);
        return testutil_copy_file(DIDCL_TEST_SRCDIR "/data/gpt2/vocab.bpe", to);
    }
    snprintf(to, sizeof to, "%s/tokenizer.json", out);
    return testutil_copy_file(DIDCL_TEST_SRCDIR "/../models/tokenizer.json", to);
}

int main(int argc, char **argv) {
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--write-evaluator")) {
        if (write_evaluator(argv[2], argc == 4 ? argv[3] : NULL) != 0) {
            fprintf(stderr, "cannot write the tiny evaluator into %s\n", argv[2]);
            return 1;
        }
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--write-model")) {
        if (write_tiny(argv[2]) != 0) {
            fprintf(stderr, "cannot write the tiny model into %s\n", argv[2]);
            return 1;
        }
        return 0;
    }
    testutil_skip_without_device();
    return testutil_run(generate_suite());
}

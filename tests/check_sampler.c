/*
 * check_sampler.c — the generation driver against fake denoisers in plain C.
 *
 * Two fakes share one context:
 *   HASH   logits of query i are a pseudo-random function of i and of every token it can
 *          see (cache + block for block_logits; the block-causal view for global_logits),
 *          so cached and uncached paths agree exactly when the sampler feeds them the
 *          same context, and any slip (missing store_kv, wrong start) changes tokens.
 *          The mask token gets the largest logit, so sampling it would show.
 *   PEAKED token (7 i mod 62) has logit 20 where i mod 4 is 0 or 1 (confidence ~ 1), 1.5
 *          where it is 2 and 1 where it is 3 (confidence ~ 0.07 and ~ 0.04); everything
 *          else 0. Known confidences make NFE of threshold/steps modes exact numbers.
 * The fake checks the cache discipline itself: block_logits/store_kv must start where
 * the cache ends, and stored blocks must be clean. K/V reuse (revise_reuse): the fake
 * keeps the tokens its "K/V" came from, and a reuse call refuses to run if a position
 * whose token changed is not among its rows, so its logits are the exact ones. Batches: one such fake per sequence
 * behind the batched calls, compared with single runs; run this program under valgrind
 * (CK_FORK=no) to check the batch's error paths free everything once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sampler.h"
#include "testutil.h"

enum { V = 64, MASK = 63, BOS = 62, MAXL = 1024 };
enum fake_kind { HASH, PEAKED, CONSTANT };

typedef struct fake {
    enum fake_kind kind;
    int32_t cache[MAXL];
    int32_t cached;                /* cache holds [0, cached) */
    int n_block, n_store, n_global, n_reset, n_global_rows;
    int n_block_rows;              /* block rows asked for (want), all block calls */
    int32_t eos_at;                /* PEAKED: this position prefers EOS (-1: none) */
    int32_t g_n[256], g_ab[256];   /* n and attn_block of the first global calls */
    int32_t kv[MAXL];              /* K/V reuse: the tokens the cached K/V came from */
    int32_t kv_n;                  /* their count (0: no global_store yet) */
    int n_gstore, n_reuse, n_reuse_rows;
    char calls[256];               /* 'S' global_store, 'R' reuse, in order */
} fake;

static uint64_t mix(uint64_t h, uint64_t x) {
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static void fake_row(fake *f, int32_t i, uint64_t h, float *row) {
    for (int v = 0; v < V; v++) {
        if (f->kind == HASH)
            row[v] = (float)(mix(h, (uint64_t)(i * 131 + v)) % 1000) / 250.0f;
        else
            row[v] = 0.0f;
    }
    if (f->kind == PEAKED)
        row[(i * 7) % 62] = (i % 4 < 2) ? 20.0f : (i % 4 == 2) ? 1.5f : 1.0f;
    if (f->kind == CONSTANT)
        row[5] = 30.0f;
    if (f->kind == PEAKED && i == f->eos_at)
        row[BOS] = 40.0f; /* EOS = BOS, as in GPT-2 */
    row[MASK] = 50.0f;
}

static didcl_status fake_reset(void *ctx, uint32_t sample) {
    (void)sample;
    fake *f = ctx;
    f->cached = 0;
    f->n_reset++;
    return DIDCL_OK;
}

static didcl_status fake_block(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                               int32_t B, const uint8_t *want, float *logits) {
    (void)sample;
    fake *f = ctx;
    f->n_block++;
    if (start != f->cached)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: block at %d, cache holds %d",
                          (int)start, (int)f->cached);
    uint64_t h = 1;
    for (int32_t j = 0; j < start; j++)
        h = mix(h, (uint64_t)(j * 1000 + f->cache[j]));
    for (int32_t j = start; j < start + B; j++)
        h = mix(h, (uint64_t)(j * 1000 + seq[j]));
    int32_t r = 0; /* the wanted rows, packed */
    for (int32_t i = 0; i < B; i++)
        if (!want || want[i]) {
            fake_row(f, start + i, h, logits + (size_t)r++ * V);
            f->n_block_rows++;
        }
    return DIDCL_OK;
}

static didcl_status fake_store(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                               int32_t B) {
    (void)sample;
    fake *f = ctx;
    f->n_store++;
    if (start != f->cached)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: store at %d, cache holds %d",
                          (int)start, (int)f->cached);
    for (int32_t j = start; j < start + B; j++) {
        if (seq[j] == MASK)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: storing a mask at %d", (int)j);
        f->cache[j] = seq[j];
    }
    f->cached = start + B;
    return DIDCL_OK;
}

static didcl_status fake_global(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                                int32_t ab, const uint8_t *rows, float *logits) {
    (void)sample;
    fake *f = ctx;
    if (f->n_global < 256) {
        f->g_n[f->n_global] = n;
        f->g_ab[f->n_global] = ab;
    }
    f->n_global++;
    int32_t r = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!rows[i])
            continue;
        uint64_t h = 1; /* keys j with j / ab <= i / ab */
        int32_t end = (i / ab + 1) * ab < n ? (i / ab + 1) * ab : n;
        for (int32_t j = 0; j < end; j++)
            h = mix(h, (uint64_t)(j * 1000 + seq[j]));
        fake_row(f, i, h, logits + (size_t)r++ * V);
        f->n_global_rows++;
    }
    return DIDCL_OK;
}

static void fake_call(fake *f, char c) {
    size_t n = strlen(f->calls);
    if (n + 1 < sizeof f->calls)
        f->calls[n] = c;
}

static didcl_status fake_global_store(void *ctx, uint32_t sample, const int32_t *seq,
                                      int32_t n, const uint8_t *rows, float *logits) {
    fake *f = ctx;
    f->n_gstore++;
    fake_call(f, 'S');
    memcpy(f->kv, seq, sizeof *seq * (size_t)n);
    f->kv_n = n;
    didcl_status s = fake_global(ctx, sample, seq, n, n, rows, logits);
    f->n_global--; /* counted apart */
    return s;
}

static didcl_status fake_reuse(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                               const int32_t *pos, int32_t k, const uint8_t *rows,
                               float *logits) {
    fake *f = ctx;
    f->n_reuse++;
    f->n_reuse_rows += k;
    fake_call(f, 'R');
    if (f->kv_n != n)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: reuse over %d tokens, cache of %d",
                          (int)n, (int)f->kv_n);
    for (int32_t i = 0; i < k; i++) {
        if (i > 0 && pos[i] <= pos[i - 1])
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: reuse rows not increasing");
        f->kv[pos[i]] = seq[pos[i]];
    }
    int32_t in = 0;
    for (int32_t p = 0; p < n; p++) {
        if (f->kv[p] != seq[p])
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: position %d changed and was not "
                              "forwarded", (int)p);
        while (in < k && pos[in] < p)
            in++;
        if (rows[p] && !(in < k && pos[in] == p))
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "fake: wanted row %d not forwarded",
                              (int)p);
    }
    didcl_status s = fake_global(ctx, sample, seq, n, n, rows, logits);
    f->n_global--;
    return s;
}

static double fake_flops(void *ctx, enum didcl_forward_kind kind, int32_t nq, int32_t nk) {
    (void)ctx;
    return (kind == DIDCL_FWD_STORE_KV ? 1000.0 : 1.0) * nq * nk;
}

static fake F;
static didcl_denoiser D;

static void use_fake(enum fake_kind kind) {
    memset(&F, 0, sizeof F);
    F.kind = kind;
    F.eos_at = -1;
    D = (didcl_denoiser){&F, V, MASK, BOS, BOS, MAXL, fake_reset, fake_block, fake_store,
                         fake_global, fake_flops, 0, NULL, NULL, NULL,
                         fake_global_store, fake_reuse, NULL};
}

static didcl_gen_options opts(int32_t L, int32_t B) {
    didcl_gen_options o = didcl_gen_options_default();
    o.length = L;
    o.block = B;
    o.seed = 11;
    return o;
}

static didcl_gen_result gen(const didcl_gen_options *o, const int32_t *prompt, int32_t np) {
    didcl_gen_result r;
    didcl_status s = didcl_sampler_run(&D, o, prompt, np, 0, NULL, &r);
    ck_assert_msg(s == DIDCL_OK, "run failed: %s", didcl_last_error());
    return r;
}

/* ---- stage 1 ---- */

START_TEST(test_first_hitting_nfe_and_cache) {
    use_fake(HASH);
    didcl_gen_options o = opts(64, 4);
    didcl_gen_result r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.n, 64);
    ck_assert_int_eq(r.n_stages, 1);
    ck_assert_int_eq(r.tokens[0], BOS);
    ck_assert_uint_eq(r.traj[0].flags, DIDCL_REMASK_LOCKED);
    /* one committing forward per masked position (L - 1: BOS is not masked); one
     * store-KV per block except the last, counted apart */
    ck_assert_int_eq(r.stages[0].nfe, 63);
    ck_assert_int_eq(F.n_block, 63);
    ck_assert_int_eq(r.stages[0].store_kv, 15);
    ck_assert_int_eq(F.n_store, 15);
    ck_assert_int_eq(F.n_global, 0);
    ck_assert_int_eq(F.n_block_rows, 63); /* each step asks for its one drawn row */
    ck_assert_int_eq(F.n_reset, 1);
    ck_assert_int_eq(r.stages[0].committed, 63);
    ck_assert_int_eq(r.stages[0].tries, 1);
    double flops = 0;
    for (int32_t b = 0; b < 16; b++)
        flops += (b == 0 ? 3 : 4) * 4.0 * (4 * b + 4) + (b < 15 ? 1000.0 * 4 * (4 * b + 4) : 0);
    ck_assert(r.stages[0].flops == flops);
    int nfe_seen[64] = {0};
    for (int p = 1; p < 64; p++) {
        ck_assert_int_ne(r.tokens[p], MASK);
        ck_assert_int_eq(r.traj[p].token, r.tokens[p]);
        ck_assert_int_eq(r.traj[p].stage, 1);
        ck_assert_int_eq(r.traj[p].block, p / 4);
        ck_assert_uint_eq(r.traj[p].flags, 0);
        ck_assert(r.traj[p].confidence > 0.0f && r.traj[p].confidence <= 1.0f);
        ck_assert(r.traj[p].entropy > 0.0f);
        ck_assert(r.traj[p].nfe >= 0 && r.traj[p].nfe < 63);
        nfe_seen[r.traj[p].nfe]++;
        /* the forwards of a block are numbered after the previous block's */
        ck_assert(r.traj[p].nfe >= (p / 4) * 4 - 1 && r.traj[p].nfe < (p / 4) * 4 + 3);
    }
    for (int k = 0; k < 63; k++)
        ck_assert_int_eq(nfe_seen[k], 1); /* first-hitting: one commit per forward */
    /* positions are picked at random, not left to right: a block of 4 comes out in order
     * with probability 1/24 */
    int out_of_order = 0;
    for (int b = 1; b < 16; b++)
        for (int p = 4 * b; p < 4 * b + 3; p++)
            if (r.traj[p].nfe > r.traj[p + 1].nfe) {
                out_of_order++;
                break;
            }
    ck_assert_msg(out_of_order >= 10, "only %d of 15 blocks out of order", out_of_order);
    didcl_gen_result_free(&r);
}
END_TEST

START_TEST(test_determinism) {
    use_fake(HASH);
    didcl_gen_options o = opts(128, 4);
    didcl_gen_result a = gen(&o, NULL, 0), b = gen(&o, NULL, 0);
    ck_assert(memcmp(a.tokens, b.tokens, sizeof *a.tokens * 128) == 0);
    ck_assert(memcmp(a.traj, b.traj, sizeof *a.traj * 128) == 0);
    o.seed = 12;
    didcl_gen_result c = gen(&o, NULL, 0);
    int diff = 0;
    for (int p = 0; p < 128; p++)
        diff += a.tokens[p] != c.tokens[p];
    ck_assert_msg(diff > 64, "seed change altered only %d of 128 tokens", diff);
    /* another sample index of the same seed is another stream */
    o.seed = 11;
    didcl_gen_result d;
    ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, 1, NULL, &d), DIDCL_OK);
    diff = 0;
    for (int p = 0; p < 128; p++)
        diff += a.tokens[p] != d.tokens[p];
    ck_assert(diff > 64);
    /* and sample 0 after sample 1 is still sample 0: no state carries between runs */
    didcl_gen_result e = gen(&o, NULL, 0);
    ck_assert(memcmp(a.tokens, e.tokens, sizeof *a.tokens * 128) == 0);
    didcl_gen_result_free(&e);
    didcl_gen_result_free(&a);
    didcl_gen_result_free(&b);
    didcl_gen_result_free(&c);
    didcl_gen_result_free(&d);
}
END_TEST

/* Cached (block_logits + store_kv) and uncached (block-causal global_logits) drafts see
 * the same context, so they must produce the same tokens, in every commit mode. */
START_TEST(test_cached_equals_uncached) {
    const enum didcl_commit_mode modes[3] = {DIDCL_COMMIT_FIRST_HITTING, DIDCL_COMMIT_STEPS,
                                             DIDCL_COMMIT_THRESHOLD};
    for (int m = 0; m < 3; m++) {
        use_fake(HASH);
        didcl_gen_options o = opts(96, 8);
        o.mode = modes[m];
        o.steps = 3;
        o.threshold = 0.05;
        o.top_p = 0.95;
        const int32_t prompt[5] = {1, 2, 3, 4, 5};
        didcl_gen_result a = gen(&o, prompt, 5);
        int blocks = F.n_block, rows = F.n_block_rows;
        ck_assert_int_eq(F.n_global, 0);
        use_fake(HASH);
        o.use_kv_cache = 0;
        didcl_gen_result b = gen(&o, prompt, 5);
        ck_assert_int_eq(F.n_block, 0);
        ck_assert_int_eq(F.n_store, 0);
        ck_assert_int_eq(F.n_global, blocks);
        ck_assert_int_eq(F.n_global_rows, rows); /* both ask for the drawn rows only */
        ck_assert_int_eq(b.stages[0].store_kv, 0);
        ck_assert_msg(memcmp(a.tokens, b.tokens, sizeof *a.tokens * 96) == 0, "mode %d", m);
        ck_assert(memcmp(a.traj, b.traj, sizeof *a.traj * 96) == 0);
        ck_assert_int_eq(a.stages[0].nfe, b.stages[0].nfe);
        didcl_gen_result_free(&a);
        didcl_gen_result_free(&b);
    }
}
END_TEST

START_TEST(test_prompt_locked) {
    use_fake(HASH);
    didcl_gen_options o = opts(32, 4);
    const int32_t prompt[6] = {10, 11, 12, 13, 14, 15}; /* ends inside block 1 */
    didcl_gen_result r = gen(&o, prompt, 6);
    ck_assert_int_eq(r.tokens[0], BOS);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(r.tokens[1 + i], prompt[i]);
        ck_assert_uint_eq(r.traj[1 + i].flags, DIDCL_REMASK_LOCKED);
        ck_assert_int_eq(r.traj[1 + i].stage, 0);
        ck_assert_int_eq(r.traj[1 + i].nfe, -1);
    }
    ck_assert_int_eq(r.traj[7].stage, 1); /* the rest of the partial block is drafted */
    ck_assert_int_eq(r.traj[7].block, 1);
    ck_assert_int_eq(r.stages[0].nfe, 32 - 7);
    ck_assert_int_eq(r.stages[0].committed, 32 - 7);
    ck_assert_int_eq(r.stages[0].store_kv, 7);
    didcl_gen_result_free(&r);
}
END_TEST

/* PEAKED, greedy, top-p 1: per block two positions with confidence ~1, two with ~0.04. */
START_TEST(test_threshold_and_steps_nfe) {
    use_fake(PEAKED);
    didcl_gen_options o = opts(64, 4);
    o.temperature = 0.0;
    o.top_p = 1.0;
    o.mode = DIDCL_COMMIT_THRESHOLD;
    o.threshold = 0.5;
    didcl_gen_result r = gen(&o, NULL, 0);
    /* block 0: 1 | 2 | 3; block b: {4b, 4b+1} | 4b+2 | 4b+3 */
    ck_assert_int_eq(r.stages[0].nfe, 3 * 16);
    for (int p = 1; p < 64; p++)
        ck_assert_int_eq(r.tokens[p], (p * 7) % 62);
    ck_assert_int_eq(r.traj[8].step, 0);
    ck_assert_int_eq(r.traj[9].step, 0);
    ck_assert_int_eq(r.traj[10].step, 1);
    ck_assert_int_eq(r.traj[11].step, 2);
    ck_assert_int_eq(r.traj[8].nfe, r.traj[9].nfe);
    ck_assert(r.traj[9].confidence > 0.99f && r.traj[10].confidence < 0.08f);
    ck_assert(r.traj[11].confidence < r.traj[10].confidence);
    didcl_gen_result_free(&r);

    use_fake(PEAKED);
    o.mode = DIDCL_COMMIT_STEPS;
    o.steps = 2; /* k = ceil(3/2), 1 in block 0; 2, 2 elsewhere */
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.stages[0].nfe, 2 * 16);
    ck_assert_int_eq(r.traj[12].step, 0); /* the most confident first */
    ck_assert_int_eq(r.traj[13].step, 0);
    ck_assert_int_eq(r.traj[14].step, 1);
    ck_assert_int_eq(r.traj[15].step, 1);
    didcl_gen_result_free(&r);

    use_fake(PEAKED);
    o.steps = 4; /* as many steps as the block: one per forward (3 in block 0) */
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.stages[0].nfe, 63);
    didcl_gen_result_free(&r);

    o.steps = 8; /* more steps than the block has positions: refused */
    ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, 0, NULL, &r),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("gen options: steps 8 exceeds block 4: at most 4 forwards per "
                             "block");
    o.mode = DIDCL_COMMIT_FIRST_HITTING; /* steps are only read in steps mode */
    ck_assert_int_eq(didcl_gen_options_check(&o, 1024, 0), DIDCL_OK);
}
END_TEST

START_TEST(test_var_length_eos) {
    use_fake(PEAKED);
    F.eos_at = 37;
    didcl_gen_options o = opts(64, 4);
    o.var_length = 1;
    o.temperature = 0.0;
    didcl_gen_result r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.n, 38);
    ck_assert_int_eq(r.tokens[37], BOS);
    ck_assert_int_eq(r.stages[0].nfe, 39); /* the whole block 36..39 was drafted */
    didcl_gen_result_free(&r);
    /* without var_length the EOS is just a token */
    use_fake(PEAKED);
    F.eos_at = 37;
    o.var_length = 0;
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.n, 64);
    didcl_gen_result_free(&r);
}
END_TEST

/* CONSTANT always prefers token 5: the unigram entropy of any window is 0. */
START_TEST(test_low_entropy_rule) {
    use_fake(CONSTANT);
    didcl_gen_options o = opts(64, 4);
    o.reject_low_entropy = 1;
    o.reject_window = 16;
    o.reject_max_tries = 3;
    didcl_gen_result r = gen(&o, NULL, 0);
    /* whole-sample restarts at the first check (end = 20): 2 x 19 forwards, then a full
     * last attempt; the draft is kept and flagged */
    ck_assert_int_eq(r.stages[0].tries, 3);
    ck_assert_int_eq(r.stages[0].nfe, 2 * 19 + 63);
    ck_assert_int_eq(F.n_reset, 3);
    ck_assert_int_eq(r.low_entropy, 1);
    ck_assert_int_eq(r.n, 64);
    didcl_gen_result_free(&r);

    use_fake(CONSTANT);
    o.reject_scope = DIDCL_REJECT_BLOCK; /* each checked block redrawn twice more */
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.stages[0].nfe, 15 + 12 * 3 * 4);
    ck_assert_int_eq(r.stages[0].tries, 1 + 12 * 2);
    ck_assert_int_eq(r.stages[0].committed, 63);
    ck_assert_int_eq(r.low_entropy, 1);
    didcl_gen_result_free(&r);

    use_fake(CONSTANT);
    o.var_length = 1; /* the reference truncates instead: end - window */
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.n, 20 - 16);
    didcl_gen_result_free(&r);

    use_fake(HASH); /* varied tokens pass a low bar at once */
    o = opts(64, 4);
    o.reject_low_entropy = 1;
    o.reject_window = 16;
    o.reject_min_entropy = 1.0;
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.stages[0].tries, 1);
    ck_assert_int_eq(r.stages[0].nfe, 63);
    ck_assert_int_eq(r.low_entropy, 0);
    didcl_gen_result_free(&r);
}
END_TEST

/* ---- revision ---- */

/* Test plugins go in through didcl_remask_register, as a binding's would. "recorder"
 * delegates to lowconf (a handle in its state) and records what it chose. */
static uint32_t chosen[MAXL], n_chosen;
static int32_t fail_sample = -1; /* recorder: refuse this sample */

static int recorder_create(const char *options, const didcl_remask_host *host, void **state,
                           char *err, size_t err_size) {
    (void)options, (void)host;
    if (didcl_remask_open("lowconf", NULL, NULL, (didcl_remask_t *)state) != DIDCL_OK) {
        snprintf(err, err_size, "%s", didcl_last_error());
        return 1;
    }
    return 0;
}

static int recorder_select(void *st, const didcl_remask_input *in, uint32_t *out,
                           uint32_t *n_out, char *err, size_t err_size) {
    if ((int32_t)in->sample == fail_sample) {
        snprintf(err, err_size, "sample %u refused", in->sample);
        return 1;
    }
    if (didcl_remask_select(st, in->positions, in->n, in->count, 0, in->stage, in->block_size,
                            in->sample, out, n_out) != DIDCL_OK) {
        snprintf(err, err_size, "%s", didcl_last_error());
        return 1;
    }
    memcpy(chosen, out, sizeof *out * *n_out);
    n_chosen = *n_out;
    return 0;
}

static void recorder_destroy(void *st) { didcl_remask_free(st); }

static const didcl_remask_plugin recorder = {
    DIDCL_REMASK_ABI_VERSION, sizeof(didcl_remask_plugin), "recorder", "lowconf, recorded",
    "1.0", recorder_create, recorder_select, recorder_destroy};

/* Register (once per forked test) and open a test plugin. */
static didcl_remask_t open_test_plugin(const didcl_remask_plugin *desc, const char *spec) {
    didcl_remask_t h = NULL;
    didcl_status s = didcl_remask_register(desc);
    ck_assert_msg(s == DIDCL_OK || s == DIDCL_ERR_INVALID_ARG, "%s", didcl_last_error());
    ck_assert_msg(didcl_remask_open(spec, NULL, NULL, &h) == DIDCL_OK, "%s", didcl_last_error());
    ck_assert_str_eq(didcl_remask_path(h), "(registered)");
    return h;
}

START_TEST(test_revision_changes_only_the_chosen) {
    use_fake(HASH);
    didcl_gen_options o = opts(64, 4);
    const int32_t prompt[3] = {7, 8, 9};
    didcl_gen_result d = gen(&o, prompt, 3);
    o.n_revisions = 1;
    o.revisions[0] = (didcl_revision){0.3, 0};
    didcl_gen_result r;
    use_fake(HASH);
    didcl_remask_t rec = open_test_plugin(&recorder, "recorder");
    ck_assert_int_eq(didcl_sampler_run(&D, &o, prompt, 3, 0, rec, &r), DIDCL_OK);
    didcl_remask_free(rec);
    /* 60 unlocked; round(0.3 * 60) = 18 */
    ck_assert_uint_eq(n_chosen, 18);
    ck_assert_int_eq(r.n_stages, 2);
    ck_assert_int_eq(r.stages[1].stage, 2);
    ck_assert_int_eq(r.stages[1].remasked, 18);
    ck_assert_int_eq(r.stages[1].committed, 18);
    ck_assert_int_eq(r.stages[1].nfe, 18); /* first-hitting: one per remasked position */
    ck_assert_int_eq(r.stages[1].block, 64);
    ck_assert_int_eq(F.n_global, 18);
    ck_assert_int_eq(F.n_global_rows, 18); /* only the committed row is asked for */
    ck_assert(r.stages[1].flops == 18.0 * 64 * 64);
    uint8_t in_set[64] = {0};
    float max_chosen = 0, min_other = 2;
    for (uint32_t i = 0; i < n_chosen; i++) {
        in_set[chosen[i]] = 1;
        max_chosen = fmaxf(max_chosen, d.traj[chosen[i]].confidence);
    }
    int changed = 0;
    for (int p = 0; p < 64; p++) {
        if (!in_set[p]) {
            ck_assert_int_eq(r.tokens[p], d.tokens[p]);
            ck_assert(memcmp(&r.traj[p], &d.traj[p], sizeof r.traj[p]) == 0);
            if (!(d.traj[p].flags & DIDCL_REMASK_LOCKED))
                min_other = fminf(min_other, d.traj[p].confidence);
        } else {
            ck_assert_uint_eq(d.traj[p].flags, 0);
            ck_assert_int_eq(r.traj[p].stage, 2);
            ck_assert_int_eq(r.traj[p].block, 0);
            ck_assert(r.traj[p].nfe >= 60 && r.traj[p].nfe < 60 + 18);
            ck_assert_int_ne(r.tokens[p], MASK);
            changed += r.tokens[p] != d.tokens[p];
        }
    }
    ck_assert(max_chosen <= min_other); /* lowest snapshot confidence */
    ck_assert(changed > 0);
    /* the default (NULL: lowconf) and an explicit lowconf handle give the same run */
    didcl_gen_result q, q2;
    use_fake(HASH);
    ck_assert_int_eq(didcl_sampler_run(&D, &o, prompt, 3, 0, NULL, &q), DIDCL_OK);
    ck_assert(memcmp(q.tokens, r.tokens, sizeof *q.tokens * 64) == 0);
    didcl_remask_t low;
    ck_assert_int_eq(didcl_remask_open("lowconf", NULL, NULL, &low), DIDCL_OK);
    use_fake(HASH);
    ck_assert_int_eq(didcl_sampler_run(&D, &o, prompt, 3, 0, low, &q2), DIDCL_OK);
    ck_assert(memcmp(q2.tokens, r.tokens, sizeof *q2.tokens * 64) == 0);
    didcl_remask_free(low);
    didcl_gen_result_free(&q);
    didcl_gen_result_free(&q2);
    didcl_gen_result_free(&d);
    didcl_gen_result_free(&r);
}
END_TEST

START_TEST(test_revision_counts_and_stages) {
    use_fake(PEAKED);
    didcl_gen_options o = opts(64, 4);
    o.temperature = 0.0;
    o.top_p = 1.0;
    o.n_revisions = 2;
    o.revisions[0] = (didcl_revision){0.5, 16}; /* 63 * 0.5 = 31.5 -> 32 */
    o.revisions[1] = (didcl_revision){1.0, 0};  /* every unlocked position */
    o.revise_mode = DIDCL_COMMIT_STEPS;
    o.revise_steps = 4;
    didcl_gen_result r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.n_stages, 3);
    ck_assert_int_eq(r.stages[1].remasked, 32);
    ck_assert_int_eq(r.stages[1].block, 16);
    ck_assert_int_eq(r.stages[2].remasked, 63);
    /* steps mode: min(4, masked in block) forwards per block; stage 3 is one block */
    ck_assert_int_eq(r.stages[2].nfe, 4);
    ck_assert(r.stages[1].nfe >= 4 && r.stages[1].nfe <= 16);
    for (int p = 1; p < 64; p++) {
        ck_assert_int_eq(r.traj[p].stage, 3);
        ck_assert_int_eq(r.tokens[p], (p * 7) % 62); /* greedy: same tokens again */
    }
    ck_assert_int_eq(r.tokens[0], BOS);
    ck_assert_int_eq(r.traj[0].stage, 0);
    didcl_gen_result_free(&r);

    /* threshold revision of everything: the 31 confident positions in the first forward,
     * then the 32 unsure ones one by one */
    use_fake(PEAKED);
    o.n_revisions = 1;
    o.revisions[0] = (didcl_revision){1.0, 0};
    o.revise_mode = DIDCL_COMMIT_THRESHOLD;
    o.revise_threshold = 0.5;
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.stages[1].nfe, 1 + 32);
    didcl_gen_result_free(&r);

    /* block-wise revision commits block by block, left to right */
    use_fake(HASH);
    o = opts(64, 4);
    o.n_revisions = 1;
    o.revisions[0] = (didcl_revision){0.5, 16};
    r = gen(&o, NULL, 0);
    int32_t last_nfe_of_block[4] = {-1, -1, -1, -1}, first_nfe_of_block[4] = {999, 999, 999, 999};
    for (int p = 0; p < 64; p++)
        if (r.traj[p].stage == 2) {
            ck_assert_int_eq(r.traj[p].block, p / 16);
            int b = p / 16;
            last_nfe_of_block[b] = r.traj[p].nfe > last_nfe_of_block[b] ? r.traj[p].nfe
                                                                        : last_nfe_of_block[b];
            first_nfe_of_block[b] = r.traj[p].nfe < first_nfe_of_block[b]
                                        ? r.traj[p].nfe
                                        : first_nfe_of_block[b];
        }
    for (int b = 0; b + 1 < 4; b++)
        if (last_nfe_of_block[b] >= 0 && first_nfe_of_block[b + 1] < 999)
            ck_assert(last_nfe_of_block[b] < first_nfe_of_block[b + 1]);
    ck_assert_int_eq(r.stages[1].nfe, 32);
    didcl_gen_result_free(&r);

    /* a true small-block revision: every revision forward runs block-diffusion attention
     * at block 16 over [0, end of the block being regenerated); a global one (block 0)
     * is bidirectional over the whole sequence */
    for (int32_t rb = 0; rb <= 16; rb += 16) {
        use_fake(HASH);
        o = opts(64, 4);
        o.use_kv_cache = 1;
        o.n_revisions = 1;
        o.revisions[0] = (didcl_revision){0.5, rb};
        r = gen(&o, NULL, 0);
        ck_assert_int_eq(F.n_global, r.stages[1].nfe);
        ck_assert_int_gt(F.n_global, 0);
        int32_t last_end = 0;
        for (int k = 0; k < F.n_global; k++) {
            if (rb == 0) {
                ck_assert_int_eq(F.g_ab[k], 64);
                ck_assert_int_eq(F.g_n[k], 64);
            } else {
                ck_assert_int_eq(F.g_ab[k], 16);
                ck_assert_int_eq(F.g_n[k] % 16, 0);
                ck_assert_int_ge(F.g_n[k], last_end); /* blocks left to right */
                last_end = F.g_n[k];
            }
        }
        ck_assert_int_eq(r.stages[1].block, rb ? 16 : 64);
        didcl_gen_result_free(&r);
    }

    /* gamma small enough to round to 0: the stage does nothing */
    use_fake(HASH);
    o.revisions[0] = (didcl_revision){0.005, 0};
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(r.stages[1].remasked, 0);
    ck_assert_int_eq(r.stages[1].nfe, 0);
    didcl_gen_result_free(&r);
}
END_TEST

/* Bad selectors: each must be refused with its reason, before any stage-2 forward. */
static int sel_mode;
static int bad_select(void *st, const didcl_remask_input *in, uint32_t *out, uint32_t *n_out,
                      char *err, size_t err_size) {
    (void)st;
    for (uint32_t i = 0; i < in->count; i++)
        out[i] = 10 + i;
    *n_out = in->count;
    switch (sel_mode) {
    case 0: out[1] = out[0]; break;            /* duplicate */
    case 1: out[2] = 0; break;                 /* BOS */
    case 2: out[0] = in->n + 5; break;         /* out of range */
    case 3: *n_out = in->count - 1; break;     /* wrong count */
    case 4: snprintf(err, err_size, "scorer weights missing"); return 1;
    case 5: out[3] = 2; break;                 /* a prompt position */
    }
    return 0;
}

static const didcl_remask_plugin bad_plugin = {
    DIDCL_REMASK_ABI_VERSION, sizeof(didcl_remask_plugin), "bad-select", "misbehaves",
    "1.0", NULL, bad_select, NULL};

/* The sampler relies on didcl_remask_select's validation (there is no second one). */
/* K/V reuse: the first forward of a global revision stage and every revise_reuse-th
 * after it are exact passes that keep K/V (global_store), the others reuse rows (the last
 * commit and the row to draw); the fake's reuse logits are exact when no changed
 * position is left out, so the tokens equal the exact revision's. Block revisions stay
 * exact; 1 = every forward exact; a denoiser without the calls refuses the option. */
START_TEST(test_revise_reuse_schedule) {
    didcl_gen_options o = opts(64, 4);
    o.n_revisions = 2;
    o.revisions[0] = (didcl_revision){0.25, 0}; /* 16 forwards */
    o.revisions[1] = (didcl_revision){0.125, 0}; /* 8 */
    use_fake(HASH);
    didcl_gen_result exact = gen(&o, NULL, 0);
    ck_assert_int_eq(F.n_global, 24);
    ck_assert_int_eq(F.n_gstore + F.n_reuse, 0);
    o.revise_reuse = 5;
    use_fake(HASH);
    didcl_gen_result r = gen(&o, NULL, 0);
    ck_assert_int_eq(F.n_global, 0);
    ck_assert_str_eq(F.calls, "SRRRRSRRRRSRRRRS" "SRRRRSRR");
    ck_assert_int_eq(F.n_reuse_rows, 2 * F.n_reuse); /* first-hitting: commit + draw */
    ck_assert_int_eq(r.stages[1].nfe, 16);
    ck_assert_int_eq(r.stages[2].nfe, 8);
    for (int p = 0; p < 64; p++)
        ck_assert_int_eq(r.tokens[p], exact.tokens[p]);
    /* FLOPs: 4 exact passes of 64 x 64, 12 reuse passes of 2 x 64 (the fake's count) */
    ck_assert_double_eq(r.stages[1].flops, 4 * 64.0 * 64 + 12 * 2.0 * 64);
    ck_assert_double_eq(exact.stages[1].flops, 16 * 64.0 * 64);
    didcl_gen_result_free(&r);

    o.revise_reuse = 1;
    use_fake(HASH);
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(F.n_gstore, 24);
    ck_assert_int_eq(F.n_reuse, 0);
    didcl_gen_result_free(&r);

    /* steps mode: every masked position is drawn at each forward, so all go as rows */
    o.revise_reuse = 100;
    o.revise_mode = DIDCL_COMMIT_STEPS;
    o.revise_steps = 4;
    use_fake(HASH);
    r = gen(&o, NULL, 0);
    ck_assert_str_eq(F.calls, "SRRR" "SRRR");
    ck_assert_int_eq(r.stages[1].nfe, 4);
    didcl_gen_result_free(&r);

    /* a block revision stays exact */
    o = opts(64, 4);
    o.n_revisions = 1;
    o.revisions[0] = (didcl_revision){0.25, 16};
    o.revise_reuse = 4;
    use_fake(HASH);
    r = gen(&o, NULL, 0);
    ck_assert_int_eq(F.n_gstore + F.n_reuse, 0);
    ck_assert_int_eq(F.n_global, 16);
    didcl_gen_result_free(&r);

    o.revisions[0].block = 0;
    use_fake(HASH);
    D.reuse_logits = NULL;
    ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, 0, NULL, &r), DIDCL_ERR_UNSUPPORTED);
    ck_assert_last_error_has("no K/V-reuse calls (global_store, reuse_logits); revise_reuse "
                             "4 needs them");
    o.revise_reuse = 0; /* off: not needed */
    ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, 0, NULL, &r), DIDCL_OK);
    didcl_gen_result_free(&r);
    didcl_gen_result_free(&exact);
}
END_TEST

START_TEST(test_invalid_selections) {
    const char *want[6] = {"plugin 'bad-select' selected position 10 twice",
                           "plugin 'bad-select' selected locked position 0 (prompt or BOS)",
                           "selected position 69, out of range (sequence length 64)",
                           "plugin 'bad-select' selected 11 positions, expected 12",
                           "plugin 'bad-select' failed to select: scorer weights missing",
                           "selected locked position 2"};
    didcl_remask_t bad = open_test_plugin(&bad_plugin, "bad-select");
    for (sel_mode = 0; sel_mode < 6; sel_mode++) {
        use_fake(HASH);
        didcl_gen_options o = opts(64, 4);
        o.n_revisions = 1;
        o.revisions[0] = (didcl_revision){0.2, 0}; /* 61 unlocked -> 12 */
        const int32_t prompt[2] = {3, 4};
        didcl_gen_result r = {.n = -7};
        ck_assert_int_eq(didcl_sampler_run(&D, &o, prompt, 2, 0, bad, &r), DIDCL_ERR_PLUGIN);
        ck_assert_last_error_has(want[sel_mode]);
        ck_assert_last_error_has("remask selection (stage 2)");
        ck_assert_int_eq(F.n_global, 0);
        ck_assert_int_eq(r.n, -7); /* result untouched */
    }
    didcl_remask_free(bad);
}
END_TEST

/* ---- options ---- */

static didcl_status failing_block(void *ctx, uint32_t sample, const int32_t *seq,
                                  int32_t start, int32_t B, const uint8_t *want,
                                  float *logits) {
    (void)ctx, (void)sample, (void)seq, (void)start, (void)B, (void)want, (void)logits;
    return didcl_fail(DIDCL_ERR_IO, "fake: device lost");
}

START_TEST(test_option_messages) {
    use_fake(HASH);
    didcl_gen_options o;
#define EXPECT(stmt, np, msg)                                                          \
    do {                                                                               \
        o = opts(64, 4);                                                               \
        stmt;                                                                          \
        didcl_gen_result r_;                                                           \
        ck_assert_int_eq(didcl_sampler_run(&D, &o, (const int32_t[64]){1}, np, 0, NULL, \
                                           &r_),                                       \
                         DIDCL_ERR_INVALID_ARG);                                       \
        ck_assert_last_error_has(msg);                                                 \
    } while (0)
    EXPECT(o.block = 5, 0, "gen options: block 5 does not divide length 64");
    EXPECT(o.length = 2048, 0, "gen options: length 2048 exceeds the model length 1024");
    EXPECT(o.steps = 0, 0, "gen options: steps 0, expected >= 1");
    EXPECT(o.revise_reuse = -1, 0, "gen options: revise reuse -1, expected >= 0");
    EXPECT((o.mode = DIDCL_COMMIT_STEPS, o.steps = 5), 0,
           "gen options: steps 5 exceeds block 4: at most 4 forwards per block");
    EXPECT(o.threshold = 0.0, 0, "gen options: threshold 0 outside (0, 1]");
    EXPECT(o.threshold = 1.5, 0, "gen options: threshold 1.5 outside (0, 1]");
    EXPECT(o.top_p = 0.0, 0, "gen options: top-p 0 outside (0, 1]");
    EXPECT(o.top_p = NAN, 0, "gen options: top-p nan outside (0, 1]");
    EXPECT(o.temperature = -0.5, 0, "gen options: temperature -0.5, expected a finite value >= 0");
    EXPECT((void)0, 64, "gen options: prompt of 64 tokens does not fit length 64 after BOS, expected <= 63");
    EXPECT((o.n_revisions = 1, o.revisions[0] = (didcl_revision){1.5, 0}), 0,
           "gen options: stage 2: gamma 1.5 outside [0, 1]");
    EXPECT((o.n_revisions = 2, o.revisions[1] = (didcl_revision){-0.1, 0}), 0,
           "gen options: stage 3: gamma -0.1 outside [0, 1]");
    EXPECT((o.n_revisions = 1, o.revisions[0] = (didcl_revision){0.3, 24}), 0,
           "gen options: stage 2: block 24 does not divide length 64");
    EXPECT(o.n_revisions = 9, 0, "gen options: 9 revision stages, expected 0 to 8");
    EXPECT(o.mode = 7, 0, "unknown commit mode 7");
    EXPECT(o.length = 0, 0, "gen options: length 0, expected >= 1");
    EXPECT((o.reject_low_entropy = 1, o.reject_max_tries = 0), 0,
           "low-entropy rule: window 256 and tries 0, expected both >= 1");
#undef EXPECT
    didcl_gen_result r;
    o = opts(64, 4);
    const int32_t bad_prompt[2] = {3, MASK};
    ck_assert_int_eq(didcl_sampler_run(&D, &o, bad_prompt, 2, 0, NULL, &r),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("prompt: token 63 at index 1");
    /* the defaults pass, and a prompt filling everything but BOS generates nothing */
    ck_assert_int_eq(didcl_gen_options_check(&o, 1024, 63), DIDCL_OK);
    didcl_gen_options dflt = didcl_gen_options_default();
    ck_assert_int_eq(didcl_gen_options_check(&dflt, 1024, 0), DIDCL_OK);
    ck_assert_int_eq(dflt.block, 4);
    ck_assert(dflt.top_p == 0.9 && dflt.temperature == 1.0);
    ck_assert_int_eq(dflt.mode, DIDCL_COMMIT_FIRST_HITTING);
    /* a denoiser error surfaces with its status and message */
    use_fake(HASH);
    D.block_logits = failing_block;
    ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, 0, NULL, &r), DIDCL_ERR_IO);
    ck_assert_last_error_has("fake: device lost");
    D.reset = NULL;
    ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, 0, NULL, &r), DIDCL_ERR_UNSUPPORTED);
    ck_assert_last_error_has("denoiser: no KV-cache calls");
}
END_TEST

/* ---- observer ---- */

/* ---- batches: a batched fake (one fake, so one cache, per sequence) ---- */

enum { MAXB = 4 };
static fake FB[MAXB];
static int fail_batch_at = -1; /* block_logits_batch fails at this start (-1: never) */

static didcl_status fakeb_reset(void *ctx, uint32_t batch) {
    (void)ctx;
    for (uint32_t b = 0; b < batch; b++)
        DIDCL_TRY(fake_reset(&FB[b], 0));
    return DIDCL_OK;
}

static didcl_status fakeb_block(void *ctx, uint32_t batch, const int32_t *const *seqs,
                                int32_t start, int32_t B, const uint8_t *want, float *logits) {
    (void)ctx;
    if (start == fail_batch_at)
        return didcl_fail(DIDCL_ERR_OPENCL, "fake: batch step at %d fails", (int)start);
    size_t r = 0; /* every sequence's wanted rows, packed one after another */
    for (uint32_t b = 0; b < batch; b++) {
        const uint8_t *w = want ? want + (size_t)b * B : NULL;
        DIDCL_TRY(fake_block(&FB[b], 0, seqs[b], start, B, w, logits + r * V));
        for (int32_t i = 0; i < B; i++)
            r += !w || w[i];
    }
    return DIDCL_OK;
}

static didcl_status fakeb_store(void *ctx, uint32_t batch, const int32_t *const *seqs,
                                int32_t start, int32_t B) {
    (void)ctx;
    for (uint32_t b = 0; b < batch; b++)
        DIDCL_TRY(fake_store(&FB[b], 0, seqs[b], start, B));
    return DIDCL_OK;
}

static didcl_denoiser batched(uint32_t max_batch) {
    memset(FB, 0, sizeof FB);
    for (int b = 0; b < MAXB; b++) {
        FB[b].kind = F.kind;
        FB[b].eos_at = F.eos_at;
    }
    didcl_denoiser d = D;
    d.max_batch = max_batch;
    d.reset_batch = fakeb_reset;
    d.block_logits_batch = fakeb_block;
    d.store_kv_batch = fakeb_store;
    return d;
}

static void same_result(const didcl_gen_result *a, const didcl_gen_result *b) {
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(a->n_stages, b->n_stages);
    ck_assert_int_eq(a->low_entropy, b->low_entropy);
    ck_assert_int_eq(memcmp(a->tokens, b->tokens, sizeof *a->tokens * (size_t)a->n), 0);
    ck_assert_int_eq(memcmp(a->traj, b->traj, sizeof *a->traj * (size_t)a->n), 0);
    for (int32_t k = 0; k < a->n_stages; k++) {
        ck_assert_int_eq(a->stages[k].nfe, b->stages[k].nfe);
        ck_assert_int_eq(a->stages[k].store_kv, b->stages[k].store_kv);
        ck_assert_int_eq(a->stages[k].committed, b->stages[k].committed);
        ck_assert_int_eq(a->stages[k].remasked, b->stages[k].remasked);
        ck_assert_int_eq(a->stages[k].tries, b->stages[k].tries);
        ck_assert_double_eq(a->stages[k].flops, b->stages[k].flops);
    }
}

/* five samples in batches of up to 3 (3 + 2) == each alone, for every commit rule, with
 * a prompt and a revision stage; options that let samples diverge fall back to one
 * after another and still agree */
START_TEST(test_batch_equals_sequential) {
    const int32_t prompt[3] = {3, 4, 5};
    for (int variant = 0; variant < 5; variant++) {
        use_fake(variant == 3 ? PEAKED : HASH);
        if (variant == 3)
            F.eos_at = 30;
        didcl_gen_options o = opts(32, 4);
        o.mode = variant == 1 ? DIDCL_COMMIT_STEPS
                 : variant == 2 ? DIDCL_COMMIT_THRESHOLD : DIDCL_COMMIT_FIRST_HITTING;
        o.steps = 2;
        o.threshold = 0.2;
        o.n_revisions = 1;
        o.revisions[0] = (didcl_revision){0.3, 8};
        o.var_length = variant == 3;
        o.reject_low_entropy = variant == 4;
        o.reject_window = 8;
        o.reject_min_entropy = 1.5;
        didcl_denoiser db = batched(3);
        ck_assert_int_eq(didcl_sampler_batchable(&db, &o), variant < 3);
        didcl_gen_result all[5], one;
        ck_assert_int_eq(didcl_sampler_run_batch(&db, &o, prompt, 3, 2, 5, NULL, NULL, NULL,
                                                 all),
                         DIDCL_OK);
        if (variant < 3) {
            ck_assert_int_eq(F.n_block, 0); /* stage 1 went through the batched calls */
            ck_assert_int_eq(FB[2].n_reset, 1);
            ck_assert_int_eq(FB[0].n_store, 2 * 7);
        }
        for (int s = 0; s < 5; s++) {
            use_fake(variant == 3 ? PEAKED : HASH);
            F.eos_at = variant == 3 ? 30 : -1;
            ck_assert_int_eq(didcl_sampler_run(&D, &o, prompt, 3, 2 + (uint32_t)s, NULL,
                                               &one),
                             DIDCL_OK);
            same_result(&one, &all[s]);
            didcl_gen_result_free(&one);
        }
        ck_assert_int_ne(memcmp(all[0].tokens, all[1].tokens, sizeof(int32_t) * 32), 0);
        for (int s = 0; s < 5; s++)
            didcl_gen_result_free(&all[s]);
    }
}
END_TEST

/* failures inside a batch: the call fails and frees what it made (run under valgrind
 * with CK_FORK=no to see nothing leaks or is freed twice) */
START_TEST(test_batch_failures) {
    use_fake(HASH);
    didcl_gen_options o = opts(32, 4);
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.5;
    didcl_denoiser db = batched(3);
    didcl_gen_result all[5];
    /* a selector failing for the second sample of the second batch */
    didcl_remask_t rec = open_test_plugin(&recorder, "recorder");
    fail_sample = 3;
    ck_assert_int_eq(didcl_sampler_run_batch(&db, &o, NULL, 0, 0, 5, rec, NULL, NULL, all),
                     DIDCL_ERR_PLUGIN);
    fail_sample = -1;
    didcl_remask_free(rec);
    ck_assert_last_error_has("remask selection (stage 2): plugin 'recorder' failed to select: "
                             "sample 3 refused");
    /* the batched block step failing in the middle of a draft */
    db = batched(3);
    fail_batch_at = 12;
    ck_assert_int_eq(didcl_sampler_run_batch(&db, &o, NULL, 0, 0, 5, NULL, NULL, NULL,
                                             all),
                     DIDCL_ERR_OPENCL);
    ck_assert_last_error_has("fake: batch step at 12 fails");
    fail_batch_at = -1;
}
END_TEST

/* different prompts, lengths, seeds, commit rules and revisions in one group: each job
 * is what it is alone; the batch takes the compatible jobs in order up to the cap, a
 * solo job and another block size stay out */
START_TEST(test_group_mixed_jobs) {
    const int32_t p1[3] = {3, 4, 5}, p2[5] = {9, 8, 7, 6, 5};
    didcl_gen_options o[6];
    for (int j = 0; j < 6; j++) {
        o[j] = opts(j == 1 ? 24 : j == 2 ? 16 : j == 5 ? 28 : 32, j == 4 ? 8 : 4);
        o[j].seed = 11 + (uint64_t)j;
    }
    o[1].mode = DIDCL_COMMIT_STEPS;
    o[1].steps = 2;
    o[1].n_revisions = 1;
    o[1].revisions[0] = (didcl_revision){0.3, 8};
    o[2].mode = DIDCL_COMMIT_THRESHOLD;
    o[2].threshold = 0.2;
    o[2].top_p = 0.8;
    o[2].temperature = 0.7;
    o[5].n_revisions = 1;
    o[5].revisions[0] = (didcl_revision){0.5, 0};
    const didcl_sampler_job jobs[6] = {
        {&o[0], p1, 3, 0, NULL, 0, NULL, NULL}, {&o[1], p2, 5, 1, NULL, 0, NULL, NULL},
        {&o[2], NULL, 0, 2, NULL, 0, NULL, NULL}, {&o[3], p1, 3, 3, NULL, 1, NULL, NULL},
        {&o[4], p2, 5, 4, NULL, 0, NULL, NULL}, {&o[5], p2, 5, 5, NULL, 0, NULL, NULL}};
    use_fake(HASH);
    didcl_denoiser db = batched(4);
    didcl_gen_result res[6], one;
    didcl_status st[6];
    ck_assert_int_eq(didcl_sampler_run_group(&db, jobs, 6, 0, res, st), DIDCL_OK);
    const uint32_t batch[6] = {4, 4, 4, 1, 1, 4};
    for (int j = 0; j < 6; j++) {
        ck_assert_int_eq(st[j], DIDCL_OK);
        ck_assert_uint_eq(res[j].batch, batch[j]);
        ck_assert_int_eq(res[j].n, o[j].length);
    }
    ck_assert_int_eq(FB[3].n_store, 16 / 4 - 1); /* the shortest (slot 3) left early */
    ck_assert_int_eq(FB[0].n_store, 32 / 4 - 1);
    for (int j = 0; j < 6; j++) {
        use_fake(HASH);
        ck_assert_int_eq(didcl_sampler_run(&D, &o[j], jobs[j].prompt, jobs[j].n_prompt,
                                           jobs[j].sample, NULL, &one),
                         DIDCL_OK);
        same_result(&one, &res[j]);
        didcl_gen_result_free(&one);
        didcl_gen_result_free(&res[j]);
    }
}
END_TEST

/* Records how a job ended; cancels at its `cancel_at`-th event (0: never). */
typedef struct ending {
    int events, cancel_at, done;
    didcl_status status;
} ending;

static int note_end(void *user, const didcl_gen_event *ev) {
    ending *e = user;
    if (ev->kind == DIDCL_GEN_DONE) {
        e->done++;
        e->status = ev->status;
        if (ev->status != DIDCL_OK)
            ck_assert_msg(strstr(didcl_last_error(), "refused"), "%s", didcl_last_error());
        return 0;
    }
    return ++e->events == e->cancel_at;
}

/* an isolating group: a job cancelled in the shared draft and one whose plugin fails
 * end alone; the others finish as alone */
START_TEST(test_group_isolates_failures) {
    use_fake(HASH);
    didcl_gen_options o = opts(32, 4);
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.25;
    didcl_remask_t rec = open_test_plugin(&recorder, "recorder");
    fail_sample = 2;
    ending e[4];
    memset(e, 0, sizeof e);
    e[1].cancel_at = 5;
    didcl_sampler_job jobs[4];
    for (uint32_t j = 0; j < 4; j++)
        jobs[j] = (didcl_sampler_job){&o, NULL, 0, j, j == 2 ? rec : NULL, 0, note_end, &e[j]};
    didcl_denoiser db = batched(4);
    didcl_gen_result res[4], one;
    didcl_status st[4];
    ck_assert_int_eq(didcl_sampler_run_group(&db, jobs, 4, 1, res, st), DIDCL_OK);
    fail_sample = -1;
    didcl_remask_free(rec);
    ck_assert_int_eq(st[1], DIDCL_ERR_CANCELLED);
    ck_assert_int_eq(e[1].events, 5); /* nothing after its cancel, not even DONE */
    ck_assert_int_eq(e[1].done, 0);
    ck_assert_int_eq(st[2], DIDCL_ERR_PLUGIN);
    ck_assert_int_eq(e[2].done, 1);
    ck_assert_int_eq(e[2].status, DIDCL_ERR_PLUGIN);
    for (uint32_t j = 0; j < 4; j += 3) {
        ck_assert_int_eq(st[j], DIDCL_OK);
        ck_assert_int_eq(e[j].done, 1);
        ck_assert_int_eq(e[j].status, DIDCL_OK);
        ck_assert_uint_eq(res[j].batch, 4);
        use_fake(HASH);
        ck_assert_int_eq(didcl_sampler_run(&D, &o, NULL, 0, j, NULL, &one), DIDCL_OK);
        same_result(&one, &res[j]);
        didcl_gen_result_free(&one);
        didcl_gen_result_free(&res[j]);
    }
    /* the batched step failing fails every job still drafting, each with the message */
    use_fake(HASH);
    db = batched(4);
    memset(e, 0, sizeof e);
    for (uint32_t j = 0; j < 4; j++)
        jobs[j] = (didcl_sampler_job){&o, NULL, 0, j, NULL, 0, NULL, NULL};
    fail_batch_at = 8;
    ck_assert_int_eq(didcl_sampler_run_group(&db, jobs, 4, 1, res, st), DIDCL_OK);
    fail_batch_at = -1;
    for (uint32_t j = 0; j < 4; j++)
        ck_assert_int_eq(st[j], DIDCL_ERR_OPENCL);
}
END_TEST

typedef struct seen {
    int start, commit, block_done, remask, stage_done;
    int32_t last_nfe, remasked, first_block_done_start, blocks_in_order;
    uint32_t last_stage;
    int masks_at_remask;
} seen;

static int watch(void *user, const didcl_gen_event *ev) {
    seen *w = user;
    switch (ev->kind) {
    case DIDCL_GEN_START: w->start++; break;
    case DIDCL_GEN_COMMIT:
        w->commit++;
        ck_assert_int_eq(ev->nfe, w->last_nfe + 1); /* after the forward is counted */
        w->last_nfe = ev->nfe;
        break;
    case DIDCL_GEN_BLOCK_DONE:
        if (ev->stage == 1) {
            w->blocks_in_order += ev->start == 4 * w->block_done;
            for (int32_t p = ev->start; p < ev->start + ev->len; p++)
                ck_assert_int_ne(ev->seq[p], MASK);
        }
        w->block_done++;
        break;
    case DIDCL_GEN_REMASK:
        w->remask++;
        w->remasked = ev->remasked;
        for (int32_t p = 0; p < ev->n; p++)
            w->masks_at_remask += ev->seq[p] == MASK;
        break;
    case DIDCL_GEN_STAGE_DONE:
        w->stage_done++;
        w->last_stage = ev->stage;
        break;
    case DIDCL_GEN_DONE: break;
    }
    return 0;
}

/* Cancels at the given event (counted over every kind) by returning nonzero. */
static int cancel_at(void *user, const didcl_gen_event *ev) {
    int *left = user;
    (void)ev;
    return --*left == 0;
}

START_TEST(test_observer_cancels) {
    use_fake(HASH);
    didcl_gen_options o = opts(32, 4);
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.25;
    didcl_gen_result r;
    memset(&r, 0x5a, sizeof r);
    didcl_gen_result untouched = r;
    /* at the first event, inside stage 1, and inside the revision */
    const int at[] = {1, 10, 45};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        int left = at[i];
        ck_assert_int_eq(didcl_sampler_run_observed(&D, &o, NULL, 0, 0, NULL, cancel_at,
                                                    &left, &r),
                         DIDCL_ERR_CANCELLED);
        ck_assert_int_eq(left, 0); /* no event after the one that cancelled */
        ck_assert_last_error_has("cancelled by the host");
        ck_assert_mem_eq(&r, &untouched, sizeof r);
    }
    /* a lockstep batch: cancelled in its shared draft and in a sample's revision */
    didcl_denoiser db = batched(3);
    didcl_gen_result all[5];
    const int at_batch[] = {3, 200};
    for (size_t i = 0; i < sizeof at_batch / sizeof at_batch[0]; i++) {
        int left = at_batch[i];
        ck_assert_int_eq(didcl_sampler_run_batch(&db, &o, NULL, 0, 0, 5, NULL, cancel_at,
                                                 &left, all),
                         DIDCL_ERR_CANCELLED);
        ck_assert_int_eq(left, 0);
    }
}
END_TEST

START_TEST(test_observer_events) {
    use_fake(HASH);
    didcl_gen_options o = opts(32, 4);
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.25;
    seen w;
    memset(&w, 0, sizeof w);
    w.last_nfe = 0;
    didcl_gen_result r;
    ck_assert_int_eq(didcl_sampler_run_observed(&D, &o, NULL, 0, 0, NULL, watch, &w, &r),
                     DIDCL_OK);
    ck_assert_int_eq(w.start, 1);
    ck_assert_int_eq(w.commit, r.stages[0].nfe + r.stages[1].nfe); /* 31 + 8 */
    ck_assert_int_eq(w.commit, 39);
    ck_assert_int_eq(w.last_nfe, 39);
    ck_assert_int_eq(w.blocks_in_order, 8);      /* stage 1: blocks 0..7 left to right */
    ck_assert_int_eq(w.block_done, 8 + 1);        /* + the one global revision block */
    ck_assert_int_eq(w.remask, 1);
    ck_assert_int_eq(w.remasked, 8);              /* round(0.25 * 31) */
    ck_assert_int_eq(w.masks_at_remask, 8);
    ck_assert_int_eq(w.stage_done, 2);
    ck_assert_uint_eq(w.last_stage, 2);
    /* the same tokens as without an observer */
    didcl_gen_result q = gen(&o, NULL, 0);
    for (int p = 0; p < 32; p++)
        ck_assert_int_eq(r.tokens[p], q.tokens[p]);
    didcl_gen_result_free(&r);
    didcl_gen_result_free(&q);
}
END_TEST

static Suite *sampler_suite(void) {
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_first_hitting_nfe_and_cache);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_cached_equals_uncached);
    tcase_add_test(tc, test_prompt_locked);
    tcase_add_test(tc, test_threshold_and_steps_nfe);
    tcase_add_test(tc, test_var_length_eos);
    tcase_add_test(tc, test_revision_changes_only_the_chosen);
    tcase_add_test(tc, test_revision_counts_and_stages);
    tcase_add_test(tc, test_revise_reuse_schedule);
    tcase_add_test(tc, test_observer_events);
    tcase_add_test(tc, test_observer_cancels);
    tcase_add_test(tc, test_batch_equals_sequential);
    tcase_add_test(tc, test_group_mixed_jobs);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, test_low_entropy_rule);
    tcase_add_test(lim, test_invalid_selections);
    tcase_add_test(lim, test_option_messages);
    tcase_add_test(lim, test_batch_failures);
    tcase_add_test(lim, test_group_isolates_failures);
    suite_add_tcase(s, lim);
    return s;
}

int main(void) { return testutil_run(sampler_suite()); }

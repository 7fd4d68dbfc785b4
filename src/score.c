/*
 * score.c — likelihood of a token sequence under a model on the device (model.c).
 * BD3-LM: the NELBO (spec §2.4): per block t, tokens masked with probability t, loss
 * -log p(x0_i | x_t) / t on masked tokens (SUBS: unmasked tokens cost 0), averaged over
 * every token; one score pass (x_t (+) x_0 under the 2L mask) per window; Monte-Carlo
 * over draws with a counter-based hash so a draw is reproducible anywhere. GPT-2: the
 * exact next-token NLL. Only one float per scored token leaves the device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

#define DEFAULT_EPS 1e-3
#define NOISE_EPS 1e-3 /* the log-linear schedule's eps: sigma(t) = -log(1 - (1 - eps) t) */

/* ------------------------------------------------------------------------------------
 * Draws
 * ------------------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t z) { /* splitmix64 finalizer */
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform [0, 1) from (seed, draw, stream, index), 53 bits. */
static double uniform(uint64_t seed, uint32_t draw, uint32_t stream, uint32_t index) {
    uint64_t h = mix64(seed);
    h = mix64(h ^ ((uint64_t)draw << 32 | stream));
    h = mix64(h ^ index);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* Closed forms in 64 bits: a loop stepping by window wrapped around at n near 2^32. */
uint32_t didcl_score_blocks(uint32_t n, uint32_t window, uint32_t block) {
    if (!window || !block)
        return 0;
    const uint64_t full = n / window, rest = n % window;
    /* at most n: every block holds a token */
    return (uint32_t)(full * ((window + (uint64_t)block - 1) / block) + (rest + block - 1) / block);
}

void didcl_score_draw(uint32_t n, uint32_t window, uint32_t block, uint64_t seed, uint32_t draw,
                      double t_fixed, double eps, uint8_t *masked, double *t_block) {
    if (!window || !block || !masked || !t_block)
        return;
    const uint32_t nb = didcl_score_blocks(n, window, block);
    for (uint32_t b = 0; b < nb; b++)
        t_block[b] = t_fixed > 0 ? t_fixed : eps + (1.0 - eps) * uniform(seed, draw, 0, b);
    uint32_t b0 = 0;
    for (uint64_t s = 0; s < n; s += window) {
        uint32_t len = n - s < window ? (uint32_t)(n - s) : window;
        for (uint32_t i = 0; i < len; i++)
            masked[s + i] = uniform(seed, draw, 1, (uint32_t)s + i) < t_block[b0 + i / block];
        b0 += (len + block - 1) / block;
    }
}

/* ------------------------------------------------------------------------------------
 * BD3-LM NELBO
 * ------------------------------------------------------------------------------------ */

static uint32_t window_of(didcl_model_t m) {
    return m->max_tokens;
}

didcl_status didcl_score_nelbo(didcl_model_t m, const int32_t *x0, uint32_t n, uint32_t block,
                               const uint8_t *masked, const double *t_block, double *out) {
    if (!m || !x0 || !masked || !t_block || !out || n == 0 || block == 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "score: expected a model, n > 0 tokens, a block size > 0, a mask and t");
    if (m->cfg.arch != DIDCL_ARCH_BD3LM)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "score: the NELBO needs a bd3lm model, not %s",
                          didcl_arch_str(m->cfg.arch));
    const uint32_t W = window_of(m);
    const int32_t mask_id = m->cfg.mask_token_id;
    for (uint32_t i = 0; i < n; i++) /* p(x0 = [MASK]) is 0: the NELBO would be infinite */
        if (x0[i] == mask_id || x0[i] < 0 || (uint32_t)x0[i] >= m->cfg.vocab_size)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "score: token %u is %d, expected a text "
                              "token in 0..%u other than the mask id %d", i, (int)x0[i],
                              m->cfg.vocab_size - 1, (int)mask_id);
    int32_t *xt = malloc((size_t)W * sizeof *xt), *tgt = malloc((size_t)W * sizeof *tgt);
    float *lp = malloc((size_t)W * sizeof *lp);
    didcl_status rc = xt && tgt && lp ? DIDCL_OK
                                      : didcl_fail(DIDCL_ERR_NO_MEMORY, "score: out of memory");
    double total = 0.0;
    uint32_t b0 = 0;
    for (uint64_t s = 0; rc == DIDCL_OK && s < n; s += W) { /* 64 bits: no wrap at 2^32 */
        const uint32_t len = n - s < W ? (uint32_t)(n - s) : W, nb = (len + block - 1) / block;
        double tmean = 0.0;
        for (uint32_t b = 0; b < nb; b++) {
            if (!(t_block[b0 + b] > 0.0)) {
                rc = didcl_fail(DIDCL_ERR_INVALID_ARG, "score: t of block %u is %g, expected > 0",
                                b0 + b, t_block[b0 + b]);
                break;
            }
            tmean += t_block[b0 + b] / nb;
        }
        if (rc != DIDCL_OK)
            break;
        for (uint32_t i = 0; i < len; i++) {
            xt[i] = masked[s + i] ? mask_id : x0[s + i];
            tgt[i] = masked[s + i] ? x0[s + i] : -1;
        }
        didcl_forward f = {.mode = DIDCL_FORWARD_SCORE, .ids = xt, .n = len, .block = block,
                           .x0 = x0 + s, .sigma = (float)-log1p(-(1.0 - NOISE_EPS) * tmean)};
        rc = didcl_model_forward(m, &f);
        if (rc == DIDCL_OK)
            rc = didcl_model_token_logprobs(m, 0, len, tgt, lp);
        for (uint32_t i = 0; rc == DIDCL_OK && i < len; i++)
            if (masked[s + i])
                total += -(double)lp[i] / t_block[b0 + i / block];
        b0 += nb;
    }
    free(xt);
    free(tgt);
    free(lp);
    if (rc == DIDCL_OK)
        *out = total / n;
    return rc;
}

/* ------------------------------------------------------------------------------------
 * GPT-2 NLL
 * ------------------------------------------------------------------------------------ */

static didcl_status gpt2_nll(didcl_model_t m, const int32_t *ids, uint32_t n, double *nll,
                             uint32_t *windows) {
    const uint32_t W = window_of(m);
    float *lp = malloc((size_t)W * sizeof *lp);
    if (!lp)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "score: out of memory");
    double total = 0.0;
    uint32_t nw = 0;
    didcl_status rc = DIDCL_OK;
    /* window [s, s+len) predicts tokens s+1 .. s+len-1; the next one starts at its last
     * token, so every token after the first is predicted exactly once */
    for (uint64_t s = 0; rc == DIDCL_OK && s + 1 < n; s += W - 1) { /* 64 bits: no wrap */
        const uint32_t len = n - s < W ? (uint32_t)(n - s) : W;
        didcl_forward f = {.mode = DIDCL_FORWARD_CAUSAL, .ids = ids + s, .n = len};
        rc = didcl_model_forward(m, &f);
        if (rc == DIDCL_OK)
            rc = didcl_model_token_logprobs(m, 0, len - 1, ids + s + 1, lp);
        for (uint32_t i = 0; rc == DIDCL_OK && i + 1 < len; i++)
            total -= lp[i];
        nw++;
        if (W < 2)
            break;
    }
    free(lp);
    if (rc == DIDCL_OK) {
        *nll = total / (n - 1);
        *windows = nw;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------
 * Entry point
 * ------------------------------------------------------------------------------------ */

didcl_status didcl_score(didcl_model_t m, const int32_t *ids, uint32_t n,
                         const didcl_score_options *opt, didcl_score_result *out) {
    static const didcl_score_options defaults = {0, 0, 0, 0.0, 0.0};
    if (!m || !ids || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "score: NULL model, ids or result");
    if (!opt)
        opt = &defaults;
    didcl_score_result r = {0};
    if (m->cfg.arch == DIDCL_ARCH_GPT2) {
        if (n < 2)
            return didcl_fail(DIDCL_ERR_INVALID_ARG,
                              "score: %u token(s), expected at least 2 for a gpt2 model", n);
        if (m->max_tokens < 2)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "score: max_tokens %u, expected >= 2",
                              m->max_tokens);
        DIDCL_TRY(gpt2_nll(m, ids, n, &r.nll, &r.windows));
        r.tokens = n - 1;
        r.samples = 1;
        r.ppl = exp(r.nll);
        *out = r;
        return DIDCL_OK;
    }
    const uint32_t block = opt->block ? opt->block : m->cfg.block_size;
    const uint32_t samples = opt->samples ? opt->samples : 1;
    const double eps = opt->eps > 0 ? opt->eps : DEFAULT_EPS;
    if (n == 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "score: no tokens");
    if (opt->t < 0 || opt->t > 1 || eps >= 1)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "score: t %g, eps %g: expected t in (0, 1] or 0 "
                          "(drawn), eps in (0, 1)", opt->t, eps);
    const uint32_t W = window_of(m), nb = didcl_score_blocks(n, W, block);
    uint8_t *masked = malloc(n);
    double *tb = malloc((size_t)nb * sizeof *tb);
    if (!masked || !tb) {
        free(masked);
        free(tb);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "score: out of memory");
    }
    double sum = 0.0, sum2 = 0.0;
    didcl_status rc = DIDCL_OK;
    for (uint32_t d = 0; rc == DIDCL_OK && d < samples; d++) {
        double v = 0.0;
        didcl_score_draw(n, W, block, opt->seed, d, opt->t, eps, masked, tb);
        rc = didcl_score_nelbo(m, ids, n, block, masked, tb, &v);
        sum += v;
        sum2 += v * v;
    }
    free(masked);
    free(tb);
    if (rc != DIDCL_OK)
        return rc;
    r.nll = sum / samples;
    if (samples > 1) {
        double var = (sum2 - samples * r.nll * r.nll) / (samples - 1);
        r.se = var > 0 ? sqrt(var / samples) : 0.0;
    }
    r.ppl = exp(r.nll);
    r.tokens = n;
    r.samples = samples;
    r.windows = (n + W - 1) / W;
    *out = r;
    return DIDCL_OK;
}

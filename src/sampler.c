/*
 * sampler.c — stage-1 block drafting, DiD revision stages, trajectory and accounting
 * (sampler.h states the rules; didcl.h documents the options).
 */
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "sampling.h"

/* ---- options ---- */

didcl_gen_options didcl_gen_options_default(void) {
    didcl_gen_options o;
    memset(&o, 0, sizeof o);
    o.seed = 0;
    o.length = 1024;
    o.block = 4;
    o.mode = DIDCL_COMMIT_FIRST_HITTING;
    o.steps = 4;
    o.threshold = 0.9;
    o.temperature = 1.0;
    o.top_p = 0.9;
    o.use_kv_cache = 1;
    o.reject_scope = DIDCL_REJECT_SAMPLE;
    o.reject_window = 256;
    o.reject_min_entropy = 4.0;
    o.reject_max_tries = 10;
    o.revise_mode = DIDCL_COMMIT_FIRST_HITTING;
    o.revise_steps = 16;
    o.revise_threshold = 0.9;
    return o;
}

static int mode_ok(enum didcl_commit_mode m) {
    return m == DIDCL_COMMIT_FIRST_HITTING || m == DIDCL_COMMIT_STEPS ||
           m == DIDCL_COMMIT_THRESHOLD;
}

didcl_status didcl_gen_options_check(const didcl_gen_options *o, int32_t model_length,
                                     int32_t n_prompt) {
#define BAD(...) return didcl_fail(DIDCL_ERR_INVALID_ARG, "gen options: " __VA_ARGS__)
    if (!o)
        BAD("NULL options");
    if (o->length < 1)
        BAD("length %d, expected >= 1", (int)o->length);
    if (model_length > 0 && o->length > model_length)
        BAD("length %d exceeds the model length %d", (int)o->length, (int)model_length);
    if (o->block < 1)
        BAD("block %d, expected >= 1", (int)o->block);
    if (o->length % o->block)
        BAD("block %d does not divide length %d", (int)o->block, (int)o->length);
    if (!mode_ok(o->mode) || !mode_ok(o->revise_mode))
        BAD("unknown commit mode %d, expected 0 (first-hitting), 1 (steps) or 2 (threshold)",
            (int)(mode_ok(o->mode) ? o->revise_mode : o->mode));
    if (o->steps < 1)
        BAD("steps %d, expected >= 1", (int)o->steps);
    if (o->mode == DIDCL_COMMIT_STEPS && o->steps > o->block)
        BAD("steps %d exceeds block %d: at most %d forwards per block", (int)o->steps,
            (int)o->block, (int)o->block);
    if (o->revise_steps < 1)
        BAD("revise steps %d, expected >= 1", (int)o->revise_steps);
    if (!(o->threshold > 0.0 && o->threshold <= 1.0))
        BAD("threshold %g outside (0, 1]", o->threshold);
    if (!(o->revise_threshold > 0.0 && o->revise_threshold <= 1.0))
        BAD("revise threshold %g outside (0, 1]", o->revise_threshold);
    if (o->revise_reuse < 0)
        BAD("revise reuse %d, expected >= 0 (0: exact revision; N: an exact forward every N "
            "forwards, K/V reused between)", (int)o->revise_reuse);
    if (!(o->top_p > 0.0 && o->top_p <= 1.0))
        BAD("top-p %g outside (0, 1]", o->top_p);
    if (!(o->temperature >= 0.0) || isinf(o->temperature))
        BAD("temperature %g, expected a finite value >= 0", o->temperature);
    if (n_prompt < 0 || n_prompt > o->length - 1)
        BAD("prompt of %d tokens does not fit length %d after BOS, expected <= %d",
            (int)n_prompt, (int)o->length, (int)o->length - 1);
    if (o->reject_low_entropy) {
        if (o->reject_window < 1 || o->reject_max_tries < 1)
            BAD("low-entropy rule: window %d and tries %d, expected both >= 1",
                (int)o->reject_window, (int)o->reject_max_tries);
        if (o->reject_scope != DIDCL_REJECT_SAMPLE && o->reject_scope != DIDCL_REJECT_BLOCK)
            BAD("unknown reject scope %d, expected 0 (sample) or 1 (block)",
                (int)o->reject_scope);
    }
    if (o->n_revisions < 0 || o->n_revisions > DIDCL_MAX_REVISIONS)
        BAD("%d revision stages, expected 0 to %d", (int)o->n_revisions, DIDCL_MAX_REVISIONS);
    for (int32_t i = 0; i < o->n_revisions; i++) {
        const didcl_revision *r = &o->revisions[i];
        if (!(r->gamma >= 0.0 && r->gamma <= 1.0))
            BAD("stage %d: gamma %g outside [0, 1]", (int)i + 2, r->gamma);
        if (r->block < 0 || (r->block > 0 && o->length % r->block))
            BAD("stage %d: block %d does not divide length %d", (int)i + 2, (int)r->block,
                (int)o->length);
    }
    return DIDCL_OK;
#undef BAD
}

/* ---- one run ---- */

typedef struct run {
    const didcl_denoiser *dn;
    const didcl_gen_options *o;
    uint32_t sample;
    int32_t n;                      /* current length */
    int32_t *seq;                   /* (L,) */
    uint8_t *masked;                /* (L,) 1 = [MASK] waiting for a commit */
    uint8_t *rows;                  /* (L,) rows wanted from global_logits */
    int32_t *pos;                   /* (L,) masked positions of the current block */
    didcl_draw *draw;               /* (L,) candidate draw per entry of pos */
    didcl_sample_req *req;          /* (L,) device sampling: one request per candidate */
    int32_t *order;                 /* (L,) commit order of candidates */
    didcl_remask_position *traj;    /* (L,) */
    float *logits;                  /* (cap_rows, V) */
    int32_t cap_rows;
    didcl_sampling smp;
    int32_t nfe_total;              /* committing forwards so far, all stages */
    uint32_t stage;
    uint32_t fwd;                   /* forwards of this stage, for the RNG */
    didcl_stage_stats *st;
    didcl_gen_observer observe;     /* may be NULL */
    void *observe_user;
    /* K/V reuse of global revisions (revise_reuse > 0, else kv_seq is NULL) */
    int32_t *kv_seq;                /* (L,) the tokens the denoiser's cached K/V were
                                       computed from */
    int32_t *kv_pos;                /* (L,) rows of a reuse forward */
    uint32_t kv_stage;              /* stage whose exact pass filled the cache (0: none) */
    int32_t kv_age;                 /* forwards since that pass, itself included */
} run;

/* Tell the observer; its nonzero return cancels the run (DIDCL_ERR_CANCELLED). */
static didcl_status notify(run *r, enum didcl_gen_event_kind kind, int32_t start, int32_t len,
                           int32_t remasked) {
    if (!r->observe)
        return DIDCL_OK;
    didcl_gen_event ev = {kind, r->sample, r->stage, r->n, start, len, remasked,
                          r->nfe_total, r->seq, r->traj, DIDCL_OK};
    if (r->observe(r->observe_user, &ev) != 0)
        return didcl_fail(DIDCL_ERR_CANCELLED, "generation cancelled by the host (sample %u, "
                          "stage %u, after %d forwards)", r->sample, r->stage,
                          (int)r->nfe_total);
    return DIDCL_OK;
}

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static didcl_status need_rows(run *r, int32_t rows) {
    if (rows <= r->cap_rows)
        return DIDCL_OK;
    float *p = realloc(r->logits, sizeof *p * (size_t)rows * (size_t)r->dn->vocab);
    if (!p)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "sampler: cannot allocate logits for %d rows",
                          (int)rows);
    r->logits = p;
    r->cap_rows = rows;
    return DIDCL_OK;
}

static void add_flops(run *r, enum didcl_forward_kind kind, int32_t nq, int32_t nk) {
    if (r->dn->flops)
        r->st->flops += r->dn->flops(r->dn->ctx, kind, nq, nk);
}

/* The uncached forward over [0, n_ctx) with block-causal block attn_block: logits of the
 * rows flagged in r->rows into logits (NULL: they stay on the device for sample_rows). A global revision under revise_reuse goes
 * through the denoiser's K/V cache instead: an exact pass that keeps every position's
 * K/V first in the stage and then every revise_reuse forwards; between them only the
 * rows whose tokens changed since their K/V were computed (the last commits) and the
 * flagged rows, over the other positions' cached K/V. */
static didcl_status global_forward(run *r, int32_t n_ctx, int32_t attn_block, float *logits) {
    const didcl_denoiser *dn = r->dn;
    if (!r->kv_seq || r->stage < 2 || attn_block < n_ctx || n_ctx != r->n) {
        DIDCL_TRY(dn->global_logits(dn->ctx, r->sample, r->seq, n_ctx, attn_block, r->rows,
                                    logits));
        add_flops(r, DIDCL_FWD_GLOBAL, n_ctx, n_ctx);
        return DIDCL_OK;
    }
    if (r->kv_stage != r->stage || r->kv_age >= r->o->revise_reuse) {
        DIDCL_TRY(dn->global_store(dn->ctx, r->sample, r->seq, n_ctx, r->rows, logits));
        add_flops(r, DIDCL_FWD_GLOBAL, n_ctx, n_ctx);
        memcpy(r->kv_seq, r->seq, sizeof *r->seq * (size_t)n_ctx);
        r->kv_stage = r->stage;
        r->kv_age = 1;
        return DIDCL_OK;
    }
    int32_t k = 0;
    for (int32_t p = 0; p < n_ctx; p++)
        if (r->rows[p] || r->seq[p] != r->kv_seq[p]) {
            r->kv_pos[k++] = p;
            r->kv_seq[p] = r->seq[p];
        }
    DIDCL_TRY(dn->reuse_logits(dn->ctx, r->sample, r->seq, n_ctx, r->kv_pos, k, r->rows,
                               logits));
    add_flops(r, DIDCL_FWD_REUSE, k, n_ctx);
    r->kv_age++;
    return DIDCL_OK;
}

/* Order candidate indices by confidence, highest first, ties to the lower position
 * (pos is increasing, so to the lower index). Insertion sort over one block's masked
 * positions: even a global block of 1024 costs little beside the forward it follows. */
static void sort_by_confidence(run *r, int32_t m) {
    for (int32_t i = 0; i < m; i++) {
        int32_t c = i, j = i;
        while (j > 0 && r->draw[r->order[j - 1]].confidence < r->draw[c].confidence) {
            r->order[j] = r->order[j - 1];
            j--;
        }
        r->order[j] = c;
    }
}

static void commit(run *r, int32_t p, const didcl_draw *d, int32_t step, int32_t block) {
    r->seq[p] = d->token;
    r->masked[p] = 0;
    r->traj[p] = (didcl_remask_position){d->token, (float)d->confidence, (float)d->entropy,
                                         (float)d->margin, step, block, (int32_t)r->stage,
                                         r->nfe_total, 0};
    r->st->committed++;
}

/* Collect the masked positions of [start, start+len) into r->pos and pick the
 * candidates to draw, [*first, *first + *count) of them (first-hitting: one, drawn from
 * the forward's counter). Returns the number of masked positions. */
static int32_t pick(run *r, int32_t start, int32_t len, enum didcl_commit_mode mode,
                    int32_t *first, int32_t *count) {
    int32_t m = 0;
    for (int32_t p = start; p < start + len; p++)
        if (r->masked[p])
            r->pos[m++] = p;
    *first = 0;
    *count = m;
    if (m > 0 && mode == DIDCL_COMMIT_FIRST_HITTING) {
        didcl_philox_at at = {r->o->seed, DIDCL_RNG_POSITION, r->sample, (uint32_t)start,
                              r->stage, r->fwd};
        *first = (int32_t)(didcl_philox_uniform(&at, 0) * m);
        if (*first >= m)
            *first = m - 1;
        *count = 1;
    }
    return m;
}

/* The counter of the token draw of candidate c (sampling.h: index = token id). */
static didcl_philox_at token_at(const run *r, int32_t c) {
    return (didcl_philox_at){r->o->seed, DIDCL_RNG_TOKEN, r->sample, (uint32_t)r->pos[c],
                             r->stage, r->fwd};
}

/* Requests for candidates [first, first + count) into req, their logits rows from row0
 * on: every forward packs the rows it was asked for (the candidates', in position order;
 * a batch's runs one after another). */
static void fill_requests(const run *r, int32_t row0, int32_t first, int32_t count,
                          didcl_sample_req *req) {
    for (int32_t k = 0; k < count; k++)
        req[k] = (didcl_sample_req){row0 + k, token_at(r, first + k), r->o->temperature,
                                    r->o->top_p};
}

/* A device draw of candidate c that failed as didcl_sampling_draw would have. */
static didcl_status check_draw(const run *r, int32_t c) {
    didcl_status s = didcl_sampling_check(&r->draw[c]);
    if (s != DIDCL_OK)
        return didcl_fail_context(s, "stage %u, position %d", r->stage, (int)r->pos[c]);
    return DIDCL_OK;
}

/* Flag the rows of candidates [first, first + count) in want (offset: the position of
 * want[0]), clearing the len flags first. */
static void flag_rows(const run *r, uint8_t *want, int32_t offset, int32_t len, int32_t first,
                      int32_t count) {
    memset(want, 0, (size_t)len);
    for (int32_t c = first; c < first + count; c++)
        want[r->pos[c] - offset] = 1;
}

/* After the forward: draw the picked candidates from their packed logits rows on the
 * host (NULL: the device drew them into r->draw already) and commit by the mode's rule. */
static didcl_status draw_commit(run *r, const float *logits, int32_t start, int32_t len,
                                int32_t m, int32_t first, int32_t count,
                                enum didcl_commit_mode mode, int32_t *steps_left, double tau,
                                int32_t step, int32_t block_index) {
    const didcl_gen_options *o = r->o;
    const int32_t V = r->dn->vocab;
    r->st->nfe++;
    for (int32_t c = first; c < first + count; c++) {
        if (logits) {
            const didcl_philox_at at = token_at(r, c);
            didcl_status s = didcl_sampling_draw(&r->smp, logits + (size_t)(c - first) * V,
                                                 r->dn->mask_id, o->temperature, o->top_p, &at,
                                                 &r->draw[c]);
            if (s != DIDCL_OK)
                return didcl_fail_context(s, "stage %u, position %d", r->stage,
                                          (int)r->pos[c]);
        } else {
            DIDCL_TRY(check_draw(r, c));
        }
    }
    if (mode == DIDCL_COMMIT_FIRST_HITTING) {
        commit(r, r->pos[first], &r->draw[first], step, block_index);
    } else {
        sort_by_confidence(r, m);
        int32_t k;
        if (mode == DIDCL_COMMIT_STEPS) {
            int32_t sl = *steps_left > 1 ? *steps_left : 1;
            k = (m + sl - 1) / sl;
            (*steps_left)--;
        } else {
            k = 1; /* the best always; then all others at or above tau */
            while (k < m && r->draw[r->order[k]].confidence >= tau)
                k++;
        }
        for (int32_t j = 0; j < k; j++)
            commit(r, r->pos[r->order[j]], &r->draw[r->order[j]], step, block_index);
    }
    r->nfe_total++;
    r->fwd++;
    return notify(r, DIDCL_GEN_COMMIT, start, len, 0);
}

/* Denoise the masked positions of [start, start+len) until none is left. cached: the
 * stage-1 block step (block_logits, len = B); otherwise global_logits over [0, n_ctx)
 * with block-causal block attn_block. Either forward is asked for the candidates' rows
 * only (first-hitting: one), and on a denoiser with sample_rows they are drawn where the
 * logits are, in one call. */
static didcl_status denoise(run *r, int32_t start, int32_t len, int cached, int32_t n_ctx,
                            int32_t attn_block, enum didcl_commit_mode mode, int32_t steps,
                            double tau, int32_t block_index) {
    const didcl_denoiser *dn = r->dn;
    int32_t steps_left = steps;
    for (int32_t step = 0;; step++) {
        int32_t first, count;
        int32_t m = pick(r, start, len, mode, &first, &count);
        if (m == 0) {
            return notify(r, DIDCL_GEN_BLOCK_DONE, start, len, 0);
        }
        const int dev = dn->sample_rows != NULL; /* logits stay on the device */
        if (!dev)
            DIDCL_TRY(need_rows(r, count));
        float *logits = dev ? NULL : r->logits;
        if (cached) {
            flag_rows(r, r->rows, start, len, first, count);
            DIDCL_TRY(dn->block_logits(dn->ctx, r->sample, r->seq, start, len, r->rows, logits));
            add_flops(r, DIDCL_FWD_BLOCK, len, start + len);
        } else {
            flag_rows(r, r->rows, 0, n_ctx, first, count);
            DIDCL_TRY(global_forward(r, n_ctx, attn_block, logits));
        }
        if (dev) {
            fill_requests(r, 0, first, count, r->req);
            didcl_status s = dn->sample_rows(dn->ctx, count, r->req, r->draw + first);
            if (s != DIDCL_OK)
                return didcl_fail_context(s, "stage %u, positions %d..%d", r->stage,
                                          (int)r->pos[first], (int)r->pos[first + count - 1]);
        }
        DIDCL_TRY(draw_commit(r, logits, start, len, m, first, count, mode, &steps_left, tau,
                              step, block_index));
    }
}

/* ---- stage 1 ---- */

static int int_cmp(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* Unigram entropy (nats) of seq[end-w, end), the reference's degeneracy test. Uses
 * r->pos as scratch. */
static double window_entropy(run *r, int32_t end, int32_t w) {
    memcpy(r->pos, r->seq + end - w, sizeof *r->pos * (size_t)w);
    qsort(r->pos, (size_t)w, sizeof *r->pos, int_cmp);
    double h = 0.0;
    for (int32_t i = 0, j; i < w; i = j) {
        for (j = i; j < w && r->pos[j] == r->pos[i]; j++)
            ;
        double q = (double)(j - i) / w;
        h -= q * log(q);
    }
    return h;
}

/* Fill seq/masked/traj for a fresh draft: BOS, prompt, masks. */
static void init_draft(run *r, const int32_t *prompt, int32_t n_prompt) {
    const int32_t L = r->o->length;
    for (int32_t p = 0; p < L; p++) {
        int locked = p <= n_prompt;
        r->seq[p] = p == 0 ? r->dn->bos_id : locked ? prompt[p - 1] : r->dn->mask_id;
        r->masked[p] = !locked;
        r->traj[p] = (didcl_remask_position){r->seq[p], locked ? 1.0f : 0.0f, 0.0f,
                                             locked ? 1.0f : 0.0f, -1, p / r->o->block,
                                             0, -1, locked ? DIDCL_REMASK_LOCKED : 0u};
    }
}

static didcl_status draft(run *r, const int32_t *prompt, int32_t n_prompt, int *low_entropy) {
    const didcl_gen_options *o = r->o;
    const didcl_denoiser *dn = r->dn;
    const int32_t L = o->length, B = o->block;
    int tries = 1;
restart:
    r->st->tries = tries;
    r->st->committed = 0;
    r->n = L;
    *low_entropy = 0;
    init_draft(r, prompt, n_prompt);
    DIDCL_TRY(notify(r, DIDCL_GEN_START, 0, 0, 0));
    if (o->use_kv_cache)
        DIDCL_TRY(dn->reset(dn->ctx, r->sample));
    for (int32_t start = 0, btries = 1; start < L; start += B, btries = 1) {
    redraw:
        DIDCL_TRY(denoise(r, start, B, o->use_kv_cache, start + B, B, o->mode, o->steps,
                          o->threshold, start / B));
        int32_t end = start + B;
        if (o->reject_low_entropy && end > o->reject_window &&
            window_entropy(r, end, o->reject_window) < o->reject_min_entropy) {
            if (o->var_length) { /* the reference truncates instead of rejecting */
                r->n = end - o->reject_window;
                return DIDCL_OK;
            }
            if (o->reject_scope == DIDCL_REJECT_BLOCK && btries < o->reject_max_tries) {
                btries++;
                r->st->tries++;
                for (int32_t p = start; p < end; p++)
                    if (!(r->traj[p].flags & DIDCL_REMASK_LOCKED)) {
                        r->seq[p] = dn->mask_id;
                        r->masked[p] = 1;
                        r->st->committed--;
                    }
                goto redraw;
            }
            if (o->reject_scope == DIDCL_REJECT_SAMPLE && tries < o->reject_max_tries) {
                tries++;
                goto restart;
            }
            *low_entropy = 1; /* out of tries: keep the last attempt, flag it */
        }
        if (o->var_length)
            for (int32_t p = start; p < end; p++)
                if (!(r->traj[p].flags & DIDCL_REMASK_LOCKED) && r->seq[p] == dn->eos_id) {
                    r->n = p + 1; /* the reference's "second EOS": BOS = EOS is the first */
                    return DIDCL_OK;
                }
        if (o->use_kv_cache && end < L) { /* the last block's K/V would never be read */
            DIDCL_TRY(dn->store_kv(dn->ctx, r->sample, r->seq, start, B));
            add_flops(r, DIDCL_FWD_STORE_KV, B, end);
            r->st->store_kv++;
        }
    }
    return DIDCL_OK;
}

/* ---- revision stages ---- */

static didcl_status revise(run *r, const didcl_revision *rev, didcl_remask_t remask) {
    const didcl_gen_options *o = r->o;
    const int32_t n = r->n;
    const int32_t Bs = rev->block > 0 && rev->block < n ? rev->block : n;
    r->st->block = Bs;
    r->st->gamma = rev->gamma;
    uint32_t n_unlocked = 0;
    for (int32_t p = 0; p < n; p++)
        n_unlocked += !(r->traj[p].flags & DIDCL_REMASK_LOCKED);
    uint32_t count = (uint32_t)floor(rev->gamma * n_unlocked + 0.5);
    if (count == 0)
        return DIDCL_OK;
    /* didcl_remask_select validates the selection and returns nothing invalid */
    uint32_t *out = (uint32_t *)r->order, n_out = 0; /* (L,) scratch, reused */
    didcl_status s = didcl_remask_select(remask, r->traj, (uint32_t)n, count, 0, r->stage,
                                         (uint32_t)Bs, r->sample, out, &n_out);
    if (s != DIDCL_OK)
        return didcl_fail_context(s, "remask selection (stage %u)", r->stage);
    memset(r->rows, 0, (size_t)n);
    for (uint32_t i = 0; i < n_out; i++)
        r->rows[out[i]] = 1;
    for (int32_t p = 0; p < n; p++)
        if (r->rows[p]) {
            r->seq[p] = r->dn->mask_id;
            r->masked[p] = 1;
        }
    r->st->remasked = (int32_t)count;
    DIDCL_TRY(notify(r, DIDCL_GEN_REMASK, 0, n, (int32_t)count));
    /* Block-diffusion attention at the stage's block size: while block j is
     * regenerated, its queries see blocks <= j (block-causal, as the model was trained
     * at that scale), so the forward runs over [0, end of block j) only. Bs == n is the
     * global (fully bidirectional) revision. */
    for (int32_t start = 0; start < n; start += Bs) {
        int32_t len = start + Bs <= n ? Bs : n - start;
        DIDCL_TRY(denoise(r, start, len, 0, start + len, Bs, o->revise_mode, o->revise_steps,
                          o->revise_threshold, start / Bs));
    }
    return DIDCL_OK;
}

/* ---- entry ---- */

static void run_free(run *r) {
    free(r->seq);
    free(r->masked);
    free(r->rows);
    free(r->pos);
    free(r->draw);
    free(r->req);
    free(r->order);
    free(r->traj);
    free(r->logits);
    free(r->kv_seq);
    free(r->kv_pos);
    didcl_sampling_free(&r->smp);
}

static didcl_status check_denoiser(const didcl_denoiser *dn, const didcl_gen_options *o) {
    if (dn->vocab < 2 || dn->mask_id >= dn->vocab || dn->bos_id < 0 ||
        dn->bos_id >= dn->vocab || dn->eos_id < 0 || dn->eos_id >= dn->vocab)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "denoiser: vocab %d with mask %d, bos %d, eos %d, expected ids "
                          "inside the vocabulary", (int)dn->vocab, (int)dn->mask_id,
                          (int)dn->bos_id, (int)dn->eos_id);
    if (o->use_kv_cache && (!dn->reset || !dn->block_logits || !dn->store_kv))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "denoiser: no KV-cache calls (reset, block_logits, store_kv); "
                          "use_kv_cache needs them");
    if ((!o->use_kv_cache || o->n_revisions > 0) && !dn->global_logits)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "denoiser: no global_logits; uncached drafting and revision "
                          "stages need it");
    if (o->revise_reuse > 0 && o->n_revisions > 0 && (!dn->global_store || !dn->reuse_logits))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "denoiser: no K/V-reuse calls (global_store, reuse_logits); "
                          "revise_reuse %d needs them (0: exact revision)",
                          (int)o->revise_reuse);
    return DIDCL_OK;
}

didcl_status didcl_sampler_run(const didcl_denoiser *dn, const didcl_gen_options *o,
                               const int32_t *prompt, int32_t n_prompt, uint32_t sample,
                               didcl_remask_t remask, didcl_gen_result *res) {
    return didcl_sampler_run_observed(dn, o, prompt, n_prompt, sample, remask,
                                      NULL, NULL, res);
}

static didcl_status check_inputs(const didcl_denoiser *dn, const didcl_gen_options *o,
                                 const int32_t *prompt, int32_t n_prompt) {
    DIDCL_TRY(didcl_gen_options_check(o, dn->model_length, n_prompt));
    DIDCL_TRY(check_denoiser(dn, o));
    for (int32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= dn->vocab || prompt[i] == dn->mask_id)
            return didcl_fail(DIDCL_ERR_INVALID_ARG,
                              "prompt: token %d at index %d, expected an id in [0, %d) other "
                              "than the mask %d", (int)prompt[i], (int)i, (int)dn->vocab,
                              (int)dn->mask_id);
    return DIDCL_OK;
}

/* Allocate one run's arrays; out receives its stage records. */
static didcl_status run_init(run *r, const didcl_denoiser *dn, const didcl_gen_options *o,
                             uint32_t sample, didcl_gen_observer observe, void *observe_user,
                             didcl_gen_result *out) {
    const size_t L = (size_t)o->length;
    *r = (run){.dn = dn, .o = o, .sample = sample, .observe = observe,
               .observe_user = observe_user};
    r->seq = malloc(sizeof *r->seq * L);
    r->masked = malloc(L);
    r->rows = malloc(L);
    r->pos = malloc(sizeof *r->pos * L);
    r->draw = malloc(sizeof *r->draw * L);
    r->req = malloc(sizeof *r->req * L);
    r->order = malloc(sizeof *r->order * L);
    r->traj = malloc(sizeof *r->traj * L);
    if (o->revise_reuse > 0 && o->n_revisions > 0) {
        r->kv_seq = malloc(sizeof *r->kv_seq * L);
        r->kv_pos = malloc(sizeof *r->kv_pos * L);
    }
    if (!r->seq || !r->masked || !r->rows || !r->pos || !r->draw || !r->req || !r->order ||
        !r->traj || (o->revise_reuse > 0 && o->n_revisions > 0 && (!r->kv_seq || !r->kv_pos))) {
        run_free(r);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "sampler: cannot allocate a %zu-token run", L);
    }
    didcl_status s = didcl_sampling_init(&r->smp, dn->vocab);
    if (s != DIDCL_OK) {
        run_free(r);
        return s;
    }
    memset(out, 0, sizeof *out);
    out->n_stages = 1 + o->n_revisions;
    out->batch = 1;
    return DIDCL_OK;
}

/* Enter stage k (0-based) of the run. */
static void stage_enter(run *r, didcl_gen_result *out, int32_t k) {
    r->st = &out->stages[k];
    r->st->stage = k + 1;
    r->stage = (uint32_t)(k + 1);
    r->fwd = 0;
}

/* Run stages [k0, n_stages) of r (stage 0 = the draft), then hand its arrays to out. */
static didcl_status run_stages(run *r, const int32_t *prompt, int32_t n_prompt, int32_t k0,
                               didcl_remask_t remask, didcl_gen_result *out) {
    const didcl_gen_options *o = r->o;
    didcl_status s = DIDCL_OK;
    for (int32_t k = k0; s == DIDCL_OK && k < out->n_stages; k++) {
        stage_enter(r, out, k);
        double t0 = now_s();
        if (k == 0) {
            r->st->block = o->block;
            s = draft(r, prompt, n_prompt, &out->low_entropy);
        } else {
            r->st->tries = 1;
            s = revise(r, &o->revisions[k - 1], remask);
        }
        r->st->seconds = now_s() - t0;
        if (s == DIDCL_OK)
            s = notify(r, DIDCL_GEN_STAGE_DONE, 0, r->n, 0);
    }
    if (s != DIDCL_OK) {
        run_free(r);
        return s;
    }
    out->n = r->n;
    out->tokens = r->seq;
    out->traj = r->traj;
    r->seq = NULL;
    r->traj = NULL;
    run_free(r);
    return DIDCL_OK;
}

/* The handle revision stages select with: the caller's, or when NULL and a revision
 * stage needs one, "lowconf" (the default rule) opened for this call; *owned is what the
 * caller frees. */
static didcl_status remask_or_default(const didcl_gen_options *o, didcl_remask_t remask,
                                      didcl_remask_t *use, didcl_remask_t *owned) {
    *use = remask;
    *owned = NULL;
    if (remask || o->n_revisions == 0)
        return DIDCL_OK;
    didcl_remask_host_cfg cfg = {o->seed};
    DIDCL_TRY(didcl_remask_open("lowconf", NULL, &cfg, owned));
    *use = *owned;
    return DIDCL_OK;
}

/* One sample with a resolved handle. */
static didcl_status run_one(const didcl_denoiser *dn, const didcl_gen_options *o,
                            const int32_t *prompt, int32_t n_prompt, uint32_t sample,
                            didcl_remask_t remask, didcl_gen_observer observe,
                            void *observe_user, didcl_gen_result *res) {
    run r;
    didcl_gen_result out;
    DIDCL_TRY(run_init(&r, dn, o, sample, observe, observe_user, &out));
    DIDCL_TRY(run_stages(&r, prompt, n_prompt, 0, remask, &out));
    *res = out;
    return DIDCL_OK;
}

didcl_status didcl_sampler_run_observed(const didcl_denoiser *dn, const didcl_gen_options *o,
                                        const int32_t *prompt, int32_t n_prompt,
                                        uint32_t sample, didcl_remask_t remask,
                                        didcl_gen_observer observe, void *observe_user,
                                        didcl_gen_result *res) {
    didcl_remask_t use, owned;
    DIDCL_TRY(check_inputs(dn, o, prompt, n_prompt));
    DIDCL_TRY(remask_or_default(o, remask, &use, &owned));
    didcl_status s = run_one(dn, o, prompt, n_prompt, sample, use, observe, observe_user, res);
    didcl_remask_free(owned);
    return s;
}

/* ---- lockstep batches and groups ---- */

int didcl_gen_options_batchable(const didcl_gen_options *a, const didcl_gen_options *b) {
    return a && b && a->use_kv_cache && b->use_kv_cache && !a->var_length &&
           !b->var_length && !a->reject_low_entropy && !b->reject_low_entropy &&
           a->block > 0 && a->block == b->block;
}

int didcl_sampler_batchable(const didcl_denoiser *dn, const didcl_gen_options *o) {
    return dn->max_batch > 1 && dn->reset_batch && dn->block_logits_batch &&
           dn->store_kv_batch && didcl_gen_options_batchable(o, o) &&
           (dn->model_length <= 0 || dn->model_length / o->block >= 2);
}

/* Tell job j's observer that it is over: finished (status OK, res filled) or failed
 * (its message is didcl_last_error()'s), but not cancelled: the observer did that. A finished job's observer may still refuse it
 * (nonzero): DIDCL_ERR_CANCELLED. */
static didcl_status job_done(const didcl_sampler_job *j, const didcl_gen_result *res,
                             didcl_status status) {
    if (!j->observe || status == DIDCL_ERR_CANCELLED) /* it knows what it cancelled */
        return DIDCL_OK;
    didcl_gen_event ev = {DIDCL_GEN_DONE, j->sample, 0, 0, 0, 0, 0, 0, NULL, NULL, status};
    if (status == DIDCL_OK) {
        ev.stage = (uint32_t)res->n_stages;
        ev.n = res->n;
        for (int32_t k = 0; k < res->n_stages; k++)
            ev.nfe += res->stages[k].nfe;
        ev.seq = res->tokens;
        ev.traj = res->traj;
    }
    if (j->observe(j->observe_user, &ev) != 0 && status == DIDCL_OK)
        return didcl_fail(DIDCL_ERR_CANCELLED, "generation cancelled by the host after "
                          "sample %u", j->sample);
    return DIDCL_OK;
}

/* Job j ran with outcome e (res filled when DIDCL_OK): record it in *status, tell its
 * observer, and drop a result the observer refuses. Returns the job's final status. */
static didcl_status job_end(const didcl_sampler_job *j, didcl_gen_result *res, uint32_t batch,
                            didcl_status e, didcl_status *status) {
    if (e == DIDCL_OK) {
        res->batch = batch;
        e = job_done(j, res, DIDCL_OK);
        if (e != DIDCL_OK)
            didcl_gen_result_free(res);
    } else {
        job_done(j, NULL, e);
    }
    *status = e;
    return e;
}

/* A lockstep batch. Slots hold the runs longest first, so the sequences still drafting
 * at any block are a prefix and keep their KV-cache slots as shorter ones leave. In an
 * isolating group a run that fails leaves alone (st[b], its slot computed and ignored);
 * otherwise its failure is the batch's. */
typedef struct lockstep {
    run rs[DIDCL_SAMPLER_MAX_BATCH];
    const didcl_sampler_job *job[DIDCL_SAMPLER_MAX_BATCH];
    didcl_status st[DIDCL_SAMPLER_MAX_BATCH];
    uint32_t nb;
    int isolate;
} lockstep;

static didcl_status lockstep_fail(lockstep *ls, uint32_t b, didcl_status s) {
    job_done(ls->job[b], NULL, s);
    if (!ls->isolate)
        return s;
    ls->st[b] = s;
    /* its slot rides along to the end: keep it a clean sequence for the store passes */
    run *r = &ls->rs[b];
    for (int32_t p = 0; p < r->o->length; p++)
        if (r->seq[p] == r->dn->mask_id)
            r->seq[p] = r->dn->bos_id;
    return DIDCL_OK;
}

/* What a lockstep stage 1 needs per step, made once per batch: want (nb * B,) flags
 * sequence-major, and the host path's logits (nb * B, V) or the device path's requests
 * and draws (nb * B,). */
typedef struct step_space {
    uint8_t *want;
    float *logits;
    didcl_sample_req *req;
    didcl_draw *drawn;
} step_space;

/* Lockstep denoise of one stage-1 block over slots [0, nb): every forward is one
 * block_logits_batch over them, asked for the candidates' rows of the runs that still
 * have masks; each such run draws from its own rows exactly as denoise() would, under
 * its own options (finished and failed runs ask for no rows; a block step changes no
 * cache). With sample_rows, every run's candidates are drawn in one call per step. */
static didcl_status denoise_batch(lockstep *ls, uint32_t nb, const int32_t **seqs,
                                  const step_space *sp, int32_t start, int32_t B) {
    run *rs = ls->rs;
    const didcl_denoiser *dn = rs[0].dn;
    const size_t V = (size_t)dn->vocab;
    int32_t first[DIDCL_SAMPLER_MAX_BATCH], count[DIDCL_SAMPLER_MAX_BATCH],
        m[DIDCL_SAMPLER_MAX_BATCH], steps_left[DIDCL_SAMPLER_MAX_BATCH],
        row0[DIDCL_SAMPLER_MAX_BATCH];
    int done[DIDCL_SAMPLER_MAX_BATCH];
    for (uint32_t b = 0; b < nb; b++) {
        steps_left[b] = rs[b].o->steps;
        done[b] = ls->st[b] != DIDCL_OK;
    }
    for (int32_t step = 0;; step++) {
        int32_t rows = 0; /* wanted rows so far; run b's are [row0[b], + count[b]) */
        for (uint32_t b = 0; b < nb; b++) {
            memset(sp->want + (size_t)b * B, 0, (size_t)B);
            if (done[b])
                continue;
            m[b] = pick(&rs[b], start, B, rs[b].o->mode, &first[b], &count[b]);
            if (m[b] == 0) {
                done[b] = 1;
                didcl_status s = notify(&rs[b], DIDCL_GEN_BLOCK_DONE, start, B, 0);
                if (s != DIDCL_OK)
                    DIDCL_TRY(lockstep_fail(ls, b, s));
                continue;
            }
            flag_rows(&rs[b], sp->want + (size_t)b * B, start, B, first[b], count[b]);
            row0[b] = rows;
            rows += count[b];
        }
        if (rows == 0)
            return DIDCL_OK;
        DIDCL_TRY(dn->block_logits_batch(dn->ctx, nb, seqs, start, B, sp->want, sp->logits));
        if (!sp->logits) { /* one draw call for every run (each its own options and seed) */
            for (uint32_t b = 0; b < nb; b++)
                if (!done[b])
                    fill_requests(&rs[b], row0[b], first[b], count[b], sp->req + row0[b]);
            DIDCL_TRY(dn->sample_rows(dn->ctx, rows, sp->req, sp->drawn));
        }
        for (uint32_t b = 0; b < nb; b++) {
            if (done[b])
                continue;
            const didcl_gen_options *o = rs[b].o;
            add_flops(&rs[b], DIDCL_FWD_BLOCK, B, start + B);
            if (!sp->logits)
                memcpy(rs[b].draw + first[b], sp->drawn + row0[b],
                       sizeof *sp->drawn * (size_t)count[b]);
            didcl_status s = draw_commit(&rs[b], sp->logits ? sp->logits + row0[b] * V : NULL,
                                         start, B, m[b], first[b], count[b], o->mode,
                                         &steps_left[b], o->threshold, step, start / B);
            if (s != DIDCL_OK) {
                done[b] = 1;
                DIDCL_TRY(lockstep_fail(ls, b, s));
            }
        }
    }
}

/* Stage 1 of the batch in lockstep (cached, fixed lengths, one block size). A sequence
 * leaves after its last block: its store-KV pass is skipped, as alone. */
static didcl_status draft_batch(lockstep *ls) {
    run *rs = ls->rs;
    const uint32_t nb = ls->nb;
    const didcl_denoiser *dn = rs[0].dn;
    const int32_t B = rs[0].o->block, L = rs[0].o->length;
    const int32_t *seqs[DIDCL_SAMPLER_MAX_BATCH];
    const size_t rows = (size_t)nb * (size_t)B;
    const int dev = dn->sample_rows != NULL; /* logits stay on the device */
    step_space sp = {malloc(rows), dev ? NULL : malloc(sizeof *sp.logits * rows * dn->vocab),
                     dev ? malloc(sizeof *sp.req * rows) : NULL,
                     dev ? malloc(sizeof *sp.drawn * rows) : NULL};
    if (!sp.want || (dev ? !sp.req || !sp.drawn : !sp.logits)) {
        free(sp.want);
        free(sp.logits);
        free(sp.req);
        free(sp.drawn);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "sampler: cannot allocate the steps of a batch "
                          "of %u", nb);
    }
    for (uint32_t b = 0; b < nb; b++) {
        run *r = &rs[b];
        r->st->tries = 1;
        r->st->committed = 0;
        r->st->block = B;
        r->n = r->o->length;
        init_draft(r, ls->job[b]->prompt, ls->job[b]->n_prompt);
        seqs[b] = r->seq;
    }
    didcl_status s = DIDCL_OK;
    for (uint32_t b = 0; b < nb && s == DIDCL_OK; b++) {
        didcl_status e = notify(&rs[b], DIDCL_GEN_START, 0, 0, 0);
        if (e != DIDCL_OK)
            s = lockstep_fail(ls, b, e);
    }
    if (s == DIDCL_OK)
        s = dn->reset_batch(dn->ctx, nb);
    for (int32_t start = 0; s == DIDCL_OK && start < L; start += B) {
        uint32_t k = 0, ks = 0; /* drafting this block; with a block after it */
        while (k < nb && rs[k].o->length > start)
            k++;
        while (ks < k && rs[ks].o->length > start + B)
            ks++;
        s = denoise_batch(ls, k, seqs, &sp, start, B);
        if (s == DIDCL_OK && ks > 0) {
            s = dn->store_kv_batch(dn->ctx, ks, seqs, start, B);
            for (uint32_t b = 0; s == DIDCL_OK && b < ks; b++) {
                add_flops(&rs[b], DIDCL_FWD_STORE_KV, B, start + B);
                rs[b].st->store_kv++;
            }
        }
    }
    free(sp.want);
    free(sp.logits);
    free(sp.req);
    free(sp.drawn);
    return s;
}

/* One lockstep batch of jobs idx[0..nb) (job order): stage 1 together, then each run's
 * revisions in job order (so a remask handle sees the calls it would see alone).
 * status[j] becomes DIDCL_OK when res[j] holds job j's result. */
static didcl_status run_lockstep(const didcl_denoiser *dn, const didcl_sampler_job *jobs,
                                 const uint32_t *idx, uint32_t nb, didcl_remask_t *use,
                                 int isolate, didcl_gen_result *res, didcl_status *status) {
    lockstep *ls = calloc(1, sizeof *ls);
    uint32_t slot_of[DIDCL_SAMPLER_MAX_BATCH], order[DIDCL_SAMPLER_MAX_BATCH];
    if (!ls)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "sampler: out of memory for a batch of %u", nb);
    ls->nb = nb;
    ls->isolate = isolate;
    for (uint32_t i = 0; i < nb; i++) { /* longest first, ties in job order */
        uint32_t b = i;
        while (b > 0 && jobs[order[b - 1]].o->length < jobs[idx[i]].o->length) {
            order[b] = order[b - 1];
            b--;
        }
        order[b] = idx[i];
    }
    didcl_status s = DIDCL_OK;
    uint32_t ready = 0;
    for (; ready < nb && s == DIDCL_OK; ready++) {
        const didcl_sampler_job *j = &jobs[order[ready]];
        ls->job[ready] = j;
        s = run_init(&ls->rs[ready], dn, j->o, j->sample, j->observe, j->observe_user,
                     &res[order[ready]]);
    }
    if (s != DIDCL_OK) {
        for (uint32_t b = 0; b + 1 < ready; b++)
            run_free(&ls->rs[b]);
        free(ls);
        return s;
    }
    for (uint32_t b = 0; b < nb; b++) {
        stage_enter(&ls->rs[b], &res[order[b]], 0);
        for (uint32_t i = 0; i < nb; i++)
            if (idx[i] == order[b])
                slot_of[i] = b;
    }
    double t0 = now_s();
    s = draft_batch(ls);
    double share = (now_s() - t0) / nb; /* each sample's share of the batch's time */
    if (s != DIDCL_OK && isolate) { /* the batch failed as a whole: each run with it */
        const char *msg = didcl_last_error();
        char keep[512];
        snprintf(keep, sizeof keep, "%s", msg);
        for (uint32_t b = 0; b < nb; b++)
            if (ls->st[b] == DIDCL_OK) {
                didcl_fail(s, "%s", keep);
                lockstep_fail(ls, b, s);
            }
        s = DIDCL_OK;
    }
    uint32_t i = 0;
    for (; s == DIDCL_OK && i < nb; i++) {
        const uint32_t b = slot_of[i], j = idx[i];
        run *r = &ls->rs[b];
        if (ls->st[b] != DIDCL_OK) {
            run_free(r);
            status[j] = ls->st[b];
            continue;
        }
        r->st->seconds = share;
        didcl_status e = notify(r, DIDCL_GEN_STAGE_DONE, 0, r->n, 0);
        if (e != DIDCL_OK)
            run_free(r); /* as run_stages does with a run that fails */
        else
            e = run_stages(r, jobs[j].prompt, jobs[j].n_prompt, 1, use[j], &res[j]);
        e = job_end(&jobs[j], &res[j], nb, e, &status[j]);
        if (e != DIDCL_OK && !isolate)
            s = e;
    }
    /* a failure that ends the batch: the runs not reached are still held */
    for (; i < nb; i++)
        if (s != DIDCL_OK)
            run_free(&ls->rs[slot_of[i]]);
    free(ls);
    return s;
}

didcl_status didcl_sampler_run_group(const didcl_denoiser *dn, const didcl_sampler_job *jobs,
                                     uint32_t n, int isolate, didcl_gen_result *res,
                                     didcl_status *status) {
    didcl_remask_t *use = calloc(n ? n : 1, sizeof *use);
    didcl_remask_t *owned = calloc(n ? n : 1, sizeof *owned);
    didcl_status *st = calloc(n ? n : 1, sizeof *st);
    uint32_t *idx = malloc(sizeof *idx * (n ? n : 1));
    uint8_t *taken = calloc(n ? n : 1, 1);
    didcl_status s = use && owned && st && idx && taken
                         ? DIDCL_OK
                         : didcl_fail(DIDCL_ERR_NO_MEMORY, "sampler: out of memory for %u "
                                      "samples", n);
    for (uint32_t j = 0; st && j < n; j++)
        st[j] = DIDCL_ERR_CANCELLED; /* not run yet */
    for (uint32_t j = 0; s == DIDCL_OK && j < n; j++) {
        const didcl_sampler_job *jb = &jobs[j];
        didcl_status e = check_inputs(dn, jb->o, jb->prompt, jb->n_prompt);
        if (e == DIDCL_OK)
            e = remask_or_default(jb->o, jb->remask, &use[j], &owned[j]);
        if (e != DIDCL_OK) {
            taken[j] = 1;
            st[j] = e;
            job_done(jb, NULL, e);
            if (!isolate)
                s = e;
        }
    }
    /* batches in job order: each job with the next compatible ones, up to the cap */
    for (uint32_t j = 0; s == DIDCL_OK && j < n; j++) {
        if (taken[j])
            continue;
        const didcl_gen_options *o = jobs[j].o;
        uint32_t nb = 0;
        idx[nb++] = j;
        taken[j] = 1;
        if (!jobs[j].solo && didcl_sampler_batchable(dn, o)) {
            uint32_t cap = dn->max_batch < DIDCL_SAMPLER_MAX_BATCH ? dn->max_batch
                                                                  : DIDCL_SAMPLER_MAX_BATCH;
            if (dn->model_length > 0 && (uint32_t)(dn->model_length / o->block) < cap)
                cap = (uint32_t)(dn->model_length / o->block);
            for (uint32_t k = j + 1; k < n && nb < cap; k++)
                if (!taken[k] && !jobs[k].solo && didcl_gen_options_batchable(o, jobs[k].o) &&
                    didcl_sampler_batchable(dn, jobs[k].o)) {
                    idx[nb++] = k;
                    taken[k] = 1;
                }
        }
        didcl_status e;
        if (nb > 1) {
            e = run_lockstep(dn, jobs, idx, nb, use, isolate, res, st);
        } else {
            e = run_one(dn, o, jobs[j].prompt, jobs[j].n_prompt, jobs[j].sample, use[j],
                        jobs[j].observe, jobs[j].observe_user, &res[j]);
            e = job_end(&jobs[j], &res[j], 1, e, &st[j]);
            if (isolate)
                e = DIDCL_OK;
        }
        if (e != DIDCL_OK && isolate) { /* the batch could not start (out of memory) */
            for (uint32_t i = 0; i < nb; i++)
                if (st[idx[i]] != DIDCL_OK) {
                    st[idx[i]] = e;
                    job_done(&jobs[idx[i]], NULL, e);
                }
            e = DIDCL_OK;
        }
        s = e;
    }
    for (uint32_t j = 0; owned && j < n; j++)
        didcl_remask_free(owned[j]);
    if (s != DIDCL_OK) /* all or nothing: what was made goes */
        for (uint32_t j = 0; j < n; j++)
            if (st && st[j] == DIDCL_OK)
                didcl_gen_result_free(&res[j]);
    if (status && st)
        for (uint32_t j = 0; j < n; j++)
            status[j] = s != DIDCL_OK ? s : st[j];
    free(use);
    free(owned);
    free(st);
    free(idx);
    free(taken);
    return s;
}

didcl_status didcl_sampler_run_batch(const didcl_denoiser *dn, const didcl_gen_options *o,
                                     const int32_t *prompt, int32_t n_prompt,
                                     uint32_t first_sample, uint32_t n_samples,
                                     didcl_remask_t remask, didcl_gen_observer observe,
                                     void *observe_user, didcl_gen_result *res) {
    didcl_sampler_job *jobs = calloc(n_samples ? n_samples : 1, sizeof *jobs);
    if (!jobs)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "sampler: out of memory for %u samples",
                          n_samples);
    for (uint32_t i = 0; i < n_samples; i++)
        jobs[i] = (didcl_sampler_job){o, prompt, n_prompt, first_sample + i, remask, 0,
                                      observe, observe_user};
    didcl_status s = didcl_sampler_run_group(dn, jobs, n_samples, 0, res, NULL);
    free(jobs);
    return s;
}

void didcl_gen_result_free(didcl_gen_result *res) {
    if (!res)
        return;
    free(res->tokens);
    free(res->traj);
    res->tokens = NULL;
    res->traj = NULL;
}

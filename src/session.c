/*
 * session.c — generation as one library call (the public session API of didcl.h).
 *
 * A session owns a checkpoint on the host, its tokenizer, a device runtime and, built on
 * the first generate, the model on the device. didcl_session_generate turns requests
 * (prompt, options, remask spec, samples) into plans — defaults resolved, options,
 * prompt and plugin checked — runs all their samples as one sampler group (sampler.c:
 * compatible samples of every request share lockstep batches) over the model's denoiser, and hands back library-owned results: ids,
 * text, per-stage statistics, the per-position trace with the draft and the remask
 * history. Hosts (the CLI, a server, bindings) need nothing else to generate.
 *
 * What this file is not: the sampler (sampler.c decides tokens), the forward pass
 * (model.c) or the plugin loader (remask.c).
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "model.h"
#include "paths.h"
#include "sampler.h"

#define ERR_MAX 1024

struct didcl_session {
    char dir[PATH_MAX];          /* the model directory */
    char *plugin_path;           /* copy of the params' (NULL: none) */
    int half;
    uint32_t max_batch;
    didcl_model_files_t files;
    didcl_tokenizer_t tok;
    didcl_runtime_t rt;
    didcl_model_t model;         /* NULL until the first generate */
    uint32_t model_tokens;       /* its max_tokens and max_batch */
    uint32_t model_batch;
    uint32_t prepared_rows;      /* kernels built for forwards of this many rows */
    didcl_denoiser dn;
    char err[ERR_MAX];           /* the last failure on this session */
};

/* Keep this thread's last message as the session's, and return status. */
static didcl_status session_fail(didcl_session_t s, didcl_status status) {
    snprintf(s->err, sizeof s->err, "%s", didcl_last_error());
    return status;
}

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the default model -------------------------------------------------------------- */

didcl_status didcl_default_model_dir(char *buf, size_t size) {
    if (!buf || size == 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "default model: no buffer");
    char tried[2][PATH_MAX];
    int n = 0;
    if (didcl_paths_in_build_tree())
        snprintf(tried[n++], PATH_MAX, "%s/models/default", didcl_paths_source_dir());
    snprintf(tried[n++], PATH_MAX, "%s/default", didcl_paths_models_dir());
    for (int i = 0; i < n; i++) {
        char cfg[PATH_MAX + 16];
        size_t len = strlen(tried[i]);
        snprintf(cfg, sizeof cfg, "%s/config.json", tried[i]);
        if (access(cfg, R_OK) == 0) {
            if (len >= size)
                return didcl_fail(DIDCL_ERR_INVALID_ARG, "default model: %s does not fit a "
                                  "buffer of %zu bytes", tried[i], size);
            memcpy(buf, tried[i], len + 1);
            return DIDCL_OK;
        }
    }
    return didcl_fail(DIDCL_ERR_NOT_FOUND,
                      "no default model: no config.json in %s%s%s (the default model is "
                      "models/default of the source tree, installed by `make install`)",
                      tried[0], n > 1 ? " or " : "", n > 1 ? tried[1] : "");
}

/* ---- open / free -------------------------------------------------------------------- */

didcl_session_params didcl_session_default_params(void) {
    didcl_session_params p;
    memset(&p, 0, sizeof p);
    p.max_batch = 16;
    return p;
}

didcl_request didcl_request_default(void) {
    didcl_request r;
    memset(&r, 0, sizeof r);
    r.options = didcl_gen_options_default();
    r.options.length = 0; /* the model's */
    r.options.block = 0;
    r.samples = 1;
    return r;
}

void didcl_session_free(didcl_session_t s) {
    if (!s)
        return;
    didcl_model_free(s->model);
    didcl_runtime_free(s->rt);
    didcl_tokenizer_free(s->tok);
    didcl_model_files_free(s->files);
    free(s->plugin_path);
    free(s);
}

static didcl_status session_load(didcl_session_t s, const didcl_session_params *p) {
    DIDCL_TRY(didcl_model_files_open(s->dir, &s->files));
    const didcl_model_config *cfg = didcl_model_files_config(s->files);
    if (cfg->arch != DIDCL_ARCH_BD3LM)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "model %s: a %s model, expected a bd3lm "
                          "(block diffusion) checkpoint", s->dir, didcl_arch_str(cfg->arch));
    if (p->tokenizer) {
        DIDCL_TRY(didcl_tokenizer_load(p->tokenizer, &s->tok));
    } else if (didcl_tokenizer_load(s->dir, &s->tok) != DIDCL_OK) {
        return didcl_fail_context(DIDCL_ERR_NOT_FOUND, "model %s has no usable tokenizer "
                                  "(give one explicitly)", s->dir);
    }
    const uint32_t tv = didcl_tokenizer_vocab_size(s->tok);
    if (cfg->mask_token_id >= 0 && (uint32_t)cfg->mask_token_id > tv)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "tokenizer %s has %u ids but the model %s "
                          "generates ids up to %d; give the model's tokenizer",
                          didcl_tokenizer_source(s->tok), tv, s->dir,
                          (int)cfg->mask_token_id - 1);
    DIDCL_TRY(didcl_runtime_init(p->device, &s->rt));
    return p->profile ? didcl_runtime_set_profiling(s->rt, 1) : DIDCL_OK;
}

didcl_status didcl_session_open(const didcl_session_params *params, didcl_session_t *out) {
    if (!out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "session open: no output handle");
    didcl_session_params p = params ? *params : didcl_session_default_params();
    if (p.max_batch == 0)
        p.max_batch = 16;
    if (p.max_batch > DIDCL_MAX_BATCH)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "session: max_batch %u, expected 1 to %d",
                          p.max_batch, DIDCL_MAX_BATCH);
    didcl_session_t s = calloc(1, sizeof *s);
    if (!s)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "session: out of memory");
    s->half = p.half_weights != 0;
    s->max_batch = p.max_batch;
    didcl_status st = DIDCL_OK;
    if (p.model) {
        if (strlen(p.model) >= sizeof s->dir)
            st = didcl_fail(DIDCL_ERR_INVALID_ARG, "model: a path of %zu bytes, expected "
                            "fewer than %d", strlen(p.model), PATH_MAX);
        else
            strcpy(s->dir, p.model);
    } else {
        st = didcl_default_model_dir(s->dir, sizeof s->dir);
    }
    if (st == DIDCL_OK && p.plugin_path && !(s->plugin_path = strdup(p.plugin_path)))
        st = didcl_fail(DIDCL_ERR_NO_MEMORY, "session: out of memory");
    if (st == DIDCL_OK)
        st = session_load(s, &p);
    if (st != DIDCL_OK) {
        didcl_session_free(s);
        return st;
    }
    *out = s;
    return DIDCL_OK;
}

const char *didcl_session_error(didcl_session_t s) { return s ? s->err : ""; }
const char *didcl_session_model_dir(didcl_session_t s) { return s ? s->dir : ""; }
const didcl_model_config *didcl_session_config(didcl_session_t s) {
    return s ? didcl_model_files_config(s->files) : NULL;
}
didcl_tokenizer_t didcl_session_tokenizer(didcl_session_t s) { return s ? s->tok : NULL; }
const didcl_device_info *didcl_session_device(didcl_session_t s) {
    return s ? didcl_runtime_device(s->rt) : NULL;
}

/* The device model, sized for sequences of `tokens` in batches of `batch`: the one
 * held when it is large enough, else a new one as large as both asks. */
static didcl_status session_model(didcl_session_t s, uint32_t tokens, uint32_t batch) {
    if (s->model && s->model_tokens >= tokens && s->model_batch >= batch)
        return DIDCL_OK;
    if (s->model) {
        tokens = tokens > s->model_tokens ? tokens : s->model_tokens;
        batch = batch > s->model_batch ? batch : s->model_batch;
        didcl_model_free(s->model);
        s->model = NULL;
    }
    didcl_model_options mo = {s->half, tokens, batch};
    DIDCL_TRY(didcl_model_open(s->rt, s->files, &mo, &s->model));
    s->model_tokens = tokens;
    s->model_batch = batch;
    didcl_status st = didcl_model_denoiser(s->model, &s->dn);
    if (st != DIDCL_OK) { /* (its device sampler's build failed): the next request retries */
        didcl_model_free(s->model);
        s->model = NULL;
    }
    return st;
}

/* Rows a forward of a plan puts through the model per sequence: the block with the KV
 * cache, the whole length without it or in a revision. */
static uint32_t plan_rows(const didcl_gen_options *o) {
    return !o->use_kv_cache || o->n_revisions > 0 ? (uint32_t)o->length : (uint32_t)o->block;
}

/* The device model for a plan of `tokens` x `batch`, then every kernel its forwards of
 * `rows` rows use, compiled or loaded from the cache before stage 1 so that no stage
 * time holds a compile. Adds the two times to *load_seconds and *compile_seconds. */
static didcl_status session_ready(didcl_session_t s, uint32_t tokens, uint32_t batch,
                                  uint32_t rows, double *load_seconds, double *compile_seconds) {
    const double t0 = now_s();
    DIDCL_TRY(session_model(s, tokens, batch));
    const double t1 = now_s();
    *load_seconds += t1 - t0;
    if (rows <= s->prepared_rows)
        return DIDCL_OK;
    DIDCL_TRY(didcl_model_prepare(s->model, rows));
    s->prepared_rows = rows;
    *compile_seconds += now_s() - t1;
    return DIDCL_OK;
}

/* ---- plans: a request checked, with its defaults resolved ------------------------- */

typedef struct plan {
    didcl_gen_options o;
    int32_t *prompt;             /* (n_prompt,) */
    int32_t n_prompt;
    didcl_remask_t remask;       /* the request's strategy, seeded with its seed */
    uint32_t samples;
    int solo;                    /* DIDCL_REQUEST_SEQUENTIAL: never in a lockstep batch */
} plan;

static void plan_free(plan *p) {
    free(p->prompt);
    didcl_remask_free(p->remask);
    memset(p, 0, sizeof *p);
}

static didcl_status plan_options(didcl_session_t s, const didcl_request *rq, didcl_gen_options *o) {
    const didcl_model_config *cfg = didcl_model_files_config(s->files);
    const int32_t ctx = (int32_t)cfg->context_length;
    *o = rq->options;
    if (o->length == 0)
        o->length = ctx;
    if (o->length < 2)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "length %d, expected >= 2 (BOS and at least "
                          "one generated token)", (int)o->length);
    if (o->length > ctx)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "length %d exceeds the model's length %d "
                          "(model_length in %s/config.json)", (int)o->length, (int)ctx, s->dir);
    if (o->block == 0)
        o->block = cfg->block_size > 0 && o->length % (int32_t)cfg->block_size == 0
                       ? (int32_t)cfg->block_size
                       : 4;
    if (o->block > 0 && o->length % o->block)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "block %d does not divide length %d",
                          (int)o->block, (int)o->length);
    for (int32_t i = 0; i < o->n_revisions && i < DIDCL_MAX_REVISIONS; i++) {
        const didcl_revision *r = &o->revisions[i];
        if (r->block > 0 && o->length % r->block)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "revise %g@%d: block %d does not divide "
                              "length %d", r->gamma, (int)r->block, (int)r->block,
                              (int)o->length);
    }
    return didcl_gen_options_check(o, ctx, 0);
}

static didcl_status plan_prompt(didcl_session_t s, const didcl_request *rq, plan *p) {
    const didcl_model_config *cfg = didcl_model_files_config(s->files);
    size_t n = 0;
    if (rq->prompt) {
        size_t len = rq->prompt_len ? rq->prompt_len : strlen(rq->prompt);
        uint32_t fl = rq->flags & DIDCL_REQUEST_NO_SPECIAL ? DIDCL_TOKENIZE_NO_SPECIAL : 0;
        DIDCL_TRY(didcl_tokenizer_encode(s->tok, rq->prompt, len, fl, &p->prompt, &n));
    } else if (rq->n_prompt_ids) {
        if (!rq->prompt_ids)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "prompt_ids: NULL with n_prompt_ids %zu",
                              rq->n_prompt_ids);
        n = rq->n_prompt_ids;
    }
    if (n > (size_t)p->o.length - 2)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "the prompt is %zu tokens, too long for "
                          "length %d (BOS + prompt + at least one generated token)", n,
                          (int)p->o.length);
    p->n_prompt = (int32_t)n;
    if (!rq->prompt && n) {
        if (!(p->prompt = malloc(sizeof *p->prompt * n)))
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "prompt: out of memory");
        memcpy(p->prompt, rq->prompt_ids, sizeof *p->prompt * n);
    }
    for (int32_t i = 0; i < p->n_prompt; i++) {
        int32_t id = p->prompt[i];
        if (id == cfg->mask_token_id || id < 0 || id >= (int32_t)cfg->vocab_size)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "the prompt's token %d (id %d) %s", (int)i,
                              (int)id, id == cfg->mask_token_id
                                           ? "is the mask token, which a prompt cannot hold"
                                           : "is outside the model's vocabulary");
    }
    return DIDCL_OK;
}

static didcl_status plan_make(didcl_session_t s, const didcl_request *rq, plan *p) {
    memset(p, 0, sizeof *p);
    if (!rq)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "request: NULL");
    DIDCL_TRY(plan_options(s, rq, &p->o));
    DIDCL_TRY(plan_prompt(s, rq, p));
    /* the plugin draws from Philox at the run's seed (src/remask.c) */
    const char *spec = rq->remask ? rq->remask : "lowconf";
    didcl_remask_host_cfg hc = {p->o.seed};
    if (didcl_remask_open(spec, s->plugin_path, &hc, &p->remask) != DIDCL_OK)
        return didcl_fail_context(DIDCL_ERR_PLUGIN, "remask %s", spec);
    p->samples = rq->samples ? rq->samples : 1;
    p->solo = (rq->flags & DIDCL_REQUEST_SEQUENTIAL) != 0;
    return DIDCL_OK;
}

/* Sequences of a plan's lockstep batches when it runs alone. */
static uint32_t plan_batch(didcl_session_t s, const plan *p) {
    uint32_t nb = p->solo ? 1 : p->samples < s->max_batch ? p->samples : s->max_batch;
    return nb ? nb : 1;
}

didcl_status didcl_session_check(didcl_session_t s, const didcl_request *req,
                                 didcl_gen_options *resolved) {
    if (!s)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "session: NULL handle");
    plan p;
    didcl_status st = plan_make(s, req, &p);
    if (st == DIDCL_OK && resolved)
        *resolved = p.o;
    plan_free(&p);
    return st == DIDCL_OK ? DIDCL_OK : session_fail(s, st);
}

/* ---- results ------------------------------------------------------------------------ */

static void sample_free(didcl_sample *x) {
    free((void *)x->tokens);
    free((void *)x->trace);
    free((void *)x->draft);
    free((void *)x->remasked);
    free((void *)x->text);
}

void didcl_results_free(didcl_results *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        sample_free((didcl_sample *)&r->samples[i]);
    free((void *)r->samples);
    if (r->status != DIDCL_OK)
        free((void *)r->error); /* a failed request's message is its own */
    free(r);
}

/* ---- running requests ------------------------------------------------------------- */

/* One request of a call: where its samples go and how it ended. */
typedef struct req_state {
    plan p;
    didcl_status status;         /* DIDCL_OK, or its first failure */
    char *error;                 /* that failure's message */
    size_t first;                /* index of its sample 0 in the call's samples */
} req_state;

typedef struct call {
    didcl_session_t s;
    req_state *rq;
    size_t n_req;
    didcl_event_fn on_event;
    void *user;
    int isolate;
} call;

/* One sample (a sampler job): what the sampler's observer needs to turn its events into
 * the public ones, the sample's history (draft, remasks) and where its result goes. */
typedef struct job_ctx {
    call *c;
    uint32_t request, index;
    int32_t attempts;
    int made;                    /* *out holds the finished sample */
    uint32_t *remasked;          /* (L,) bit k-2: remasked by stage k */
    int32_t *draft;              /* (L,) tokens after stage 1 */
    didcl_gen_result *res;       /* the sampler's result, taken over by out */
    didcl_sample *out;
} job_ctx;

/* Turn a sampler result into a public sample (takes its arrays). */
static didcl_status sample_make(job_ctx *jc, didcl_gen_result *r) {
    const plan *p = &jc->c->rq[jc->request].p;
    didcl_session_t s = jc->c->s;
    const size_t L = (size_t)p->o.length;
    didcl_sample *x = jc->out;
    memset(x, 0, sizeof *x);
    jc->made = 1;
    x->request = jc->request;
    x->index = jc->index;
    x->options = p->o;
    snprintf(x->remask, sizeof x->remask, "%s", didcl_remask_name(p->remask));
    x->n = r->n;
    x->n_prompt = p->n_prompt;
    x->tokens = r->tokens;
    x->trace = r->traj;
    r->tokens = NULL;
    r->traj = NULL;
    x->n_stages = r->n_stages;
    memcpy(x->stages, r->stages, sizeof x->stages);
    x->low_entropy = r->low_entropy;
    x->batch = r->batch;
    int32_t *draft = malloc(sizeof *draft * L);
    uint32_t *rem = malloc(sizeof *rem * L);
    x->draft = draft;
    x->remasked = rem;
    if (!draft || !rem)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "results: out of memory");
    memcpy(draft, jc->draft, sizeof *draft * L);
    memcpy(rem, jc->remasked, sizeof *rem * L);
    int32_t n = x->n; /* a var-length run's final end-of-text is not text */
    if (p->o.var_length && n > p->n_prompt + 1 && x->tokens[n - 1] == s->dn.eos_id)
        n--;
    x->ids = x->tokens + 1;
    x->n_ids = n - 1;
    char *text;
    DIDCL_TRY(didcl_tokenizer_decode(s->tok, x->ids, (size_t)x->n_ids, &text, &x->text_len));
    x->text = text;
    return DIDCL_OK;
}

/* The sample ended with a failure: the request's first one is kept (message with it). */
static void job_failed(job_ctx *jc, didcl_status status) {
    req_state *q = &jc->c->rq[jc->request];
    if (q->status != DIDCL_OK)
        return;
    q->status = status;
    char buf[ERR_MAX];
    snprintf(buf, sizeof buf, "sample %u: %s", jc->index, didcl_last_error());
    q->error = strdup(buf);
}

/* Hand the host its event of kind for the sampler's ev (SAMPLE_DONE: for the finished
 * sample x). Its nonzero answer cancels the sample, and with it the request. */
static int emit(job_ctx *jc, enum didcl_event_kind kind, const didcl_gen_event *ev,
                const didcl_sample *x) {
    call *c = jc->c;
    if (!c->on_event)
        return 0;
    didcl_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.request = jc->request;
    e.sample = jc->index;
    e.stage = x ? (uint32_t)x->n_stages : ev->stage;
    e.attempt = jc->attempts;
    e.n = x ? x->n : ev->n;
    e.start = ev->start;
    e.len = ev->len;
    e.remasked = ev->remasked;
    e.nfe = ev->nfe;
    e.n_prompt = c->rq[jc->request].p.n_prompt;
    e.seq = x ? x->tokens : ev->seq;
    e.trace = x ? x->trace : ev->traj;
    e.remasked_by = x ? x->remasked : jc->remasked;
    e.result = x;
    if (c->on_event(&e, c->user) == 0)
        return 0;
    didcl_fail(DIDCL_ERR_CANCELLED, "generation cancelled by the host (sample %u)", jc->index);
    job_failed(jc, DIDCL_ERR_CANCELLED);
    return 1;
}

static int observe(void *user, const didcl_gen_event *ev) {
    job_ctx *jc = user;
    call *c = jc->c;
    enum didcl_event_kind kind = DIDCL_EVENT_STAGE_START;
    switch (ev->kind) {
    case DIDCL_GEN_DONE: /* the finished sample: the public result, then its event */
        if (ev->status != DIDCL_OK) {
            job_failed(jc, ev->status);
            return 0;
        }
        didcl_status st = sample_make(jc, jc->res);
        if (st != DIDCL_OK) {
            job_failed(jc, st);
            return 1;
        }
        return emit(jc, DIDCL_EVENT_SAMPLE_DONE, ev, jc->out);
    case DIDCL_GEN_START: jc->attempts++; break;
    case DIDCL_GEN_REMASK:
        for (int32_t i = 0; i < ev->n; i++)
            if (ev->seq[i] == c->s->dn.mask_id && !(ev->traj[i].flags & DIDCL_REMASK_LOCKED))
                jc->remasked[i] |= 1u << (ev->stage - 2);
        break;
    case DIDCL_GEN_COMMIT: kind = DIDCL_EVENT_COMMIT; break;
    case DIDCL_GEN_BLOCK_DONE: kind = DIDCL_EVENT_BLOCK_DONE; break;
    case DIDCL_GEN_STAGE_DONE:
        if (ev->stage == 1)
            memcpy(jc->draft, ev->seq, sizeof *jc->draft * (size_t)ev->n);
        kind = DIDCL_EVENT_STAGE_DONE;
        break;
    }
    /* a request that failed in one sample stops its others at their next event */
    if (c->isolate && c->rq[jc->request].status != DIDCL_OK)
        return 1;
    return emit(jc, kind, ev, NULL);
}

static void stats_add(didcl_results *r, const didcl_sample *x) {
    if (x->n_stages > r->n_stages)
        r->n_stages = x->n_stages;
    if (x->batch > r->batch)
        r->batch = x->batch;
    r->generated += x->n_ids - x->n_prompt;
    for (int32_t k = 0; k < x->n_stages; k++) {
        didcl_stage_stats *a = &r->totals[k];
        const didcl_stage_stats *b = &x->stages[k];
        a->stage = b->stage;
        a->block = b->block;
        a->gamma = b->gamma;
        a->remasked += b->remasked;
        a->committed += b->committed;
        a->nfe += b->nfe;
        a->store_kv += b->store_kv;
        a->tries += b->tries;
        a->flops += b->flops;
        a->seconds += b->seconds;
    }
}

/* Plan the requests (a bad one fails the call, or alone when isolating), then run every
 * planned sample as one sampler group: samples[] (request then sample order) receives
 * them. */
static didcl_status call_run(call *c, didcl_sample **samples_out, size_t *total_out,
                             double *load_seconds, double *compile_seconds) {
    didcl_session_t s = c->s;
    size_t total = 0;
    uint32_t L = 0, batchable = 0, rows = 0;
    for (size_t i = 0; i < c->n_req; i++) {
        req_state *q = &c->rq[i];
        q->first = total;
        if (q->status != DIDCL_OK)
            continue;
        total += q->p.samples;
        if ((uint32_t)q->p.o.length > L)
            L = (uint32_t)q->p.o.length;
        if (plan_rows(&q->p.o) > rows)
            rows = plan_rows(&q->p.o);
        if (!q->p.solo && didcl_gen_options_batchable(&q->p.o, &q->p.o))
            batchable += q->p.samples;
    }
    didcl_sample *samples = calloc(total ? total : 1, sizeof *samples);
    didcl_sampler_job *jobs = calloc(total ? total : 1, sizeof *jobs);
    job_ctx *jcs = calloc(total ? total : 1, sizeof *jcs);
    didcl_gen_result *res = calloc(total ? total : 1, sizeof *res);
    const size_t cells = (size_t)(L ? L : 1) * (total ? total : 1);
    uint32_t *rem = calloc(cells, sizeof *rem);
    int32_t *draft = calloc(cells, sizeof *draft);
    *samples_out = samples;
    *total_out = total;
    if (!samples || !jobs || !jcs || !res || !rem || !draft) {
        free(jobs);
        free(jcs);
        free(res);
        free(rem);
        free(draft);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "generate: out of memory for %zu samples",
                          total);
    }
    didcl_status st = DIDCL_OK;
    if (total) {
        uint32_t nb = batchable < s->max_batch ? batchable : s->max_batch;
        st = session_ready(s, L, nb > 1 ? nb : 1, rows, load_seconds, compile_seconds);
    }
    for (size_t i = 0, j = 0; st == DIDCL_OK && i < c->n_req; i++) {
        req_state *q = &c->rq[i];
        for (uint32_t k = 0; q->status == DIDCL_OK && k < q->p.samples; k++, j++) {
            jcs[j] = (job_ctx){c, (uint32_t)i, k, 0, 0, rem + j * L, draft + j * L, &res[j],
                               &samples[j]};
            jobs[j] = (didcl_sampler_job){&q->p.o, q->p.prompt, q->p.n_prompt, k,
                                          q->p.remask, q->p.solo,
                                          observe, &jcs[j]};
        }
    }
    didcl_status *jst = calloc(total ? total : 1, sizeof *jst);
    if (st == DIDCL_OK && !jst)
        st = didcl_fail(DIDCL_ERR_NO_MEMORY, "generate: out of memory for %zu samples", total);
    if (st == DIDCL_OK && total)
        st = didcl_sampler_run_group(&s->dn, jobs, (uint32_t)total, c->isolate, res, jst);
    for (size_t j = 0; st == DIDCL_OK && j < total; j++) /* a failure no event told of */
        if (jst[j] != DIDCL_OK || !jcs[j].made) {
            didcl_fail(jst[j] != DIDCL_OK ? jst[j] : DIDCL_ERR_CANCELLED, "not generated (%s)",
                       didcl_status_str(jst[j]));
            job_failed(&jcs[j], jst[j] != DIDCL_OK ? jst[j] : DIDCL_ERR_CANCELLED);
        }
    free(jst);
    for (size_t j = 0; j < total; j++) {
        didcl_gen_result_free(&res[j]);
        /* a sample made but then refused (its request failed) is not returned */
        if (jcs[j].made && (st != DIDCL_OK || c->rq[jcs[j].request].status != DIDCL_OK)) {
            sample_free(&samples[j]);
            memset(&samples[j], 0, sizeof samples[j]);
            jcs[j].made = 0;
        }
    }
    if (st != DIDCL_OK && !c->isolate) {
        for (size_t i = 0; i < c->n_req; i++) /* the failing sample, with its request */
            if (c->rq[i].status != DIDCL_OK && c->rq[i].error) {
                didcl_fail(c->rq[i].status, "%s", c->rq[i].error);
                break;
            }
    }
    free(jobs);
    free(jcs);
    free(res);
    free(rem);
    free(draft);
    return st;
}

/* Plan every request: all or nothing, or each alone (isolate). */
static didcl_status call_plan(call *c, const didcl_request *reqs) {
    for (size_t i = 0; i < c->n_req; i++) {
        didcl_status st = plan_make(c->s, &reqs[i], &c->rq[i].p);
        if (st == DIDCL_OK)
            continue;
        if (!c->isolate) {
            if (c->n_req > 1)
                didcl_fail_context(st, "request %zu", i);
            return st;
        }
        c->rq[i].status = st;
        c->rq[i].error = strdup(didcl_last_error());
    }
    return DIDCL_OK;
}

static void call_free(call *c) {
    for (size_t i = 0; c->rq && i < c->n_req; i++) {
        plan_free(&c->rq[i].p);
        free(c->rq[i].error);
    }
    free(c->rq);
}

didcl_status didcl_session_generate(didcl_session_t s, const didcl_request *reqs, size_t n_req,
                                    didcl_event_fn on_event, void *user, didcl_results **out) {
    if (!s)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "session: NULL handle");
    if (!out || (!reqs && n_req))
        return session_fail(s, didcl_fail(DIDCL_ERR_INVALID_ARG, "generate: %s is NULL",
                                          out ? "the request array" : "the results pointer"));
    const double t0 = now_s();
    didcl_profile prof0;
    if (didcl_runtime_profile(s->rt, &prof0) != DIDCL_OK)
        return session_fail(s, DIDCL_ERR_OPENCL);
    call c = {s, calloc(n_req ? n_req : 1, sizeof *c.rq), n_req, on_event, user, 0};
    didcl_results *r = calloc(1, sizeof *r);
    didcl_status st = c.rq && r ? DIDCL_OK
                                : didcl_fail(DIDCL_ERR_NO_MEMORY, "generate: out of memory");
    if (st == DIDCL_OK)
        st = call_plan(&c, reqs);
    didcl_sample *samples = NULL;
    size_t total = 0;
    if (st == DIDCL_OK) {
        st = call_run(&c, &samples, &total, &r->load_seconds, &r->compile_seconds);
        r->samples = samples;
    }
    for (size_t i = 0; st != DIDCL_OK && n_req > 1 && i < n_req; i++)
        if (c.rq && c.rq[i].status != DIDCL_OK && c.rq[i].error) {
            didcl_fail(c.rq[i].status, "request %zu: %s", i, c.rq[i].error);
            break;
        }
    call_free(&c);
    if (st != DIDCL_OK) {
        if (!r)
            free(samples);
        else
            r->n = 0;
        didcl_results_free(r);
        return session_fail(s, st);
    }
    r->n = total;
    r->error = "";
    for (size_t i = 0; i < r->n; i++)
        stats_add(r, &r->samples[i]);
    if (didcl_runtime_profile(s->rt, &r->profile) != DIDCL_OK) {
        didcl_results_free(r);
        return session_fail(s, DIDCL_ERR_OPENCL);
    }
    for (int k = 0; k < DIDCL_TIME_KINDS; k++) {
        r->profile.seconds[k] -= prof0.seconds[k];
        r->profile.commands[k] -= prof0.commands[k];
    }
    r->seconds = now_s() - t0 - r->load_seconds - r->compile_seconds;
    *out = r;
    s->err[0] = '\0';
    return DIDCL_OK;
}

didcl_status didcl_session_generate_each(didcl_session_t s, const didcl_request *reqs,
                                         size_t n_req, didcl_event_fn on_event, void *user,
                                         didcl_results **out) {
    if (!s)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "session: NULL handle");
    if (!out || (!reqs && n_req))
        return session_fail(s, didcl_fail(DIDCL_ERR_INVALID_ARG, "generate: %s is NULL",
                                          out ? "the request array" : "the results array"));
    for (size_t i = 0; i < n_req; i++)
        out[i] = NULL;
    const double t0 = now_s();
    call c = {s, calloc(n_req ? n_req : 1, sizeof *c.rq), n_req, on_event, user, 1};
    didcl_status st = c.rq ? DIDCL_OK : didcl_fail(DIDCL_ERR_NO_MEMORY, "generate: out of memory");
    for (size_t i = 0; st == DIDCL_OK && i < n_req; i++)
        if (!(out[i] = calloc(1, sizeof *out[i])))
            st = didcl_fail(DIDCL_ERR_NO_MEMORY, "generate: out of memory");
    if (st == DIDCL_OK)
        st = call_plan(&c, reqs);
    didcl_sample *samples = NULL;
    size_t total = 0;
    double load = 0.0, compile = 0.0;
    if (st == DIDCL_OK)
        st = call_run(&c, &samples, &total, &load, &compile);
    const double seconds = now_s() - t0 - load - compile;
    didcl_status first = DIDCL_OK;
    for (size_t i = 0; st == DIDCL_OK && i < n_req; i++) {
        req_state *q = &c.rq[i];
        didcl_results *r = out[i];
        r->load_seconds = load;
        r->compile_seconds = compile;
        r->seconds = seconds;
        r->status = q->status;
        r->error = "";
        if (q->status != DIDCL_OK) {
            r->error = q->error; /* handed over: freed with r */
            q->error = NULL;
            if (!r->error)
                r->error = strdup(didcl_status_str(q->status));
            if (first == DIDCL_OK)
                first = q->status;
            continue;
        }
        didcl_sample *x = malloc(sizeof *x * (q->p.samples ? q->p.samples : 1));
        if (!x) {
            r->status = first = DIDCL_ERR_NO_MEMORY;
            r->error = strdup("results: out of memory");
            continue;
        }
        memcpy(x, samples + q->first, sizeof *x * q->p.samples);
        memset(samples + q->first, 0, sizeof *x * q->p.samples);
        r->samples = x;
        r->n = q->p.samples;
        for (size_t k = 0; k < r->n; k++) {
            x[k].request = (uint32_t)i;
            stats_add(r, &x[k]);
        }
    }
    if (samples) { /* what no request took (out of memory above) */
        for (size_t j = 0; j < total; j++)
            sample_free(&samples[j]);
        free(samples);
    }
    call_free(&c);
    if (st != DIDCL_OK) {
        for (size_t i = 0; i < n_req; i++) {
            didcl_results_free(out[i]);
            out[i] = NULL;
        }
        return session_fail(s, st);
    }
    if (first != DIDCL_OK) {
        for (size_t i = 0; i < n_req; i++)
            if (out[i]->status != DIDCL_OK) {
                snprintf(s->err, sizeof s->err, "request %zu: %s", i, out[i]->error);
                break;
            }
        return first;
    }
    s->err[0] = '\0';
    return DIDCL_OK;
}

didcl_status didcl_session_prepare(didcl_session_t s, const didcl_request *req,
                                   double *compile_seconds) {
    if (!s)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "session: NULL handle");
    if (!req)
        return session_fail(s, didcl_fail(DIDCL_ERR_INVALID_ARG, "prepare: NULL request"));
    plan p;
    memset(&p, 0, sizeof p);
    double load = 0.0, compile = 0.0;
    didcl_status st = plan_make(s, req, &p);
    if (st == DIDCL_OK)
        st = session_ready(s, (uint32_t)p.o.length, plan_batch(s, &p), plan_rows(&p.o), &load,
                           &compile);
    plan_free(&p);
    if (st != DIDCL_OK)
        return session_fail(s, st);
    if (compile_seconds)
        *compile_seconds = compile;
    s->err[0] = '\0';
    return DIDCL_OK;
}

/*
 * serve.c — `didcl serve`: an OpenAI-compatible HTTP server (libmicrohttpd) over the
 * public session API. Endpoints: POST /v1/completions (JSON or server-sent events),
 * GET /v1/models, /health, /metrics (Prometheus text) and GET / (the playground page,
 * serve_page.c). docs/serve.md documents the fields, the SSE events and the batching.
 *
 * Threads: libmicrohttpd runs one thread per connection; they parse and check requests
 * (with their own tokenizer handle, under a mutex, to count prompt tokens) and put them
 * in a bounded FIFO. One worker thread per --device owns a session (a session is
 * single-threaded: its own device context and model copy). A free worker takes the
 * queue's head with the queued requests that can share its lockstep batches (up to
 * --batch samples and its share of the queue when other workers are free) and runs them
 * as one didcl_session_generate_each call: their samples are drafted together, and each
 * request succeeds or fails alone. The worker's event callback writes the SSE stream of
 * a request into the request's buffer, which the connection thread sends; it cancels
 * that request (returns nonzero) when its client has gone, it timed out or the server is
 * stopping for good.
 *
 * One mutex (G.mu) guards the queue, every job's outputs and the metrics; one condition
 * variable (G.cv) is broadcast whenever any of them changes.
 *
 * Exit status: 0 after a clean stop (SIGINT/SIGTERM), 2 usage errors, 1 runtime errors.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

extern const char didcl_cli_serve_page[];

static const char USAGE[] =
    "usage: didcl serve [--model DIR] [--tokenizer PATH] [--device D] [--host ADDR]\n"
    "                   [--port N] [--api-key K] [--max-queue N] [--batch N]\n"
    "                   [--timeout S] [--max-body BYTES] [--half] [--plugin-path DIR]\n"
    "                   [--quiet]\n"
    "Serve the model over an OpenAI-compatible HTTP API: POST /v1/completions (with\n"
    "stream=true: server-sent events), GET /v1/models, /health, /metrics and a playground\n"
    "page at /. SIGINT or SIGTERM stops it: queued requests get 503, the running one\n"
    "finishes (a second signal cancels it with an error). See docs/serve.md.\n"
    "  --model DIR         BD3-LM checkpoint (default: the installed default model)\n"
    "  --tokenizer PATH    tokenizer when DIR has none\n"
    "  --device D[,D...]   OpenCL device(s), P:D or a name substring (see didcl devices);\n"
    "                      several (or --device again): one worker and model copy each\n"
    "  --host ADDR         IPv4 or IPv6 address to listen on (127.0.0.1; 0.0.0.0 or ::)\n"
    "  --port N            TCP port (8080; 0 picks a free one, printed on stderr)\n"
    "  --api-key K         require 'Authorization: Bearer K' on /v1/ and /metrics\n"
    "  --max-queue N       requests waiting for the worker before 503 (64)\n"
    "  --batch N           samples drafted in lockstep, of one request or of queued\n"
    "                      requests together, 1 to 64 (16)\n"
    "  --timeout S         seconds a request may wait and run, then 504 (600; 0 = none)\n"
    "  --max-body BYTES    largest request body, else 413 (1048576)\n"
    "  --half              large weight matrices as half floats on the device\n"
    "  --plugin-path DIR   extra ':'-separated remask plugin directories, searched first\n"
    "  --quiet             no log lines on stderr\n";

#define usage_error(...) didcl_cli_usage_error("serve", __VA_ARGS__)
#define MAX_STOP 4
#define MAX_N 64

/* ---- the server's state ---- */

enum cancel_kind { CANCEL_NONE = 0, CANCEL_CLIENT, CANCEL_TIMEOUT, CANCEL_SHUTDOWN };
enum job_state { JOB_QUEUED = 0, JOB_CHECKING, JOB_RUNNING, JOB_DONE };

/* Error kinds counted by /metrics (didcl_errors_total{kind=...}). */
static const char *const ERROR_KINDS[] = {
    "invalid_json", "invalid_type", "invalid_value", "model_not_found", "not_found",
    "method_not_allowed", "body_too_large", "unauthorized", "queue_full", "shutting_down",
    "timeout", "client_gone", "plugin", "internal",
};
enum { N_ERROR_KINDS = sizeof ERROR_KINDS / sizeof ERROR_KINDS[0] };

typedef struct sample_state {
    int32_t *prev;      /* (L,) the sequence as last seen by events */
    int32_t *old;       /* (L,) the token a revision remasked at each position */
    char *raw;          /* progressive streaming: bytes of the finished draft so far */
    size_t raw_len, raw_cap, raw_sent; /* raw_sent: bytes of raw already sent as text */
    int32_t pos_done;   /* progressive: next generated position to append */
    size_t sent;        /* bytes of the final text already sent as deltas */
} sample_state;

typedef struct job {
    struct job *next;
    int refs;
    unsigned long id;
    double t_enqueue, deadline;
    /* the request, fixed once queued */
    char *prompt;               /* text (prompt_len bytes) or NULL */
    size_t prompt_len;
    int32_t *prompt_ids;        /* or ids */
    size_t n_prompt_ids;
    int32_t n_prompt;           /* prompt tokens (counted before queueing) */
    int32_t max_tokens;
    didcl_gen_options o;
    char *remask;
    uint32_t n;
    char *stop[MAX_STOP];
    int n_stop;
    int stream, events, include_usage, progressive;
    int fd;                     /* the client's socket, to notice a hang-up */
    /* outputs, under G.mu */
    enum job_state state;
    int in_queue;
    enum cancel_kind cancel;
    int status;                 /* HTTP status of a non-streamed reply (or a refusal) */
    char *body;                 /* its JSON body */
    char *sse;                  /* stream: bytes not yet sent */
    size_t sse_len, sse_off, sse_cap;
    /* worker-only */
    sample_state *ss;
    int32_t L;
} job;

/* One worker thread per --device: its own session (device, model copy). */
typedef struct worker {
    int index;
    didcl_session_t s;
    pthread_t thread;
    char device[256];
    unsigned long long completions, calls; /* under G.mu */
} worker;

#define MAX_WORKERS 16
#define MAX_TAKE DIDCL_MAX_BATCH /* jobs one generate call takes */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int queued, max_queue;
    int stopping, aborting;
    worker workers[MAX_WORKERS];
    int n_workers, idle, workers_done;
    uint32_t batch;             /* --batch: samples one generate call takes */
    double timeout;
    size_t max_body;
    const char *api_key;
    int quiet;
    unsigned long next_id;
    const didcl_model_config *cfg; /* a copy: connection threads never touch a session */
    didcl_model_config cfg_copy;
    char model_id[256];
    char model_path[PATH_MAX];
    const char *plugin_path;
    didcl_tokenizer_t tok;      /* the connection threads' own handle, under tok_mu */
    pthread_mutex_t tok_mu;
    didcl_tokenizer_t wtok;     /* worker 0's session's: read-only token lookups */
    time_t started;
    /* metrics */
    unsigned long long req_total[6]; /* completions, models, health, metrics, page, other */
    unsigned long long resp_class[6]; /* by status / 100 */
    unsigned long long errors[N_ERROR_KINDS];
    unsigned long long gen_tokens, prompt_tokens, nfe, samples, completions_ok;
    unsigned long long batch_sum, batch_calls, call_requests;
    double gen_seconds, flops, load_seconds;
    int running;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
       .tok_mu = PTHREAD_MUTEX_INITIALIZER};

static void logf_(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void logf_(const char *fmt, ...) {
    if (G.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("didcl serve: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void count_error(const char *kind) {
    for (int i = 0; i < N_ERROR_KINDS; i++)
        if (!strcmp(ERROR_KINDS[i], kind)) {
            G.errors[i]++;
            return;
        }
}

/* ---- text helpers ---- */

/* Bytes of the UTF-8 character starting with lead byte c (0: not a lead byte). */
static size_t utf8_need(unsigned char c) {
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

/* Append the valid UTF-8 text of s[*i, n) to out (invalid bytes as U+FFFD), stopping
 * before an incomplete character at the end unless final. Advances *i. */
static void utf8_clean_into(const char *s, size_t n, size_t *i, int final, char **out,
                            size_t *olen, size_t *ocap) {
    while (*i < n) {
        const unsigned char *p = (const unsigned char *)s + *i;
        size_t l = didcl_cli_utf8_len(p, n - *i), need = utf8_need(p[0]);
        const char *src = (const char *)p;
        size_t add = l;
        if (l == 0) {
            if (!final && need > n - *i) { /* maybe the start of a character: wait */
                int cont = 1;
                for (size_t k = 1; k < n - *i; k++)
                    cont &= (p[k] & 0xc0) == 0x80;
                if (cont)
                    return;
            }
            src = "\xef\xbf\xbd";
            add = 3;
        }
        if (*olen + add + 1 > *ocap) {
            size_t cap = *ocap ? *ocap * 2 : 256;
            while (cap < *olen + add + 1)
                cap *= 2;
            char *t = realloc(*out, cap);
            if (!t)
                return;
            *out = t;
            *ocap = cap;
        }
        memcpy(*out + *olen, src, add);
        *olen += add;
        (*out)[*olen] = '\0';
        *i += l ? l : 1;
    }
}

/* Valid UTF-8 copy of s (n bytes), malloc'd, NUL-terminated; *len its length. */
static char *utf8_clean(const char *s, size_t n, size_t *len) {
    char *out = NULL;
    size_t olen = 0, ocap = 0, i = 0;
    utf8_clean_into(s, n, &i, 1, &out, &olen, &ocap);
    if (!out)
        out = strdup("");
    *len = olen;
    return out;
}

static json_t *jstr(const char *s, size_t n) {
    size_t l;
    char *c = utf8_clean(s, n, &l);
    json_t *j = c ? json_stringn(c, l) : json_string("");
    free(c);
    return j;
}

static json_t *tok_text(didcl_tokenizer_t tok, int32_t id) {
    size_t n = 0;
    const char *b = didcl_tokenizer_token_bytes(tok, id, &n);
    return jstr(b ? b : "", b ? n : 0);
}

/* ---- error bodies ---- */

typedef struct err {
    int status;
    char message[512];
    const char *type, *param, *code, *kind;
} err;

static int fail(err *e, int status, const char *kind, const char *param, const char *code,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
static int fail(err *e, int status, const char *kind, const char *param, const char *code,
                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = status;
    e->kind = kind;
    e->param = param;
    e->code = code;
    e->type = status == 401   ? "authentication_error"
              : status >= 500 ? "server_error"
              : status == 404 ? "not_found_error"
                              : "invalid_request_error";
    return -1;
}

static json_t *error_json(const err *e) {
    return json_pack("{s:{s:o,s:s,s:o,s:o}}", "error", "message",
                     jstr(e->message, strlen(e->message)), "type", e->type, "param",
                     e->param ? json_string(e->param) : json_null(), "code",
                     e->code ? json_string(e->code) : json_null());
}

static char *error_body(const err *e) {
    json_t *j = error_json(e);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* The request field a library message is about (for "param"). */
static const char *guess_param(const char *msg) {
    const char *sp = strstr(msg, "stage ");
    if (sp && sp[6] >= '2' && sp[6] <= '9') /* "stage K: ...": a revision stage */
        return "revise";
    static const struct { const char *needle, *param; } map[] = {
        {"remask", "remask"},       {"revise", "revise"},         {"prompt", "prompt"},
        {"block", "block"},         {"threshold", "threshold"},   {"steps", "steps"},
        {"top_p", "top_p"},         {"top-p", "top_p"},           {"temperature", "temperature"},
        {"length", "max_tokens"},   {"mask token", "prompt"},     {"UTF-8", "prompt"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strstr(msg, map[i].needle))
            return map[i].param;
    return NULL;
}

/* ---- jobs ---- */

static void job_release(job *j) { /* G.mu held */
    if (--j->refs > 0)
        return;
    free(j->prompt);
    free(j->prompt_ids);
    free(j->remask);
    for (int i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    free(j->body);
    free(j->sse);
    if (j->ss) {
        for (uint32_t i = 0; i < j->n; i++) {
            free(j->ss[i].prev);
            free(j->ss[i].old);
            free(j->ss[i].raw);
        }
        free(j->ss);
    }
    free(j);
}

/* Append to the job's SSE buffer (G.mu held). */
static void sse_put(job *j, const char *s, size_t n) {
    if (j->sse_len + n > j->sse_cap) {
        size_t cap = j->sse_cap ? j->sse_cap * 2 : 4096;
        while (cap < j->sse_len + n)
            cap *= 2;
        char *t = realloc(j->sse, cap);
        if (!t)
            return;
        j->sse = t;
        j->sse_cap = cap;
    }
    memcpy(j->sse + j->sse_len, s, n);
    j->sse_len += n;
}

/* One SSE event: "event: NAME\n" (when NAME) and "data: JSON\n\n"; takes obj. */
static void sse_event(job *j, const char *name, json_t *obj) {
    char *d = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!d)
        return;
    pthread_mutex_lock(&G.mu);
    if (name) {
        sse_put(j, "event: ", 7);
        sse_put(j, name, strlen(name));
        sse_put(j, "\n", 1);
    }
    sse_put(j, "data: ", 6);
    sse_put(j, d, strlen(d));
    sse_put(j, "\n\n", 2);
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
    free(d);
}

static json_t *chunk_json(const job *j, json_t *choices) {
    char id[64];
    snprintf(id, sizeof id, "cmpl-%lu", j->id);
    return json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", id, "object", "text_completion", "created",
                     (json_int_t)time(NULL), "model", G.model_id, "choices", choices);
}

static void send_delta(job *j, uint32_t index, const char *text, size_t len) {
    if (!len)
        return;
    json_t *c = json_pack("[{s:I,s:o,s:n,s:n}]", "index", (json_int_t)index, "text",
                          json_stringn(text, len), "logprobs", "finish_reason");
    sse_event(j, NULL, chunk_json(j, c));
}

static json_t *stages_json(const didcl_stage_stats *st, int32_t n) {
    json_t *a = json_array();
    for (int32_t k = 0; k < n; k++)
        json_array_append_new(
            a, json_pack("{s:i,s:i,s:f,s:i,s:i,s:i,s:i,s:f,s:f}", "stage", st[k].stage, "block",
                         st[k].block, "gamma", st[k].gamma, "remasked", st[k].remasked,
                         "committed", st[k].committed, "nfe", st[k].nfe, "store_kv",
                         st[k].store_kv, "flops", st[k].flops, "seconds", st[k].seconds));
    return a;
}

/* The text a finished sample answers with: its generated tokens (at most max_tokens),
 * as valid UTF-8, cut before the first stop string. finish_reason and the completion
 * tokens (those starting before the cut) too. */
typedef struct final_text {
    char *text;
    size_t len;
    const char *finish;
    int32_t tokens;
    size_t *ends; /* (tokens,) byte offset in text where each token ends (approximate
                     after invalid UTF-8) */
} final_text;

static void final_text_make(const job *j, const didcl_sample *x, final_text *f) {
    memset(f, 0, sizeof *f);
    int32_t n_gen = x->n_ids - x->n_prompt;
    if (n_gen < 0)
        n_gen = 0;
    const int32_t *ids = x->ids + x->n_prompt;
    int stopped_eos = j->o.var_length && x->n < j->L;
    f->finish = stopped_eos ? "stop" : "length";
    if (n_gen > j->max_tokens)
        n_gen = j->max_tokens;
    size_t cap = 64, len = 0;
    char *raw = malloc(cap);
    size_t *rends = calloc((size_t)n_gen + 1, sizeof *rends);
    for (int32_t i = 0; raw && rends && i < n_gen; i++) {
        size_t l = 0;
        const char *b = didcl_tokenizer_token_bytes(G.wtok, ids[i], &l);
        if (!b)
            l = 0;
        if (len + l > cap) {
            while (len + l > cap)
                cap *= 2;
            char *t = realloc(raw, cap);
            if (!t)
                break;
            raw = t;
        }
        memcpy(raw + len, b, l);
        len += l;
        rends[i] = len;
    }
    f->text = utf8_clean(raw ? raw : "", raw ? len : 0, &f->len);
    free(raw);
    size_t cut = f->len;
    for (int k = 0; k < j->n_stop; k++) {
        const char *p = memmem(f->text, f->len, j->stop[k], strlen(j->stop[k]));
        if (p && (size_t)(p - f->text) < cut)
            cut = (size_t)(p - f->text);
    }
    int32_t toks = n_gen;
    if (cut < f->len) {
        f->finish = "stop";
        f->len = cut;
        f->text[cut] = '\0';
        toks = 0;
        while (toks < n_gen && (toks == 0 ? 0 : rends[toks - 1]) < cut)
            toks++;
    }
    f->tokens = toks;
    f->ends = rends;
    for (int32_t i = 0; rends && i < toks; i++)
        if (rends[i] > f->len)
            rends[i] = f->len;
}

static void final_text_free(final_text *f) {
    free(f->text);
    free(f->ends);
}

/* ---- the workers: one session each; the queued jobs they take run together ---- */

typedef struct run_ctx {
    job *j;
    int64_t completion_tokens;
} run_ctx;

static int job_cancelled(job *j) {
    pthread_mutex_lock(&G.mu);
    if (!j->cancel && j->deadline > 0 && didcl_cli_now() > j->deadline)
        j->cancel = CANCEL_TIMEOUT;
    if (!j->cancel && G.aborting)
        j->cancel = CANCEL_SHUTDOWN;
    int c = j->cancel != CANCEL_NONE;
    pthread_mutex_unlock(&G.mu);
    return c;
}

static json_t *positions_json(const int32_t *pos, int32_t n) {
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(pos[i]));
    return a;
}

/* Progressive streaming (no revision): stage-1 blocks are final as they finish. */
static void progressive_block(job *j, const didcl_event *ev, sample_state *st) {
    int32_t limit = ev->start + ev->len, cap = 1 + j->n_prompt + j->max_tokens;
    if (limit > cap)
        limit = cap;
    for (; st->pos_done < limit; st->pos_done++) {
        size_t l = 0;
        const char *b = didcl_tokenizer_token_bytes(G.wtok, ev->seq[st->pos_done], &l);
        if (!b)
            continue;
        if (st->raw_len + l > st->raw_cap) {
            size_t cap2 = st->raw_cap ? st->raw_cap * 2 : 256;
            while (cap2 < st->raw_len + l)
                cap2 *= 2;
            char *t = realloc(st->raw, cap2);
            if (!t)
                return;
            st->raw = t;
            st->raw_cap = cap2;
        }
        memcpy(st->raw + st->raw_len, b, l);
        st->raw_len += l;
    }
    char *out = NULL;
    size_t olen = 0, ocap = 0;
    utf8_clean_into(st->raw, st->raw_len, &st->raw_sent, 0, &out, &olen, &ocap);
    if (olen) {
        send_delta(j, ev->sample, out, olen);
        st->sent += olen;
    }
    free(out);
}

static int on_event(const didcl_event *ev, void *user) {
    run_ctx *rc = (run_ctx *)user + ev->request;
    job *j = rc->j;
    if (job_cancelled(j))
        return 1;
    if (!j->stream || ev->sample >= j->n)
        return 0;
    sample_state *st = &j->ss[ev->sample];
    const int32_t mask = G.cfg->mask_token_id;
    switch (ev->kind) {
    case DIDCL_EVENT_STAGE_START:
        if (ev->stage == 1) {
            for (int32_t p = 0; p < ev->n && p < j->L; p++)
                st->prev[p] = ev->seq[p];
            if (j->events) {
                json_t *pr = json_array();
                for (int32_t p = 1; p <= ev->n_prompt && p < ev->n; p++)
                    json_array_append_new(pr, json_pack("{s:i,s:i,s:o}", "pos", p, "id",
                                                        ev->seq[p], "text",
                                                        tok_text(G.wtok, ev->seq[p])));
                sse_event(j, "didcl.start",
                          json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:o}", "sample", ev->sample,
                                    "attempt", ev->attempt, "length", ev->n, "n_prompt",
                                    ev->n_prompt, "block", j->o.block, "stages",
                                    1 + j->o.n_revisions, "prompt", pr));
            }
        } else if (j->events) {
            int32_t *pos = malloc(sizeof *pos * (size_t)(ev->n > 0 ? ev->n : 1));
            int32_t np = 0;
            json_t *olds = json_array();
            for (int32_t p = 0; pos && p < ev->n && p < j->L; p++)
                if (ev->seq[p] == mask && st->prev[p] != mask) {
                    st->old[p] = st->prev[p];
                    st->prev[p] = mask;
                    pos[np++] = p;
                    json_array_append_new(olds, tok_text(G.wtok, st->old[p]));
                }
            sse_event(j, "didcl.remask",
                      json_pack("{s:i,s:i,s:i,s:o,s:o}", "sample", ev->sample, "stage",
                                ev->stage, "remasked", ev->remasked, "positions",
                                positions_json(pos, np), "old_text", olds));
            free(pos);
        }
        break;
    case DIDCL_EVENT_COMMIT:
        if (j->events) {
            json_t *toks = json_array();
            for (int32_t p = ev->start; p < ev->start + ev->len && p < ev->n && p < j->L; p++)
                if (ev->seq[p] != mask && st->prev[p] == mask) {
                    st->prev[p] = ev->seq[p];
                    json_t *t = json_pack("{s:i,s:i,s:o}", "pos", p, "id", ev->seq[p], "text",
                                          tok_text(G.wtok, ev->seq[p]));
                    if (ev->stage > 1) {
                        json_object_set_new(t, "old", json_integer(st->old[p]));
                        json_object_set_new(t, "old_text", tok_text(G.wtok, st->old[p]));
                    }
                    json_array_append_new(toks, t);
                }
            sse_event(j, "didcl.commit",
                      json_pack("{s:i,s:i,s:i,s:i,s:i,s:o}", "sample", ev->sample, "stage",
                                ev->stage, "start", ev->start, "len", ev->len, "nfe", ev->nfe,
                                "tokens", toks));
        }
        break;
    case DIDCL_EVENT_BLOCK_DONE:
        if (j->events)
            sse_event(j, "didcl.block",
                      json_pack("{s:i,s:i,s:i,s:i}", "sample", ev->sample, "stage", ev->stage,
                                "start", ev->start, "len", ev->len));
        if (j->progressive && ev->stage == 1)
            progressive_block(j, ev, st);
        break;
    case DIDCL_EVENT_STAGE_DONE:
        if (j->events)
            sse_event(j, "didcl.stage_done",
                      json_pack("{s:i,s:i,s:i,s:i}", "sample", ev->sample, "stage", ev->stage,
                                "n", ev->n, "nfe", ev->nfe));
        break;
    case DIDCL_EVENT_SAMPLE_DONE: {
        const didcl_sample *x = ev->result;
        final_text f;
        final_text_make(j, x, &f);
        if (st->sent > f.len)
            st->sent = f.len; /* cannot happen: the streamed draft was final */
        /* the rest of the final text, in pieces at token boundaries */
        size_t at = st->sent;
        for (int32_t t = 0; t < f.tokens && at < f.len; t++) {
            size_t e = f.ends ? f.ends[t] : f.len;
            while (e < f.len && ((unsigned char)f.text[e] & 0xc0) == 0x80)
                e++;
            if (t == f.tokens - 1)
                e = f.len;
            if (e > at) {
                send_delta(j, ev->sample, f.text + at, e - at);
                at = e;
            }
        }
        if (at < f.len)
            send_delta(j, ev->sample, f.text + at, f.len - at);
        st->sent = f.len;
        rc->completion_tokens += f.tokens;
        json_t *c = json_pack("[{s:I,s:s,s:n,s:s,s:{s:o}}]", "index", (json_int_t)ev->sample,
                              "text", "", "logprobs", "finish_reason", f.finish, "didcl",
                              "stages", stages_json(x->stages, x->n_stages));
        if (j->events)
            sse_event(j, "didcl.sample",
                      json_pack("{s:i,s:s%,s:s,s:o}", "sample", ev->sample, "text", f.text, f.len,
                                "finish_reason", f.finish, "stages",
                                stages_json(x->stages, x->n_stages)));
        sse_event(j, NULL, chunk_json(j, c));
        final_text_free(&f);
        break;
    }
    }
    return 0;
}

/* Finish a job with an error (G.mu not held). */
static void job_fail(job *j, const err *e) {
    pthread_mutex_lock(&G.mu);
    count_error(e->kind);
    if (j->stream && j->state == JOB_RUNNING) {
        pthread_mutex_unlock(&G.mu);
        json_t *ej = error_json(e);
        sse_event(j, NULL, ej);
        pthread_mutex_lock(&G.mu);
        sse_put(j, "data: [DONE]\n\n", 14);
    }
    j->status = e->status;
    free(j->body);
    j->body = error_body(e);
    j->state = JOB_DONE;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
}

/* Check a job against the worker's session and set up its stream state; on failure the
 * job is answered and 0 returned. */
static int job_prepare(worker *w, job *j, didcl_request *rq) {
    *rq = didcl_request_default();
    rq->prompt = j->prompt;
    rq->prompt_len = j->prompt_len;
    rq->prompt_ids = j->prompt_ids;
    rq->n_prompt_ids = j->n_prompt_ids;
    rq->options = j->o;
    rq->remask = j->remask;
    rq->samples = j->n;
    err e;
    didcl_gen_options resolved;
    didcl_status st = didcl_session_check(w->s, rq, &resolved);
    if (st != DIDCL_OK) {
        const char *msg = didcl_session_error(w->s);
        int plugin = st == DIDCL_ERR_PLUGIN;
        fail(&e, 400, plugin ? "plugin" : "invalid_value", guess_param(msg),
             plugin ? "plugin_error" : "invalid_value", "%s", msg);
        job_fail(j, &e);
        return 0;
    }
    j->o = resolved;
    rq->options = resolved;
    j->L = resolved.length;
    j->ss = calloc(j->n, sizeof *j->ss);
    for (uint32_t i = 0; j->ss && i < j->n; i++) {
        j->ss[i].prev = calloc((size_t)j->L, sizeof(int32_t));
        j->ss[i].old = calloc((size_t)j->L, sizeof(int32_t));
        j->ss[i].pos_done = 1 + j->n_prompt;
        if (!j->ss[i].prev || !j->ss[i].old)
            j->ss = NULL; /* leaks little; reported below */
    }
    if (!j->ss) {
        fail(&e, 500, "internal", NULL, "no_memory", "out of memory");
        job_fail(j, &e);
        return 0;
    }
    return 1;
}

/* A job whose generation failed (st, msg): the answer its cause calls for. */
static void job_failed_run(job *j, didcl_status st, const char *msg) {
    err e;
    pthread_mutex_lock(&G.mu);
    enum cancel_kind cancel = j->cancel;
    pthread_mutex_unlock(&G.mu);
    if (st == DIDCL_ERR_CANCELLED || cancel) {
        if (cancel == CANCEL_TIMEOUT)
            fail(&e, 504, "timeout", NULL, "timeout",
                 "the request ran past the server's timeout of %g s and was cancelled",
                 G.timeout);
        else if (cancel == CANCEL_SHUTDOWN)
            fail(&e, 503, "shutting_down", NULL, "shutting_down",
                 "the server is shutting down; the request was cancelled");
        else
            fail(&e, 499, "client_gone", NULL, "cancelled",
                 "the client closed the connection; the request was cancelled");
    } else if (st == DIDCL_ERR_PLUGIN) {
        fail(&e, 500, "plugin", "remask", "plugin_error", "%s", msg);
    } else {
        fail(&e, 500, "internal", NULL, didcl_status_str(st), "%s", msg);
    }
    logf_("request %lu failed: %s", j->id, e.message);
    job_fail(j, &e);
}

/* A job whose generation succeeded: its reply (or the rest of its stream). */
static void job_succeeded(worker *w, job *j, const didcl_results *res, size_t n_call,
                          double t0) {
    int64_t completion = 0;
    json_t *choices = json_array();
    for (size_t i = 0; i < res->n; i++) {
        final_text f;
        final_text_make(j, &res->samples[i], &f);
        completion += f.tokens;
        json_array_append_new(
            choices, json_pack("{s:I,s:s%,s:n,s:s,s:{s:o,s:I}}", "index",
                               (json_int_t)res->samples[i].index, "text", f.text, f.len,
                               "logprobs", "finish_reason", f.finish, "didcl", "stages",
                               stages_json(res->samples[i].stages, res->samples[i].n_stages),
                               "batch", (json_int_t)res->samples[i].batch));
        final_text_free(&f);
    }
    json_t *usage = json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)j->n_prompt,
                              "completion_tokens", (json_int_t)completion, "total_tokens",
                              (json_int_t)(j->n_prompt + completion));
    json_t *didcl = json_pack(
        "{s:I,s:i,s:i,s:s,s:o,s:f,s:f,s:I,s:I,s:I,s:i}", "seed", (json_int_t)j->o.seed,
        "length", j->L, "block", j->o.block, "remask", j->remask ? j->remask : "lowconf",
        "stages", stages_json(res->totals, res->n_stages), "seconds", res->seconds,
        "load_seconds", res->load_seconds, "batch", (json_int_t)res->batch, "generated",
        (json_int_t)res->generated, "requests", (json_int_t)n_call, "worker", w->index);
    int64_t nfe = 0;
    double flops = 0;
    for (int32_t k = 0; k < res->n_stages; k++) {
        nfe += res->totals[k].nfe;
        flops += res->totals[k].flops;
    }
    if (j->stream) {
        if (j->include_usage) {
            json_t *c = chunk_json(j, json_array());
            json_object_set_new(c, "usage", usage);
            json_object_set_new(c, "didcl", didcl);
            sse_event(j, NULL, c);
        } else {
            if (j->events)
                sse_event(j, "didcl.done", json_pack("{s:o,s:o}", "usage", usage, "didcl",
                                                     didcl));
            else {
                json_decref(usage);
                json_decref(didcl);
            }
        }
        json_decref(choices);
    } else {
        json_t *body = chunk_json(j, choices);
        json_object_set_new(body, "usage", usage);
        json_object_set_new(body, "didcl", didcl);
        char *s = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        pthread_mutex_lock(&G.mu);
        free(j->body);
        j->body = s;
        pthread_mutex_unlock(&G.mu);
    }
    pthread_mutex_lock(&G.mu);
    if (j->stream)
        sse_put(j, "data: [DONE]\n\n", 14);
    j->status = 200;
    j->state = JOB_DONE;
    G.completions_ok++;
    w->completions++;
    G.gen_tokens += (unsigned long long)completion;
    G.prompt_tokens += (unsigned long long)j->n_prompt;
    G.nfe += (unsigned long long)nfe;
    G.flops += flops;
    G.samples += res->n;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
    logf_("request %lu: %u sample(s), %d prompt + %lld tokens, NFE %lld, batch %u (%zu "
          "request(s), worker %d), %.2f s", j->id, j->n, j->n_prompt, (long long)completion,
          (long long)nfe, res->batch, n_call, w->index, didcl_cli_now() - t0);
}

/* Run the jobs a worker took as one didcl_session_generate_each call: their samples
 * share lockstep batches; each succeeds or fails alone. */
static void run_jobs(worker *w, job **jobs, size_t n) {
    didcl_request rq[MAX_TAKE];
    run_ctx rc[MAX_TAKE];
    job *run[MAX_TAKE];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (job_prepare(w, jobs[i], &rq[m])) {
            run[m] = jobs[i];
            rc[m] = (run_ctx){jobs[i], 0};
            m++;
        }
    if (!m)
        return;
    pthread_mutex_lock(&G.mu);
    for (size_t i = 0; i < m; i++)
        run[i]->state = JOB_RUNNING;
    G.running += (int)m;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);

    didcl_results *res[MAX_TAKE];
    double t0 = didcl_cli_now();
    didcl_session_generate_each(w->s, rq, m, on_event, rc, res);
    uint32_t batch = 0;
    double seconds = 0, load = 0;
    for (size_t i = 0; i < m; i++) {
        if (!res[i]) { /* the call itself failed */
            job_failed_run(run[i], DIDCL_ERR_NO_MEMORY, didcl_session_error(w->s));
            continue;
        }
        seconds = res[i]->seconds;
        load = res[i]->load_seconds;
        if (res[i]->status == DIDCL_OK) {
            if (res[i]->batch > batch)
                batch = res[i]->batch;
            job_succeeded(w, run[i], res[i], m, t0);
        } else {
            job_failed_run(run[i], res[i]->status, res[i]->error);
        }
        didcl_results_free(res[i]);
    }
    pthread_mutex_lock(&G.mu);
    G.running -= (int)m;
    G.gen_seconds += seconds;
    G.load_seconds += load;
    if (batch) {
        G.batch_sum += batch;
        G.batch_calls++;
        G.call_requests += m;
    }
    w->calls++;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
}

/* Take the queue's head and the queued jobs that can share its lockstep batches (same
 * block, nothing that makes samples diverge), up to --batch samples and to this worker's
 * share of the queue (the queue split over the idle workers), in order (G.mu held). */
static size_t queue_take(job **out) {
    const int share = (G.queued + G.idle) / (G.idle + 1); /* ceil(queued / workers free) */
    size_t n = 0;
    uint32_t samples = 0;
    job **pp = &G.head, *prev = NULL;
    while (*pp && n < MAX_TAKE && (int)n < share) {
        job *j = *pp;
        int ok = n == 0 || (samples + j->n <= G.batch &&
                            didcl_gen_options_batchable(&out[0]->o, &j->o));
        if (!ok) {
            prev = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        if (G.tail == j)
            G.tail = prev;
        G.queued--;
        j->in_queue = 0;
        j->next = NULL;
        samples += j->n;
        out[n++] = j;
    }
    return n;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    job *took[MAX_TAKE], *run[MAX_TAKE];
    for (;;) {
        pthread_mutex_lock(&G.mu);
        G.idle++;
        while (!G.head && !G.stopping)
            pthread_cond_wait(&G.cv, &G.mu);
        G.idle--;
        if (!G.head) { /* stopping, queue empty */
            G.workers_done++;
            pthread_cond_broadcast(&G.cv);
            pthread_mutex_unlock(&G.mu);
            return NULL;
        }
        size_t n = queue_take(took), m = 0;
        int stopping = G.stopping;
        enum cancel_kind cancel[MAX_TAKE];
        for (size_t i = 0; i < n; i++) {
            cancel[i] = took[i]->cancel;
            if (!cancel[i] && !stopping)
                took[i]->state = JOB_CHECKING;
        }
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
        for (size_t i = 0; i < n; i++) {
            err e;
            if (stopping) {
                fail(&e, 503, "shutting_down", NULL, "shutting_down",
                     "the server is shutting down; the request was not run");
                job_fail(took[i], &e);
            } else if (cancel[i] == CANCEL_TIMEOUT) {
                fail(&e, 504, "timeout", NULL, "timeout",
                     "the request waited past the server's timeout of %g s", G.timeout);
                job_fail(took[i], &e);
            } else if (cancel[i]) {
                fail(&e, 499, "client_gone", NULL, "cancelled", "the client went away");
                job_fail(took[i], &e);
            } else {
                run[m++] = took[i];
            }
        }
        run_jobs(w, run, m);
        pthread_mutex_lock(&G.mu);
        for (size_t i = 0; i < n; i++)
            job_release(took[i]);
        pthread_mutex_unlock(&G.mu);
    }
}

/* ---- parsing a completion request (connection threads) ---- */

static int get_int(json_t *root, const char *key, long long lo, long long hi, long long *out,
                   int *present, err *e) {
    json_t *v = json_object_get(root, key);
    *present = v && !json_is_null(v);
    if (!*present)
        return 0;
    if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
        fabs(json_real_value(v)) < 9e18)
        *out = (long long)json_real_value(v);
    else if (json_is_integer(v))
        *out = json_integer_value(v);
    else
        return fail(e, 400, "invalid_type", key, "invalid_type", "%s: expected an integer",
                    key);
    if (*out < lo || *out > hi)
        return fail(e, 400, "invalid_value", key, "invalid_value",
                    "%s: %lld outside [%lld, %lld]", key, *out, lo, hi);
    return 0;
}

static int get_num(json_t *root, const char *key, double *out, int *present, err *e) {
    json_t *v = json_object_get(root, key);
    *present = v && !json_is_null(v);
    if (!*present)
        return 0;
    if (!json_is_number(v))
        return fail(e, 400, "invalid_type", key, "invalid_type", "%s: expected a number", key);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(json_t *root, const char *key, int *out, err *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(e, 400, "invalid_type", key, "invalid_type", "%s: expected true or false",
                    key);
    *out = json_is_true(v);
    return 0;
}

static int parse_revision(json_t *v, didcl_revision *r, err *e) {
    if (json_is_number(v)) {
        r->gamma = json_number_value(v);
        r->block = 0;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        r->gamma = strtod(s, &end);
        r->block = 0;
        if (end == s || errno)
            return fail(e, 400, "invalid_value", "revise", "invalid_value",
                        "revise: '%s' is not GAMMA or GAMMA@BLOCK", s);
        if (*end == '@') {
            char *e2;
            long b = strtol(end + 1, &e2, 10);
            if (e2 == end + 1 || *e2 || b < 0 || b > INT32_MAX)
                return fail(e, 400, "invalid_value", "revise", "invalid_value",
                            "revise: '%s' is not GAMMA or GAMMA@BLOCK", s);
            r->block = (int32_t)b;
        } else if (*end) {
            return fail(e, 400, "invalid_value", "revise", "invalid_value",
                        "revise: '%s' is not GAMMA or GAMMA@BLOCK", s);
        }
    } else {
        return fail(e, 400, "invalid_type", "revise", "invalid_type",
                    "revise: expected a number, a string \"G\" or \"G@B\", or a list of them");
    }
    if (!(r->gamma >= 0.0 && r->gamma <= 1.0))
        return fail(e, 400, "invalid_value", "revise", "invalid_value",
                    "revise: gamma %g outside [0, 1]", r->gamma);
    return 0;
}

static long long gcd_ll(long long a, long long b) {
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Parse and check a /v1/completions body into a new job (refs 1), or fill e. */
static job *parse_completion(const char *body, size_t len, err *e) {
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fail(e, 400, "invalid_json", NULL, "invalid_json",
             "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
             je.column);
        return NULL;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(root);
        fail(e, 500, "internal", NULL, "no_memory", "out of memory");
        return NULL;
    }
    j->refs = 1;
    j->fd = -1;
    j->o = didcl_gen_options_default();
    long long v;
    double d;
    int has, has_steps = 0, has_thr = 0;
    if (!json_is_object(root)) {
        fail(e, 400, "invalid_type", NULL, "invalid_type", "the body must be a JSON object");
        goto bad;
    }
    /* model */
    json_t *m = json_object_get(root, "model");
    if (m && !json_is_null(m)) {
        if (!json_is_string(m)) {
            fail(e, 400, "invalid_type", "model", "invalid_type", "model: expected a string");
            goto bad;
        }
        if (strcmp(json_string_value(m), G.model_id)) {
            fail(e, 404, "model_not_found", "model", "model_not_found",
                 "model '%s' does not exist; this server serves '%s'", json_string_value(m),
                 G.model_id);
            goto bad;
        }
    }
    /* prompt: a string, ids, or a list of one of these */
    json_t *p = json_object_get(root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (!p || json_is_null(p)) {
        /* no prompt: unconditional generation */
    } else if (json_is_string(p)) {
        size_t pl = json_string_length(p);
        if (pl) {
            j->prompt = malloc(pl + 1);
            if (!j->prompt)
                goto nomem;
            memcpy(j->prompt, json_string_value(p), pl + 1);
            j->prompt_len = pl;
        }
    } else if (json_is_array(p)) {
        size_t n = json_array_size(p);
        if (n && json_is_string(json_array_get(p, 0))) {
            fail(e, 400, "invalid_value", "prompt", "unsupported",
                 "prompt: one prompt per request (got a list of %zu)", n);
            goto bad;
        }
        if (n > (size_t)G.cfg->context_length) {
            fail(e, 400, "invalid_value", "prompt", "context_length_exceeded",
                 "prompt: %zu tokens, too long for the model's length %u", n,
                 G.cfg->context_length);
            goto bad;
        }
        j->prompt_ids = malloc(sizeof(int32_t) * (n ? n : 1));
        if (!j->prompt_ids)
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(p, i);
            if (!json_is_integer(x)) {
                fail(e, 400, "invalid_type", "prompt", "invalid_type",
                     "prompt: element %zu is not an integer token id", i);
                goto bad;
            }
            json_int_t id = json_integer_value(x);
            if (id < 0 || id >= (json_int_t)G.cfg->vocab_size) {
                fail(e, 400, "invalid_value", "prompt", "invalid_value",
                     "prompt: element %zu: token id %lld outside [0, %u)", i, (long long)id,
                     G.cfg->vocab_size);
                goto bad;
            }
            j->prompt_ids[i] = (int32_t)id;
        }
        j->n_prompt_ids = n;
    } else {
        fail(e, 400, "invalid_type", "prompt", "invalid_type",
             "prompt: expected a string, a list of token ids, or a list of one of these");
        goto bad;
    }
    /* sampling */
    if (get_num(root, "temperature", &d, &has, e))
        goto bad;
    if (has) {
        if (!(d >= 0.0 && d <= 100.0)) {
            fail(e, 400, "invalid_value", "temperature", "invalid_value",
                 "temperature: %g outside [0, 100]", d);
            goto bad;
        }
        j->o.temperature = d;
    }
    if (get_num(root, "top_p", &d, &has, e))
        goto bad;
    if (has) {
        if (!(d > 0.0 && d <= 1.0)) {
            fail(e, 400, "invalid_value", "top_p", "invalid_value", "top_p: %g outside (0, 1]",
                 d);
            goto bad;
        }
        j->o.top_p = d;
    }
    if (get_int(root, "seed", 0, LLONG_MAX, &v, &has, e))
        goto bad;
    if (has)
        j->o.seed = (uint64_t)v;
    else /* from the clock, JSON-representable; the reply says which */
        j->o.seed = (((uint64_t)time(NULL) * 6364136223846793005ull) ^
                     ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)j) &
                    (uint64_t)LLONG_MAX;
    if (get_int(root, "n", 1, MAX_N, &v, &has, e))
        goto bad;
    j->n = has ? (uint32_t)v : 1;
    if (get_int(root, "best_of", 1, 1, &v, &has, e) ||
        get_bool(root, "stream", &j->stream, e) || get_bool(root, "didcl_events", &j->events, e) ||
        get_bool(root, "var_length", &j->o.var_length, e))
        goto bad;
    int echo = 0;
    if (get_bool(root, "echo", &echo, e))
        goto bad;
    if (echo) {
        fail(e, 400, "invalid_value", "echo", "unsupported", "echo: not supported");
        goto bad;
    }
    json_t *lp = json_object_get(root, "logprobs");
    if (lp && !json_is_null(lp) && !(json_is_integer(lp) && json_integer_value(lp) == 0)) {
        fail(e, 400, "invalid_value", "logprobs", "unsupported", "logprobs: not supported");
        goto bad;
    }
    static const char *const zero_only[] = {"presence_penalty", "frequency_penalty"};
    for (int k = 0; k < 2; k++) {
        if (get_num(root, zero_only[k], &d, &has, e))
            goto bad;
        if (has && d != 0.0) {
            fail(e, 400, "invalid_value", zero_only[k], "unsupported",
                 "%s: only 0 is supported", zero_only[k]);
            goto bad;
        }
    }
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            fail(e, 400, "invalid_type", "stream_options", "invalid_type",
                 "stream_options: expected an object");
            goto bad;
        }
        if (get_bool(so, "include_usage", &j->include_usage, e)) {
            e->param = "stream_options.include_usage";
            goto bad;
        }
    }
    /* stop */
    json_t *stop = json_object_get(root, "stop");
    if (stop && !json_is_null(stop)) {
        json_t *one = json_is_string(stop) ? stop : NULL;
        size_t ns = one ? 1 : json_is_array(stop) ? json_array_size(stop) : 0;
        if (!one && !json_is_array(stop)) {
            fail(e, 400, "invalid_type", "stop", "invalid_type",
                 "stop: expected a string or a list of up to %d strings", MAX_STOP);
            goto bad;
        }
        if (ns > MAX_STOP) {
            fail(e, 400, "invalid_value", "stop", "invalid_value",
                 "stop: %zu strings, at most %d", ns, MAX_STOP);
            goto bad;
        }
        for (size_t i = 0; i < ns; i++) {
            json_t *s = one ? one : json_array_get(stop, i);
            if (!json_is_string(s)) {
                fail(e, 400, "invalid_type", "stop", "invalid_type",
                     "stop: element %zu is not a string", i);
                goto bad;
            }
            if (!json_string_length(s))
                continue;
            if (!(j->stop[j->n_stop] = strdup(json_string_value(s))))
                goto nomem;
            j->n_stop++;
        }
    }
    /* didcl's own: block, steps/threshold, revise, remask, ... */
    if (get_int(root, "block", 1, INT32_MAX, &v, &has, e))
        goto bad;
    j->o.block = has ? (int32_t)v : (int32_t)G.cfg->block_size;
    if (get_int(root, "steps", 1, INT32_MAX, &v, &has_steps, e))
        goto bad;
    if (has_steps) {
        j->o.mode = DIDCL_COMMIT_STEPS;
        j->o.steps = (int32_t)v;
    }
    if (get_num(root, "threshold", &d, &has_thr, e))
        goto bad;
    if (has_thr) {
        if (!(d > 0.0 && d <= 1.0)) {
            fail(e, 400, "invalid_value", "threshold", "invalid_value",
                 "threshold: %g outside (0, 1]", d);
            goto bad;
        }
        j->o.mode = DIDCL_COMMIT_THRESHOLD;
        j->o.threshold = d;
    }
    if (has_steps && has_thr) {
        fail(e, 400, "invalid_value", "threshold", "invalid_value",
             "steps and threshold are exclusive: one commit rule per stage");
        goto bad;
    }
    if (get_int(root, "revise_steps", 1, INT32_MAX, &v, &has_steps, e))
        goto bad;
    if (has_steps) {
        j->o.revise_mode = DIDCL_COMMIT_STEPS;
        j->o.revise_steps = (int32_t)v;
    }
    if (get_num(root, "revise_threshold", &d, &has_thr, e))
        goto bad;
    if (has_thr) {
        if (!(d > 0.0 && d <= 1.0)) {
            fail(e, 400, "invalid_value", "revise_threshold", "invalid_value",
                 "revise_threshold: %g outside (0, 1]", d);
            goto bad;
        }
        j->o.revise_mode = DIDCL_COMMIT_THRESHOLD;
        j->o.revise_threshold = d;
    }
    if (has_steps && has_thr) {
        fail(e, 400, "invalid_value", "revise_threshold", "invalid_value",
             "revise_steps and revise_threshold are exclusive");
        goto bad;
    }
    if (get_int(root, "revise_reuse", 0, INT32_MAX, &v, &has, e))
        goto bad;
    if (has)
        j->o.revise_reuse = (int32_t)v;
    json_t *rv = json_object_get(root, "revise");
    if (rv && !json_is_null(rv)) {
        if (json_is_array(rv)) {
            if (json_array_size(rv) > DIDCL_MAX_REVISIONS) {
                fail(e, 400, "invalid_value", "revise", "invalid_value",
                     "revise: at most %d revision stages", DIDCL_MAX_REVISIONS);
                goto bad;
            }
            for (size_t i = 0; i < json_array_size(rv); i++)
                if (parse_revision(json_array_get(rv, i), &j->o.revisions[j->o.n_revisions++],
                                   e))
                    goto bad;
        } else if (parse_revision(rv, &j->o.revisions[j->o.n_revisions++], e)) {
            goto bad;
        }
    }
    json_t *rm = json_object_get(root, "remask");
    if (rm && !json_is_null(rm)) {
        if (!json_is_string(rm)) {
            fail(e, 400, "invalid_type", "remask", "invalid_type",
                 "remask: expected a string NAME[:key=value,...]");
            goto bad;
        }
        if (!(j->remask = strdup(json_string_value(rm))))
            goto nomem;
    }

    /* prompt tokens (the connection threads' tokenizer) */
    if (j->prompt) {
        int32_t *ids = NULL;
        size_t n = 0;
        pthread_mutex_lock(&G.tok_mu);
        didcl_status st = didcl_tokenizer_encode(G.tok, j->prompt, j->prompt_len, 0, &ids, &n);
        const char *msg = st != DIDCL_OK ? didcl_last_error() : "";
        if (st != DIDCL_OK)
            fail(e, 400, "invalid_value", "prompt", "invalid_value", "prompt: %s", msg);
        pthread_mutex_unlock(&G.tok_mu);
        free(ids);
        if (st != DIDCL_OK)
            goto bad;
        j->n_prompt = (int32_t)n;
    } else {
        j->n_prompt = (int32_t)j->n_prompt_ids;
    }
    /* max_tokens -> length: 1 + prompt + max_tokens, rounded up to a multiple of every
     * block size in play, capped by the model's length */
    const long long Lm = G.cfg->context_length;
    if (1 + (long long)j->n_prompt >= Lm) {
        fail(e, 400, "invalid_value", "prompt", "context_length_exceeded",
             "prompt: %d tokens leave no room to generate: the model's length is %lld "
             "(BOS + prompt + at least one token)",
             j->n_prompt, Lm);
        goto bad;
    }
    if (get_int(root, "max_tokens", 1, LLONG_MAX, &v, &has, e))
        goto bad;
    long long want = has ? 1 + j->n_prompt + v : Lm;
    if (want > Lm) {
        fail(e, 400, "invalid_value", "max_tokens", "context_length_exceeded",
             "max_tokens: %lld + %d prompt tokens + BOS exceed the model's length %lld (at "
             "most %lld here)",
             v, j->n_prompt, Lm, Lm - 1 - j->n_prompt);
        goto bad;
    }
    j->max_tokens = (int32_t)(has ? v : Lm - 1 - j->n_prompt);
    long long unit = j->o.block;
    for (int k = 0; k < j->o.n_revisions; k++) {
        long long b = j->o.revisions[k].block;
        if (b > 0 && unit <= Lm)
            unit = unit / gcd_ll(unit, b) * b;
    }
    long long L = unit > 0 && unit <= Lm ? (want + unit - 1) / unit * unit : want;
    if (L > Lm)
        L = Lm;
    j->o.length = (int32_t)L;
    if (didcl_gen_options_check(&j->o, (int32_t)Lm, j->n_prompt) != DIDCL_OK) {
        const char *msg = didcl_last_error();
        const char *param = guess_param(msg);
        fail(e, 400, "invalid_value", param, "invalid_value", "%s", msg);
        goto bad;
    }
    if (j->remask) {
        didcl_remask_t r;
        if (didcl_remask_open(j->remask, G.plugin_path, NULL, &r) != DIDCL_OK) {
            fail(e, 400, "plugin", "remask", "invalid_value", "remask: %s", didcl_last_error());
            goto bad;
        }
        didcl_remask_free(r);
    }
    j->progressive = j->stream && j->o.n_revisions == 0 && !j->o.var_length && !j->n_stop;
    json_decref(root);
    return j;
nomem:
    fail(e, 500, "internal", NULL, "no_memory", "out of memory");
bad:
    json_decref(root);
    j->refs = 1;
    pthread_mutex_lock(&G.mu);
    job_release(j);
    pthread_mutex_unlock(&G.mu);
    return NULL;
}

/* ---- HTTP ---- */

typedef struct conn {
    char *body;
    size_t len, cap;
    int too_big, route;
    job *j;
} conn;

enum { R_COMPLETIONS, R_MODELS, R_HEALTH, R_METRICS, R_PAGE, R_OTHER };

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, char *body,
                             int must_free) {
    size_t n = body ? strlen(body) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        n, body ? body : (char *)"", must_free && body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    pthread_mutex_lock(&G.mu);
    G.resp_class[status / 100 < 6 ? status / 100 : 5]++;
    pthread_mutex_unlock(&G.mu);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, int status, json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return reply(c, status, "application/json", s, 1);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, const err *e) {
    pthread_mutex_lock(&G.mu);
    count_error(e->kind);
    pthread_mutex_unlock(&G.mu);
    return reply(c, e->status, "application/json", error_body(e), 1);
}

/* Has the client closed its side (or reset)? */
static int client_gone(int fd) {
    if (fd < 0)
        return 0;
    struct pollfd pf = {fd, POLLRDHUP, 0};
    if (poll(&pf, 1, 0) <= 0)
        return 0;
    return (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void timed_wait(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&G.cv, &G.mu, &ts);
}

/* Take j out of the queue if it is still there (G.mu held). */
static void unqueue(job *j) {
    if (!j->in_queue)
        return;
    job **pp = &G.head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = j->next;
        if (G.tail == j)
            G.tail = prev;
        G.queued--;
        j->in_queue = 0;
        j->refs--; /* the queue's reference */
    }
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    job *j = cls;
    double last = didcl_cli_now();
    pthread_mutex_lock(&G.mu);
    for (;;) {
        if (j->sse_off < j->sse_len) {
            size_t n = j->sse_len - j->sse_off;
            if (n > max)
                n = max;
            memcpy(buf, j->sse + j->sse_off, n);
            j->sse_off += n;
            pthread_mutex_unlock(&G.mu);
            return (ssize_t)n;
        }
        j->sse_off = j->sse_len = 0; /* all sent: reuse the buffer */
        if (j->state == JOB_DONE) {
            pthread_mutex_unlock(&G.mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        timed_wait(0.1);
        if (j->sse_off < j->sse_len || j->state == JOB_DONE)
            continue;
        if (client_gone(j->fd)) {
            if (!j->cancel)
                j->cancel = CANCEL_CLIENT;
            pthread_mutex_unlock(&G.mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (!j->cancel && j->deadline > 0 && didcl_cli_now() > j->deadline)
            j->cancel = CANCEL_TIMEOUT; /* the worker cancels and sends an error event */
        if (didcl_cli_now() - last > 10.0) { /* a comment keeps proxies from timing out */
            static const char ping[] = ": keep-alive\n\n";
            memcpy(buf, ping, sizeof ping - 1 < max ? sizeof ping - 1 : max);
            pthread_mutex_unlock(&G.mu);
            return (ssize_t)(sizeof ping - 1 < max ? sizeof ping - 1 : max);
        }
    }
}

static void sse_free(void *cls) {
    job *j = cls;
    pthread_mutex_lock(&G.mu);
    if (j->state != JOB_DONE && !j->cancel)
        j->cancel = CANCEL_CLIENT;
    job_release(j);
    pthread_mutex_unlock(&G.mu);
}

static enum MHD_Result handle_completion(struct MHD_Connection *c, conn *cn) {
    err e;
    job *j = parse_completion(cn->body ? cn->body : "", cn->len, &e);
    if (!j)
        return reply_error(c, &e);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->fd = ci ? ci->connect_fd : -1;
    pthread_mutex_lock(&G.mu);
    if (G.stopping) {
        job_release(j);
        pthread_mutex_unlock(&G.mu);
        fail(&e, 503, "shutting_down", NULL, "shutting_down", "the server is shutting down");
        return reply_error(c, &e);
    }
    if (G.queued >= G.max_queue) {
        job_release(j);
        pthread_mutex_unlock(&G.mu);
        fail(&e, 503, "queue_full", NULL, "queue_full",
             "the server's queue is full (%d requests waiting); retry later", G.max_queue);
        return reply_error(c, &e);
    }
    j->id = ++G.next_id;
    j->t_enqueue = didcl_cli_now();
    j->deadline = G.timeout > 0 ? j->t_enqueue + G.timeout : 0;
    j->refs = 2; /* this connection and the queue/worker */
    j->in_queue = 1;
    j->state = JOB_QUEUED;
    if (G.tail)
        G.tail->next = j;
    else
        G.head = j;
    G.tail = j;
    G.queued++;
    cn->j = j;
    pthread_cond_broadcast(&G.cv);
    /* wait: for the whole result, or (streaming) until the run has started */
    for (;;) {
        if (j->state == JOB_DONE || (j->stream && j->state == JOB_RUNNING))
            break;
        timed_wait(0.1);
        if (j->state == JOB_DONE || (j->stream && j->state == JOB_RUNNING))
            break;
        if (client_gone(j->fd)) {
            if (!j->cancel)
                j->cancel = CANCEL_CLIENT;
            unqueue(j);
            if (!j->in_queue && j->state == JOB_QUEUED) {
                count_error("client_gone");
                pthread_mutex_unlock(&G.mu);
                return MHD_NO;
            }
        }
        if (!j->cancel && j->deadline > 0 && didcl_cli_now() > j->deadline) {
            j->cancel = CANCEL_TIMEOUT;
            unqueue(j);
            if (j->state == JOB_QUEUED) {
                pthread_mutex_unlock(&G.mu);
                fail(&e, 504, "timeout", NULL, "timeout",
                     "the request waited in the queue past the server's timeout of %g s",
                     G.timeout);
                return reply_error(c, &e);
            }
        }
    }
    if (j->state == JOB_DONE && (!j->stream || j->status != 200 || j->sse_len == 0)) {
        int status = j->status ? j->status : 500;
        char *body = j->body ? strdup(j->body) : NULL;
        pthread_mutex_unlock(&G.mu);
        if (status == 499) /* nobody to tell */
            return MHD_NO;
        return reply(c, status, "application/json", body, 1);
    }
    j->refs++; /* the stream's */
    pthread_mutex_unlock(&G.mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_reader, j, sse_free);
    if (!r) {
        sse_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    pthread_mutex_lock(&G.mu);
    G.resp_class[2]++;
    pthread_mutex_unlock(&G.mu);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static json_t *model_json(void) {
    json_t *devs = json_array();
    for (int i = 0; i < G.n_workers; i++)
        json_array_append_new(devs, json_string(G.workers[i].device));
    return json_pack("{s:s,s:s,s:I,s:s,s:{s:i,s:i,s:i,s:s,s:o,s:s}}", "id", G.model_id,
                     "object", "model", "created", (json_int_t)G.started, "owned_by", "didcl",
                     "didcl", "context_length", (int)G.cfg->context_length, "block_size",
                     (int)G.cfg->block_size, "vocab_size", (int)G.cfg->vocab_size, "device",
                     G.workers[0].device, "devices", devs, "path", G.model_path);
}

static char *metrics_text(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    static const char *const routes[] = {"completions", "models", "health", "metrics", "page",
                                         "other"};
    pthread_mutex_lock(&G.mu);
    fprintf(f, "# HELP didcl_requests_total HTTP requests received, by endpoint.\n"
               "# TYPE didcl_requests_total counter\n");
    for (int i = 0; i < 6; i++)
        fprintf(f, "didcl_requests_total{endpoint=\"%s\"} %llu\n", routes[i], G.req_total[i]);
    fprintf(f, "# HELP didcl_responses_total HTTP responses sent, by status class.\n"
               "# TYPE didcl_responses_total counter\n");
    for (int i = 1; i < 6; i++)
        fprintf(f, "didcl_responses_total{class=\"%dxx\"} %llu\n", i, G.resp_class[i]);
    fprintf(f, "# HELP didcl_errors_total Failed requests, by kind.\n"
               "# TYPE didcl_errors_total counter\n");
    for (int i = 0; i < N_ERROR_KINDS; i++)
        fprintf(f, "didcl_errors_total{kind=\"%s\"} %llu\n", ERROR_KINDS[i], G.errors[i]);
    fprintf(f,
            "# HELP didcl_queue_depth Requests waiting for the worker.\n"
            "# TYPE didcl_queue_depth gauge\ndidcl_queue_depth %d\n"
            "# HELP didcl_queue_capacity Largest queue before 503.\n"
            "# TYPE didcl_queue_capacity gauge\ndidcl_queue_capacity %d\n"
            "# HELP didcl_running Requests being generated, all workers.\n"
            "# TYPE didcl_running gauge\ndidcl_running %d\n"
            "# HELP didcl_completions_total Completions answered successfully.\n"
            "# TYPE didcl_completions_total counter\ndidcl_completions_total %llu\n"
            "# HELP didcl_samples_total Samples (choices) generated.\n"
            "# TYPE didcl_samples_total counter\ndidcl_samples_total %llu\n"
            "# HELP didcl_prompt_tokens_total Prompt tokens of successful completions.\n"
            "# TYPE didcl_prompt_tokens_total counter\ndidcl_prompt_tokens_total %llu\n"
            "# HELP didcl_generated_tokens_total Completion tokens returned.\n"
            "# TYPE didcl_generated_tokens_total counter\ndidcl_generated_tokens_total %llu\n"
            "# HELP didcl_nfe_total Committing forward passes (NFE), all stages.\n"
            "# TYPE didcl_nfe_total counter\ndidcl_nfe_total %llu\n"
            "# HELP didcl_flops_total Model FLOPs, all forwards.\n"
            "# TYPE didcl_flops_total counter\ndidcl_flops_total %.6g\n"
            "# HELP didcl_generation_seconds_total Wall time spent generating.\n"
            "# TYPE didcl_generation_seconds_total counter\n"
            "didcl_generation_seconds_total %.6f\n"
            "# HELP didcl_load_seconds_total Time building the device model.\n"
            "# TYPE didcl_load_seconds_total counter\ndidcl_load_seconds_total %.6f\n"
            "# HELP didcl_tokens_per_second Generated tokens per generation second so far.\n"
            "# TYPE didcl_tokens_per_second gauge\ndidcl_tokens_per_second %.3f\n"
            "# HELP didcl_batch_occupancy Mean largest lockstep batch of the generate calls.\n"
            "# TYPE didcl_batch_occupancy gauge\ndidcl_batch_occupancy %.3f\n"
            "# HELP didcl_requests_per_call Mean requests run together by a generate call.\n"
            "# TYPE didcl_requests_per_call gauge\ndidcl_requests_per_call %.3f\n"
            "# HELP didcl_workers Workers (one per --device, each with its model copy).\n"
            "# TYPE didcl_workers gauge\ndidcl_workers %d\n",
            G.queued, G.max_queue, G.running, G.completions_ok, G.samples, G.prompt_tokens,
            G.gen_tokens, G.nfe, G.flops, G.gen_seconds, G.load_seconds,
            G.gen_seconds > 0 ? (double)G.gen_tokens / G.gen_seconds : 0.0,
            G.batch_calls ? (double)G.batch_sum / (double)G.batch_calls : 0.0,
            G.batch_calls ? (double)G.call_requests / (double)G.batch_calls : 0.0,
            G.n_workers);
    fprintf(f, "# HELP didcl_worker_completions_total Completions answered, by worker.\n"
               "# TYPE didcl_worker_completions_total counter\n");
    for (int i = 0; i < G.n_workers; i++)
        fprintf(f, "didcl_worker_completions_total{worker=\"%d\",device=\"%s\"} %llu\n", i,
                G.workers[i].device, G.workers[i].completions);
    pthread_mutex_unlock(&G.mu);
    fclose(f);
    return buf;
}

static int authorized(struct MHD_Connection *c) {
    if (!G.api_key)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, G.api_key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)cls;
    (void)version;
    conn *cn = *con_cls;
    err e;
    if (!cn) {
        if (!(cn = calloc(1, sizeof *cn)))
            return MHD_NO;
        *con_cls = cn;
        const char *u = url;
        cn->route = !strcmp(u, "/v1/completions")                        ? R_COMPLETIONS
                    : !strcmp(u, "/v1/models") || !strncmp(u, "/v1/models/", 11) ? R_MODELS
                    : !strcmp(u, "/health")                                ? R_HEALTH
                    : !strcmp(u, "/metrics")                               ? R_METRICS
                    : !strcmp(u, "/") || !strcmp(u, "/index.html")         ? R_PAGE
                                                                           : R_OTHER;
        pthread_mutex_lock(&G.mu);
        G.req_total[cn->route]++;
        pthread_mutex_unlock(&G.mu);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > G.max_body) {
            fail(&e, 413, "body_too_large", NULL, "request_too_large",
                 "the request body (%s bytes) exceeds the server's limit of %zu bytes", cl,
                 G.max_body);
            return reply_error(c, &e);
        }
        return MHD_YES;
    }
    if (*upload_data_size) { /* body bytes */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (cn->too_big || cn->len + n > G.max_body) {
            cn->too_big = 1;
            return MHD_YES;
        }
        if (cn->len + n + 1 > cn->cap) {
            size_t cap = cn->cap ? cn->cap : 4096;
            while (cap < cn->len + n + 1)
                cap *= 2;
            char *t = realloc(cn->body, cap);
            if (!t)
                return MHD_NO;
            cn->body = t;
            cn->cap = cap;
        }
        memcpy(cn->body + cn->len, upload_data, n);
        cn->len += n;
        cn->body[cn->len] = '\0';
        return MHD_YES;
    }
    if (cn->too_big) {
        fail(&e, 413, "body_too_large", NULL, "request_too_large",
             "the request body exceeds the server's limit of %zu bytes", G.max_body);
        return reply_error(c, &e);
    }
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    if (cn->route == R_OTHER) {
        fail(&e, 404, "not_found", NULL, "not_found", "no such endpoint: %s %s", method, url);
        return reply_error(c, &e);
    }
    if ((cn->route == R_COMPLETIONS && !post) || (cn->route != R_COMPLETIONS && !get)) {
        fail(&e, 405, "method_not_allowed", NULL, "method_not_allowed",
             "%s is not allowed on %s (use %s)", method, url,
             cn->route == R_COMPLETIONS ? "POST" : "GET");
        return reply_error(c, &e);
    }
    if ((cn->route == R_COMPLETIONS || cn->route == R_MODELS || cn->route == R_METRICS) &&
        !authorized(c)) {
        fail(&e, 401, "unauthorized", NULL, "invalid_api_key",
             "missing or wrong API key: send 'Authorization: Bearer <key>'");
        return reply_error(c, &e);
    }
    switch (cn->route) {
    case R_COMPLETIONS: return handle_completion(c, cn);
    case R_MODELS:
        if (!strncmp(url, "/v1/models/", 11)) {
            if (strcmp(url + 11, G.model_id)) {
                fail(&e, 404, "model_not_found", "model", "model_not_found",
                     "model '%s' does not exist; this server serves '%s'", url + 11,
                     G.model_id);
                return reply_error(c, &e);
            }
            return reply_json(c, 200, model_json());
        }
        return reply_json(c, 200, json_pack("{s:s,s:[o]}", "object", "list", "data",
                                            model_json()));
    case R_HEALTH: {
        pthread_mutex_lock(&G.mu);
        int stopping = G.stopping, q = G.queued, running = G.running;
        pthread_mutex_unlock(&G.mu);
        return reply_json(c, stopping ? 503 : 200,
                          json_pack("{s:s,s:s,s:i,s:b,s:i,s:i}", "status",
                                    stopping ? "shutting down" : "ok", "model", G.model_id,
                                    "queue", q, "running", running > 0, "requests_running",
                                    running, "workers", G.n_workers));
    }
    case R_METRICS: return reply(c, 200, "text/plain; version=0.0.4", metrics_text(), 1);
    case R_PAGE:
        return reply(c, 200, "text/html; charset=utf-8", (char *)didcl_cli_serve_page, 0);
    default: return MHD_NO;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)toe;
    (void)c;
    conn *cn = *con_cls;
    if (!cn)
        return;
    if (cn->j) {
        pthread_mutex_lock(&G.mu);
        if (cn->j->state != JOB_DONE && !cn->j->cancel)
            cn->j->cancel = CANCEL_CLIENT;
        job_release(cn->j);
        pthread_mutex_unlock(&G.mu);
    }
    free(cn->body);
    free(cn);
    *con_cls = NULL;
}

/* ---- options, start, stop ---- */

typedef struct serve_opts {
    const char *model, *tokenizer, *host, *api_key, *plugin_path;
    char devices[1024];         /* the --device selectors, comma-separated */
    long port, max_queue, batch;
    double timeout;
    long max_body;
    int half, quiet;
} serve_opts;

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return usage_error("--%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
    *out = v;
    return 0;
}

static int parse_args(serve_opts *o, int argc, char **argv) {
    enum { O_TOK = 256, O_HOST, O_PORT, O_KEY, O_QUEUE, O_BATCH, O_TIMEOUT, O_HALF, O_PP,
           O_BODY, O_QUIET };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"tokenizer", required_argument, NULL, O_TOK},
        {"device", required_argument, NULL, 'd'}, {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT}, {"api-key", required_argument, NULL, O_KEY},
        {"max-queue", required_argument, NULL, O_QUEUE},
        {"batch", required_argument, NULL, O_BATCH},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"max-body", required_argument, NULL, O_BODY}, {"half", no_argument, NULL, O_HALF},
        {"plugin-path", required_argument, NULL, O_PP}, {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":m:d:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model = optarg; break;
        case O_TOK: o->tokenizer = optarg; break;
        case 'd': {
            size_t used = strlen(o->devices);
            if (used + strlen(optarg) + 2 > sizeof o->devices)
                return usage_error("--device: too long a list");
            snprintf(o->devices + used, sizeof o->devices - used, "%s%s", used ? "," : "",
                     optarg);
            break;
        }
        case O_HOST: o->host = optarg; break;
        case O_PORT:
            if (parse_long("port", optarg, 0, 65535, &o->port))
                return 2;
            break;
        case O_KEY: o->api_key = optarg; break;
        case O_QUEUE:
            if (parse_long("max-queue", optarg, 1, 1 << 20, &o->max_queue))
                return 2;
            break;
        case O_BATCH:
            if (parse_long("batch", optarg, 1, DIDCL_MAX_BATCH, &o->batch))
                return 2;
            break;
        case O_TIMEOUT: {
            char *end;
            errno = 0;
            o->timeout = strtod(optarg, &end);
            if (!*optarg || *end || errno || !(o->timeout >= 0) || !isfinite(o->timeout))
                return usage_error("--timeout: '%s' is not a number of seconds >= 0", optarg);
            break;
        }
        case O_BODY:
            if (parse_long("max-body", optarg, 1024, 1L << 30, &o->max_body))
                return 2;
            break;
        case O_HALF: o->half = 1; break;
        case O_PP: o->plugin_path = optarg; break;
        case O_QUIET: o->quiet = 1; break;
        case 'h': fputs(USAGE, stdout); return 0;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s' (didcl serve --help lists them)",
                               argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->api_key && !*o->api_key)
        return usage_error("--api-key: empty key");
    return -1;
}

static void workers_free(void) {
    for (int i = 0; i < G.n_workers; i++)
        didcl_session_free(G.workers[i].s);
}

/* One session per --device selector (comma-separated or repeated; none: the default). */
static int workers_open(const serve_opts *o, didcl_session_params *sp) {
    char *list = strdup(o->devices[0] ? o->devices : "");
    if (!list)
        return 1;
    char *save = NULL, *sel = strtok_r(list, ",", &save);
    do {
        if (G.n_workers == MAX_WORKERS) {
            free(list);
            return usage_error("--device: more than %d devices", MAX_WORKERS);
        }
        worker *w = &G.workers[G.n_workers];
        w->index = G.n_workers;
        sp->device = sel && *sel ? sel : NULL;
        didcl_status st = didcl_session_open(sp, &w->s);
        if (st != DIDCL_OK) {
            fprintf(stderr, "didcl serve: %s%s%s%s\n", sel ? "device " : "", sel ? sel : "",
                    sel ? ": " : "", didcl_last_error());
            free(list);
            return st == DIDCL_ERR_UNSUPPORTED ? 2 : 1;
        }
        snprintf(w->device, sizeof w->device, "%s", didcl_session_device(w->s)->name);
        G.n_workers++;
    } while ((sel = strtok_r(NULL, ",", &save)));
    free(list);
    return 0;
}

int didcl_cli_serve(int argc, char **argv) {
    serve_opts o = {.host = "127.0.0.1", .port = 8080, .max_queue = 64, .batch = 16,
                    .timeout = 600, .max_body = 1 << 20};
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0)
        return rc;
    struct sockaddr_in addr4;
    struct sockaddr_in6 addr6;
    memset(&addr4, 0, sizeof addr4);
    memset(&addr6, 0, sizeof addr6);
    addr4.sin_family = AF_INET;
    addr4.sin_port = htons((uint16_t)o.port);
    addr6.sin6_family = AF_INET6;
    addr6.sin6_port = htons((uint16_t)o.port);
    int v6 = 0;
    if (inet_pton(AF_INET, o.host, &addr4.sin_addr) != 1) {
        if (inet_pton(AF_INET6, o.host, &addr6.sin6_addr) != 1)
            return usage_error("--host: '%s' is not an IPv4 or IPv6 address", o.host);
        v6 = 1;
    }
    const struct sockaddr *addr = v6 ? (const struct sockaddr *)&addr6
                                     : (const struct sockaddr *)&addr4;
    G.quiet = o.quiet;
    G.max_queue = (int)o.max_queue;
    G.timeout = o.timeout;
    G.max_body = (size_t)o.max_body;
    G.api_key = o.api_key;
    G.plugin_path = o.plugin_path;
    G.started = time(NULL);
    G.batch = (uint32_t)o.batch;

    /* the session */
    char defdir[PATH_MAX];
    didcl_session_params sp = didcl_session_default_params();
    sp.model = o.model;
    if (!sp.model) {
        if (didcl_default_model_dir(defdir, sizeof defdir) != DIDCL_OK) {
            fprintf(stderr, "didcl serve: %s; pass --model DIR with a BD3-LM checkpoint\n",
                    didcl_last_error());
            return 1;
        }
        sp.model = defdir;
    }
    sp.tokenizer = o.tokenizer;
    sp.plugin_path = o.plugin_path;
    sp.half_weights = o.half;
    sp.max_batch = (uint32_t)o.batch;
    if ((rc = workers_open(&o, &sp)) != 0) {
        workers_free();
        return rc;
    }
    didcl_session_t s0 = G.workers[0].s;
    G.cfg_copy = *didcl_session_config(s0);
    G.cfg = &G.cfg_copy;
    G.wtok = didcl_session_tokenizer(s0);
    const char *md = didcl_session_model_dir(s0);
    snprintf(G.model_path, sizeof G.model_path, "%s", md);
    size_t ml = strlen(md);
    while (ml > 1 && md[ml - 1] == '/')
        ml--;
    const char *base = md;
    for (size_t i = 0; i < ml; i++)
        if (md[i] == '/')
            base = md + i + 1;
    snprintf(G.model_id, sizeof G.model_id, "%.*s", (int)(md + ml - base), base);
    if (didcl_tokenizer_load(o.tokenizer ? o.tokenizer : md, &G.tok) != DIDCL_OK) {
        fprintf(stderr, "didcl serve: tokenizer: %s\n", didcl_last_error());
        workers_free();
        return 1;
    }

    /* signals go to sigwait in this thread only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int started = 0;
    for (; started < G.n_workers; started++)
        if (pthread_create(&G.workers[started].thread, NULL, worker_main,
                           &G.workers[started]) != 0)
            break;
    if (started < G.n_workers) {
        fprintf(stderr, "didcl serve: cannot start the worker threads\n");
        pthread_mutex_lock(&G.mu);
        G.stopping = 1;
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
        for (int i = 0; i < started; i++)
            pthread_join(G.workers[i].thread, NULL);
        workers_free();
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0) | (o.quiet ? 0 : MHD_USE_ERROR_LOG),
        0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)0, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "didcl serve: cannot listen on %s:%ld: %s\n", o.host, o.port,
                strerror(errno));
        pthread_mutex_lock(&G.mu);
        G.stopping = 1;
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
        for (int i = 0; i < G.n_workers; i++)
            pthread_join(G.workers[i].thread, NULL);
        didcl_tokenizer_free(G.tok);
        workers_free();
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : (unsigned)o.port;
    if (!o.quiet) {
        for (int i = 0; i < G.n_workers; i++)
            fprintf(stderr, "didcl serve: worker %d on %s\n", i, G.workers[i].device);
        fprintf(stderr,
                "didcl serve: model %s (length %u, block %u); listening on "
                "http://%s%s%s:%u/\n",
                G.model_id, G.cfg->context_length, G.cfg->block_size, v6 ? "[" : "", o.host,
                v6 ? "]" : "", port);
    }
    fprintf(stderr, "didcl serve: port %u\n", port);

    int sig = 0;
    sigwait(&set, &sig);
    logf_("%s: stopping (queued requests get 503, the running one finishes; signal again "
          "to cancel it)",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    pthread_mutex_lock(&G.mu);
    G.stopping = 1;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
    struct timespec poll_ts = {0, 100 * 1000 * 1000};
    for (;;) {
        pthread_mutex_lock(&G.mu);
        int done = G.workers_done == G.n_workers;
        pthread_mutex_unlock(&G.mu);
        if (done)
            break;
        if (sigtimedwait(&set, NULL, &poll_ts) > 0) {
            logf_("second signal: cancelling the running requests");
            pthread_mutex_lock(&G.mu);
            G.aborting = 1;
            pthread_mutex_unlock(&G.mu);
        }
    }
    for (int i = 0; i < G.n_workers; i++)
        pthread_join(G.workers[i].thread, NULL);
    MHD_stop_daemon(d); /* connection threads send what they hold, then end */
    didcl_tokenizer_free(G.tok);
    workers_free();
    logf_("stopped");
    return 0;
}

/*
 * eval.c — `didcl eval`: the Gen-PPL protocol in one process. Generates --samples
 * unconditional samples through the session API (lockstep batches, any generate
 * option), scores each one as it finishes with a GPT-2 evaluator opened on the same
 * device, and reports Gen PPL with a 95% bootstrap interval over samples, mean unigram
 * entropy, distinct-1/2/3, NFE per stage and tokens/s (text, or one --json object).
 * --save FILE keeps every sample (JSON Lines); `didcl eval --compare A B` pairs two such
 * files sample by sample (same seeds) and reports the Gen-PPL ratio B/A and the entropy
 * difference with paired bootstrap intervals.
 *
 * Scoring (docs/quality.md states the protocol): the evaluator sees its BOS and then the
 * sample's ids (BOS excluded) — the generator's ids themselves when both tokenizers are
 * the same (same token strings for every id both have), else the sample's text
 * re-encoded with the evaluator's tokenizer. Targets equal to the evaluator's EOS are
 * left out, as BD3-LM's protocol does. Past the evaluator's context, windows of C tokens
 * advance by C/2 and each scores only the targets no earlier window scored (sliding
 * window, at least C/2 tokens of context). Statistics: src/cli/evalstats.c.
 *
 * Exit status: 0 success, 2 usage errors (options, an evaluator that is not GPT-2, a
 * missing --evaluator, --compare files that do not pair), 1 runtime errors. --save is
 * written to a temporary file beside FILE and renamed only on success.
 */
#define _GNU_SOURCE /* mkstemp */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/evalstats.h"
#include "cli/genopts.h"

static const char USAGE[] =
    "usage: didcl eval --evaluator DIR [--model DIR] [--samples N] [--batch N]\n"
    "                  [generate options] [--save FILE] [--json] [--quiet] [--device D]\n"
    "       didcl eval --compare A.jsonl B.jsonl [--json]\n"
    "Generate N unconditional samples and score them with a GPT-2 evaluator on the same\n"
    "device: Gen PPL (exp of the mean NLL per token over all samples' tokens) with a 95%\n"
    "bootstrap interval over samples, mean unigram entropy, distinct-1/2/3, NFE per stage\n"
    "and tokens/s.\n"
    "  --evaluator DIR     GPT-2 checkpoint (config.json, safetensors, tokenizer)\n"
    "  --eval-tokenizer P  the evaluator's tokenizer when DIR has none\n"
    "  --samples N         samples (default 16); sample i uses RNG stream i of --seed\n"
    "  --seed S            seed (default 0: runs repeat unless told otherwise)\n"
    "  --save FILE         write the samples as JSON Lines (seed, sample, ids, text, NLL,\n"
    "                      per-token NLL, entropy, NFE); written whole or not at all\n"
    "  --compare A B       pair two --save files (same seeds): Gen-PPL ratio B/A and the\n"
    "                      entropy difference B - A, with paired bootstrap intervals\n"
    "  --bootstrap N       bootstrap resamples (default 1000; fixed seed)\n"
    "  --json              one JSON object on stdout\n"
    "  --quiet             no progress bar\n"
    "generate options (didcl generate --help): --model --tokenizer --device --length\n"
    "  --block --top-p --temperature --steps --threshold --revise G[@B]... --revise-steps\n"
    "  --revise-threshold --revise-reuse --remask --plugin-path --batch --no-cache --half\n";

enum { OPT_EVALUATOR = 512, OPT_EVAL_TOKENIZER, OPT_SAVE, OPT_COMPARE, OPT_JSON, OPT_QUIET,
       OPT_BOOTSTRAP };

typedef struct eval_opts {
    didcl_cli_genopts go;
    const char *evaluator, *eval_tokenizer, *save, *compare_a, *compare_b;
    int json, quiet, reps;
} eval_opts;

#define usage_error(...) didcl_cli_usage_error("eval", __VA_ARGS__)
#define BOOT_SEED 0x5eedb007ull

/* ---- the --save temporary file, removed on a signal ---- */

static char g_tmp[PATH_MAX + 64];
static volatile sig_atomic_t g_tmp_live;

static void on_signal(int sig) {
    if (g_tmp_live)
        unlink(g_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the evaluator ---- */

typedef struct evaluator {
    const char *dir;
    didcl_runtime_t rt;
    didcl_model_files_t files;
    didcl_model_t m;
    didcl_tokenizer_t tok;
    int same_tok;      /* the generator's ids are scored as they are */
    int32_t bos, eos, vocab;
    uint32_t ctx, stride;
    int32_t *tg;       /* (ctx,) targets of a window */
    float *lp;         /* (ctx,) their log-probabilities */
} evaluator;

static void evaluator_free(evaluator *E) {
    didcl_model_free(E->m);
    didcl_model_files_free(E->files);
    didcl_tokenizer_free(E->tok);
    didcl_runtime_free(E->rt);
    free(E->tg);
    free(E->lp);
}

/* Same tokenizer: every id both have has the same token string. */
static int same_tokenizer(didcl_tokenizer_t a, didcl_tokenizer_t b) {
    uint32_t va = didcl_tokenizer_vocab_size(a), vb = didcl_tokenizer_vocab_size(b);
    uint32_t n = va < vb ? va : vb;
    for (uint32_t i = 0; i < n; i++) {
        const char *x = didcl_tokenizer_token(a, (int32_t)i);
        const char *y = didcl_tokenizer_token(b, (int32_t)i);
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y)))
            return 0;
    }
    return n > 0;
}

/* Open --evaluator on the session's device. Returns -1 when ready, else an exit status. */
static int evaluator_open(evaluator *E, const eval_opts *c, didcl_session_t s) {
    E->dir = c->evaluator;
    if (didcl_model_files_open(c->evaluator, &E->files) != DIDCL_OK) {
        fprintf(stderr, "didcl eval: --evaluator %s: %s\n", c->evaluator, didcl_last_error());
        return 1;
    }
    const didcl_model_config *cfg = didcl_model_files_config(E->files);
    if (cfg->arch != DIDCL_ARCH_GPT2)
        return usage_error("--evaluator %s: a %s model, expected a GPT-2 checkpoint "
                           "(model_type gpt2) to score the samples", c->evaluator,
                           didcl_arch_str(cfg->arch));
    const char *tp = c->eval_tokenizer ? c->eval_tokenizer : c->evaluator;
    if (didcl_tokenizer_load(tp, &E->tok) != DIDCL_OK) {
        fprintf(stderr, "didcl eval: --%s %s: %s%s\n",
                c->eval_tokenizer ? "eval-tokenizer" : "evaluator", tp, didcl_last_error(),
                c->eval_tokenizer ? "" : " (give the evaluator's tokenizer with --eval-tokenizer)");
        return 1;
    }
    const didcl_device_info *d = didcl_session_device(s);
    char sel[32];
    snprintf(sel, sizeof sel, "%u:%u", d->platform_index, d->device_index);
    if (didcl_runtime_init(sel, &E->rt) != DIDCL_OK)
        return didcl_cli_fail("--evaluator: device");
    didcl_model_options mo = {c->go.half, 0, 1};
    if (didcl_model_open(E->rt, E->files, &mo, &E->m) != DIDCL_OK) {
        fprintf(stderr, "didcl eval: --evaluator %s: %s\n", c->evaluator, didcl_last_error());
        return 1;
    }
    E->ctx = didcl_model_max_tokens(E->m);
    E->stride = E->ctx / 2 ? E->ctx / 2 : 1;
    E->bos = cfg->bos_token_id;
    E->eos = cfg->eos_token_id;
    E->vocab = (int32_t)cfg->vocab_size;
    E->same_tok = same_tokenizer(didcl_session_tokenizer(s), E->tok);
    E->tg = malloc(sizeof *E->tg * E->ctx);
    E->lp = malloc(sizeof *E->lp * E->ctx);
    if (!E->tg || !E->lp) {
        fprintf(stderr, "didcl eval: out of memory\n");
        return 1;
    }
    return -1;
}

#define TRY(call)                                                                          \
    do {                                                                                   \
        didcl_status st_ = (call);                                                         \
        if (st_ != DIDCL_OK)                                                               \
            return st_;                                                                    \
    } while (0)

/* NLL of seq[1..n) given what precedes each target, EOS targets left out: sum into *nll,
 * scored targets into *count, their NLLs into tok_nll (n - 1 entries). */
static didcl_status score_seq(evaluator *E, const int32_t *seq, uint32_t n, double *nll,
                              uint32_t *count, float *tok_nll) {
    *nll = 0.0;
    *count = 0;
    for (uint32_t s = 0, done = 1; done < n; s += E->stride) {
        uint32_t e = s + E->ctx < n ? s + E->ctx : n;
        didcl_forward f = {DIDCL_FORWARD_CAUSAL, seq + s, e - s, 0, 0, NULL, 0.0f, NULL, NULL};
        TRY(didcl_model_forward(E->m, &f));
        uint32_t cnt = e - done;
        for (uint32_t j = 0; j < cnt; j++)
            E->tg[j] = seq[done + j] == E->eos ? -1 : seq[done + j];
        TRY(didcl_model_token_logprobs(E->m, done - 1 - s, cnt, E->tg, E->lp));
        for (uint32_t j = 0; j < cnt; j++)
            if (E->tg[j] >= 0) {
                *nll -= E->lp[j];
                tok_nll[(*count)++] = -E->lp[j];
            }
        done = e;
    }
    return DIDCL_OK;
}

/* ---- per-sample results ---- */

typedef struct scored {
    int done;
    double nll, tokens, entropy, distinct[3];
    int32_t *eval_ids;   /* what the evaluator saw after its BOS (retokenized only) */
    uint32_t n_eval;
    float *tok_nll;      /* (tokens,) */
} scored;

typedef struct run_state {
    const eval_opts *c;
    evaluator *E;
    didcl_tokenizer_t gen_tok;
    scored *sc;
    uint32_t n;
    int rc;                      /* scoring failed: exit status (the run cancels) */
    double score_seconds;
    /* progress */
    int progress;
    double t0, last_draw, units, units_total;
    uint32_t finished;
} run_state;

static int score_sample(run_state *R, const didcl_sample *r) {
    evaluator *E = R->E;
    scored *S = &R->sc[r->index];
    double t0 = didcl_cli_now();
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int retok = !E->same_tok;
    for (int32_t i = 0; !retok && i < r->n_ids; i++)
        retok = r->ids[i] >= E->vocab;
    if (retok) {
        char *clean = didcl_cli_utf8_clean(r->text, r->text_len);
        didcl_status st = clean ? didcl_tokenizer_encode(E->tok, clean, strlen(clean), 0, &ids,
                                                         &n_ids)
                                : DIDCL_ERR_NO_MEMORY;
        free(clean);
        if (st != DIDCL_OK) {
            fprintf(stderr, "didcl eval: sample %u: re-encoding for the evaluator: %s\n",
                    r->index, didcl_last_error());
            return 1;
        }
    }
    const int32_t *src = retok ? ids : r->ids;
    uint32_t n = (uint32_t)(retok ? n_ids : (size_t)r->n_ids);
    int32_t *seq = malloc(sizeof *seq * (n + 1));
    S->tok_nll = malloc(sizeof *S->tok_nll * (n + 1));
    if (!seq || !S->tok_nll) {
        free(seq);
        free(ids);
        fprintf(stderr, "didcl eval: out of memory\n");
        return 1;
    }
    seq[0] = E->bos;
    memcpy(seq + 1, src, sizeof *seq * n);
    uint32_t count = 0;
    didcl_status st = score_seq(E, seq, n + 1, &S->nll, &count, S->tok_nll);
    free(seq);
    if (st != DIDCL_OK) {
        free(ids);
        fprintf(stderr, "didcl eval: sample %u: scoring with --evaluator %s: %s\n", r->index,
                E->dir, didcl_last_error());
        return 1;
    }
    S->tokens = count;
    S->entropy = didcl_es_entropy(src, n);
    for (int k = 0; k < 3; k++)
        S->distinct[k] = didcl_es_distinct(src, n, k + 1);
    if (retok) {
        S->eval_ids = ids;
        S->n_eval = n;
    }
    S->done = 1;
    R->score_seconds += didcl_cli_now() - t0;
    return 0;
}

static void fmt_time(char *buf, size_t size, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void progress_draw(run_state *R) {
    /* generating (committed and remasked positions) and scoring (finished samples):
     * the events of a lockstep batch's samples come when the whole batch is done */
    double g = R->units_total > 0 ? R->units / R->units_total : 0.0;
    double f = 0.8 * (g < 1.0 ? g : 1.0) + 0.2 * (R->n ? (double)R->finished / R->n : 0.0);
    double el = didcl_cli_now() - R->t0;
    char bar[31], e1[48], e2[48] = "?";
    int fill = (int)(f * 30.0 + 0.5);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fmt_time(e1, sizeof e1, el);
    if (f > 0.01)
        fmt_time(e2, sizeof e2, el * (1.0 - f) / f);
    fprintf(stderr, "\r\x1b[Keval [%s] %3d%%  %u/%u scored  %s elapsed  ETA %s", bar,
            (int)(f * 100.0), R->finished, R->n, e1, e2);
    fflush(stderr);
}

static int on_event(const didcl_event *ev, void *user) {
    run_state *R = user;
    if (ev->kind == DIDCL_EVENT_BLOCK_DONE && ev->stage == 1)
        R->units += ev->len;
    else if (ev->kind == DIDCL_EVENT_STAGE_START && ev->stage >= 2)
        R->units += ev->remasked;
    else if (ev->kind == DIDCL_EVENT_SAMPLE_DONE) {
        if (score_sample(R, ev->result)) {
            R->rc = 1;
            return 1;
        }
        R->finished++;
    }
    if (R->progress) {
        double t = didcl_cli_now();
        if (t - R->last_draw >= 0.1 || ev->kind == DIDCL_EVENT_SAMPLE_DONE) {
            R->last_draw = t;
            progress_draw(R);
        }
    }
    return 0;
}

/* ---- output ---- */

static json_t *ci_json(const didcl_es_interval *ci) {
    return json_pack("[f, f]", ci->lo, ci->hi);
}

/* One --save line. */
static json_t *sample_json(const didcl_sample *r, const scored *S) {
    json_t *ids = json_array(), *tn = json_array(), *nfe = json_array();
    for (int32_t i = 0; i < r->n_ids; i++)
        json_array_append_new(ids, json_integer(r->ids[i]));
    for (uint32_t i = 0; i < (uint32_t)S->tokens; i++)
        json_array_append_new(tn, json_real(S->tok_nll[i]));
    for (int32_t k = 0; k < r->n_stages; k++)
        json_array_append_new(nfe, json_integer(r->stages[k].nfe));
    char *clean = didcl_cli_utf8_clean(r->text, r->text_len);
    json_t *o = json_pack("{s:I, s:i, s:o, s:s, s:f, s:i, s:f, s:f, s:[f, f, f], s:o, s:o}",
                          "seed", (json_int_t)r->options.seed, "sample", (int)r->index, "ids",
                          ids, "text", clean ? clean : "", "nll", S->nll, "tokens",
                          (int)S->tokens, "nll_per_token",
                          S->tokens > 0 ? S->nll / S->tokens : 0.0, "entropy", S->entropy,
                          "distinct", S->distinct[0], S->distinct[1], S->distinct[2], "nfe",
                          nfe, "token_nll", tn);
    free(clean);
    if (S->eval_ids) {
        json_t *e = json_array();
        for (uint32_t i = 0; i < S->n_eval; i++)
            json_array_append_new(e, json_integer(S->eval_ids[i]));
        json_object_set_new(o, "eval_ids", e);
    }
    return o;
}

/* Write every sample to a temporary file beside path, then rename it into place. */
static int save_samples(const char *path, const didcl_results *res, const scored *sc) {
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) + 1 : 0;
    snprintf(g_tmp, sizeof g_tmp, "%.*s.%s.tmp-XXXXXX", dl, path, slash ? slash + 1 : path);
    int fd = mkstemp(g_tmp);
    if (fd < 0) {
        fprintf(stderr, "didcl eval: --save %s: cannot create a file there: %s\n", path,
                strerror(errno));
        return 1;
    }
    g_tmp_live = 1;
    mode_t um = umask(0);
    umask(um);
    FILE *f = fchmod(fd, 0666 & ~um) == 0 ? fdopen(fd, "w") : NULL;
    int ok = f != NULL;
    if (!f)
        close(fd);
    for (size_t i = 0; ok && i < res->n; i++) {
        json_t *o = sample_json(&res->samples[i], &sc[res->samples[i].index]);
        ok = o &&
             json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) == 0 &&
             fputc('\n', f) != EOF;
        json_decref(o);
    }
    if (f) {
        ok &= !ferror(f);
        ok &= fclose(f) == 0;
    }
    if (ok)
        ok = rename(g_tmp, path) == 0;
    if (!ok) {
        fprintf(stderr, "didcl eval: --save %s: cannot write: %s\n", path, strerror(errno));
        unlink(g_tmp);
    }
    g_tmp_live = 0;
    return ok ? 0 : 1;
}

typedef struct summary {
    size_t n;
    double tokens;
    didcl_es_interval ppl, ent;
    double distinct[3];
    int32_t n_stages;
    didcl_stage_stats st[1 + DIDCL_MAX_REVISIONS]; /* totals */
    double gen_seconds, score_seconds, load_seconds, tok_per_s;
    int64_t generated;
} summary;

static int summarize(const eval_opts *c, const didcl_results *res, const scored *sc,
                     double score_seconds, summary *S) {
    const size_t n = res->n;
    double *nll = malloc(sizeof *nll * n), *tok = malloc(sizeof *tok * n),
           *ent = malloc(sizeof *ent * n);
    if (!nll || !tok || !ent) {
        free(nll);
        free(tok);
        free(ent);
        return -1;
    }
    memset(S, 0, sizeof *S);
    S->n = n;
    for (size_t i = 0; i < n; i++) {
        nll[i] = sc[i].nll;
        tok[i] = sc[i].tokens;
        ent[i] = sc[i].entropy;
        S->tokens += sc[i].tokens;
        for (int k = 0; k < 3; k++)
            S->distinct[k] += sc[i].distinct[k] / (double)n;
    }
    int rc = didcl_es_gen_ppl_ci(nll, tok, n, c->reps, BOOT_SEED, &S->ppl);
    rc |= didcl_es_mean_ci(ent, n, c->reps, BOOT_SEED, &S->ent);
    free(nll);
    free(tok);
    free(ent);
    S->n_stages = res->n_stages;
    memcpy(S->st, res->totals, sizeof S->st);
    S->score_seconds = score_seconds;
    S->gen_seconds = res->seconds - score_seconds; /* scoring ran inside the call */
    if (S->gen_seconds < 0)
        S->gen_seconds = 0;
    S->load_seconds = res->load_seconds;
    S->generated = res->generated;
    S->tok_per_s = S->gen_seconds > 0 ? (double)res->generated / S->gen_seconds : 0.0;
    return rc;
}

static void print_text(const summary *S, const didcl_gen_options *o, const evaluator *E,
                       const char *device) {
    const double n = (double)S->n;
    printf("didcl eval: %zu samples of %d tokens, seed %llu, on %s\n", S->n, (int)o->length,
           (unsigned long long)o->seed, device);
    printf("  evaluator   %s (%s ids, context %u, stride %u)\n", E->dir,
           E->same_tok ? "same" : "retokenized", E->ctx, E->stride);
    printf("  Gen PPL     %.3f  [%.3f, %.3f] 95%% bootstrap over samples (%.0f tokens)\n",
           S->ppl.value, S->ppl.lo, S->ppl.hi, S->tokens);
    printf("  entropy     %.4f  [%.4f, %.4f] mean unigram entropy per sample (nats)\n",
           S->ent.value, S->ent.lo, S->ent.hi);
    printf("  distinct    1: %.4f  2: %.4f  3: %.4f  (mean per sample)\n", S->distinct[0],
           S->distinct[1], S->distinct[2]);
    printf("  %-5s %-7s %6s %6s %9s %9s %9s %11s\n", "stage", "kind", "block", "gamma",
           "remasked", "NFE", "store-KV", "FLOPs");
    double nfe = 0, flops = 0;
    for (int32_t k = 0; k < S->n_stages; k++) {
        const didcl_stage_stats *s = &S->st[k];
        printf("  %-5d %-7s %6d %6.3g %9.1f %9.1f %9.1f %11.4g   (per sample)\n", (int)s->stage,
               k ? "revise" : "draft", (int)s->block, s->gamma, s->remasked / n, s->nfe / n,
               s->store_kv / n, s->flops / n);
        nfe += s->nfe / n;
        flops += s->flops / n;
    }
    printf("  %-5s %-7s %6s %6s %9s %9.1f %9s %11.4g\n", "total", "", "", "", "", nfe, "",
           flops);
    printf("  speed       %.1f tokens/s generating (%.2f s), scoring %.2f s, load %.2f s\n",
           S->tok_per_s, S->gen_seconds, S->score_seconds, S->load_seconds);
}

static json_t *summary_json(const summary *S, const didcl_gen_options *o, const evaluator *E,
                            json_t *options, int reps) {
    const double n = (double)S->n;
    json_t *stages = json_array();
    double nfe = 0;
    for (int32_t k = 0; k < S->n_stages; k++) {
        const didcl_stage_stats *s = &S->st[k];
        json_array_append_new(
            stages, json_pack("{s:i, s:s, s:i, s:f, s:f, s:f, s:f, s:f}", "stage", s->stage,
                              "kind", k ? "revise" : "draft", "block", s->block, "gamma",
                              s->gamma, "remasked", s->remasked / n, "nfe", s->nfe / n,
                              "store_kv", s->store_kv / n, "flops", s->flops / n));
        nfe += s->nfe / n;
    }
    json_t *j = json_pack(
        "{s:i, s:I, s:I, s:f, s:o, s:f, s:o, s:{s:f, s:f, s:f}, s:f, s:o, s:f, s:{s:f, s:f, "
        "s:f}, s:{s:s, s:b, s:i, s:i}, s:{s:i, s:I}}",
        "samples", (int)S->n, "seed", (json_int_t)o->seed, "tokens", (json_int_t)S->tokens,
        "gen_ppl", S->ppl.value, "gen_ppl_ci", ci_json(&S->ppl), "entropy", S->ent.value,
        "entropy_ci", ci_json(&S->ent), "distinct", "1", S->distinct[0], "2", S->distinct[1], "3",
        S->distinct[2], "nfe", nfe, "stages", stages, "tokens_per_s", S->tok_per_s,
        "seconds", "generate", S->gen_seconds, "score", S->score_seconds, "load",
        S->load_seconds, "evaluator", "dir", E->dir, "retokenized", !E->same_tok, "context",
        (int)E->ctx, "stride", (int)E->stride, "bootstrap", "reps", reps, "seed",
        (json_int_t)BOOT_SEED);
    json_object_set_new(j, "options", options);
    return j;
}

/* ---- --compare ---- */

typedef struct saved {
    size_t n;
    uint64_t *seed;
    int *sample;
    double *nll, *tok, *ent;
} saved;

static void saved_free(saved *s) {
    free(s->seed);
    free(s->sample);
    free(s->nll);
    free(s->tok);
    free(s->ent);
}

static int cmp_by_sample(const void *x, const void *y) {
    const int *a = x, *b = y;
    return (*a > *b) - (*a < *b);
}

/* Read a --save file. Returns -1 when read, else an exit status (reported). */
static int saved_read(const char *path, saved *S) {
    memset(S, 0, sizeof *S);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "didcl eval: --compare %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, cap_n = 0;
    ssize_t len;
    long lineno = 0;
    int rc = -1;
    struct row { int sample; uint64_t seed; double nll, tok, ent; } *rows = NULL;
    while (rc < 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len <= 1)
            continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        json_t *seed = o ? json_object_get(o, "seed") : NULL;
        json_t *smp = o ? json_object_get(o, "sample") : NULL;
        json_t *nll = o ? json_object_get(o, "nll") : NULL;
        json_t *tok = o ? json_object_get(o, "tokens") : NULL;
        json_t *ent = o ? json_object_get(o, "entropy") : NULL;
        if (!json_is_integer(seed) || !json_is_integer(smp) || !json_is_number(nll) ||
            !json_is_integer(tok) || !json_is_number(ent)) {
            rc = usage_error("--compare %s line %ld: expected a didcl eval --save record "
                             "(seed, sample, nll, tokens, entropy)", path, lineno);
        } else {
            if (S->n == cap_n) {
                cap_n = cap_n ? 2 * cap_n : 64;
                void *p = realloc(rows, sizeof *rows * cap_n);
                if (!p) {
                    json_decref(o);
                    rc = 1;
                    break;
                }
                rows = p;
            }
            rows[S->n++] = (struct row){(int)json_integer_value(smp),
                                        (uint64_t)json_integer_value(seed),
                                        json_number_value(nll),
                                        (double)json_integer_value(tok),
                                        json_number_value(ent)};
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (rc < 0 && S->n == 0)
        rc = usage_error("--compare %s: no samples", path);
    if (rc >= 0) {
        free(rows);
        return rc;
    }
    qsort(rows, S->n, sizeof *rows, cmp_by_sample); /* sample is the first member */
    S->seed = malloc(sizeof *S->seed * S->n);
    S->sample = malloc(sizeof *S->sample * S->n);
    S->nll = malloc(sizeof *S->nll * S->n);
    S->tok = malloc(sizeof *S->tok * S->n);
    S->ent = malloc(sizeof *S->ent * S->n);
    if (!S->seed || !S->sample || !S->nll || !S->tok || !S->ent) {
        free(rows);
        fprintf(stderr, "didcl eval: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < S->n; i++) {
        S->seed[i] = rows[i].seed;
        S->sample[i] = rows[i].sample;
        S->nll[i] = rows[i].nll;
        S->tok[i] = rows[i].tok;
        S->ent[i] = rows[i].ent;
    }
    free(rows);
    return -1;
}

static int compare(const eval_opts *c) {
    saved A, B;
    int rc = saved_read(c->compare_a, &A);
    if (rc >= 0)
        return rc;
    rc = saved_read(c->compare_b, &B);
    if (rc >= 0) {
        saved_free(&A);
        return rc;
    }
    if (A.n != B.n)
        rc = usage_error("--compare: %s has %zu samples, %s has %zu: pairs need the same "
                         "samples (same --seed and --samples)", c->compare_a, A.n,
                         c->compare_b, B.n);
    for (size_t i = 0; rc < 0 && i < A.n; i++)
        if (A.seed[i] != B.seed[i] || A.sample[i] != B.sample[i])
            rc = usage_error("--compare: sample %d seed %llu in %s has no partner in %s "
                             "(found sample %d seed %llu): the files were not generated with "
                             "the same seeds", A.sample[i], (unsigned long long)A.seed[i],
                             c->compare_a, c->compare_b, B.sample[i],
                             (unsigned long long)B.seed[i]);
    if (rc < 0) {
        didcl_es_interval pa, pb, ratio, diff;
        if (didcl_es_gen_ppl_ci(A.nll, A.tok, A.n, c->reps, BOOT_SEED, &pa) ||
            didcl_es_gen_ppl_ci(B.nll, B.tok, B.n, c->reps, BOOT_SEED, &pb) ||
            didcl_es_paired_ci(A.nll, A.tok, B.nll, B.tok, A.ent, B.ent, A.n, c->reps,
                               BOOT_SEED, &ratio, &diff)) {
            fprintf(stderr, "didcl eval: out of memory\n");
            rc = 1;
        } else if (c->json) {
            double ea = 0, eb = 0;
            for (size_t i = 0; i < A.n; i++) {
                ea += A.ent[i] / (double)A.n;
                eb += B.ent[i] / (double)B.n;
            }
            json_t *j = json_pack(
                "{s:s, s:s, s:i, s:f, s:o, s:f, s:o, s:f, s:o, s:f, s:f, s:f, s:o, s:{s:i, s:I}}",
                "a", c->compare_a, "b", c->compare_b, "samples", (int)A.n, "gen_ppl_a",
                pa.value, "gen_ppl_a_ci", ci_json(&pa), "gen_ppl_b", pb.value, "gen_ppl_b_ci",
                ci_json(&pb), "ratio", ratio.value, "ratio_ci", ci_json(&ratio), "entropy_a", ea,
                "entropy_b", eb, "entropy_diff", diff.value, "entropy_diff_ci", ci_json(&diff),
                "bootstrap", "reps", c->reps, "seed", (json_int_t)BOOT_SEED);
            char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
            rc = s && puts(s) >= 0 ? 0 : 1;
            free(s);
            json_decref(j);
        } else {
            printf("didcl eval --compare: %zu paired samples\n", A.n);
            printf("  A %s: Gen PPL %.3f [%.3f, %.3f]\n", c->compare_a, pa.value, pa.lo, pa.hi);
            printf("  B %s: Gen PPL %.3f [%.3f, %.3f]\n", c->compare_b, pb.value, pb.lo, pb.hi);
            printf("  Gen PPL ratio B/A  %.4f  [%.4f, %.4f] paired 95%% bootstrap\n",
                   ratio.value, ratio.lo, ratio.hi);
            printf("  entropy B - A      %+.4f  [%+.4f, %+.4f]\n", diff.value, diff.lo, diff.hi);
            rc = 0;
        }
    }
    saved_free(&A);
    saved_free(&B);
    return rc;
}

/* ---- options and the run ---- */

/* Returns -1 to go on, else an exit status. */
static int parse_args(eval_opts *c, int argc, char **argv) {
    static const struct option opts[] = {
        DIDCL_CLI_GENOPTS_LONG,
        {"evaluator", required_argument, NULL, OPT_EVALUATOR},
        {"eval-tokenizer", required_argument, NULL, OPT_EVAL_TOKENIZER},
        {"save", required_argument, NULL, OPT_SAVE},
        {"compare", required_argument, NULL, OPT_COMPARE},
        {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    long v;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int rc;
        switch (ch) {
        case OPT_EVALUATOR: c->evaluator = optarg; break;
        case OPT_EVAL_TOKENIZER: c->eval_tokenizer = optarg; break;
        case OPT_SAVE: c->save = optarg; break;
        case OPT_COMPARE: c->compare_a = optarg; break;
        case OPT_JSON: c->json = 1; break;
        case OPT_QUIET: c->quiet = 1; break;
        case OPT_BOOTSTRAP:
            if (didcl_cli_parse_long("eval", "bootstrap", optarg, 1, 1000000, &v))
                return 2;
            c->reps = (int)v;
            break;
        case 'h': fputs(USAGE, stdout); return 0;
        default:
            rc = didcl_cli_genopts_parse(&c->go, "eval", ch, optarg);
            if (rc >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return didcl_cli_bad_option("eval", ch, argv);
        }
    }
    if (c->compare_a) {
        if (optind + 1 != argc)
            return usage_error("--compare A B: expected two --save files");
        c->compare_b = argv[optind];
        if (c->evaluator || c->save)
            return usage_error("--compare reads saved samples: not with --evaluator or --save");
        return -1;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!c->evaluator)
        return usage_error("--evaluator DIR is required: a GPT-2 checkpoint to score the "
                           "samples (e.g. models/evaluator)");
    if (c->save && !*c->save)
        return usage_error("--save: empty file name");
    return didcl_cli_genopts_finish(&c->go, "eval");
}

static int run(eval_opts *c) {
    char defdir[PATH_MAX];
    didcl_session_params sp = didcl_session_default_params();
    if (didcl_cli_genopts_session(&c->go, "eval", &sp, defdir, sizeof defdir))
        return 1;
    didcl_session_t s = NULL;
    evaluator E;
    memset(&E, 0, sizeof E);
    run_state R;
    memset(&R, 0, sizeof R);
    didcl_results *res = NULL;
    int rc;
    didcl_status st = didcl_session_open(&sp, &s);
    if (st != DIDCL_OK)
        return didcl_cli_session_error("eval", st, didcl_last_error());
    didcl_request rq = didcl_request_default();
    didcl_cli_genopts_request(&c->go, &rq);
    didcl_gen_options o;
    if ((st = didcl_session_check(s, &rq, &o)) != DIDCL_OK) {
        rc = didcl_cli_session_error("eval", st, didcl_session_error(s));
        goto out;
    }
    if ((rc = evaluator_open(&E, c, s)) >= 0)
        goto out;
    R.c = c;
    R.E = &E;
    R.n = (uint32_t)c->go.samples;
    R.sc = calloc(R.n, sizeof *R.sc);
    if (!R.sc) {
        rc = 1;
        goto out;
    }
    double gsum = 0;
    for (int32_t k = 0; k < o.n_revisions; k++)
        gsum += o.revisions[k].gamma;
    R.units_total = (double)R.n * o.length * (1.0 + gsum);
    R.progress = !c->quiet && isatty(STDERR_FILENO);
    R.t0 = didcl_cli_now();
    st = didcl_session_generate(s, &rq, 1, on_event, &R, &res);
    if (R.progress)
        fputs("\r\x1b[K", stderr);
    if (st != DIDCL_OK) {
        rc = R.rc ? R.rc
                  : didcl_cli_session_error("eval", DIDCL_ERR_OPENCL, didcl_session_error(s));
        goto out;
    }
    scored *sc = R.sc;
    summary S;
    if (summarize(c, res, sc, R.score_seconds, &S)) {
        fprintf(stderr, "didcl eval: out of memory\n");
        rc = 1;
        goto out;
    }
    if (c->save && (rc = save_samples(c->save, res, sc)) != 0)
        goto out;
    const char *dev = didcl_session_device(s)->name;
    if (c->json) {
        json_t *opt = didcl_cli_options_json(&o, didcl_session_model_dir(s), dev,
                                             res->n ? res->samples[0].remask : "");
        json_object_set_new(opt, "half_weights", json_boolean(c->go.half));
        json_object_set_new(opt, "batch", json_integer(res->batch));
        json_t *j = summary_json(&S, &o, &E, opt, c->reps);
        char *txt = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        rc = txt && puts(txt) >= 0 ? 0 : 1;
        free(txt);
        json_decref(j);
    } else {
        print_text(&S, &o, &E, dev);
        rc = 0;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "didcl: stdout: cannot write: %s\n", strerror(errno));
        rc = 1;
    }
out:
    if (R.sc)
        for (uint32_t i = 0; i < R.n; i++) {
            free(R.sc[i].tok_nll);
            free(R.sc[i].eval_ids);
        }
    free(R.sc);
    didcl_results_free(res);
    evaluator_free(&E);
    didcl_session_free(s);
    return rc;
}

int didcl_cli_eval(int argc, char **argv) {
    eval_opts c;
    memset(&c, 0, sizeof c);
    didcl_cli_genopts_init(&c.go);
    c.go.samples = 16;
    c.reps = 1000;
    int rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    if (c.compare_a)
        return compare(&c);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, on_signal);
    return run(&c);
}

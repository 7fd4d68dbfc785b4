/*
 * generate.c — `didcl generate`: text from a BD3-LM with the DiD sampler. Loads the model
 * (default: the installed models/default), encodes the prompt, drafts with small blocks
 * and a KV cache, optionally revises the least confident positions (--revise, chosen by
 * a remask plugin), decodes and prints. Modes: plain text, --stream (text as blocks
 * finish), --visual (a live canvas on a terminal), --json (one object per sample); a
 * per-position --trace (JSON Lines or CSV) and a per-stage summary on stderr.
 *
 * Everything about generation itself (defaults, checks, batches, plugins, the draft and
 * remask history, totals) is the library's session API (include/didcl.h); this file
 * parses options and formats what the session's events and results say.
 *
 * Exit status: 0 success, 2 usage errors (bad option values, options the model cannot
 * take, an unknown plugin), 1 runtime errors (files, device, model). The --trace file is
 * written to a temporary name beside it and renamed only when every sample succeeded.
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
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/genopts.h"

static const char USAGE[] =
    "usage: didcl generate [--model DIR] [--device D] [--prompt TEXT | --prompt-file F]\n"
    "                      [--length N] [--samples N] [--seed S] [--top-p P]\n"
    "                      [--temperature T] [--block B] [--steps N | --threshold TAU]\n"
    "                      [--revise GAMMA[@BLOCK]]... [--remask NAME[:k=v,...]]\n"
    "                      [--plugin-path DIR] [--trace FILE] [--stream | --visual]\n"
    "                      [--json] [--no-cache] [--var-length] [--reject-low-entropy]\n"
    "                      [--batch N | --sequential] [--no-special] [--half] [--quiet]\n"
    "Generate text with a block-diffusion LM: a draft in blocks of B tokens with a KV cache\n"
    "(stage 1), then for each --revise a DiD revision that remasks the fraction GAMMA of\n"
    "generated tokens the model was least sure of and regenerates them by diffusion.\n"
    "  --model DIR         BD3-LM checkpoint (config.json, model.safetensors, tokenizer);\n"
    "                      default: the installed default model\n"
    "  --tokenizer PATH    tokenizer when DIR has none (tokenizer.json or a directory)\n"
    "  --device D          OpenCL device, P:D or a name substring (see didcl devices)\n"
    "  --prompt TEXT       text to continue (placed after BOS; never changed)\n"
    "  --prompt-file F     read the prompt from F ('-' for stdin)\n"
    "  --length N          total tokens including BOS and prompt (default: model length)\n"
    "  --samples N         samples to draw (default 1); their drafts run in batches on the\n"
    "                      device, each sample's text the same as drawn alone; one after\n"
    "                      another with --sequential, --stream, --visual, --no-cache,\n"
    "                      --var-length or --reject-low-entropy (revision stages always\n"
    "                      run per sample)\n"
    "  --batch N           samples per batch, 1 to 64 (16; at most length/block); each\n"
    "                      holds its own KV cache on the device\n"
    "  --sequential        draw --samples one after another (one KV cache)\n"
    "  --seed S            random seed (default: from the clock, printed in the summary)\n"
    "  --top-p P           nucleus mass in (0, 1] (0.9)\n"
    "  --temperature T     >= 0, 0 = greedy (1.0)\n"
    "  --block B           stage-1 block size, must divide the length (model's block_size)\n"
    "  --steps N           stage 1 commits the most confident tokens in N forwards per block\n"
    "                      (N <= B: a block of B masks never needs more)\n"
    "  --threshold TAU     stage 1 commits every token with confidence >= TAU (at least one)\n"
    "                      (neither: first-hitting, one token per forward, as BD3-LM)\n"
    "  --revise G[@B]      add a revision stage remasking the fraction G in [0, 1], then\n"
    "                      regenerating it globally (bidirectional), or with @B in blocks\n"
    "                      of B left to right under block-diffusion attention (block j sees\n"
    "                      blocks <= j); repeat for more stages (max 8)\n"
    "  --revise-steps N    revision stages commit in N forwards per block\n"
    "  --revise-threshold TAU  revision stages commit tokens with confidence >= TAU\n"
    "  --revise-reuse N    approximate global revision: an exact forward every N, the ones\n"
    "                      between forward only the changed and drawn rows over the kept\n"
    "                      K/V (0: off, exact; 1: every forward exact; Gen-PPL cost in\n"
    "                      docs/performance.md)\n"
    "  --remask SPEC       remask plugin NAME[:key=value,...] or a .so path (default lowconf)\n"
    "  --plugin-path DIR   extra ':'-separated plugin directories, searched first\n"
    "  --trace FILE        per-position record of every sample: JSON Lines, or CSV when FILE\n"
    "                      ends in .csv\n"
    "  --stream            print text as stage-1 blocks finish, then the revised text\n"
    "  --visual            redraw the sequence live on the terminal (plain output otherwise)\n"
    "  --json              one JSON object per sample on stdout (text, ids, stats, options)\n"
    "  --no-cache          draft without the KV cache (block-causal full forwards)\n"
    "  --var-length        stop a sample at its first generated end-of-text\n"
    "  --reject-low-entropy  redraw samples whose last 256 tokens have unigram entropy < 4\n"
    "  --no-special        special tokens written in the prompt are plain text\n"
    "  --half              keep the large weight matrices as half floats on the device\n"
    "                      (half the memory and bandwidth; compute stays fp32)\n"
    "  --quiet             no summary or progress on stderr\n";

/* ---- options ---- */

typedef struct cli_opts {
    didcl_cli_genopts go;        /* model, device, sampling, revision, batch: genopts.h */
    const char *prompt, *prompt_file, *trace;
    int stream, visual, json, quiet, sequential, no_special;
} cli_opts;

#define usage_error(...) didcl_cli_usage_error("generate", __VA_ARGS__)

enum {
    OPT_PROMPT_FILE = 512, OPT_TRACE, OPT_STREAM, OPT_VISUAL, OPT_JSON, OPT_VAR_LENGTH,
    OPT_REJECT, OPT_QUIET, OPT_SEQUENTIAL, OPT_NO_SPECIAL,
};

/* Returns -1 to go on, else an exit status. */
static int parse_args(cli_opts *c, int argc, char **argv) {
    static const struct option opts[] = {
        DIDCL_CLI_GENOPTS_LONG,
        {"prompt", required_argument, NULL, 'p'},
        {"prompt-file", required_argument, NULL, OPT_PROMPT_FILE},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"visual", no_argument, NULL, OPT_VISUAL},
        {"json", no_argument, NULL, OPT_JSON},
        {"var-length", no_argument, NULL, OPT_VAR_LENGTH},
        {"reject-low-entropy", no_argument, NULL, OPT_REJECT},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"sequential", no_argument, NULL, OPT_SEQUENTIAL},
        {"no-special", no_argument, NULL, OPT_NO_SPECIAL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":m:d:p:h", opts, NULL)) != -1) {
        int rc;
        switch (ch) {
        case 'm': c->go.model = optarg; break;
        case 'd': c->go.device = optarg; break;
        case 'p': c->prompt = optarg; break;
        case OPT_PROMPT_FILE: c->prompt_file = optarg; break;
        case OPT_TRACE: c->trace = optarg; break;
        case OPT_STREAM: c->stream = 1; break;
        case OPT_VISUAL: c->visual = 1; break;
        case OPT_JSON: c->json = 1; break;
        case OPT_VAR_LENGTH: c->go.o.var_length = 1; break;
        case OPT_REJECT: c->go.o.reject_low_entropy = 1; break;
        case OPT_QUIET: c->quiet = 1; break;
        case OPT_SEQUENTIAL: c->sequential = 1; break;
        case OPT_NO_SPECIAL: c->no_special = 1; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default:
            rc = didcl_cli_genopts_parse(&c->go, "generate", ch, optarg);
            if (rc >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return didcl_cli_bad_option("generate", ch, argv);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (c->prompt && c->prompt_file)
        return usage_error("--prompt and --prompt-file are exclusive, give one");
    int rc = didcl_cli_genopts_finish(&c->go, "generate");
    if (rc >= 0)
        return rc;
    if (c->stream && c->visual)
        return usage_error("--stream and --visual are exclusive");
    if (c->json && (c->stream || c->visual))
        return usage_error("--json replaces the text output: not with %s",
                           c->stream ? "--stream" : "--visual");
    if (c->trace && !*c->trace)
        return usage_error("--trace: empty file name");
    return -1;
}

/* Write s (n bytes) as a JSON string (invalid UTF-8 as U+FFFD). */
static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = didcl_cli_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fwrite(s + i, 1, l, f);
        i += l;
    }
    fputc('"', f);
}

/* Write s as a CSV field: quoted, quotes doubled (invalid UTF-8 as U+FFFD). */
static void csv_str(FILE *f, const char *s, size_t n) {
    char *clean = didcl_cli_utf8_clean(s, n);
    fputc('"', f);
    for (const char *p = clean ? clean : ""; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
    free(clean);
}

/* ---- signals: leave the terminal and the file system as they were ---- */

static volatile sig_atomic_t g_visual_on;
static char g_trace_tmp[PATH_MAX + 64];
static volatile sig_atomic_t g_trace_tmp_live;

#define VISUAL_ENTER "\x1b[?1049h\x1b[?25l"
#define VISUAL_LEAVE "\x1b[0m\x1b[?25h\x1b[?1049l"

static void on_signal(int sig) {
    if (g_visual_on) {
        ssize_t w = write(STDOUT_FILENO, VISUAL_LEAVE, sizeof VISUAL_LEAVE - 1);
        (void)w;
    }
    if (g_trace_tmp_live)
        unlink(g_trace_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- what the run shows as it goes ---- */

typedef struct gen {
    const cli_opts *c;
    didcl_gen_options o;         /* the resolved options */
    didcl_tokenizer_t tok;
    int32_t eos_id;
    int32_t n_prompt;            /* of the request (from its events) */
    didcl_cli_live live;
    FILE *trace;                 /* the temporary --trace file, or NULL */
    int csv;
    json_t *opts;                /* --json: the options object every sample repeats */
    const char *model_dir, *device;
    double compile_seconds;      /* kernels built or loaded before stage 1 */
    int rc;                      /* an output failed: its exit status (the run cancels) */
    /* --stream */
    int32_t streamed;            /* positions printed so far */
    int stream_stop;             /* an EOS ended the text (var-length) */
    /* live display */
    int progress;                /* progress bar on stderr */
    int visual;                  /* visual canvas on stdout */
    double last_draw;
} gen;

/* Bytes of one token for display (NULL/0 when the tokenizer has none). */
static const char *tok_bytes(const gen *g, int32_t id, size_t *len) {
    const char *b = didcl_tokenizer_token_bytes(g->tok, id, len);
    if (!b)
        *len = 0;
    return b;
}

static void stream_out(gen *g, const int32_t *seq, int32_t end) {
    for (; g->streamed < end && !g->stream_stop; g->streamed++) {
        int32_t p = g->streamed;
        size_t len;
        const char *b = tok_bytes(g, seq[p], &len);
        if (g->o.var_length && p > g->n_prompt && seq[p] == g->eos_id) {
            g->stream_stop = 1;
            break;
        }
        if (len)
            fwrite(b, 1, len, stdout);
    }
    fflush(stdout);
}

static json_t *stage_json(const didcl_stage_stats *s) {
    return json_pack("{s:i, s:s, s:i, s:f, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}", "stage",
                     s->stage, "kind", s->stage == 1 ? "draft" : "revise", "block", s->block,
                     "gamma", s->gamma, "remasked", s->remasked, "committed", s->committed,
                     "nfe", s->nfe, "store_kv", s->store_kv, "tries", s->tries, "flops",
                     s->flops, "seconds", s->seconds, "tokens_per_s",
                     s->seconds > 0 ? s->committed / s->seconds : 0.0);
}

static json_t *options_json(const gen *g, const char *model_dir, const char *device,
                            const char *remask) {
    json_t *j = didcl_cli_options_json(&g->o, model_dir, device, remask);
    json_object_set_new(j, "samples", json_integer(g->c->go.samples));
    json_object_set_new(j, "half_weights", json_boolean(g->c->go.half));
    return j;
}

static int print_json(const gen *g, const didcl_sample *r) {
    char *clean = didcl_cli_utf8_clean(r->text, r->text_len);
    json_t *ids = json_array(), *stages = json_array();
    for (int32_t i = 0; i < r->n_ids; i++)
        json_array_append_new(ids, json_integer(r->ids[i]));
    for (int32_t k = 0; k < r->n_stages; k++)
        json_array_append_new(stages, stage_json(&r->stages[k]));
    json_t *o = json_pack("{s:i, s:s, s:o, s:i, s:i, s:o, s:b, s:O}", "sample", (int)r->index,
                          "seed", "", "ids", ids, "n_prompt", r->n_prompt, "length", r->n,
                          "stages", stages, "low_entropy", r->low_entropy, "options", g->opts);
    /* the text (valid UTF-8) and the seed as an exact unsigned number */
    json_object_set_new(o, "text", json_string(clean ? clean : ""));
    json_object_set_new(o, "compile_seconds", json_real(g->compile_seconds));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->options.seed);
    json_t *js = json_loads(seed, JSON_DECODE_ANY, NULL); /* NULL past INT64_MAX */
    json_object_set_new(o, "seed", js ? js : json_string(seed));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    int rc = s && puts(s) >= 0 ? 0 : -1;
    free(s);
    free(clean);
    json_decref(o);
    return rc;
}

static void trace_header(FILE *f, const didcl_gen_options *o) {
    fputs("sample,position,token,text,confidence,entropy,margin,stage,block,step,nfe,locked,"
          "draft_token", f);
    for (int32_t k = 0; k < o->n_revisions; k++)
        fprintf(f, ",remasked_%d", (int)k + 2);
    fputc('\n', f);
}

static void trace_sample(FILE *f, int csv, const gen *g, const didcl_sample *r) {
    for (int32_t p = 0; p < r->n; p++) {
        const didcl_remask_position *t = &r->trace[p];
        size_t len;
        const char *b = tok_bytes(g, t->token, &len);
        int locked = (t->flags & DIDCL_REMASK_LOCKED) != 0;
        if (csv) {
            fprintf(f, "%u,%d,%d,", r->index, (int)p, (int)t->token);
            csv_str(f, b, len);
            fprintf(f, ",%.9g,%.9g,%.9g,%d,%d,%d,%d,%d,%d", (double)t->confidence,
                    (double)t->entropy, (double)t->margin, (int)t->stage, (int)t->block,
                    (int)t->step, (int)t->nfe, locked, (int)r->draft[p]);
            for (int32_t k = 0; k < r->options.n_revisions; k++)
                fprintf(f, ",%u", (r->remasked[p] >> k) & 1u);
            fputc('\n', f);
        } else {
            fprintf(f, "{\"sample\":%u,\"position\":%d,\"token\":%d,\"text\":", r->index, (int)p,
                    (int)t->token);
            json_str(f, b, len);
            fprintf(f,
                    ",\"confidence\":%.9g,\"entropy\":%.9g,\"margin\":%.9g,\"stage\":%d,"
                    "\"block\":%d,\"step\":%d,\"nfe\":%d,\"locked\":%s,\"draft_token\":%d,"
                    "\"remasked\":[",
                    (double)t->confidence, (double)t->entropy, (double)t->margin, (int)t->stage,
                    (int)t->block, (int)t->step, (int)t->nfe, locked ? "true" : "false",
                    (int)r->draft[p]);
            for (int32_t k = 0, first = 1; k < r->options.n_revisions; k++)
                if ((r->remasked[p] >> k) & 1u) {
                    fprintf(f, "%s%d", first ? "" : ",", (int)k + 2);
                    first = 0;
                }
            fputs("]}\n", f);
        }
    }
}

static void print_summary(const cli_opts *c, const didcl_gen_options *o,
                          const didcl_results *res, const char *device, double compile) {
    const didcl_stage_stats *tot = res->totals;
    const int32_t n_stages = res->n_stages, nb = (int32_t)res->batch;
    const double seconds = res->seconds;
    const int64_t generated = res->generated;
    char batches[48] = "";
    if (nb > 1)
        snprintf(batches, sizeof batches, " (drafts in batches of %d)", (int)nb);
    fprintf(stderr,
            "didcl generate: %d sample%s%s of %d tokens, seed %llu%s, on %s\n", c->go.samples,
            c->go.samples == 1 ? "" : "s", batches, (int)o->length,
            (unsigned long long)o->seed, c->go.seed_set ? "" : " (pass --seed to repeat)", device);
    fprintf(stderr, "  %-5s %-7s %6s %6s %8s %7s %8s %10s %9s %9s\n", "stage", "kind", "block",
            "gamma", "remasked", "NFE", "store-KV", "FLOPs", "time", "tokens/s");
    for (int32_t k = 0; k < n_stages; k++) {
        const didcl_stage_stats *s = &tot[k];
        char gamma[16] = "-", rem[16] = "-";
        if (k > 0) {
            snprintf(gamma, sizeof gamma, "%.3g", s->gamma);
            snprintf(rem, sizeof rem, "%d", (int)s->remasked);
        }
        fprintf(stderr, "  %-5d %-7s %6d %6s %8s %7d %8d %10.3g %7.2f s %9.1f\n", (int)s->stage,
                k ? "revise" : "draft", (int)s->block, gamma, rem, (int)s->nfe,
                (int)s->store_kv, s->flops, s->seconds,
                s->seconds > 0 ? s->committed / s->seconds : 0.0);
    }
    int64_t nfe = 0, skv = 0;
    double flops = 0;
    for (int32_t k = 0; k < n_stages; k++) {
        nfe += tot[k].nfe;
        skv += tot[k].store_kv;
        flops += tot[k].flops;
    }
    fprintf(stderr, "  %-5s %-7s %6s %6s %8s %7lld %8lld %10.3g %7.2f s %9.1f\n", "total", "",
            "", "", "", (long long)nfe, (long long)skv, flops, seconds,
            seconds > 0 ? (double)generated / seconds : 0.0);
    fprintf(stderr, "  %-13s %58.2f s  (kernels built or read from the cache before stage 1; "
            "in no stage)\n", "compile", compile + res->compile_seconds);
}

/* ---- the run ---- */

/* One finished sample: the entropy note, its trace records, then its text or JSON. */
static int sample_out(gen *g, const didcl_sample *r) {
    const cli_opts *c = g->c;
    if (g->progress)
        fputs("\r\x1b[K", stderr);
    if (r->low_entropy && !c->quiet)
        fprintf(stderr, "didcl generate: sample %u: still below the entropy floor after %d "
                        "tries; kept the last draft\n", r->index, (int)r->stages[0].tries);
    if (g->trace)
        trace_sample(g->trace, g->csv, g, r);
    if (c->json) {
        if (!g->opts)
            g->opts = options_json(g, g->model_dir, g->device, r->remask);
        if (!g->opts || print_json(g, r) != 0) {
            fprintf(stderr, "didcl: --json: cannot write sample %u\n", r->index);
            g->rc = 1;
            return 1;
        }
    } else if (c->stream) {
        if (!g->stream_stop)
            stream_out(g, r->tokens, r->n);
        int revised = 0;
        for (int32_t k = 1; k < r->n_stages; k++)
            revised |= r->stages[k].remasked > 0;
        if (revised) {
            fputs("\n--- revised ---\n", stdout);
            fwrite(r->text, 1, r->text_len, stdout);
        }
        fputc('\n', stdout);
    } else {
        if (g->visual) { /* back to the normal screen for the text, which stays */
            fputs(VISUAL_LEAVE, stdout);
            g_visual_on = 0;
        }
        if (c->go.samples > 1)
            printf("%s--- sample %u ---\n", r->index ? "\n" : "", r->index);
        fwrite(r->text, 1, r->text_len, stdout);
        fputc('\n', stdout);
        if (g->visual && (int)r->index + 1 < c->go.samples) {
            g_visual_on = 1;
            fputs(VISUAL_ENTER, stdout);
        }
    }
    fflush(stdout);
    return 0;
}

/* The session's events: live display, --stream text, and each finished sample's output
 * (text, JSON, trace) as soon as its batch is done. Nonzero (an output failed) cancels. */
static int on_event(const didcl_event *ev, void *user) {
    gen *g = user;
    const cli_opts *c = g->c;
    g->n_prompt = ev->n_prompt;
    if (ev->kind == DIDCL_EVENT_STAGE_START && ev->stage == 1) {
        if (ev->attempt == 1)
            g->live.t_sample = didcl_cli_now();
        if (c->stream) {
            if (ev->attempt == 1 && c->go.samples > 1)
                printf("%s--- sample %u ---\n", ev->sample ? "\n" : "", ev->sample);
            if (ev->attempt > 1)
                fputs("\n[draft rejected: low entropy; drawing again]\n", stdout);
            g->streamed = 1;
            g->stream_stop = 0;
            stream_out(g, ev->seq, ev->n_prompt + 1);
        }
    }
    if (ev->kind == DIDCL_EVENT_BLOCK_DONE && c->stream && ev->stage == 1)
        stream_out(g, ev->seq, ev->start + ev->len);
    if (ev->kind == DIDCL_EVENT_SAMPLE_DONE)
        return sample_out(g, ev->result);
    if (!g->visual && !g->progress)
        return 0;
    double t = didcl_cli_now();
    int force = ev->kind == DIDCL_EVENT_STAGE_DONE || ev->kind == DIDCL_EVENT_STAGE_START;
    if (!force && t - g->last_draw < (g->visual ? 0.04 : 0.1))
        return 0;
    g->last_draw = t;
    if (g->visual)
        didcl_cli_visual_draw(&g->live, ev);
    else
        didcl_cli_progress_draw(&g->live, ev);
    return 0;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    char *buf = didcl_cli_read_all(f, len);
    if (f != stdin)
        fclose(f);
    return buf;
}

/* What run() holds, freed by res_free. */
typedef struct res_set {
    didcl_session_t s;
    char *prompt;
    didcl_results *results;
    FILE *trace;
} res_set;

static void res_free(res_set *r) {
    if (r->trace) {
        fclose(r->trace);
        r->trace = NULL;
    }
    if (g_trace_tmp_live) {
        unlink(g_trace_tmp);
        g_trace_tmp_live = 0;
    }
    didcl_results_free(r->results);
    didcl_session_free(r->s);
    free(r->prompt);
}

/* Put the finished trace in place: renamed over a regular file (or none), so a reader
 * never sees half of it; copied into anything else (a FIFO, a device), which a rename
 * would replace by a regular file. */
static int trace_finish(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return rename(g_trace_tmp, path);
    FILE *in = fopen(g_trace_tmp, "rb");
    FILE *out = in ? fopen(path, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (in)
        fclose(in);
    if (out)
        ok &= fclose(out) == 0;
    return ok ? unlink(g_trace_tmp) : -1;
}

/* Open the --trace file's temporary twin beside it. */
static int trace_open(const cli_opts *c, res_set *R) {
    const char *slash = strrchr(c->trace, '/');
    int dl = slash ? (int)(slash - c->trace) + 1 : 0;
    snprintf(g_trace_tmp, sizeof g_trace_tmp, "%.*s.%s.tmp-XXXXXX", dl, c->trace,
             slash ? slash + 1 : c->trace);
    int fd = mkstemp(g_trace_tmp);
    if (fd < 0) {
        fprintf(stderr, "didcl: --trace %s: cannot create a file there: %s\n", c->trace,
                strerror(errno));
        return 1;
    }
    g_trace_tmp_live = 1;
    mode_t um = umask(0); /* mkstemp made it 0600: give it an ordinary file's mode */
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0) {
        close(fd);
        fprintf(stderr, "didcl: --trace %s: %s\n", c->trace, strerror(errno));
        return 1;
    }
    R->trace = fdopen(fd, "w");
    if (!R->trace) {
        close(fd);
        fprintf(stderr, "didcl: --trace %s: %s\n", c->trace, strerror(errno));
        return 1;
    }
    return 0;
}

static int run(cli_opts *c, res_set *R) {
    /* the session: model directory, tokenizer, device */
    char defdir[PATH_MAX];
    didcl_session_params sp = didcl_session_default_params();
    if (didcl_cli_genopts_session(&c->go, "generate", &sp, defdir, sizeof defdir))
        return 1;
    didcl_status st = didcl_session_open(&sp, &R->s);
    if (st != DIDCL_OK)
        return didcl_cli_session_error("generate", st, didcl_last_error());

    /* the request, checked (defaults resolved) before any output file exists */
    didcl_request rq = didcl_request_default();
    didcl_cli_genopts_request(&c->go, &rq);
    if (c->sequential || c->stream || c->visual)
        rq.flags |= DIDCL_REQUEST_SEQUENTIAL;
    if (c->no_special)
        rq.flags |= DIDCL_REQUEST_NO_SPECIAL;
    size_t len = 0;
    if (c->prompt_file && !(R->prompt = read_file(c->prompt_file, &len))) {
        fprintf(stderr, "didcl: --prompt-file %s: cannot read: %s\n", c->prompt_file,
                strerror(errno));
        return 1;
    }
    if (R->prompt) { /* not NUL-terminated: its length is given */
        rq.prompt = len ? R->prompt : NULL;
        rq.prompt_len = len;
    } else if (c->prompt && *c->prompt) {
        rq.prompt = c->prompt;
    }
    gen g;
    memset(&g, 0, sizeof g);
    g.c = c;
    if ((st = didcl_session_check(R->s, &rq, &g.o)) != DIDCL_OK)
        return didcl_cli_session_error("generate", st, didcl_session_error(R->s));
    if (c->go.remask && g.o.n_revisions == 0 && !c->quiet)
        fprintf(stderr, "didcl generate: note: --remask has no effect without --revise\n");

    /* outputs */
    const size_t tl = c->trace ? strlen(c->trace) : 0;
    g.csv = tl >= 4 && !strcmp(c->trace + tl - 4, ".csv");
    if (c->trace) {
        if (trace_open(c, R))
            return 1;
        if (g.csv)
            trace_header(R->trace, &g.o);
    }
    g.trace = R->trace;
    g.tok = didcl_session_tokenizer(R->s);
    g.eos_id = didcl_session_config(R->s)->eos_token_id;
    g.live = (didcl_cli_live){g.tok, didcl_session_config(R->s)->mask_token_id, c->go.samples, 0};
    const char *devname = didcl_session_device(R->s)->name;
    const int out_tty = isatty(STDOUT_FILENO), err_tty = isatty(STDERR_FILENO);
    g.visual = c->visual && out_tty;
    g.progress = !c->quiet && err_tty && !c->stream && !g.visual;
    if (c->visual && !out_tty && !c->quiet)
        fprintf(stderr, "didcl generate: note: stdout is not a terminal, --visual prints plain "
                        "text\n");
    g.model_dir = didcl_session_model_dir(R->s);
    g.device = devname;

    /* kernels first, so that no stage time (nor the JSON of a sample) holds a compile */
    if ((st = didcl_session_prepare(R->s, &rq, &g.compile_seconds)) != DIDCL_OK)
        return didcl_cli_session_error("generate", st, didcl_session_error(R->s));

    /* generate */
    if (g.visual) {
        g_visual_on = 1;
        fputs(VISUAL_ENTER, stdout);
        fflush(stdout);
    }
    st = didcl_session_generate(R->s, &rq, 1, on_event, &g, &R->results);
    json_decref(g.opts);
    if (g.progress)
        fputs("\r\x1b[K", stderr);
    if (g_visual_on) {
        fputs(VISUAL_LEAVE, stdout);
        fflush(stdout);
        g_visual_on = 0;
    }
    if (st != DIDCL_OK)
        return g.rc ? g.rc
                    : didcl_cli_session_error("generate", DIDCL_ERR_OPENCL,
                                              didcl_session_error(R->s));
    if (ferror(stdout)) {
        fprintf(stderr, "didcl: stdout: cannot write: %s\n", strerror(errno));
        return 1;
    }
    if (R->trace) {
        int bad = ferror(R->trace);
        bad |= fclose(R->trace) != 0;
        R->trace = NULL;
        if (bad || trace_finish(c->trace) != 0) {
            fprintf(stderr, "didcl: --trace %s: cannot write: %s\n", c->trace, strerror(errno));
            return 1;
        }
        g_trace_tmp_live = 0;
    }
    if (!c->quiet)
        print_summary(c, &g.o, R->results, devname, g.compile_seconds);
    return 0;
}

int didcl_cli_generate(int argc, char **argv) {
    cli_opts c;
    memset(&c, 0, sizeof c);
    didcl_cli_genopts_init(&c.go);
    int rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    if (!c.go.seed_set)
        c.go.o.seed = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, on_signal); /* e.g. `| head`: still no partial --trace file */
    res_set R;
    memset(&R, 0, sizeof R);
    rc = run(&c, &R);
    res_free(&R);
    return rc;
}

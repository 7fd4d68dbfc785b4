/*
 * generate.c — `didcl generate`: text from a BD3-LM with the DiD sampler. Loads the model
 * (default: the installed models/default), encodes the prompt, drafts with small blocks
 * and a KV cache, optionally revises the least confident positions (--revise, chosen by
 * a remask plugin), decodes and prints. Modes: plain text, --stream (text as blocks
 * finish), --visual (a live canvas on a terminal), --json (one object per sample); a
 * per-position --trace (JSON Lines or CSV) and a per-stage summary on stderr.
 *
 * Exit status: 0 success, 2 usage errors (bad option values, options the model cannot
 * take, an unknown plugin), 1 runtime errors (files, device, model). The --trace file is
 * written to a temporary name beside it and renamed only when every sample succeeded.
 * Samples run one after another (one KV cache); batching is future work.
 */
#define _GNU_SOURCE /* ioctl TIOCGWINSZ, mkstemp, realpath */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model.h"
#include "sampler.h"

#ifndef DIDCL_MODELS_DIR
#define DIDCL_MODELS_DIR "/usr/local/share/didcl/models"
#endif

static const char USAGE[] =
    "usage: didcl generate [--model DIR] [--device D] [--prompt TEXT | --prompt-file F]\n"
    "                      [--length N] [--samples N] [--seed S] [--top-p P]\n"
    "                      [--temperature T] [--block B] [--steps N | --threshold TAU]\n"
    "                      [--revise GAMMA[@BLOCK]]... [--remask NAME[:k=v,...]]\n"
    "                      [--plugin-path DIR] [--trace FILE] [--stream | --visual]\n"
    "                      [--json] [--no-cache] [--var-length] [--reject-low-entropy]\n"
    "                      [--batch N | --sequential] [--half] [--quiet]\n"
    "Generate text with a block-diffusion LM: a draft in blocks of B tokens with a KV cache\n"
    "(stage 1), then for each --revise a DiD revision that remasks the fraction GAMMA of\n"
    "generated tokens the model was least sure of and regenerates them with global diffusion.\n"
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
    "  --threshold TAU     stage 1 commits every token with confidence >= TAU (at least one)\n"
    "                      (neither: first-hitting, one token per forward, as BD3-LM)\n"
    "  --revise G[@B]      add a revision stage remasking the fraction G in [0, 1]; B is its\n"
    "                      commit block (default: global); repeat for more stages (max 8)\n"
    "  --revise-steps N    revision stages commit in N forwards per block\n"
    "  --revise-threshold TAU  revision stages commit tokens with confidence >= TAU\n"
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
    "  --half              keep the large weight matrices as half floats on the device\n"
    "                      (half the memory and bandwidth; compute stays fp32)\n"
    "  --quiet             no summary or progress on stderr\n";

/* ---- options ---- */

typedef struct cli_opts {
    const char *model, *tokenizer, *device, *prompt, *prompt_file, *remask, *plugin_path;
    const char *trace;
    int32_t length, block, samples, batch;
    int length_set, block_set, seed_set, stream, visual, json, quiet, half, sequential;
    int steps_set, threshold_set, revise_steps_set, revise_threshold_set;
    didcl_gen_options o;
} cli_opts;

#define usage_error(...) didcl_cli_usage_error("generate", __VA_ARGS__)

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        didcl_cli_usage_error("generate", "--%s: '%s' is not an integer in [%ld, %ld]", opt, s,
                              lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) {
        didcl_cli_usage_error("generate", "--%s: '%s' is not a number", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* --revise GAMMA[@BLOCK] */
static int parse_revise(cli_opts *c, const char *s) {
    if (c->o.n_revisions == DIDCL_MAX_REVISIONS) {
        didcl_cli_usage_error("generate", "--revise: at most %d revision stages",
                              DIDCL_MAX_REVISIONS);
        return -1;
    }
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *at = strchr(buf, '@');
    if (at)
        *at++ = '\0';
    didcl_revision *r = &c->o.revisions[c->o.n_revisions];
    r->block = 0;
    if (parse_double("revise", buf, &r->gamma))
        return -1;
    if (!(r->gamma >= 0.0 && r->gamma <= 1.0)) {
        didcl_cli_usage_error("generate", "--revise %s: gamma %g outside [0, 1]", s, r->gamma);
        return -1;
    }
    if (at) {
        long b;
        if (parse_long("revise", at, 0, INT32_MAX, &b))
            return -1;
        r->block = (int32_t)b;
    }
    c->o.n_revisions++;
    return 0;
}

enum {
    OPT_TOKENIZER = 256, OPT_PROMPT_FILE, OPT_TOP_P, OPT_TEMPERATURE, OPT_STEPS, OPT_THRESHOLD,
    OPT_REVISE, OPT_REVISE_STEPS, OPT_REVISE_THRESHOLD, OPT_REMASK, OPT_PLUGIN_PATH,
    OPT_TRACE, OPT_STREAM, OPT_VISUAL, OPT_JSON, OPT_NO_CACHE, OPT_VAR_LENGTH, OPT_REJECT,
    OPT_QUIET, OPT_SAMPLES, OPT_SEED, OPT_LENGTH, OPT_BLOCK, OPT_HALF,
    OPT_SEQUENTIAL, OPT_BATCH,
};

/* Returns -1 to go on, else an exit status. */
static int parse_args(cli_opts *c, int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
        {"device", required_argument, NULL, 'd'},
        {"prompt", required_argument, NULL, 'p'},
        {"prompt-file", required_argument, NULL, OPT_PROMPT_FILE},
        {"length", required_argument, NULL, OPT_LENGTH},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"seed", required_argument, NULL, OPT_SEED},
        {"top-p", required_argument, NULL, OPT_TOP_P},
        {"temperature", required_argument, NULL, OPT_TEMPERATURE},
        {"block", required_argument, NULL, OPT_BLOCK},
        {"steps", required_argument, NULL, OPT_STEPS},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"revise", required_argument, NULL, OPT_REVISE},
        {"revise-steps", required_argument, NULL, OPT_REVISE_STEPS},
        {"revise-threshold", required_argument, NULL, OPT_REVISE_THRESHOLD},
        {"remask", required_argument, NULL, OPT_REMASK},
        {"plugin-path", required_argument, NULL, OPT_PLUGIN_PATH},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"visual", no_argument, NULL, OPT_VISUAL},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-cache", no_argument, NULL, OPT_NO_CACHE},
        {"var-length", no_argument, NULL, OPT_VAR_LENGTH},
        {"reject-low-entropy", no_argument, NULL, OPT_REJECT},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"half", no_argument, NULL, OPT_HALF},
        {"sequential", no_argument, NULL, OPT_SEQUENTIAL},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    long v;
    double d;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":m:d:p:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': c->model = optarg; break;
        case OPT_TOKENIZER: c->tokenizer = optarg; break;
        case 'd': c->device = optarg; break;
        case 'p': c->prompt = optarg; break;
        case OPT_PROMPT_FILE: c->prompt_file = optarg; break;
        case OPT_LENGTH:
            if (parse_long("length", optarg, 2, INT32_MAX, &v))
                return 2;
            c->length = (int32_t)v;
            c->length_set = 1;
            break;
        case OPT_SAMPLES:
            if (parse_long("samples", optarg, 1, 1 << 24, &v))
                return 2;
            c->samples = (int32_t)v;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (!*optarg || *end || errno || optarg[0] == '-')
                return usage_error("--seed: '%s' is not an unsigned 64-bit integer", optarg);
            c->o.seed = (uint64_t)s;
            c->seed_set = 1;
            break;
        }
        case OPT_TOP_P:
            if (parse_double("top-p", optarg, &d))
                return 2;
            if (!(d > 0.0 && d <= 1.0))
                return usage_error("--top-p: %s outside (0, 1]", optarg);
            c->o.top_p = d;
            break;
        case OPT_TEMPERATURE:
            if (parse_double("temperature", optarg, &d))
                return 2;
            if (d < 0.0)
                return usage_error("--temperature: %s is negative, expected >= 0", optarg);
            c->o.temperature = d;
            break;
        case OPT_BLOCK:
            if (parse_long("block", optarg, 1, INT32_MAX, &v))
                return 2;
            c->block = (int32_t)v;
            c->block_set = 1;
            break;
        case OPT_STEPS:
            if (parse_long("steps", optarg, 1, INT32_MAX, &v))
                return 2;
            c->o.mode = DIDCL_COMMIT_STEPS;
            c->o.steps = (int32_t)v;
            c->steps_set = 1;
            break;
        case OPT_THRESHOLD:
            if (parse_double("threshold", optarg, &d))
                return 2;
            if (!(d > 0.0 && d <= 1.0))
                return usage_error("--threshold: %s outside (0, 1]", optarg);
            c->o.mode = DIDCL_COMMIT_THRESHOLD;
            c->o.threshold = d;
            c->threshold_set = 1;
            break;
        case OPT_REVISE:
            if (parse_revise(c, optarg))
                return 2;
            break;
        case OPT_REVISE_STEPS:
            if (parse_long("revise-steps", optarg, 1, INT32_MAX, &v))
                return 2;
            c->o.revise_mode = DIDCL_COMMIT_STEPS;
            c->o.revise_steps = (int32_t)v;
            c->revise_steps_set = 1;
            break;
        case OPT_REVISE_THRESHOLD:
            if (parse_double("revise-threshold", optarg, &d))
                return 2;
            if (!(d > 0.0 && d <= 1.0))
                return usage_error("--revise-threshold: %s outside (0, 1]", optarg);
            c->o.revise_mode = DIDCL_COMMIT_THRESHOLD;
            c->o.revise_threshold = d;
            c->revise_threshold_set = 1;
            break;
        case OPT_REMASK: c->remask = optarg; break;
        case OPT_PLUGIN_PATH: c->plugin_path = optarg; break;
        case OPT_TRACE: c->trace = optarg; break;
        case OPT_STREAM: c->stream = 1; break;
        case OPT_VISUAL: c->visual = 1; break;
        case OPT_JSON: c->json = 1; break;
        case OPT_NO_CACHE: c->o.use_kv_cache = 0; break;
        case OPT_VAR_LENGTH: c->o.var_length = 1; break;
        case OPT_REJECT: c->o.reject_low_entropy = 1; break;
        case OPT_QUIET: c->quiet = 1; break;
        case OPT_HALF: c->half = 1; break;
        case OPT_SEQUENTIAL: c->sequential = 1; break;
        case OPT_BATCH:
            if (parse_long("batch", optarg, 1, DIDCL_SAMPLER_MAX_BATCH, &v))
                return 2;
            c->batch = (int32_t)v;
            break;
        case 'h': fputs(USAGE, stdout); return 0;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s' (didcl generate --help lists them)",
                               argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (c->prompt && c->prompt_file)
        return usage_error("--prompt and --prompt-file are exclusive, give one");
    if (c->steps_set && c->threshold_set)
        return usage_error("--steps and --threshold are exclusive: one commit rule per stage");
    if (c->revise_steps_set && c->revise_threshold_set)
        return usage_error("--revise-steps and --revise-threshold are exclusive");
    if (c->stream && c->visual)
        return usage_error("--stream and --visual are exclusive");
    if (c->json && (c->stream || c->visual))
        return usage_error("--json replaces the text output: not with %s",
                           c->stream ? "--stream" : "--visual");
    if (c->trace && !*c->trace)
        return usage_error("--trace: empty file name");
    return -1;
}

/* ---- the default model ---- */

/* 1 when this program runs from the build tree (not installed). */
static int in_build_tree(void) {
#if defined(DIDCL_BUILD_DIR)
    char self[PATH_MAX], build[PATH_MAX];
    if (!realpath("/proc/self/exe", self) || !realpath(DIDCL_BUILD_DIR, build))
        return 0;
    size_t len = strlen(build);
    return !strncmp(self, build, len) && self[len] == '/';
#else
    return 0;
#endif
}

/* The default model directory: for a build-tree program the source tree's
 * models/default, then (for both) the installed one. Exit status on failure (printed),
 * -1 on success. */
static int default_model(char *dir, size_t size) {
    char tried[2][PATH_MAX];
    int n = 0;
#if defined(DIDCL_SOURCE_DIR)
    if (in_build_tree())
        snprintf(tried[n++], PATH_MAX, "%s/models/default", DIDCL_SOURCE_DIR);
#endif
    snprintf(tried[n++], PATH_MAX, "%s/default", DIDCL_MODELS_DIR);
    for (int i = 0; i < n; i++) {
        char cfg[2 * PATH_MAX + 16];
        size_t len = strlen(tried[i]);
        snprintf(cfg, sizeof cfg, "%s/config.json", tried[i]);
        if (len < size && access(cfg, R_OK) == 0) {
            memcpy(dir, tried[i], len + 1);
            return -1;
        }
    }
    fprintf(stderr,
            "didcl generate: no default model: no config.json in %s%s%s (the default model is "
            "models/default of the source tree, installed by `make install`); pass --model DIR "
            "with a BD3-LM checkpoint (config.json + model.safetensors + tokenizer)\n",
            tried[0], n > 1 ? " or " : "", n > 1 ? tried[1] : "");
    return 1;
}

/* ---- text helpers ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Valid UTF-8 copy of s (invalid bytes become U+FFFD); malloc'd, NUL-terminated. */
static char *utf8_clean(const char *s, size_t n) {
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        }
    }
    *o = '\0';
    return out;
}

/* Write s (n bytes) as a JSON string (invalid UTF-8 as U+FFFD). */
static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
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
    char *clean = utf8_clean(s, n);
    fputc('"', f);
    for (const char *p = clean ? clean : ""; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
    free(clean);
}

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

/* ---- generation state shared with the observer ---- */

typedef struct gen {
    const cli_opts *c;
    didcl_tokenizer_t tok;
    const didcl_denoiser *dn;
    didcl_remask_t plugin;       /* NULL: no revision stage and no --remask */
    int32_t n_prompt;
    uint32_t sample;
    uint32_t base;               /* sample index of draft/remasked slot 0 (a batch's first) */
    /* per sample (a batch: one slot of L entries per sample, by ev->sample - base) */
    int32_t *draft;              /* (L,) tokens after stage 1 */
    uint32_t *remasked;          /* (L,) bit k-2: remasked by revision stage k */
    int32_t streamed;            /* stream: positions printed so far */
    int stream_stop;             /* stream: an EOS ended the text (var-length) */
    int attempts;                /* draft attempts seen (START events) */
    /* live display */
    int progress;                /* progress bar on stderr */
    int visual;                  /* visual canvas on stdout */
    double last_draw;
    double t_sample;
    int rows, cols;
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
        if (g->c->o.var_length && p > g->n_prompt && seq[p] == g->dn->eos_id) {
            g->stream_stop = 1;
            break;
        }
        if (len)
            fwrite(b, 1, len, stdout);
    }
    fflush(stdout);
}

/* ---- visual canvas ---- */

enum cell_style { ST_PROMPT, ST_DRAFT, ST_REVISED, ST_MASK, ST_REMASKED, ST_NL };

static const char *style_sgr(int s) {
    switch (s) {
    case ST_PROMPT: return "\x1b[0;1;36m";   /* bold cyan */
    case ST_DRAFT: return "\x1b[0m";         /* plain */
    case ST_REVISED: return "\x1b[0;1;33m";  /* bold yellow */
    case ST_MASK: return "\x1b[0;2m";        /* dim */
    case ST_REMASKED: return "\x1b[0;31m";   /* red */
    }
    return "\x1b[0m";
}

typedef struct cell {
    unsigned char style, len;
    char b[4];
} cell;

typedef struct canvas {
    cell *c;
    size_t n, cap;
} canvas;

static void canvas_push(canvas *cv, int style, const char *b, size_t len) {
    if (cv->n == cv->cap) {
        size_t cap = cv->cap ? 2 * cv->cap : 4096;
        cell *p = realloc(cv->c, cap * sizeof *p);
        if (!p)
            return;
        cv->c = p;
        cv->cap = cap;
    }
    cell *x = &cv->c[cv->n++];
    x->style = (unsigned char)style;
    x->len = (unsigned char)len;
    memcpy(x->b, b, len);
}

/* Cells of one token's bytes: UTF-8 characters, newlines as line breaks, other control
 * bytes and invalid UTF-8 as U+FFFD. */
static void canvas_token(canvas *cv, int style, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (ch == '\n')
            canvas_push(cv, ST_NL, "", 0);
        else if (ch == '\t')
            canvas_push(cv, style, " ", 1);
        else if (l == 0 || ch < 0x20 || ch == 0x7f)
            canvas_push(cv, style, "\xef\xbf\xbd", 3);
        else
            canvas_push(cv, style, s + i, l);
        i += l ? l : 1;
    }
}

static void term_size(gen *g) {
    struct winsize ws;
    g->rows = 24;
    g->cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2 && ws.ws_col > 8) {
        g->rows = ws.ws_row;
        g->cols = ws.ws_col;
    }
}

static void visual_draw(gen *g, const didcl_gen_event *ev) {
    canvas cv = {NULL, 0, 0};
    const uint32_t stage_bit = ev->stage >= 2 ? 1u << (ev->stage - 2) : 0;
    for (int32_t p = 1; p < ev->n; p++) {
        int32_t id = ev->seq[p];
        if (id == g->dn->mask_id) {
            int st = (g->remasked[p] & stage_bit) ? ST_REMASKED : ST_MASK;
            canvas_push(&cv, st, "\xe2\x96\x91", 3); /* ░ */
            continue;
        }
        const didcl_remask_position *t = &ev->traj[p];
        int st = (t->flags & DIDCL_REMASK_LOCKED) ? ST_PROMPT
                 : t->stage >= 2                 ? ST_REVISED
                                                 : ST_DRAFT;
        size_t len;
        const char *b = tok_bytes(g, id, &len);
        canvas_token(&cv, st, b, len);
    }
    term_size(g);
    const int W = g->cols, view = g->rows - 2;
    /* line starts after wrapping */
    size_t *starts = malloc((cv.n + 1) * sizeof *starts);
    size_t nl = 0;
    if (!starts) {
        free(cv.c);
        return;
    }
    starts[nl++] = 0;
    for (size_t i = 0, col = 0; i < cv.n; i++) {
        if (cv.c[i].style == ST_NL) {
            starts[nl++] = i + 1;
            col = 0;
        } else if (++col == (size_t)W && i + 1 < cv.n && cv.c[i + 1].style != ST_NL) {
            starts[nl++] = i + 1;
            col = 0;
        }
    }
    size_t first = nl > (size_t)view ? nl - (size_t)view : 0;
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) {
        free(starts);
        free(cv.c);
        return;
    }
    char head[256];
    snprintf(head, sizeof head, " didcl generate  sample %u/%d  stage %u (%s)  NFE %d  %.1f s ",
             g->sample + 1, g->c->samples, ev->stage, ev->stage == 1 ? "draft" : "revision",
             ev->nfe, now_s() - g->t_sample);
    if (strlen(head) > (size_t)W)
        head[W] = '\0'; /* ASCII only: one byte per column */
    fprintf(f, "\x1b[H\x1b[0;7m%s\x1b[0m\x1b[K\n", head);
    int cur = -1;
    for (size_t l = first; l < nl; l++) {
        size_t end = l + 1 < nl ? starts[l + 1] : cv.n;
        for (size_t i = starts[l]; i < end; i++) {
            if (cv.c[i].style == ST_NL)
                continue;
            if (cv.c[i].style != cur) {
                cur = cv.c[i].style;
                fputs(style_sgr(cur), f);
            }
            fwrite(cv.c[i].b, 1, cv.c[i].len, f);
        }
        fputs("\x1b[0m\x1b[K", f);
        cur = -1;
        if (l + 1 < nl)
            fputc('\n', f);
    }
    fputs("\x1b[J", f);
    fclose(f);
    fwrite(buf, 1, blen, stdout);
    fflush(stdout);
    free(buf);
    free(starts);
    free(cv.c);
}

/* ---- progress bar on stderr ---- */

static void progress_draw(gen *g, const didcl_gen_event *ev) {
    const uint32_t *remasked = g->remasked + (size_t)(ev->sample - g->base) * g->c->o.length;
    int32_t todo = 0, total = 0;
    for (int32_t p = 0; p < ev->n; p++) {
        if (ev->traj[p].flags & DIDCL_REMASK_LOCKED)
            continue;
        if (ev->stage == 1 || (remasked[p] >> (ev->stage - 2) & 1u)) {
            total++;
            todo += ev->seq[p] == g->dn->mask_id;
        }
    }
    double frac = total ? (double)(total - todo) / total : 1.0;
    char bar[31];
    int fill = (int)(frac * 30.0 + 0.5);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char line[256];
    snprintf(line, sizeof line, "sample %u/%d  stage %u %3d%%  NFE %d  %.1f s [%s]",
             g->sample + 1, g->c->samples, ev->stage, (int)(frac * 100.0), ev->nfe,
             now_s() - g->t_sample, bar);
    struct winsize ws; /* a line that wraps would defeat the carriage return */
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
        strlen(line) >= ws.ws_col)
        line[ws.ws_col - 1] = '\0';
    fprintf(stderr, "\r\x1b[K%s", line);
    fflush(stderr);
}

/* The sampler's observer; never cancels (returns 0). */
static int observe(void *user, const didcl_gen_event *ev) {
    gen *g = user;
    const int32_t L = g->c->o.length;
    const size_t slot = (size_t)(ev->sample - g->base) * (size_t)L;
    uint32_t *remasked = g->remasked + slot;
    switch (ev->kind) {
    case DIDCL_GEN_START:
        g->attempts++;
        if (g->c->stream) {
            if (g->attempts > 1)
                fputs("\n[draft rejected: low entropy; drawing again]\n", stdout);
            g->streamed = 1;
            g->stream_stop = 0;
            stream_out(g, ev->seq, g->n_prompt + 1);
        }
        break;
    case DIDCL_GEN_BLOCK_DONE:
        if (g->c->stream && ev->stage == 1)
            stream_out(g, ev->seq, ev->start + ev->len);
        break;
    case DIDCL_GEN_REMASK:
        for (int32_t p = 0; p < ev->n; p++)
            if (ev->seq[p] == g->dn->mask_id && !(ev->traj[p].flags & DIDCL_REMASK_LOCKED))
                remasked[p] |= 1u << (ev->stage - 2);
        break;
    case DIDCL_GEN_STAGE_DONE:
        if (ev->stage == 1)
            memcpy(g->draft + slot, ev->seq, sizeof *g->draft * (size_t)(ev->n < L ? ev->n : L));
        break;
    case DIDCL_GEN_COMMIT: break;
    }
    if (!g->visual && !g->progress)
        return 0;
    double t = now_s();
    int force = ev->kind == DIDCL_GEN_STAGE_DONE || ev->kind == DIDCL_GEN_REMASK ||
                ev->kind == DIDCL_GEN_START;
    if (!force && t - g->last_draw < (g->visual ? 0.04 : 0.1))
        return 0;
    g->last_draw = t;
    g->sample = ev->sample;
    if (g->visual)
        visual_draw(g, ev);
    else
        progress_draw(g, ev);
    return 0;
}

/* ---- outputs ---- */

static const char *mode_name(enum didcl_commit_mode m) {
    return m == DIDCL_COMMIT_STEPS ? "steps" : m == DIDCL_COMMIT_THRESHOLD ? "threshold"
                                                                          : "first-hitting";
}

/* Text of a result: positions [1, n), less a final EOS that stopped a var-length run. */
static didcl_status result_text(const gen *g, const didcl_gen_result *r, char **text,
                                size_t *len, int32_t *n_ids) {
    int32_t n = r->n;
    if (g->c->o.var_length && n > g->n_prompt + 1 && r->tokens[n - 1] == g->dn->eos_id)
        n--;
    *n_ids = n - 1;
    return didcl_tokenizer_decode(g->tok, r->tokens + 1, (size_t)(n - 1), text, len);
}

static json_t *stage_json(const didcl_stage_stats *s) {
    return json_pack("{s:i, s:s, s:i, s:f, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}", "stage",
                     s->stage, "kind", s->stage == 1 ? "draft" : "revise", "block", s->block,
                     "gamma", s->gamma, "remasked", s->remasked, "committed", s->committed,
                     "nfe", s->nfe, "store_kv", s->store_kv, "tries", s->tries, "flops",
                     s->flops, "seconds", s->seconds, "tokens_per_s",
                     s->seconds > 0 ? s->committed / s->seconds : 0.0);
}

static json_t *options_json(const gen *g, const char *model_dir, const char *device) {
    const didcl_gen_options *o = &g->c->o;
    json_t *rev = json_array();
    for (int32_t i = 0; i < o->n_revisions; i++)
        json_array_append_new(rev, json_pack("{s:f, s:i}", "gamma", o->revisions[i].gamma,
                                             "block", o->revisions[i].block));
    json_t *j = json_pack(
        "{s:s, s:s, s:i, s:i, s:s, s:f, s:f, s:o, s:s, s:b, s:b, s:b, s:i}", "model", model_dir,
        "device", device, "length", o->length, "block", o->block, "mode", mode_name(o->mode),
        "temperature", o->temperature, "top_p", o->top_p, "revise", rev, "revise_mode",
        mode_name(o->revise_mode), "kv_cache", o->use_kv_cache, "var_length", o->var_length,
        "reject_low_entropy", o->reject_low_entropy, "samples", g->c->samples);
    json_object_set_new(j, "half_weights", json_boolean(g->c->half));
    if (o->mode == DIDCL_COMMIT_STEPS)
        json_object_set_new(j, "steps", json_integer(o->steps));
    if (o->mode == DIDCL_COMMIT_THRESHOLD)
        json_object_set_new(j, "threshold", json_real(o->threshold));
    if (o->revise_mode == DIDCL_COMMIT_STEPS)
        json_object_set_new(j, "revise_steps", json_integer(o->revise_steps));
    if (o->revise_mode == DIDCL_COMMIT_THRESHOLD)
        json_object_set_new(j, "revise_threshold", json_real(o->revise_threshold));
    json_object_set_new(j, "remask", g->plugin ? json_string(didcl_remask_name(g->plugin))
                                               : json_string("lowest-confidence (built-in)"));
    return j;
}

static int print_json(const gen *g, const didcl_gen_result *r, const char *text, size_t len,
                      int32_t n_ids, json_t *opts) {
    char *clean = utf8_clean(text, len);
    json_t *ids = json_array(), *stages = json_array();
    for (int32_t i = 0; i < n_ids; i++)
        json_array_append_new(ids, json_integer(r->tokens[1 + i]));
    for (int32_t k = 0; k < r->n_stages; k++)
        json_array_append_new(stages, stage_json(&r->stages[k]));
    json_t *o = json_pack("{s:i, s:s, s:o, s:i, s:i, s:o, s:b, s:O}", "sample", (int)g->sample,
                          "seed", "", "ids", ids, "n_prompt", g->n_prompt, "length", r->n,
                          "stages", stages, "low_entropy", r->low_entropy, "options", opts);
    /* the text (valid UTF-8) and the seed as an exact unsigned number */
    json_object_set_new(o, "text", json_string(clean ? clean : ""));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)g->c->o.seed);
    json_t *js = json_loads(seed, JSON_DECODE_ANY, NULL); /* NULL past INT64_MAX */
    json_object_set_new(o, "seed", js ? js : json_string(seed));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    int rc = s && puts(s) >= 0 ? 0 : -1;
    free(s);
    free(clean);
    json_decref(o);
    return rc;
}

static void trace_header(FILE *f, const cli_opts *c) {
    fputs("sample,position,token,text,confidence,entropy,margin,stage,block,step,nfe,locked,"
          "draft_token", f);
    for (int32_t k = 0; k < c->o.n_revisions; k++)
        fprintf(f, ",remasked_%d", (int)k + 2);
    fputc('\n', f);
}

static void trace_sample(FILE *f, int csv, const gen *g, const didcl_gen_result *r) {
    for (int32_t p = 0; p < r->n; p++) {
        const didcl_remask_position *t = &r->traj[p];
        size_t len;
        const char *b = tok_bytes(g, t->token, &len);
        int locked = (t->flags & DIDCL_REMASK_LOCKED) != 0;
        if (csv) {
            fprintf(f, "%u,%d,%d,", g->sample, (int)p, (int)t->token);
            csv_str(f, b, len);
            fprintf(f, ",%.9g,%.9g,%.9g,%d,%d,%d,%d,%d,%d", (double)t->confidence,
                    (double)t->entropy, (double)t->margin, (int)t->stage, (int)t->block,
                    (int)t->step, (int)t->nfe, locked, (int)g->draft[p]);
            for (int32_t k = 0; k < g->c->o.n_revisions; k++)
                fprintf(f, ",%u", (g->remasked[p] >> k) & 1u);
            fputc('\n', f);
        } else {
            fprintf(f, "{\"sample\":%u,\"position\":%d,\"token\":%d,\"text\":", g->sample, (int)p,
                    (int)t->token);
            json_str(f, b, len);
            fprintf(f,
                    ",\"confidence\":%.9g,\"entropy\":%.9g,\"margin\":%.9g,\"stage\":%d,"
                    "\"block\":%d,\"step\":%d,\"nfe\":%d,\"locked\":%s,\"draft_token\":%d,"
                    "\"remasked\":[",
                    (double)t->confidence, (double)t->entropy, (double)t->margin, (int)t->stage,
                    (int)t->block, (int)t->step, (int)t->nfe, locked ? "true" : "false",
                    (int)g->draft[p]);
            for (int32_t k = 0, first = 1; k < g->c->o.n_revisions; k++)
                if ((g->remasked[p] >> k) & 1u) {
                    fprintf(f, "%s%d", first ? "" : ",", (int)k + 2);
                    first = 0;
                }
            fputs("]}\n", f);
        }
    }
}

static void print_summary(const cli_opts *c, const didcl_stage_stats *tot, int32_t n_stages,
                          double seconds, int64_t generated, const char *device, int32_t nb) {
    char batches[48] = "";
    if (nb > 1)
        snprintf(batches, sizeof batches, " (drafts in batches of %d)", (int)nb);
    fprintf(stderr,
            "didcl generate: %d sample%s%s of %d tokens, seed %llu%s, on %s\n", c->samples,
            c->samples == 1 ? "" : "s", batches, (int)c->o.length,
            (unsigned long long)c->o.seed, c->seed_set ? "" : " (pass --seed to repeat)", device);
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
}

/* ---- main ---- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    char *buf = didcl_cli_read_all(f, len);
    if (f != stdin)
        fclose(f);
    return buf;
}

typedef struct res_set {
    didcl_model_files_t files;
    didcl_tokenizer_t tok;
    didcl_remask_t plugin;
    didcl_runtime_t rt;
    didcl_model_t model;
    int32_t *prompt;
    FILE *trace;
    didcl_gen_result *res; /* (samples per batch,) one batch's results */
    gen g;
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
    didcl_model_free(r->model);
    didcl_runtime_free(r->rt);
    didcl_remask_free(r->plugin);
    didcl_tokenizer_free(r->tok);
    didcl_model_files_free(r->files);
    free(r->prompt);
    free(r->g.draft);
    free(r->res);
    free(r->g.remasked);
}

static int run(cli_opts *c, res_set *R) {
    /* model directory and config */
    char defdir[PATH_MAX];
    const char *dir = c->model;
    if (!dir) {
        int rc = default_model(defdir, sizeof defdir);
        if (rc >= 0)
            return rc;
        dir = defdir;
    }
    if (didcl_model_files_open(dir, &R->files) != DIDCL_OK)
        return didcl_cli_fail("--model");
    const didcl_model_config *cfg = didcl_model_files_config(R->files);
    if (cfg->arch != DIDCL_ARCH_BD3LM) {
        fprintf(stderr, "didcl generate: --model %s: a %s model, expected a bd3lm (block "
                        "diffusion) checkpoint\n", dir, didcl_arch_str(cfg->arch));
        return 2;
    }
    const int32_t ctx = (int32_t)cfg->context_length;
    didcl_gen_options *o = &c->o;
    o->length = c->length_set ? c->length : ctx;
    if (o->length > ctx)
        return didcl_cli_usage_error("generate", "--length %d exceeds the model's length %d "
                                     "(model_length in %s/config.json)", (int)o->length,
                                     (int)ctx, dir);
    o->block = c->block_set ? c->block
               : (cfg->block_size > 0 && o->length % (int32_t)cfg->block_size == 0)
                   ? (int32_t)cfg->block_size
                   : 4;
    if (o->length % o->block)
        return didcl_cli_usage_error("generate", "--block %d does not divide --length %d",
                                     (int)o->block, (int)o->length);
    for (int32_t i = 0; i < o->n_revisions; i++)
        if (o->revisions[i].block > 0 && o->length % o->revisions[i].block)
            return didcl_cli_usage_error("generate", "--revise %g@%d: block %d does not divide "
                                         "--length %d", o->revisions[i].gamma,
                                         (int)o->revisions[i].block,
                                         (int)o->revisions[i].block, (int)o->length);

    /* tokenizer */
    if (didcl_tokenizer_load(c->tokenizer ? c->tokenizer : dir, &R->tok) != DIDCL_OK) {
        if (c->tokenizer)
            return didcl_cli_fail("--tokenizer");
        fprintf(stderr, "didcl: --model: %s; pass --tokenizer PATH\n", didcl_last_error());
        return 1;
    }
    const uint32_t tv = didcl_tokenizer_vocab_size(R->tok);
    if (cfg->mask_token_id >= 0 && (uint32_t)cfg->mask_token_id > tv) {
        fprintf(stderr, "didcl generate: tokenizer %s has %u ids but the model %s generates "
                        "ids up to %d; pass the model's tokenizer with --tokenizer\n",
                didcl_tokenizer_source(R->tok), tv, dir, (int)cfg->mask_token_id - 1);
        return 2;
    }

    /* prompt */
    int32_t n_prompt = 0;
    if (c->prompt || c->prompt_file) {
        size_t len = c->prompt ? strlen(c->prompt) : 0;
        char *text = c->prompt_file ? read_file(c->prompt_file, &len) : NULL;
        if (c->prompt_file && !text) {
            fprintf(stderr, "didcl: --prompt-file %s: cannot read: %s\n", c->prompt_file,
                    strerror(errno));
            return 1;
        }
        size_t n = 0;
        didcl_status st = didcl_tokenizer_encode(R->tok, text ? text : c->prompt, len, 0,
                                                 &R->prompt, &n);
        free(text);
        if (st != DIDCL_OK) {
            fprintf(stderr, "didcl generate: %s: %s\n", c->prompt ? "--prompt" : "--prompt-file",
                    didcl_last_error());
            return 2;
        }
        if (n > (size_t)o->length - 2)
            return didcl_cli_usage_error("generate", "the prompt is %zu tokens, too long for "
                                         "--length %d (BOS + prompt + at least one generated "
                                         "token)", n, (int)o->length);
        n_prompt = (int32_t)n;
        for (int32_t i = 0; i < n_prompt; i++)
            if (R->prompt[i] == cfg->mask_token_id || R->prompt[i] >= (int32_t)cfg->vocab_size)
                return didcl_cli_usage_error("generate", "the prompt's token %d (id %d) %s",
                                             (int)i, (int)R->prompt[i],
                                             R->prompt[i] == cfg->mask_token_id
                                                 ? "is the mask token, which a prompt cannot hold"
                                                 : "is outside the model's vocabulary");
    }
    if (didcl_gen_options_check(o, ctx, n_prompt) != DIDCL_OK) {
        fprintf(stderr, "didcl generate: %s\n", didcl_last_error());
        return 2;
    }

    /* remask plugin: --remask, or lowconf when a revision stage needs one */
    gen *g = &R->g;
    if (c->remask || o->n_revisions > 0) {
        didcl_remask_host_cfg hc = {o->seed};
        if (didcl_remask_open(c->remask ? c->remask : "lowconf", c->plugin_path, &hc,
                              &R->plugin) != DIDCL_OK) {
            fprintf(stderr, "didcl generate: --remask %s: %s\n",
                    c->remask ? c->remask : "lowconf", didcl_last_error());
            return 2;
        }
        if (c->remask && o->n_revisions == 0 && !c->quiet)
            fprintf(stderr, "didcl generate: note: --remask has no effect without --revise\n");
    }

    /* trace file: a temporary name beside it, renamed at the end */
    const size_t tl = c->trace ? strlen(c->trace) : 0;
    const int csv = tl >= 4 && !strcmp(c->trace + tl - 4, ".csv");
    if (c->trace) {
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
        R->trace = fdopen(fd, "w");
        if (!R->trace) {
            close(fd);
            fprintf(stderr, "didcl: --trace %s: %s\n", c->trace, strerror(errno));
            return 1;
        }
        if (csv)
            trace_header(R->trace, c);
    }

    /* device and model */
    if (didcl_runtime_init(c->device, &R->rt) != DIDCL_OK)
        return didcl_cli_fail("--device");
    const char *devname = didcl_runtime_device(R->rt)->name;
    /* samples per batch: stage-1 drafts in lockstep on the device (didcl_sampler_run_batch
     * falls back to one after another for options that make samples diverge) */
    int32_t nb = 1;
    if (!c->sequential && !c->stream && !c->visual && c->samples > 1 && o->use_kv_cache &&
        !o->var_length && !o->reject_low_entropy) {
        nb = c->samples < c->batch ? c->samples : c->batch;
        if (nb > o->length / o->block)
            nb = o->length / o->block;
    }
    didcl_model_options mo = {c->half, (uint32_t)o->length, (uint32_t)nb};
    if (didcl_model_open(R->rt, R->files, &mo, &R->model) != DIDCL_OK)
        return didcl_cli_fail(dir);
    didcl_denoiser dn;
    if (didcl_model_denoiser(R->model, &dn) != DIDCL_OK)
        return didcl_cli_fail(dir);

    /* generate */
    g->c = c;
    g->tok = R->tok;
    g->dn = &dn;
    g->plugin = R->plugin;
    g->n_prompt = n_prompt;
    const size_t L = (size_t)o->length;
    g->draft = malloc(sizeof *g->draft * L * (size_t)nb);
    g->remasked = malloc(sizeof *g->remasked * L * (size_t)nb);
    R->res = calloc((size_t)nb, sizeof *R->res);
    if (!g->draft || !g->remasked || !R->res) {
        fprintf(stderr, "didcl: out of memory\n");
        return 1;
    }
    const int out_tty = isatty(STDOUT_FILENO), err_tty = isatty(STDERR_FILENO);
    g->visual = c->visual && out_tty;
    g->progress = !c->quiet && err_tty && !c->stream && !g->visual;
    if (c->visual && !out_tty && !c->quiet)
        fprintf(stderr, "didcl generate: note: stdout is not a terminal, --visual prints plain "
                        "text\n");
    json_t *opts = c->json ? options_json(g, dir, devname) : NULL;
    didcl_stage_stats tot[1 + DIDCL_MAX_REVISIONS];
    memset(tot, 0, sizeof tot);
    int32_t n_stages = 1 + o->n_revisions;
    int64_t generated = 0;
    double t0 = now_s();
    int rc = 0;
    if (g->visual) {
        g_visual_on = 1;
        fputs(VISUAL_ENTER, stdout);
        fflush(stdout);
    }
    int32_t *const draft0 = g->draft;
    uint32_t *const remasked0 = g->remasked;
    for (int32_t s0 = 0; s0 < c->samples && rc == 0; s0 += nb) {
        const int32_t nbat = c->samples - s0 < nb ? c->samples - s0 : nb;
        g->base = (uint32_t)s0;
        g->sample = (uint32_t)s0;
        g->attempts = 0;
        g->t_sample = now_s();
        g->last_draw = 0;
        memset(remasked0, 0, sizeof *remasked0 * L * (size_t)nbat);
        if (c->stream && c->samples > 1)
            printf("%s--- sample %d ---\n", s0 ? "\n" : "", (int)s0);
        didcl_status st = didcl_sampler_run_batch(&dn, o, R->prompt, n_prompt, (uint32_t)s0,
                                                  (uint32_t)nbat, g->plugin, observe, g,
                                                  R->res);
        if (g->progress)
            fputs("\r\x1b[K", stderr);
        if (st != DIDCL_OK) {
            if (g->visual) {
                fputs(VISUAL_LEAVE, stdout);
                fflush(stdout);
                g_visual_on = 0;
            }
            char ctxmsg[64];
            if (nbat > 1)
                snprintf(ctxmsg, sizeof ctxmsg, "samples %d to %d", (int)s0,
                         (int)(s0 + nbat - 1));
            else
                snprintf(ctxmsg, sizeof ctxmsg, "sample %d", (int)s0);
            rc = didcl_cli_fail(ctxmsg);
            break;
        }
        int32_t j = 0;
        for (; j < nbat && rc == 0; j++) {
            const int32_t s = s0 + j;
            didcl_gen_result r = R->res[j];
            R->res[j].tokens = NULL;
            R->res[j].traj = NULL;
            g->sample = (uint32_t)s;
            g->draft = draft0 + (size_t)j * L;
            g->remasked = remasked0 + (size_t)j * L;
            for (int32_t k = 0; k < r.n_stages; k++) {
                didcl_stage_stats *a = &tot[k];
                const didcl_stage_stats *b = &r.stages[k];
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
            if (r.low_entropy && !c->quiet)
                fprintf(stderr, "didcl generate: sample %d: still below the entropy floor after %d "
                                "tries; kept the last draft\n", (int)s, (int)r.stages[0].tries);
            char *text = NULL;
            size_t tlen = 0;
            int32_t n_ids = 0;
            if (result_text(g, &r, &text, &tlen, &n_ids) != DIDCL_OK) {
                rc = didcl_cli_fail("decoding");
                didcl_gen_result_free(&r);
                break;
            }
            generated += n_ids - n_prompt;
            if (R->trace)
                trace_sample(R->trace, csv, g, &r);
            if (c->json) {
                if (print_json(g, &r, text, tlen, n_ids, opts) != 0)
                    rc = 1;
            } else if (c->stream) {
                if (!g->stream_stop)
                    stream_out(g, r.tokens, r.n);
                int revised = 0;
                for (int32_t k = 1; k < r.n_stages; k++)
                    revised |= r.stages[k].remasked > 0;
                if (revised) {
                    fputs("\n--- revised ---\n", stdout);
                    fwrite(text, 1, tlen, stdout);
                }
                fputc('\n', stdout);
            } else {
                if (g->visual) { /* back to the normal screen for the text, which stays */
                    fputs(VISUAL_LEAVE, stdout);
                    g_visual_on = 0;
                }
                if (c->samples > 1)
                    printf("%s--- sample %d ---\n", s ? "\n" : "", (int)s);
                fwrite(text, 1, tlen, stdout);
                fputc('\n', stdout);
                if (g->visual && s + 1 < c->samples) {
                    g_visual_on = 1;
                    fputs(VISUAL_ENTER, stdout);
                }
            }
            fflush(stdout);
            free(text);
            didcl_gen_result_free(&r);
        }
        for (; j < nbat; j++) /* left by an error */
            didcl_gen_result_free(&R->res[j]);
        g->draft = draft0;
        g->remasked = remasked0;
    }
    if (g_visual_on) {
        fputs(VISUAL_LEAVE, stdout);
        fflush(stdout);
        g_visual_on = 0;
    }
    json_decref(opts);
    if (rc == 0 && ferror(stdout)) {
        fprintf(stderr, "didcl: stdout: cannot write: %s\n", strerror(errno));
        rc = 1;
    }
    if (rc == 0 && R->trace) {
        int bad = ferror(R->trace);
        bad |= fclose(R->trace) != 0;
        R->trace = NULL;
        if (bad || rename(g_trace_tmp, c->trace) != 0) {
            fprintf(stderr, "didcl: --trace %s: cannot write: %s\n", c->trace, strerror(errno));
            rc = 1;
        } else
            g_trace_tmp_live = 0;
    }
    if (rc == 0 && !c->quiet)
        print_summary(c, tot, n_stages, now_s() - t0, generated, devname, nb);
    return rc;
}

int didcl_cli_generate(int argc, char **argv) {
    cli_opts c;
    memset(&c, 0, sizeof c);
    c.o = didcl_gen_options_default();
    c.samples = 1;
    c.batch = 16;
    int rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    if (!c.seed_set)
        c.o.seed = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid();
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

/*
 * bench.c — `didcl bench`: the end-to-end workloads of issue 11 through the session API,
 * with the device time split from OpenCL profiling events.
 *
 *   W1  1 sample of L tokens, block 4, first-hitting, nucleus 0.9 (BD3-LM's sampler)
 *   W2  W1 followed by a global revision of gamma 0.25
 *   W3  W1 with 16 samples drafted in one lockstep batch
 *
 * For each: tokens/s and ms per NFE end to end (compile and model load excluded, both
 * reported), the revision's ms per NFE (W2), the effective weight bandwidth (bytes of
 * weights read per forward x forwards / time) against the device's copy bandwidth
 * measured in the same run, and where the time went by kind of device work, the rest
 * being host time (sampling on the host, launches, waits).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/genopts.h"

#define N_WORKLOADS 3
#define W3_SAMPLES 16

static const char usage_text[] =
    "usage: didcl bench [--model DIR] [--device D] [--workload W1,W2,W3] [--length L]\n"
    "                   [--reps N] [--seed S] [--revise-reuse N] [--half] [--json]\n"
    "End-to-end speed of the workloads, compile time excluded (and reported):\n"
    "  W1  1 sample, block 4, first-hitting, top-p 0.9\n"
    "  W2  W1 + a global revision of gamma 0.25\n"
    "  W3  W1 with 16 samples in one lockstep batch\n"
    "Prints tokens/s, ms per NFE (W3: per lockstep step), the revision's ms per NFE, the\n"
    "effective weight bandwidth against the device's copy bandwidth (clEnqueueCopyBuffer,\n"
    "bytes read + written, measured in the same run) and the split of the time by kind of\n"
    "device work (OpenCL profiling events) with the host's share.\n"
    "  --length L    tokens per sample incl. BOS (default: the model's length)\n"
    "  --reps N      measured runs of each workload (default 1), seeds S, S+1, ...\n"
    "  --revise-reuse N  W2's revision with K/V reuse, an exact forward every N (0: exact)\n";

typedef struct workload {
    const char *name;
    uint32_t samples;
    double gamma; /* a global revision when > 0 */
} workload;

static const workload workloads[N_WORKLOADS] = {
    {"W1", 1, 0.0}, {"W2", 1, 0.25}, {"W3", W3_SAMPLES, 0.0}};

/* What the reps of one workload add up to. */
typedef struct tally {
    double compile, seconds, rev_seconds;
    int64_t tokens, nfe, store_kv, rev_nfe;
    didcl_profile prof;
} tally;

typedef struct bench {
    didcl_session_t s;
    int32_t length;
    long reps;
    long revise_reuse;     /* W2's revision: didcl_gen_options.revise_reuse */
    uint64_t seed;
    double weight_bytes;   /* read by one forward */
    double copy_bps;       /* the device's copy bandwidth, read + written */
} bench;

static int parse_workloads(const char *arg, int *on) {
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
        return didcl_cli_usage_error("bench", "--workload: too long");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < N_WORKLOADS && strcasecmp(t, workloads[k].name))
            k++;
        if (k == N_WORKLOADS)
            return didcl_cli_usage_error("bench", "--workload: '%s' is not one of W1, W2, W3", t);
        on[k] = 1;
    }
    return 0;
}

static didcl_request request_of(const bench *b, const workload *w, uint64_t seed) {
    didcl_request rq = didcl_request_default();
    rq.options.length = b->length;
    rq.options.block = 4;
    rq.options.seed = seed;
    rq.samples = w->samples;
    if (w->gamma > 0) {
        rq.options.n_revisions = 1;
        rq.options.revisions[0].gamma = w->gamma;
        rq.options.revisions[0].block = 0;
        rq.options.revise_reuse = (int32_t)b->revise_reuse;
    }
    return rq;
}

static int run_workload(const bench *b, const workload *w, tally *t) {
    memset(t, 0, sizeof *t);
    didcl_request rq = request_of(b, w, b->seed);
    didcl_status st = didcl_session_prepare(b->s, &rq, &t->compile);
    if (st != DIDCL_OK)
        return didcl_cli_session_error("bench", st, didcl_session_error(b->s));
    for (long r = 0; r < b->reps; r++) {
        rq = request_of(b, w, b->seed + (uint64_t)r);
        didcl_results *res;
        if ((st = didcl_session_generate(b->s, &rq, 1, NULL, NULL, &res)) != DIDCL_OK)
            return didcl_cli_session_error("bench", st, didcl_session_error(b->s));
        t->compile += res->compile_seconds;
        t->seconds += res->seconds;
        t->tokens += res->generated;
        for (int32_t k = 0; k < res->n_stages; k++) {
            t->nfe += res->totals[k].nfe;
            t->store_kv += res->totals[k].store_kv;
            if (k > 0) {
                t->rev_nfe += res->totals[k].nfe;
                t->rev_seconds += res->totals[k].seconds;
            }
        }
        t->prof.enabled = res->profile.enabled;
        for (int k = 0; k < DIDCL_TIME_KINDS; k++) {
            t->prof.seconds[k] += res->profile.seconds[k];
            t->prof.commands[k] += res->profile.commands[k];
        }
        didcl_results_free(res);
    }
    return 0;
}

/* Figures of a tally; per-sample counts, since a lockstep step serves every sample. */
typedef struct figures {
    double tok_s, ms_nfe, rev_ms_nfe, weight_bps, host;
} figures;

static figures figures_of(const bench *b, const workload *w, const tally *t) {
    figures f = {0};
    const double per = (double)w->samples;
    f.tok_s = t->seconds > 0 ? (double)t->tokens / t->seconds : 0.0;
    f.ms_nfe = t->nfe > 0 ? 1e3 * t->seconds / ((double)t->nfe / per) : 0.0;
    f.rev_ms_nfe = t->rev_nfe > 0 ? 1e3 * t->rev_seconds / ((double)t->rev_nfe / per) : 0.0;
    const double forwards = (double)(t->nfe + t->store_kv) / per;
    f.weight_bps = t->seconds > 0 ? b->weight_bytes * forwards / t->seconds : 0.0;
    double dev = 0.0;
    for (int k = 0; k < DIDCL_TIME_KINDS; k++)
        dev += t->prof.seconds[k];
    f.host = t->seconds - dev;
    return f;
}

static json_t *workload_json(const bench *b, const workload *w, const tally *t) {
    const figures f = figures_of(b, w, t);
    json_t *split = json_object();
    for (int k = 0; k < DIDCL_TIME_KINDS; k++)
        json_object_set_new(split, didcl_time_kind_str((enum didcl_time_kind)k),
                            json_real(t->prof.seconds[k] / (double)b->reps));
    json_object_set_new(split, "host", json_real(f.host / (double)b->reps));
    json_t *o = json_pack("{s:s, s:i, s:i, s:f, s:i, s:f, s:f, s:I, s:I, s:I, s:f, s:f, s:f, "
                          "s:f, s:f}",
                          "name", w->name, "samples", (int)w->samples, "length", (int)b->length,
                          "gamma", w->gamma, "reps", (int)b->reps, "compile_seconds",
                          t->compile, "seconds", t->seconds / (double)b->reps, "tokens",
                          (json_int_t)(t->tokens / b->reps), "nfe",
                          (json_int_t)(t->nfe / b->reps), "store_kv",
                          (json_int_t)(t->store_kv / b->reps), "tokens_per_s", f.tok_s,
                          "ms_per_nfe", f.ms_nfe, "revision_ms_per_nfe", f.rev_ms_nfe,
                          "weight_gb_per_s", f.weight_bps / 1e9, "weight_fraction_of_copy",
                          b->copy_bps > 0 ? f.weight_bps / b->copy_bps : 0.0);
    if (o && w->gamma > 0)
        json_object_set_new(o, "revise_reuse", json_integer(b->revise_reuse));
    if (o)
        json_object_set_new(o, "split_seconds", split);
    else
        json_decref(split);
    return o;
}

static void print_row(const bench *b, const workload *w, const tally *t) {
    const figures f = figures_of(b, w, t);
    char rev[16] = "-";
    if (t->rev_nfe > 0)
        snprintf(rev, sizeof rev, "%.2f", f.rev_ms_nfe);
    printf("  %-3s %7u %8.2f s %9.1f %8.3f %8s %8.2f %5.1f%%", w->name, w->samples, t->compile,
           f.tok_s, f.ms_nfe, rev, f.weight_bps / 1e9,
           b->copy_bps > 0 ? 100.0 * f.weight_bps / b->copy_bps : 0.0);
    for (int k = 0; k < DIDCL_TIME_KINDS; k++)
        printf(" %9.1f%%", t->seconds > 0 ? 100.0 * t->prof.seconds[k] / t->seconds : 0.0);
    printf(" %9.1f%%\n", t->seconds > 0 ? 100.0 * f.host / t->seconds : 0.0);
}

/* The device's copy bandwidth, on a runtime of its own (freed before the model loads). */
static int measure_copy(const char *device, double *bps) {
    didcl_runtime_t rt;
    if (didcl_runtime_init(device, &rt) != DIDCL_OK)
        return didcl_cli_fail("bench");
    const didcl_device_info *d = didcl_runtime_device(rt);
    const int gpu = d->kind == DIDCL_DEVICE_GPU;
    uint64_t bytes = (gpu ? 256u : 64u) << 20;
    if (d->global_mem && bytes > d->global_mem / 8)
        bytes = d->global_mem / 8;
    didcl_status st = didcl_runtime_copy_bandwidth(rt, bytes, gpu ? 20 : 3, bps);
    didcl_runtime_free(rt);
    return st == DIDCL_OK ? 0 : didcl_cli_fail("bench: copy bandwidth");
}

int didcl_cli_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"device", required_argument, NULL, 'd'},
        {"workload", required_argument, NULL, 'w'}, {"length", required_argument, NULL, 'L'},
        {"reps", required_argument, NULL, 'r'},   {"seed", required_argument, NULL, 's'},
        {"half", no_argument, NULL, 'H'},          {"json", no_argument, NULL, 'j'},
        {"revise-reuse", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    didcl_cli_genopts go;
    didcl_cli_genopts_init(&go);
    bench b = {0};
    b.reps = 1;
    b.seed = 1;
    int on[N_WORKLOADS] = {1, 1, 1}, json = 0, c, rc;
    long length = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': go.model = optarg; break;
        case 'd': go.device = optarg; break;
        case 'H': go.half = 1; break;
        case 'j': json = 1; break;
        case 'w':
            memset(on, 0, sizeof on);
            if ((rc = parse_workloads(optarg, on)))
                return rc;
            break;
        case 'L':
            if (didcl_cli_parse_long("bench", "--length", optarg, 2, 1 << 20, &length))
                return 2;
            break;
        case 'r':
            if (didcl_cli_parse_long("bench", "--reps", optarg, 1, 1000, &b.reps))
                return 2;
            break;
        case 's':
            if (didcl_cli_parse_u64("bench", "--seed", optarg, &b.seed))
                return 2;
            break;
        case 'R':
            if (didcl_cli_parse_long("bench", "--revise-reuse", optarg, 0, INT32_MAX,
                                     &b.revise_reuse))
                return 2;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return didcl_cli_bad_option("bench", c, argv);
        }
    }
    if (optind < argc)
        return didcl_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);

    if (measure_copy(go.device, &b.copy_bps))
        return 1;
    char defdir[4096];
    didcl_session_params sp = didcl_session_default_params();
    if (didcl_cli_genopts_session(&go, "bench", &sp, defdir, sizeof defdir))
        return 1;
    sp.max_batch = W3_SAMPLES;
    sp.profile = 1;
    didcl_status st = didcl_session_open(&sp, &b.s);
    if (st != DIDCL_OK)
        return didcl_cli_session_error("bench", st, didcl_last_error());
    const didcl_model_config *cfg = didcl_session_config(b.s);
    b.length = length ? (int32_t)length : (int32_t)cfg->context_length;
    /* every matrix is read once a forward, the embedding table only by the rows it looks up */
    b.weight_bytes = (double)(didcl_model_config_param_count(cfg) -
                              (uint64_t)cfg->vocab_size * cfg->hidden) * (go.half ? 2.0 : 4.0);
    rc = 0;
    for (int k = 0; k < N_WORKLOADS && !rc; k++) {
        didcl_request rq = request_of(&b, &workloads[k], b.seed);
        if (on[k] && (st = didcl_session_check(b.s, &rq, NULL)) != DIDCL_OK)
            rc = didcl_cli_session_error("bench", st, didcl_session_error(b.s));
    }
    const char *device = didcl_session_device(b.s)->name;
    if (!rc && !json) {
        printf("didcl bench: %s on %s, L = %d, %ld rep%s each\n", didcl_session_model_dir(b.s),
               device, (int)b.length, b.reps, b.reps == 1 ? "" : "s");
        printf("  device copy bandwidth %.2f GB/s (clEnqueueCopyBuffer, bytes read + written); "
               "weights read per forward %.1f MB (%s, all but the embedding table)\n",
               b.copy_bps / 1e9, b.weight_bytes / 1e6, go.half ? "half" : "fp32");
        printf("  %-3s %7s %10s %9s %8s %8s %8s %6s", "", "samples", "compile", "tokens/s",
               "ms/NFE", "rev ms", "wt GB/s", "of cp");
        for (int k = 0; k < DIDCL_TIME_KINDS; k++)
            printf(" %10s", didcl_time_kind_str((enum didcl_time_kind)k));
        printf(" %10s\n", "host");
    }
    json_t *arr = json ? json_array() : NULL;
    for (int k = 0; k < N_WORKLOADS && !rc; k++) {
        if (!on[k])
            continue;
        tally t;
        if ((rc = run_workload(&b, &workloads[k], &t)))
            break;
        if (json) {
            json_array_append_new(arr, workload_json(&b, &workloads[k], &t));
            /* progress on stderr, so a run cut short still tells what it got */
            const figures f = figures_of(&b, &workloads[k], &t);
            fprintf(stderr, "didcl bench: %s %.1f tokens/s, %.3f ms/NFE\n", workloads[k].name,
                    f.tok_s, f.ms_nfe);
        }
        else {
            print_row(&b, &workloads[k], &t);
        }
        fflush(stdout);
    }
    if (!rc && json) {
        json_t *o = json_pack("{s:o, s:o, s:i, s:f, s:f, s:b, s:O}", "model",
                              didcl_cli_json_string(didcl_session_model_dir(b.s)), "device",
                              didcl_cli_json_string(device), "length", (int)b.length,
                              "copy_gb_per_s", b.copy_bps / 1e9, "weight_bytes_per_forward",
                              b.weight_bytes, "half_weights", go.half, "workloads", arr);
        rc = didcl_cli_json_print("bench", o, JSON_INDENT(2));
    } else if (!rc) {
        printf("  ms/NFE: wall time per committing forward of one sample (W3: per lockstep "
               "step); rev ms: the same for the revision stage; wt GB/s: weights read per "
               "forward x forwards (store-KV included) / wall time, 'of cp' its share of the "
               "copy bandwidth; the split is device time by kind (profiling events) and the "
               "host's rest, in %% of wall time.\n");
    }
    json_decref(arr);
    didcl_session_free(b.s);
    return rc;
}

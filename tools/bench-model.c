/*
 * bench-model.c — milliseconds per forward of a model on the default device
 * (DIDCL_DEVICE picks another), next to the PyTorch reference (tools/reference.py bench)
 * timed in the same run on this CPU. Modes: (a) the cached block step, B queries against
 * a full cache of `start` positions; (b) the global forward over L tokens. Figures only,
 * nothing asserted. Build with `make tools/bench-model`; run
 *   tools/bench-model --model DIR [--start 1020] [--B 4] [--L 1024] [--reps N]
 *                     [--half] [--modes a,b] [--no-ref] [--ref-device cpu|cuda] [--batch N]
 *                     [--tiled-m M] [--tiled TM,TN,GM,GN,KU[,LA]] [--wide-kernel 0|1]
 *                     [--half-stage 0|1]
 *                     [--half-bits 0|1] [--split-merge 0|1] [--profile]
 * --batch N adds mode (a) as one batched step of N sequences (didcl_model_forward_batch,
 * N caches, N * B rows of logits read back), timed without a reference. --tiled-m
 * replaces the device's switch to gemm_tiled (rows in all; 0: never), to time a batched
 * step with and without it; --tiled sets both gemm_tiled tilings (tools/bench-ops
 * --tiled-sweep picks candidates). --wide-kernel picks what runs wide products (a global pass):
 * 1 gemm_wide, 0 CLBlast with its bias and GELU launches (src/tuning.c wide_kernel).
 * With --half: --half-stage 1 widens half W into the stage before each gemm_wide that
 * it fits whole, 0 reads it directly (wide_stage_half); --half-bits 1 reads half
 * weights as ushort4 and converts them by bits, 0 by vload_half (half_bits).
 * --split-merge 1 lets attention_split's last work-group merge its chunks, 0 launches
 * attention_combine for it (split_merge; the same bits either way).
 * Each mode also prints the commands one forward enqueues (kernels, CLBlast calls, copies).
 * --profile adds, per mode, the device time per forward of each command name from
 * OpenCL profiling events (a separate run on a profiling queue, so the timed rows above
 * stay unprofiled), and the wall time the device was not busy (launch gaps, host work).
 * The reference runs through $PYTHON_TORCH (default /usr/bin/python3), on the CPU unless
 * --ref-device says otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "profile.h"
#include "runtime.h"

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define RUN(expr)                                                             \
    do {                                                                      \
        if ((expr) != DIDCL_OK) {                                             \
            fprintf(stderr, "%s: %s\n", #expr, didcl_last_error());          \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

/* Mean ms of the reference for one mode, or -1 if it could not run. */
static const char *ref_device = "cpu";

static double reference_ms(const char *model, const char *args) {
    const char *py = getenv("PYTHON_TORCH");
    char cmd[4096], line[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tools/reference.py' bench --model '%s' --torch-device %s %s",
             py && *py ? py : "/usr/bin/python3", BENCH_SRCDIR, model, ref_device, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    double ms = -1;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"ms\": ");
        if (k)
            ms = strtod(k + 6, NULL);
    }
    return pclose(p) == 0 ? ms : -1;
}

/* Commands (kernels, CLBlast calls, copies) one forward enqueues, per forward and per
 * layer (the forward's total over the layer count: embedding and head included). */
static void launches(didcl_model_t m, const didcl_forward *f) {
    const uint64_t l0 = m->rt->launches;
    RUN(didcl_model_forward(m, f));
    const unsigned long long n = (unsigned long long)(m->rt->launches - l0);
    printf("%-34s %10llu    (%.1f per layer)\n", "  launches per forward", n,
           (double)n / m->cfg.n_layers);
}

/* Device time per forward by command name over n forwards of f (batch > 1: batched
 * steps), largest first, and the wall time not covered by device time. */
static void profile(didcl_model_t m, const didcl_forward *f, uint32_t batch, int n) {
    didcl_runtime_t rt = m->rt;
    RUN(didcl_runtime_set_profiling(rt, 1));
    const double t0 = now_s();
    for (int r = 0; r < n; r++)
        RUN(batch > 1 ? didcl_model_forward_batch(m, f, batch) : didcl_model_forward(m, f));
    RUN(clFinish(rt->queue) == CL_SUCCESS ? DIDCL_OK : DIDCL_ERR_OPENCL);
    const double wall = (now_s() - t0) / n * 1e3;
    didcl_profile_name rows[64];
    size_t k = didcl_profile_names(rt, rows, 64);
    if (k > 64)
        k = 64;
    for (size_t i = 1; i < k; i++) /* insertion sort, largest first */
        for (size_t j = i; j > 0 && rows[j].seconds > rows[j - 1].seconds; j--) {
            didcl_profile_name t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    double dev = 0;
    for (size_t i = 0; i < k; i++)
        dev += rows[i].seconds;
    dev = dev / n * 1e3;
    printf("  profile (profiling queue): wall %.3f ms, device %.3f ms, not busy %.3f ms per forward\n",
           wall, dev, wall - dev);
    for (size_t i = 0; i < k; i++)
        printf("    %-30s %9.3f ms %7.1f launches %5.1f%%\n", rows[i].name,
               rows[i].seconds / n * 1e3, (double)rows[i].commands / n,
               dev > 0 ? 100.0 * rows[i].seconds / n * 1e3 / dev : 0.0);
    RUN(didcl_runtime_set_profiling(rt, 0));
}

static void row(const char *mode, double ms, double ref) {
    if (ref > 0)
        printf("%-34s %10.2f ms %10.2f ms %8.2fx\n", mode, ms, ref, ref / ms);
    else
        printf("%-34s %10.2f ms %13s %9s\n", mode, ms, "-", "-");
}

int main(int argc, char **argv) {
    const char *dir = NULL, *modes = "a,b";
    int start = 1020, B = 4, L = 1024, reps = 0, half = 0, ref = 1, batch = 1, tiled_m = -1,
        wide = -1, half_stage = -1, half_bits = -1, prof = 0, split_merge = -1;
    struct didcl_tiled_tiling tiled = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--start") && i + 1 < argc) start = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--B") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--L") && i + 1 < argc) L = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--modes") && i + 1 < argc) modes = argv[++i];
        else if (!strcmp(argv[i], "--ref-device") && i + 1 < argc) ref_device = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tiled-m") && i + 1 < argc) tiled_m = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tiled") && i + 1 < argc &&
                 sscanf(argv[++i], "%d,%d,%d,%d,%d,%d", &tiled.tm, &tiled.tn, &tiled.gm,
                        &tiled.gn, &tiled.ku, &tiled.la) >= 5 && tiled.tm > 0 &&
                 tiled.tn > 0 && tiled.gm > 0 && tiled.gn > 0 && tiled.ku > 0) continue;
        else if (!strcmp(argv[i], "--wide-kernel") && i + 1 < argc) wide = atoi(argv[++i]) != 0;
        else if (!strcmp(argv[i], "--half-stage") && i + 1 < argc)
            half_stage = atoi(argv[++i]) != 0;
        else if (!strcmp(argv[i], "--half-bits") && i + 1 < argc)
            half_bits = atoi(argv[++i]) != 0;
        else if (!strcmp(argv[i], "--split-merge") && i + 1 < argc)
            split_merge = atoi(argv[++i]) != 0;
        else if (!strcmp(argv[i], "--half")) half = 1;
        else if (!strcmp(argv[i], "--profile")) prof = 1;
        else if (!strcmp(argv[i], "--no-ref")) ref = 0;
        else {
            fprintf(stderr, "usage: bench-model --model DIR [--start S] [--B B] [--L L] "
                            "[--reps N] [--half] [--modes a,b] [--no-ref] [--ref-device cpu|cuda] "
                            "[--batch N] [--tiled-m M] [--tiled TM,TN,GM,GN,KU[,LA]] "
                            "[--wide-kernel 0|1] [--half-stage 0|1] "
                            "[--half-bits 0|1] [--split-merge 0|1] [--profile]\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "bench-model: --model DIR is required\n");
        return 2;
    }
    didcl_runtime_t rt;
    didcl_model_files_t files;
    didcl_model_t m;
    RUN(didcl_runtime_init(NULL, &rt));
    if (tiled_m >= 0)
        rt->gemm.tiled_m = tiled_m > 0 ? tiled_m : INT_MAX;
    if (tiled.tm > 0) { /* both gemm_tiled tilings */
        rt->gemm.tiled[0] = rt->gemm.tiled[1] = tiled;
        didcl_tuning_gemm_options(&rt->gemm);
    }
    if (wide >= 0) /* before the model sizes its staging buffer */
        rt->gemm.wide_kernel = wide;
    if (half_stage >= 0)
        rt->gemm.wide_stage_half = half_stage;
    if (split_merge >= 0)
        rt->attn.split_merge = split_merge;
    if (half_bits >= 0) { /* before the model builds its kernels */
        rt->gemm.half_bits = half_bits;
        didcl_tuning_gemm_options(&rt->gemm);
    }
    RUN(didcl_model_files_open(dir, &files));
    const didcl_model_config *c = didcl_model_files_config(files);
    int maxL = start + B > L ? start + B : L;
    if (batch < 1 || batch * B > maxL) {
        fprintf(stderr, "bench-model: --batch %d, expected 1 to %d (batch * B <= max(L, start + "
                        "B))\n", batch, maxL / B);
        return 2;
    }
    didcl_model_options opt = {half, (uint32_t)maxL, (uint32_t)batch};
    double t0 = now_s();
    RUN(didcl_model_open(rt, files, &opt, &m));
    clFinish(rt->queue);
    printf("device:  %s (%s)\nmodel:   %s: %u layers, hidden %u, heads %u, vocab %u, %s weights "
           "(load %.1f s)\n",
           rt->info.name, rt->info.platform, dir, c->n_layers, c->hidden, c->n_heads,
           c->vocab_size, half ? "half" : "fp32", now_s() - t0);
    printf("products: gemm_tiled (%d,%d,%d,%d,%d,%d) from %d rows in all, %s from %d rows of one "
           "sequence (INT_MAX: never); half weights read by %s, %s\n", rt->gemm.tiled[1].tm,
           rt->gemm.tiled[1].tn, rt->gemm.tiled[1].gm, rt->gemm.tiled[1].gn,
           rt->gemm.tiled[1].ku, rt->gemm.tiled[1].la, rt->gemm.tiled_m,
           rt->gemm.wide_kernel ? "gemm_wide" : "CLBlast",
           half ? rt->gemm.half_wide_m : rt->gemm.wide_m,
           rt->gemm.half_bits ? "bits" : "vload_half",
           rt->gemm.wide_stage_half ? "staged for gemm_wide" : "direct in gemm_wide");
    printf("%-34s %13s %13s %9s\n", "forward", "didcl", ref ? "pytorch" : "", ref ? "speed-up" : "");
    if (ref)
        printf("(pytorch on %s)\n", ref_device);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)maxL);
    for (int i = 0; i < maxL; i++)
        ids[i] = (int32_t)((i * 7919u) % (c->vocab_size - 1));
    char label[64], args[256];

    if (strchr(modes, 'a')) {
        /* a full cache without 255 store passes: fill it with a constant (timing only) */
        const float v = 0.01f;
        for (uint32_t l = 0; l < c->n_layers; l++)
            clEnqueueFillBuffer(rt->queue, m->layers[l].kv, &v, sizeof v, 0,
                                (size_t)batch * maxL * 2 * c->hidden * sizeof(float), 0, NULL,
                                NULL);
        m->cached = (uint32_t)start;
        didcl_forward f = {.mode = DIDCL_FORWARD_BLOCK, .ids = ids + start, .n = (uint32_t)B,
                           .start = (uint32_t)start};
        float *rows = malloc(sizeof(float) * (size_t)B * c->vocab_size);
        int n = reps ? reps : 10;
        RUN(didcl_model_forward(m, &f));
        RUN(didcl_model_rows(m, 0, (uint32_t)B, DIDCL_ROWS_LOGITS, rows));
        t0 = now_s();
        for (int r = 0; r < n; r++) {
            RUN(didcl_model_forward(m, &f));
            RUN(didcl_model_rows(m, 0, (uint32_t)B, DIDCL_ROWS_LOGITS, rows));
        }
        double ms = (now_s() - t0) / n * 1e3;
        snprintf(args, sizeof args, "--mode block --start %d --B %d --iters %d", start, B, n);
        snprintf(label, sizeof label, "(a) block step B=%d, cache %d", B, start);
        row(label, ms, ref ? reference_ms(dir, args) : -1);
        launches(m, &f);
        if (prof)
            profile(m, &f, 1, n);
        free(rows);
        if (batch > 1) {
            int32_t *bids = malloc(sizeof(int32_t) * (size_t)batch * B);
            float *brows = malloc(sizeof(float) * (size_t)batch * B * c->vocab_size);
            for (int i = 0; i < batch * B; i++)
                bids[i] = ids[start + i % B];
            didcl_forward fb = {.mode = DIDCL_FORWARD_BLOCK, .ids = bids, .n = (uint32_t)B,
                                .start = (uint32_t)start};
            const uint32_t nr = (uint32_t)(batch * B);
            RUN(didcl_model_forward_batch(m, &fb, (uint32_t)batch));
            RUN(didcl_model_rows(m, 0, nr, DIDCL_ROWS_LOGITS, brows));
            t0 = now_s();
            for (int r = 0; r < n; r++) {
                RUN(didcl_model_forward_batch(m, &fb, (uint32_t)batch));
                RUN(didcl_model_rows(m, 0, nr, DIDCL_ROWS_LOGITS, brows));
            }
            double bms = (now_s() - t0) / n * 1e3;
            const uint64_t lb = rt->launches;
            RUN(didcl_model_forward_batch(m, &fb, (uint32_t)batch));
            printf("(a) batch of %d, kernels launched per step: %llu\n", batch,
                   (unsigned long long)(rt->launches - lb));
            snprintf(label, sizeof label, "(a) batch of %d, per step", batch);
            row(label, bms, -1);
            snprintf(label, sizeof label, "(a) batch of %d, per sequence", batch);
            row(label, bms / batch, -1);
            if (prof)
                profile(m, &fb, (uint32_t)batch, n);
            free(bids);
            free(brows);
        }
    }
    if (strchr(modes, 'b')) {
        didcl_forward f = {.mode = DIDCL_FORWARD_GLOBAL, .ids = ids, .n = (uint32_t)L};
        int n = reps ? reps : 2;
        RUN(didcl_model_forward(m, &f));
        clFinish(rt->queue);
        t0 = now_s();
        for (int r = 0; r < n; r++)
            RUN(didcl_model_forward(m, &f));
        clFinish(rt->queue);
        double ms = (now_s() - t0) / n * 1e3;
        snprintf(args, sizeof args, "--mode global --L %d --iters %d", L, n);
        snprintf(label, sizeof label, "(b) global L=%d", L);
        row(label, ms, ref ? reference_ms(dir, args) : -1);
        launches(m, &f);
        if (prof)
            profile(m, &f, 1, n);
        /* the revision's shape: logits of one row (first-hitting draws one) */
        uint8_t *want = calloc((size_t)L, 1);
        want[L / 2] = 1;
        f.want = want;
        RUN(didcl_model_forward(m, &f));
        clFinish(rt->queue);
        t0 = now_s();
        for (int r = 0; r < n; r++)
            RUN(didcl_model_forward(m, &f));
        clFinish(rt->queue);
        snprintf(label, sizeof label, "(b) global L=%d, logits of 1 row", L);
        row(label, (now_s() - t0) / n * 1e3, -1);
        if (prof)
            profile(m, &f, 1, n);
        free(want);
    }
    free(ids);
    didcl_model_free(m);
    didcl_model_files_free(files);
    didcl_runtime_free(rt);
    return 0;
}

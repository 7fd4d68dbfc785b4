/*
 * bench-ops.c — prints timings of the product and attention kernels on the default
 * device (DIDCL_DEVICE picks another): the two tilings of cl/gemv.cl (gemm_skinny and
 * gemm_tiled, float and half weights) against CLBlast SGEMM and half weights widened (w)
 * for SGEMM or for the skinny kernel, at the four products and the output head of a
 * BD3-LM of hidden H (768: the 110M, 384: the default model) for each M; then the
 * attention paths (split small-query, wide CLBlast, flash) at heads x head_dim (12 x 64:
 * the 110M) for a cached block step of 4 queries against `keys` cached keys at batch 1
 * and 16, a global pass over `keys` tokens and a full 2L scoring pass over 2 * keys;
 * first, the host's cost of a launch. Figures only, nothing asserted. Build with
 * `make tools/bench-ops`; run
 *   tools/bench-ops [--reps N] [--hidden H] [--vocab V] [--m 4,16,64,256]
 *                   [--tile TN,TM,VW,LK,TILES[,KU]] [--tiled TM,TN,GM,GN,KU[,LA][/...]]...
 *                   [--tiled-sweep] [--layers L] [--no-attention]
 *                   [--wide-m 64,1024] [--wide-tile BM,BN,BK,TM,TN]...
 *                   [--attn-shape HEADS,HEAD_DIM,KEYS] [--attn-chunk CHUNK[,WG]]
 *                   [--flash-split 1,2,4,g4,g8]
 * --tile replaces the device's gemm_skinny tiling (src/tuning.c) to compare others (KU,
 * k-steps of loads ahead, kept when left out; VW
 * and LK are gemm_tiled's too). The columns pick the device's switch points (tuning.c):
 * tiled_m where "tiled f32" first beats "skinny f32" (and "tiled f16" "skinny f16"),
 * wide_m where "clblast" beats both; --m 0 skips the products.
 * gemm_tiled candidates (--tiled, repeatable or '/'-separated; --tiled-sweep adds a
 * built-in set for LK = 32) replace that table by a sweep: for each M, one line per
 * candidate with us per product (queued back to back), the step estimate L x layer +
 * head (--layers L, 12) in us, TFLOP/s and fp32 GB/s, and the step with half weights;
 * the skinny and CLBlast baselines; '!' where a candidate's outputs are not bitwise
 * gemm_skinny's; then the best candidate per product and per step. That picks the
 * tuning's two tilings (tiled[0] below tiled_big_m rows, tiled[1] from it) and tiled_m.
 * The half columns of the products read half weights both ways (b: the bit conversion,
 * v: vload_half; tuning half_bits).
 * The wide section (--wide-m 64,1024: a list of M; 0 skips it) times the global pass's
 * products at M rows (QKV, attention out, MLP up + bias + GELU, MLP down + bias, the
 * head; the head at M = 1 too) by gemm_wide (cl/gemm.cl) with the device's tilings on
 * fp32 W, on half W read by bits and by vload_half, on half W widened into the stage
 * first (tuning wide_stage_half), and CLBlast SGEMM with the bias and GELU launches
 * didcl_ops_linear adds to it, in us and TFLOP/s; then gemm_wide (fp32) with each
 * candidate tiling forced (--wide-tile BM,BN,BK,TM,TN, repeatable, replaces the built-in
 * list), so one run picks the wide path (tuning wide_kernel), its tilings and how half
 * weights are read (half_bits, wide_stage_half).
 * --attn-chunk sets the split path's keys per chunk and work-group size. --flash-split
 * sweeps the flash path's key parts (src/tuning.c flash_split / flash_fill) over the global
 * pass (Tq = Tk = keys, no mask) and the 2L scoring pass (bd3, B = 4): an entry P forces P
 * parts, gN takes them from the grid aiming at N work-groups per compute unit, 0 is the
 * device's tuning; each row gives the parts each pass ran, us, TFLOP/s of the visible
 * (query, key) pairs, and the largest difference from one part. Device time per launch:
 * tools/bench-model --profile.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "ops_ref.h"
#include "program.h"
#include "runtime.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cl_mem filled(didcl_runtime_t rt, size_t bytes) {
    cl_int err;
    cl_mem m = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clCreateBuffer %zu: %d\n", bytes, err);
        exit(1);
    }
    /* halves near 1 in each 16-bit word, so read as floats too every value is a normal
     * number near 0.008: no denormals (they cost a CPU a hundred cycles an operation) */
    uint16_t *h = malloc(bytes + 2);
    for (size_t i = 0; i < bytes / 2 + 1; i++)
        h[i] = (uint16_t)(0x3c00 | (((uint32_t)i * 2654435761u) >> 24));
    clEnqueueWriteBuffer(rt->queue, m, CL_TRUE, 0, bytes, h, 0, NULL, NULL);
    free(h);
    return m;
}

#define RUN(expr)                                                             \
    do {                                                                      \
        if ((expr) != DIDCL_OK) {                                             \
            fprintf(stderr, "%s: %s\n", #expr, didcl_last_error());          \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

/* Fastest seconds of one call of expr over reps calls (each waited for), after 3
 * warm-up calls: the minimum, since the machine may be shared and others' load only adds. */
#define TIME(reps, expr, out)                                                 \
    do {                                                                      \
        for (int w_ = 0; w_ < 3; w_++)                                        \
            RUN(expr);                                                        \
        clFinish(rt->queue);                                                  \
        (out) = 1e30;                                                         \
        for (int r_ = 0; r_ < (reps); r_++) {                                 \
            double t0_ = now_s();                                             \
            RUN(expr);                                                        \
            clFinish(rt->queue);                                              \
            double t_ = now_s() - t0_;                                        \
            (out) = t_ < (out) ? t_ : (out);                                  \
        }                                                                     \
    } while (0)

/* Half weights read by the bit conversion (1) or by vload_half (0) from now on. */
static void set_half_bits(didcl_runtime_t rt, int bits) {
    rt->gemm.half_bits = bits;
    didcl_tuning_gemm_options(&rt->gemm);
}

/* Seconds of one skinny/CLBlast/staged product for each path at (M, N, K); half
 * weights in gemv.cl's kernels read both ways (bits: b, vload_half: v). */
static void bench_product(didcl_runtime_t rt, int reps, int M, int N, int K) {
    cl_mem x = filled(rt, sizeof(float) * M * K), W = filled(rt, sizeof(float) * N * K);
    cl_mem Wh = filled(rt, 2ull * N * K), b = filled(rt, sizeof(float) * N);
    cl_mem y = filled(rt, sizeof(float) * M * N);
    struct didcl_gemm_tuning keep = rt->gemm;
    rt->gemm.half_wide_m = 1; /* staging forced on for the last two columns */
    rt->gemm.wide_kernel = 0; /* wide products by CLBlast here (gemm_wide: --wide-m) */
    cl_mem st = filled(rt, didcl_ops_linear_stage_bytes(rt, N, K, DIDCL_WTYPE_F16));
    double tf, th[2], tt, tth[2], tc, ts, tk;
    TIME(reps, didcl_ops_gemm_skinny(rt, M, N, K, x, W, DIDCL_WTYPE_F32, b, DIDCL_ACT_NONE, y), tf);
    TIME(reps, didcl_ops_gemm_tiled(rt, M, N, K, x, W, DIDCL_WTYPE_F32, b, DIDCL_ACT_NONE, y), tt);
    for (int bits = 1; bits >= 0; bits--) {
        set_half_bits(rt, bits);
        TIME(reps, didcl_ops_gemm_skinny(rt, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, DIDCL_ACT_NONE,
                                         y), th[1 - bits]);
        TIME(reps, didcl_ops_gemm_tiled(rt, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, DIDCL_ACT_NONE,
                                        y), tth[1 - bits]);
    }
    set_half_bits(rt, keep.half_bits);
    TIME(reps, didcl_ops_sgemm(rt, M, N, K, 1.0f, x, 0, K, W, 0, K, 1, 0.0f, y, 0, N), tc);
    TIME(reps, didcl_ops_linear(rt, 1, M, N, K, x, Wh, DIDCL_WTYPE_F16, NULL, DIDCL_ACT_NONE, y, st),
         ts);
    rt->gemm.half_wide_m = INT_MAX;
    rt->gemm.half_stage_m = 1;
    rt->gemm.tiled_m = INT_MAX; /* widened for gemm_skinny */
    TIME(reps, didcl_ops_linear(rt, 1, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, DIDCL_ACT_NONE, y, st),
         tk);
    rt->gemm = keep;
    char label[32];
    snprintf(label, sizeof label, "%dx%dx%d", M, N, K);
    printf("%-16s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %8.1f\n", label,
           tf * 1e6, th[0] * 1e6, th[1] * 1e6, tt * 1e6, tth[0] * 1e6, tth[1] * 1e6, tc * 1e6,
           ts * 1e6, tk * 1e6, 4.0 * N * K / tf * 1e-9);
    clReleaseMemObject(x); clReleaseMemObject(W); clReleaseMemObject(Wh);
    clReleaseMemObject(b); clReleaseMemObject(y); clReleaseMemObject(st);
}

/* Seconds of one call of expr when reps calls are queued back to back (as a forward
 * pass queues them: launch gaps hidden), the fastest of 3 bursts after 2 warm-up calls. */
#define TIME_BURST(reps, expr, out)                                           \
    do {                                                                      \
        for (int w_ = 0; w_ < 2; w_++)                                        \
            RUN(expr);                                                        \
        clFinish(rt->queue);                                                  \
        (out) = 1e30;                                                         \
        for (int b_ = 0; b_ < 3; b_++) {                                      \
            double t0_ = now_s();                                             \
            for (int r_ = 0; r_ < (reps); r_++)                               \
                RUN(expr);                                                    \
            clFinish(rt->queue);                                              \
            double t_ = (now_s() - t0_) / (reps);                             \
            (out) = t_ < (out) ? t_ : (out);                                  \
        }                                                                     \
    } while (0)

/* The gemm_tiled sweep's built-in candidates (--tiled-sweep), TM,TN,GM,GN,KU,LA, for a
 * GPU with LK = 32: around the H200's best (4 x 4 blocks, 2 k-lanes a work-item, 4 x 2
 * blocks a work-group of 128; 2026-12-04 sweep in docs/performance.md, where LA of 4 to
 * 32 and 8 x 4 blocks lost by 1.3-5x), with 1 to 4 k-lanes an item. */
static const struct didcl_tiled_tiling sweep_default[] = {
    {4, 4, 4, 2, 2, 2}, {4, 4, 4, 2, 1, 2}, {4, 4, 4, 2, 4, 2}, {4, 4, 2, 2, 2, 2},
    {4, 4, 4, 1, 2, 2}, {4, 4, 8, 2, 2, 2}, {4, 4, 16, 1, 2, 2}, {2, 4, 4, 2, 2, 2},
    {2, 4, 8, 2, 2, 2}, {4, 2, 4, 2, 2, 2}, {4, 2, 1, 8, 2, 2}, {4, 4, 2, 2, 2, 1},
    {4, 4, 4, 2, 2, 1}, {2, 4, 4, 2, 2, 1}, {4, 4, 1, 4, 2, 1}, {4, 4, 4, 2, 2, 4}};

#define SWEEP_MAX 64
#define NPROD 5

/* The gemm_tiled sweep at M rows: the five products of a layer and the head (N, K in
 * shapes), each candidate tiling in turn for both tilings of the tuning, fp32 and half
 * weights, us a call (TIME_BURST); a candidate's outputs that differ by one bit from
 * gemm_skinny's are marked '!' (the tiling must never change the bits). One line per
 * candidate: the five products, the step estimate layers * (4 products) + head with its
 * TFLOP/s (2MNK) and GB/s (fp32 W), and the step with half weights; then the skinny and
 * CLBlast baselines and the best candidate per product and per step. */
/* One row of the gemm_tiled sweep: us per product t (and the step with half weights t16
 * when given), the step estimate, its TFLOP/s and GB/s; returns the step in seconds. */
static double sweep_row(const double *t, const double *t16, int layers, double flops,
                        double bytes, const char *num, const char *label) {
    double step = 0, step16 = 0;
    for (int s = 0; s < NPROD; s++) {
        step += t[s] * (s < 4 ? layers : 1);
        step16 += t16 ? t16[s] * (s < 4 ? layers : 1) : 0;
    }
    printf("%-4s %-14s %8.1f %8.1f %8.1f %8.1f %9.1f %10.1f %6.2f %6.0f", num, label,
           t[0] * 1e6, t[1] * 1e6, t[2] * 1e6, t[3] * 1e6, t[4] * 1e6, step * 1e6,
           flops / step * 1e-12, bytes / step * 1e-9);
    if (t16)
        printf(" %10.1f\n", step16 * 1e6);
    else
        printf(" %10s\n", "-");
    return step;
}

static void bench_tiled_sweep(didcl_runtime_t rt, int reps, int M, const int shapes[][2],
                              int layers, const struct didcl_tiled_tiling *cand, int ncand) {
    static double tf[SWEEP_MAX][NPROD], th[SWEEP_MAX][NPROD];
    static int bad[SWEEP_MAX];
    double sk[NPROD], skh[NPROD], cb[NPROD];
    double flops = 0, bytes = 0;
    const struct didcl_gemm_tuning keep = rt->gemm;
    memset(bad, 0, sizeof bad);
    /* the baselines of every product first, printed before any candidate runs (one
     * that faults leaves them standing) */
    cl_mem x[NPROD], W[NPROD], Wh[NPROD], b[NPROD], y[NPROD];
    float *ref[NPROD];
    for (int s = 0; s < NPROD; s++) {
        const int N = shapes[s][0], K = shapes[s][1], w = s < 4 ? layers : 1;
        flops += 2.0 * M * N * K * w;
        bytes += 4.0 * N * K * w;
        x[s] = filled(rt, sizeof(float) * M * K), W[s] = filled(rt, sizeof(float) * N * K);
        Wh[s] = filled(rt, 2ull * N * K), b[s] = filled(rt, sizeof(float) * N);
        y[s] = filled(rt, sizeof(float) * M * N);
        const size_t ny = (size_t)M * N;
        ref[s] = malloc(2 * ny * sizeof *ref[s]);
        for (int h = 0; h < 2; h++) { /* gemm_skinny's rows: the bits every tiling gives */
            RUN(didcl_ops_gemm_skinny(rt, M, N, K, x[s], h ? Wh[s] : W[s],
                                      h ? DIDCL_WTYPE_F16 : DIDCL_WTYPE_F32, b[s], DIDCL_ACT_NONE,
                                      y[s]));
            clEnqueueReadBuffer(rt->queue, y[s], CL_TRUE, 0, ny * sizeof *ref[s],
                                ref[s] + h * ny, 0, NULL, NULL);
        }
        TIME_BURST(reps, didcl_ops_gemm_skinny(rt, M, N, K, x[s], W[s], DIDCL_WTYPE_F32, b[s],
                                               DIDCL_ACT_NONE, y[s]), sk[s]);
        TIME_BURST(reps, didcl_ops_gemm_skinny(rt, M, N, K, x[s], Wh[s], DIDCL_WTYPE_F16, b[s],
                                               DIDCL_ACT_NONE, y[s]), skh[s]);
        TIME_BURST(reps, didcl_ops_sgemm(rt, M, N, K, 1.0f, x[s], 0, K, W[s], 0, K, 1, 0.0f,
                                         y[s], 0, N), cb[s]);
    }
    printf("\ngemm_tiled sweep, M = %d: us a call (%d queued back to back); step = %d x "
           "(qkv+out+up+down) + head\n", M, reps, layers);
    printf("%-4s %-14s %8s %8s %8s %8s %9s %10s %6s %6s %10s\n", "#", "TMxTN GMxGN KU LA",
           "qkv", "out", "up", "down", "head", "step f32", "TF/s", "GB/s", "step f16");
    sweep_row(sk, skh, layers, flops, bytes, "-", "skinny");
    sweep_row(cb, NULL, layers, flops, bytes, "-", "clblast");
    fflush(stdout);
    for (int s = 0; s < NPROD; s++) {
        const int N = shapes[s][0], K = shapes[s][1];
        const size_t ny = (size_t)M * N;
        float *got = malloc(ny * sizeof *got);
        for (int c = 0; c < ncand; c++) {
            rt->gemm.tiled[0] = rt->gemm.tiled[1] = cand[c];
            didcl_tuning_gemm_options(&rt->gemm);
            for (int h = 0; h < 2 && bad[c] < 2; h++) {
                const enum didcl_wtype wt = h ? DIDCL_WTYPE_F16 : DIDCL_WTYPE_F32;
                double *t = h ? &th[c][s] : &tf[c][s];
                /* a tiling the device refuses (local memory beside the kernel's own, the
                 * work-group) or its compiler fails on is left out, not fatal */
                if (didcl_ops_gemm_tiled(rt, M, N, K, x[s], h ? Wh[s] : W[s], wt, b[s],
                                         DIDCL_ACT_NONE, y[s]) != DIDCL_OK) {
                    printf("  (candidate %d left out: %s)\n", c, didcl_last_error());
                    bad[c] = 2;
                    break;
                }
                TIME_BURST(reps, didcl_ops_gemm_tiled(rt, M, N, K, x[s], h ? Wh[s] : W[s], wt,
                                                      b[s], DIDCL_ACT_NONE, y[s]), *t);
                clEnqueueReadBuffer(rt->queue, y[s], CL_TRUE, 0, ny * sizeof *got, got, 0, NULL,
                                    NULL);
                bad[c] |= memcmp(got, ref[s] + h * ny, ny * sizeof *got) != 0;
            }
        }
        rt->gemm = keep;
        free(ref[s]); free(got);
        clReleaseMemObject(x[s]); clReleaseMemObject(W[s]); clReleaseMemObject(Wh[s]);
        clReleaseMemObject(b[s]); clReleaseMemObject(y[s]);
    }
    double step_best = 1e30, prod_best[NPROD];
    int c_best = -1, p_best[NPROD];
    for (int s = 0; s < NPROD; s++)
        prod_best[s] = 1e30, p_best[s] = -1;
    for (int c = 0; c < ncand; c++) {
        if (bad[c] == 2)
            continue;
        char label[40], num[16];
        snprintf(label, sizeof label, "%dx%d %dx%d %d %d%s", cand[c].tm, cand[c].tn,
                 cand[c].gm, cand[c].gn, cand[c].ku, cand[c].la, bad[c] ? " !" : "");
        snprintf(num, sizeof num, "%d", c);
        const double step = sweep_row(tf[c], th[c], layers, flops, bytes, num, label);
        for (int s = 0; s < NPROD; s++)
            if (!bad[c] && tf[c][s] < prod_best[s])
                prod_best[s] = tf[c][s], p_best[s] = c;
        if (!bad[c] && step < step_best)
            step_best = step, c_best = c;
    }
    if (c_best < 0)
        return;
    printf("best M=%d: step #%d (%d,%d,%d,%d,%d,%d) %.1f us; per product:", M, c_best,
           cand[c_best].tm, cand[c_best].tn, cand[c_best].gm, cand[c_best].gn, cand[c_best].ku,
           cand[c_best].la, step_best * 1e6);
    static const char *const names[NPROD] = {"qkv", "out", "up", "down", "head"};
    for (int s = 0; s < NPROD; s++)
        printf(" %s #%d %.1f", names[s], p_best[s], prod_best[s] * 1e6);
    printf("\n");
}

/* Parse "TM,TN,GM,GN,KU[,LA][/TM,TN,GM,GN,KU[,LA]...]" (LA 1 when left out) into cand (at most SWEEP_MAX in all);
 * 0 on a malformed entry or one the device cannot run. */
static int parse_tiled(const char *arg, struct didcl_tiled_tiling *cand, int *ncand,
                       const struct didcl_gemm_tuning *t, uint64_t max_wg) {
    for (const char *p = arg; *p;) {
        struct didcl_tiled_tiling d = {.la = 1};
        if (*ncand >= SWEEP_MAX ||
            sscanf(p, "%d,%d,%d,%d,%d,%d", &d.tm, &d.tn, &d.gm, &d.gn, &d.ku, &d.la) < 5 ||
            d.tm < 1 || d.tn < 1 || d.gm < 1 || d.gn < 1 || d.ku < 1 ||
            (max_wg && (uint64_t)didcl_tuning_tiled_items(t, &d) * d.gm * d.gn > max_wg))
            return 0;
        cand[(*ncand)++] = d;
        p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p);
    }
    return 1;
}

/* Host cost of a launch: calls back to back of a tiny element-wise op, a row reduction
 * and a product, as the forward passes make them; the time to enqueue them all and the
 * time until they ran, per call (the fastest of reps rounds). */
/* rounds x four small launches (axpy, scale, layernorm_modulate, gemm_skinny) on C x C. */
static void launch_four(didcl_runtime_t rt, int rounds, int C, cl_mem a, cl_mem b, cl_mem w,
                        cl_mem y) {
    for (int i = 0; i < rounds; i++) {
        RUN(didcl_ops_axpy(rt, C, 0.5f, a, b));
        RUN(didcl_ops_scale(rt, C, 1.0f, b));
        RUN(didcl_ops_layernorm_modulate(rt, 1, C, 1e-5f, a, w, w, 0, 0, 0, y));
        RUN(didcl_ops_gemm_skinny(rt, 1, C, C, a, b, DIDCL_WTYPE_F32, NULL, DIDCL_ACT_NONE, y));
    }
}

static void bench_launch(didcl_runtime_t rt, int reps) {
    enum { CALLS = 2000, C = 64 };
    cl_mem a = filled(rt, sizeof(float) * C * C), b = filled(rt, sizeof(float) * C * C);
    cl_mem w = filled(rt, sizeof(float) * C), y = filled(rt, sizeof(float) * C * C);
    double enq = 1e30, all = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        clFinish(rt->queue);
        const double t0 = now_s();
        launch_four(rt, CALLS / 4, C, a, b, w, y);
        const double t1 = now_s();
        clFinish(rt->queue);
        const double t2 = now_s();
        if (r == 0)
            continue; /* the first round builds the kernels */
        enq = t1 - t0 < enq ? t1 - t0 : enq;
        all = t2 - t0 < all ? t2 - t0 : all;
    }
    printf("launch: %.2f us to enqueue, %.2f us until done, per call (%d calls: axpy, scale, "
           "layernorm_modulate, gemm_skinny, %dx%d)\n", enq / CALLS * 1e6, all / CALLS * 1e6,
           CALLS, C, C);
    /* the host's part alone: a few calls into an idle queue (the device cannot hold the
     * host back), and clSetKernelArg itself (about ten a launch) */
    double few = 1e30, set = 1e30;
    for (int r = 0; r < reps; r++) {
        clFinish(rt->queue);
        double t0 = now_s();
        launch_four(rt, 8, C, a, b, w, y);
        const double t1 = now_s();
        few = t1 - t0 < few ? t1 - t0 : few;
        cl_kernel k;
        RUN(didcl_program_kernel(rt, "elementwise", NULL, "axpy_f32", &k));
        t0 = now_s();
        for (int i = 0; i < CALLS; i++) {
            const float alpha = (float)i;
            clSetKernelArg(k, 1, sizeof alpha, &alpha);
        }
        const double t2 = now_s();
        set = t2 - t0 < set ? t2 - t0 : set;
    }
    printf("launch, the host's part: %.2f us to enqueue into an idle queue (32 calls); "
           "clSetKernelArg %.3f us\n", few / 32 * 1e6, set / CALLS * 1e6);
    clReleaseMemObject(a); clReleaseMemObject(b); clReleaseMemObject(w); clReleaseMemObject(y);
}

/* One timed product: us and TFLOP/s (2 M N K flops; the epilogue is not counted). */
static void print_cell(double seconds, int M, int N, int K) {
    printf(" %8.1f %6.2f", seconds * 1e6, 2.0 * M * N * K / seconds * 1e-12);
}

/* Largest |y - ref| over the largest |ref|, y read back from the device. */
static double rel_err(didcl_runtime_t rt, cl_mem y, const float *ref, size_t n) {
    float *h = malloc(n * sizeof *h);
    clEnqueueReadBuffer(rt->queue, y, CL_TRUE, 0, n * sizeof *h, h, 0, NULL, NULL);
    double err = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)h[i] - ref[i]);
        err = d > err || d != d ? d : err; /* a NaN shows */
        big = fabs(ref[i]) > big ? fabs(ref[i]) : big;
    }
    free(h);
    return big > 0 ? err / big : err;
}

/* The wide product paths at (M, N, K) with the model's epilogue (bias, GELU or none):
 * gemm_wide on fp32 W, on half W read by bits and by vload_half, on half W widened into
 * the stage first (didcl_ops_linear with wide_stage_half; "-" where W does not fit the
 * stage whole, which then runs direct), and CLBlast with the bias and GELU launches
 * didcl_ops_linear adds. err: the largest of gemm_wide f32's max difference from
 * CLBlast over max value, and of the half paths' differences from half by bits (the same
 * floats: 0 expected); a tiling off CLBlast by more than 1e-4 is marked '!'. */
static void bench_wide(didcl_runtime_t rt, int reps, int M, int N, int K, int bias,
                       enum didcl_act act, const struct didcl_wide_tiling *cand, int ncand) {
    cl_mem x = filled(rt, sizeof(float) * M * K), W = filled(rt, sizeof(float) * N * K);
    cl_mem Wh = filled(rt, 2ull * N * K), b = bias ? filled(rt, sizeof(float) * N) : NULL;
    cl_mem y = filled(rt, sizeof(float) * M * N);
    const struct didcl_gemm_tuning keep = rt->gemm;
    const size_t ny = (size_t)M * N;
    float *ref = malloc(ny * sizeof *ref), *refh = malloc(ny * sizeof *refh);
    double tc, tw, th[2], tst = 0, err = 0, e;
    rt->gemm.wide_kernel = 0; /* linear's CLBlast path: SGEMM, then bias and GELU launches */
    rt->gemm.wide_m = rt->gemm.half_wide_m = 1;
    TIME(reps, didcl_ops_linear(rt, 1, M, N, K, x, W, DIDCL_WTYPE_F32, b, act, y, NULL), tc);
    clEnqueueReadBuffer(rt->queue, y, CL_TRUE, 0, ny * sizeof *ref, ref, 0, NULL, NULL);
    rt->gemm = keep;
    TIME(reps, didcl_ops_gemm_wide(rt, M, N, K, x, W, DIDCL_WTYPE_F32, b, act, y), tw);
    err = rel_err(rt, y, ref, ny);
    for (int bits = 1; bits >= 0; bits--) {
        set_half_bits(rt, bits);
        TIME(reps, didcl_ops_gemm_wide(rt, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, act, y),
             th[1 - bits]);
        if (bits) /* the half reference: these floats, whichever path widened them */
            clEnqueueReadBuffer(rt->queue, y, CL_TRUE, 0, ny * sizeof *refh, refh, 0, NULL, NULL);
        else if ((e = rel_err(rt, y, refh, ny)) > err || e != e)
            err = e;
    }
    rt->gemm = keep;
    rt->gemm.wide_kernel = 1; /* half W widened into the stage, then fp32 gemm_wide */
    rt->gemm.wide_m = rt->gemm.half_wide_m = 1;
    rt->gemm.wide_stage_half = 1;
    const size_t sb = didcl_ops_linear_stage_bytes(rt, N, K, DIDCL_WTYPE_F16);
    if (sb >= sizeof(float) * N * K) {
        cl_mem st = filled(rt, sb);
        TIME(reps, didcl_ops_linear(rt, 1, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, act, y, st), tst);
        if ((e = rel_err(rt, y, refh, ny)) > err || e != e)
            err = e;
        clReleaseMemObject(st);
    }
    rt->gemm = keep;
    char label[40];
    snprintf(label, sizeof label, "%dx%dx%d%s", M, N, K,
             act == DIDCL_ACT_GELU ? " +b+gelu" : bias ? " +b" : "");
    printf("%-22s [%d]", label, didcl_tuning_wide_pick(&rt->gemm, M, N));
    print_cell(tw, M, N, K);
    print_cell(th[0], M, N, K);
    print_cell(th[1], M, N, K);
    if (tst > 0)
        print_cell(tst, M, N, K);
    else
        printf(" %15s", "-");
    print_cell(tc, M, N, K);
    printf(" %8.1e\n  tilings:", err);
    for (int c = 0; c < ncand; c++) {
        rt->gemm.wide[0] = rt->gemm.wide[1] = cand[c];
        didcl_tuning_gemm_options(&rt->gemm);
        double tt;
        TIME(reps, didcl_ops_gemm_wide(rt, M, N, K, x, W, DIDCL_WTYPE_F32, b, act, y), tt);
        printf(" %6.2f%s", 2.0 * M * N * K / tt * 1e-12, rel_err(rt, y, ref, ny) > 1e-4 ? "!" : "");
    }
    printf("\n");
    rt->gemm = keep;
    free(ref);
    free(refh);
    clReleaseMemObject(x); clReleaseMemObject(W); clReleaseMemObject(Wh);
    if (b)
        clReleaseMemObject(b);
    clReleaseMemObject(y);
}

/* Multiply-adds x 2 of the (query, key) pairs a mask lets through, Tq = Tk = T. */
static double attn_gflop(int T, int heads, int hd, const didcl_attn_mask *mask) {
    double pairs = 0;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++)
            pairs += didcl_ref_attn_allowed(mask, i + mask->q_offset, j);
    return 4.0 * pairs * hd * heads * 1e-9;
}

/* Largest |a - b| over n floats of two device buffers. */
static double max_diff(didcl_runtime_t rt, cl_mem a, cl_mem b, size_t n) {
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    clEnqueueReadBuffer(rt->queue, a, CL_TRUE, 0, n * sizeof *x, x, 0, NULL, NULL);
    clEnqueueReadBuffer(rt->queue, b, CL_TRUE, 0, n * sizeof *y, y, 0, NULL, NULL);
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fabs((double)x[i] - y[i]) > d ? fabs((double)x[i] - y[i]) : d;
    free(x);
    free(y);
    return d;
}

/* The --flash-split sweep (see the top): the global pass over L tokens and the 2L scoring
 * pass of the fused qkv (2L rows), each entry of list a tuning of the key parts. */
static void bench_flash_split(didcl_runtime_t rt, int reps, const char *list, int heads, int hd,
                              int L, cl_mem qkv, cl_mem out) {
    const int Wq = 3 * heads * hd, HA = heads * hd;
    const didcl_ops_rows q = {qkv, 0, Wq}, k = {qkv, HA, Wq}, v = {qkv, 2 * HA, Wq};
    const didcl_attn_mask pass[2] = {{DIDCL_ATTN_NONE, 0, 0, 0}, {DIDCL_ATTN_BD3_2L, 0, 4, L}};
    const int T[2] = {L, 2 * L};
    const float scale = 1.0f / sqrtf((float)hd);
    const struct didcl_attn_tuning keep = rt->attn;
    cl_mem ref[2];
    double gflop[2];
    for (int p = 0; p < 2; p++) { /* one part: the reference of the differences */
        gflop[p] = attn_gflop(T[p], heads, hd, &pass[p]);
        ref[p] = filled(rt, sizeof(float) * T[p] * HA);
        rt->attn.flash_split = 1;
        RUN(didcl_ops_attention_flash(rt, T[p], T[p], heads, hd, scale, q, k, v, &pass[p], NULL,
                                      ref[p]));
    }
    rt->attn = keep;
    printf("flash key parts (device: split %d, fill %d = %.1f a compute unit of %u, at most "
           "%d keys a part; gN keeps that limit); global Tq=Tk=%d none | 2L Tq=Tk=%d bd3 "
           "B=4:\n", keep.flash_split, keep.flash_fill,
           keep.flash_fill / (double)(rt->info.compute_units ? rt->info.compute_units : 1),
           (unsigned)rt->info.compute_units, keep.flash_keys, T[0], T[1]);
    printf("  %-6s %5s %9s %7s %9s | %5s %9s %7s %9s\n", "split", "parts", "us", "TFLOP/s",
           "diff", "parts", "us", "TFLOP/s", "diff");
    for (const char *e = list; *e;) {
        rt->attn = keep;
        if (*e == 'g') {
            rt->attn.flash_split = 0;
            rt->attn.flash_fill = atoi(e + 1) * (int)rt->info.compute_units;
        } else if (atoi(e) > 0)
            rt->attn.flash_split = atoi(e);
        char label[16];
        snprintf(label, sizeof label, "%.*s", (int)strcspn(e, ","), e);
        printf("  %-6s", label);
        for (int p = 0; p < 2; p++) {
            const size_t bytes =
                didcl_ops_attention_flash_scratch_bytes(rt, T[p], T[p], heads, hd);
            cl_int err = CL_SUCCESS;
            cl_mem S = bytes ? clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes, NULL, &err)
                             : NULL;
            if (err != CL_SUCCESS) {
                fprintf(stderr, "clCreateBuffer %zu: %d\n", bytes, err);
                exit(1);
            }
            double t;
            TIME(reps, didcl_ops_attention_flash(rt, T[p], T[p], heads, hd, scale, q, k, v,
                                                 &pass[p], S, out), t);
            printf(" %s%5d %9.1f %7.2f %9.2e", p ? "| " : "",
                   didcl_ops_attention_flash_parts(rt, T[p], T[p], heads, hd), t * 1e6,
                   gflop[p] / t * 1e-3, max_diff(rt, out, ref[p], (size_t)T[p] * HA));
            if (S)
                clReleaseMemObject(S);
        }
        printf("\n");
        e += strcspn(e, ",");
        e += *e == ',';
    }
    rt->attn = keep;
    clReleaseMemObject(ref[0]);
    clReleaseMemObject(ref[1]);
}

int main(int argc, char **argv) {
    int reps = 20, H = 768, V = 50258, attention = 1, tile[6] = {0}, layers = 12;
    int nsweep = 0, sweep_default_on = 0;
    const char *tiled_args[SWEEP_MAX];
    struct didcl_tiled_tiling sweep[SWEEP_MAX];
    int ashape[3] = {12, 64, 1024}, achunk[2] = {0, 0};
    const char *ms = "4,16,64,256", *wide_ms = "1024", *flash_split = "";
    /* gemm_wide tilings to compare: tiles of 128 to 64 with 8 x 8, 8 x 4 and 4 x 4
     * blocks, K-tiles of 8 to 32 */
    struct didcl_wide_tiling cand[16] = {
        {128, 128, 16, 8, 8}, {128, 128, 8, 8, 8}, {128, 64, 16, 8, 8}, {64, 128, 16, 8, 8},
        {128, 64, 16, 8, 4},  {64, 64, 16, 8, 8},  {64, 64, 16, 4, 4},  {64, 64, 32, 4, 4},
        {32, 64, 16, 4, 4}};
    int ncand = 9, user_cand = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc) H = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) V = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc) ms = argv[++i];
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc)
            sscanf(argv[++i], "%d,%d,%d,%d,%d,%d", &tile[0], &tile[1], &tile[2], &tile[3], &tile[4],
                   &tile[5]);
        else if (!strcmp(argv[i], "--tiled") && i + 1 < argc && nsweep < SWEEP_MAX)
            tiled_args[nsweep++] = argv[++i]; /* parsed once LK is known */
        else if (!strcmp(argv[i], "--tiled-sweep")) sweep_default_on = 1;
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-attention")) attention = 0;
        else if (!strcmp(argv[i], "--wide-m") && i + 1 < argc) wide_ms = argv[++i];
        else if (!strcmp(argv[i], "--wide-tile") && i + 1 < argc && user_cand < 16) {
            struct didcl_wide_tiling *w = &cand[user_cand++];
            if (sscanf(argv[++i], "%d,%d,%d,%d,%d", &w->bm, &w->bn, &w->bk, &w->tm, &w->tn) != 5 ||
                !didcl_tuning_wide_valid(w, 0)) {
                fprintf(stderr, "bench-ops: --wide-tile %s: expected BM,BN,BK,TM,TN with TM, TN, "
                                "BK multiples of 4 that split the tiles evenly\n", argv[i]);
                return 2;
            }
            ncand = user_cand;
        } else if (!strcmp(argv[i], "--attn-shape") && i + 1 < argc &&
                   sscanf(argv[++i], "%d,%d,%d", &ashape[0], &ashape[1], &ashape[2]) == 3 &&
                   ashape[0] > 0 && ashape[1] > 0 && ashape[2] > 0) continue;
        else if (!strcmp(argv[i], "--attn-chunk") && i + 1 < argc &&
                 sscanf(argv[++i], "%d,%d", &achunk[0], &achunk[1]) >= 1) continue;
        else if (!strcmp(argv[i], "--flash-split") && i + 1 < argc) flash_split = argv[++i];
        else {
            fprintf(stderr, "usage: bench-ops [--reps N] [--hidden H] [--vocab V] [--m 4,16,64] "
                            "[--tile TN,TM,VW,LK,TILES[,KU]] [--tiled TM,TN,GM,GN,KU[,LA][/...]]... "
                            "[--tiled-sweep] [--layers L] [--no-attention] [--wide-m 64,1024] [--wide-tile BM,BN,BK,TM,TN]... "
                            "[--attn-shape HEADS,HEAD_DIM,KEYS] [--attn-chunk CHUNK[,WG]] "
                            "[--flash-split 1,2,4,g4,g8]\n");
            return 2;
        }
    }
    didcl_runtime_t rt;
    RUN(didcl_runtime_init(NULL, &rt));
    if (tile[0] > 0) {
        rt->gemm.tn = tile[0]; rt->gemm.tm = tile[1]; rt->gemm.vw = tile[2];
        rt->gemm.lk = tile[3]; rt->gemm.tiles = tile[4];
        if (tile[5] > 0)
            rt->gemm.ku = tile[5];
    }
    didcl_tuning_gemm_options(&rt->gemm);
    /* gemm_tiled candidates: --tiled entries, then the built-in set (those the device
     * cannot run dropped) */
    int ncand_t = 0;
    for (int i = 0; i < nsweep; i++)
        if (!parse_tiled(tiled_args[i], sweep, &ncand_t, &rt->gemm, rt->info.max_work_group)) {
            fprintf(stderr, "bench-ops: --tiled %s: expected TM,TN,GM,GN,KU[,LA][/...] of positive "
                            "numbers with LK / LA x GM x GN within the device's work-group, at most "
                            "%d in all\n", tiled_args[i], SWEEP_MAX);
            return 2;
        }
    for (size_t c = 0; sweep_default_on && c < sizeof sweep_default / sizeof sweep_default[0] &&
                       ncand_t < SWEEP_MAX; c++)
        if ((!rt->info.max_work_group ||
             (uint64_t)didcl_tuning_tiled_items(&rt->gemm, &sweep_default[c]) *
                     sweep_default[c].gm * sweep_default[c].gn <= rt->info.max_work_group) &&
            didcl_tuning_tiled_local_bytes(&rt->gemm, &sweep_default[c]) <= rt->info.local_mem)
            sweep[ncand_t++] = sweep_default[c];
    const struct didcl_gemm_tuning *t = &rt->gemm;
    printf("device: %s (%s)\n", rt->info.name, rt->info.platform);
    printf("gemm_skinny tiling TN=%d TM=%d VW=%d LK=%d tiles=%d KU=%d; gemm_tiled from M=%d in all, "
           "TM,TN,GM,GN,KU,LA %d,%d,%d,%d,%d,%d below M=%d, %d,%d,%d,%d,%d,%d from it; CLBlast from "
           "M=%d (fp32), M=%d (half) of one sequence\n", t->tn, t->tm, t->vw, t->lk, t->tiles,
           t->ku, t->tiled_m, t->tiled[0].tm, t->tiled[0].tn, t->tiled[0].gm, t->tiled[0].gn,
           t->tiled[0].ku, t->tiled[0].la, t->tiled_big_m, t->tiled[1].tm, t->tiled[1].tn,
           t->tiled[1].gm, t->tiled[1].gn, t->tiled[1].ku, t->tiled[1].la, t->wide_m,
           t->half_wide_m);
    bench_launch(rt, reps < 5 ? 5 : reps);
    const int shapes[][2] = {{3 * H, H}, {H, H}, {4 * H, H}, {H, 4 * H}, {V, H}};
    for (const char *p = ms; ncand_t && *p;) { /* the sweep replaces the table */
        const int M = atoi(p);
        if (M > 0)
            bench_tiled_sweep(rt, reps, M, shapes, layers, sweep, ncand_t);
        p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
    }
    if (ncand_t)
        ms = "";
    else {
        printf("products, us (f16 b: half read by bits, v: by vload_half; w: widened first):\n");
        printf("%-16s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n", "M x N x K", "skin f32",
               "skin f16b", "skin f16v", "tile f32", "tile f16b", "tile f16v", "clblast",
               "f16w+clb", "f16w+skin", "f32 GB/s");
    }
    for (const char *p = ms; *p;) {
        const int M = atoi(p);
        for (size_t s = 0; M > 0 && s < sizeof shapes / sizeof shapes[0]; s++)
            bench_product(rt, M >= 256 ? (reps + 9) / 10 : reps, M, shapes[s][0], shapes[s][1]);
        p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
    }
    if (atoi(wide_ms) > 0) {
        /* candidates the device cannot run (work-group too large) are dropped */
        int nc = 0;
        for (int c = 0; c < ncand; c++)
            if (didcl_tuning_wide_valid(&cand[c], rt->info.max_work_group))
                cand[nc++] = cand[c];
        ncand = nc;
        printf("\nwide products: us and TFLOP/s (2MNK); gemm_wide tilings [0] %dx%d/%d %dx%d "
               "from %d work-groups, else [1] %dx%d/%d %dx%d; wide path now: %s\n",
               t->wide[0].bm, t->wide[0].bn, t->wide[0].bk, t->wide[0].tm, t->wide[0].tn,
               t->wide_fill, t->wide[1].bm, t->wide[1].bn, t->wide[1].bk, t->wide[1].tm,
               t->wide[1].tn, t->wide_kernel ? "gemm_wide" : "CLBlast");
        printf("%-22s %3s %15s %15s %15s %15s %15s %8s\n", "M x N x K", "[t]", "wide f32",
               "wide f16 bits", "wide f16 vload", "f16 stage+f32", "clblast+b/gelu", "err");
        printf("  tilings (wide f32 TFLOP/s):");
        for (int c = 0; c < ncand; c++)
            printf(" %d:%dx%d/%d,%dx%d", c, cand[c].bm, cand[c].bn, cand[c].bk, cand[c].tm,
                   cand[c].tn);
        printf("\n");
        for (const char *p = wide_ms; *p;) {
            const int M = atoi(p);
            if (M > 0) { /* the layer's products with the model's epilogues */
                bench_wide(rt, reps, M, 3 * H, H, 0, DIDCL_ACT_NONE, cand, ncand);
                bench_wide(rt, reps, M, H, H, 0, DIDCL_ACT_NONE, cand, ncand);
                bench_wide(rt, reps, M, 4 * H, H, 1, DIDCL_ACT_GELU, cand, ncand);
                bench_wide(rt, reps, M, H, 4 * H, 1, DIDCL_ACT_NONE, cand, ncand);
                bench_wide(rt, reps, M, V, H, 1, DIDCL_ACT_NONE, cand, ncand); /* the head */
            }
            p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
        }
        bench_wide(rt, reps, 1, V, H, 1, DIDCL_ACT_NONE, cand, ncand); /* the head, one row */
    }
    if (!attention) {
        didcl_runtime_free(rt);
        return 0;
    }

    /* attention: a block-4 step against `keys` cached keys, one sequence and 16 (each its
     * own cache); the global pass over `keys` tokens (wide: chunks of 256 queries, as
     * src/model.c runs it); the 2L scoring pass over 2 * keys with the BD3 mask (B = 4) */
    const int heads = ashape[0], hd = ashape[1], L = ashape[2], Wq = 3 * heads * hd;
    const int HA = heads * hd, NB = 16, NQ = 4;
    if (achunk[0] > 0)
        rt->attn.chunk = achunk[0];
    if (achunk[1] > 0)
        rt->attn.wg = achunk[1];
    cl_mem qkv = filled(rt, sizeof(float) * 2 * L * Wq), out = filled(rt, sizeof(float) * 2 * L * HA);
    cl_mem cache = filled(rt, sizeof(float) * NB * L * 2 * HA);
    didcl_ops_rows q = {qkv, 0, Wq}, k = {qkv, HA, Wq}, v = {qkv, 2 * HA, Wq};
    didcl_ops_rows kc = {cache, 0, 2 * HA}, vc = {cache, HA, 2 * HA};
    didcl_attn_mask none = {DIDCL_ATTN_NONE, 0, 0, 0}, bd3 = {DIDCL_ATTN_BD3_2L, 0, 4, L};
    size_t sbytes = sizeof(float) * heads * 2 * L * 2 * L;
    const size_t split = didcl_ops_attention_scratch_bytes(rt, NB, NQ, L, heads, hd);
    const size_t fbytes = didcl_ops_attention_flash_scratch_bytes(rt, 2 * L, 2 * L, heads, hd);
    sbytes = sbytes > fbytes ? sbytes : fbytes;
    cl_mem S = filled(rt, split > sbytes ? split : sbytes);
    const float scale = 1.0f / sqrtf((float)hd);
    const int r2 = reps > 10 ? 10 : reps;
    double ts1, ts16, tw1, tf1, tgw = 0, tgf, tbw, tbf;
    TIME(reps, didcl_ops_attention_batch(rt, 1, NQ, L, heads, hd, scale, q, kc, vc, &none, 0,
                                         0, S, out), ts1);
    TIME(reps, didcl_ops_attention_batch(rt, NB, NQ, L, heads, hd, scale, q, kc, vc, &none,
                                         NQ * Wq, L * 2 * HA, S, out), ts16);
    TIME(reps, didcl_ops_attention_wide(rt, NQ, L, heads, hd, scale, q, kc, vc, &none, S, out), tw1);
    TIME(reps, didcl_ops_attention_flash(rt, NQ, L, heads, hd, scale, q, kc, vc, &none, S, out),
         tf1);
    for (int c = 0; c < L; c += 256) {
        const int n = L - c < 256 ? L - c : 256;
        didcl_ops_rows qc = {qkv, c * Wq, Wq};
        double tc;
        TIME(r2, didcl_ops_attention_wide(rt, n, L, heads, hd, scale, qc, k, v, &none, S, out), tc);
        tgw += tc;
    }
    TIME(r2, didcl_ops_attention_flash(rt, L, L, heads, hd, scale, q, k, v, &none, S, out), tgf);
    TIME(r2, didcl_ops_attention_wide(rt, 2 * L, 2 * L, heads, hd, scale, q, k, v, &bd3, S, out), tbw);
    TIME(r2, didcl_ops_attention_flash(rt, 2 * L, 2 * L, heads, hd, scale, q, k, v, &bd3, S, out),
         tbf);
    /* multiply-adds x 2 of the unmasked global pass: Q.K^T and P.V */
    const double gflop = 4.0 * L * L * hd * heads * 1e-9;
    printf("attention, %d heads x %d, %d keys (split: chunks of %d keys, work-group %d):\n",
           heads, hd, L, rt->attn.chunk, rt->attn.wg);
    printf("  %-34s %10s %10s %10s\n", "", "split", "wide", "flash");
    printf("  %-34s %7.1f us %7.1f us %7.1f us\n", "block step Tq=4, batch 1", ts1 * 1e6,
           tw1 * 1e6, tf1 * 1e6);
    printf("  %-34s %7.1f us %10s %10s   (%.1f us a sequence)\n", "block step Tq=4, batch 16",
           ts16 * 1e6, "-", "-", ts16 * 1e6 / NB);
    printf("  %-34s %10s %7.1f us %7.1f us   (flash %.2f TFLOP/s)\n", "global Tq=Tk, none", "-",
           tgw * 1e6, tgf * 1e6, gflop / tgf * 1e-3);
    printf("  %-34s %10s %7.1f us %7.1f us\n", "score 2L, Tq=Tk=2*keys, bd3 B=4", "-",
           tbw * 1e6, tbf * 1e6);
    printf("  (flash key parts: %d global, %d 2L; flash_split %d, flash_fill %d)\n",
           didcl_ops_attention_flash_parts(rt, L, L, heads, hd),
           didcl_ops_attention_flash_parts(rt, 2 * L, 2 * L, heads, hd), rt->attn.flash_split,
           rt->attn.flash_fill);
    if (*flash_split)
        bench_flash_split(rt, r2, flash_split, heads, hd, L, qkv, out);
    clReleaseMemObject(qkv); clReleaseMemObject(out); clReleaseMemObject(S);
    clReleaseMemObject(cache);
    didcl_runtime_free(rt);
    return 0;
}

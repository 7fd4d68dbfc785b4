/*
 * bench-ops.c — prints timings of the product and attention kernels on the default
 * device (DIDCL_DEVICE picks another): the skinny product (gemm_skinny, float and half
 * weights) against CLBlast SGEMM and half weights widened (w) for SGEMM or for the
 * skinny kernel, at the four products and the output head of a BD3-LM of hidden H (768:
 * the 110M, 384: the default model) for each M; then the three attention paths
 * (per-query, wide CLBlast, flash) for a cached block step, a global pass over 1024
 * tokens and a full 2L scoring pass. Figures only, nothing asserted. Build with
 * `make tools/bench-ops`; run
 *   tools/bench-ops [--reps N] [--hidden H] [--vocab V] [--m 4,16,64,256]
 *                   [--tile TN,TM,VW,LK,TILES] [--no-attention]
 * --tile replaces the device's gemm_skinny tiling (src/tuning.c) to compare others.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "ops_ref.h"
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
        h[i] = (uint16_t)(0x3c00 | ((i * 2654435761u) >> 24));
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

/* Seconds of one skinny/CLBlast/staged product for each path at (M, N, K). */
static void bench_product(didcl_runtime_t rt, int reps, int M, int N, int K) {
    cl_mem x = filled(rt, sizeof(float) * M * K), W = filled(rt, sizeof(float) * N * K);
    cl_mem Wh = filled(rt, 2ull * N * K), b = filled(rt, sizeof(float) * N);
    cl_mem y = filled(rt, sizeof(float) * M * N);
    struct didcl_gemm_tuning keep = rt->gemm;
    rt->gemm.half_wide_m = 1; /* staging forced on for the last two columns */
    cl_mem st = filled(rt, didcl_ops_linear_stage_bytes(rt, N, K, DIDCL_WTYPE_F16));
    double tf, th, tc, ts, tk;
    TIME(reps, didcl_ops_gemm_skinny(rt, M, N, K, x, W, DIDCL_WTYPE_F32, b, DIDCL_ACT_NONE, y), tf);
    TIME(reps, didcl_ops_gemm_skinny(rt, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, DIDCL_ACT_NONE, y), th);
    TIME(reps, didcl_ops_sgemm(rt, M, N, K, 1.0f, x, 0, K, W, 0, K, 1, 0.0f, y, 0, N), tc);
    TIME(reps, didcl_ops_linear(rt, 1, M, N, K, x, Wh, DIDCL_WTYPE_F16, NULL, DIDCL_ACT_NONE, y, st),
         ts);
    rt->gemm.half_wide_m = INT_MAX;
    rt->gemm.half_stage_m = 1;
    TIME(reps, didcl_ops_linear(rt, 1, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, DIDCL_ACT_NONE, y, st),
         tk);
    rt->gemm = keep;
    char label[32];
    snprintf(label, sizeof label, "%dx%dx%d", M, N, K);
    printf("%-18s %11.1f %11.1f %11.1f %11.1f %11.1f %9.1f\n", label, tf * 1e6, th * 1e6,
           tc * 1e6, ts * 1e6, tk * 1e6, 4.0 * N * K / tf * 1e-9);
    clReleaseMemObject(x); clReleaseMemObject(W); clReleaseMemObject(Wh);
    clReleaseMemObject(b); clReleaseMemObject(y); clReleaseMemObject(st);
}

int main(int argc, char **argv) {
    int reps = 20, H = 768, V = 50258, attention = 1, tile[5] = {0};
    const char *ms = "4,16,64,256";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc) H = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) V = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc) ms = argv[++i];
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc)
            sscanf(argv[++i], "%d,%d,%d,%d,%d", &tile[0], &tile[1], &tile[2], &tile[3], &tile[4]);
        else if (!strcmp(argv[i], "--no-attention")) attention = 0;
        else {
            fprintf(stderr, "usage: bench-ops [--reps N] [--hidden H] [--vocab V] [--m 4,16,64] "
                            "[--tile TN,TM,VW,LK,TILES] [--no-attention]\n");
            return 2;
        }
    }
    didcl_runtime_t rt;
    RUN(didcl_runtime_init(NULL, &rt));
    if (tile[0] > 0) {
        rt->gemm.tn = tile[0]; rt->gemm.tm = tile[1]; rt->gemm.vw = tile[2];
        rt->gemm.lk = tile[3]; rt->gemm.tiles = tile[4];
        didcl_tuning_gemm_options(&rt->gemm);
    }
    const struct didcl_gemm_tuning *t = &rt->gemm;
    printf("device: %s (%s)\n", rt->info.name, rt->info.platform);
    printf("gemm_skinny tiling TN=%d TM=%d VW=%d LK=%d tiles=%d; CLBlast from M=%d (fp32), "
           "M=%d (half)\n", t->tn, t->tm, t->vw, t->lk, t->tiles, t->wide_m, t->half_wide_m);
    printf("%-18s %11s %11s %11s %11s %11s %9s\n", "M x N x K", "skinny f32", "skinny f16",
           "clblast", "f16 w+clb", "f16 w+skin", "f32 GB/s");
    const int shapes[][2] = {{3 * H, H}, {H, H}, {4 * H, H}, {H, 4 * H}, {V, H}};
    for (const char *p = ms; *p;) {
        const int M = atoi(p);
        for (size_t s = 0; M > 0 && s < sizeof shapes / sizeof shapes[0]; s++)
            bench_product(rt, M >= 256 ? (reps + 9) / 10 : reps, M, shapes[s][0], shapes[s][1]);
        p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
    }
    if (!attention) {
        didcl_runtime_free(rt);
        return 0;
    }

    /* attention: 12 heads x 64; a block-4 step against 1024 cached keys, and the full
     * 2L = 2048 scoring pass with the BD3 mask (block 4) */
    const int heads = 12, hd = 64, Wq = 3 * heads * hd;
    cl_mem qkv = filled(rt, sizeof(float) * 2048 * Wq), out = filled(rt, sizeof(float) * 2048 * heads * hd);
    didcl_ops_rows q = {qkv, 0, Wq}, k = {qkv, heads * hd, Wq}, v = {qkv, 2 * heads * hd, Wq};
    didcl_attn_mask none = {DIDCL_ATTN_NONE, 0, 0, 0}, bd3 = {DIDCL_ATTN_BD3_2L, 0, 4, 1024};
    cl_mem S = filled(rt, sizeof(float) * heads * 2048 * 2048);
    double ta, taw, tb, tbw;
    TIME(reps, didcl_ops_attention(rt, 4, 1024, heads, hd, 0.125f, q, k, v, &none, out), ta);
    TIME(reps, didcl_ops_attention_wide(rt, 4, 1024, heads, hd, 0.125f, q, k, v, &none, S, out), taw);
    const int r2 = reps > 10 ? 10 : reps;
    TIME(r2, didcl_ops_attention(rt, 2048, 2048, heads, hd, 0.125f, q, k, v, &bd3, out), tb);
    TIME(r2, didcl_ops_attention_wide(rt, 2048, 2048, heads, hd, 0.125f, q, k, v, &bd3, S, out), tbw);
    double taf, tbf, tg, tgw, tgf;
    TIME(reps, didcl_ops_attention_flash(rt, 4, 1024, heads, hd, 0.125f, q, k, v, &none, out), taf);
    TIME(r2, didcl_ops_attention_flash(rt, 2048, 2048, heads, hd, 0.125f, q, k, v, &bd3, out), tbf);
    /* the global pass: 1024 queries over 1024 keys, bidirectional (wide: 4 chunks of 256
     * queries, as src/model.c runs it) */
    TIME(r2, didcl_ops_attention(rt, 1024, 1024, heads, hd, 0.125f, q, k, v, &none, out), tg);
    TIME(r2, didcl_ops_attention_flash(rt, 1024, 1024, heads, hd, 0.125f, q, k, v, &none, out), tgf);
    tgw = 0;
    for (int c = 0; c < 4; c++) {
        didcl_ops_rows qc = {qkv, c * 256 * Wq, Wq};
        double tc;
        TIME(r2, didcl_ops_attention_wide(rt, 256, 1024, heads, hd, 0.125f, qc, k, v, &none, S, out), tc);
        tgw += tc;
    }
    printf("attention (per-query kernel / wide CLBlast path / flash):\n");
    printf("  Tq=4 Tk=1024 none:       %10.1f us %10.1f us %10.1f us\n", ta * 1e6, taw * 1e6, taf * 1e6);
    printf("  Tq=Tk=1024 none:         %10.1f us %10.1f us %10.1f us\n", tg * 1e6, tgw * 1e6, tgf * 1e6);
    printf("  Tq=Tk=2048 bd3 2L (B=4): %10.1f us %10.1f us %10.1f us\n", tb * 1e6, tbw * 1e6, tbf * 1e6);
    clReleaseMemObject(qkv); clReleaseMemObject(out); clReleaseMemObject(S);
    didcl_runtime_free(rt);
    return 0;
}

/*
 * bench-ops.c — prints timings of the product and attention kernels at the shapes of a
 * BD3-LM small (768 hidden, 12 heads) step, on the default device (DIDCL_DEVICE picks
 * another): our gemv (float and half weights) against CLBlast SGEMM for the skinny
 * products, and both attention paths for a cached block step and a full 2L scoring pass.
 * Figures only, nothing asserted. Build with `make tools/bench-ops`.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
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
    unsigned char *h = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        h[i] = (unsigned char)((i * 2654435761u) >> 24) & 0x3b; /* small finite floats/halves */
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

/* Mean seconds per call of expr over reps calls, after 3 warm-up calls. */
#define TIME(reps, expr, out)                                                 \
    do {                                                                      \
        for (int w_ = 0; w_ < 3; w_++)                                        \
            RUN(expr);                                                        \
        clFinish(rt->queue);                                                  \
        double t0_ = now_s();                                                 \
        for (int r_ = 0; r_ < (reps); r_++)                                   \
            RUN(expr);                                                        \
        clFinish(rt->queue);                                                  \
        (out) = (now_s() - t0_) / (reps);                                     \
    } while (0)

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 50;
    didcl_runtime_t rt;
    RUN(didcl_runtime_init(NULL, &rt));
    printf("device: %s (%s)\n", rt->info.name, rt->info.platform);
    static const int shapes[][3] = {{4, 2304, 768}, {4, 768, 768}, {4, 3072, 768},
                                    {4, 768, 3072}, {4, 50258, 768}, {1, 50258, 768},
                                    {16, 3072, 768}};
    printf("%-18s %12s %12s %12s %10s %10s\n", "M x N x K", "gemv f32 us", "gemv f16 us",
           "clblast us", "f32 GB/s", "f32/clblast");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        cl_mem x = filled(rt, sizeof(float) * M * K), W = filled(rt, sizeof(float) * N * K);
        cl_mem Wh = filled(rt, 2ull * N * K), b = filled(rt, sizeof(float) * N);
        cl_mem y = filled(rt, sizeof(float) * M * N);
        double tf, th, tc;
        TIME(reps, didcl_ops_gemv(rt, M, N, K, x, W, DIDCL_WTYPE_F32, b, DIDCL_ACT_NONE, y), tf);
        TIME(reps, didcl_ops_gemv(rt, M, N, K, x, Wh, DIDCL_WTYPE_F16, b, DIDCL_ACT_NONE, y), th);
        TIME(reps, didcl_ops_sgemm(rt, M, N, K, 1.0f, x, 0, K, W, 0, K, 1, 0.0f, y, 0, N), tc);
        char label[32];
        snprintf(label, sizeof label, "%dx%dx%d", M, N, K);
        printf("%-18s %12.1f %12.1f %12.1f %10.1f %10.2f\n", label, tf * 1e6, th * 1e6, tc * 1e6,
               4.0 * N * K / tf * 1e-9, tf / tc);
        clReleaseMemObject(x); clReleaseMemObject(W); clReleaseMemObject(Wh);
        clReleaseMemObject(b); clReleaseMemObject(y);
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
    printf("attention (per-query kernel / wide CLBlast path):\n");
    printf("  Tq=4 Tk=1024 none:       %10.1f us %10.1f us\n", ta * 1e6, taw * 1e6);
    printf("  Tq=Tk=2048 bd3 2L (B=4): %10.1f us %10.1f us\n", tb * 1e6, tbw * 1e6);
    clReleaseMemObject(qkv); clReleaseMemObject(out); clReleaseMemObject(S);
    didcl_runtime_free(rt);
    return 0;
}

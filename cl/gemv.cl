// ============================================================================================
// gemv.cl — products with few rows (skinny M: one block step, or a batch's stacked block
// rows, up to a few hundred):
//     y[m, n] = act(sum_k x[m, k] * W[n, k] + b[n])
// W is [out, in] row-major as stored in BD3-LM checkpoints (GPT-2's Conv1D weights are
// transposed at load), in wtype storage (float, or half with -DDIDCL_WEIGHT_HALF, read by
// vload_halfN or, with -DDIDCL_HALF_BITS, by common.cl's bit conversion).
//
// Two tilings of the same sums, chosen by the rows M of a launch (src/ops.c):
//   gemm_skinny  a work-group owns a few columns and walks every row of x (W read once,
//                x re-read per column tile: best for a handful of rows);
//   gemm_tiled   a work-group owns a BM x BN block of y, a work-item TM x TN outputs,
//                every item loading x and W straight from global memory (no staging,
//                no barrier but the final tree's): the items of a group and the groups
//                along M share W and x through the caches (GPUs: from a few rows to a
//                few hundred; with GM = 1 and TM = M it is gemm_skinny with its M loop
//                spread over work-groups and one barrier per group).
// Build options (chosen once per device, src/tuning.c):
//   GEMM_VW  vector width over k (4, 8 or 16), GEMM_LK work-items sharing one output's k
//            (1 on CPUs: no barriers at all): these two fix the reduction order, below;
//   GEMM_TN, GEMM_TM  gemm_skinny's columns per work-item and rows per M-tile;
//   TILED_TM, TILED_TN  gemm_tiled's rows and columns per work-item, TILED_GM x TILED_GN
//            work-items (of LK lanes each) per work-group, TILED_KU k-steps per lane
//            whose loads are issued before their fmas. The host builds this file with
//            two gemm_tiled tilings (tuning.c: one for few rows in all, one for many);
//            neither changes a bit of the result.
// Reduction order, fixed by (K, VW, LK) only and the same in both kernels: vector lane j
// of k-lane l sums k = (l + i*LK)*VW + j by fma in increasing i, lanes are added
// pairwise (hsum), the K % VW tail goes to k-lane 0 in order (fma), then a power-of-two
// tree over the LK k-lanes. Row m's output depends neither on M, nor on which tile holds
// it, nor on the kernel: a sample's logits in a batch are bitwise those of its run alone,
// whichever tiling ran. fma is explicit so that both kernels round alike whatever the
// compiler would contract.
// Pros: one launch for any M, bias and GELU in the epilogue, half weights converted in
// registers. Cons: the fixed order keeps LK partial sums per output, so both kernels
// spend LK work-items on each output and a tree over them; no tile of x or W is kept on
// chip beyond what the caches hold; M in the thousands belongs to gemm_wide/CLBlast.
// ============================================================================================

#ifndef GEMM_TN
#define GEMM_TN 2
#endif
#ifndef GEMM_TM
#define GEMM_TM 4
#endif
#ifndef GEMM_VW
#define GEMM_VW 8
#endif
#ifndef GEMM_LK
#define GEMM_LK 1
#endif
#ifndef TILED_TM
#define TILED_TM 4
#endif
#ifndef TILED_TN
#define TILED_TN 4
#endif
#ifndef TILED_GM
#define TILED_GM 2
#endif
#ifndef TILED_GN
#define TILED_GN 2
#endif
#ifndef TILED_KU
#define TILED_KU 1
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
typedef GEMM_CAT(float, GEMM_VW) vecf;
#define XLOADV(p) GEMM_CAT(vload, GEMM_VW)(0, (p))
#if defined(DIDCL_WEIGHT_HALF) && defined(DIDCL_HALF_BITS)
// half weights by common.cl's bit conversion, 4 at a time: one 8-byte load each where
// rows are aligned to 4 halves (K % 4 == 0; K is the kernels' argument)
#define WLOAD4B(p) wload_half4((p), (K & 3) == 0)
#define WLOAD8B(p) (float8)(WLOAD4B(p), WLOAD4B((p) + 4))
#if GEMM_VW == 4
#define WLOADV(p) WLOAD4B(p)
#elif GEMM_VW == 8
#define WLOADV(p) WLOAD8B(p)
#else
#define WLOADV(p) (float16)(WLOAD8B(p), WLOAD8B((p) + 8))
#endif
#elif defined(DIDCL_WEIGHT_HALF)
#define WLOADV(p) GEMM_CAT(vload_half, GEMM_VW)(0, (p))
#else
#define WLOADV(p) GEMM_CAT(vload, GEMM_VW)(0, (p))
#endif

// Sum of a vector's lanes, halves added pairwise (a fixed order).
static inline float hsum(vecf v) {
#if GEMM_VW == 16
    float8 h8 = v.lo + v.hi;
    float4 h4 = h8.lo + h8.hi;
#elif GEMM_VW == 8
    float4 h4 = v.lo + v.hi;
#else
    float4 h4 = v;
#endif
    float2 h2 = h4.lo + h4.hi;
    return h2.x + h2.y;
}

// The end of one output's sum: its k-lane's vector accumulator summed, and on k-lane 0
// the K % VW tail of row xr of x and row wr of W added in order.
static inline float lane_sum(vecf acc, int lane, int K, __global const float *xr,
                             __global const wtype *W, size_t wr) {
    float s = hsum(acc);
    if (lane == 0)
        for (int k = K / GEMM_VW * GEMM_VW; k < K; k++)
            s = fma(xr[k], WLOAD(W, wr + k), s);
    return s;
}

// y[m, n_off + n] = act(s + b[n_off + n]); act: 0 identity, 1 GELU.
static inline void store_out(float s, __global const float *b, int act, __global float *y,
                             int ldy, int n_off, int m, int n) {
    if (b)
        s += b[n_off + n];
    if (act == 1)
        s = gelu_tanh(s);
    y[(size_t)m * ldy + n_off + n] = s;
}

// Work-items: dimension 0 the LK lanes of a column tile, dimension 1 column tiles of
// TN outputs (global size 1 rounded up to the work-group). act: 0 identity, 1 GELU.
// W may be a slice of rows of a larger matrix (a staging chunk): its column n lands in
// y's column n_off + n and takes bias b[n_off + n].
__kernel void gemm_skinny(const int M,             // rows of x and y, >= 1
                          const int N,             // outputs (rows of W)
                          const int K,             // inputs (columns of W)
                          __global const float *x, // (M, K)
                          __global const wtype *W, // (N, K)
                          __global const float *b, // (n_off + N,) or NULL
                          const int act,
                          __global float *y,       // (M, ldy), columns [n_off, n_off + N)
                          const int ldy,
                          const int n_off,
                          __local float *red) {    // (TM * TN * work-group size,), LK > 1
    const int lane = get_local_id(0);
    const int n0 = (int)get_global_id(1) * GEMM_TN;
    const int KV = K / GEMM_VW;
    // columns past N read row N-1 (kept in bounds, never stored)
    size_t wrow[GEMM_TN];
#pragma unroll
    for (int j = 0; j < GEMM_TN; j++)
        wrow[j] = (size_t)min(n0 + j, N - 1) * K;
    for (int m0 = 0; m0 < M; m0 += GEMM_TM) {
        size_t xrow[GEMM_TM];
#pragma unroll
        for (int i = 0; i < GEMM_TM; i++)
            xrow[i] = (size_t)min(m0 + i, M - 1) * K; // rows past M: computed, not stored
        vecf acc[GEMM_TM][GEMM_TN];
#pragma unroll
        for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++)
                acc[i][j] = (vecf)(0.0f);
        for (int v = lane; v < KV; v += GEMM_LK) {
            const int k = v * GEMM_VW;
            vecf w[GEMM_TN];
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++)
                w[j] = WLOADV(W + wrow[j] + k);
#pragma unroll
            for (int i = 0; i < GEMM_TM; i++) {
                const vecf xv = XLOADV(x + xrow[i] + k);
#pragma unroll
                for (int j = 0; j < GEMM_TN; j++)
                    acc[i][j] = fma(xv, w[j], acc[i][j]);
            }
        }
        float s[GEMM_TM][GEMM_TN];
#pragma unroll
        for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++)
                s[i][j] = lane_sum(acc[i][j], lane, K, x + xrow[i], W, wrow[j]);
#if GEMM_LK > 1
        // tree over the LK lanes of each column tile; red holds TM*TN floats per item
        const int item = get_local_id(1) * GEMM_LK + lane;
        const int nitems = get_local_size(0) * get_local_size(1);
#pragma unroll
        for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++)
                red[(i * GEMM_TN + j) * nitems + item] = s[i][j];
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int h = GEMM_LK / 2; h > 0; h /= 2) {
            if (lane < h)
                for (int q = 0; q < GEMM_TM * GEMM_TN; q++)
                    red[q * nitems + item] += red[q * nitems + item + h];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (lane == 0)
#pragma unroll
            for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
                for (int j = 0; j < GEMM_TN; j++)
                    s[i][j] = red[(i * GEMM_TN + j) * nitems + item];
        barrier(CLK_LOCAL_MEM_FENCE); // red is rewritten by the next M-tile
#endif
        if (lane == 0)
#pragma unroll
            for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
                for (int j = 0; j < GEMM_TN; j++)
                    if (m0 + i < M && n0 + j < N)
                        store_out(s[i][j], b, act, y, ldy, n_off, m0 + i, n0 + j);
    }
}

#define TILED_BM (TILED_GM * TILED_TM) // rows of y per work-group
#define TILED_BN (TILED_GN * TILED_TN) // columns of y per work-group
// floats per output in gemm_tiled's tree (src/ops.c sizes red alike): LK partials padded
// so that a warp's writes (one output's lanes) and reads (consecutive outputs, float4 a
// quarter-warp when LK % 4 == 0) meet no bank twice
#define TILED_RLD (GEMM_LK % 4 ? GEMM_LK + 1 : GEMM_LK + 4)

// One k-step of a gemm_tiled work-item: the TM vectors of x and TN of W at float k of
// rows xrow and wrow (half W widened in registers; K, the row length, is what WLOADV's
// bit path reads to know whether rows are aligned).
static inline void tiled_load(vecf xv[TILED_TM], vecf w[TILED_TN], __global const float *x,
                              __global const wtype *W, const size_t xrow[TILED_TM],
                              const size_t wrow[TILED_TN], int k, const int K) {
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
        xv[i] = XLOADV(x + xrow[i] + k);
#pragma unroll
    for (int j = 0; j < TILED_TN; j++)
        w[j] = WLOADV(W + wrow[j] + k);
}

// acc[i][j] += xv[i] * w[j], one fma per vector lane (the order within a step is free:
// every accumulator takes one term).
static inline void tiled_fma(vecf acc[TILED_TM][TILED_TN], const vecf xv[TILED_TM],
                             const vecf w[TILED_TN]) {
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            acc[i][j] = fma(xv[i], w[j], acc[i][j]);
}

// Work-items: dimension 0 the LK k-lanes of an output block, dimension 1 the GM x GN
// blocks of TM x TN outputs of a work-group (sub-block s: rows (s / GN) * TM, columns
// (s % GN) * TN). Work-groups: dimension 1 over M in steps of BM, dimension 2 over N in
// steps of BN (consecutive work-groups share a block of W, so a W larger than the cache
// still comes from memory about once). No staging: k-lane l loads its vectors
// v = l, l + LK, ... of its TM rows of x and TN rows of W straight from global memory
// (a warp's 32 lanes read 32 consecutive vectors of one row: coalesced) and fmas them in
// increasing v, gemm_skinny's lane l order; the sub-blocks of a group and the groups of
// an M-block column share x and W through the caches. TILED_KU k-steps' loads are issued
// before their fmas (loads in flight per lane), the last < KU steps one at a time. Rows
// past M or N repeat the last row (computed, never stored). Arguments as gemm_skinny's;
// red holds GM * GN * TM * TN * TILED_RLD floats (one when LK = 1), 16-byte aligned.
__kernel void gemm_tiled(const int M, const int N, const int K,
                         __global const float *x, // (M, K)
                         __global const wtype *W, // (N, K)
                         __global const float *b, // (n_off + N,) or NULL
                         const int act,
                         __global float *y,       // (M, ldy), columns [n_off, n_off + N)
                         const int ldy,
                         const int n_off,
                         __local float *red) {
    const int lane = get_local_id(0), sub = get_local_id(1);
    const int bm = (int)get_group_id(1) * TILED_BM, bn = (int)get_group_id(2) * TILED_BN;
    const int rm = (sub / TILED_GN) * TILED_TM, rn = (sub % TILED_GN) * TILED_TN;
    const int KV = K / GEMM_VW; // whole vectors of k
    size_t xrow[TILED_TM], wrow[TILED_TN];
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
        xrow[i] = (size_t)min(bm + rm + i, M - 1) * K;
#pragma unroll
    for (int j = 0; j < TILED_TN; j++)
        wrow[j] = (size_t)min(bn + rn + j, N - 1) * K;
    vecf acc[TILED_TM][TILED_TN];
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            acc[i][j] = (vecf)(0.0f);
    int v = lane; // a lane past K adds nothing (not even 0)
    for (; v + (TILED_KU - 1) * GEMM_LK < KV; v += TILED_KU * GEMM_LK) {
        vecf xv[TILED_KU][TILED_TM], w[TILED_KU][TILED_TN];
#pragma unroll
        for (int u = 0; u < TILED_KU; u++)
            tiled_load(xv[u], w[u], x, W, xrow, wrow, (v + u * GEMM_LK) * GEMM_VW, K);
#pragma unroll
        for (int u = 0; u < TILED_KU; u++)
            tiled_fma(acc, xv[u], w[u]);
    }
    for (; v < KV; v += GEMM_LK) {
        vecf xv[TILED_TM], w[TILED_TN];
        tiled_load(xv, w, x, W, xrow, wrow, v * GEMM_VW, K);
        tiled_fma(acc, xv, w);
    }
    float s[TILED_TM][TILED_TN];
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            s[i][j] = lane_sum(acc[i][j], lane, K, x + xrow[i], W, wrow[j]);
#if GEMM_LK > 1
    // The same tree over the LK k-lanes as gemm_skinny's, one output per work-item: the
    // LK partials of output o (sub-block o / (TM*TN), entry q = i*TN + j) sit at
    // o*RLD + lane (padded: TILED_RLD); one barrier instead of log2(LK).
    const int item = sub * GEMM_LK + lane, nitems = GEMM_LK * TILED_GM * TILED_GN;
#pragma unroll
    for (int q = 0; q < TILED_TM * TILED_TN; q++)
        red[(sub * TILED_TM * TILED_TN + q) * TILED_RLD + lane] = s[q / TILED_TN][q % TILED_TN];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = item; o < TILED_GM * TILED_GN * TILED_TM * TILED_TN; o += nitems) {
        float p[GEMM_LK];
#if GEMM_LK % 4 == 0
        __local const float4 *r4 = (__local const float4 *)(red + o * TILED_RLD);
#pragma unroll
        for (int l = 0; l < GEMM_LK / 4; l++) {
            const float4 r = r4[l];
            p[4 * l] = r.x, p[4 * l + 1] = r.y, p[4 * l + 2] = r.z, p[4 * l + 3] = r.w;
        }
#else
#pragma unroll
        for (int l = 0; l < GEMM_LK; l++)
            p[l] = red[o * TILED_RLD + l];
#endif
#pragma unroll
        for (int h = GEMM_LK / 2; h > 0; h /= 2)
#pragma unroll
            for (int l = 0; l < h; l++)
                p[l] += p[l + h];
        const int os = o / (TILED_TM * TILED_TN), q = o % (TILED_TM * TILED_TN);
        const int m = bm + (os / TILED_GN) * TILED_TM + q / TILED_TN;
        const int n = bn + (os % TILED_GN) * TILED_TN + q % TILED_TN;
        if (m < M && n < N)
            store_out(p[0], b, act, y, ldy, n_off, m, n);
    }
#else
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            if (bm + rm + i < M && bn + rn + j < N)
                store_out(s[i][j], b, act, y, ldy, n_off, bm + rm + i, bn + rn + j);
#endif
}

// Half weights widened to float, a staging copy: for CLBlast's wide products, or for
// gemm_skinny where converting W once beats converting it in every M-tile:
// out[i] = W[first + i] for i < count.
__kernel void widen_half(const int count,
                         __global const half *W, // (N, K) half, read from element first
                         const long first,
                         __global float *out) {  // (count,)
    const int i = get_global_id(0);
    if (i < count)
        out[i] = wload_half(W, (size_t)(first + i));
}

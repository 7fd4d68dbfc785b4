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
//   gemm_tiled   a work-group owns a BM x BN block of y, its work-items TM x TN outputs
//                of it over LA of the LK k-lanes each (W read once per M-block, from
//                registers TM times; tens to hundreds of rows). (K staged in local memory,
//                sessions 3-6, ran at 3.9 TFLOP/s on the H200: one k-step per barrier.)
// Build options (chosen once per device, src/tuning.c):
//   GEMM_VW  vector width over k (4, 8 or 16), GEMM_LK work-items sharing one output's k
//            (1 on CPUs: no barriers at all): these two fix the reduction order, below;
//   GEMM_TN, GEMM_TM  gemm_skinny's columns per work-item and rows per M-tile,
//            GEMM_KU its k-steps per lane whose W loads are issued before their fmas;
//   TILED_TM, TILED_TN  gemm_tiled's rows and columns per work-item, TILED_LA its
//            k-lanes per work-item (LK / LA items share an output), TILED_GM x TILED_GN
//            blocks per work-group, TILED_KU its k-steps of loads ahead. The host builds
//            this file with two gemm_tiled tilings (tuning.c: one for few rows in all, one
//            for many); neither changes a bit of the result.
// Reduction order, fixed by (K, VW, LK) only and the same in both kernels: vector lane j
// of k-lane l sums k = (l + i*LK)*VW + j by fma in increasing i, lanes are added
// pairwise (hsum), the K % VW tail goes to k-lane 0 in order (fma), then a power-of-two
// tree over the LK k-lanes. Row m's output depends neither on M, nor on which tile holds
// it, nor on the kernel: a sample's logits in a batch are bitwise those of its run alone,
// whichever tiling ran. fma is explicit so that both kernels round alike whatever the
// compiler would contract.
// Pros: one launch for any M, bias and GELU in the epilogue, half weights converted in
// registers. Cons: the fixed order keeps LK partial sums per output (a tree over them,
// in registers or through local memory); M in the thousands belongs to
// gemm_wide/CLBlast.
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
#ifndef GEMM_KU
#define GEMM_KU 1
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
#ifndef TILED_LA
#define TILED_LA 1
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

// ku (GEMM_KU, or 1 for the tail) k-steps v, v + LK, ... of gemm_skinny's accumulators
// for rows xrow of x and wrow of W: every step's W vectors loaded first (loads in flight
// per lane: a block step's products are too short for one at a time to fill a GPU's
// memory pipe), then in increasing v each row's x and its fmas.
static inline void skinny_steps(vecf acc[GEMM_TM][GEMM_TN], __global const float *x,
                                __global const wtype *W, const size_t xrow[GEMM_TM],
                                const size_t wrow[GEMM_TN], const int v, const int ku,
                                const int K) {
    vecf w[GEMM_KU][GEMM_TN];
#pragma unroll
    for (int u = 0; u < GEMM_KU; u++)
        if (u < ku)
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++)
                w[u][j] = WLOADV(W + wrow[j] + (size_t)(v + u * GEMM_LK) * GEMM_VW);
#pragma unroll
    for (int u = 0; u < GEMM_KU; u++)
        if (u < ku)
#pragma unroll
            for (int i = 0; i < GEMM_TM; i++) {
                const vecf xv = XLOADV(x + xrow[i] + (size_t)(v + u * GEMM_LK) * GEMM_VW);
#pragma unroll
                for (int j = 0; j < GEMM_TN; j++)
                    acc[i][j] = fma(xv, w[u][j], acc[i][j]);
            }
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
        // GEMM_KU k-steps' loads of W issued before their fmas, the last < KU steps one
        // at a time (each accumulator still sums in increasing v)
        int v = lane;
        for (; v + (GEMM_KU - 1) * GEMM_LK < KV; v += GEMM_KU * GEMM_LK)
            skinny_steps(acc, x, W, xrow, wrow, v, GEMM_KU, K);
        for (; v < KV; v += GEMM_LK)
            skinny_steps(acc, x, W, xrow, wrow, v, 1, K);
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

#define TILED_P (GEMM_LK / TILED_LA)            // work-items sharing an output's k-lanes
#define TILED_BM (TILED_GM * TILED_TM)           // rows of y per work-group
#define TILED_BN (TILED_GN * TILED_TN)           // columns of y per work-group
#define TILED_NI (TILED_P * TILED_GM * TILED_GN) // work-items of a work-group
#define TILED_NO (TILED_BM * TILED_BN)           // outputs of a work-group
#if GEMM_LK % TILED_LA || TILED_LA & (TILED_LA - 1)
#error "TILED_LA must be a power of two that divides GEMM_LK"
#endif
#if TILED_LA >= 32
#define TILED_LB 5
#elif TILED_LA >= 16
#define TILED_LB 4
#elif TILED_LA >= 8
#define TILED_LB 3
#elif TILED_LA >= 4
#define TILED_LB 2
#elif TILED_LA >= 2
#define TILED_LB 1
#else
#define TILED_LB 0
#endif

// t's TILED_LB bits reversed: the t-th k-lane of a work-item in the tree's order.
static inline int tiled_rev(int t) {
    int r = 0;
#pragma unroll
    for (int b = 0; b < TILED_LB; b++)
        r |= ((t >> b) & 1) << (TILED_LB - 1 - b);
    return r;
}

// gemm_skinny's k-steps (skinny_steps) for gemm_tiled's TM x TN block.
static inline void tiled_steps(vecf acc[TILED_TM][TILED_TN], __global const float *x,
                               __global const wtype *W, const size_t xrow[TILED_TM],
                               const size_t wrow[TILED_TN], const int v, const int ku,
                               const int K) {
    vecf w[TILED_KU][TILED_TN];
#pragma unroll
    for (int u = 0; u < TILED_KU; u++)
        if (u < ku)
#pragma unroll
            for (int j = 0; j < TILED_TN; j++)
                w[u][j] = WLOADV(W + wrow[j] + (size_t)(v + u * GEMM_LK) * GEMM_VW);
#pragma unroll
    for (int u = 0; u < TILED_KU; u++)
        if (u < ku)
#pragma unroll
            for (int i = 0; i < TILED_TM; i++) {
                const vecf xv = XLOADV(x + xrow[i] + (size_t)(v + u * GEMM_LK) * GEMM_VW);
#pragma unroll
                for (int j = 0; j < TILED_TN; j++)
                    acc[i][j] = fma(xv, w[u][j], acc[i][j]);
            }
}

// Work-items: dimension 0 the P = LK / LA work-items that share an output block's k, one
// of them owning the LA k-lanes l = g + P*a (a = 0..LA-1) of its TM x TN outputs;
// dimension 1 the GM x GN blocks of a work-group (block s: rows (s % GM) * TM, columns
// (s / GM) * TN, so neighbouring items of a warp share W). Work-groups: dimension 1 over M
// in steps of BM, dimension 2 over N in steps of BN. No local staging: x and W come
// straight from global memory (x, a few hundred rows, stays in cache; W is read by
// BM / TM items of a work-group together).
// The tree over the LK k-lanes is gemm_skinny's: its top levels (strides LK/2 .. P) join
// lanes of one work-item, which runs its lanes in the tree's order (bit-reversed a) and
// folds each finished lane into a stack of finished subtrees (part[d]: 2^d lanes) in
// registers; the last log2(P) levels join the P work-items through local memory. Each
// lane sums its k in gemm_skinny's order, so every output is bitwise gemm_skinny's.
// red holds TILED_NO * (P + 1) floats when P > 1.
__kernel void gemm_tiled(const int M, const int N, const int K,
                         __global const float *x, // (M, K)
                         __global const wtype *W, // (N, K)
                         __global const float *b, // (n_off + N,) or NULL
                         const int act,
                         __global float *y,       // (M, ldy), columns [n_off, n_off + N)
                         const int ldy,
                         const int n_off,
                         __local float *red) {
    const int g = get_local_id(0), sub = get_local_id(1);
    const int bm = (int)get_group_id(1) * TILED_BM, bn = (int)get_group_id(2) * TILED_BN;
    const int rm = (sub % TILED_GM) * TILED_TM, rn = (sub / TILED_GM) * TILED_TN;
    const int KV = K / GEMM_VW; // whole vectors of k
    size_t xrow[TILED_TM], wrow[TILED_TN]; // rows past M or N repeat the last (not stored)
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
        xrow[i] = (size_t)min(bm + rm + i, M - 1) * K;
#pragma unroll
    for (int j = 0; j < TILED_TN; j++)
        wrow[j] = (size_t)min(bn + rn + j, N - 1) * K;
    float part[TILED_LB + 1][TILED_TM][TILED_TN];
#pragma unroll
    for (int t = 0; t < TILED_LA; t++) {
        const int lane = g + TILED_P * tiled_rev(t);
        vecf acc[TILED_TM][TILED_TN];
#pragma unroll
        for (int i = 0; i < TILED_TM; i++)
#pragma unroll
            for (int j = 0; j < TILED_TN; j++)
                acc[i][j] = (vecf)(0.0f);
        int v = lane; // a lane past K adds nothing (not even 0)
        for (; v + (TILED_KU - 1) * GEMM_LK < KV; v += TILED_KU * GEMM_LK)
            tiled_steps(acc, x, W, xrow, wrow, v, TILED_KU, K);
        for (; v < KV; v += GEMM_LK)
            tiled_steps(acc, x, W, xrow, wrow, v, 1, K);
        // the lane's sum joins the finished subtrees: t's trailing one bits say which
#pragma unroll
        for (int i = 0; i < TILED_TM; i++)
#pragma unroll
            for (int j = 0; j < TILED_TN; j++) {
                float s = lane_sum(acc[i][j], lane, K, x + xrow[i], W, wrow[j]);
                int d = 0;
#pragma unroll
                for (; d < TILED_LB && ((t >> d) & 1); d++)
                    s = part[d][i][j] + s;
                part[d][i][j] = s;
            }
    }
#if TILED_P > 1
    // the last levels over the P items, one output per work-item: the P partials of output
    // o (block o / (TM*TN), entry q = i*TN + j) at o*(P+1) + g, padded so that neither the
    // writes nor the reads meet in one bank
    const int item = sub * TILED_P + g;
#pragma unroll
    for (int q = 0; q < TILED_TM * TILED_TN; q++)
        red[(sub * TILED_TM * TILED_TN + q) * (TILED_P + 1) + g] =
            part[TILED_LB][q / TILED_TN][q % TILED_TN];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = item; o < TILED_NO; o += TILED_NI) {
        float p[TILED_P];
#pragma unroll
        for (int l = 0; l < TILED_P; l++)
            p[l] = red[o * (TILED_P + 1) + l];
#pragma unroll
        for (int h = TILED_P / 2; h > 0; h /= 2)
#pragma unroll
            for (int l = 0; l < h; l++)
                p[l] += p[l + h];
        const int os = o / (TILED_TM * TILED_TN), q = o % (TILED_TM * TILED_TN);
        const int m = bm + (os % TILED_GM) * TILED_TM + q / TILED_TN;
        const int n = bn + (os / TILED_GM) * TILED_TN + q % TILED_TN;
        if (m < M && n < N)
            store_out(p[0], b, act, y, ldy, n_off, m, n);
    }
#else
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            if (bm + rm + i < M && bn + rn + j < N)
                store_out(part[TILED_LB][i][j], b, act, y, ldy, n_off, bm + rm + i,
                          bn + rn + j);
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

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
//   gemm_tiled   a work-group owns a BM x BN block of y and stages K in local memory, so
//                W is read once per M-block and x once per N-block (tens to hundreds of
//                rows). (A variant that loaded straight from global memory, 2026-12-04,
//                faulted and broke NVIDIA's compiler on the H200; this one ran there.)
// Build options (chosen once per device, src/tuning.c):
//   GEMM_VW  vector width over k (4, 8 or 16), GEMM_LK work-items sharing one output's k
//            (1 on CPUs: no barriers at all): these two fix the reduction order, below;
//   GEMM_TN, GEMM_TM  gemm_skinny's columns per work-item and rows per M-tile,
//            GEMM_KU its k-steps per lane whose W loads are issued before their fmas;
//   TILED_TM, TILED_TN  gemm_tiled's rows and columns per work-item, TILED_GM x TILED_GN
//            work-items (of LK lanes each) per work-group, TILED_KU vectors of k per lane
//            per staged K-tile. The host builds this file with
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
// registers (skinny) or once per staged tile (tiled). Cons: the fixed order keeps LK
// partial sums per output, so both kernels spend LK work-items on each output and a tree
// over them; M in the thousands belongs to gemm_wide/CLBlast.
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

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
typedef GEMM_CAT(float, GEMM_VW) vecf;
#define XLOADV(p) GEMM_CAT(vload, GEMM_VW)(0, (p))
#define XSTOREV(v, p) GEMM_CAT(vstore, GEMM_VW)((v), 0, (p))
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

#define TILED_BM (TILED_GM * TILED_TM)        // rows of y per work-group
#define TILED_BN (TILED_GN * TILED_TN)        // columns of y per work-group
#define TILED_KC (TILED_KU * GEMM_LK * GEMM_VW) // floats of k per staged tile
#define TILED_NI (GEMM_LK * TILED_GM * TILED_GN) // work-items of a work-group
// vectors of a K-tile of x and of W each work-item loads
#define TILED_PX ((TILED_BM * TILED_KU * GEMM_LK + TILED_NI - 1) / TILED_NI)
#define TILED_PW ((TILED_BN * TILED_KU * GEMM_LK + TILED_NI - 1) / TILED_NI)

// Work-item item's share of the K-tile of vectors v0.. of gemm_tiled's block (rows bm..
// of x, bn.. of W) into registers: vector e = item + i * NI of the tile (row e / TV,
// vector e % TV of it). Rows past M or N repeat the last row (computed, never stored),
// vectors past K are zeros (never added).
static inline void tiled_fetch(vecf px[TILED_PX], vecf pw[TILED_PW], __global const float *x,
                               __global const wtype *W, const int M, const int N, const int K,
                               const int bm, const int bn, const int v0, const int item) {
    const int KV = K / GEMM_VW, TV = TILED_KU * GEMM_LK;
#pragma unroll
    for (int i = 0; i < TILED_PX; i++) {
        const int e = item + i * TILED_NI, r = e / TV, v = v0 + e % TV;
        const size_t row = (size_t)min(bm + r, M - 1) * K;
        px[i] = e < TILED_BM * TV && v < KV ? XLOADV(x + row + (size_t)v * GEMM_VW)
                                            : (vecf)(0.0f);
    }
#pragma unroll
    for (int i = 0; i < TILED_PW; i++) {
        const int e = item + i * TILED_NI, r = e / TV, v = v0 + e % TV;
        const size_t row = (size_t)min(bn + r, N - 1) * K;
        pw[i] = e < TILED_BN * TV && v < KV ? WLOADV(W + row + (size_t)v * GEMM_VW)
                                            : (vecf)(0.0f);
    }
}

// Work-items: dimension 0 the LK k-lanes of an output block, dimension 1 the GM x GN
// blocks of TM x TN outputs of a work-group (sub-block s: rows (s / GN) * TM, columns
// (s % GN) * TN). Work-groups: dimension 1 over M in steps of BM, dimension 2 over N in
// steps of BN (consecutive work-groups share a block of W, so a W larger than the cache
// still comes from memory about once). Each K-tile of TILED_KC floats of the block's BM
// rows of x and BN rows of W is staged in local memory (half weights converted once
// there; loaded into registers while the tile before it is multiplied), then k-lane l
// takes vectors v = tile + u*LK + l, u = 0..KU-1: over the tiles, the same increasing
// v = l + i*LK as gemm_skinny's lane l. Arguments as gemm_skinny's;
// tile holds max((BM + BN) * KC, GM * GN * TM * TN * (LK + 1)) floats.
__kernel void gemm_tiled(const int M, const int N, const int K,
                         __global const float *x, // (M, K)
                         __global const wtype *W, // (N, K)
                         __global const float *b, // (n_off + N,) or NULL
                         const int act,
                         __global float *y,       // (M, ldy), columns [n_off, n_off + N)
                         const int ldy,
                         const int n_off,
                         __local float *tile) {
    const int lane = get_local_id(0), sub = get_local_id(1);
    const int item = sub * GEMM_LK + lane, nitems = TILED_NI;
    const int bm = (int)get_group_id(1) * TILED_BM, bn = (int)get_group_id(2) * TILED_BN;
    const int rm = (sub / TILED_GN) * TILED_TM, rn = (sub % TILED_GN) * TILED_TN;
    const int KV = K / GEMM_VW, TV = TILED_KC / GEMM_VW; // vectors of k, of a tile
    __local float *xs = tile, *ws = tile + TILED_BM * TILED_KC; // (BM, KC), (BN, KC)
    vecf acc[TILED_TM][TILED_TN];
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            acc[i][j] = (vecf)(0.0f);
    // The K-tile after the one being multiplied is loaded into registers meanwhile
    // (px, pw: this item's share of it), so a tile's global loads overlap the previous
    // tile's fmas instead of following them behind a barrier.
    vecf px[TILED_PX], pw[TILED_PW];
    tiled_fetch(px, pw, x, W, M, N, K, bm, bn, 0, item);
    for (int v0 = 0; v0 < KV; v0 += TV) {
        barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is consumed
#pragma unroll
        for (int i = 0; i < TILED_PX; i++) {
            const int e = item + i * nitems;
            if (e < TILED_BM * TV)
                XSTOREV(px[i], xs + (e / TV) * TILED_KC + (e % TV) * GEMM_VW);
        }
#pragma unroll
        for (int i = 0; i < TILED_PW; i++) {
            const int e = item + i * nitems;
            if (e < TILED_BN * TV)
                XSTOREV(pw[i], ws + (e / TV) * TILED_KC + (e % TV) * GEMM_VW);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (v0 + TV < KV)
            tiled_fetch(px, pw, x, W, M, N, K, bm, bn, v0 + TV, item);
#pragma unroll
        for (int u = 0; u < TILED_KU; u++) {
            const int c = (u * GEMM_LK + lane) * GEMM_VW;
            if (v0 + u * GEMM_LK + lane < KV) { // a lane past K adds nothing (not even 0)
                vecf w[TILED_TN];
#pragma unroll
                for (int j = 0; j < TILED_TN; j++)
                    w[j] = XLOADV(ws + (rn + j) * TILED_KC + c);
#pragma unroll
                for (int i = 0; i < TILED_TM; i++) {
                    const vecf xv = XLOADV(xs + (rm + i) * TILED_KC + c);
#pragma unroll
                    for (int j = 0; j < TILED_TN; j++)
                        acc[i][j] = fma(xv, w[j], acc[i][j]);
                }
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // the tree below reuses the tile's memory
    float s[TILED_TM][TILED_TN];
#pragma unroll
    for (int i = 0; i < TILED_TM; i++)
#pragma unroll
        for (int j = 0; j < TILED_TN; j++)
            s[i][j] = lane_sum(acc[i][j], lane, K, x + (size_t)min(bm + rm + i, M - 1) * K, W,
                               (size_t)min(bn + rn + j, N - 1) * K);
#if GEMM_LK > 1
    // The same tree over the LK k-lanes as gemm_skinny's, one output per work-item: the
    // LK partials of output o (sub-block o / (TM*TN), entry q = i*TN + j) sit at
    // o*(LK+1) + lane, padded so that neither the writes (a sub-block's lanes) nor the
    // reads (consecutive outputs) meet in one bank; one barrier instead of log2(LK).
#pragma unroll
    for (int q = 0; q < TILED_TM * TILED_TN; q++)
        tile[(sub * TILED_TM * TILED_TN + q) * (GEMM_LK + 1) + lane] =
            s[q / TILED_TN][q % TILED_TN];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = item; o < TILED_GM * TILED_GN * TILED_TM * TILED_TN; o += nitems) {
        float p[GEMM_LK];
#pragma unroll
        for (int l = 0; l < GEMM_LK; l++)
            p[l] = tile[o * (GEMM_LK + 1) + l];
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

// ============================================================================================
// gemv.cl — products with few rows (skinny M: one block step, or a batch's stacked block
// rows, up to a few hundred):
//     y[m, n] = act(sum_k x[m, k] * W[n, k] + b[n])
// W is [out, in] row-major as stored in BD3-LM checkpoints (GPT-2's Conv1D weights are
// transposed at load), in wtype storage (float, or half with -DDIDCL_WEIGHT_HALF).
//
// Tiling (build options chosen once per device, src/tuning.c):
//   GEMM_TN  output columns per work-item, GEMM_TM rows per M-tile,
//   GEMM_VW  vector width over k (4, 8 or 16), GEMM_LK work-items sharing one column
//   tile, each taking every LK-th vector of k (1 on CPUs: no barriers at all).
// A work-item holds TM x TN vector accumulators: each W vector it loads serves TM rows,
// and the M-tiles of one launch walk the same W slice while it is in cache, so W comes
// from memory once per launch whatever M is; cost grows with bytes, not rows.
// Reduction order, fixed by (K, VW, LK) only: vector lane j of lane l sums
// k = (l + i*LK)*VW + j in increasing i, lanes are added pairwise (hsum), the K % VW tail
// goes to lane 0 in order, then a power-of-two tree over the LK lanes. Row m's output
// never depends on M or on which tile holds it: a sample's logits in a batch are bitwise
// those of its run alone.
// Pros: one launch for any M, bias and GELU in the epilogue, half weights converted in
// registers (vload_halfN). Cons: M in the thousands is compute-bound here; wide fp32
// products belong to CLBlast.
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

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
typedef GEMM_CAT(float, GEMM_VW) vecf;
#define XLOADV(p) GEMM_CAT(vload, GEMM_VW)(0, (p))
#ifdef DIDCL_WEIGHT_HALF
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
                    acc[i][j] += xv * w[j];
            }
        }
        float s[GEMM_TM][GEMM_TN];
#pragma unroll
        for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++) {
                s[i][j] = hsum(acc[i][j]);
                if (lane == 0)
                    for (int k = KV * GEMM_VW; k < K; k++)
                        s[i][j] += x[xrow[i] + k] * WLOAD(W, wrow[j] + k);
            }
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
                for (int j = 0; j < GEMM_TN; j++) {
                    const int m = m0 + i, n = n0 + j;
                    if (m < M && n < N) {
                        float r = s[i][j];
                        if (b)
                            r += b[n_off + n];
                        if (act == 1)
                            r = gelu_tanh(r);
                        y[(size_t)m * ldy + n_off + n] = r;
                    }
                }
    }
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
        out[i] = vload_half(first + i, W);
}

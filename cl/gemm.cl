// ============================================================================================
// gemm.cl — tiled SGEMM for wide products (M from about a hundred rows: the global pass
// over all L positions, a scoring pass), in the layout of gemv.cl:
//     y[m, n] = act(sum_k x[m, k] * W[n, k] + b[n])
// x (M, K) row-major fp32, W (N, K) row-major [out, in] in wtype storage (float, or half
// widened while it is staged: no staging buffer, half the bytes; read by common.cl's
// wload_half4, with -DDIDCL_HALF_BITS one 8-byte load and a bit conversion, else
// vload_half4, the same floats), b (N,) or NULL, act 0 identity, 1 GELU (tanh).
//
// Tiling (build options chosen per device, src/tuning.c):
//   WIDE_BM x WIDE_BN  tile of y per work-group, WIDE_BK  k per staged tile (multiple of 4),
//   WIDE_TM x WIDE_TN  register block per work-item (multiples of 4).
// The work-group is (BN/TN) x (BM/TM) work-items. Each K-tile of x and W is read from
// global memory as float4 along k (rows are k-contiguous in both operands), consecutive
// work-items on consecutive vectors of one row, and stored transposed in local memory
// (tile[k][m], rows padded by 4 floats: fewer bank conflicts on the stores), so the
// inner loop reads float4 runs of m and of n. A work-item's block is split into runs of 4
// rows (columns) spaced (BM/TM)*4 apart: the float4 reads of a warp are consecutive.
// Double-buffered: the next K-tile is loaded into registers while the current one is
// multiplied, one barrier per tile. Edges: rows past M or N read the last row (computed,
// never stored); the last K-tile, when partial, is zero-filled.
// Each output is one work-item's chain of fma over k in increasing order (zero-filled k
// adds exact zeros), whatever M, the tile holding it and the tiling: row m is bitwise
// the same for any M (a batch's rows in one launch, either tiling).
// Pros: about 2·TM·TN/(TM+TN) flops per local float read, bias and GELU in the
// epilogue (no separate launches), half weights read directly. Cons: no split over K,
// so a small grid (M·N / (BM·BN) below the compute units) leaves units idle — the
// tuning then takes a smaller tiling; fp32 only (no tensor cores).
// ============================================================================================

#ifndef WIDE_BM
#define WIDE_BM 64
#endif
#ifndef WIDE_BN
#define WIDE_BN 64
#endif
#ifndef WIDE_BK
#define WIDE_BK 16
#endif
#ifndef WIDE_TM
#define WIDE_TM 4
#endif
#ifndef WIDE_TN
#define WIDE_TN 4
#endif

#define WIDE_WX (WIDE_BN / WIDE_TN)          // work-items along n
#define WIDE_WY (WIDE_BM / WIDE_TM)          // work-items along m
#define WIDE_WG (WIDE_WX * WIDE_WY)
#define WIDE_KV (WIDE_BK / 4)                // float4 per row of a K-tile
#define WIDE_LDA (WIDE_BM + 4)               // padded rows of the transposed tiles
#define WIDE_LDB (WIDE_BN + 4)
#define WIDE_LA (WIDE_BM * WIDE_KV / WIDE_WG) // float4 loads of x per work-item per tile
#define WIDE_LB (WIDE_BN * WIDE_KV / WIDE_WG) // and of W

#if WIDE_BM % WIDE_TM || WIDE_BN % WIDE_TN || WIDE_TM % 4 || WIDE_TN % 4 || WIDE_BK % 4
#error "gemm.cl: BM, BN multiples of TM, TN; TM, TN, BK multiples of 4"
#endif
#if (WIDE_BM * WIDE_KV) % WIDE_WG || (WIDE_BN * WIDE_KV) % WIDE_WG || WIDE_LA < 1 || WIDE_LB < 1
#error "gemm.cl: each K-tile must split evenly into float4 loads over the work-group"
#endif

// Four k-consecutive values of row p from k; kleft = K - k of them exist (a whole
// vector when >= 4, else the rest zero-filled: the last K-tile). vec: p + k is aligned
// to the vector (K % 4 == 0 and k a multiple of 4), so one vector load.
static inline float4 load_x4(__global const float *p, int k, int kleft, int vec) {
    if (kleft >= 4)
        return vec ? *(__global const float4 *)(p + k) : vload4(0, p + k);
    return (float4)(kleft > 0 ? p[k] : 0.0f, kleft > 1 ? p[k + 1] : 0.0f,
                    kleft > 2 ? p[k + 2] : 0.0f, 0.0f);
}

static inline float4 load_w4(__global const wtype *p, int k, int kleft, int vec) {
#ifdef DIDCL_WEIGHT_HALF
    if (kleft >= 4)
        return wload_half4(p + k, vec);
#else
    if (kleft >= 4)
        return vec ? *(__global const float4 *)(p + k) : vload4(0, p + k);
#endif
    return (float4)(kleft > 0 ? WLOAD(p, k) : 0.0f, kleft > 1 ? WLOAD(p, k + 1) : 0.0f,
                    kleft > 2 ? WLOAD(p, k + 2) : 0.0f, 0.0f);
}

// Global size (ceil(N / BN) * BN/TN, ceil(M / BM) * BM/TM); the work-group MUST be
// (BN/TN, BM/TM) (the required size below). act: 0 identity, 1 GELU.
__kernel __attribute__((reqd_work_group_size(WIDE_WX, WIDE_WY, 1)))
void gemm_wide(const int M,               // rows of x and y
               const int N,               // outputs (rows of W)
               const int K,               // inputs (columns of x and W)
               __global const float *x,   // (M, K)
               __global const wtype *W,   // (N, K)
               __global const float *b,   // (N,) or NULL
               const int act,
               __global float *y) {       // (M, N)
    // x and W tiles, transposed (As[k][m], Bs[k][n]); aligned for the float4 reads
    __local float As[2][WIDE_BK * WIDE_LDA] __attribute__((aligned(16)));
    __local float Bs[2][WIDE_BK * WIDE_LDB] __attribute__((aligned(16)));
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * WIDE_WX + tx;
    const int m0 = get_group_id(1) * WIDE_BM, n0 = get_group_id(0) * WIDE_BN;
    const int vec = (K & 3) == 0;

    // the rows and k-vectors this work-item loads (fixed over K-tiles)
    __global const float *xp[WIDE_LA];
    __global const wtype *wp[WIDE_LB];
    int xr[WIDE_LA], xk[WIDE_LA], wr[WIDE_LB], wk[WIDE_LB];
#pragma unroll
    for (int i = 0; i < WIDE_LA; i++) {
        const int q = lid + i * WIDE_WG;
        xr[i] = q / WIDE_KV;
        xk[i] = (q % WIDE_KV) * 4;
        xp[i] = x + (size_t)min(m0 + xr[i], M - 1) * K;
    }
#pragma unroll
    for (int i = 0; i < WIDE_LB; i++) {
        const int q = lid + i * WIDE_WG;
        wr[i] = q / WIDE_KV;
        wk[i] = (q % WIDE_KV) * 4;
        wp[i] = W + (size_t)min(n0 + wr[i], N - 1) * K;
    }

    float acc[WIDE_TM][WIDE_TN];
#pragma unroll
    for (int i = 0; i < WIDE_TM; i++)
#pragma unroll
        for (int j = 0; j < WIDE_TN; j++)
            acc[i][j] = 0.0f;

    // K-tile t is staged into buffer t & 1 while tile t + 1 is in flight in registers.
    // One barrier per tile suffices: a buffer is restaged two tiles later, after every
    // work-item has passed the barrier that follows its last reader.
    float4 ra[WIDE_LA], rb[WIDE_LB];
#pragma unroll
    for (int i = 0; i < WIDE_LA; i++)
        ra[i] = load_x4(xp[i], xk[i], K - xk[i], vec);
#pragma unroll
    for (int i = 0; i < WIDE_LB; i++)
        rb[i] = load_w4(wp[i], wk[i], K - wk[i], vec);
    const int tiles = (K + WIDE_BK - 1) / WIDE_BK;
    for (int t = 0; t < tiles; t++) {
        __local float *as = As[t & 1], *bs = Bs[t & 1];
#pragma unroll
        for (int i = 0; i < WIDE_LA; i++) {
            __local float *d = as + xk[i] * WIDE_LDA + xr[i];
            d[0] = ra[i].x;
            d[WIDE_LDA] = ra[i].y;
            d[2 * WIDE_LDA] = ra[i].z;
            d[3 * WIDE_LDA] = ra[i].w;
        }
#pragma unroll
        for (int i = 0; i < WIDE_LB; i++) {
            __local float *d = bs + wk[i] * WIDE_LDB + wr[i];
            d[0] = rb[i].x;
            d[WIDE_LDB] = rb[i].y;
            d[2 * WIDE_LDB] = rb[i].z;
            d[3 * WIDE_LDB] = rb[i].w;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (t + 1 < tiles) {
            const int k0 = (t + 1) * WIDE_BK;
#pragma unroll
            for (int i = 0; i < WIDE_LA; i++)
                ra[i] = load_x4(xp[i], k0 + xk[i], K - k0 - xk[i], vec);
#pragma unroll
            for (int i = 0; i < WIDE_LB; i++)
                rb[i] = load_w4(wp[i], k0 + wk[i], K - k0 - wk[i], vec);
        }
        __local const float *a = as + ty * 4, *bq = bs + tx * 4;
#pragma unroll
        for (int kk = 0; kk < WIDE_BK; kk++) {
            float av[WIDE_TM], bv[WIDE_TN];
#pragma unroll
            for (int c = 0; c < WIDE_TM / 4; c++) {
                const float4 v = *(__local const float4 *)(a + kk * WIDE_LDA + c * WIDE_WY * 4);
                av[4 * c] = v.x;
                av[4 * c + 1] = v.y;
                av[4 * c + 2] = v.z;
                av[4 * c + 3] = v.w;
            }
#pragma unroll
            for (int c = 0; c < WIDE_TN / 4; c++) {
                const float4 v = *(__local const float4 *)(bq + kk * WIDE_LDB + c * WIDE_WX * 4);
                bv[4 * c] = v.x;
                bv[4 * c + 1] = v.y;
                bv[4 * c + 2] = v.z;
                bv[4 * c + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < WIDE_TM; i++)
#pragma unroll
                for (int j = 0; j < WIDE_TN; j++)
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
    }

    // epilogue: bias, activation, store (float4 where the run of 4 is whole and aligned)
#pragma unroll
    for (int i = 0; i < WIDE_TM; i++) {
        const int m = m0 + (i / 4) * WIDE_WY * 4 + ty * 4 + (i % 4);
        if (m >= M)
            continue;
#pragma unroll
        for (int c = 0; c < WIDE_TN / 4; c++) {
            const int n = n0 + c * WIDE_WX * 4 + tx * 4;
            float r[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                r[e] = acc[i][c * 4 + e];
                if (b && n + e < N)
                    r[e] += b[n + e];
                if (act == 1)
                    r[e] = gelu_tanh(r[e]);
            }
            __global float *yr = y + (size_t)m * N;
            if (n + 3 < N && (N & 3) == 0) {
                *(__global float4 *)(yr + n) = (float4)(r[0], r[1], r[2], r[3]);
            } else {
                for (int e = 0; e < 4 && n + e < N; e++)
                    yr[n + e] = r[e];
            }
        }
    }
}

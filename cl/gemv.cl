// ============================================================================================
// gemv.cl — skinny matrix product for small M (1..GEMV_MAX_M rows):
//     y[m, n] = act(sum_k x[m, k] * W[n, k] + b[n])
// W is [out, in] row-major as stored in BD3-LM checkpoints (GPT-2's Conv1D weights are
// transposed at load), in wtype storage (float, or half with -DDIDCL_WEIGHT_HALF).
// One work-group per output column n: its work-items stride over k, so each weight row
// is read once, coalesced, for all M rows of x at once; the M partial sums are then
// reduced through local memory. Weight bandwidth bound, which is the point at M = 4.
// Pros: reads W exactly once. Cons: wide products (M in the hundreds) belong to CLBlast.
// ============================================================================================

#define GEMV_MAX_M 16

// act: 0 = identity, 1 = GELU (tanh approximation). b may be NULL (no bias).
__kernel void gemv(const int M,               // rows of x and y, 1..GEMV_MAX_M
                   const int N,               // outputs (rows of W)
                   const int K,               // inputs (columns of W)
                   __global const float *x,   // (M, K) at element offset x_off
                   const int x_off,
                   __global const wtype *W,   // (N, K)
                   __global const float *b,   // (N,) or NULL
                   const int act,
                   __global float *y,         // (M, N) at element offset y_off
                   const int y_off,
                   __local float *red) {      // (GEMV_MAX_M * local size,) scratch
    const int n = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    float acc[GEMV_MAX_M];
#pragma unroll
    for (int m = 0; m < GEMV_MAX_M; m++)
        acc[m] = 0.0f;
    __global const float *xr = x + x_off;
    const size_t wrow = (size_t)n * K;
    for (int k = lid; k < K; k += ls) {
        const float w = WLOAD(W, wrow + k);
#pragma unroll
        for (int m = 0; m < GEMV_MAX_M; m++)
            if (m < M)
                acc[m] += w * xr[(size_t)m * K + k];
    }
#pragma unroll
    for (int m = 0; m < GEMV_MAX_M; m++)
        if (m < M)
            red[m * ls + lid] = acc[m];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ls / 2; s > 0; s /= 2) {
        if (lid < s)
            for (int m = 0; m < M; m++)
                red[m * ls + lid] += red[m * ls + lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < M) {
        float r = red[lid * ls];
        if (b)
            r += b[n];
        if (act == 1)
            r = gelu_tanh(r);
        y[y_off + (size_t)lid * N + n] = r;
    }
}

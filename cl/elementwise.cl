// ============================================================================================
// elementwise.cl — element-wise vector kernels: y = a*x + y, scaling, gated residual,
// bias add, GELU. One work-item per element; bandwidth bound by nature, so nothing clever
// is attempted.
// ============================================================================================

// y[i] += a * x[i]                                  x, y: (n,)
__kernel void axpy_f32(const int n, const float a, __global const float *x, __global float *y) {
    const int i = get_global_id(0);
    if (i < n)
        y[i] += a * x[i];
}

// x[i] *= a                                         x: (n,)
__kernel void scale_f32(const int n, const float a, __global float *x) {
    const int i = get_global_id(0);
    if (i < n)
        x[i] *= a;
}

// Gated residual of the DiT block: x[t, c] += gate[c] * y[t, c], the gate read at element
// offset gate_off of buffer gate (the adaLN output holds shift, scale and gate side by
// side); gate_stride is 0 for a per-channel gate (C,) or the row stride of a per-row one.
//                                                   x, y: (T, C); gate: see above
__kernel void gated_residual_f32(const int T, const int C, __global float *x,
                                 __global const float *y, __global const float *gate,
                                 const int gate_off, const int gate_stride) {
    const int i = get_global_id(0);
    if (i >= T * C)
        return;
    const int t = i / C, c = i - t * C;
    x[i] += gate[gate_off + (size_t)t * gate_stride + c] * y[i];
}

// y[m, n] += b[n]                                   y: (M, N); b: (N,)
__kernel void bias_add_f32(const int M, const int N, __global float *y, __global const float *b) {
    const int i = get_global_id(0);
    if (i < M * N)
        y[i] += b[i % N];
}

// x[i] = gelu_tanh(x[i]) (common.cl), in place      x: (n,)
__kernel void gelu_tanh_f32(const int n, __global float *x) {
    const int i = get_global_id(0);
    if (i < n)
        x[i] = gelu_tanh(x[i]);
}

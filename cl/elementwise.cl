// ============================================================================================
// elementwise.cl — element-wise vector kernels: y = a*x + y, scaling, gated residual.
// One work-item per element; bandwidth bound by nature, so nothing clever is attempted.
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

// Gated residual of the DiT block: x[t, c] += gate[c] * y[t, c]
//                                                   x, y: (T, C); gate: (C,)
__kernel void gated_residual_f32(const int T, const int C, __global float *x,
                                 __global const float *y, __global const float *gate) {
    const int i = get_global_id(0);
    if (i < T * C)
        x[i] += gate[i % C] * y[i];
}

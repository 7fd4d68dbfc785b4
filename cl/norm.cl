// ============================================================================================
// norm.cl — LayerNorm over the last axis, one work-group per row.
//   layernorm_modulate: BD3-LM's weight-only LayerNorm fused with adaLN modulation,
//                       out = (LN(x) * w) * (1 + scale) + shift
//   residual_layernorm_modulate: the DiT's gated residual x += gate * y, then the above
//   layernorm_bias:     GPT-2's LayerNorm, out = LN(x) * w + b
// LN(x) = (x - mean) / sqrt(var + eps), var the biased variance. Mean and variance are
// reduced in two passes with group_sum (common.cl); the second pass sums (x - mean)^2,
// which is steadier than E[x^2] - mean^2. The host passes a __local scratch of one float
// per work-item and a power-of-two work-group size.
// Pros: one read of the row per pass, coalesced. Cons: three passes over the row (it is
// small: 768 floats stay in cache).
// ============================================================================================

// Mean and 1/sqrt(var + eps) of row x (C,), for the whole work-group, given s, this
// work-item's sum of x[c] over c = lid, lid + n, ... in that order. Every work-item reads
// only the elements it summed (so a row it just wrote needs no global barrier).
static void row_stats_from(float s, __global const float *x, const int C, const float eps,
                           __local float *red, float *mean, float *rstd) {
    const int lid = get_local_id(0), n = get_local_size(0);
    const float m = group_sum(s, red) / (float)C;
    float q = 0.0f;
    for (int c = lid; c < C; c += n) {
        const float d = x[c] - m;
        q += d * d;
    }
    const float var = group_sum(q, red) / (float)C;
    *mean = m;
    *rstd = 1.0f / sqrt(var + eps);
}

// The same, summing x itself.
static void row_stats(__global const float *x, const int C, const float eps, __local float *red,
                      float *mean, float *rstd) {
    const int lid = get_local_id(0), n = get_local_size(0);
    float s = 0.0f;
    for (int c = lid; c < C; c += n)
        s += x[c];
    row_stats_from(s, x, C, eps, red, mean, rstd);
}

// out[t] = (LN(xr) * w) * (1 + scale) + shift for the whole work-group: the weight-only
// LayerNorm + adaLN modulate both kernels below end with (shift/scale as they describe).
// mean and rstd: row_stats' of xr.
static void norm_modulate_row(__global const float *xr, const int C, const float mean,
                              const float rstd, __global const float *w,
                              __global const float *mod, const int shift_off,
                              const int scale_off, const int mod_stride, const int t,
                              __global float *out) {
    const int lid = get_local_id(0), n = get_local_size(0);
    __global const float *sh = mod + shift_off + (size_t)t * mod_stride;
    __global const float *sc = mod + scale_off + (size_t)t * mod_stride;
    for (int c = lid; c < C; c += n)
        out[(size_t)t * C + c] = ((xr[c] - mean) * rstd * w[c]) * (1.0f + sc[c]) + sh[c];
}

// Weight-only LayerNorm + adaLN modulate. shift and scale live in one buffer mod at
// element offsets shift_off and scale_off. mod_stride is 0 when they are per-channel
// vectors (C,) (time conditioning off), or the row stride of per-row values (row t reads
// mod[off + t * mod_stride + c]). sel, when not NULL, gathers: output row t normalizes
// input row sel[t] (the wanted rows of a global pass, one launch however scattered).
// One work-group per output row t.
__kernel void layernorm_modulate(const int T,                 // rows
                                 const int C,                 // channels
                                 const float eps,             // LayerNorm epsilon
                                 __global const float *x,     // (T, C) input, or rows sel[t]
                                 __global const int *sel,     // (T,) input rows, or NULL
                                 __global const float *w,     // (C,) LayerNorm weight
                                 __global const float *mod,   // shift/scale source
                                 const int shift_off,         // shift[c] = mod[shift_off + ...]
                                 const int scale_off,         // scale[c] = mod[scale_off + ...]
                                 const int mod_stride,        // 0 (per channel) or row stride
                                 __global float *out,         // (T, C) output
                                 __local float *red) {        // (local size,) scratch
    const int t = get_group_id(0);
    if (t >= T)
        return;
    __global const float *xr = x + (size_t)(sel ? sel[t] : t) * C;
    float mean, rstd;
    row_stats(xr, C, eps, red, &mean, &rstd);
    norm_modulate_row(xr, C, mean, rstd, w, mod, shift_off, scale_off, mod_stride, t, out);
}

// The gated residual of the DiT block fused with the next LayerNorm + modulate:
//     x[t] += gate * y[t];  out[t] = (LN(x[t]) * w) * (1 + scale) + shift
// gate, shift and scale at element offsets of mod (mod_stride as above). The updated row
// is written back to x and summed in the same pass; each work-item reads back only the
// elements it wrote (no global barrier: a block step runs this on a few rows, where
// every round trip to memory is the kernel's time). One work-group per row t.
__kernel void residual_layernorm_modulate(const int T,               // rows
                                          const int C,               // channels
                                          const float eps,           // LayerNorm epsilon
                                          __global float *x,         // (T, C) residual, updated
                                          __global const float *y,   // (T, C) branch output
                                          __global const float *w,   // (C,) LayerNorm weight
                                          __global const float *mod, // gate/shift/scale source
                                          const int gate_off,        // gate[c] = mod[gate_off + ...]
                                          const int shift_off,
                                          const int scale_off,
                                          const int mod_stride,      // 0 or row stride
                                          __global float *out,       // (T, C) output
                                          __local float *red) {      // (local size,) scratch
    const int t = get_group_id(0);
    if (t >= T)
        return;
    const int lid = get_local_id(0), n = get_local_size(0);
    __global float *xr = x + (size_t)t * C;
    __global const float *yr = y + (size_t)t * C;
    __global const float *g = mod + gate_off + (size_t)t * mod_stride;
    float s = 0.0f;
    for (int c = lid; c < C; c += n) {
        const float v = xr[c] + g[c] * yr[c];
        xr[c] = v;
        s += v;
    }
    float mean, rstd;
    row_stats_from(s, xr, C, eps, red, &mean, &rstd);
    norm_modulate_row(xr, C, mean, rstd, w, mod, shift_off, scale_off, mod_stride, t, out);
}

// LayerNorm with weight and bias (GPT-2). One work-group per row t.
__kernel void layernorm_bias(const int T,             // rows
                             const int C,             // channels
                             const float eps,         // LayerNorm epsilon (config)
                             __global const float *x, // (T, C) input
                             __global const float *w, // (C,) weight
                             __global const float *b, // (C,) bias
                             __global float *out,     // (T, C) output
                             __local float *red) {    // (local size,) scratch
    const int t = get_group_id(0);
    if (t >= T)
        return;
    const int lid = get_local_id(0), n = get_local_size(0);
    __global const float *xr = x + (size_t)t * C;
    float mean, rstd;
    row_stats(xr, C, eps, red, &mean, &rstd);
    for (int c = lid; c < C; c += n)
        out[(size_t)t * C + c] = (xr[c] - mean) * rstd * w[c] + b[c];
}

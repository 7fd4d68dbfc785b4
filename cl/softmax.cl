// ============================================================================================
// softmax.cl — per-row log-softmax over the vocabulary and per-row (max, log-sum-exp)
// statistics, one work-group per row, reductions through local memory (group_max,
// group_sum in common.cl). An excluded index excl (the [MASK] token; -1 for none) takes
// no part: its log-probability is -inf, as BD3-LM's SUBS parameterization has it.
// Max-subtracted, fp32 throughout.
// ============================================================================================

// Row max and log-sum-exp of x (V,) without excl; lse = max + log(sum exp(x - max)).
static void row_max_lse(__global const float *x, const int V, const int excl,
                        __local float *red, float *mx, float *lse) {
    const int lid = get_local_id(0), n = get_local_size(0);
    float m = -INFINITY;
    for (int i = lid; i < V; i += n)
        if (i != excl)
            m = fmax(m, x[i]);
    m = group_max(m, red);
    float s = 0.0f;
    for (int i = lid; i < V; i += n)
        if (i != excl)
            s += exp(x[i] - m);
    s = group_sum(s, red);
    *mx = m;
    *lse = m + log(s);
}

// out[r, i] = x[r, i] - lse(r) (and -inf at excl). out may be x (in place).
__kernel void log_softmax_rows(const int R,             // rows
                               const int V,             // row length (vocabulary)
                               const int excl,          // excluded index, or -1
                               __global const float *x, // (R, V) logits
                               __global float *out,     // (R, V) log-probabilities
                               __local float *red) {    // (local size,) scratch
    const int r = get_group_id(0);
    if (r >= R)
        return;
    const int lid = get_local_id(0), n = get_local_size(0);
    __global const float *xr = x + (size_t)r * V;
    float mx, lse;
    row_max_lse(xr, V, excl, red, &mx, &lse);
    for (int i = lid; i < V; i += n)
        out[(size_t)r * V + i] = i == excl ? -INFINITY : xr[i] - lse;
}

// stats[r] = (max, lse) of row r, so that the sampler can read only these and form
// p_i = exp(x_i - lse) for the tokens it needs.
__kernel void max_lse_rows(const int R,             // rows
                           const int V,             // row length (vocabulary)
                           const int excl,          // excluded index, or -1
                           __global const float *x, // (R, V) logits
                           __global float *stats,   // (R, 2): max, log-sum-exp
                           __local float *red) {    // (local size,) scratch
    const int r = get_group_id(0);
    if (r >= R)
        return;
    float mx, lse;
    row_max_lse(x + (size_t)r * V, V, excl, red, &mx, &lse);
    if (get_local_id(0) == 0) {
        stats[2 * r] = mx;
        stats[2 * r + 1] = lse;
    }
}

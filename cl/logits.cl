// ============================================================================================
// logits.cl — reductions over the model's logits that the host needs only a few floats of.
// gather_logprob: the log-probability of one chosen token per row, from the row's
// (max, log-sum-exp) that max_lse_rows (softmax.cl) computed, so that scoring a sequence
// moves R floats to the host instead of R * V.
// ============================================================================================

// out[r] = x[first + r, tgt[r]] - lse(first + r); 0 where tgt[r] < 0 (not scored), -inf
// where tgt[r] is the excluded index (BD3-LM's [MASK]). One work-item per row.
__kernel void gather_logprob(const int R,               // rows to gather
                             const int V,               // row length (vocabulary)
                             const int first,           // first row of x and stats
                             const int excl,            // excluded index, or -1
                             __global const float *x,   // (first + R, V) logits
                             __global const float *stats, // (first + R, 2) max, lse
                             __global const int *tgt,   // (R,) target ids, < 0 to skip
                             __global float *out) {     // (R,)
    const int r = get_global_id(0);
    if (r >= R)
        return;
    const int t = tgt[r];
    const size_t row = (size_t)(first + r);
    if (t < 0 || t >= V)
        out[r] = 0.0f;
    else if (t == excl)
        out[r] = -INFINITY;
    else
        out[r] = x[row * V + t] - stats[2 * row + 1];
}

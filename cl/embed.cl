// ============================================================================================
// embed.cl — token embedding gather: out[t, :] = table[ids[t], :] (+ pos[pos_start + t, :]).
// One work-item per output element; a pure gather, bandwidth bound. The tables are large
// weights, so they use the wtype storage of common.cl (float, or half with
// -DDIDCL_WEIGHT_HALF). Ids outside [0, V) give a zero row (kernels cannot report errors;
// the host validates ids before upload).
// ============================================================================================

// Token embedding, no positional term (BD3-LM: RoPE is applied later, inside attention).
__kernel void embed_tokens(const int T,                 // rows (tokens)
                           const int H,                 // hidden size
                           const int V,                 // vocabulary size (rows of table)
                           __global const int *ids,     // (T,) token ids
                           __global const wtype *table, // (V, H) embedding rows
                           __global float *out) {       // (T, H)
    const int i = get_global_id(0);
    if (i >= T * H)
        return;
    const int t = i / H, c = i - t * H;
    const int id = ids[t];
    out[i] = (id >= 0 && id < V) ? WLOAD(table, (size_t)id * H + c) : 0.0f;
}

// Token embedding plus learned absolute positions (GPT-2's wpe): row t uses position
// pos_start + t, which the host keeps below P.
__kernel void embed_tokens_pos(const int T,                 // rows (tokens)
                               const int H,                 // hidden size
                               const int V,                 // vocabulary size
                               const int pos_start,         // position of row 0
                               __global const int *ids,     // (T,) token ids
                               __global const wtype *table, // (V, H) token embeddings
                               __global const wtype *pos,   // (P, H) position embeddings
                               __global float *out) {       // (T, H)
    const int i = get_global_id(0);
    if (i >= T * H)
        return;
    const int t = i / H, c = i - t * H;
    const int id = ids[t];
    const float e = (id >= 0 && id < V) ? WLOAD(table, (size_t)id * H + c) : 0.0f;
    out[i] = e + WLOAD(pos, (size_t)(pos_start + t) * H + c);
}

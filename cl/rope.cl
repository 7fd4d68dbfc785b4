// ============================================================================================
// rope.cl — rotary position embedding, rotate-half (GPT-NeoX) convention, applied in place
// to Q and K of a fused QKV buffer laid out [T, 3, heads, head_dim] (V is left alone).
// For pair j < head_dim/2 of a head vector v at position p:
//     a = p * inv_freq[j]
//     v'[j]          = v[j] * cos a - v[j + half] * sin a
//     v'[j + half]   = v[j + half] * cos a + v[j] * sin a
// inv_freq (head_dim/2,) is computed once on the host (didcl_ref_rope_inv_freq), in float
// the way PyTorch does it, so the kernel and the CPU reference rotate by the same angles.
// One work-item per rotated pair.
// ============================================================================================

__kernel void rope_qk(const int T,                    // rows (tokens)
                      const int heads,                // attention heads
                      const int head_dim,             // even; 64 for BD3-LM
                      const int pos_start,            // position of row 0
                      __global const float *inv_freq, // (head_dim/2,)
                      __global float *qkv) {          // (T, 3, heads, head_dim), in place
    const int half_dim = head_dim / 2;
    const int i = get_global_id(0);                   // over (T, 2, heads, half_dim)
    if (i >= T * 2 * heads * half_dim)
        return;
    const int j = i % half_dim;
    const int h = (i / half_dim) % heads;
    const int part = (i / (half_dim * heads)) % 2;    // 0 = Q, 1 = K
    const int t = i / (half_dim * heads * 2);
    const float a = (float)(pos_start + t) * inv_freq[j];
    const float cs = cos(a), sn = sin(a);
    __global float *v = qkv + ((size_t)t * 3 + part) * heads * head_dim + (size_t)h * head_dim;
    const float x1 = v[j], x2 = v[j + half_dim];
    v[j] = x1 * cs - x2 * sn;
    v[j + half_dim] = x2 * cs + x1 * sn;
}

// ============================================================================================
// rope.cl — rotary position embedding, rotate-half (GPT-NeoX) convention, applied in place.
// Each row t holds `parts` consecutive groups of heads*head_dim values to rotate, starting
// at element off, rows `stride` apart: for the fused QKV [T, 3, heads, head_dim] that is
// off 0, stride 3*heads*head_dim, parts 2 (Q and K; V is left alone); for a K cache
// [T, heads, head_dim] off 0, stride heads*head_dim, parts 1.
// For pair j < head_dim/2 of a head vector v at position p = pos_start + t:
//     a = p * inv_freq[j]
//     v'[j]          = v[j] * cos a - v[j + half] * sin a
//     v'[j + half]   = v[j + half] * cos a + v[j] * sin a
// inv_freq (head_dim/2,) is computed once on the host (didcl_ref_rope_inv_freq), in float
// the way PyTorch does it, so the kernel and the CPU reference rotate by the same angles.
// One work-item per rotated pair.
// ============================================================================================

__kernel void rope_rows(const int T,                    // rows (tokens)
                        const int heads,                // attention heads
                        const int head_dim,             // even; 64 for BD3-LM
                        const int pos_start,            // position of row 0
                        __global const float *inv_freq, // (head_dim/2,)
                        __global float *buf,            // rows, rotated in place
                        const int off,                  // element offset of row 0's first part
                        const int stride,               // elements between rows
                        const int parts) {              // head groups per row (2: Q and K)
    const int half_dim = head_dim / 2;
    const int i = get_global_id(0);                     // over (T, parts, heads, half_dim)
    if (i >= T * parts * heads * half_dim)
        return;
    const int j = i % half_dim;
    const int h = (i / half_dim) % heads;
    const int part = (i / (half_dim * heads)) % parts;
    const int t = i / (half_dim * heads * parts);
    const float a = (float)(pos_start + t) * inv_freq[j];
    const float cs = cos(a), sn = sin(a);
    __global float *v = buf + off + (size_t)t * stride + ((size_t)part * heads + h) * head_dim;
    const float x1 = v[j], x2 = v[j + half_dim];
    v[j] = x1 * cs - x2 * sn;
    v[j + half_dim] = x2 * cs + x1 * sn;
}

// RoPE fused with the KV-cache write of a cached BD3-LM step: row t of the fused qkv
// (T, 3, heads, head_dim) belongs to sequence b = t / n, position pos_start + t % n; its Q
// is rotated in place, its K rotated into cache row b * seq_rows + pos_start + t % n
// (cache rows (2, heads, head_dim): K then V) and its V copied beside it. qkv's own K and
// V are left as they were (attention reads the cache). One work-item per rotated pair;
// the same angles and arithmetic as rope_rows.
__kernel void rope_cache(const int T,                    // rows: batch * n
                         const int n,                    // rows per sequence
                         const int heads,                // attention heads
                         const int head_dim,             // even
                         const int pos_start,            // position of each sequence's row 0
                         __global const float *inv_freq, // (head_dim/2,)
                         __global float *qkv,            // (T, 3, heads, head_dim)
                         __global float *cache,          // (batch * seq_rows, 2, heads, head_dim)
                         const int seq_rows) {           // cache rows per sequence
    const int half_dim = head_dim / 2, H = heads * head_dim;
    const int i = get_global_id(0);                      // over (T, heads, half_dim)
    if (i >= T * heads * half_dim)
        return;
    const int j = i % half_dim;
    const int h = (i / half_dim) % heads;
    const int t = i / (half_dim * heads);
    const int p = pos_start + t % n;
    const float a = (float)p * inv_freq[j];
    const float cs = cos(a), sn = sin(a);
    __global float *qr = qkv + (size_t)t * 3 * H + h * head_dim;
    __global const float *kr = qr + H, *vr = qr + 2 * H;
    __global float *cr = cache + ((size_t)(t / n) * seq_rows + p) * 2 * H + h * head_dim;
    const float q1 = qr[j], q2 = qr[j + half_dim];
    qr[j] = q1 * cs - q2 * sn;
    qr[j + half_dim] = q2 * cs + q1 * sn;
    const float k1 = kr[j], k2 = kr[j + half_dim];
    cr[j] = k1 * cs - k2 * sn;
    cr[j + half_dim] = k2 * cs + k1 * sn;
    cr[H + j] = vr[j];
    cr[H + j + half_dim] = vr[j + half_dim];
}

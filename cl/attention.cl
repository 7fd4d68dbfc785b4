// ============================================================================================
// attention.cl — scaled dot-product attention, fp32, one work-group per (query, head):
//     out[i, h, :] = sum_j softmax_j(scale * q_i . k_j | allowed(i, j)) v_j
// Q, K and V are read through (offset, row stride) views, so they may be the Q/K/V
// thirds of a fused QKV buffer [T, 3, heads, head_dim] or separate K/V caches
// [T_k, heads, head_dim]; head h starts at h * head_dim inside a row.
// The work-group keeps the T_k scores of its query in local memory (the host checks the
// size against the device), then: max (group_max), exp and sum (group_sum), and the
// weighted sum of V rows, read coalesced along head_dim.
// Pros: simple, exact max-subtracted softmax. Cons: no key tiling (flash-style) yet; one
// K row per work-item in the score pass is not coalesced.
//
// Masks (mask_mode; query i has absolute index qa = i + q_offset in key coordinates):
//   0 NONE          every key (bidirectional; BD3-LM KV-cache steps, global revision)
//   1 CAUSAL        j <= qa (GPT-2)
//   2 BLOCK_CAUSAL  j / block <= qa / block (BD3-LM without cache: x0-x0 sub-mask)
//   3 BD3_2L        BD3-LM training/scoring mask over x_t (+) x_0, halves of length
//                   half_len, blocks of size block inside each half:
//                   same half and same block; or qa in x_t, j in x_0, block(qa) > block(j);
//                   or both in x_0, block(qa) >= block(j)
// A query that sees no key gets a zero output.
// ============================================================================================

static bool attn_allowed(const int mode, const int qa, const int j, const int block,
                         const int half_len) {
    switch (mode) {
    case 1:
        return j <= qa;
    case 2:
        return j / block <= qa / block;
    case 3: {
        const bool q0 = qa >= half_len, k0 = j >= half_len;
        const int qb = (qa % half_len) / block, kb = (j % half_len) / block;
        return (q0 == k0 && qb == kb) || (!q0 && k0 && qb > kb) || (q0 && k0 && qb >= kb);
    }
    default:
        return true;
    }
}

__kernel void attention(const int Tq,               // queries
                        const int Tk,               // keys / values
                        const int heads,            // heads
                        const int head_dim,         // per-head size
                        const float scale,          // usually 1/sqrt(head_dim)
                        __global const float *q,    // query i, head h: q[q_off + i*q_stride + h*head_dim + d]
                        const int q_off, const int q_stride,
                        __global const float *k,    // key j:   k[k_off + j*k_stride + h*head_dim + d]
                        const int k_off, const int k_stride,
                        __global const float *v,    // value j: v[v_off + j*v_stride + h*head_dim + d]
                        const int v_off, const int v_stride,
                        __global float *out,        // (Tq, heads, head_dim)
                        const int mask_mode,        // 0..3, see above
                        const int q_offset,         // absolute index of query 0
                        const int block,            // block size (modes 2, 3)
                        const int half_len,         // half length L (mode 3)
                        __local float *scores,      // (Tk,) scratch
                        __local float *qv,          // (head_dim,) scratch
                        __local float *red) {       // (local size,) scratch
    const int i = get_group_id(0), h = get_group_id(1);
    const int lid = get_local_id(0), n = get_local_size(0);
    const int qa = i + q_offset;

    // The query vector, once, into local memory.
    for (int d = lid; d < head_dim; d += n)
        qv[d] = q[q_off + (size_t)i * q_stride + h * head_dim + d];
    barrier(CLK_LOCAL_MEM_FENCE);

    // Scores and their max.
    float m = -INFINITY;
    for (int j = lid; j < Tk; j += n) {
        float s = -INFINITY;
        if (attn_allowed(mask_mode, qa, j, block, half_len)) {
            __global const float *kr = k + k_off + (size_t)j * k_stride + h * head_dim;
            float dot = 0.0f;
            for (int d = 0; d < head_dim; d++)
                dot += qv[d] * kr[d];
            s = dot * scale;
        }
        scores[j] = s;
        m = fmax(m, s);
    }
    m = group_max(m, red); // its barriers also publish scores[]

    // exp(s - max) and their sum; a fully masked row keeps zeros.
    float sum = 0.0f;
    for (int j = lid; j < Tk; j += n) {
        const float p = m == -INFINITY ? 0.0f : exp(scores[j] - m);
        scores[j] = p;
        sum += p;
    }
    sum = group_sum(sum, red);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;

    // Weighted sum of V rows. With n >= head_dim, the group splits into n / head_dim
    // slices over the keys, reduced through red; otherwise each item owns some d.
    __global float *o = out + ((size_t)i * heads + h) * head_dim;
    __global const float *vb = v + v_off + h * head_dim;
    if (n >= head_dim) {
        const int slices = n / head_dim, slice = lid / head_dim, d = lid % head_dim;
        float acc = 0.0f;
        if (slice < slices)
            for (int j = slice; j < Tk; j += slices)
                acc += scores[j] * vb[(size_t)j * v_stride + d];
        red[lid] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < head_dim) {
            float r = 0.0f;
            for (int s = 0; s < slices; s++)
                r += red[s * head_dim + lid];
            o[lid] = r * inv;
        }
    } else {
        for (int d = lid; d < head_dim; d += n) {
            float acc = 0.0f;
            for (int j = 0; j < Tk; j++)
                acc += scores[j] * vb[(size_t)j * v_stride + d];
            o[d] = acc * inv;
        }
    }
}

// --------------------------------------------------------------------------------------------
// Wide path (didcl_ops_attention_wide): the scores S = scale * Q K^T of every head come from
// CLBlast (strided batched SGEMM) as rows of (heads * Tq, Tk); this kernel masks them and
// turns each row into softmax probabilities in place (one work-group per row), and a second
// SGEMM forms P V. Same mask rules and fully-masked-row convention as `attention`.
// --------------------------------------------------------------------------------------------

__kernel void attention_probs(const int Tq,          // queries (rows of S per head)
                              const int Tk,          // keys (columns of S)
                              const int rows,        // heads * Tq
                              __global float *S,     // (heads, Tq, Tk) scaled scores -> probs
                              const int mask_mode,   // 0..3, as for `attention`
                              const int q_offset,    // absolute index of query 0
                              const int block,       // block size (modes 2, 3)
                              const int half_len,    // half length L (mode 3)
                              __local float *red) {  // (local size,) scratch
    const int r = get_group_id(0);
    if (r >= rows)
        return;
    const int lid = get_local_id(0), n = get_local_size(0);
    const int qa = r % Tq + q_offset;
    __global float *sr = S + (size_t)r * Tk;
    float m = -INFINITY;
    for (int j = lid; j < Tk; j += n) {
        const float s = attn_allowed(mask_mode, qa, j, block, half_len) ? sr[j] : -INFINITY;
        sr[j] = s;
        m = fmax(m, s);
    }
    m = group_max(m, red);
    float sum = 0.0f;
    for (int j = lid; j < Tk; j += n) {
        const float p = m == -INFINITY ? 0.0f : exp(sr[j] - m);
        sr[j] = p;
        sum += p;
    }
    sum = group_sum(sum, red);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int j = lid; j < Tk; j += n)
        sr[j] *= inv;
}

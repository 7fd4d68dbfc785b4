// ============================================================================================
// attention.cl — scaled dot-product attention, fp32, one work-group per (query, head) (and
// sequence of a batch, each with its own K/V cache):
//     out[i, h, :] = sum_j softmax_j(scale * q_i . k_j | allowed(i, j)) v_j
// Q, K and V are read through (offset, row stride) views, so they may be the Q/K/V
// thirds of a fused QKV buffer [T, 3, heads, head_dim] or separate K/V caches
// [T_k, heads, head_dim]; head h starts at h * head_dim inside a row.
// The work-group keeps the T_k scores of its query in local memory (the host checks the
// size against the device), then: max (group_max), exp and sum (group_sum), and the
// weighted sum of V rows, read coalesced along head_dim.
// Pros: simple, exact max-subtracted softmax. Cons: one K row per work-item in the score
// pass is not coalesced; local memory bounds T_k (attention_flash below has no bound).
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
                        __global float *out,        // (Tq, heads, head_dim) per sequence
                        const int mask_mode,        // 0..3, see above
                        const int q_offset,         // absolute index of query 0
                        const int block,            // block size (modes 2, 3)
                        const int half_len,         // half length L (mode 3)
                        const int q_bstride,        // sequence b (group id 2) of a batch: q,
                        const int kv_bstride,       // k/v and out views move by b times these
                        const int out_bstride,      // element strides
                        __local float *scores,      // (Tk,) scratch
                        __local float *qv,          // (head_dim,) scratch
                        __local float *red) {       // (local size,) scratch
    const int i = get_group_id(0), h = get_group_id(1), b = get_group_id(2);
    const int lid = get_local_id(0), n = get_local_size(0);
    const int qa = i + q_offset;
    q += (size_t)b * q_bstride;
    k += (size_t)b * kv_bstride;
    v += (size_t)b * kv_bstride;
    out += (size_t)b * out_bstride;

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

// --------------------------------------------------------------------------------------------
// Flash path (didcl_ops_attention_flash): one work-group per (tile of queries, head), one
// query per work-item, K/V tiles of ATTN_BK keys staged in local memory and shared by the
// tile; online softmax (running max m, sum l, accumulator acc rescaled once per key
// tile), so nothing scales with T_k and no scores scratch exists. Each query visits its
// keys in ascending order in fixed tiles: the reduction order depends only on the shapes.
// The masks are unions of at most two key intervals per query; a tile visits only the
// union over its queries (seg_bounds), which skips the masked-out half of the 2L score
// pass and the future of (block-)causal queries, and attn_allowed decides the rest.
// Built with -DATTN_HD=head_dim (a multiple of 4): q and acc live in registers.
// Pros: no O(T_q T_k) scratch, one launch, K/V read once per query tile. Cons: one query
// per work-item keeps 2 * head_dim floats in registers.
// --------------------------------------------------------------------------------------------

#ifndef ATTN_HD
#define ATTN_HD 64
#endif
#define ATTN_HD4 (ATTN_HD / 4)
#define ATTN_BK (ATTN_HD <= 64 ? 32 : 8) // keys per tile: 2 * ATTN_BK * ATTN_HD floats local

// Key interval [lo, hi) of segment seg (0 or 1) that a tile of queries with absolute
// indices qf..ql visits; disjoint, ascending, clipped to [0, Tk); empty when lo >= hi.
static void seg_bounds(const int mode, const int qf, const int ql, const int Tk, const int block,
                       const int L, const int seg, int *lo, int *hi) {
    int a = 0, b = 0;
    if (mode == 3) { // BD3_2L: x_t block (own), then x_0 blocks before it / up to it
        if (seg == 0) {
            if (qf < L) {
                a = qf / block * block;
                b = ql < L ? min((ql / block + 1) * block, L) : L;
            }
        } else {
            a = L;
            const int xt = min(ql, L - 1) / block * block;              // x_t: x_0 blocks < own
            const int x0 = ql >= L ? min((ql - L) / block + 1, (L + block - 1) / block) * block : 0;
            b = L + max(qf < L ? xt : 0, x0);
            b = min(b, 2 * L);
        }
    } else if (seg == 0) {
        b = mode == 1 ? ql + 1 : mode == 2 ? (ql / block + 1) * block : Tk;
    }
    *lo = min(a, Tk);
    *hi = min(b, Tk);
}

__kernel void attention_flash(const int Tq,               // queries
                              const int Tk,               // keys / values
                              const int heads,            // heads (head_dim = ATTN_HD)
                              const float scale,          // usually 1/sqrt(head_dim)
                              __global const float *q,    // views as for `attention`
                              const int q_off, const int q_stride,
                              __global const float *k,
                              const int k_off, const int k_stride,
                              __global const float *v,
                              const int v_off, const int v_stride,
                              __global float *out,        // (Tq, heads, ATTN_HD)
                              const int mask_mode,        // 0..3, see above
                              const int q_offset,         // absolute index of query 0
                              const int block,            // block size (modes 2, 3)
                              const int half_len,         // half length L (mode 3)
                              __local float4 *kt,         // (ATTN_BK, ATTN_HD4) key tile
                              __local float4 *vt) {       // (ATTN_BK, ATTN_HD4) value tile
    const int lid = get_local_id(0), nq = get_local_size(0);
    const int i0 = get_group_id(0) * nq, h = get_group_id(1), i = i0 + lid;
    const bool live = i < Tq;
    const int qa = i + q_offset;
    const int qf = i0 + q_offset, ql = min(i0 + nq, Tq) - 1 + q_offset;

    float4 qr[ATTN_HD4], acc[ATTN_HD4];
    for (int c = 0; c < ATTN_HD4; c++) {
        qr[c] = live ? vload4(c, q + q_off + (size_t)i * q_stride + h * ATTN_HD) : (float4)(0.0f);
        acc[c] = (float4)(0.0f);
    }
    float m = -INFINITY, l = 0.0f;
    for (int seg = 0; seg < 2; seg++) {
        int lo, hi;
        seg_bounds(mask_mode, qf, ql, Tk, block, half_len, seg, &lo, &hi);
        for (int j0 = lo; j0 < hi; j0 += ATTN_BK) {
            const int nk = min(ATTN_BK, hi - j0);
            barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is consumed
            for (int e = lid; e < nk * ATTN_HD4; e += nq) {
                const int jj = e / ATTN_HD4, c = e - jj * ATTN_HD4;
                const size_t r = (size_t)(j0 + jj);
                kt[e] = vload4(c, k + k_off + r * k_stride + h * ATTN_HD);
                vt[e] = vload4(c, v + v_off + r * v_stride + h * ATTN_HD);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (!live)
                continue;
            float s[ATTN_BK];
            float mt = -INFINITY;
            for (int jj = 0; jj < nk; jj++) {
                float x = -INFINITY;
                if (attn_allowed(mask_mode, qa, j0 + jj, block, half_len)) {
                    float4 d4 = qr[0] * kt[jj * ATTN_HD4];
                    for (int c = 1; c < ATTN_HD4; c++)
                        d4 += qr[c] * kt[jj * ATTN_HD4 + c];
                    x = (d4.x + d4.y + d4.z + d4.w) * scale;
                }
                s[jj] = x;
                mt = fmax(mt, x);
            }
            if (mt == -INFINITY)
                continue; // nothing visible in this tile
            const float mn = fmax(m, mt), corr = exp(m - mn); // exp(-inf) = 0 on the first
            m = mn;
            l *= corr;
            for (int c = 0; c < ATTN_HD4; c++)
                acc[c] *= corr;
            for (int jj = 0; jj < nk; jj++) {
                const float p = exp(s[jj] - mn); // masked: exp(-inf) = 0
                l += p;
                for (int c = 0; c < ATTN_HD4; c++)
                    acc[c] += p * vt[jj * ATTN_HD4 + c];
            }
        }
    }
    if (!live)
        return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    __global float *o = out + ((size_t)i * heads + h) * ATTN_HD;
    for (int c = 0; c < ATTN_HD4; c++)
        vstore4(acc[c] * inv, c, o);
}

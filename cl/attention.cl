// ============================================================================================
// attention.cl — scaled dot-product attention, fp32, per head h:
//     out[i, h, :] = sum_j softmax_j(scale * q_i . k_j | allowed(i, j)) v_j
// Q, K and V are read through (offset, row stride) views, so they may be the Q/K/V
// thirds of a fused QKV buffer [T, 3, heads, head_dim] or separate K/V caches
// [T_k, heads, head_dim]; head h starts at h * head_dim inside a row. Three paths:
//   split (attention_split + attention_combine): few queries (block steps, <= ATTN_QMAX
//         per sequence) against many keys, the keys cut into chunks across work-groups;
//   wide  (attention_probs between two CLBlast SGEMMs): any shape, O(T_q T_k) scratch;
//   flash (attention_flash, register-tiled, GPUs; attention_flash_rows, a query an item,
//         CPUs): many queries, K/V tiles in local memory, online softmax; the keys
//         optionally cut into parts across work-groups, merged by attention_combine.
// The kernels that keep head_dim-sized vectors in registers are built with
// -DATTN_HD=head_dim (a multiple of 4).
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

#ifndef ATTN_HD
#define ATTN_HD 64
#endif
#define ATTN_HD4 (ATTN_HD / 4)

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

// Key interval (lo, hi) of segment seg that the tile qf..ql visits inside the key part
// [p0, p1) (a chunk of the split path, a key part of the flash path); empty when lo >= hi.
static int2 part_bounds(const int mode, const int qf, const int ql, const int Tk,
                        const int block, const int L, const int seg, const int p0,
                        const int p1) {
    int lo, hi;
    seg_bounds(mode, qf, ql, Tk, block, L, seg, &lo, &hi);
    return (int2)(max(lo, p0), min(hi, p1));
}

// Whether the tile qf..ql sees any key of the part [p0, p1).
static bool part_seen(const int mode, const int qf, const int ql, const int Tk,
                      const int block, const int L, const int p0, const int p1) {
    bool seen = false;
    for (int seg = 0; seg < 2; seg++) {
        const int2 r = part_bounds(mode, qf, ql, Tk, block, L, seg, p0, p1);
        seen = seen || r.x < r.y;
    }
    return seen;
}

// Column d of row r of the merge of nchunks partials, chunks in ascending order, those
// without a visible key (m = -inf; their acc may be unwritten) skipped. Layout (of
// attention_split and attention_flash): rows (batch, heads, Tq), nchunks parts each,
//     part = (rows, nchunks, 2) (m, l), then (rows, nchunks, ATTN_HD) unnormalised acc;
//     sum_c exp(m_c - M) acc_c / sum_c exp(m_c - M) l_c,  M = max_c m_c.
// volatile: attention_split's last work-group reads what other work-groups wrote during
// the same launch (past any cache of its own compute unit). The loops are unrolled so
// the loads go out together (a block step merges 32 chunks a row); the order of the sums
// is the loop's.
static float combine_one(volatile __global const float *part, const int rows,
                         const int nchunks, const int r, const int d) {
    volatile __global const float *ml = part + 2 * (size_t)r * nchunks;
    volatile __global const float *acc =
        part + 2 * (size_t)rows * nchunks + (size_t)r * nchunks * ATTN_HD + d;
    float M = -INFINITY;
#pragma unroll 8
    for (int c = 0; c < nchunks; c++)
        M = fmax(M, ml[2 * c]);
    float a = 0.0f, l = 0.0f;
#pragma unroll 8
    for (int c = 0; c < nchunks; c++) {
        const float m = ml[2 * c];
        if (m == -INFINITY)
            continue; // no visible key in this chunk (its acc is never written)
        const float w = exp(m - M);
        l += w * ml[2 * c + 1];
        a += w * acc[(size_t)c * ATTN_HD];
    }
    return l > 0.0f ? a / l : 0.0f;
}

// Where the flash kernels put query qi's head_dim results (head h of a pass of Tq
// queries): with one key part, its row of out, scaled by *f = 1 / l; else the acc of its
// partial of part p (rows = heads * Tq, row h * Tq + qi), unscaled (*f = 1), m and l
// written here when ml (by one item of the row).
static __global float *flash_dst(__global float *out, __global float *part, const int Tq,
                                 const int heads, const int h, const int qi, const int p,
                                 const int nparts, const float m, const float l, const bool ml,
                                 float *f) {
    if (nparts == 1) {
        *f = l > 0.0f ? 1.0f / l : 0.0f;
        return out + ((size_t)qi * heads + h) * ATTN_HD;
    }
    const size_t rows = (size_t)heads * Tq, pr = ((size_t)h * Tq + qi) * nparts + p;
    if (ml) {
        part[2 * pr] = m;
        part[2 * pr + 1] = l;
    }
    *f = 1.0f;
    return part + 2 * rows * nparts + pr * ATTN_HD;
}

// --------------------------------------------------------------------------------------------
// Split path (didcl_ops_attention / didcl_ops_attention_batch), for block steps: T_q <=
// ATTN_QMAX queries of a sequence against its whole K/V cache. The keys are cut into
// chunks of `chunk` keys (src/tuning.c, per device); one work-group per (chunk, head,
// sequence) computes for all T_q queries of its head the chunk's partial softmax:
// max m, sum of exponentials l and the unnormalised acc = sum_j exp(s_j - m) v_j, with
// the chunk's K and V rows and the queries staged in local memory by coalesced float4
// loads. attention_combine then merges the chunks of each (query, head) in ascending
// order. With a single chunk the work-group writes the output itself (no combine).
// Every reduction runs in an order fixed by (T_k, chunk, work-group size), never by the
// batch, so a sequence's output is bitwise the same alone or in any batch.
// Pros: T_k / chunk * heads * batch work-groups (fills a GPU at batch 1), K/V read once
// per step for all queries, no bound on T_k. Cons: a second launch and a partials scratch
// of (batch, heads, T_q, chunks, head_dim + 2) floats when T_k > chunk.
//
// Work in a work-group of n items (n fixed per device, a power of two):
//   scores   s[i][jj] = scale * q_i . k_jj, one (query, key) pair per item and turn;
//            key rows padded by one float4 so a warp's rows fall in distinct banks;
//   stats    G2 = n / ATTN_QMAX items per query: strided partial max, then exp and
//            partial sums, joined in item order;
//   values   one (query, float4 of columns) per item and turn, the chunk's keys in order.
// --------------------------------------------------------------------------------------------

#define ATTN_QMAX 16 // queries per sequence of the split path (the host checks T_q)

__kernel void attention_split(const int Tq,               // queries per sequence (<= ATTN_QMAX)
                              const int Tk,               // keys / values per sequence
                              const int heads,            // heads (head_dim = ATTN_HD)
                              const float scale,          // usually 1/sqrt(head_dim)
                              __global const float *q,    // query i, head h: q[q_off + i*q_stride + h*ATTN_HD + d]
                              const int q_off, const int q_stride,
                              __global const float *k,    // key j:   k[k_off + j*k_stride + h*ATTN_HD + d]
                              const int k_off, const int k_stride,
                              __global const float *v,    // value j: v[v_off + j*v_stride + h*ATTN_HD + d]
                              const int v_off, const int v_stride,
                              const int mask_mode,        // 0..3, see above
                              const int q_offset,         // absolute index of query 0
                              const int block,            // block size (modes 2, 3)
                              const int half_len,         // half length L (mode 3)
                              const int q_bstride,        // sequence b (group id 2) reads q and
                              const int kv_bstride,       // k/v b times these elements further
                              const int chunk,            // keys per chunk (group id 0)
                              __global float *part,       // chunks > 1: (rows, chunks, 2) (m, l)
                                                          // then (rows, chunks, ATTN_HD) acc,
                                                          // rows = (batch, heads, Tq)
                              __global float *out,        // (batch, Tq, heads, ATTN_HD)
                              __global int *done,         // chunks > 1: (batch, heads) counts of
                                                          // finished chunks, 0 between launches;
                                                          // NULL: attention_combine merges
                              __local float4 *kt,         // (chunk, ATTN_HD4 + 1) key rows
                              __local float4 *vt,         // (chunk, ATTN_HD4) value rows
                              __local float4 *qt,         // (Tq, ATTN_HD4) queries
                              __local float *st,          // (Tq, chunk) scores, then exp
                              __local float *stats) {     // (2, Tq, G2) partial max / sums
    __local int last; // this group merges (below)
    const int c = get_group_id(0), nchunks = get_num_groups(0);
    const int h = get_group_id(1), b = get_group_id(2);
    const int lid = get_local_id(0), n = get_local_size(0);
    const int j0 = c * chunk;
    int nk = min(chunk, Tk - j0);
    const int rows = get_num_groups(2) * heads * Tq; // partial rows of the whole launch
    const int row0 = (b * heads + h) * Tq;           // this group's first row
    q += (size_t)b * q_bstride + q_off + h * ATTN_HD;
    k += (size_t)b * kv_bstride + k_off + h * ATTN_HD;
    v += (size_t)b * kv_bstride + v_off + h * ATTN_HD;

    // A chunk that no query of the group sees (causal future, the other half of a 2L
    // mask) runs with no keys: it only records an empty partial (m = -inf, skipped by
    // the merge). (Not a branch around the barriers: as one, PoCL failed the masked
    // tests.)
    if (nchunks > 1 && !part_seen(mask_mode, q_offset, q_offset + Tq - 1, Tk, block, half_len,
                                  j0, j0 + nk))
        nk = 0;
    // Stage the queries and the chunk's keys and values (consecutive items read
    // consecutive float4 of a row).
    for (int e = lid; e < Tq * ATTN_HD4; e += n) {
        const int i = e / ATTN_HD4, d4 = e - i * ATTN_HD4;
        qt[e] = vload4(d4, q + (size_t)i * q_stride);
    }
    for (int e = lid; e < nk * ATTN_HD4; e += n) {
        const int jj = e / ATTN_HD4, d4 = e - jj * ATTN_HD4;
        const size_t j = (size_t)(j0 + jj);
        kt[jj * (ATTN_HD4 + 1) + d4] = vload4(d4, k + j * k_stride);
        vt[e] = vload4(d4, v + j * v_stride);
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // Scores.
    for (int e = lid; e < Tq * nk; e += n) {
        const int i = e / nk, jj = e - i * nk;
        float s = -INFINITY;
        if (attn_allowed(mask_mode, i + q_offset, j0 + jj, block, half_len)) {
            __local const float4 *qi = qt + i * ATTN_HD4, *kj = kt + jj * (ATTN_HD4 + 1);
            float4 d4 = qi[0] * kj[0];
            for (int d = 1; d < ATTN_HD4; d++)
                d4 += qi[d] * kj[d];
            s = (d4.x + d4.y + d4.z + d4.w) * scale;
        }
        st[i * chunk + jj] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // Per query: max over the chunk, exp(s - max) in place and their sum, G2 items each.
    const int G2 = max(1, n / ATTN_QMAX);
    __local float *smax = stats, *ssum = stats + Tq * G2;
    for (int r = lid; r < Tq * G2; r += n) {
        const int i = r / G2, g = r - i * G2;
        float mx = -INFINITY;
        for (int jj = g; jj < nk; jj += G2)
            mx = fmax(mx, st[i * chunk + jj]);
        smax[r] = mx;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int r = lid; r < Tq * G2; r += n) {
        const int i = r / G2, g = r - i * G2;
        float mx = -INFINITY;
        for (int gg = 0; gg < G2; gg++)
            mx = fmax(mx, smax[i * G2 + gg]);
        float sum = 0.0f;
        for (int jj = g; jj < nk; jj += G2) {
            const float p = mx == -INFINITY ? 0.0f : exp(st[i * chunk + jj] - mx);
            st[i * chunk + jj] = p;
            sum += p;
        }
        ssum[r] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // acc[i][d] = sum_jj p[i][jj] v[jj][d], one (query, float4 of columns) per item and
    // turn; then the output (one chunk) or the partial.
    for (int e = lid; e < Tq * ATTN_HD4; e += n) {
        const int i = e / ATTN_HD4, d4 = e - i * ATTN_HD4;
        float4 acc = (float4)(0.0f);
        for (int jj = 0; jj < nk; jj++)
            acc += st[i * chunk + jj] * vt[jj * ATTN_HD4 + d4];
        float sum = ssum[i * G2];
        for (int gg = 1; gg < G2; gg++)
            sum += ssum[i * G2 + gg];
        if (nchunks == 1) {
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            vstore4(acc * inv, d4, out + (((size_t)b * Tq + i) * heads + h) * ATTN_HD);
            continue;
        }
        const size_t pr = (size_t)(row0 + i) * nchunks + c;
        vstore4(acc, d4, part + 2 * (size_t)rows * nchunks + pr * ATTN_HD);
        if (d4 == 0) {
            float mx = smax[i * G2];
            for (int gg = 1; gg < G2; gg++)
                mx = fmax(mx, smax[i * G2 + gg]);
            part[2 * pr] = mx;
            part[2 * pr + 1] = sum;
        }
    }
    if (nchunks == 1 || !done)
        return; // the work-group wrote the output, or attention_combine merges

    // The last work-group of (b, h) to finish merges the chunks (combine_one: ascending
    // order, whichever group is last): one launch fewer a layer than a combine kernel.
    // Every item fences its partials before the group counts itself done (atomic); the
    // count goes back to 0 for the next launch.
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid == 0)
        last = atomic_inc(done + b * heads + h) == nchunks - 1;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!last)
        return;
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    for (int e = lid; e < Tq * ATTN_HD; e += n) {
        const int i = e / ATTN_HD, d = e - i * ATTN_HD;
        out[(((size_t)b * Tq + i) * heads + h) * ATTN_HD + d] =
            combine_one(part, rows, nchunks, row0 + i, d);
    }
    if (lid == 0)
        done[b * heads + h] = 0;
}

// Merges the key parts of a flash pass, or the chunks of attention_split when it leaves
// them (combine_one): one work-item per (row, d) of rows = (batch, heads, Tq).
__kernel void attention_combine(const int Tq,              // queries per sequence
                                const int heads,           // heads (head_dim = ATTN_HD)
                                const int rows,            // batch * heads * Tq
                                const int nchunks,         // chunks per row
                                __global const float *part,// as attention_split / _flash write it
                                __global float *out) {     // (batch, Tq, heads, ATTN_HD)
    const int e = get_global_id(0);
    if (e >= rows * ATTN_HD)
        return;
    const int r = e / ATTN_HD, d = e - r * ATTN_HD;
    const int i = r % Tq, hb = r / Tq, h = hb % heads, b = hb / heads;
    out[(((size_t)b * Tq + i) * heads + h) * ATTN_HD + d] = combine_one(part, rows, nchunks, r, d);
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
// Flash path (didcl_ops_attention_flash): one work-group of 64 items per (tile of ATTN_FQ
// queries, head); K/V tiles of ATTN_BK keys staged in local memory; online softmax
// (running max m and sum l per query, the accumulators rescaled once per key tile), so
// nothing scales with T_k and no scores scratch exists. Register tiling: item (a, b) =
// (lid % 8, lid / 8) owns queries a*TQ.. of the tile, computes their scores against keys
// b*TK.. of each key tile (an 8 x 8 grid of TQ x TK score blocks, q and k from local
// memory, transposed so each operand is one vector load) and their outputs at value
// columns b*TD.. (P from local memory, transposed likewise). Each tile's row max joins the
// 8 items of a query row through local memory in item order, each item keeps the partial
// sum l of its own keys (joined at the end), so every reduction order depends only on the
// shapes. The masks are unions of at most two key intervals per query; a work-group
// visits only the union over its queries (seg_bounds), which skips the masked-out half of
// the 2L score pass and the future of (block-)causal queries, and attn_allowed decides the
// rest.
// Key parts: with nparts = get_num_groups(2) > 1 (didcl_ops_attention_flash picks it from
// the grid, src/tuning.c flash_split / flash_fill), group (tile, head, p) walks only keys
// [p * kpart, (p + 1) * kpart) of those intervals and writes each query's partial (m, its
// max; l; the unnormalised acc) in attention_combine's layout, which merges the parts in
// ascending order; a query that sees no key of a part records m = -inf there (skipped; a
// part no query of the tile sees visits no key tile), one that sees none at all gets zeros. The parts multiply the work-groups (32 query tiles x
// 12 heads is ~3 per SM of an H200 at L = 1024); the order of every sum is still fixed by
// (Tq, Tk, heads, head_dim, mask, tuning). nparts = 1 writes out directly, as before.
// Sizes (from ATTN_HD, <= 48 KB of local memory, <= 64 accumulators an item):
//   head_dim <= 64: 4 queries x 4 keys an item, tiles of 32 queries and 32 keys;
//   <= 128: 4 x 2, tiles of 32 x 16; larger: 2 x 1, tiles of 16 x 8.
// Pros: 2 vector loads from local memory per 16 multiply-adds, many items per head and
// query tile. Cons: global K/V reads of the key tile transpose are 16-byte pieces of rows.
// --------------------------------------------------------------------------------------------

#define ATTN_TQ (ATTN_HD <= 128 ? 4 : 2)                         // queries an item
#define ATTN_TK (ATTN_HD <= 64 ? 4 : ATTN_HD <= 128 ? 2 : 1)     // keys an item in a tile
#define ATTN_TD ((ATTN_HD + 7) / 8)                              // value columns an item
#define ATTN_FQ (8 * ATTN_TQ)                                    // queries a work-group
#define ATTN_BK (8 * ATTN_TK)                                    // keys a tile
#if ATTN_TQ == 4
typedef float4 attn_qvec;
#else
typedef float2 attn_qvec;
#endif
#if ATTN_TK == 4
typedef float4 attn_kvec;
#elif ATTN_TK == 2
typedef float2 attn_kvec;
#else
typedef float attn_kvec;
#endif
#define ATTN_EL(v, i) (((float *)&(v))[i]) // component i of a private vector
// The loops over an item's block (i, j, r) are unrolled so its blocks stay in registers.

__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void attention_flash(const int Tq,               // queries
                     const int Tk,               // keys / values
                     const int heads,            // heads (head_dim = ATTN_HD)
                     const float scale,          // usually 1/sqrt(head_dim)
                     __global const float *q,    // views as for attention_split
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
                     const int kpart,            // keys per part (group id 2), see above
                     __global float *part,       // parts > 1: partials (attention_combine)
                     __local attn_qvec *qT,      // (ATTN_HD, ATTN_FQ) queries, transposed
                     __local attn_kvec *kT,      // (ATTN_HD, ATTN_BK) key tile, transposed
                     __local float *vt,          // (ATTN_BK, ATTN_HD) value tile
                     __local attn_qvec *pT,      // (ATTN_BK, ATTN_FQ) probabilities, transposed
                     __local attn_qvec *red) {   // (8, ATTN_FQ) row maxima, then sums
    const int lid = get_local_id(0), a = lid % 8, b = lid / 8;
    const int i0 = get_group_id(0) * ATTN_FQ, h = get_group_id(1);
    const int qf = i0 + q_offset, ql = min(i0 + ATTN_FQ, Tq) - 1 + q_offset;
    const int p = get_group_id(2), nparts = get_num_groups(2);
    const int p0 = p * kpart, p1 = min(p0 + kpart, Tk); // a part no query sees visits no
    // tile and records m = -inf (no early return: PoCL miscompiled one before the barriers)
    __local float *qs = (__local float *)qT, *ks = (__local float *)kT;
    __local float *ps = (__local float *)pT, *rs = (__local float *)red;
    q += q_off + h * ATTN_HD;
    k += k_off + h * ATTN_HD;
    v += v_off + h * ATTN_HD;

    // The tile's queries, transposed (items of a warp take consecutive queries); rows
    // past Tq are zeros.
    for (int e = lid; e < ATTN_FQ * (ATTN_HD / 4); e += 64) {
        const int qi = e % ATTN_FQ, c = e / ATTN_FQ;
        const float4 x = i0 + qi < Tq ? vload4(c, q + (size_t)(i0 + qi) * q_stride) : (float4)(0.0f);
        qs[(4 * c + 0) * ATTN_FQ + qi] = x.x;
        qs[(4 * c + 1) * ATTN_FQ + qi] = x.y;
        qs[(4 * c + 2) * ATTN_FQ + qi] = x.z;
        qs[(4 * c + 3) * ATTN_FQ + qi] = x.w;
    }

    float m[ATTN_TQ], l[ATTN_TQ], acc[ATTN_TQ][ATTN_TD];
    #pragma unroll
    for (int i = 0; i < ATTN_TQ; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        #pragma unroll
        for (int r = 0; r < ATTN_TD; r++)
            acc[i][r] = 0.0f;
    }
    for (int seg = 0; seg < 2; seg++) {
        const int2 r = part_bounds(mask_mode, qf, ql, Tk, block, half_len, seg, p0, p1);
        const int lo = r.x, hi = r.y;
        for (int j0 = lo; j0 < hi; j0 += ATTN_BK) {
            const int nk = min(ATTN_BK, hi - j0);
            barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is consumed
            // (divisions by the compile-time tile sizes; keys past nk are left unset:
            // their scores are masked and the P . V loop stops at nk)
            for (int e = lid; e < ATTN_BK * (ATTN_HD / 4); e += 64) {
                const int kj = e % ATTN_BK, c = e / ATTN_BK; // keys across a warp's items
                if (kj >= nk)
                    continue;
                const float4 x = vload4(c, k + (size_t)(j0 + kj) * k_stride);
                ks[(4 * c + 0) * ATTN_BK + kj] = x.x;
                ks[(4 * c + 1) * ATTN_BK + kj] = x.y;
                ks[(4 * c + 2) * ATTN_BK + kj] = x.z;
                ks[(4 * c + 3) * ATTN_BK + kj] = x.w;
            }
            for (int e = lid; e < nk * (ATTN_HD / 4); e += 64) {
                const int kj = e / (ATTN_HD / 4), c = e % (ATTN_HD / 4); // coalesced rows
                vstore4(vload4(c, v + (size_t)(j0 + kj) * v_stride), c, vt + kj * ATTN_HD);
            }
            barrier(CLK_LOCAL_MEM_FENCE);

            // Scores of the item's TQ x TK block, masked (and keys past the tile).
            float s[ATTN_TQ][ATTN_TK];
            #pragma unroll
            for (int i = 0; i < ATTN_TQ; i++)
                #pragma unroll
                for (int j = 0; j < ATTN_TK; j++)
                    s[i][j] = 0.0f;
            for (int d = 0; d < ATTN_HD; d++) {
                const attn_qvec qv = qT[d * 8 + a];
                const attn_kvec kv = kT[d * 8 + b];
                #pragma unroll
                for (int i = 0; i < ATTN_TQ; i++)
                    #pragma unroll
                    for (int j = 0; j < ATTN_TK; j++)
                        s[i][j] += ATTN_EL(qv, i) * ATTN_EL(kv, j);
            }
            attn_qvec mt;
            #pragma unroll
            for (int i = 0; i < ATTN_TQ; i++) {
                const int qa = qf + a * ATTN_TQ + i;
                float x = -INFINITY;
                #pragma unroll
                for (int j = 0; j < ATTN_TK; j++) {
                    const int jj = b * ATTN_TK + j;
                    s[i][j] = jj < nk && attn_allowed(mask_mode, qa, j0 + jj, block, half_len)
                                  ? s[i][j] * scale : -INFINITY;
                    x = fmax(x, s[i][j]);
                }
                ATTN_EL(mt, i) = x;
            }
            red[b * 8 + a] = mt;
            barrier(CLK_LOCAL_MEM_FENCE);

            // New row maxima (the 8 items of a row in order), probabilities, rescaling.
            attn_qvec pv[ATTN_TK];
            float corr[ATTN_TQ];
            #pragma unroll
            for (int i = 0; i < ATTN_TQ; i++) {
                float mn = m[i];
                #pragma unroll
                for (int bb = 0; bb < 8; bb++)
                    mn = fmax(mn, rs[bb * ATTN_FQ + a * ATTN_TQ + i]);
                corr[i] = mn == -INFINITY ? 1.0f : exp(m[i] - mn); // exp(-inf) = 0 at first
                l[i] *= corr[i];
                #pragma unroll
                for (int j = 0; j < ATTN_TK; j++) {
                    const float p = mn == -INFINITY ? 0.0f : exp(s[i][j] - mn);
                    l[i] += p;
                    ATTN_EL(pv[j], i) = p;
                }
                m[i] = mn;
            }
            #pragma unroll
            for (int j = 0; j < ATTN_TK; j++)
                pT[(b * ATTN_TK + j) * 8 + a] = pv[j];
            barrier(CLK_LOCAL_MEM_FENCE);

            // acc = corr * acc + P . V over the tile's keys.
            #pragma unroll
            for (int i = 0; i < ATTN_TQ; i++)
                #pragma unroll
                for (int r = 0; r < ATTN_TD; r++)
                    acc[i][r] *= corr[i];
            for (int kj = 0; kj < nk; kj++) {
                const attn_qvec p = pT[kj * 8 + a];
                __local const float *vr = vt + kj * ATTN_HD + b * ATTN_TD;
#if ATTN_TD % 4 == 0
                #pragma unroll
                for (int r = 0; r < ATTN_TD; r += 4) {
                    const float4 x = vload4(0, vr + r);
                    #pragma unroll
                    for (int i = 0; i < ATTN_TQ; i++) {
                        acc[i][r] += ATTN_EL(p, i) * x.x;
                        acc[i][r + 1] += ATTN_EL(p, i) * x.y;
                        acc[i][r + 2] += ATTN_EL(p, i) * x.z;
                        acc[i][r + 3] += ATTN_EL(p, i) * x.w;
                    }
                }
#else
                #pragma unroll
                for (int r = 0; r < ATTN_TD; r++) {
                    const float x = b * ATTN_TD + r < ATTN_HD ? vr[r] : 0.0f;
                    #pragma unroll
                    for (int i = 0; i < ATTN_TQ; i++)
                        acc[i][r] += ATTN_EL(p, i) * x;
                }
#endif
            }
        }
    }

    // Row sums: the items' partial sums (all taken against the same maxima), in order.
    barrier(CLK_LOCAL_MEM_FENCE);
    attn_qvec lv;
    #pragma unroll
    for (int i = 0; i < ATTN_TQ; i++)
        ATTN_EL(lv, i) = l[i];
    red[b * 8 + a] = lv;
    barrier(CLK_LOCAL_MEM_FENCE);
    #pragma unroll
    for (int i = 0; i < ATTN_TQ; i++) {
        const int qi = i0 + a * ATTN_TQ + i;
        float sum = 0.0f;
        #pragma unroll
        for (int bb = 0; bb < 8; bb++)
            sum += rs[bb * ATTN_FQ + a * ATTN_TQ + i];
        if (qi >= Tq)
            continue;
        float f;
        __global float *o = flash_dst(out, part, Tq, heads, h, qi, p, nparts, m[i], sum, b == 0,
                                      &f) + b * ATTN_TD;
        #pragma unroll
        for (int r = 0; r < ATTN_TD; r++)
            if (b * ATTN_TD + r < ATTN_HD)
                o[r] = acc[i][r] * f;
    }
}

// --------------------------------------------------------------------------------------------
// Flash path, CPU variant (attention_flash_rows; src/tuning.c picks it for CPU devices):
// one query per work-item, a work-group per (tile of queries, head), K/V tiles of
// ATTN_RBK keys in local memory read by every item alike, q and acc in float4 registers.
// Same contract, masks, skipping, key parts and fixed key order as attention_flash. On PoCL the
// items of a group become one vectorised loop and this runs 5x faster than the register
// tiling above, whose per-item blocks PoCL keeps in memory across the barriers; on GPUs
// its one query per item leaves too few warps and loads (docs/performance.md).
// Pros: no cross-item reductions, few barriers. Cons: 2 * head_dim floats of registers
// an item, every item reads every key tile element.
// --------------------------------------------------------------------------------------------

#define ATTN_RBK (ATTN_HD <= 64 ? 32 : 8) // keys per tile: 2 * ATTN_RBK * ATTN_HD floats local

__kernel void attention_flash_rows(const int Tq,               // queries
                                   const int Tk,               // keys / values
                                   const int heads,            // heads (head_dim = ATTN_HD)
                                   const float scale,          // usually 1/sqrt(head_dim)
                                   __global const float *q,    // views as for attention_split
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
                                   const int kpart,            // as for attention_flash
                                   __global float *part,
                                   __local float4 *kt,         // (ATTN_RBK, ATTN_HD4) key tile
                                   __local float4 *vt) {       // (ATTN_RBK, ATTN_HD4) value tile
    const int lid = get_local_id(0), nq = get_local_size(0);
    const int i0 = get_group_id(0) * nq, h = get_group_id(1), i = i0 + lid;
    const bool live = i < Tq;
    const int qa = i + q_offset;
    const int qf = i0 + q_offset, ql = min(i0 + nq, Tq) - 1 + q_offset;
    const int p = get_group_id(2), nparts = get_num_groups(2);
    const int p0 = p * kpart, p1 = min(p0 + kpart, Tk);

    float4 qr[ATTN_HD4], acc[ATTN_HD4];
    for (int c = 0; c < ATTN_HD4; c++) {
        qr[c] = live ? vload4(c, q + q_off + (size_t)i * q_stride + h * ATTN_HD) : (float4)(0.0f);
        acc[c] = (float4)(0.0f);
    }
    float m = -INFINITY, l = 0.0f;
    for (int seg = 0; seg < 2; seg++) {
        const int2 r = part_bounds(mask_mode, qf, ql, Tk, block, half_len, seg, p0, p1);
        const int lo = r.x, hi = r.y;
        for (int j0 = lo; j0 < hi; j0 += ATTN_RBK) {
            const int nk = min(ATTN_RBK, hi - j0);
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
            float s[ATTN_RBK];
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
    float f;
    __global float *o = flash_dst(out, part, Tq, heads, h, i, p, nparts, m, l, true, &f);
    for (int c = 0; c < ATTN_HD4; c++)
        vstore4(acc[c] * f, c, o);
}

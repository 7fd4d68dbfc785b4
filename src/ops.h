/*
 * ops.h — the transformer ops as OpenCL kernels (cl/embed.cl, norm.cl, rope.cl,
 * attention.cl, gemv.cl, gemm.cl, softmax.cl, elementwise.cl), enqueued on rt->queue.
 *
 * Every wrapper validates its shapes, sets the kernel arguments and enqueues; it does
 * not wait (the queue is in order, so ops run in call order; read results back with a
 * blocking read or clFinish). The caller owns every cl_mem and MUST size it for the
 * shapes it passes: buffers are not bounds-checked here. Activations are float;
 * large weight matrices (product W, embedding tables) may be stored as half (DIDCL_WTYPE_F16,
 * read with vload_half, no fp16 extension needed). Shape letters: T rows (tokens),
 * C/H channels, V vocabulary, M rows of a product, N outputs, K inputs.
 * docs/kernels.md lists the families, their shapes and the tolerances of their tests.
 */
#ifndef DIDCL_OPS_H
#define DIDCL_OPS_H

#include <CL/cl.h>

#include "didcl.h"

/* Storage of a weight matrix on the device. */
enum didcl_wtype {
    DIDCL_WTYPE_F32 = 0, /* float */
    DIDCL_WTYPE_F16 = 1, /* IEEE half bits (uint16), see didcl_numeric_half_from_float */
};

/* Activation applied after a product's bias. */
enum didcl_act {
    DIDCL_ACT_NONE = 0,
    DIDCL_ACT_GELU = 1, /* tanh approximation (BD3-LM MLP, GPT-2 gelu_new) */
};

/* A row view of a float buffer: row r, head h, element d is at
 * buf[off + r * stride + h * head_dim + d]. */
typedef struct didcl_ops_rows {
    cl_mem buf;
    int off;    /* elements */
    int stride; /* elements between rows */
} didcl_ops_rows;

/* ---- embedding ---- */

/* out (T, H) = table[ids[t]] (+ pos[pos_start + t] when pos is not NULL). ids (T,) int32
 * in [0, V) (others give zero rows); table (V, H) and pos (P, H) in storage wt; with pos,
 * pos_start + T MUST be <= P (checked). */
didcl_status didcl_ops_embed(didcl_runtime_t rt, int T, int H, int V, cl_mem ids, cl_mem table,
                             cl_mem pos, int P, int pos_start, enum didcl_wtype wt, cl_mem out);

/* ---- normalization ---- */

/* out (T, C) = (LN(x) * w) * (1 + scale) + shift, LN weight-only (BD3-LM). shift and scale
 * are read from buffer mod at element offsets shift_off and scale_off; mod_stride is 0
 * for per-channel (C,) values or the row stride of per-row values. x (T, C), w (C,).
 * out may be x. */
didcl_status didcl_ops_layernorm_modulate(didcl_runtime_t rt, int T, int C, float eps, cl_mem x,
                                          cl_mem w, cl_mem mod, int shift_off, int scale_off,
                                          int mod_stride, cl_mem out);

/* The same on gathered rows: output row t normalizes row sel[t] of x (sel (T,) int32 on
 * the device; NULL: row t, as above). out MUST NOT be x when sel is set. */
didcl_status didcl_ops_layernorm_modulate_rows(didcl_runtime_t rt, int T, int C, float eps,
                                               cl_mem x, cl_mem sel, cl_mem w, cl_mem mod,
                                               int shift_off, int scale_off, int mod_stride,
                                               cl_mem out);

/* The DiT's gated residual fused with the next LayerNorm + modulate: x (T, C) += gate * y,
 * then out = (LN(x) * w) * (1 + scale) + shift, gate/shift/scale read from mod at their
 * element offsets (mod_stride as above). x is updated in place; out MUST NOT be x or y. */
didcl_status didcl_ops_residual_layernorm_modulate(didcl_runtime_t rt, int T, int C, float eps,
                                                   cl_mem x, cl_mem y, cl_mem w, cl_mem mod,
                                                   int gate_off, int shift_off, int scale_off,
                                                   int mod_stride, cl_mem out);

/* out (T, C) = LN(x) * w + b (GPT-2). out may be x. */
didcl_status didcl_ops_layernorm_bias(didcl_runtime_t rt, int T, int C, float eps, cl_mem x,
                                      cl_mem w, cl_mem b, cl_mem out);

/* ---- rotary embedding ---- */

/* Rotate, in place, Q and K of the fused qkv (T, 3, heads, head_dim) by RoPE
 * (rotate-half) at positions pos_start + t; inv_freq (head_dim/2,) from
 * didcl_numeric_rope_inv_freq. head_dim MUST be even. */
didcl_status didcl_ops_rope(didcl_runtime_t rt, int T, int heads, int head_dim, int pos_start,
                            cl_mem inv_freq, cl_mem qkv);

/* The same on any row layout: row t of view holds `parts` consecutive (heads, head_dim)
 * groups to rotate, from view.off + t * view.stride (e.g. a K cache: parts 1, stride
 * heads*head_dim). */
didcl_status didcl_ops_rope_rows(didcl_runtime_t rt, int T, int heads, int head_dim,
                                 int pos_start, cl_mem inv_freq, didcl_ops_rows view, int parts);

/* RoPE fused with the KV-cache write of a cached step over batch sequences of n rows:
 * row t of qkv (batch * n, 3, heads, head_dim) is sequence t / n at position
 * pos_start + t % n; its Q is rotated in place, its K rotated and its V copied into cache
 * row (t / n) * seq_rows + pos_start + t % n of cache (rows (2, heads, head_dim)). qkv's
 * K and V stay unrotated. */
didcl_status didcl_ops_rope_cache(didcl_runtime_t rt, int batch, int n, int heads, int head_dim,
                                  int pos_start, cl_mem inv_freq, cl_mem qkv, cl_mem cache,
                                  int seq_rows);

/* The same for one sequence at scattered positions: row t of qkv (T, 3, heads, head_dim)
 * is at position pos[t] (pos: a device buffer of T distinct int32 in [0, cache_rows));
 * its Q is rotated in place, its K rotated and its V copied into cache row pos[t]. The
 * positions are the caller's to check (the K/V-reuse forward does, on the host). */
didcl_status didcl_ops_rope_cache_at(didcl_runtime_t rt, int T, int heads, int head_dim,
                                     cl_mem pos, cl_mem inv_freq, cl_mem qkv, cl_mem cache);

/* ---- attention ---- */

enum didcl_attn_mode {
    DIDCL_ATTN_NONE = 0,         /* bidirectional: every key */
    DIDCL_ATTN_CAUSAL = 1,       /* key j <= query's absolute index (GPT-2) */
    DIDCL_ATTN_BLOCK_CAUSAL = 2, /* block(j) <= block(query) (BD3-LM without cache) */
    DIDCL_ATTN_BD3_2L = 3,       /* BD3-LM's x_t (+) x_0 mask, spec §2.3 */
};

/* Which query may see which key. Query i has absolute index i + q_offset in key
 * coordinates (e.g. T_k - T_q for new causal queries after cached keys). block is the
 * block size (modes BLOCK_CAUSAL, BD3_2L); half_len the length L of each half (BD3_2L,
 * where keys 0..L-1 are x_t and L..2L-1 are x_0). */
typedef struct didcl_attn_mask {
    enum didcl_attn_mode mode;
    int q_offset;
    int block;
    int half_len;
} didcl_attn_mask;

/* Queries per sequence that didcl_ops_attention(_batch) take at most. */
#define DIDCL_OPS_ATTN_MAX_Q 16

/* out (Tq, heads, head_dim) = softmax(scale * Q K^T | mask) V per head, fp32, for few
 * queries (Tq <= DIDCL_OPS_ATTN_MAX_Q: block steps) against any number of keys. For the
 * fused QKV (T, 3, heads, head_dim) of width W = 3 * heads * head_dim the views are
 * {qkv, 0, W}, {qkv, heads*head_dim, W}, {qkv, 2*heads*head_dim, W}. The split path
 * (cl/attention.cl attention_split, then attention_combine): the keys in chunks of
 * rt->attn.chunk across work-groups, merged in a fixed order. head_dim MUST be a multiple
 * of 4, at most 256; the program is built per head_dim. scratch MUST hold
 * didcl_ops_attention_scratch_bytes(rt, 1, Tq, Tk, heads, head_dim) bytes (NULL is fine
 * when that is 0: a single chunk). */
didcl_status didcl_ops_attention(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim,
                                 float scale, didcl_ops_rows q, didcl_ops_rows k,
                                 didcl_ops_rows v, const didcl_attn_mask *mask, cl_mem scratch,
                                 cl_mem out);

/* The same over a batch of sequences in one launch: sequence b reads q, k and v at
 * element offsets b * q_bstride and b * kv_bstride past their views (e.g. its rows of a
 * stacked qkv and its own KV cache) and writes out rows [b * Tq, (b + 1) * Tq). Each
 * sequence's rows are bitwise what it alone gives. scratch as above, for batch. */
didcl_status didcl_ops_attention_batch(didcl_runtime_t rt, int batch, int Tq, int Tk, int heads,
                                       int head_dim, float scale, didcl_ops_rows q,
                                       didcl_ops_rows k, didcl_ops_rows v,
                                       const didcl_attn_mask *mask, int q_bstride,
                                       int kv_bstride, cl_mem scratch, cl_mem out);

/* Bytes of scratch didcl_ops_attention_batch needs for these shapes: the per-chunk
 * partials, batch * heads * Tq * chunks * (head_dim + 2) floats; 0 for one chunk. */
size_t didcl_ops_attention_scratch_bytes(didcl_runtime_t rt, int batch, int Tq, int Tk,
                                         int heads, int head_dim);

/* The same attention, flash-style (cl/attention.cl): K/V tiles in local memory, online
 * softmax, no scores scratch and no bound on Tk; masked-out key tiles are skipped. The
 * register-tiled attention_flash (work-groups of exactly 64 items: DIDCL_ERR_UNSUPPORTED
 * on a device that allows fewer), or attention_flash_rows (a query a work-item) where
 * rt->attn.flash_rows says so (CPUs, src/tuning.c). The keys may be cut into parts across
 * work-groups (rt->attn.flash_split / flash_fill), their partials merged in ascending
 * order by attention_combine; the result depends on the shapes and the tuning alone.
 * scratch MUST hold didcl_ops_attention_flash_scratch_bytes(rt, Tq, Tk, heads, head_dim)
 * bytes (NULL is fine when that is 0: one part). head_dim MUST be a multiple of 4 (at
 * most 256); the program is built per head_dim. */
didcl_status didcl_ops_attention_flash(didcl_runtime_t rt, int Tq, int Tk, int heads,
                                       int head_dim, float scale, didcl_ops_rows q,
                                       didcl_ops_rows k, didcl_ops_rows v,
                                       const didcl_attn_mask *mask, cl_mem scratch,
                                       cl_mem out);

/* Bytes of scratch that any didcl_ops_attention_flash of at most Tq queries and Tk keys
 * needs for its key parts' partials (heads * Tq * parts * (head_dim + 2) floats); 0 when
 * every such pass runs in one part. */
size_t didcl_ops_attention_flash_scratch_bytes(didcl_runtime_t rt, int Tq, int Tk, int heads,
                                               int head_dim);

/* The key parts didcl_ops_attention_flash runs these shapes in, with the device's tuning
 * (1: no partials, no merge). */
int didcl_ops_attention_flash_parts(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim);

/* The same attention through CLBlast, for wide problems (Tq in the hundreds): per head
 * S = scale * Q K^T by strided batched SGEMM into scratch, a masking softmax kernel over
 * its rows, then O = P V by SGEMM. scratch MUST hold heads * Tq * Tk floats. Views need
 * stride >= heads * head_dim (CLBlast's leading-dimension rule). */
didcl_status didcl_ops_attention_wide(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim,
                                      float scale, didcl_ops_rows q, didcl_ops_rows k,
                                      didcl_ops_rows v, const didcl_attn_mask *mask,
                                      cl_mem scratch, cl_mem out);

/* ---- products ---- */

/* y (M, N) = act(x (M, K) . W (N, K)^T + b (N,)); b may be NULL. One launch of the skinny
 * kernel (cl/gemv.cl, tiled per device by rt->gemm): W is read once for all M rows, and
 * row m's result does not depend on M (a fixed reduction order over K). */
didcl_status didcl_ops_gemm_skinny(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                                   enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y);

/* The same product by the second tiling of cl/gemv.cl (blocks of rows and columns, K
 * staged in local memory; for tens to hundreds of rows): bitwise equal to
 * didcl_ops_gemm_skinny for every M under the same rt->gemm. */
didcl_status didcl_ops_gemm_tiled(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                                  enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y);

/* The same product by gemm_wide (cl/gemm.cl), a tiled SGEMM for many rows: x and W
 * staged in local memory tile by tile, register blocks per work-item, bias and GELU in
 * the epilogue, half W widened as it is staged; the tiling from rt->gemm.wide picked by
 * the grid's size. Row m's result does not depend on M. */
didcl_status didcl_ops_gemm_wide(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                                 enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y);

/* C = alpha * A . op(B) + beta * C through CLBlast (row-major). A (M, K) at a_off with
 * leading dimension lda; B (K, N), or (N, K) when trans_b (then op(B) = B^T, the
 * [out, in] weight layout); C (M, N). Offsets and leading dimensions in elements.
 * CLBlast failures give DIDCL_ERR_CLBLAST with its status code in the message. */
didcl_status didcl_ops_sgemm(didcl_runtime_t rt, int M, int N, int K, float alpha, cl_mem A,
                             size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb,
                             int trans_b, float beta, cl_mem C, size_t c_off, size_t ldc);

/* y (batch * n, N) = act(x . W^T + b) over `batch` stacked sequences of n rows, each
 * sequence's rows bitwise what a call with batch 1 gives for it alone: the path is chosen
 * by n and the device (rt->gemm). n below the device's switch point (or half weights
 * without staging): one launch over all rows of gemm_skinny, or of gemm_tiled from
 * rt->gemm.tiled_m rows in all (the same bits; half weights of many rows in all
 * widened first into stage, chunk by chunk, which gives the same bits too); else, where
 * the device runs wide products by gemm_wide (rt->gemm.wide_kernel), one launch of it
 * over all rows (half weights read directly, or widened whole into stage first where
 * rt->gemm.wide_stage_half says so and they fit it); else CLBlast SGEMM per sequence,
 * then bias and GELU
 * kernels, half weights first widened into stage. stage: NULL, or a buffer of
 * didcl_ops_linear_stage_bytes for the largest (N, K) the caller multiplies (without it
 * half weights always take gemv.cl's kernels as stored, or gemm_wide). */
didcl_status didcl_ops_linear(didcl_runtime_t rt, int batch, int n, int N, int K, cl_mem x,
                              cl_mem W, enum didcl_wtype wt, cl_mem b, enum didcl_act act,
                              cl_mem y, cl_mem stage);

/* 1 when didcl_ops_linear computes each row of a sequence of n rows exactly as it
 * computes that row alone (gemm_skinny or gemm_tiled, which agree bitwise for any M):
 * such rows may be gathered and multiplied on their own without changing a bit. 0 on
 * the wide paths (CLBlast, gemm_wide). */
int didcl_ops_linear_rowwise(didcl_runtime_t rt, int n, enum didcl_wtype wt, cl_mem stage);

/* Bytes of the staging buffer didcl_ops_linear needs for half weights (N, K) on this
 * device: at most 32 MB whatever the shape; 0 when it never stages (fp32 weights). */
size_t didcl_ops_linear_stage_bytes(didcl_runtime_t rt, int N, int K, enum didcl_wtype wt);

/* ---- element-wise ---- */

/* y (n,) += a * x (n,) */
didcl_status didcl_ops_axpy(didcl_runtime_t rt, int n, float a, cl_mem x, cl_mem y);
/* x (n,) *= a */
didcl_status didcl_ops_scale(didcl_runtime_t rt, int n, float a, cl_mem x);
/* x (T, C) += gate * y (T, C); gate[c] read at gate[gate_off + t * gate_stride + c]
 * (gate_stride 0: per-channel). */
didcl_status didcl_ops_gated_residual(didcl_runtime_t rt, int T, int C, cl_mem x, cl_mem y,
                                      cl_mem gate, int gate_off, int gate_stride);
/* y (M, N) += b (N,) */
didcl_status didcl_ops_bias_add(didcl_runtime_t rt, int M, int N, cl_mem y, cl_mem b);
/* x (n,) = gelu_tanh(x), in place */
didcl_status didcl_ops_gelu(didcl_runtime_t rt, int n, cl_mem x);

/* ---- softmax ---- */

/* out (R, V) = log_softmax(x (R, V)) per row, the excluded index excl (the mask token;
 * -1 for none) set to -inf and left out of the normalization. out may be x. */
didcl_status didcl_ops_log_softmax(didcl_runtime_t rt, int R, int V, int excl, cl_mem x,
                                   cl_mem out);

/* stats (R, 2) = per row (max, log-sum-exp) of x (R, V) without excl. */
didcl_status didcl_ops_max_lse(didcl_runtime_t rt, int R, int V, int excl, cl_mem x,
                               cl_mem stats);

/* out[r] (R,) = x[first + r, tgt[r]] - lse(first + r) from didcl_ops_max_lse's stats of
 * x (first + R, V); 0 where tgt[r] < 0, -inf where tgt[r] == excl (cl/logits.cl). */
didcl_status didcl_ops_gather_logprob(didcl_runtime_t rt, int R, int V, int first, int excl,
                                      cl_mem x, cl_mem stats, cl_mem tgt, cl_mem out);

/* ---- warm-up ---- */

/* Build every kernel family (and, with half, the half-weight variants) through the disk
 * cache, and with clblast run one tiny call of each CLBlast routine these ops use, so
 * that the first forward after it compiles nothing. */
didcl_status didcl_ops_prepare(didcl_runtime_t rt, int half, int clblast);

#endif /* DIDCL_OPS_H */

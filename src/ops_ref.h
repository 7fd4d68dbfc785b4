/*
 * ops_ref.h — plain-C reference of every op in ops.h, on host float arrays: clear loops,
 * double accumulators, no tricks. tests/check_ops compares the kernels with it in
 * detail, and didcl_selftest_run (selftest.c) on any device the user picks; it is the
 * CPU path the model code is checked against. Part of libdidcl-internal, hidden in
 * libdidcl.so. Shapes and semantics mirror the ops.h functions of the same name;
 * outputs come first.
 */
#ifndef DIDCL_OPS_REF_H
#define DIDCL_OPS_REF_H

#include <stdint.h>

#include "ops.h"

/* GELU, tanh approximation. */
float didcl_ref_gelu(float x);

/* out (T, H) = table[ids[t]] (+ pos[pos_start + t] if pos); ids outside [0, V) give
 * zero rows. */
void didcl_ref_embed(float *out, const int32_t *ids, const float *table, const float *pos,
                     int T, int H, int V, int pos_start);

/* out = (LN(x) * w) * (1 + mod[scale_off + t*mod_stride + c]) + mod[shift_off + ...]. */
void didcl_ref_layernorm_modulate(float *out, const float *x, const float *w, const float *mod,
                                  int shift_off, int scale_off, int mod_stride, int T, int C,
                                  float eps);

/* out = LN(x) * w + b. */
void didcl_ref_layernorm_bias(float *out, const float *x, const float *w, const float *b, int T,
                              int C, float eps);

/* RoPE rotate-half, in place, on Q and K of qkv (T, 3, heads, head_dim). */
void didcl_ref_rope(float *qkv, const float *inv_freq, int T, int heads, int head_dim,
                    int pos_start);

/* RoPE on `parts` (heads, head_dim) groups per row, rows at buf + off + t * stride. */
void didcl_ref_rope_rows(float *buf, int off, int stride, int parts, const float *inv_freq,
                         int T, int heads, int head_dim, int pos_start);

/* Whether query index qa (absolute, i + q_offset) may see key j under mask. */
int didcl_ref_attn_allowed(const didcl_attn_mask *mask, int qa, int j);

/* out (Tq, heads, head_dim); q/k/v element (r, h, d) at p[off + r*stride + h*head_dim + d];
 * att (Tk,) is scratch. */
void didcl_ref_attention(float *out, double *att, const float *q, int q_off, int q_stride,
                         const float *k, int k_off, int k_stride, const float *v, int v_off,
                         int v_stride, int Tq, int Tk, int heads, int head_dim, float scale,
                         const didcl_attn_mask *mask);

/* y (M, N) = act(x (M, K) . W (N, K)^T + b); b may be NULL. */
void didcl_ref_linear(float *y, const float *x, const float *W, const float *b, int M, int N,
                      int K, enum didcl_act act);

/* C (M, N) = alpha * A (M, K, lda) . op(B) + beta * C (ldc); B (K, N, ldb), or (N, K) if
 * trans_b. */
void didcl_ref_sgemm(float *C, const float *A, const float *B, int M, int N, int K, float alpha,
                     int lda, int ldb, int trans_b, float beta, int ldc);

/* x (T, C) += gate[gate_off + t*gate_stride + c] * y. */
void didcl_ref_gated_residual(float *x, const float *y, const float *gate, int gate_off,
                              int gate_stride, int T, int C);

/* out (R, V) = log_softmax(x) per row with excl (or -1) at -inf. out may be x. */
void didcl_ref_log_softmax(float *out, const float *x, int R, int V, int excl);

/* stats (R, 2) = (max, log-sum-exp) per row, excl left out. */
void didcl_ref_max_lse(float *stats, const float *x, int R, int V, int excl);

#endif /* DIDCL_OPS_REF_H */

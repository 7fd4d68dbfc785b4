/*
 * ops_ref.c — the plain-C reference of the transformer ops (see ops_ref.h). Written
 * for clarity, not speed: one loop nest per formula, accumulations in double.
 */
#include <math.h>

#include "ops_ref.h"

/* ------------------------------------------------------------------------------------
 * Activation
 * ------------------------------------------------------------------------------------ */

float didcl_ref_gelu(float x) {
    const double k = 0.7978845608028654; /* sqrt(2/pi) */
    const double xd = x;
    return (float)(0.5 * xd * (1.0 + tanh(k * (xd + 0.044715 * xd * xd * xd))));
}

/* ------------------------------------------------------------------------------------
 * Embedding and normalization
 * ------------------------------------------------------------------------------------ */

void didcl_ref_embed(float *out, const int32_t *ids, const float *table, const float *pos,
                     int T, int H, int V, int pos_start) {
    for (int t = 0; t < T; t++) {
        const int id = ids[t];
        for (int c = 0; c < H; c++) {
            float e = (id >= 0 && id < V) ? table[(size_t)id * H + c] : 0.0f;
            if (pos)
                e += pos[(size_t)(pos_start + t) * H + c];
            out[(size_t)t * H + c] = e;
        }
    }
}

/* Mean and 1/sqrt(var + eps) of one row. */
static void row_stats(const float *x, int C, float eps, double *mean, double *rstd) {
    double s = 0.0;
    for (int c = 0; c < C; c++)
        s += x[c];
    const double m = s / C;
    double q = 0.0;
    for (int c = 0; c < C; c++)
        q += (x[c] - m) * (x[c] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(q / C + (double)eps);
}

void didcl_ref_layernorm_modulate(float *out, const float *x, const float *w, const float *mod,
                                  int shift_off, int scale_off, int mod_stride, int T, int C,
                                  float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C;
        const float *shift = mod + shift_off + (size_t)t * mod_stride;
        const float *scale = mod + scale_off + (size_t)t * mod_stride;
        double mean, rstd;
        row_stats(xr, C, eps, &mean, &rstd);
        for (int c = 0; c < C; c++)
            out[(size_t)t * C + c] =
                (float)(((xr[c] - mean) * rstd * w[c]) * (1.0 + scale[c]) + shift[c]);
    }
}

void didcl_ref_layernorm_bias(float *out, const float *x, const float *w, const float *b, int T,
                              int C, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C;
        double mean, rstd;
        row_stats(xr, C, eps, &mean, &rstd);
        for (int c = 0; c < C; c++)
            out[(size_t)t * C + c] = (float)((xr[c] - mean) * rstd * w[c] + b[c]);
    }
}

/* ------------------------------------------------------------------------------------
 * RoPE
 * ------------------------------------------------------------------------------------ */

void didcl_ref_rope_rows(float *buf, int off, int stride, int parts, const float *inv_freq,
                         int T, int heads, int head_dim, int pos_start) {
    const int half = head_dim / 2;
    for (int t = 0; t < T; t++)
        for (int part = 0; part < parts; part++)
            for (int h = 0; h < heads; h++) {
                float *v = buf + off + (size_t)t * stride + ((size_t)part * heads + h) * head_dim;
                for (int j = 0; j < half; j++) {
                    const float a = (float)(pos_start + t) * inv_freq[j];
                    const double cs = cosf(a), sn = sinf(a);
                    const double x1 = v[j], x2 = v[j + half];
                    v[j] = (float)(x1 * cs - x2 * sn);
                    v[j + half] = (float)(x2 * cs + x1 * sn);
                }
            }
}

void didcl_ref_rope(float *qkv, const float *inv_freq, int T, int heads, int head_dim,
                    int pos_start) {
    /* Q and K are the first two of the three parts of each row; V is left alone */
    didcl_ref_rope_rows(qkv, 0, 3 * heads * head_dim, 2, inv_freq, T, heads, head_dim, pos_start);
}

/* ------------------------------------------------------------------------------------
 * Attention
 * ------------------------------------------------------------------------------------ */

int didcl_ref_attn_allowed(const didcl_attn_mask *mask, int qa, int j) {
    switch (mask->mode) {
    case DIDCL_ATTN_CAUSAL:
        return j <= qa;
    case DIDCL_ATTN_BLOCK_CAUSAL:
        return j / mask->block <= qa / mask->block;
    case DIDCL_ATTN_BD3_2L: {
        const int L = mask->half_len, B = mask->block;
        const int q_x0 = qa >= L, k_x0 = j >= L;
        const int qb = (qa % L) / B, kb = (j % L) / B;
        if (q_x0 == k_x0 && qb == kb)
            return 1; /* M_BD: block diagonal */
        if (!q_x0 && k_x0 && qb > kb)
            return 1; /* M_OBC: x_t sees earlier clean blocks */
        if (q_x0 && k_x0 && qb >= kb)
            return 1; /* M_BC: block-causal within x_0 */
        return 0;
    }
    default:
        return 1;
    }
}

void didcl_ref_attention(float *out, double *att, const float *q, int q_off, int q_stride,
                         const float *k, int k_off, int k_stride, const float *v, int v_off,
                         int v_stride, int Tq, int Tk, int heads, int head_dim, float scale,
                         const didcl_attn_mask *mask) {
    for (int i = 0; i < Tq; i++)
        for (int h = 0; h < heads; h++) {
            const float *qi = q + q_off + (size_t)i * q_stride + (size_t)h * head_dim;
            float *o = out + ((size_t)i * heads + h) * head_dim;
            /* scores of the visible keys (-inf elsewhere) and their max */
            double mx = -INFINITY;
            for (int j = 0; j < Tk; j++) {
                att[j] = -INFINITY;
                if (!didcl_ref_attn_allowed(mask, i + mask->q_offset, j))
                    continue;
                const float *kj = k + k_off + (size_t)j * k_stride + (size_t)h * head_dim;
                double s = 0.0;
                for (int d = 0; d < head_dim; d++)
                    s += (double)qi[d] * kj[d];
                att[j] = s * scale;
                if (att[j] > mx)
                    mx = att[j];
            }
            /* softmax weights */
            double sum = 0.0;
            for (int j = 0; j < Tk; j++) {
                att[j] = mx == -INFINITY ? 0.0 : exp(att[j] - mx);
                sum += att[j];
            }
            /* weighted sum of the values; a query with no visible key gets zeros */
            for (int d = 0; d < head_dim; d++) {
                double od = 0.0;
                for (int j = 0; j < Tk; j++)
                    od += att[j] * v[v_off + (size_t)j * v_stride + (size_t)h * head_dim + d];
                o[d] = sum > 0.0 ? (float)(od / sum) : 0.0f;
            }
        }
}

/* ------------------------------------------------------------------------------------
 * Products
 * ------------------------------------------------------------------------------------ */

void didcl_ref_linear(float *y, const float *x, const float *W, const float *b, int M, int N,
                      int K, enum didcl_act act) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0;
            for (int kk = 0; kk < K; kk++)
                s += (double)x[(size_t)m * K + kk] * W[(size_t)n * K + kk];
            y[(size_t)m * N + n] = act == DIDCL_ACT_GELU ? didcl_ref_gelu((float)s) : (float)s;
        }
}

void didcl_ref_sgemm(float *C, const float *A, const float *B, int M, int N, int K, float alpha,
                     int lda, int ldb, int trans_b, float beta, int ldc) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0.0;
            for (int kk = 0; kk < K; kk++) {
                const float bv = trans_b ? B[(size_t)n * ldb + kk] : B[(size_t)kk * ldb + n];
                s += (double)A[(size_t)m * lda + kk] * bv;
            }
            float *c = &C[(size_t)m * ldc + n];
            *c = (float)(alpha * s + (beta != 0.0f ? (double)beta * *c : 0.0));
        }
}

/* ------------------------------------------------------------------------------------
 * Element-wise and softmax
 * ------------------------------------------------------------------------------------ */

void didcl_ref_gated_residual(float *x, const float *y, const float *gate, int gate_off,
                              int gate_stride, int T, int C) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            x[(size_t)t * C + c] += gate[gate_off + (size_t)t * gate_stride + c] * y[(size_t)t * C + c];
}

/* Max and log-sum-exp of one row, excl left out. */
static void row_max_lse(const float *xr, int V, int excl, double *mx_out, double *lse_out) {
    double mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (i != excl && xr[i] > mx)
            mx = xr[i];
    double s = 0.0;
    for (int i = 0; i < V; i++)
        if (i != excl)
            s += exp(xr[i] - mx);
    *mx_out = mx;
    *lse_out = mx + log(s);
}

void didcl_ref_max_lse(float *stats, const float *x, int R, int V, int excl) {
    for (int r = 0; r < R; r++) {
        double mx, lse;
        row_max_lse(x + (size_t)r * V, V, excl, &mx, &lse);
        stats[2 * r] = (float)mx;
        stats[2 * r + 1] = (float)lse;
    }
}

void didcl_ref_log_softmax(float *out, const float *x, int R, int V, int excl) {
    for (int r = 0; r < R; r++) {
        double mx, lse;
        row_max_lse(x + (size_t)r * V, V, excl, &mx, &lse);
        for (int i = 0; i < V; i++)
            out[(size_t)r * V + i] = i == excl ? -INFINITY : (float)(x[(size_t)r * V + i] - lse);
    }
}

/*
 * selftest.c — didcl_selftest_run: every kernel of ops.c once, on random inputs (Philox,
 * fixed seed), against the plain-C reference of ops_ref.c, with the per-op tolerances
 * that tests/check_ops uses (docs/kernels.md). It is what `didcl selftest` prints, so
 * that a user can check a device the test suite never ran on. tests/check_ops stays the
 * detailed test (more shapes, masks, edge cases); this is one representative case per
 * kernel and path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "numeric.h"
#include "ops.h"
#include "ops_ref.h"
#include "philox.h"
#include "runtime.h"

/* One case's buffers, released together; err keeps the first allocation or transfer
 * failure so that a case's body needs no checks between calls. */
typedef struct st_ctx {
    didcl_runtime_t rt;
    cl_mem mem[8];
    int n_mem;
    void *host[12];
    int n_host;
    uint32_t seed, draws;
    didcl_status err;
    const float *got, *want; /* what the harness compares, n elements */
    size_t n;
} st_ctx;

static void *h_new(st_ctx *c, size_t bytes) {
    void *p = c->n_host < 12 ? calloc(1, bytes ? bytes : 1) : NULL;
    if (!p) {
        if (c->err == DIDCL_OK)
            c->err = didcl_fail(DIDCL_ERR_NO_MEMORY, "selftest: out of host memory");
        return NULL;
    }
    return c->host[c->n_host++] = p;
}

/* n uniforms in [-amp, amp), a pure function of the case's seed and draw order. */
static float *h_rand(st_ctx *c, size_t n, float amp) {
    float *a = h_new(c, n * sizeof *a);
    didcl_philox_at at = {.seed = c->seed, .purpose = DIDCL_RNG_PLUGIN, .stage = c->draws++};
    for (size_t i = 0; a && i < n; i++)
        a[i] = amp * (float)(2.0 * didcl_philox_uniform(&at, (uint32_t)i) - 1.0);
    return a;
}

/* a rounded through half precision in place; the half bits returned. */
static uint16_t *h_half(st_ctx *c, float *a, size_t n) {
    uint16_t *h = a ? h_new(c, n * sizeof *h) : NULL;
    for (size_t i = 0; h && i < n; i++) {
        h[i] = didcl_numeric_half_from_float(a[i]);
        a[i] = didcl_numeric_float_from_half(h[i]);
    }
    return h;
}

static cl_mem d_new(st_ctx *c, size_t bytes, const void *init) {
    cl_int err = CL_SUCCESS;
    cl_mem m = NULL;
    if (c->err == DIDCL_OK && c->n_mem < 8)
        m = clCreateBuffer(c->rt->context, CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0),
                           bytes ? bytes : 4, (void *)init, &err);
    if (!m) {
        if (c->err == DIDCL_OK)
            c->err = didcl_fail_cl(err, "selftest: allocating %zu bytes", bytes);
        return NULL;
    }
    return c->mem[c->n_mem++] = m;
}

static float *d_get(st_ctx *c, cl_mem m, size_t n) {
    float *h = h_new(c, n * sizeof *h);
    if (h && m && c->err == DIDCL_OK) {
        cl_int err = clEnqueueReadBuffer(c->rt->queue, m, CL_TRUE, 0, n * sizeof *h, h, 0, NULL,
                                         NULL);
        if (err != CL_SUCCESS)
            c->err = didcl_fail_cl(err, "selftest: reading the result back");
    }
    return h;
}

static void compare(st_ctx *c, const float *got, const float *want, size_t n) {
    c->got = got;
    c->want = want;
    c->n = n;
}

/* Run op unless setting up failed; then the result. */
#define RUN(c, call) ((c)->err != DIDCL_OK ? (c)->err : (call))

/* ---- the cases: one per kernel and path ------------------------------------------ */

static didcl_status case_embed(st_ctx *c, didcl_selftest_case *r, int half) {
    enum { T = 9, H = 70, V = 53, P = 40 };
    static const int32_t ids[T] = {0, 52, 7, 7, 31, 1, 60, -1, 26}; /* 60, -1: zero rows */
    snprintf(r->shape, sizeof r->shape, "T=%d H=%d V=%d +positions%s", T, H, V,
             half ? ", half tables" : "");
    float *table = h_rand(c, (size_t)V * H, 1.0f), *pos = h_rand(c, (size_t)P * H, 0.5f);
    const void *dt = table, *dp = pos;
    if (half) {
        dt = h_half(c, table, (size_t)V * H);
        dp = h_half(c, pos, (size_t)P * H);
    }
    size_t es = half ? 2 : 4;
    cl_mem d_ids = d_new(c, sizeof ids, ids), d_t = d_new(c, es * V * H, dt);
    cl_mem d_p = d_new(c, es * P * H, dp), d_out = d_new(c, sizeof(float) * T * H, NULL);
    float *want = h_new(c, sizeof(float) * T * H);
    didcl_status st = RUN(c, didcl_ops_embed(c->rt, T, H, V, d_ids, d_t, d_p, P, 5,
                                             half ? DIDCL_WTYPE_F16 : DIDCL_WTYPE_F32, d_out));
    if (st == DIDCL_OK) {
        didcl_ref_embed(want, ids, table, pos, T, H, V, 5);
        compare(c, d_get(c, d_out, (size_t)T * H), want, (size_t)T * H);
    }
    return st;
}

static didcl_status case_layernorm(st_ctx *c, didcl_selftest_case *r, int modulate) {
    enum { T = 7, C = 96 };
    snprintf(r->shape, sizeof r->shape, "T=%d C=%d%s", T, C, modulate ? " per-row adaLN" : "");
    float *x = h_rand(c, (size_t)T * C, 2.0f), *w = h_rand(c, C, 1.0f);
    float *b = h_rand(c, modulate ? (size_t)T * 2 * C : C, 0.5f);
    float *want = h_new(c, sizeof(float) * T * C);
    cl_mem dx = d_new(c, sizeof(float) * T * C, x), dw = d_new(c, sizeof(float) * C, w);
    cl_mem db = d_new(c, sizeof(float) * (modulate ? T * 2 * C : C), b);
    cl_mem dout = d_new(c, sizeof(float) * T * C, NULL);
    didcl_status st =
        modulate ? RUN(c, didcl_ops_layernorm_modulate(c->rt, T, C, 1e-5f, dx, dw, db, 0, C,
                                                       2 * C, dout))
                 : RUN(c, didcl_ops_layernorm_bias(c->rt, T, C, 1e-5f, dx, dw, db, dout));
    if (st == DIDCL_OK) {
        if (modulate)
            didcl_ref_layernorm_modulate(want, x, w, b, 0, C, 2 * C, T, C, 1e-5f);
        else
            didcl_ref_layernorm_bias(want, x, w, b, T, C, 1e-5f);
        compare(c, d_get(c, dout, (size_t)T * C), want, (size_t)T * C);
    }
    return st;
}

static didcl_status case_rope(st_ctx *c, didcl_selftest_case *r, int unused) {
    (void)unused;
    enum { T = 5, HEADS = 4, HD = 64, POS = 1000 };
    const size_t n = (size_t)T * 3 * HEADS * HD;
    snprintf(r->shape, sizeof r->shape, "T=%d heads=%d hd=%d positions %d..", T, HEADS, HD, POS);
    float *qkv = h_rand(c, n, 1.0f), *inv = h_new(c, sizeof(float) * HD / 2);
    float *want = h_new(c, n * sizeof(float));
    if (!inv || !want || !qkv)
        return c->err;
    didcl_numeric_rope_inv_freq(inv, HD, 10000.0f);
    cl_mem dq = d_new(c, n * sizeof(float), qkv), di = d_new(c, sizeof(float) * HD / 2, inv);
    didcl_status st = RUN(c, didcl_ops_rope(c->rt, T, HEADS, HD, POS, di, dq));
    if (st == DIDCL_OK) {
        memcpy(want, qkv, n * sizeof(float));
        didcl_ref_rope(want, inv, T, HEADS, HD, POS);
        compare(c, d_get(c, dq, n), want, n);
    }
    return st;
}

/* Attention of a fused QKV buffer against itself: queries rows q0.., keys rows 0..Tk-1;
 * path 0 the split small-query kernel (4 queries), 1 the CLBlast path, 2 the flash kernel
 * this device takes (48 queries each, the 2L mask). */
static didcl_status case_attention(st_ctx *c, didcl_selftest_case *r, int path) {
    const int wide = path > 0;
    const int heads = 4, hd = 32, Tk = 48, Tq = wide ? 48 : 4, q0 = wide ? 0 : 44;
    const int W = 3 * heads * hd;
    didcl_attn_mask mask = wide ? (didcl_attn_mask){DIDCL_ATTN_BD3_2L, 0, 4, 24}
                                : (didcl_attn_mask){DIDCL_ATTN_BLOCK_CAUSAL, q0, 4, 0};
    snprintf(r->shape, sizeof r->shape, "Tq=%d Tk=%d heads=%d hd=%d %s", Tq, Tk, heads, hd,
             wide ? "bd3-2L mask" : "block-causal");
    const size_t nout = (size_t)Tq * heads * hd;
    float *qkv = h_rand(c, (size_t)Tk * W, 1.5f), *want = h_new(c, nout * sizeof(float));
    double *att = h_new(c, sizeof(double) * Tk);
    const float scale = 1.0f / sqrtf((float)hd);
    cl_mem dq = d_new(c, sizeof(float) * Tk * W, qkv), dout = d_new(c, nout * sizeof(float), NULL);
    const size_t sbytes = path == 1 ? sizeof(float) * heads * Tq * Tk
                          : path == 0 ? didcl_ops_attention_scratch_bytes(c->rt, 1, Tq, Tk, heads, hd)
                                      : didcl_ops_attention_flash_scratch_bytes(c->rt, Tq, Tk,
                                                                                heads, hd);
    cl_mem ds = sbytes ? d_new(c, sbytes, NULL) : NULL;
    didcl_ops_rows q = {dq, q0 * W, W}, k = {dq, heads * hd, W}, v = {dq, 2 * heads * hd, W};
    didcl_status st =
        path == 2 ? RUN(c, didcl_ops_attention_flash(c->rt, Tq, Tk, heads, hd, scale, q, k, v,
                                                     &mask, ds, dout))
        : path == 1 ? RUN(c, didcl_ops_attention_wide(c->rt, Tq, Tk, heads, hd, scale, q, k, v,
                                                      &mask, ds, dout))
                    : RUN(c, didcl_ops_attention(c->rt, Tq, Tk, heads, hd, scale, q, k, v, &mask,
                                                 ds, dout));
    if (st == DIDCL_OK) {
        didcl_ref_attention(want, att, qkv, q.off, W, qkv, k.off, W, qkv, v.off, W, Tq, Tk, heads,
                            hd, scale, &mask);
        compare(c, d_get(c, dout, nout), want, nout);
    }
    return st;
}

/* y = GELU(x W^T + b): the skinny kernel with f32 (path 0) or half W (1), or linear with
 * many rows, on the path this device takes for them (CLBlast SGEMM, or a gemv.cl kernel)
 * with f32 (2) or half W widened through a staging buffer (3), or the tiled kernel with
 * f32 (4) or half W (5), or the wide kernel (cl/gemm.cl) with f32 (6) or half W (7). */
static didcl_status case_linear(st_ctx *c, didcl_selftest_case *r, int path) {
    const int M = path >= 6 ? 200 : path >= 4 ? 70 : path >= 2 ? 200 : 3, N = 96, K = 130;
    const int half = path % 2 == 1;
    snprintf(r->shape, sizeof r->shape, "M=%d N=%d K=%d +bias GELU%s", M, N, K,
             half ? ", half W" : "");
    float *x = h_rand(c, (size_t)M * K, 1.0f), *w = h_rand(c, (size_t)N * K, 0.1f);
    float *b = h_rand(c, N, 0.5f), *want = h_new(c, sizeof(float) * M * N);
    const void *dwv = half ? (const void *)h_half(c, w, (size_t)N * K) : w;
    cl_mem dx = d_new(c, sizeof(float) * M * K, x), db = d_new(c, sizeof(float) * N, b);
    cl_mem dw = d_new(c, (half ? 2 : 4) * (size_t)N * K, dwv);
    cl_mem dy = d_new(c, sizeof(float) * M * N, NULL);
    enum didcl_wtype wt = half ? DIDCL_WTYPE_F16 : DIDCL_WTYPE_F32;
    size_t stage_bytes = path == 3 ? didcl_ops_linear_stage_bytes(c->rt, N, K, wt) : 0;
    cl_mem stage = stage_bytes ? d_new(c, stage_bytes, NULL) : NULL;
    didcl_status st = path < 2 ? RUN(c, didcl_ops_gemm_skinny(c->rt, M, N, K, dx, dw, wt, db,
                                                              DIDCL_ACT_GELU, dy))
                      : path < 4 ? RUN(c, didcl_ops_linear(c->rt, 1, M, N, K, dx, dw, wt, db,
                                                           DIDCL_ACT_GELU, dy, stage))
                      : path < 6 ? RUN(c, didcl_ops_gemm_tiled(c->rt, M, N, K, dx, dw, wt, db,
                                                               DIDCL_ACT_GELU, dy))
                                 : RUN(c, didcl_ops_gemm_wide(c->rt, M, N, K, dx, dw, wt, db,
                                                              DIDCL_ACT_GELU, dy));
    if (st == DIDCL_OK) {
        didcl_ref_linear(want, x, w, b, M, N, K, DIDCL_ACT_GELU);
        compare(c, d_get(c, dy, (size_t)M * N), want, (size_t)M * N);
    }
    return st;
}

static didcl_status case_sgemm(st_ctx *c, didcl_selftest_case *r, int unused) {
    (void)unused;
    enum { M = 33, N = 70, K = 90 };
    snprintf(r->shape, sizeof r->shape, "M=%d N=%d K=%d C = 0.5 A B^T + 2 C", M, N, K);
    float *A = h_rand(c, (size_t)M * K, 1.0f), *B = h_rand(c, (size_t)N * K, 1.0f);
    float *want = h_rand(c, (size_t)M * N, 1.0f);
    cl_mem dA = d_new(c, sizeof(float) * M * K, A), dB = d_new(c, sizeof(float) * N * K, B);
    cl_mem dC = d_new(c, sizeof(float) * M * N, want);
    didcl_status st = RUN(c, didcl_ops_sgemm(c->rt, M, N, K, 0.5f, dA, 0, K, dB, 0, K, 1, 2.0f,
                                             dC, 0, N));
    if (st == DIDCL_OK) {
        didcl_ref_sgemm(want, A, B, M, N, K, 0.5f, K, K, 1, 2.0f, N);
        compare(c, d_get(c, dC, (size_t)M * N), want, (size_t)M * N);
    }
    return st;
}

/* x += gate * y (adaLN's gated residual), or y = GELU(y + b) (bias_add, gelu). */
static didcl_status case_elementwise(st_ctx *c, didcl_selftest_case *r, int gelu) {
    enum { T = 3, C = 101 };
    snprintf(r->shape, sizeof r->shape, "T=%d C=%d%s", T, C, gelu ? "" : " gate (T, 3C)");
    float *x = h_rand(c, (size_t)T * C, 1.0f), *y = h_rand(c, (size_t)T * C, 1.0f);
    float *g = h_rand(c, (size_t)3 * T * C, 1.0f), *want = h_new(c, sizeof(float) * T * C);
    cl_mem dx = d_new(c, sizeof(float) * T * C, x), dy = d_new(c, sizeof(float) * T * C, y);
    cl_mem dg = d_new(c, sizeof(float) * 3 * T * C, g);
    didcl_status st;
    if (gelu) {
        st = RUN(c, didcl_ops_bias_add(c->rt, T, C, dy, dg));
        st = st == DIDCL_OK ? didcl_ops_gelu(c->rt, T * C, dy) : st;
        for (int i = 0; want && i < T * C; i++)
            want[i] = didcl_ref_gelu(y[i] + g[i % C]);
    } else {
        st = RUN(c, didcl_ops_gated_residual(c->rt, T, C, dx, dy, dg, C, 3 * C));
        if (want)
            memcpy(want, x, sizeof(float) * T * C);
        if (want && st == DIDCL_OK)
            didcl_ref_gated_residual(want, y, g, C, 3 * C, T, C);
    }
    if (st == DIDCL_OK)
        compare(c, d_get(c, gelu ? dy : dx, (size_t)T * C), want, (size_t)T * C);
    return st;
}

/* Log-softmax rows (the mask token left out), or their (max, log-sum-exp) statistics. */
static didcl_status case_softmax(st_ctx *c, didcl_selftest_case *r, int stats) {
    enum { R = 3, V = 1000 };
    const int excl = V - 1;
    snprintf(r->shape, sizeof r->shape, "R=%d V=%d, id %d left out", R, V, excl);
    float *x = h_rand(c, (size_t)R * V, 10.0f);
    const size_t n = stats ? 2 * R : (size_t)R * V;
    float *want = h_new(c, n * sizeof(float));
    cl_mem dx = d_new(c, sizeof(float) * R * V, x), dout = d_new(c, n * sizeof(float), NULL);
    didcl_status st = stats ? RUN(c, didcl_ops_max_lse(c->rt, R, V, excl, dx, dout))
                            : RUN(c, didcl_ops_log_softmax(c->rt, R, V, excl, dx, dout));
    if (st == DIDCL_OK) {
        if (stats)
            didcl_ref_max_lse(want, x, R, V, excl);
        else
            didcl_ref_log_softmax(want, x, R, V, excl);
        compare(c, d_get(c, dout, n), want, n);
    }
    return st;
}

/* ---- the table ----------------------------------------------------------------------- */

typedef struct st_def {
    const char *op;
    double atol, rtol;
    didcl_status (*fn)(st_ctx *, didcl_selftest_case *, int);
    int arg;
} st_def;

/* Tolerances as tests/check_ops states them per op. */
static const st_def defs[] = {
    {"embed", 0, 0, case_embed, 0},
    {"embed_f16", 0, 0, case_embed, 1},
    {"layernorm_modulate", 1e-5, 1e-4, case_layernorm, 1},
    {"layernorm_bias", 1e-5, 1e-4, case_layernorm, 0},
    {"rope", 2e-5, 1e-5, case_rope, 0},
    {"attention", 2e-5, 1e-4, case_attention, 0},
    {"attention_wide", 2e-5, 1e-4, case_attention, 1},
    {"attention_flash", 2e-5, 1e-4, case_attention, 2},
    {"gemm_skinny", 1e-4, 1e-4, case_linear, 0},
    {"gemm_skinny_f16", 1e-4, 1e-4, case_linear, 1},
    {"gemm_tiled", 1e-4, 1e-4, case_linear, 4},
    {"gemm_tiled_f16", 1e-4, 1e-4, case_linear, 5},
    {"gemm_wide", 1e-4, 1e-4, case_linear, 6},
    {"gemm_wide_f16", 1e-4, 1e-4, case_linear, 7},
    {"sgemm", 1e-4, 1e-4, case_sgemm, 0},
    {"linear_wide", 1e-4, 1e-4, case_linear, 2},
    {"linear_wide_f16", 1e-4, 1e-4, case_linear, 3},
    {"gated_residual", 1e-6, 1e-6, case_elementwise, 0},
    {"bias_add_gelu", 1e-6, 1e-5, case_elementwise, 1},
    {"log_softmax", 1e-5, 1e-5, case_softmax, 0},
    {"max_lse", 1e-5, 1e-6, case_softmax, 1},
};
#define N_DEFS (sizeof defs / sizeof defs[0])

didcl_status didcl_selftest_run(didcl_runtime_t rt, didcl_selftest_case **out, size_t *n) {
    if (!rt || !out || !n)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_selftest_run: NULL argument");
    didcl_selftest_case *t = calloc(N_DEFS, sizeof *t);
    if (!t)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "selftest: out of memory");
    for (size_t i = 0; i < N_DEFS; i++) {
        didcl_selftest_case *r = &t[i];
        st_ctx c = {.rt = rt, .seed = 0x5e1f7e57u + (uint32_t)i};
        snprintf(r->op, sizeof r->op, "%s", defs[i].op);
        r->atol = defs[i].atol;
        r->rtol = defs[i].rtol;
        didcl_status st = defs[i].fn(&c, r, defs[i].arg);
        r->status = st != DIDCL_OK ? st : c.err;
        if (r->status != DIDCL_OK) {
            snprintf(r->message, sizeof r->message, "%s", didcl_last_error());
        } else if (c.got && c.want) {
            r->passed = 1;
            for (size_t k = 0; k < c.n; k++) {
                double g = c.got[k], w = c.want[k];
                double d = g == w ? 0.0 : fabs(g - w); /* equal infinities differ by 0 */
                double lim = r->atol + r->rtol * fabs(w);
                double ratio = d == 0.0 ? 0.0 : lim > 0 ? d / lim : INFINITY;
                if (isnan(d))
                    ratio = d = INFINITY;
                r->max_abs = d > r->max_abs ? d : r->max_abs;
                r->worst = ratio > r->worst ? ratio : r->worst;
            }
            r->passed = r->worst <= 1.0;
        }
        for (int k = 0; k < c.n_mem; k++)
            clReleaseMemObject(c.mem[k]);
        for (int k = 0; k < c.n_host; k++)
            free(c.host[k]);
    }
    *out = t;
    *n = N_DEFS;
    return DIDCL_OK;
}

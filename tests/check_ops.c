/*
 * check_ops.c — every kernel of src/ops.c against its plain-C reference in src/ops_ref.c,
 * on random inputs from a fixed-seed xorshift generator. Each case states its tolerance:
 * |got - want| <= atol + rtol * |want| element by element; on failure the max absolute
 * and relative errors and the first bad element are printed (llm.c check_tensor style).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numeric.h"
#include "ops.h"
#include "ops_ref.h"
#include "program.h"
#include "runtime.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------
 * Helpers: random numbers, device buffers, comparison
 * ------------------------------------------------------------------------------------ */

static uint64_t rng_state;

static void rng_seed(uint64_t s) {
    rng_state = s ? s : 0x9e3779b97f4a7c15ull;
}

/* xorshift64*, uniform in [-1, 1). */
static float rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return (float)((r >> 40) / 16777216.0 * 2.0 - 1.0);
}

static float *rnd_array(size_t n, float amp) {
    float *a = malloc(n * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++)
        a[i] = amp * rnd();
    return a;
}

static didcl_runtime_t rt;
static struct didcl_gemm_tuning tuned; /* the device's product tuning (tuning.h) */

static void setup(void) {
    rt = testutil_runtime_or_skip();
    tuned = rt->gemm;
}

static void teardown(void) {
    didcl_runtime_free(rt);
    rt = NULL;
}

static cl_mem dev_alloc(size_t bytes) {
    cl_int err;
    cl_mem m = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    ck_assert_msg(err == CL_SUCCESS, "clCreateBuffer %zu bytes: %d", bytes, err);
    return m;
}

static cl_mem upload(const void *data, size_t bytes) {
    cl_mem m = dev_alloc(bytes);
    cl_int err = clEnqueueWriteBuffer(rt->queue, m, CL_TRUE, 0, bytes, data, 0, NULL, NULL);
    ck_assert_msg(err == CL_SUCCESS, "clEnqueueWriteBuffer: %d", err);
    return m;
}

static void download(cl_mem m, void *data, size_t bytes) {
    cl_int err = clEnqueueReadBuffer(rt->queue, m, CL_TRUE, 0, bytes, data, 0, NULL, NULL);
    ck_assert_msg(err == CL_SUCCESS, "clEnqueueReadBuffer: %d", err);
}

#define OK(call) ck_assert_msg((call) == DIDCL_OK, "%s: %s", #call, didcl_last_error())

/* Round every element through half, giving the values a half-stored weight holds, and
 * the half bits themselves. */
static uint16_t *to_half(float *a, size_t n) {
    uint16_t *h = malloc(n * sizeof *h);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < n; i++) {
        h[i] = didcl_numeric_half_from_float(a[i]);
        a[i] = didcl_numeric_float_from_half(h[i]);
    }
    return h;
}

/* ------------------------------------------------------------------------------------
 * Half conversion (host only)
 * ------------------------------------------------------------------------------------ */

START_TEST(test_half_conversion) {
    ck_assert_uint_eq(didcl_numeric_half_from_float(1.0f), 0x3c00);
    ck_assert_uint_eq(didcl_numeric_half_from_float(-2.0f), 0xc000);
    ck_assert_uint_eq(didcl_numeric_half_from_float(0.0f), 0x0000);
    ck_assert_uint_eq(didcl_numeric_half_from_float(-0.0f), 0x8000);
    ck_assert_uint_eq(didcl_numeric_half_from_float(65504.0f), 0x7bff); /* max finite */
    ck_assert_uint_eq(didcl_numeric_half_from_float(65519.0f), 0x7bff); /* rounds down */
    ck_assert_uint_eq(didcl_numeric_half_from_float(65520.0f), 0x7c00); /* tie to even: inf */
    ck_assert_uint_eq(didcl_numeric_half_from_float(INFINITY), 0x7c00);
    ck_assert_uint_eq(didcl_numeric_half_from_float(1.0f / 3.0f), 0x3555);
    ck_assert_uint_eq(didcl_numeric_half_from_float(1.0f + 1.0f / 2048), 0x3c00); /* tie, even */
    ck_assert_uint_eq(didcl_numeric_half_from_float(1.0f + 3.0f / 2048), 0x3c02); /* tie, even */
    ck_assert_uint_eq(didcl_numeric_half_from_float(ldexpf(1.0f, -14)), 0x0400); /* min normal */
    ck_assert_uint_eq(didcl_numeric_half_from_float(ldexpf(1.0f, -24)), 0x0001); /* min subnormal */
    ck_assert_uint_eq(didcl_numeric_half_from_float(ldexpf(1.0f, -25)), 0x0000); /* tie to 0 */
    ck_assert_uint_eq(didcl_numeric_half_from_float(ldexpf(1.5f, -25)), 0x0001);
    ck_assert_uint_eq(didcl_numeric_half_from_float(ldexpf(1023.5f, -24)), 0x0400); /* carry */
    ck_assert((didcl_numeric_half_from_float(NAN) & 0x7fff) > 0x7c00);
    /* Every half value survives half -> float -> half. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaN payloads */
        const float f = didcl_numeric_float_from_half((uint16_t)h);
        ck_assert_uint_eq(didcl_numeric_half_from_float(f), h);
    }
    ck_assert(didcl_numeric_float_from_half(0x3555) == 0.333251953125f);
    ck_assert(didcl_numeric_float_from_half(0x0001) == ldexpf(1.0f, -24));
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Embedding
 * ------------------------------------------------------------------------------------ */

START_TEST(test_embed) {
    rng_seed(11);
    const int T = 9, H = 70, V = 53, P = 40, pos_start = 5;
    int32_t ids[9] = {0, 52, 7, 7, 31, 1, 60, -1, 26}; /* 60 and -1 out of range: zeros */
    float *table = rnd_array((size_t)V * H, 1.0f), *pos = rnd_array((size_t)P * H, 0.5f);
    float *want = malloc(sizeof(float) * T * H), *got = malloc(sizeof(float) * T * H);
    cl_mem d_ids = upload(ids, sizeof ids), d_out = dev_alloc(sizeof(float) * T * H);
    cl_mem d_table = upload(table, sizeof(float) * V * H), d_pos = upload(pos, sizeof(float) * P * H);

    /* float storage, no positions (BD3-LM) */
    OK(didcl_ops_embed(rt, T, H, V, d_ids, d_table, NULL, 0, 0, DIDCL_WTYPE_F32, d_out));
    download(d_out, got, sizeof(float) * T * H);
    didcl_ref_embed(want, ids, table, NULL, T, H, V, 0);
    CK_TENSOR("embed f32", got, want, (size_t)T * H, 0.0, 0.0);
    ck_assert(got[6 * H + 3] == 0.0f && got[7 * H] == 0.0f);

    /* float storage plus learned positions (GPT-2) */
    OK(didcl_ops_embed(rt, T, H, V, d_ids, d_table, d_pos, P, pos_start, DIDCL_WTYPE_F32, d_out));
    download(d_out, got, sizeof(float) * T * H);
    didcl_ref_embed(want, ids, table, pos, T, H, V, pos_start);
    CK_TENSOR("embed f32 + pos", got, want, (size_t)T * H, 0.0, 0.0);

    /* half storage: the reference uses the same half-rounded tables */
    uint16_t *ht = to_half(table, (size_t)V * H), *hp = to_half(pos, (size_t)P * H);
    cl_mem d_ht = upload(ht, 2ull * V * H), d_hp = upload(hp, 2ull * P * H);
    OK(didcl_ops_embed(rt, T, H, V, d_ids, d_ht, d_hp, P, pos_start, DIDCL_WTYPE_F16, d_out));
    download(d_out, got, sizeof(float) * T * H);
    didcl_ref_embed(want, ids, table, pos, T, H, V, pos_start);
    CK_TENSOR("embed f16 + pos", got, want, (size_t)T * H, 0.0, 0.0);

    clReleaseMemObject(d_ids); clReleaseMemObject(d_out); clReleaseMemObject(d_table);
    clReleaseMemObject(d_pos); clReleaseMemObject(d_ht); clReleaseMemObject(d_hp);
    free(table); free(pos); free(want); free(got); free(ht); free(hp);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * LayerNorm: tolerance atol 1e-5, rtol 1e-4
 * ------------------------------------------------------------------------------------ */

START_TEST(test_layernorm_modulate) {
    rng_seed(21);
    const int T = 5, C = 771; /* C not a multiple of the work-group size */
    const float eps = 1e-5f;
    float *x = rnd_array((size_t)T * C, 3.0f), *w = rnd_array(C, 1.0f);
    for (int i = 0; i < T * C; i++)
        x[i] += 2.0f; /* a nonzero mean */
    /* adaLN output layout: six C-vectors (shift_msa, scale_msa, gate_msa, ...) */
    float *mod = rnd_array(6 * (size_t)C, 0.5f);
    float *want = malloc(sizeof(float) * T * C), *got = malloc(sizeof(float) * T * C);
    cl_mem d_x = upload(x, sizeof(float) * T * C), d_w = upload(w, sizeof(float) * C);
    cl_mem d_mod = upload(mod, sizeof(float) * 6 * C), d_out = dev_alloc(sizeof(float) * T * C);

    /* per-channel shift/scale (time conditioning off): shift_mlp = 3C, scale_mlp = 4C */
    OK(didcl_ops_layernorm_modulate(rt, T, C, eps, d_x, d_w, d_mod, 3 * C, 4 * C, 0, d_out));
    download(d_out, got, sizeof(float) * T * C);
    didcl_ref_layernorm_modulate(want, x, w, mod, 3 * C, 4 * C, 0, T, C, eps);
    CK_TENSOR("layernorm_modulate per-channel", got, want, (size_t)T * C, 1e-5, 1e-4);

    /* per-row values: row t reads mod[off + t*C + c] (T <= 6 rows fit in mod) */
    OK(didcl_ops_layernorm_modulate(rt, T, C, eps, d_x, d_w, d_mod, 0, C, C, d_out));
    download(d_out, got, sizeof(float) * T * C);
    didcl_ref_layernorm_modulate(want, x, w, mod, 0, C, C, T, C, eps);
    CK_TENSOR("layernorm_modulate per-row", got, want, (size_t)T * C, 1e-5, 1e-4);

    /* gathered rows: output row r normalizes row sel[r] (4, 0, 2) */
    const int32_t sel[] = {4, 0, 2};
    cl_mem d_sel = upload(sel, sizeof sel);
    OK(didcl_ops_layernorm_modulate_rows(rt, 3, C, eps, d_x, d_sel, d_w, d_mod, 3 * C, 4 * C, 0,
                                         d_out));
    download(d_out, got, sizeof(float) * 3 * C);
    didcl_ref_layernorm_modulate(want, x, w, mod, 3 * C, 4 * C, 0, T, C, eps);
    for (int r = 0; r < 3; r++)
        CK_TENSOR("layernorm_modulate gathered rows", got + (size_t)r * C,
                  want + (size_t)sel[r] * C, (size_t)C, 1e-5, 1e-4);
    clReleaseMemObject(d_sel);

    /* in place */
    OK(didcl_ops_layernorm_modulate(rt, T, C, eps, d_x, d_w, d_mod, 3 * C, 4 * C, 0, d_x));
    download(d_x, got, sizeof(float) * T * C);
    didcl_ref_layernorm_modulate(want, x, w, mod, 3 * C, 4 * C, 0, T, C, eps);
    CK_TENSOR("layernorm_modulate in place", got, want, (size_t)T * C, 1e-5, 1e-4);

    clReleaseMemObject(d_x); clReleaseMemObject(d_w); clReleaseMemObject(d_mod);
    clReleaseMemObject(d_out);
    free(x); free(w); free(mod); free(want); free(got);
}
END_TEST

/* The gated residual fused with LayerNorm + modulate equals the two ops one after the
 * other: x updated in place, out normalized from the updated rows. */
START_TEST(test_residual_layernorm_modulate) {
    rng_seed(22);
    const int T = 4, C = 387;
    const float eps = 1e-5f;
    float *x = rnd_array((size_t)T * C, 3.0f), *y = rnd_array((size_t)T * C, 2.0f);
    float *w = rnd_array(C, 1.0f), *mod = rnd_array(6 * (size_t)C, 0.5f);
    float *want = malloc(sizeof(float) * T * C), *got = malloc(sizeof(float) * T * C);
    cl_mem d_x = upload(x, sizeof(float) * T * C), d_y = upload(y, sizeof(float) * T * C);
    cl_mem d_w = upload(w, sizeof(float) * C), d_mod = upload(mod, sizeof(float) * 6 * C);
    cl_mem d_out = dev_alloc(sizeof(float) * T * C);
    OK(didcl_ops_residual_layernorm_modulate(rt, T, C, eps, d_x, d_y, d_w, d_mod, 2 * C, 3 * C,
                                             4 * C, 0, d_out));
    didcl_ref_gated_residual(x, y, mod, 2 * C, 0, T, C);
    didcl_ref_layernorm_modulate(want, x, w, mod, 3 * C, 4 * C, 0, T, C, eps);
    download(d_x, got, sizeof(float) * T * C);
    CK_TENSOR("residual_layernorm_modulate x", got, x, (size_t)T * C, 1e-6, 1e-5);
    download(d_out, got, sizeof(float) * T * C);
    CK_TENSOR("residual_layernorm_modulate out", got, want, (size_t)T * C, 1e-5, 1e-4);
    /* per-row gate/shift/scale (stride C: rows read consecutive C-vectors) */
    OK(didcl_ops_residual_layernorm_modulate(rt, T, C, eps, d_x, d_y, d_w, d_mod, 0, C, 2 * C, C,
                                             d_out));
    didcl_ref_gated_residual(x, y, mod, 0, C, T, C);
    didcl_ref_layernorm_modulate(want, x, w, mod, C, 2 * C, C, T, C, eps);
    download(d_out, got, sizeof(float) * T * C);
    CK_TENSOR("residual_layernorm_modulate per-row", got, want, (size_t)T * C, 1e-5, 1e-4);
    clReleaseMemObject(d_x); clReleaseMemObject(d_y); clReleaseMemObject(d_w);
    clReleaseMemObject(d_mod); clReleaseMemObject(d_out);
    free(x); free(y); free(w); free(mod); free(want); free(got);
}
END_TEST

START_TEST(test_layernorm_bias) {
    rng_seed(22);
    const int T = 4, C = 768;
    const float eps = 1e-5f;
    float *x = rnd_array((size_t)T * C, 2.0f), *w = rnd_array(C, 1.0f), *b = rnd_array(C, 1.0f);
    float *want = malloc(sizeof(float) * T * C), *got = malloc(sizeof(float) * T * C);
    cl_mem d_x = upload(x, sizeof(float) * T * C), d_w = upload(w, sizeof(float) * C);
    cl_mem d_b = upload(b, sizeof(float) * C), d_out = dev_alloc(sizeof(float) * T * C);
    OK(didcl_ops_layernorm_bias(rt, T, C, eps, d_x, d_w, d_b, d_out));
    download(d_out, got, sizeof(float) * T * C);
    didcl_ref_layernorm_bias(want, x, w, b, T, C, eps);
    CK_TENSOR("layernorm_bias", got, want, (size_t)T * C, 1e-5, 1e-4);
    clReleaseMemObject(d_x); clReleaseMemObject(d_w); clReleaseMemObject(d_b);
    clReleaseMemObject(d_out);
    free(x); free(w); free(b); free(want); free(got);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * RoPE: tolerance atol 2e-5 (angles up to ~1000 rad; both sides use the same float
 * angle, the kernel's cos/sin are within a few ulp)
 * ------------------------------------------------------------------------------------ */

static void rope_case(int T, int heads, int head_dim, int pos_start) {
    const size_t n = (size_t)T * 3 * heads * head_dim;
    float *qkv = rnd_array(n, 1.0f), *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    float inv_freq[256];
    didcl_numeric_rope_inv_freq(inv_freq, head_dim, 10000.0f);
    memcpy(want, qkv, n * sizeof(float));
    didcl_ref_rope(want, inv_freq, T, heads, head_dim, pos_start);
    cl_mem d_qkv = upload(qkv, n * sizeof(float));
    cl_mem d_if = upload(inv_freq, sizeof(float) * (size_t)head_dim / 2);
    OK(didcl_ops_rope(rt, T, heads, head_dim, pos_start, d_if, d_qkv));
    download(d_qkv, got, n * sizeof(float));
    char label[64];
    snprintf(label, sizeof label, "rope T=%d heads=%d hd=%d start=%d", T, heads, head_dim, pos_start);
    CK_TENSOR(label, got, want, n, 2e-5, 1e-5);
    /* V is untouched, bit for bit */
    for (int t = 0; t < T; t++) {
        size_t v0 = ((size_t)t * 3 + 2) * heads * head_dim;
        ck_assert(memcmp(got + v0, qkv + v0, sizeof(float) * heads * head_dim) == 0);
    }
    clReleaseMemObject(d_qkv); clReleaseMemObject(d_if);
    free(qkv); free(want); free(got);
}

START_TEST(test_rope) {
    rng_seed(31);
    float inv_freq[32];
    didcl_numeric_rope_inv_freq(inv_freq, 64, 10000.0f);
    ck_assert(inv_freq[0] == 1.0f);
    ck_assert(fabsf(inv_freq[1] - 0.749894209f) < 1e-7f); /* 10000^(-2/64) */
    rope_case(7, 3, 64, 1000);
    rope_case(5, 2, 32, 0);
    rope_case(3, 1, 6, 17);

    /* a K cache (T, heads, head_dim) at an offset: rows_view with one part */
    const int T = 6, heads = 2, hd = 64, W = heads * hd, off = 2 * W;
    float *k = rnd_array((size_t)(T + 2) * W, 1.0f), *want = malloc(sizeof(float) * (T + 2) * W);
    float *got = malloc(sizeof(float) * (T + 2) * W);
    memcpy(want, k, sizeof(float) * (T + 2) * W);
    didcl_ref_rope_rows(want, off, W, 1, inv_freq, T, heads, hd, 300);
    cl_mem dk = upload(k, sizeof(float) * (T + 2) * W), dif = upload(inv_freq, sizeof inv_freq);
    OK(didcl_ops_rope_rows(rt, T, heads, hd, 300, dif, (didcl_ops_rows){dk, off, W}, 1));
    download(dk, got, sizeof(float) * (T + 2) * W);
    CK_TENSOR("rope_rows K cache", got, want, (size_t)(T + 2) * W, 2e-5, 1e-5);
    ck_assert(memcmp(got, k, sizeof(float) * off) == 0); /* rows before off untouched */
    clReleaseMemObject(dk); clReleaseMemObject(dif);
    free(k); free(want); free(got);
}
END_TEST

/* RoPE fused with the cache write: for a batch of 2 sequences of 3 rows at position 5,
 * Q rotated in place, rotated K and plain V in each sequence's cache rows, every other
 * cache row and qkv's K/V untouched; the reference is rope_rows plus a copy. */
START_TEST(test_rope_cache) {
    rng_seed(32);
    const int batch = 2, n = 3, heads = 2, hd = 64, start = 5, seq = 9, H = heads * hd;
    const int T = batch * n;
    float inv_freq[32];
    didcl_numeric_rope_inv_freq(inv_freq, hd, 10000.0f);
    float *qkv = rnd_array((size_t)T * 3 * H, 1.0f), *cache = rnd_array((size_t)batch * seq * 2 * H, 1.0f);
    float *want_qkv = malloc(sizeof(float) * T * 3 * H), *want_c = malloc(sizeof(float) * batch * seq * 2 * H);
    float *got = malloc(sizeof(float) * batch * seq * 2 * H);
    memcpy(want_qkv, qkv, sizeof(float) * T * 3 * H);
    memcpy(want_c, cache, sizeof(float) * batch * seq * 2 * H);
    float *rot = malloc(sizeof(float) * T * 3 * H);
    memcpy(rot, qkv, sizeof(float) * T * 3 * H);
    for (int b = 0; b < batch; b++)
        didcl_ref_rope_rows(rot, b * n * 3 * H, 3 * H, 2, inv_freq, n, heads, hd, start);
    for (int t = 0; t < T; t++) {
        memcpy(want_qkv + (size_t)t * 3 * H, rot + (size_t)t * 3 * H, sizeof(float) * H);
        float *row = want_c + ((size_t)(t / n) * seq + start + t % n) * 2 * H;
        memcpy(row, rot + (size_t)t * 3 * H + H, sizeof(float) * 2 * H); /* K rotated, V */
    }
    cl_mem dq = upload(qkv, sizeof(float) * T * 3 * H);
    cl_mem dc = upload(cache, sizeof(float) * batch * seq * 2 * H);
    cl_mem dif = upload(inv_freq, sizeof inv_freq);
    OK(didcl_ops_rope_cache(rt, batch, n, heads, hd, start, dif, dq, dc, seq));
    download(dc, got, sizeof(float) * batch * seq * 2 * H);
    CK_TENSOR("rope_cache cache rows", got, want_c, (size_t)batch * seq * 2 * H, 2e-5, 1e-5);
    download(dq, got, sizeof(float) * T * 3 * H);
    CK_TENSOR("rope_cache Q in place", got, want_qkv, (size_t)T * 3 * H, 2e-5, 1e-5);
    ck_assert_int_eq(didcl_ops_rope_cache(rt, batch, n, heads, hd, 7, dif, dq, dc, seq),
                     DIDCL_ERR_INVALID_ARG); /* rows 7..9 do not fit 9 cache rows */
    ck_assert_last_error_has("expected rows within the cache");
    clReleaseMemObject(dq); clReleaseMemObject(dc); clReleaseMemObject(dif);
    free(qkv); free(cache); free(want_qkv); free(want_c); free(got); free(rot);
}
END_TEST

/* RoPE + cache write at scattered positions {7, 2, 5} of a 9-row cache: each row as
 * rope_rows rotates it at its own position, rows 7, 2, 5 of the cache replaced, the others
 * untouched (the K/V-reuse revision's forward) */
START_TEST(test_rope_cache_at) {
    rng_seed(33);
    const int T = 3, heads = 2, hd = 64, seq = 9, H = heads * hd;
    const int32_t pos[3] = {7, 2, 5};
    float inv_freq[32];
    didcl_numeric_rope_inv_freq(inv_freq, hd, 10000.0f);
    float *qkv = rnd_array((size_t)T * 3 * H, 1.0f), *cache = rnd_array((size_t)seq * 2 * H, 1.0f);
    float *want_qkv = malloc(sizeof(float) * T * 3 * H), *want_c = malloc(sizeof(float) * seq * 2 * H);
    float *got = malloc(sizeof(float) * seq * 2 * H), *rot = malloc(sizeof(float) * T * 3 * H);
    memcpy(rot, qkv, sizeof(float) * T * 3 * H);
    memcpy(want_qkv, qkv, sizeof(float) * T * 3 * H);
    memcpy(want_c, cache, sizeof(float) * seq * 2 * H);
    for (int t = 0; t < T; t++) {
        didcl_ref_rope_rows(rot, t * 3 * H, 3 * H, 2, inv_freq, 1, heads, hd, pos[t]);
        memcpy(want_qkv + (size_t)t * 3 * H, rot + (size_t)t * 3 * H, sizeof(float) * H);
        memcpy(want_c + (size_t)pos[t] * 2 * H, rot + (size_t)t * 3 * H + H, sizeof(float) * 2 * H);
    }
    cl_mem dq = upload(qkv, sizeof(float) * T * 3 * H);
    cl_mem dc = upload(cache, sizeof(float) * seq * 2 * H);
    cl_mem dif = upload(inv_freq, sizeof inv_freq), dp = upload(pos, sizeof pos);
    OK(didcl_ops_rope_cache_at(rt, T, heads, hd, dp, dif, dq, dc));
    download(dc, got, sizeof(float) * seq * 2 * H);
    CK_TENSOR("rope_cache_at cache rows", got, want_c, (size_t)seq * 2 * H, 2e-5, 1e-5);
    download(dq, got, sizeof(float) * T * 3 * H);
    CK_TENSOR("rope_cache_at Q in place", got, want_qkv, (size_t)T * 3 * H, 2e-5, 1e-5);
    ck_assert_int_eq(didcl_ops_rope_cache_at(rt, T, heads, 63, dp, dif, dq, dc),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("head_dim 63, expected even");
    clReleaseMemObject(dq); clReleaseMemObject(dc); clReleaseMemObject(dif); clReleaseMemObject(dp);
    free(qkv); free(cache); free(want_qkv); free(want_c); free(got); free(rot);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Attention, all paths (split small-query, CLBlast wide, flash): atol 2e-5, rtol 1e-4
 * ------------------------------------------------------------------------------------ */

/* The split path (didcl_ops_attention) over Tq queries in groups of at most
 * DIDCL_OPS_ATTN_MAX_Q (q view and q_offset moving with each group), the keys in chunks
 * of `chunk` (0: the device's); outputs (Tq, heads, head_dim) into got. */
static void split_run(int Tq, int Tk, int heads, int head_dim, float scale, didcl_ops_rows q,
                      didcl_ops_rows k, didcl_ops_rows v, didcl_attn_mask mask, int chunk,
                      float *got) {
    const struct didcl_attn_tuning keep = rt->attn;
    if (chunk > 0)
        rt->attn.chunk = chunk;
    const int G = DIDCL_OPS_ATTN_MAX_Q;
    const size_t W = (size_t)heads * head_dim;
    cl_mem d_out = dev_alloc(sizeof(float) * G * W);
    cl_mem d_s = dev_alloc(didcl_ops_attention_scratch_bytes(rt, 1, G, Tk, heads, head_dim));
    /* chunks merged by attention_combine, then by the split's last work-groups: the
     * same bits */
    float *other = malloc(sizeof(float) * Tq * W);
    for (int merge = 0; merge < 2; merge++) {
        rt->attn.split_merge = merge;
        float *dst = merge ? got : other;
        for (int c0 = 0; c0 < Tq; c0 += G) {
            const int n = Tq - c0 < G ? Tq - c0 : G;
            didcl_ops_rows qc = q;
            qc.off += c0 * q.stride;
            didcl_attn_mask mc = mask;
            mc.q_offset += c0;
            OK(clEnqueueFillBuffer(rt->queue, d_out, &(float){NAN}, sizeof(float), 0,
                                   sizeof(float) * G * W, 0, NULL, NULL));
            OK(didcl_ops_attention(rt, n, Tk, heads, head_dim, scale, qc, k, v, &mc, d_s,
                                   d_out));
            download(d_out, dst + (size_t)c0 * W, sizeof(float) * n * W);
        }
    }
    ck_assert_msg(!memcmp(got, other, sizeof(float) * Tq * W),
                  "attention_split: chunks merged in the kernel differ from attention_combine's "
                  "(Tq %d Tk %d chunk %d)", Tq, Tk, rt->attn.chunk);
    free(other);
    clReleaseMemObject(d_out);
    clReleaseMemObject(d_s);
    rt->attn = keep;
}

/* Attention of a fused QKV buffer (T, 3, heads, head_dim) against itself: queries are
 * rows q_row0 .. q_row0 + Tq - 1, keys and values rows 0 .. Tk - 1. */
static void attention_fused_case(int Tq, int Tk, int q_row0, int heads, int head_dim,
                                 didcl_attn_mask mask, const char *label) {
    const int W = 3 * heads * head_dim, T = Tk > q_row0 + Tq ? Tk : q_row0 + Tq;
    float *qkv = rnd_array((size_t)T * W, 1.5f);
    float *want = malloc(sizeof(float) * Tq * heads * head_dim);
    float *got = malloc(sizeof(float) * Tq * heads * head_dim);
    double *att = malloc(sizeof(double) * Tk);
    const float scale = 1.0f / sqrtf((float)head_dim);
    didcl_ops_rows q = {NULL, q_row0 * W, W}, k = {NULL, heads * head_dim, W},
                   v = {NULL, 2 * heads * head_dim, W};
    didcl_ref_attention(want, att, qkv, q.off, q.stride, qkv, k.off, k.stride, qkv, v.off,
                        v.stride, Tq, Tk, heads, head_dim, scale, &mask);
    cl_mem d_qkv = upload(qkv, sizeof(float) * T * W);
    cl_mem d_out = dev_alloc(sizeof(float) * Tq * heads * head_dim);
    q.buf = k.buf = v.buf = d_qkv;
    /* the split path in groups of queries: the device's chunk, then small ones so that
     * every mask also crosses chunk boundaries and the combine step on every device */
    char wlabel[128];
    const int chunks[] = {0, 16, 7};
    for (int c = 0; c < 3; c++) {
        split_run(Tq, Tk, heads, head_dim, scale, q, k, v, mask, chunks[c], got);
        snprintf(wlabel, sizeof wlabel, "%s (split, chunk %d)", label,
                 chunks[c] ? chunks[c] : rt->attn.chunk);
        CK_TENSOR(wlabel, got, want, (size_t)Tq * heads * head_dim, 2e-5, 1e-4);
    }

    /* the wide path (CLBlast products + masking softmax) gives the same */
    cl_mem d_s = dev_alloc(sizeof(float) * heads * Tq * Tk);
    OK(didcl_ops_attention_wide(rt, Tq, Tk, heads, head_dim, scale, q, k, v, &mask, d_s, d_out));
    download(d_out, got, sizeof(float) * Tq * heads * head_dim);
    snprintf(wlabel, sizeof wlabel, "%s (wide)", label);
    CK_TENSOR(wlabel, got, want, (size_t)Tq * heads * head_dim, 2e-5, 1e-4);

    /* and both flash kernels (register-tiled; a query an item), whichever the device
     * takes, where head_dim allows it: the device's key parts, then forced ones (one; 2,
     * 3 and 5, capped at the key tiles, parts that do not divide Tk and, under the masks,
     * parts some query tiles see nothing of), then parts from the grid (flash_fill) */
    const int splits[][2] = {{-1, -1}, {1, 0}, {2, 0}, {3, 0}, {5, 0}, {0, 7}};
    for (int rows = 0; rows < 2 && head_dim % 4 == 0; rows++) {
        for (size_t sp = 0; sp < sizeof splits / sizeof splits[0]; sp++) {
            const struct didcl_attn_tuning keep = rt->attn;
            rt->attn.flash_rows = rows;
            if (splits[sp][0] >= 0) {
                rt->attn.flash_split = splits[sp][0];
                rt->attn.flash_fill = splits[sp][1];
            }
            cl_mem d_p = dev_alloc(
                didcl_ops_attention_flash_scratch_bytes(rt, Tq, Tk, heads, head_dim));
            OK(clEnqueueFillBuffer(rt->queue, d_out, &(float){NAN}, sizeof(float), 0,
                                   sizeof(float) * Tq * heads * head_dim, 0, NULL, NULL));
            OK(didcl_ops_attention_flash(rt, Tq, Tk, heads, head_dim, scale, q, k, v, &mask,
                                         d_p, d_out));
            download(d_out, got, sizeof(float) * Tq * heads * head_dim);
            snprintf(wlabel, sizeof wlabel, "%s (flash%s, split %d fill %d)", label,
                     rows ? " rows" : "", rt->attn.flash_split, rt->attn.flash_fill);
            rt->attn = keep;
            clReleaseMemObject(d_p);
            CK_TENSOR(wlabel, got, want, (size_t)Tq * heads * head_dim, 2e-5, 1e-4);
        }
    }
    clReleaseMemObject(d_s);
    clReleaseMemObject(d_qkv); clReleaseMemObject(d_out);
    free(qkv); free(want); free(got); free(att);
}

START_TEST(test_attention_none) {
    rng_seed(41);
    didcl_attn_mask m = {DIDCL_ATTN_NONE, 0, 0, 0};
    attention_fused_case(37, 37, 0, 3, 64, m, "attention none T=37");
    attention_fused_case(1, 131, 0, 2, 64, m, "attention none Tq=1 Tk=131");
    attention_fused_case(6, 300, 0, 2, 40, m, "attention none hd=40 Tk=300");
    attention_fused_case(3, 9, 0, 2, 256, m, "attention none hd=256");
    attention_fused_case(40, 70, 0, 2, 128, m, "attention none hd=128 Tq=40");
    attention_fused_case(9, 50, 0, 1, 36, m, "attention none hd=36 (not a multiple of 8)");
}
END_TEST

START_TEST(test_attention_causal) {
    rng_seed(42);
    didcl_attn_mask m = {DIDCL_ATTN_CAUSAL, 0, 0, 0};
    attention_fused_case(45, 45, 0, 2, 64, m, "attention causal T=45");
    /* 5 new queries after 40 cached keys: query i is key 40 + i */
    didcl_attn_mask m2 = {DIDCL_ATTN_CAUSAL, 40, 0, 0};
    attention_fused_case(5, 45, 40, 2, 64, m2, "attention causal q_offset=40");
}
END_TEST

START_TEST(test_attention_block_causal) {
    rng_seed(43);
    didcl_attn_mask m = {DIDCL_ATTN_BLOCK_CAUSAL, 0, 4, 0};
    attention_fused_case(38, 38, 0, 2, 64, m, "attention block-causal T=38 B=4");
    didcl_attn_mask m2 = {DIDCL_ATTN_BLOCK_CAUSAL, 0, 16, 0};
    attention_fused_case(133, 133, 0, 1, 64, m2, "attention block-causal T=133 B=16");
    didcl_attn_mask m3 = {DIDCL_ATTN_BLOCK_CAUSAL, 70, 12, 0};
    attention_fused_case(61, 131, 70, 2, 48, m3, "attention block-causal q_offset=70 B=12");
}
END_TEST

START_TEST(test_attention_bd3_2l) {
    rng_seed(44);
    /* the mask itself, spot-checked against spec §2.3 (L = 8, B = 4) */
    didcl_attn_mask s = {DIDCL_ATTN_BD3_2L, 0, 4, 8};
    ck_assert(didcl_ref_attn_allowed(&s, 5, 6));   /* x_t block 1 sees itself */
    ck_assert(!didcl_ref_attn_allowed(&s, 5, 2));  /* ... but not x_t block 0 */
    ck_assert(didcl_ref_attn_allowed(&s, 5, 8));   /* x_t block 1 sees x_0 block 0 */
    ck_assert(!didcl_ref_attn_allowed(&s, 5, 12)); /* ... not x_0 block 1 (its own) */
    ck_assert(!didcl_ref_attn_allowed(&s, 1, 8));  /* x_t block 0 sees no x_0 */
    ck_assert(didcl_ref_attn_allowed(&s, 13, 9));  /* x_0 block 1 sees x_0 block 0 */
    ck_assert(didcl_ref_attn_allowed(&s, 13, 15)); /* ... and its own block */
    ck_assert(!didcl_ref_attn_allowed(&s, 9, 13)); /* x_0 block 0 not x_0 block 1 */
    ck_assert(!didcl_ref_attn_allowed(&s, 13, 5)); /* x_0 never sees x_t */

    didcl_attn_mask m = {DIDCL_ATTN_BD3_2L, 0, 4, 20};
    attention_fused_case(40, 40, 0, 2, 64, m, "attention bd3 2L L=20 B=4");
    didcl_attn_mask m2 = {DIDCL_ATTN_BD3_2L, 0, 8, 72};
    attention_fused_case(144, 144, 0, 3, 64, m2, "attention bd3 2L L=72 B=8");
    /* only the x_t half of the queries (the ones whose logits are used) */
    attention_fused_case(72, 144, 0, 1, 64, m2, "attention bd3 2L x_t queries");
    /* odd lengths: L not a multiple of B (shorter last blocks), query tiles straddling
     * the x_t / x_0 boundary, and a chunk of queries starting mid-way (q_offset) */
    didcl_attn_mask m3 = {DIDCL_ATTN_BD3_2L, 0, 4, 50};
    attention_fused_case(100, 100, 0, 2, 32, m3, "attention bd3 2L L=50 B=4");
    didcl_attn_mask m4 = {DIDCL_ATTN_BD3_2L, 37, 16, 67};
    attention_fused_case(77, 134, 37, 1, 64, m4, "attention bd3 2L L=67 B=16 q_offset=37");
    didcl_attn_mask m5 = {DIDCL_ATTN_BD3_2L, 0, 67, 67};
    attention_fused_case(134, 134, 0, 1, 64, m5, "attention bd3 2L B=L=67");
    /* keys of the x_t half only: the x_0 queries see none (zeros), in every key part */
    didcl_attn_mask m6 = {DIDCL_ATTN_BD3_2L, 0, 8, 70};
    attention_fused_case(140, 70, 0, 2, 64, m6, "attention bd3 2L x_t keys only");
}
END_TEST

/* Separate K and V buffers (a cache) with a different row stride than Q. */
START_TEST(test_attention_separate_kv) {
    rng_seed(45);
    const int heads = 2, hd = 64, Tq = 4, Tk = 29, W = heads * hd;
    float *q = rnd_array((size_t)Tq * W, 1.0f), *k = rnd_array((size_t)Tk * W, 1.0f);
    float *v = rnd_array((size_t)Tk * W, 1.0f);
    float *want = malloc(sizeof(float) * Tq * W), *got = malloc(sizeof(float) * Tq * W);
    double att[29];
    didcl_attn_mask m = {DIDCL_ATTN_NONE, 0, 0, 0};
    didcl_ref_attention(want, att, q, 0, W, k, 0, W, v, 0, W, Tq, Tk, heads, hd, 0.125f, &m);
    cl_mem dq = upload(q, sizeof(float) * Tq * W), dk = upload(k, sizeof(float) * Tk * W);
    cl_mem dv = upload(v, sizeof(float) * Tk * W), dout = dev_alloc(sizeof(float) * Tq * W);
    split_run(Tq, Tk, heads, hd, 0.125f, (didcl_ops_rows){dq, 0, W}, (didcl_ops_rows){dk, 0, W},
              (didcl_ops_rows){dv, 0, W}, m, 8, got);
    CK_TENSOR("attention separate K/V", got, want, (size_t)Tq * W, 2e-5, 1e-4);
    cl_mem ds = dev_alloc(sizeof(float) * heads * Tq * Tk);
    OK(didcl_ops_attention_wide(rt, Tq, Tk, heads, hd, 0.125f, (didcl_ops_rows){dq, 0, W},
                                (didcl_ops_rows){dk, 0, W}, (didcl_ops_rows){dv, 0, W}, NULL, ds,
                                dout));
    download(dout, got, sizeof(float) * Tq * W);
    CK_TENSOR("attention separate K/V (wide)", got, want, (size_t)Tq * W, 2e-5, 1e-4);
    clReleaseMemObject(ds);

    /* a batch of 2 in one launch: sequence 1 reads q rows [2, 4) and keys [13, 29) of
     * the same buffers (strides 2 rows and 13 rows), its output lands at rows [2, 4) */
    const int bt = 2, bq = 2, bk = 16;
    float *want2 = malloc(sizeof(float) * bt * bq * W);
    for (int b = 0; b < bt; b++)
        didcl_ref_attention(want2 + (size_t)b * bq * W, att, q, b * bq * W, W, k, b * 13 * W, W,
                            v, b * 13 * W, W, bq, bk, heads, hd, 0.125f, &m);
    cl_mem dsb = dev_alloc(didcl_ops_attention_scratch_bytes(rt, bt, bq, bk, heads, hd));
    OK(didcl_ops_attention_batch(rt, bt, bq, bk, heads, hd, 0.125f, (didcl_ops_rows){dq, 0, W},
                                 (didcl_ops_rows){dk, 0, W}, (didcl_ops_rows){dv, 0, W}, NULL,
                                 bq * W, 13 * W, dsb, dout));
    clReleaseMemObject(dsb);
    download(dout, got, sizeof(float) * bt * bq * W);
    CK_TENSOR("attention batch of 2", got, want2, (size_t)bt * bq * W, 2e-5, 1e-4);
    free(want2);
    clReleaseMemObject(dq); clReleaseMemObject(dk); clReleaseMemObject(dv);
    clReleaseMemObject(dout);
    free(q); free(k); free(v); free(want); free(got);
}
END_TEST

/* Separate K/V (a cache of Tk rows of heads * hd) against the reference through the
 * split path with keys in chunks of `chunk` (0: the device's). */
static void split_case(int Tq, int Tk, int heads, int hd, didcl_attn_mask m, int chunk,
                       const char *label) {
    const int W = heads * hd;
    float *q = rnd_array((size_t)Tq * W, 1.5f), *k = rnd_array((size_t)Tk * W, 1.5f);
    float *v = rnd_array((size_t)Tk * W, 1.0f);
    float *want = malloc(sizeof(float) * Tq * W), *got = malloc(sizeof(float) * Tq * W);
    double *att = malloc(sizeof(double) * Tk);
    const float scale = 1.0f / sqrtf((float)hd);
    didcl_ref_attention(want, att, q, 0, W, k, 0, W, v, 0, W, Tq, Tk, heads, hd, scale, &m);
    cl_mem dq = upload(q, sizeof(float) * Tq * W), dk = upload(k, sizeof(float) * Tk * W);
    cl_mem dv = upload(v, sizeof(float) * Tk * W);
    split_run(Tq, Tk, heads, hd, scale, (didcl_ops_rows){dq, 0, W}, (didcl_ops_rows){dk, 0, W},
              (didcl_ops_rows){dv, 0, W}, m, chunk, got);
    CK_TENSOR(label, got, want, (size_t)Tq * W, 2e-5, 1e-4);
    clReleaseMemObject(dq); clReleaseMemObject(dk); clReleaseMemObject(dv);
    free(q); free(k); free(v); free(want); free(got); free(att);
}

/* The split path's chunk boundaries: T_k below, at and just past one chunk, not a
 * multiple of it; chunks no query sees (skipped, never combined) and rows of a seen chunk
 * that one query does not see; queries that see nothing (zeros). */
START_TEST(test_attention_split_chunks) {
    rng_seed(46);
    const didcl_attn_mask none = {DIDCL_ATTN_NONE, 0, 0, 0};
    split_case(4, 1, 2, 64, none, 16, "split Tk=1 chunk 16");
    split_case(4, 5, 2, 64, none, 16, "split Tk=5 < chunk 16");
    split_case(3, 16, 2, 64, none, 16, "split Tk = chunk 16");
    split_case(3, 17, 2, 64, none, 16, "split Tk=17 = chunk 16 + 1");
    split_case(16, 301, 3, 64, none, 32, "split Tq=16 Tk=301 chunk 32");
    split_case(1, 300, 2, 32, none, 0, "split Tq=1 Tk=300 hd=32 device chunk");
    split_case(7, 129, 1, 128, none, 64, "split Tq=7 Tk=129 hd=128 chunk 64");
    /* causal: queries 3..6 see keys 0..6, chunks from 8 on are seen by none */
    const didcl_attn_mask causal = {DIDCL_ATTN_CAUSAL, 3, 0, 0};
    split_case(4, 100, 2, 64, causal, 8, "split causal, unseen chunks");
    /* block-causal B = 4 from key 6: the first query's block ends at 8, the last's at 12:
     * chunk [8, 12) is seen by the last query only */
    const didcl_attn_mask bc = {DIDCL_ATTN_BLOCK_CAUSAL, 6, 4, 0};
    split_case(5, 40, 2, 64, bc, 4, "split block-causal, partly seen chunk");
    /* 2L mask, x_t block 3 (L = 20, B = 4): own block [12, 16) and x_0 [20, 32) */
    const didcl_attn_mask x_t = {DIDCL_ATTN_BD3_2L, 12, 4, 20};
    split_case(4, 40, 2, 64, x_t, 8, "split bd3 2L x_t block, chunks 8");
    split_case(4, 40, 2, 64, x_t, 6, "split bd3 2L x_t block, chunks 6");
    /* x_t queries of blocks 2 and 3 whose keys are cut at T_k = 9: block 3 sees nothing */
    const didcl_attn_mask cut = {DIDCL_ATTN_BD3_2L, 8, 4, 20};
    split_case(8, 9, 2, 64, cut, 4, "split bd3 2L, queries that see no key (chunks)");
    split_case(8, 9, 2, 64, cut, 256, "split bd3 2L, queries that see no key (one chunk)");
}
END_TEST

/* Keys by the thousand (no local-memory bound on T_k). */
START_TEST(test_attention_split_long) {
    rng_seed(47);
    const didcl_attn_mask none = {DIDCL_ATTN_NONE, 0, 0, 0};
    split_case(16, 5000, 2, 64, none, 0, "split Tq=16 Tk=5000 device chunk");
    split_case(4, 3001, 2, 64, none, 64, "split Tq=4 Tk=3001 chunk 64");
    const didcl_attn_mask causal = {DIDCL_ATTN_CAUSAL, 2990, 0, 0};
    split_case(11, 3001, 1, 64, causal, 0, "split causal Tk=3001 device chunk");
}
END_TEST

/* A batch of sequences gives each sequence bitwise what it alone gives, with one chunk
 * or many: the split path's reduction order does not depend on the batch. */
START_TEST(test_attention_split_batch_bitwise) {
    rng_seed(48);
    const int bt = 3, Tq = 4, Tk = 300, heads = 3, hd = 64, W = heads * hd;
    const int qs = 5 * W, kvs = Tk * W; /* per-sequence strides (q rows apart by 5) */
    float *q = rnd_array((size_t)bt * qs, 1.5f), *kv = rnd_array((size_t)bt * kvs * 2, 1.5f);
    float *got = malloc(sizeof(float) * bt * Tq * W), *one = malloc(sizeof(float) * Tq * W);
    float *want = malloc(sizeof(float) * Tq * W);
    double *att = malloc(sizeof(double) * Tk);
    cl_mem dq = upload(q, sizeof(float) * bt * qs);
    cl_mem dkv = upload(kv, sizeof(float) * bt * kvs * 2);
    cl_mem dout = dev_alloc(sizeof(float) * bt * Tq * W);
    const didcl_attn_mask m = {DIDCL_ATTN_CAUSAL, Tk - Tq, 0, 0};
    const struct didcl_attn_tuning keep = rt->attn;
    const int chunks[] = {0, 16, 300};
    for (int c = 0; c < 3; c++) {
        if (chunks[c])
            rt->attn.chunk = chunks[c];
        /* K at rows of 2W (K then V of a cache row), sequences kvs * 2 apart */
        const didcl_ops_rows qv = {dq, 0, W}, kr = {dkv, 0, 2 * W}, vr = {dkv, W, 2 * W};
        cl_mem ds = dev_alloc(didcl_ops_attention_scratch_bytes(rt, bt, Tq, Tk, heads, hd));
        OK(didcl_ops_attention_batch(rt, bt, Tq, Tk, heads, hd, 0.125f, qv, kr, vr, &m, qs,
                                     2 * kvs, ds, dout));
        download(dout, got, sizeof(float) * bt * Tq * W);
        for (int b = 0; b < bt; b++) {
            const didcl_ops_rows q1 = {dq, b * qs, W}, k1 = {dkv, b * 2 * kvs, 2 * W},
                                 v1 = {dkv, b * 2 * kvs + W, 2 * W};
            OK(didcl_ops_attention(rt, Tq, Tk, heads, hd, 0.125f, q1, k1, v1, &m, ds, dout));
            download(dout, one, sizeof(float) * Tq * W);
            ck_assert_msg(!memcmp(one, got + (size_t)b * Tq * W, sizeof(float) * Tq * W),
                          "sequence %d of a batch of %d differs from its own run (chunk %d)",
                          b, bt, rt->attn.chunk);
            didcl_ref_attention(want, att, q, b * qs, W, kv, b * 2 * kvs, 2 * W, kv,
                                b * 2 * kvs + W, 2 * W, Tq, Tk, heads, hd, 0.125f, &m);
            CK_TENSOR("split batch sequence", one, want, (size_t)Tq * W, 2e-5, 1e-4);
        }
        clReleaseMemObject(ds);
        rt->attn = keep;
    }
    clReleaseMemObject(dq); clReleaseMemObject(dkv); clReleaseMemObject(dout);
    free(q); free(kv); free(got); free(one); free(want); free(att);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Products: gemm_skinny atol 1e-4 rtol 1e-4 (K up to 770, fp32 sums); sgemm the same
 * ------------------------------------------------------------------------------------ */

/* The device's tuning back after cases that force another path. */
static void gemm_tuning_restore(void) {
    rt->gemm = tuned;
}

/* A GPU-like tiling on whatever device runs the tests: lanes split k and a tree joins
 * them (the barrier path), vectors of 4, tiles of 3 x 5, 3 k-steps' loads ahead (a tail
 * of 0 to 2); gemm_tiled below 20 rows in
 * 3 x 2 blocks of 2 x 3 outputs, 2 k-lanes a work-item (the tree's first level in
 * registers, the second through local memory), 2 k-steps' loads at a time, from 20 rows
 * 2 x 3 blocks of 3 x 1 outputs, all 4 k-lanes a work-item (the whole tree in
 * registers), 3 k-steps at a time (a tail of 0 to 2). */
static void gemm_tuning_lanes(void) {
    rt->gemm.lk = 4;
    rt->gemm.tiles = 2;
    rt->gemm.vw = 4;
    rt->gemm.tm = 5;
    rt->gemm.tn = 3;
    rt->gemm.ku = 3;
    rt->gemm.tiled[0] =
        (struct didcl_tiled_tiling){.tm = 2, .tn = 3, .gm = 3, .gn = 2, .ku = 2, .la = 2};
    rt->gemm.tiled[1] =
        (struct didcl_tiled_tiling){.tm = 3, .tn = 1, .gm = 2, .gn = 3, .ku = 3, .la = 4};
    rt->gemm.tiled_big_m = 20;
    didcl_tuning_gemm_options(&rt->gemm);
}

/* Two k-lanes over vectors of 16 (gemm_tiled: both in one work-item below 20 rows, one
 * each from 20), both kernels with 4 k-steps' loads ahead (k-loops of K < 128 floats run
 * only the one-step tail). */
static void gemm_tuning_lanes2(void) {
    gemm_tuning_lanes();
    rt->gemm.lk = 2;
    rt->gemm.vw = 16;
    rt->gemm.ku = 4;
    rt->gemm.tiled[0].ku = 4;
    rt->gemm.tiled[1].ku = 4;
    rt->gemm.tiled[0].la = 2;
    rt->gemm.tiled[1].la = 1;
    didcl_tuning_gemm_options(&rt->gemm);
}

/* The GPUs' entry of src/tuning.c (a warp's 32 lanes over k, float4, both gemm_tiled
 * tilings) on any device, with the device's own switch points. */
static void gemm_tuning_gpu(void) {
    didcl_device_info gpu = rt->info;
    gpu.kind = DIDCL_DEVICE_GPU;
    didcl_tuning_gemm(&gpu, &rt->gemm);
    rt->gemm.tiled_m = tuned.tiled_m;
    rt->gemm.wide_m = tuned.wide_m;
    rt->gemm.half_wide_m = tuned.half_wide_m;
    rt->gemm.half_stage_m = tuned.half_stage_m;
    rt->gemm.wide_kernel = tuned.wide_kernel;
    rt->gemm.wide_stage_half = tuned.wide_stage_half;
}

/* Which entry point a product case calls. */
enum via { VIA_SKINNY, VIA_LINEAR, VIA_TILED };

static void product_case(int M, int N, int K, enum didcl_wtype wt, int bias, enum didcl_act act,
                         enum via via, const char *label) {
    float *x = rnd_array((size_t)M * K, 1.0f), *W = rnd_array((size_t)N * K, 0.1f);
    float *b = rnd_array(N, 0.5f);
    float *want = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
    cl_mem dW;
    uint16_t *hW = NULL;
    if (wt == DIDCL_WTYPE_F16) {
        hW = to_half(W, (size_t)N * K); /* W now holds the half-rounded values */
        dW = upload(hW, 2ull * N * K);
    } else {
        dW = upload(W, sizeof(float) * N * K);
    }
    cl_mem dx = upload(x, sizeof(float) * M * K), db = upload(b, sizeof(float) * N);
    cl_mem dy = dev_alloc(sizeof(float) * M * N), ds = NULL;
    size_t stage = didcl_ops_linear_stage_bytes(rt, N, K, wt);
    if (stage)
        ds = dev_alloc(stage);
    didcl_ref_linear(want, x, W, bias ? b : NULL, M, N, K, act);
    if (via == VIA_LINEAR)
        OK(didcl_ops_linear(rt, 1, M, N, K, dx, dW, wt, bias ? db : NULL, act, dy, ds));
    else if (via == VIA_TILED)
        OK(didcl_ops_gemm_tiled(rt, M, N, K, dx, dW, wt, bias ? db : NULL, act, dy));
    else
        OK(didcl_ops_gemm_skinny(rt, M, N, K, dx, dW, wt, bias ? db : NULL, act, dy));
    if (ds)
        clReleaseMemObject(ds);
    download(dy, got, sizeof(float) * M * N);
    CK_TENSOR(label, got, want, (size_t)M * N, 1e-4, 1e-4);
    clReleaseMemObject(dW); clReleaseMemObject(dx); clReleaseMemObject(db); clReleaseMemObject(dy);
    free(x); free(W); free(b); free(want); free(got); free(hW);
}

/* Shapes with K % VW tails, N not a multiple of the column tile, M past one M-tile;
 * through gemm_skinny, or gemm_tiled when via is VIA_TILED. */
static void skinny_cases(enum didcl_wtype wt, enum via via) {
    product_case(4, 300, 770, wt, 1, DIDCL_ACT_NONE, via, "skinny M=4 bias");
    product_case(1, 129, 64, wt, 0, DIDCL_ACT_NONE, via, "skinny M=1 no bias");
    product_case(16, 77, 300, wt, 1, DIDCL_ACT_GELU, via, "skinny M=16 gelu");
    product_case(19, 50, 33, wt, 1, DIDCL_ACT_NONE, via, "skinny M=19 K=33");
    product_case(70, 65, 129, wt, 1, DIDCL_ACT_GELU, via, "skinny M=70 gelu");
    product_case(20, 40, 48, wt, 0, DIDCL_ACT_NONE, VIA_LINEAR, "linear M=20");
}

START_TEST(test_skinny_f32) {
    rng_seed(51);
    skinny_cases(DIDCL_WTYPE_F32, VIA_SKINNY);
    gemm_tuning_lanes();
    skinny_cases(DIDCL_WTYPE_F32, VIA_SKINNY);
    gemm_tuning_restore();
}
END_TEST

START_TEST(test_skinny_f16) {
    rng_seed(52);
    skinny_cases(DIDCL_WTYPE_F16, VIA_SKINNY);
    gemm_tuning_lanes();
    skinny_cases(DIDCL_WTYPE_F16, VIA_SKINNY);
    gemm_tuning_restore();
}
END_TEST

/* gemm_tiled against the reference, with the device's, both lanes and the GPU tilings. */
START_TEST(test_tiled) {
    rng_seed(56);
    void (*const tunings[])(void) = {gemm_tuning_restore, gemm_tuning_lanes, gemm_tuning_lanes2,
                                     gemm_tuning_gpu};
    for (size_t i = 0; i < sizeof tunings / sizeof tunings[0]; i++) {
        tunings[i]();
        skinny_cases(DIDCL_WTYPE_F32, VIA_TILED);
        skinny_cases(DIDCL_WTYPE_F16, VIA_TILED);
        product_case(300, 37, 1000, DIDCL_WTYPE_F32, 1, DIDCL_ACT_GELU, VIA_TILED,
                     "tiled M=300 N=37 K=1000 gelu");
    }
    gemm_tuning_restore();
}
END_TEST

/* Row r of a skinny product is bitwise the same whatever M is (what keeps a sample's
 * logits in a batch those of its run alone), with the device's tiling and the lanes one. */
static void skinny_rows_case(enum didcl_wtype wt) {
    enum { MM = 100, N = 67, K = 389 };
    float *x = rnd_array((size_t)MM * K, 1.0f), *W = rnd_array((size_t)N * K, 0.1f);
    float *b = rnd_array(N, 0.5f);
    float *all = malloc(sizeof(float) * MM * N), *got = malloc(sizeof(float) * MM * N);
    uint16_t *hW = wt == DIDCL_WTYPE_F16 ? to_half(W, (size_t)N * K) : NULL;
    cl_mem dW = hW ? upload(hW, 2ull * N * K) : upload(W, sizeof(float) * N * K);
    cl_mem dx = upload(x, sizeof(float) * MM * K), db = upload(b, sizeof(float) * N);
    cl_mem dy = dev_alloc(sizeof(float) * MM * N);
    OK(didcl_ops_gemm_skinny(rt, MM, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy));
    download(dy, all, sizeof(float) * MM * N);
    if (hW) { /* half widened once into a stage, then the fp32 kernel: the same bits */
        struct didcl_gemm_tuning keep = rt->gemm;
        rt->gemm.half_stage_m = 1;
        rt->gemm.half_wide_m = INT_MAX;
        cl_mem ds = dev_alloc(didcl_ops_linear_stage_bytes(rt, N, K, wt));
        OK(didcl_ops_linear(rt, 1, MM, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy, ds));
        download(dy, got, sizeof(float) * MM * N);
        ck_assert_msg(memcmp(got, all, sizeof(float) * MM * N) == 0,
                      "half weights staged for gemm_skinny differ from converted in registers");
        clReleaseMemObject(ds);
        rt->gemm = keep;
    }
    static const int Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 99};
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++) {
        OK(didcl_ops_gemm_skinny(rt, Ms[i], N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy));
        download(dy, got, sizeof(float) * Ms[i] * N);
        ck_assert_msg(memcmp(got, all, sizeof(float) * Ms[i] * N) == 0,
                      "skinny rows of M=%d differ from the same rows of M=%d", Ms[i], MM);
    }
    clReleaseMemObject(dW); clReleaseMemObject(dx); clReleaseMemObject(db); clReleaseMemObject(dy);
    free(x); free(W); free(b); free(all); free(got); free(hW);
}

START_TEST(test_skinny_rows_bitwise) {
    rng_seed(54);
    skinny_rows_case(DIDCL_WTYPE_F32);
    skinny_rows_case(DIDCL_WTYPE_F16);
    gemm_tuning_lanes();
    skinny_rows_case(DIDCL_WTYPE_F32);
    skinny_rows_case(DIDCL_WTYPE_F16);
    gemm_tuning_restore();
}
END_TEST

/* gemm_tiled gives bitwise gemm_skinny's rows at every M, so switching between them by
 * rows in all keeps a batched sample's logits those of its run alone: every M from 1 to
 * 72 and some past 128, odd N and K (K % VW tails, partial blocks of rows and columns,
 * a last K-tile of few lanes), bias and GELU, and through didcl_ops_linear as a batch of
 * M one-row sequences with gemm_tiled from 1 row (half weights: in registers and
 * widened into the stage). */
static void tiled_rows_case(enum didcl_wtype wt, int N, int K) {
    enum { MM = 200 };
    float *x = rnd_array((size_t)MM * K, 1.0f), *W = rnd_array((size_t)N * K, 0.1f);
    float *b = rnd_array(N, 0.5f);
    float *all = malloc(sizeof(float) * MM * N), *got = malloc(sizeof(float) * MM * N);
    uint16_t *hW = wt == DIDCL_WTYPE_F16 ? to_half(W, (size_t)N * K) : NULL;
    cl_mem dW = hW ? upload(hW, 2ull * N * K) : upload(W, sizeof(float) * N * K);
    cl_mem dx = upload(x, sizeof(float) * MM * K), db = upload(b, sizeof(float) * N);
    cl_mem dy = dev_alloc(sizeof(float) * MM * N);
    size_t stage = didcl_ops_linear_stage_bytes(rt, N, K, wt);
    cl_mem ds = stage ? dev_alloc(stage) : NULL;
    OK(didcl_ops_gemm_skinny(rt, MM, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy));
    download(dy, all, sizeof(float) * MM * N);
    int Ms[80], nm = 0;
    for (int m = 1; m <= 72; m++)
        Ms[nm++] = m;
    static const int more[] = {127, 128, 129, 150, MM};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        Ms[nm++] = more[i];
    const struct didcl_gemm_tuning keep = rt->gemm;
    for (int i = 0; i < nm; i++) {
        const int M = Ms[i];
        OK(didcl_ops_gemm_tiled(rt, M, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy));
        download(dy, got, sizeof(float) * M * N);
        ck_assert_msg(memcmp(got, all, sizeof(float) * M * N) == 0,
                      "gemm_tiled rows of M=%d differ from gemm_skinny's (N=%d K=%d %s, "
                      "VW=%d LK=%d)", M, N, K, hW ? "half" : "float", keep.vw, keep.lk);
        if (M % 9 && M != MM)
            continue; /* linear on a sample of the Ms */
        rt->gemm.tiled_m = 1;
        for (int staged = 0; staged <= (ds != NULL); staged++) {
            rt->gemm.half_stage_m = staged ? 1 : INT_MAX;
            rt->gemm.half_wide_m = INT_MAX;
            OK(didcl_ops_linear(rt, M, 1, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy, ds));
            download(dy, got, sizeof(float) * M * N);
            ck_assert_msg(memcmp(got, all, sizeof(float) * M * N) == 0,
                          "linear (gemm_tiled%s) rows of a batch of %d differ from "
                          "gemm_skinny's", staged ? ", half staged" : "", M);
        }
        rt->gemm = keep;
    }
    if (ds)
        clReleaseMemObject(ds);
    clReleaseMemObject(dW); clReleaseMemObject(dx); clReleaseMemObject(db); clReleaseMemObject(dy);
    free(x); free(W); free(b); free(all); free(got); free(hW);
}

START_TEST(test_tiled_rows_bitwise) {
    rng_seed(57);
    void (*const tunings[])(void) = {gemm_tuning_restore, gemm_tuning_lanes, gemm_tuning_lanes2,
                                     gemm_tuning_gpu};
    for (size_t i = 0; i < sizeof tunings / sizeof tunings[0]; i++) {
        tunings[i]();
        tiled_rows_case(DIDCL_WTYPE_F32, 67, 389);
        tiled_rows_case(DIDCL_WTYPE_F16, 67, 389);
        tiled_rows_case(DIDCL_WTYPE_F32, 130, 1027); /* several K-tiles, a short last one */
    }
    gemm_tuning_restore();
}
END_TEST

/* The wide paths of linear on any device: fp32 through CLBlast, half weights widened
 * into the staging buffer in chunks (forced by low switch points; gemm_wide off, its
 * own tests follow). */
START_TEST(test_linear_wide) {
    rng_seed(55);
    rt->gemm.wide_kernel = 0;
    rt->gemm.wide_m = 8;
    rt->gemm.half_wide_m = 8;
    product_case(40, 96, 64, DIDCL_WTYPE_F32, 1, DIDCL_ACT_GELU, VIA_LINEAR,
                 "linear f32 M=40 (sgemm)");
    product_case(40, 96, 64, DIDCL_WTYPE_F16, 1, DIDCL_ACT_GELU, VIA_LINEAR,
                 "linear f16 M=40 (staged)");
    product_case(9, 3000, 3001, DIDCL_WTYPE_F16, 0, DIDCL_ACT_NONE, VIA_LINEAR,
                 "linear f16 M=9 (staged, 2 chunks)");
    gemm_tuning_restore();
}
END_TEST

/* gemm_wide through didcl_ops_linear (wide from one row), with both of rt->gemm.wide set
 * to w so that every M runs that tiling. */
static void gemm_tuning_wide(struct didcl_wide_tiling w) {
    ck_assert_msg(didcl_tuning_wide_valid(&w, rt->info.max_work_group),
                  "tiling %dx%d/%d %dx%d invalid here", w.bm, w.bn, w.bk, w.tm, w.tn);
    rt->gemm.wide_kernel = 1;
    rt->gemm.wide_m = rt->gemm.half_wide_m = 1;
    rt->gemm.wide[0] = rt->gemm.wide[1] = w;
    didcl_tuning_gemm_options(&rt->gemm);
}

/* Edges of every kind: M, N and K of one element, N and K not multiples of any tile or
 * of 4 (K below 4: only the zero-filled tail), M past several tiles, bias and GELU. */
static void wide_cases(enum didcl_wtype wt) {
    product_case(1, 1, 1, wt, 1, DIDCL_ACT_NONE, 1, "wide M=N=K=1");
    product_case(3, 67, 5, wt, 0, DIDCL_ACT_NONE, 1, "wide M=3 N=67 K=5");
    product_case(257, 129, 3, wt, 1, DIDCL_ACT_GELU, 1, "wide M=257 K=3 gelu");
    product_case(65, 130, 33, wt, 1, DIDCL_ACT_GELU, 1, "wide M=65 N=130 K=33 gelu");
    product_case(129, 200, 130, wt, 1, DIDCL_ACT_NONE, 1, "wide M=129 N=200 K=130");
    product_case(200, 64, 770, wt, 0, DIDCL_ACT_GELU, 1, "wide M=200 K=770 gelu");
    product_case(1100, 37, 17, wt, 1, DIDCL_ACT_NONE, 1, "wide M=1100 N=37 K=17");
}

/* The GPU entry's tilings (src/tuning.c), a non-square one (8 x 8 work-items of 4 x 8,
 * K-tiles of 8) and a small one (K-tiles of 16 in 4 loads a work-item), on any device. */
static const struct didcl_wide_tiling wide_tilings[] = {
    {128, 128, 16, 8, 8}, {64, 64, 16, 4, 4}, {32, 64, 8, 4, 8}, {16, 16, 16, 4, 4}};

static void wide_test(enum didcl_wtype wt) {
    for (size_t i = 0; i < sizeof wide_tilings / sizeof wide_tilings[0]; i++) {
        if (!didcl_tuning_wide_valid(&wide_tilings[i], rt->info.max_work_group))
            continue; /* a work-group larger than this device runs */
        gemm_tuning_wide(wide_tilings[i]);
        wide_cases(wt);
    }
    /* the device's own tilings, picked by the grid (fill 6: small M takes [1]), at spot
     * rows from 1 to 1100 */
    gemm_tuning_restore();
    rt->gemm.wide_kernel = 1;
    rt->gemm.wide_m = rt->gemm.half_wide_m = 1;
    rt->gemm.wide_fill = 6;
    static const int Ms[] = {1, 2, 7, 31, 64, 127, 128, 129, 255, 256, 511, 1024, 1100};
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++) {
        char label[48];
        snprintf(label, sizeof label, "wide (device tilings) M=%d", Ms[i]);
        product_case(Ms[i], 75, 66, wt, 1, DIDCL_ACT_GELU, 1, label);
    }
    gemm_tuning_restore();
}

START_TEST(test_wide_f32) {
    rng_seed(57);
    wide_test(DIDCL_WTYPE_F32);
}
END_TEST

START_TEST(test_wide_f16) {
    rng_seed(58);
    wide_test(DIDCL_WTYPE_F16);
}
END_TEST

/* A row of gemm_wide is bitwise the same whatever M, whichever tile and position holds
 * it and whichever tiling the grid picks: through didcl_ops_linear, each sequence of a
 * batch gives what it gives alone (one launch for the batch, per-sequence CLBlast
 * before). */
static void wide_rows_case(enum didcl_wtype wt) {
    enum { B = 3, n = 45, N = 70, K = 131 };
    float *x = rnd_array((size_t)B * n * K, 1.0f), *W = rnd_array((size_t)N * K, 0.1f);
    float *b = rnd_array(N, 0.5f);
    float *all = malloc(sizeof(float) * B * n * N), *got = malloc(sizeof(float) * n * N);
    uint16_t *hW = wt == DIDCL_WTYPE_F16 ? to_half(W, (size_t)N * K) : NULL;
    cl_mem dW = hW ? upload(hW, 2ull * N * K) : upload(W, sizeof(float) * N * K);
    cl_mem dx = upload(x, sizeof(float) * B * n * K), db = upload(b, sizeof(float) * N);
    cl_mem dy = dev_alloc(sizeof(float) * B * n * N);
    rt->gemm.wide_kernel = 1;
    rt->gemm.wide_m = rt->gemm.half_wide_m = 1;
    rt->gemm.wide[0] = wide_tilings[2];
    rt->gemm.wide[1] = wide_tilings[3];
    rt->gemm.wide_fill = 8; /* the batch (3 x 2 tiles of 64 x 32) takes [0], one row [1] */
    didcl_tuning_gemm_options(&rt->gemm);
    OK(didcl_ops_linear(rt, B, n, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy, NULL));
    download(dy, all, sizeof(float) * B * n * N);
    for (int s = 0; s < B; s++)
        for (int r = 0; r < n; r += 11) { /* rows 0, 11, ... of each sequence, alone */
            cl_mem x1 = upload(x + ((size_t)s * n + r) * K, sizeof(float) * K);
            OK(didcl_ops_linear(rt, 1, 1, N, K, x1, dW, wt, db, DIDCL_ACT_GELU, dy, NULL));
            download(dy, got, sizeof(float) * N);
            ck_assert_msg(memcmp(got, all + ((size_t)s * n + r) * N, sizeof(float) * N) == 0,
                          "wide row %d of sequence %d differs from the row alone", r, s);
            clReleaseMemObject(x1);
        }
    if (wt == DIDCL_WTYPE_F16) { /* half W widened into the stage first: the same bits */
        rt->gemm.wide_stage_half = 1;
        const size_t bytes = didcl_ops_linear_stage_bytes(rt, N, K, wt);
        ck_assert_uint_ge(bytes, sizeof(float) * N * K);
        cl_mem stage = dev_alloc(bytes);
        float *staged = malloc(sizeof(float) * B * n * N);
        OK(didcl_ops_linear(rt, B, n, N, K, dx, dW, wt, db, DIDCL_ACT_GELU, dy, stage));
        download(dy, staged, sizeof(float) * B * n * N);
        ck_assert_msg(memcmp(staged, all, sizeof(float) * B * n * N) == 0,
                      "gemm_wide on half W widened into the stage differs from widening it "
                      "tile by tile");
        clReleaseMemObject(stage);
        free(staged);
    }
    gemm_tuning_restore();
    clReleaseMemObject(dW); clReleaseMemObject(dx); clReleaseMemObject(db); clReleaseMemObject(dy);
    free(x); free(W); free(b); free(all); free(got); free(hW);
}

START_TEST(test_wide_rows_bitwise) {
    rng_seed(59);
    wide_rows_case(DIDCL_WTYPE_F32);
    wide_rows_case(DIDCL_WTYPE_F16);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Half weights read by bits (-DDIDCL_HALF_BITS) or by vload_half: the same floats
 * ------------------------------------------------------------------------------------ */

/* Both ways of reading half weights (tuning half_bits) for the product kernels. */
static void gemm_tuning_half_bits(int bits) {
    rt->gemm.half_bits = bits;
    didcl_tuning_gemm_options(&rt->gemm);
}

/* Same float bits, or both NaN (a NaN's payload is the implementation's). */
static int same_or_nan(float a, float b) {
    return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a);
}

/* Every one of the 65536 halves widened on the device by widen_half (which reads by
 * common.cl's wload_half) built both ways: the host's exact float_from_half, bit for
 * bit, for all but NaNs, which stay NaNs of their sign. */
START_TEST(test_half_bits_conversion) {
    enum { n = 65536 };
    uint16_t *h = malloc(n * sizeof *h);
    float *got = malloc(n * sizeof *got);
    for (int i = 0; i < n; i++)
        h[i] = (uint16_t)i;
    cl_mem dh = upload(h, n * sizeof *h), dout = dev_alloc(n * sizeof(float));
    static const char *const options[] = {"", "-DDIDCL_HALF_BITS"};
    for (int o = 0; o < 2; o++) {
        cl_kernel k = NULL;
        OK(didcl_program_kernel(rt, "gemv", options[o], "widen_half", &k));
        int count = n;
        cl_long first = 0;
        ck_assert_int_eq(clSetKernelArg(k, 0, sizeof count, &count), CL_SUCCESS);
        ck_assert_int_eq(clSetKernelArg(k, 1, sizeof dh, &dh), CL_SUCCESS);
        ck_assert_int_eq(clSetKernelArg(k, 2, sizeof first, &first), CL_SUCCESS);
        ck_assert_int_eq(clSetKernelArg(k, 3, sizeof dout, &dout), CL_SUCCESS);
        size_t global = n;
        ck_assert_int_eq(clEnqueueNDRangeKernel(rt->queue, k, 1, NULL, &global, NULL, 0, NULL,
                                                NULL), CL_SUCCESS);
        download(dout, got, n * sizeof *got);
        for (int i = 0; i < n; i++) {
            const float want = didcl_numeric_float_from_half((uint16_t)i);
            uint32_t gb, wb;
            memcpy(&gb, &got[i], 4);
            memcpy(&wb, &want, 4);
            if (isnan(want)) /* vload_half's NaN sign is the driver's (NVIDIA: +) */
                ck_assert_msg(isnan(got[i]) && (!*options[o] || (gb >> 31) == (wb >> 31)),
                              "half 0x%04x (NaN) widened to 0x%08x (options '%s')", i, gb,
                              options[o]);
            else
                ck_assert_msg(gb == wb, "half 0x%04x widened to 0x%08x, expected 0x%08x "
                              "(options '%s')", i, gb, wb, options[o]);
        }
    }
    clReleaseMemObject(dh); clReleaseMemObject(dout);
    free(h); free(got);
}
END_TEST

/* Half bits of every finite kind for W (N, K): random normals and subnormals of both
 * signs, and runs of +-0, +-max (65504) and of the smallest subnormals; every fourth
 * row holds subnormals and zeros alone (so that no large value hides them in the sums);
 * special adds +-inf and NaNs. A half is drawn by its bits, so each exponent is as
 * likely as any other. */
static uint16_t *half_kinds(int N, int K, int special) {
    static const uint16_t runs[] = {0x0000, 0x8000, 0x7bff, 0xfbff, 0x0001, 0x8001, 0x03ff,
                                    0x0400, 0x83ff};
    const size_t n = (size_t)N * K;
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        const uint16_t r = (uint16_t)((rnd() + 1.0f) * 32768.0f);
        if (i / K % 4 == 2)
            h[i] = r & 0x83ff;
        else if (i % 7 == 3)
            h[i] = runs[(i / 7) % (sizeof runs / sizeof runs[0])];
        else if (i % 5 == 1)
            h[i] = r & 0x83ff; /* subnormal or zero */
        else if (special && i % 97 == 0)
            h[i] = (uint16_t)(0x7c00 | (r & 0x8000) | (i % 3 ? r & 0x3ff : 0)); /* inf, NaN */
        else
            h[i] = (r & 0x7c00) == 0x7c00 ? r & 0xbfff : r; /* finite */
    }
    return h;
}

/* Which product kernel a bits case runs. */
enum bits_kernel { BITS_WIDE, BITS_SKINNY, BITS_TILED };

/* A product on half W equals the same product on W widened on the host (exactly) and
 * stored as fp32, bit for bit (NaN for NaN where special): the bit conversion (vector
 * loads when K % 4 == 0, element loads otherwise, and the K tails) gives vload_half's
 * floats. x holds values up to 1 and up to 2^-10 (products of a half stay normal floats). */
static void half_bits_case(enum bits_kernel kern, int M, int N, int K, int special) {
    float *x = rnd_array((size_t)M * K, 1.0f);
    for (size_t i = 0; i < (size_t)M * K; i += 3)
        x[i] *= 0x1p-10f;
    uint16_t *h = half_kinds(N, K, special);
    float *W = malloc(sizeof(float) * N * K), *b = rnd_array(N, 0.5f);
    for (size_t i = 0; i < (size_t)N * K; i++)
        W[i] = didcl_numeric_float_from_half(h[i]);
    float *want = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
    cl_mem dx = upload(x, sizeof(float) * M * K), db = upload(b, sizeof(float) * N);
    cl_mem dh = upload(h, 2ull * N * K), dW = upload(W, sizeof(float) * N * K);
    cl_mem dy = dev_alloc(sizeof(float) * M * N);
    for (int half = 0; half < 2; half++) {
        const enum didcl_wtype wt = half ? DIDCL_WTYPE_F16 : DIDCL_WTYPE_F32;
        cl_mem w = half ? dh : dW;
        if (kern == BITS_WIDE)
            OK(didcl_ops_gemm_wide(rt, M, N, K, dx, w, wt, db, DIDCL_ACT_NONE, dy));
        else if (kern == BITS_SKINNY)
            OK(didcl_ops_gemm_skinny(rt, M, N, K, dx, w, wt, db, DIDCL_ACT_NONE, dy));
        else
            OK(didcl_ops_gemm_tiled(rt, M, N, K, dx, w, wt, db, DIDCL_ACT_NONE, dy));
        download(dy, half ? got : want, sizeof(float) * M * N);
    }
    static const char *const names[] = {"gemm_wide", "gemm_skinny", "gemm_tiled"};
    for (size_t i = 0; i < (size_t)M * N; i++)
        ck_assert_msg(same_or_nan(got[i], want[i]),
                      "%s M=%d N=%d K=%d%s, half bits %d: y[%zu] = %a on half W, %a on the "
                      "same W in fp32", names[kern], M, N, K, special ? " (inf, NaN)" : "",
                      rt->gemm.half_bits, i, got[i], want[i]);
    clReleaseMemObject(dx); clReleaseMemObject(db); clReleaseMemObject(dh);
    clReleaseMemObject(dW); clReleaseMemObject(dy);
    free(x); free(h); free(W); free(b); free(want); free(got);
}

/* The lanes tiling with vectors of 16 (four 8-byte loads of half bits each). */
static void gemm_tuning_vw16(void) {
    gemm_tuning_lanes();
    rt->gemm.vw = 16;
    didcl_tuning_gemm_options(&rt->gemm);
}

/* Every half kind through gemm_wide (the device's and a small tiling), gemm_skinny and
 * gemm_tiled (the device's, the lanes, its vectors of 16 and the GPU tilings), half read
 * by bits and by vload_half. */
START_TEST(test_half_bits_products) {
    rng_seed(60);
    static const int shapes[][3] = {{37, 70, 132}, {37, 70, 131}, {5, 9, 7}};
    void (*const tunings[])(void) = {gemm_tuning_restore, gemm_tuning_lanes, gemm_tuning_vw16,
                                     gemm_tuning_gpu};
    for (int bits = 0; bits < 2; bits++)
        for (size_t t = 0; t < sizeof tunings / sizeof tunings[0]; t++) {
            tunings[t]();
            gemm_tuning_half_bits(bits);
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int special = 0; special < 2; special++) {
                    const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    half_bits_case(BITS_SKINNY, M, N, K, special);
                    half_bits_case(BITS_TILED, M, N, K, special);
                    if (t == 0)
                        half_bits_case(BITS_WIDE, M, N, K, special);
                }
        }
    gemm_tuning_restore();
    gemm_tuning_wide(wide_tilings[3]);
    for (int bits = 0; bits < 2; bits++) {
        gemm_tuning_half_bits(bits);
        half_bits_case(BITS_WIDE, 40, 33, 68, 0);
        half_bits_case(BITS_WIDE, 40, 33, 67, 1);
    }
    gemm_tuning_restore();
}
END_TEST

START_TEST(test_sgemm) {
    rng_seed(53);
    const int M = 33, N = 70, K = 90;
    float *A = rnd_array((size_t)M * K, 1.0f), *B = rnd_array((size_t)K * N, 1.0f);
    float *C0 = rnd_array((size_t)M * N, 1.0f);
    float *want = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
    cl_mem dA = upload(A, sizeof(float) * M * K), dB = upload(B, sizeof(float) * K * N);
    cl_mem dC = upload(C0, sizeof(float) * M * N);

    /* C = 0.5 A B + 2 C, B (K, N) */
    memcpy(want, C0, sizeof(float) * M * N);
    didcl_ref_sgemm(want, A, B, M, N, K, 0.5f, K, N, 0, 2.0f, N);
    OK(didcl_ops_sgemm(rt, M, N, K, 0.5f, dA, 0, K, dB, 0, N, 0, 2.0f, dC, 0, N));
    download(dC, got, sizeof(float) * M * N);
    CK_TENSOR("sgemm B (K,N)", got, want, (size_t)M * N, 1e-4, 1e-4);

    /* C = A B^T with B read as (N, K) weights */
    didcl_ref_sgemm(want, A, B, M, N, K, 1.0f, K, K, 1, 0.0f, N);
    OK(didcl_ops_sgemm(rt, M, N, K, 1.0f, dA, 0, K, dB, 0, K, 1, 0.0f, dC, 0, N));
    download(dC, got, sizeof(float) * M * N);
    CK_TENSOR("sgemm B^T (N,K)", got, want, (size_t)M * N, 1e-4, 1e-4);

    clReleaseMemObject(dA); clReleaseMemObject(dB); clReleaseMemObject(dC);
    free(A); free(B); free(C0); free(want); free(got);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Softmax: atol 1e-5, rtol 1e-5 on log-probabilities
 * ------------------------------------------------------------------------------------ */

START_TEST(test_log_softmax) {
    rng_seed(61);
    const int R = 3, V = 5003, excl = V - 1;
    float *x = rnd_array((size_t)R * V, 8.0f);
    x[excl] = 100.0f; /* the mask token's logit would dominate if it took part */
    float *want = malloc(sizeof(float) * R * V), *got = malloc(sizeof(float) * R * V);
    cl_mem dx = upload(x, sizeof(float) * R * V), dout = dev_alloc(sizeof(float) * R * V);
    OK(didcl_ops_log_softmax(rt, R, V, excl, dx, dout));
    download(dout, got, sizeof(float) * R * V);
    didcl_ref_log_softmax(want, x, R, V, excl);
    CK_TENSOR("log_softmax excl", got, want, (size_t)R * V, 1e-5, 1e-5);
    for (int r = 0; r < R; r++) {
        ck_assert(isinf(got[(size_t)r * V + excl]) && got[(size_t)r * V + excl] < 0);
        double s = 0.0;
        for (int i = 0; i < V; i++)
            s += exp((double)got[(size_t)r * V + i]);
        ck_assert_msg(fabs(s - 1.0) < 1e-4, "row %d: probabilities sum to %.9f", r, s);
    }

    /* no exclusion, in place */
    OK(didcl_ops_log_softmax(rt, R, V, -1, dx, dx));
    download(dx, got, sizeof(float) * R * V);
    didcl_ref_log_softmax(want, x, R, V, -1);
    CK_TENSOR("log_softmax in place", got, want, (size_t)R * V, 1e-5, 1e-5);
    ck_assert(got[excl] <= 0.0f && got[excl] > -1e-3f); /* now the 100 logit takes ~all mass */

    /* (max, lse) statistics */
    float st[6], st_want[6];
    cl_mem dx2 = upload(x, sizeof(float) * R * V), dst = dev_alloc(sizeof st);
    OK(didcl_ops_max_lse(rt, R, V, excl, dx2, dst));
    download(dst, st, sizeof st);
    didcl_ref_max_lse(st_want, x, R, V, excl);
    CK_TENSOR("max_lse excl", st, st_want, 6, 1e-5, 1e-6);
    ck_assert(st[0] < 100.0f); /* the excluded 100 is not the max */

    clReleaseMemObject(dx); clReleaseMemObject(dout); clReleaseMemObject(dx2);
    clReleaseMemObject(dst);
    free(x); free(want); free(got);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Element-wise: gated residual, bias, GELU (atol 1e-6, rtol 1e-6)
 * ------------------------------------------------------------------------------------ */

START_TEST(test_elementwise) {
    rng_seed(71);
    const int T = 3, C = 101;
    float *x = rnd_array((size_t)T * C, 1.0f), *y = rnd_array((size_t)T * C, 1.0f);
    float *mod = rnd_array(6 * (size_t)C, 1.0f);
    float *want = malloc(sizeof(float) * T * C), *got = malloc(sizeof(float) * T * C);
    cl_mem dx = upload(x, sizeof(float) * T * C), dy = upload(y, sizeof(float) * T * C);
    cl_mem dmod = upload(mod, sizeof(float) * 6 * C);

    /* gate_msa is the third C-vector of the adaLN output */
    OK(didcl_ops_gated_residual(rt, T, C, dx, dy, dmod, 2 * C, 0));
    download(dx, got, sizeof(float) * T * C);
    memcpy(want, x, sizeof(float) * T * C);
    didcl_ref_gated_residual(want, y, mod, 2 * C, 0, T, C);
    CK_TENSOR("gated_residual", got, want, (size_t)T * C, 1e-6, 1e-6);

    /* bias add then GELU on y, against the reference's GELU */
    OK(didcl_ops_bias_add(rt, T, C, dy, dmod));
    OK(didcl_ops_gelu(rt, T * C, dy));
    download(dy, got, sizeof(float) * T * C);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            want[t * C + c] = didcl_ref_gelu(y[t * C + c] + mod[c]);
    CK_TENSOR("bias_add + gelu", got, want, (size_t)T * C, 1e-6, 1e-5);
    ck_assert(fabsf(didcl_ref_gelu(1.0f) - 0.841191990f) < 1e-6f); /* torch gelu tanh */

    clReleaseMemObject(dx); clReleaseMemObject(dy); clReleaseMemObject(dmod);
    free(x); free(y); free(mod); free(want); free(got);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Parity of the reference with PyTorch (tests/ops_parity.py): the semantics (RoPE
 * convention, the 2L mask, LayerNorm + modulate, GELU tanh, log-softmax without the mask
 * token, Linear) as BD3-LM and GPT-2 compute them. atol 1e-5, rtol 1e-5 (fp32 on both
 * sides). Skipped, with a note, where configure found no Python with torch.
 * ------------------------------------------------------------------------------------ */

static char parity_dir[4096];

static float *parity_input(const char *name, size_t n, float amp) {
    float *a = rnd_array(n, amp);
    char path[4200];
    snprintf(path, sizeof path, "%s/in_%s.f32", parity_dir, name);
    ck_assert_int_eq(testutil_write_file(path, a, n * sizeof(float)), 0);
    return a;
}

static void parity_check(const char *name, const float *got, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/out_%s.f32", parity_dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: missing (did ops_parity.py fail?)", path);
    float *want = malloc(n * sizeof(float));
    ck_assert_msg(fread(want, sizeof(float), n, f) == n && fgetc(f) == EOF,
                  "%s: expected %zu floats", path, n);
    fclose(f);
    char label[64];
    snprintf(label, sizeof label, "torch parity %s", name);
    CK_TENSOR(label, got, want, n, 1e-5, 1e-5);
    free(want);
}

START_TEST(test_torch_parity) {
    if (!*testutil_python_torch()) {
        fprintf(stderr, "note: no Python with torch configured, parity case skipped\n");
        return;
    }
    rng_seed(81);
    char *dir = testutil_tmpdir();
    snprintf(parity_dir, sizeof parity_dir, "%s", dir);

    const int T = 5, H = 2, HD = 64, P0 = 1000;
    float *rope = parity_input("rope", (size_t)T * 3 * H * HD, 1.0f);
    const int L = 12, B = 4, AH = 2, W = 3 * AH * HD;
    float *attn = parity_input("attn", (size_t)2 * L * W, 1.5f);
    const int LT = 3, C = 96;
    float *ln_x = parity_input("ln_x", (size_t)LT * C, 2.0f), *ln_w = parity_input("ln_w", C, 1.0f);
    float *ln_shift = parity_input("ln_shift", C, 0.5f), *ln_scale = parity_input("ln_scale", C, 0.5f);
    float *ln_b = parity_input("ln_b", C, 1.0f);
    float *gelu = parity_input("gelu", 1000, 5.0f);
    const int R = 2, V = 300;
    float *lsm = parity_input("lsm", (size_t)R * V, 6.0f);
    const int M = 4, N = 50, K = 64;
    float *lin_x = parity_input("lin_x", (size_t)M * K, 1.0f), *lin_w = parity_input("lin_w", (size_t)N * K, 0.2f);
    float *lin_b = parity_input("lin_b", N, 0.5f);

    char cmd[8500];
    snprintf(cmd, sizeof cmd, "'%s' '%s/ops_parity.py' '%s'", testutil_python_torch(), DIDCL_TEST_SRCDIR,
             dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);

    float inv_freq[32];
    didcl_numeric_rope_inv_freq(inv_freq, HD, 10000.0f);
    didcl_ref_rope(rope, inv_freq, T, H, HD, P0);
    parity_check("rope", rope, (size_t)T * 3 * H * HD);

    float *out = malloc(sizeof(float) * 2 * L * AH * HD);
    double att[24];
    didcl_attn_mask bd3 = {DIDCL_ATTN_BD3_2L, 0, B, L}, causal = {DIDCL_ATTN_CAUSAL, 0, 0, 0};
    didcl_ref_attention(out, att, attn, 0, W, attn, AH * HD, W, attn, 2 * AH * HD, W, 2 * L, 2 * L,
                        AH, HD, 1.0f / 8.0f, &bd3);
    parity_check("attn_bd3", out, (size_t)2 * L * AH * HD);
    didcl_ref_attention(out, att, attn, 0, W, attn, AH * HD, W, attn, 2 * AH * HD, W, 2 * L, 2 * L,
                        AH, HD, 1.0f / 8.0f, &causal);
    parity_check("attn_causal", out, (size_t)2 * L * AH * HD);

    float mod[2 * 96], ln_out[3 * 96];
    memcpy(mod, ln_shift, sizeof(float) * C);
    memcpy(mod + C, ln_scale, sizeof(float) * C);
    didcl_ref_layernorm_modulate(ln_out, ln_x, ln_w, mod, 0, C, 0, LT, C, 1e-5f);
    parity_check("ln_mod", ln_out, (size_t)LT * C);
    didcl_ref_layernorm_bias(ln_out, ln_x, ln_w, ln_b, LT, C, 1e-5f);
    parity_check("ln_bias", ln_out, (size_t)LT * C);

    for (int i = 0; i < 1000; i++)
        gelu[i] = didcl_ref_gelu(gelu[i]);
    parity_check("gelu", gelu, 1000);

    didcl_ref_log_softmax(lsm, lsm, R, V, V - 1);
    parity_check("lsm", lsm, (size_t)R * V);

    float lin_y[4 * 50];
    didcl_ref_linear(lin_y, lin_x, lin_w, lin_b, M, N, K, DIDCL_ACT_NONE);
    parity_check("linear", lin_y, (size_t)M * N);

    testutil_rmtree(dir);
    free(dir); free(rope); free(attn); free(out); free(ln_x); free(ln_w); free(ln_shift);
    free(ln_scale); free(ln_b); free(gelu); free(lsm); free(lin_x); free(lin_w); free(lin_b);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Limits: argument checks and their messages
 * ------------------------------------------------------------------------------------ */

/* The tuning table's wide entries (host only): GPUs run gemm_wide with tilings that
 * build (valid, within 48 KiB of local memory: 2 buffers of BK x (BM + 4 + BN + 4)
 * floats), large tiles where the grid fills 132 units; CPUs keep gemm_skinny; a small
 * work-group limit shrinks the tiles into valid ones. */
START_TEST(test_wide_tuning) {
    didcl_device_info gpu = {.kind = DIDCL_DEVICE_GPU, .compute_units = 132,
                             .max_work_group = 1024, .local_mem = 48 * 1024};
    struct didcl_gemm_tuning t;
    didcl_tuning_gemm(&gpu, &t);
    ck_assert_int_eq(t.wide_kernel, 1);
    for (int p = 0; p < 2; p++) {
        const struct didcl_wide_tiling *w = &t.wide[p];
        ck_assert(didcl_tuning_wide_valid(w, gpu.max_work_group));
        ck_assert_uint_le(2u * w->bk * (w->bm + w->bn + 8) * sizeof(float), gpu.local_mem);
        ck_assert_ptr_nonnull(strstr(t.wide_options[p][1], "-DDIDCL_WEIGHT_HALF"));
        /* half weights by vload_half on GPUs too (NVIDIA's compiler failed on the bit
         * path in gemv.cl: src/tuning.c) */
        ck_assert_ptr_null(strstr(t.wide_options[p][1], "-DDIDCL_HALF_BITS"));
        ck_assert_ptr_null(strstr(t.wide_options[p][0], "HALF"));
    }
    ck_assert_ptr_null(strstr(t.options[1][1], " -DDIDCL_HALF_BITS"));
    ck_assert_ptr_null(strstr(t.options[0][0], "HALF"));
    t.half_bits = 1; /* the option whole when set (not cut by the buffer) */
    didcl_tuning_gemm_options(&t);
    for (int p = 0; p < 2; p++)
        ck_assert_ptr_nonnull(strstr(t.wide_options[p][1], "-DDIDCL_HALF_BITS"));
    ck_assert_ptr_nonnull(strstr(t.options[1][1], " -DDIDCL_HALF_BITS"));
    ck_assert_int_eq(didcl_tuning_wide_pick(&t, 1024, 2304), 0); /* 144 tiles of 128^2 */
    ck_assert_int_eq(didcl_tuning_wide_pick(&t, 1024, 768), 1);  /* 48 */
    gpu.max_work_group = 64;
    didcl_tuning_gemm(&gpu, &t);
    for (int p = 0; p < 2; p++)
        ck_assert(didcl_tuning_wide_valid(&t.wide[p], 64));
    didcl_device_info cpu = {.kind = DIDCL_DEVICE_CPU, .compute_units = 2,
                             .max_work_group = 4096, .local_mem = 64 * 1024};
    didcl_tuning_gemm(&cpu, &t);
    ck_assert_int_eq(t.wide_kernel, 0);
    ck_assert_ptr_null(strstr(t.options[1][1], "-DDIDCL_HALF_BITS")); /* vload_half on CPUs */
    t.half_bits = 1;
    t.tn = t.tm = t.tiled[1].tm = t.tiled[1].tn = 1000; /* the longest options still fit */
    t.wide[0] = t.wide[1] = (struct didcl_wide_tiling){1024, 1024, 1024, 1024, 1024};
    didcl_tuning_gemm_options(&t);
    ck_assert_ptr_nonnull(strstr(t.options[1][1], " -DDIDCL_HALF_BITS"));
    ck_assert_ptr_nonnull(strstr(t.wide_options[1][1], " -DDIDCL_HALF_BITS"));
    /* what gemm.cl's #error lines refuse */
    const struct didcl_wide_tiling bad[] = {
        {64, 64, 16, 6, 4}, {64, 64, 10, 4, 4}, {64, 60, 16, 4, 4}, {16, 64, 4, 4, 4}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!didcl_tuning_wide_valid(&bad[i], 0), "bad tiling %zu accepted", i);
    const struct didcl_wide_tiling big = {128, 128, 16, 8, 8};
    ck_assert(!didcl_tuning_wide_valid(&big, 128)); /* 256 work-items */
}
END_TEST

/* The tuning table's gemm_tiled entries (host only): two tilings whose work-groups fit
 * the device (also after a small limit shrinks them), picked by rows in all at
 * tiled_big_m, each with its own build options (fp32 and half). */
START_TEST(test_tiled_tuning) {
    didcl_device_info gpu = {.kind = DIDCL_DEVICE_GPU, .compute_units = 132,
                             .max_work_group = 1024, .local_mem = 48 * 1024};
    struct didcl_gemm_tuning t;
    for (int lim = 0; lim < 2; lim++) {
        gpu.max_work_group = lim ? 64 : 1024;
        didcl_tuning_gemm(&gpu, &t);
        for (int p = 0; p < 2; p++) {
            const struct didcl_tiled_tiling *d = &t.tiled[p];
            ck_assert_uint_le((uint64_t)didcl_tuning_tiled_items(&t, d) * d->gm * d->gn,
                              gpu.max_work_group);
            ck_assert_int_ge(d->ku, 1);
            ck_assert_uint_le(didcl_tuning_tiled_local_bytes(&t, d), gpu.local_mem);
            ck_assert_ptr_nonnull(strstr(t.options[p][1], "-DDIDCL_WEIGHT_HALF"));
            ck_assert_ptr_null(strstr(t.options[p][0], "-DDIDCL_WEIGHT_HALF"));
        }
    }
    ck_assert_int_gt(t.tiled_big_m, 1);
    ck_assert_int_eq(didcl_tuning_tiled_pick(&t, t.tiled_big_m - 1), 0);
    ck_assert_int_eq(didcl_tuning_tiled_pick(&t, t.tiled_big_m), 1);
    t.tiled[0] = (struct didcl_tiled_tiling){4, 1, 1, 8, 2, 8};
    t.tiled[1] = (struct didcl_tiled_tiling){8, 4, 2, 2, 1, 3}; /* 3 lanes: taken as 1 */
    didcl_tuning_gemm_options(&t);
    ck_assert_ptr_nonnull(strstr(t.options[0][0], "-DTILED_TM=4 -DTILED_TN=1 -DTILED_GM=1 "
                                                  "-DTILED_GN=8 -DTILED_KU=2 -DTILED_LA=8"));
    ck_assert_ptr_nonnull(strstr(t.options[1][1], "-DTILED_TM=8 -DTILED_TN=4 -DTILED_GM=2 "
                                                  "-DTILED_GN=2 -DTILED_KU=1 -DTILED_LA=1"));
    ck_assert_int_eq(didcl_tuning_tiled_items(&t, &t.tiled[0]), t.lk / 8);
    ck_assert_int_eq(didcl_tuning_tiled_items(&t, &t.tiled[1]), t.lk);
    ck_assert_uint_eq(didcl_tuning_tiled_local_bytes(&t, &t.tiled[1]),
                      8 * 4 * 2 * 2 * (t.lk + 1) * sizeof(float));
}
END_TEST

START_TEST(test_bad_arguments) {
    cl_mem d = dev_alloc(64);
    ck_assert_int_eq(didcl_ops_gemm_skinny(rt, 0, 4, 4, d, d, DIDCL_WTYPE_F32, NULL,
                                           DIDCL_ACT_NONE, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("gemm_skinny: shape M=0 N=4 K=4");
    ck_assert_int_eq(didcl_ops_gemm_wide(rt, 3, 4, 0, d, d, DIDCL_WTYPE_F32, NULL,
                                         DIDCL_ACT_GELU, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("gemm_wide: shape M=3 N=4 K=0");
    ck_assert_int_eq(didcl_ops_rope(rt, 2, 1, 7, 0, d, d), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("rope: head_dim 7, expected even");
    ck_assert_int_eq(didcl_ops_log_softmax(rt, 1, 8, 8, d, d), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("log_softmax: excluded index 8, expected -1..7");
    didcl_attn_mask m = {DIDCL_ATTN_BD3_2L, 0, 4, 10};
    didcl_ops_rows r = {d, 0, 1};
    ck_assert_int_eq(didcl_ops_attention(rt, 20, 22, 1, 1, 1.0f, r, r, r, &m, NULL, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("queries and keys within 2*half_len");
    didcl_attn_mask bc = {DIDCL_ATTN_BLOCK_CAUSAL, 0, 0, 0};
    ck_assert_int_eq(didcl_ops_attention(rt, 2, 2, 1, 1, 1.0f, r, r, r, &bc, NULL, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("attention: mask block size 0, expected > 0");
    ck_assert_int_eq(didcl_ops_embed(rt, 4, 8, 10, d, d, d, 6, 3, DIDCL_WTYPE_F32, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("embed: positions 3..6, expected below the 6 rows");
    clReleaseMemObject(d);
}
END_TEST

START_TEST(test_attention_split_limits) {
    /* what the split path refuses, before any launch, with the numbers */
    cl_mem d = dev_alloc(64);
    didcl_ops_rows r = {d, 0, 64};
    ck_assert_int_eq(didcl_ops_attention(rt, 17, 20, 1, 64, 1.0f, r, r, r, NULL, d, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("attention: 17 queries, expected at most 16");
    ck_assert_int_eq(didcl_ops_attention(rt, 2, 20, 1, 6, 1.0f, r, r, r, NULL, d, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("attention: head_dim 6, expected a multiple of 4");
    rt->attn.chunk = 8;
    ck_assert_uint_eq(didcl_ops_attention_scratch_bytes(rt, 2, 3, 20, 5, 64),
                      2 * 5 * 3 * 3 * 66 * sizeof(float));
    ck_assert_uint_eq(didcl_ops_attention_scratch_bytes(rt, 2, 3, 8, 5, 64), 0);
    ck_assert_int_eq(didcl_ops_attention(rt, 2, 20, 1, 64, 1.0f, r, r, r, NULL, NULL, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("attention: scratch of 0 bytes, 1584 needed");
    ck_assert_int_eq(didcl_ops_attention(rt, 2, 20, 1, 64, 1.0f, r, r, r, NULL, d, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("attention: scratch of 64 bytes");
    clReleaseMemObject(d);
}
END_TEST

START_TEST(test_attention_flash_parts) {
    /* the flash path's key parts and the scratch bound over smaller passes (register-tiled
     * kernel at head_dim 64: 32-query and 32-key tiles) */
    cl_mem d = dev_alloc(64);
    didcl_ops_rows r = {d, 0, 64};
    rt->attn.flash_rows = 0;
    rt->attn.flash_split = 3; /* Tk = 100: 4 key tiles, 3 parts of 64 keys are 2 */
    ck_assert_int_eq(didcl_ops_attention_flash_parts(rt, 40, 100, 2, 64), 2);
    ck_assert_uint_eq(didcl_ops_attention_flash_scratch_bytes(rt, 40, 100, 2, 64),
                      2 * 40 * 3 * 66 * sizeof(float));
    ck_assert_int_eq(didcl_ops_attention_flash(rt, 40, 100, 2, 64, 1.0f, r, r, r, NULL, d, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("attention_flash: scratch of 64 bytes, 42240 needed");
    rt->attn.flash_split = 9; /* capped at the key tiles */
    ck_assert_int_eq(didcl_ops_attention_flash_parts(rt, 40, 100, 2, 64), 4);
    /* from the grid: 8 work-groups are 4 parts of 1 query tile x 2 heads, 2 parts of 2
     * tiles: the bound is the larger, at fewer queries */
    rt->attn.flash_split = 0;
    rt->attn.flash_fill = 8;
    ck_assert_int_eq(didcl_ops_attention_flash_parts(rt, 40, 100, 2, 64), 2);
    ck_assert_int_eq(didcl_ops_attention_flash_parts(rt, 32, 100, 2, 64), 4);
    ck_assert_uint_eq(didcl_ops_attention_flash_scratch_bytes(rt, 40, 100, 2, 64),
                      2 * 32 * 4 * 66 * sizeof(float));
    rt->attn.flash_split = 1;
    ck_assert_uint_eq(didcl_ops_attention_flash_scratch_bytes(rt, 40, 100, 2, 64), 0);
    clReleaseMemObject(d);
}
END_TEST

START_TEST(test_sgemm_error) {
    /* CLBlast rejects a leading dimension smaller than the row: its status is reported */
    cl_mem d = dev_alloc(4096);
    ck_assert_int_eq(didcl_ops_sgemm(rt, 4, 4, 4, 1.0f, d, 0, 2, d, 0, 4, 0, 0.0f, d, 0, 4),
                     DIDCL_ERR_CLBLAST);
    ck_assert_last_error_has("CLBlastSgemm M=4 N=4 K=4 lda=2");
    ck_assert_last_error_has("CLBlast status -");
    clReleaseMemObject(d);
}
END_TEST

static Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_embed);
    tcase_add_test(core, test_layernorm_modulate);
    tcase_add_test(core, test_layernorm_bias);
    tcase_add_test(core, test_residual_layernorm_modulate);
    tcase_add_test(core, test_rope);
    tcase_add_test(core, test_rope_cache);
    tcase_add_test(core, test_rope_cache_at);
    tcase_add_test(core, test_attention_none);
    tcase_add_test(core, test_attention_causal);
    tcase_add_test(core, test_attention_block_causal);
    tcase_add_test(core, test_attention_bd3_2l);
    tcase_add_test(core, test_attention_separate_kv);
    tcase_add_test(core, test_attention_split_chunks);
    tcase_add_test(core, test_attention_split_long);
    tcase_add_test(core, test_attention_split_batch_bitwise);
    tcase_add_test(core, test_skinny_f32);
    tcase_add_test(core, test_skinny_f16);
    tcase_add_test(core, test_skinny_rows_bitwise);
    tcase_add_test(core, test_tiled);
    tcase_add_test(core, test_tiled_rows_bitwise);
    tcase_add_test(core, test_linear_wide);
    tcase_add_test(core, test_wide_f32);
    tcase_add_test(core, test_wide_f16);
    tcase_add_test(core, test_wide_rows_bitwise);
    tcase_add_test(core, test_half_bits_conversion);
    tcase_add_test(core, test_half_bits_products);
    tcase_add_test(core, test_sgemm);
    tcase_add_test(core, test_log_softmax);
    tcase_add_test(core, test_elementwise);
    tcase_add_test(core, test_torch_parity);
    suite_add_tcase(s, core);

    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, DIDCL_CL_TIMEOUT);
    tcase_add_test(limits, test_half_conversion);
    tcase_add_test(limits, test_wide_tuning);
    tcase_add_test(limits, test_tiled_tuning);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_bad_arguments);
    tcase_add_test(limits, test_attention_split_limits);
    tcase_add_test(limits, test_attention_flash_parts);
    tcase_add_test(limits, test_sgemm_error);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) {
    testutil_skip_without_device();
    return testutil_run(ops_suite());
}

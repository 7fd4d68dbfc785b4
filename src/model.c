/*
 * model.c — BD3-LM (DiT with adaLN, RoPE, KV cache) and GPT-2 forward passes on the
 * device, built from the ops of ops.h. Load: weights to device buffers (fp32 or half),
 * constant adaLN vectors, activation buffers for max_tokens. Forward modes: cached block
 * step, store-KV, global (bidirectional or block-causal), the x_t (+) x_0 score pass,
 * and GPT-2's causal pass. The host/device decisions are stated in model.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devsample.h"
#include "error.h"
#include "fault.h"
#include "model.h"
#include "numeric.h"
#include "profile.h"
#include "runtime.h"

#define TIME_FREQ_DIM 256 /* sigma_map's sinusoidal embedding width (BD3-LM) */

/* ------------------------------------------------------------------------------------
 * Device buffers
 * ------------------------------------------------------------------------------------ */

static didcl_status buf_new(struct didcl_model *m, size_t bytes, const void *init, cl_mem *out,
                            const char *what) {
    cl_int err;
    cl_mem_flags fl = CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem b = didcl_fault_hit(DIDCL_FAULT_ALLOC)
                   ? (err = CL_MEM_OBJECT_ALLOCATION_FAILURE, NULL)
                   : clCreateBuffer(m->rt->context, fl, bytes ? bytes : 4, (void *)init, &err);
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "model: allocating %s (%zu bytes) on %s", what, bytes,
                             m->rt->info.name);
    *out = b;
    return DIDCL_OK;
}

static void buf_free(cl_mem *b) {
    if (*b)
        clReleaseMemObject(*b);
    *b = NULL;
}

/* Tensor name as the architecture calls it, or fail naming the model directory. */
static didcl_status tensor(didcl_model_files_t f, const char *name, const didcl_tensor_info **out) {
    const didcl_tensor_info *t = didcl_model_files_tensor(f, name);
    if (!t)
        return didcl_fail(DIDCL_ERR_NOT_FOUND, "%s: tensor '%s' not found",
                          didcl_model_files_dir(f), name);
    *out = t;
    return DIDCL_OK;
}

/* A tensor widened to fp32 in a malloc'd host array. */
static didcl_status host_f32(didcl_model_files_t f, const char *name, size_t numel, float **out) {
    const didcl_tensor_info *t = NULL;
    DIDCL_TRY(tensor(f, name, &t));
    if (t->numel != numel)
        return didcl_fail(DIDCL_ERR_SHAPE, "%s: tensor '%s' has %llu elements, expected %zu",
                          t->file, name, (unsigned long long)t->numel, numel);
    float *a = malloc(numel * sizeof *a);
    if (!a)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory reading '%s'", t->file, name);
    didcl_status rc = didcl_tensor_to_f32(t, a);
    if (rc != DIDCL_OK) {
        free(a);
        return rc;
    }
    *out = a;
    return DIDCL_OK;
}

/* Upload tensor `name` of rows x cols elements. transpose: the file holds it as
 * [cols, rows] (GPT-2 Conv1D) and it is stored [rows, cols]. big: a large matrix, stored
 * in the model's weight type; small ones are always fp32. */
static didcl_status upload(struct didcl_model *m, didcl_model_files_t f, const char *name,
                           size_t rows, size_t cols, int transpose, int big, cl_mem *out) {
    float *a;
    DIDCL_TRY(host_f32(f, name, rows * cols, &a));
    if (transpose) {
        float *t = malloc(rows * cols * sizeof *t);
        if (!t) {
            free(a);
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "model: out of memory transposing '%s'", name);
        }
        for (size_t i = 0; i < cols; i++)
            for (size_t j = 0; j < rows; j++)
                t[j * cols + i] = a[i * rows + j];
        free(a);
        a = t;
    }
    didcl_status rc;
    if (big && m->wt == DIDCL_WTYPE_F16) {
        uint16_t *h = malloc(rows * cols * sizeof *h);
        if (!h) {
            free(a);
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "model: out of memory converting '%s'", name);
        }
        for (size_t i = 0; i < rows * cols; i++)
            h[i] = didcl_numeric_half_from_float(a[i]);
        rc = buf_new(m, rows * cols * sizeof *h, h, out, name);
        free(h);
    } else {
        rc = buf_new(m, rows * cols * sizeof *a, a, out, name);
    }
    free(a);
    return rc;
}

/* ------------------------------------------------------------------------------------
 * adaLN (BD3-LM): c = SiLU(sigma_map(sigma)), then each layer's Linear(c)
 * ------------------------------------------------------------------------------------ */

static double silu(double x) {
    return x / (1.0 + exp(-x));
}

/* y (N,) = W (N, K) . x (K,) + b, double accumulation. */
static void matvec(double *y, const float *W, const float *b, const double *x, size_t N, size_t K) {
    for (size_t n = 0; n < N; n++) {
        double acc = b ? b[n] : 0.0;
        const float *w = W + n * K;
        for (size_t k = 0; k < K; k++)
            acc += (double)w[k] * x[k];
        y[n] = acc;
    }
}

static size_t mod_len(const didcl_model_config *c) {
    return (size_t)c->n_layers * 6 * c->hidden + 2 * (size_t)c->hidden;
}

void didcl_model_adaln(const struct didcl_model *m, float sigma, float *mod_host) {
    const size_t C = m->cfg.cond_dim, half = TIME_FREQ_DIM / 2, nm = mod_len(&m->cfg);
    double emb[TIME_FREQ_DIM], h[1024], c[1024];
    /* timestep embedding [cos | sin] of sigma, frequencies as PyTorch forms them (fp32) */
    for (size_t i = 0; i < half; i++) {
        float freq = expf(-logf(10000.0f) * (float)i / (float)half);
        float arg = sigma * freq;
        emb[i] = cosf(arg);
        emb[half + i] = sinf(arg);
    }
    matvec(h, m->sig_w0, m->sig_b0, emb, C, TIME_FREQ_DIM);
    for (size_t i = 0; i < C; i++)
        h[i] = silu((float)h[i]);
    matvec(c, m->sig_w2, m->sig_b2, h, C, C);
    for (size_t i = 0; i < C; i++)
        c[i] = silu((float)c[i]);
    for (size_t r = 0; r < nm; r++) {
        double acc = m->ada_b[r];
        const float *w = m->ada_w + r * C;
        for (size_t k = 0; k < C; k++)
            acc += (double)w[k] * (float)c[k];
        mod_host[r] = (float)acc;
    }
}

/* Read sigma_map and every adaLN Linear into host arrays (ada_w/ada_b stacked: layer l
 * rows [6Hl, 6H(l+1)), then the final layer's 2H rows). */
static didcl_status load_adaln(struct didcl_model *m, didcl_model_files_t f) {
    const didcl_model_config *c = &m->cfg;
    const size_t C = c->cond_dim, H = c->hidden, nm = mod_len(c);
    if (C > 1024)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: cond_dim %zu, expected at most 1024",
                          didcl_model_files_dir(f), C);
    DIDCL_TRY(host_f32(f, "backbone.sigma_map.mlp.0.weight", C * TIME_FREQ_DIM, &m->sig_w0));
    DIDCL_TRY(host_f32(f, "backbone.sigma_map.mlp.0.bias", C, &m->sig_b0));
    DIDCL_TRY(host_f32(f, "backbone.sigma_map.mlp.2.weight", C * C, &m->sig_w2));
    DIDCL_TRY(host_f32(f, "backbone.sigma_map.mlp.2.bias", C, &m->sig_b2));
    m->ada_w = malloc(nm * C * sizeof(float));
    m->ada_b = malloc(nm * sizeof(float));
    m->mod_host = malloc(nm * sizeof(float));
    if (!m->ada_w || !m->ada_b || !m->mod_host)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "model: out of memory for adaLN weights");
    char name[128];
    for (uint32_t l = 0; l <= c->n_layers; l++) {
        const size_t rows = l < c->n_layers ? 6 * H : 2 * H, r0 = (size_t)l * 6 * H;
        float *w, *b;
        if (l < c->n_layers)
            snprintf(name, sizeof name, "backbone.blocks.%u.adaLN_modulation", l);
        else
            snprintf(name, sizeof name, "backbone.output_layer.adaLN_modulation");
        char wn[160], bn[160];
        snprintf(wn, sizeof wn, "%s.weight", name);
        snprintf(bn, sizeof bn, "%s.bias", name);
        DIDCL_TRY(host_f32(f, wn, rows * C, &w));
        didcl_status rc = host_f32(f, bn, rows, &b);
        if (rc != DIDCL_OK) {
            free(w);
            return rc;
        }
        memcpy(m->ada_w + r0 * C, w, rows * C * sizeof(float));
        memcpy(m->ada_b + r0, b, rows * sizeof(float));
        free(w);
        free(b);
    }
    return DIDCL_OK;
}

/* Make m->mod hold the adaLN vectors of sigma (no-op if it already does). */
static didcl_status set_sigma(struct didcl_model *m, float sigma) {
    if (!m->cfg.time_conditioning || sigma == m->mod_sigma)
        return DIDCL_OK;
    didcl_model_adaln(m, sigma, m->mod_host);
    DIDCL_CL_TRY(clEnqueueWriteBuffer(m->rt->queue, m->mod, CL_TRUE, 0,
                                      mod_len(&m->cfg) * sizeof(float), m->mod_host, 0, NULL,
                                      didcl_profile_event(m->rt, "write_adaln")),
                 "model: uploading adaLN vectors");
    m->mod_sigma = sigma;
    return DIDCL_OK;
}

/* ------------------------------------------------------------------------------------
 * Open / free
 * ------------------------------------------------------------------------------------ */

static didcl_status load_bd3lm(struct didcl_model *m, didcl_model_files_t f) {
    const didcl_model_config *c = &m->cfg;
    const size_t H = c->hidden, F = c->mlp_dim, V = c->vocab_size;
    char n[160];
    DIDCL_TRY(upload(m, f, "backbone.vocab_embed.embedding", V, H, 0, 1, &m->embed));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        struct didcl_model_layer *L = &m->layers[l];
#define BLK(field, suffix, r, k, big)                                                   \
    do {                                                                                \
        snprintf(n, sizeof n, "backbone.blocks.%u.%s", l, suffix);                      \
        DIDCL_TRY(upload(m, f, n, (r), (k), 0, (big), &L->field));                      \
    } while (0)
        BLK(norm1, "norm1.weight", 1, H, 0);
        BLK(norm2, "norm2.weight", 1, H, 0);
        BLK(qkv_w, "attn_qkv.weight", 3 * H, H, 1);
        BLK(out_w, "attn_out.weight", H, H, 1);
        BLK(fc_w, "mlp.0.weight", F, H, 1);
        BLK(fc_b, "mlp.0.bias", 1, F, 0);
        BLK(proj_w, "mlp.2.weight", H, F, 1);
        BLK(proj_b, "mlp.2.bias", 1, H, 0);
#undef BLK
        DIDCL_TRY(buf_new(m, (size_t)m->max_batch * m->max_tokens * 2 * H * sizeof(float),
                          NULL, &L->kv, "KV cache"));
    }
    DIDCL_TRY(upload(m, f, "backbone.output_layer.norm_final.weight", 1, H, 0, 0, &m->final_norm));
    DIDCL_TRY(upload(m, f, "backbone.output_layer.linear.weight", V, H, 0, 1, &m->head_w));
    DIDCL_TRY(upload(m, f, "backbone.output_layer.linear.bias", 1, V, 0, 0, &m->head_b));
    /* RoPE table computed as PyTorch does (the stored inv_freq buffer is not trusted) */
    float inv[512];
    if (c->head_dim / 2 > 512 || c->head_dim % 2)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: head_dim %u, expected even and <= 1024",
                          didcl_model_files_dir(f), c->head_dim);
    didcl_numeric_rope_inv_freq(inv, (int)c->head_dim, 10000.0f);
    DIDCL_TRY(buf_new(m, c->head_dim / 2 * sizeof(float), inv, &m->inv_freq, "inv_freq"));
    /* adaLN: constant unless time conditioning is on */
    DIDCL_TRY(load_adaln(m, f));
    didcl_model_adaln(m, 0.0f, m->mod_host);
    m->mod_sigma = 0.0f;
    DIDCL_TRY(buf_new(m, mod_len(c) * sizeof(float), m->mod_host, &m->mod, "adaLN vectors"));
    if (!c->time_conditioning) {
        free(m->sig_w0); free(m->sig_b0); free(m->sig_w2); free(m->sig_b2);
        free(m->ada_w); free(m->ada_b); free(m->mod_host);
        m->sig_w0 = m->sig_b0 = m->sig_w2 = m->sig_b2 = m->ada_w = m->ada_b = m->mod_host = NULL;
    }
    return DIDCL_OK;
}

static didcl_status load_gpt2(struct didcl_model *m, didcl_model_files_t f) {
    const didcl_model_config *c = &m->cfg;
    const size_t H = c->hidden, F = c->mlp_dim, V = c->vocab_size;
    char n[160];
    DIDCL_TRY(upload(m, f, "wte.weight", V, H, 0, 1, &m->embed));
    DIDCL_TRY(upload(m, f, "wpe.weight", c->context_length, H, 0, 1, &m->wpe));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        struct didcl_model_layer *L = &m->layers[l];
#define BLK(field, suffix, r, k, tr, big)                                               \
    do {                                                                                \
        snprintf(n, sizeof n, "h.%u.%s", l, suffix);                                    \
        DIDCL_TRY(upload(m, f, n, (r), (k), (tr), (big), &L->field));                   \
    } while (0)
        BLK(norm1, "ln_1.weight", 1, H, 0, 0);
        BLK(norm1_b, "ln_1.bias", 1, H, 0, 0);
        BLK(norm2, "ln_2.weight", 1, H, 0, 0);
        BLK(norm2_b, "ln_2.bias", 1, H, 0, 0);
        BLK(qkv_w, "attn.c_attn.weight", 3 * H, H, 1, 1);
        BLK(qkv_b, "attn.c_attn.bias", 1, 3 * H, 0, 0);
        BLK(out_w, "attn.c_proj.weight", H, H, 1, 1);
        BLK(out_b, "attn.c_proj.bias", 1, H, 0, 0);
        BLK(fc_w, "mlp.c_fc.weight", F, H, 1, 1);
        BLK(fc_b, "mlp.c_fc.bias", 1, F, 0, 0);
        BLK(proj_w, "mlp.c_proj.weight", H, F, 1, 1);
        BLK(proj_b, "mlp.c_proj.bias", 1, H, 0, 0);
#undef BLK
    }
    DIDCL_TRY(upload(m, f, "ln_f.weight", 1, H, 0, 0, &m->final_norm));
    DIDCL_TRY(upload(m, f, "ln_f.bias", 1, H, 0, 0, &m->final_norm_b));
    if (didcl_model_files_tensor(f, "lm_head.weight"))
        DIDCL_TRY(upload(m, f, "lm_head.weight", V, H, 0, 1, &m->head_w));
    return DIDCL_OK;
}

/* Bytes of the attention scratch (scores): the CLBlast path's scores of one chunk of
 * queries, the split path's partials of a batched block step (ATTN_SMALL_Q queries of
 * max_batch sequences against full caches), or the flash path's key-part partials of a
 * pass of up to R queries and keys, whichever is largest. */
static size_t attn_scratch_bytes(const struct didcl_model *m) {
    const size_t R = m->rows, chunk = R < ATTN_CHUNK ? R : ATTN_CHUNK;
    const size_t wide = m->cfg.n_heads * chunk * R * sizeof(float);
    const size_t split = didcl_ops_attention_scratch_bytes(
        m->rt, (int)m->max_batch, ATTN_SMALL_Q, (int)m->max_tokens, (int)m->cfg.n_heads,
        (int)m->cfg.head_dim);
    const size_t flash = didcl_ops_attention_flash_scratch_bytes(
        m->rt, (int)R, (int)R, (int)m->cfg.n_heads, (int)m->cfg.head_dim);
    const size_t most = wide > split ? wide : split;
    return most > flash ? most : flash;
}

static didcl_status alloc_activations(struct didcl_model *m) {
    const didcl_model_config *c = &m->cfg;
    const size_t R = m->rows, H = c->hidden, F = c->mlp_dim, V = c->vocab_size;
    const size_t T = m->max_tokens, chunk = R < ATTN_CHUNK ? R : ATTN_CHUNK;
    DIDCL_TRY(buf_new(m, R * sizeof(int32_t), NULL, &m->ids, "token ids"));
    DIDCL_TRY(buf_new(m, R * H * sizeof(float), NULL, &m->x, "activations"));
    DIDCL_TRY(buf_new(m, R * H * sizeof(float), NULL, &m->h, "activations"));
    DIDCL_TRY(buf_new(m, R * H * sizeof(float), NULL, &m->att, "activations"));
    DIDCL_TRY(buf_new(m, R * H * sizeof(float), NULL, &m->proj, "activations"));
    DIDCL_TRY(buf_new(m, R * 3 * H * sizeof(float), NULL, &m->qkv, "activations"));
    DIDCL_TRY(buf_new(m, R * F * sizeof(float), NULL, &m->mlp, "activations"));
    DIDCL_TRY(buf_new(m, chunk * H * sizeof(float), NULL, &m->att_chunk, "activations"));
    DIDCL_TRY(buf_new(m, attn_scratch_bytes(m), NULL, &m->scores, "attention scratch"));
    DIDCL_TRY(buf_new(m, T * V * sizeof(float), NULL, &m->logits, "logits"));
    DIDCL_TRY(buf_new(m, T * 2 * sizeof(float), NULL, &m->stats, "logit statistics"));
    DIDCL_TRY(buf_new(m, T * sizeof(int32_t), NULL, &m->tgt, "targets"));
    DIDCL_TRY(buf_new(m, T * sizeof(int32_t), NULL, &m->sel, "wanted rows"));
    DIDCL_TRY(buf_new(m, T * sizeof(int32_t), NULL, &m->pos, "row positions"));
    if (!(m->sel_host = malloc(T * sizeof(int32_t))) ||
        !(m->ids_host = malloc(T * sizeof(int32_t))) || !(m->want_host = malloc(T)))
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "model: out of memory for row indices");
    DIDCL_TRY(buf_new(m, T * sizeof(float), NULL, &m->lp, "log-probabilities"));
    return DIDCL_OK;
}

/* The staging buffer of half-weight products on devices that widen them for CLBlast:
 * sized for the largest matrix (NULL when the device never stages). */
static didcl_status alloc_stage(struct didcl_model *m) {
    const int H = (int)m->cfg.hidden, F = (int)m->cfg.mlp_dim, V = (int)m->cfg.vocab_size;
    const int shapes[][2] = {{3 * H, H}, {H, H}, {F, H}, {H, F}, {V, H}};
    size_t bytes = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        size_t s = didcl_ops_linear_stage_bytes(m->rt, shapes[i][0], shapes[i][1], m->wt);
        bytes = s > bytes ? s : bytes;
    }
    return bytes ? buf_new(m, bytes, NULL, &m->stage, "half-weight staging") : DIDCL_OK;
}

/* Check up front, with the numbers, that what didcl_model_open is about to allocate fits
 * the device: the total in its global memory and the largest buffer in one allocation.
 * Drivers may accept a buffer lazily and fail (or page) only at first use, mid-run. */
static didcl_status check_fits(const struct didcl_model *m, const char *dir) {
    const didcl_model_config *c = &m->cfg;
    const didcl_device_info *d = &m->rt->info;
    const double R = m->rows, T = m->max_tokens, H = c->hidden, F = c->mlp_dim,
                 V = c->vocab_size, f = sizeof(float);
    const double chunk = R < ATTN_CHUNK ? R : ATTN_CHUNK;
    const double weights = (double)didcl_model_config_param_count(c) *
                           (m->wt == DIDCL_WTYPE_F16 ? 2 : 4);
    const double kv_layer = c->arch == DIDCL_ARCH_BD3LM ? (double)m->max_batch * T * 2 * H * f : 0;
    const double kv = kv_layer * c->n_layers;
    const double acts = R * 4 + R * H * f * 4 + R * 3 * H * f + R * F * f + chunk * H * f +
                        (double)attn_scratch_bytes(m) + T * V * f + T * 4 * f;
    const double need = weights + kv + acts;
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (need > (double)d->global_mem)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "%s: the model needs %.2f GiB of device memory (weights %.2f, KV cache "
                          "%.2f for %u sequences of %u tokens, activations %.2f) but %s has "
                          "%.2f GiB; lower the batch (--batch), the samples drafted together or "
                          "the length", dir, need / gib, weights / gib, kv / gib, m->max_batch,
                          m->max_tokens, acts / gib, d->name, (double)d->global_mem / gib);
    const struct { const char *what; double bytes; } bufs[] = {
        {"a layer's KV cache", kv_layer}, {"the logits", T * V * f},
        {"the attention scratch", (double)attn_scratch_bytes(m)},
        {"the MLP activations", R * F * f},
        {"the embedding", V * H * (m->wt == DIDCL_WTYPE_F16 ? 2 : f)}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i].bytes > (double)d->max_alloc)
            return didcl_fail(DIDCL_ERR_INVALID_ARG,
                              "%s: %s needs %.0f bytes in one buffer, but %s allocates at most "
                              "%llu (CL_DEVICE_MAX_MEM_ALLOC_SIZE); lower the batch or the length",
                              dir, bufs[i].what, bufs[i].bytes, d->name,
                              (unsigned long long)d->max_alloc);
    return DIDCL_OK;
}

didcl_status didcl_model_open(didcl_runtime_t rt, didcl_model_files_t files,
                              const didcl_model_options *opt, didcl_model_t *out) {
    static const didcl_model_options defaults = {0, 0, 0};
    if (!rt || !files || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_model_open: NULL runtime, files or out");
    if (!opt)
        opt = &defaults;
    const didcl_model_config *c = didcl_model_files_config(files);
    if (opt->max_tokens > c->context_length)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "%s: max_tokens %u exceeds the context length %u",
                          didcl_model_files_dir(files), opt->max_tokens, c->context_length);
    struct didcl_model *m = calloc(1, sizeof *m);
    if (!m)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "didcl_model_open: out of memory");
    m->rt = rt;
    m->cfg = *c;
    m->wt = opt->half_weights ? DIDCL_WTYPE_F16 : DIDCL_WTYPE_F32;
    m->max_tokens = opt->max_tokens ? opt->max_tokens : c->context_length;
    m->max_batch = opt->max_batch ? opt->max_batch : 1;
    m->rows = c->arch == DIDCL_ARCH_BD3LM ? 2 * m->max_tokens : m->max_tokens;
    didcl_status rc = check_fits(m, didcl_model_files_dir(files));
    if (rc != DIDCL_OK) {
        free(m);
        return rc;
    }
    m->layers = calloc(c->n_layers, sizeof *m->layers);
    rc = m->layers ? DIDCL_OK : didcl_fail(DIDCL_ERR_NO_MEMORY, "didcl_model_open: out of memory");
    if (rc == DIDCL_OK)
        rc = c->arch == DIDCL_ARCH_BD3LM ? load_bd3lm(m, files) : load_gpt2(m, files);
    if (rc == DIDCL_OK)
        rc = alloc_activations(m);
    if (rc == DIDCL_OK)
        rc = alloc_stage(m);
    if (rc != DIDCL_OK) {
        didcl_model_free(m);
        return rc;
    }
    *out = m;
    return DIDCL_OK;
}

void didcl_model_free(didcl_model_t m) {
    if (!m)
        return;
    for (uint32_t l = 0; m->layers && l < m->cfg.n_layers; l++) {
        struct didcl_model_layer *L = &m->layers[l];
        cl_mem *all[] = {&L->norm1, &L->norm1_b, &L->norm2, &L->norm2_b, &L->qkv_w,
                         &L->qkv_b, &L->out_w,   &L->out_b, &L->fc_w,    &L->fc_b,
                         &L->proj_w, &L->proj_b, &L->kv};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            buf_free(all[i]);
    }
    free(m->layers);
    cl_mem *all[] = {&m->embed, &m->wpe,  &m->final_norm, &m->final_norm_b, &m->head_w,
                     &m->head_b, &m->inv_freq, &m->mod, &m->ids, &m->x, &m->h, &m->att,
                     &m->proj, &m->qkv, &m->mlp, &m->att_chunk, &m->scores, &m->logits,
                     &m->stats, &m->tgt, &m->lp, &m->stage, &m->sel, &m->pos};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        buf_free(all[i]);
    free(m->sig_w0); free(m->sig_b0); free(m->sig_w2); free(m->sig_b2);
    free(m->ada_w); free(m->ada_b); free(m->mod_host); free(m->sel_host);
    free(m->ids_host);
    free(m->want_host);
    didcl_devsample_free(m->sampler);
    free(m->sampler);
    free(m);
}

/* The getters answer NULL or 0 for a NULL model, as a model that holds nothing. */
const didcl_model_config *didcl_model_get_config(didcl_model_t m) {
    return m ? &m->cfg : NULL;
}

uint32_t didcl_model_max_tokens(didcl_model_t m) {
    return m ? m->max_tokens : 0;
}

uint32_t didcl_model_cached(didcl_model_t m) {
    return m ? m->cached : 0;
}

void didcl_model_reset(didcl_model_t m) {
    if (m)
        m->cached = 0;
}

uint32_t didcl_model_logit_rows(didcl_model_t m) {
    return m ? m->logit_rows : 0;
}

/* Whether Tq queries of a sequence take the split small-query path (ops.h). */
static int attn_small(const struct didcl_model *m, int Tq) {
    return Tq <= ATTN_SMALL_Q && m->cfg.head_dim % 4 == 0 && m->cfg.head_dim <= 256;
}

didcl_status didcl_model_prepare(didcl_model_t m, uint32_t rows) {
    if (!m)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_model_prepare: NULL model");
    const int wide = m->wt == DIDCL_WTYPE_F32 ? m->rt->gemm.wide_m : m->rt->gemm.half_wide_m;
    const int clblast = rows >= (uint32_t)wide || !attn_small(m, (int)rows);
    return didcl_ops_prepare(m->rt, m->wt == DIDCL_WTYPE_F16, clblast);
}

/* ------------------------------------------------------------------------------------
 * Forward passes
 * ------------------------------------------------------------------------------------ */

/* out (Tq, H) = attention of Tq queries over Tk keys: the split small-query path, the
 * flash kernel, or the CLBlast path in chunks of ATTN_CHUNK queries (through att_chunk
 * when chunked). */

static didcl_status attend(struct didcl_model *m, int Tq, int Tk, didcl_ops_rows q,
                           didcl_ops_rows k, didcl_ops_rows v, const didcl_attn_mask *mask) {
    const didcl_model_config *c = &m->cfg;
    const int heads = (int)c->n_heads, hd = (int)c->head_dim, H = (int)c->hidden;
    const float scale = 1.0f / sqrtf((float)hd);
    if (attn_small(m, Tq))
        return didcl_ops_attention(m->rt, Tq, Tk, heads, hd, scale, q, k, v, mask, m->scores,
                                   m->att);
    if (ATTN_FLASH(m->rt, hd, mask->mode))
        return didcl_ops_attention_flash(m->rt, Tq, Tk, heads, hd, scale, q, k, v, mask,
                                         m->scores, m->att);
    for (int c0 = 0; c0 < Tq; c0 += ATTN_CHUNK) {
        const int tc = Tq - c0 < ATTN_CHUNK ? Tq - c0 : ATTN_CHUNK;
        didcl_ops_rows qc = q;
        qc.off += c0 * q.stride;
        didcl_attn_mask mc = *mask;
        mc.q_offset += c0;
        cl_mem dst = Tq <= ATTN_CHUNK ? m->att : m->att_chunk;
        DIDCL_TRY(didcl_ops_attention_wide(m->rt, tc, Tk, heads, hd, scale, qc, k, v, &mc,
                                           m->scores, dst));
        if (dst != m->att) {
            DIDCL_CL_TRY(clEnqueueCopyBuffer(m->rt->queue, dst, m->att, 0,
                                             (size_t)c0 * H * sizeof(float),
                                             (size_t)tc * H * sizeof(float), 0, NULL,
                                             didcl_profile_event(m->rt, "copy_attention_chunk")),
                         "model: copying an attention chunk");
            m->rt->launches++;
        }
    }
    return DIDCL_OK;
}

static didcl_status upload_ids(struct didcl_model *m, const int32_t *ids, size_t off, size_t n,
                               const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->cfg.vocab_size)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward: %s[%zu] = %d, expected 0..%u",
                              what, i, (int)ids[i], m->cfg.vocab_size - 1);
    /* blocking: the caller may reuse ids as soon as the forward returns */
    DIDCL_CL_TRY(clEnqueueWriteBuffer(m->rt->queue, m->ids, CL_TRUE, off * sizeof(int32_t),
                                      n * sizeof(int32_t), ids, 0, NULL,
                                      didcl_profile_event(m->rt, "write_ids")),
                 "model: uploading token ids");
    return DIDCL_OK;
}

/* y = act(x . W^T + b) over batch stacked sequences of n rows each, each sequence's rows
 * bitwise what it alone gives (didcl_ops_linear picks the path by n), through the
 * model's staging buffer for half weights. */
static didcl_status product(struct didcl_model *m, int batch, int n, int N, int K, cl_mem x,
                            cl_mem W, cl_mem b, enum didcl_act act, cl_mem y) {
    return didcl_ops_linear(m->rt, batch, n, N, K, x, W, m->wt, b, act, y, m->stage);
}

/* The head of a block step on its n_out wanted rows (indices in m->sel_host and m->sel,
 * into the batch * n normed rows of h), packed as logits rows 0..n_out-1, each bitwise
 * that row of the full step. Where the head computes each row as it would alone
 * (gemm_skinny/gemm_tiled: didcl_ops_linear_rowwise) the wanted rows are gathered first
 * (a pure copy, through the embedding kernel as a row gather) and multiplied alone:
 * first-hitting's head is one row per sequence instead of the block. Elsewhere (the
 * wide paths) the head runs on every row and the wanted rows are moved up, one copy each
 * (row sel[j] >= j, so ascending j never overwrites a row still to move). */
static didcl_status block_head_wanted(struct didcl_model *m, int batch, int n, int n_out) {
    didcl_runtime_t rt = m->rt;
    const int H = (int)m->cfg.hidden, V = (int)m->cfg.vocab_size;
    if (didcl_ops_linear_rowwise(rt, n, m->wt, m->stage)) {
        DIDCL_TRY(didcl_ops_embed(rt, n_out, H, batch * n, m->sel, m->h, NULL, 0, 0,
                                  DIDCL_WTYPE_F32, m->att));
        return product(m, n_out, 1, V, H, m->att, m->head_w, m->head_b, DIDCL_ACT_NONE,
                       m->logits);
    }
    DIDCL_TRY(product(m, batch, n, V, H, m->h, m->head_w, m->head_b, DIDCL_ACT_NONE,
                      m->logits));
    const size_t row = (size_t)V * sizeof(float);
    for (int j = 0; j < n_out; j++) {
        const int from = m->sel_host[j];
        if (from == j)
            continue;
        DIDCL_CL_TRY(clEnqueueCopyBuffer(rt->queue, m->logits, m->logits, (size_t)from * row,
                                         (size_t)j * row, row, 0, NULL,
                                         didcl_profile_event(rt, "copy_wanted_row")),
                     "model: moving a wanted row of logits");
        rt->launches++;
    }
    return DIDCL_OK;
}

/* batch: sequences of a cached mode (1 otherwise); their rows are stacked, sequence b
 * at rows [b*n, (b+1)*n) of every activation. */
static didcl_status bd3lm_forward(struct didcl_model *m, const didcl_forward *f, int batch) {
    didcl_runtime_t rt = m->rt;
    const didcl_model_config *c = &m->cfg;
    const int H = (int)c->hidden, F = (int)c->mlp_dim, V = (int)c->vocab_size;
    const int heads = (int)c->n_heads, hd = (int)c->head_dim, W = 3 * H;
    const float eps = (float)c->norm_eps;
    const int n = (int)f->n, start = (int)f->start;
    const int T = f->mode == DIDCL_FORWARD_SCORE ? 2 * n : batch * n;
    const int cached = f->mode == DIDCL_FORWARD_BLOCK || f->mode == DIDCL_FORWARD_STORE_KV;
    /* through the KV cache: the cached steps, the whole-sequence pass that keeps its K/V
     * (a block step at 0 over everything) and the K/V-reuse rows over the cache */
    const int rows_mode = f->mode == DIDCL_FORWARD_ROWS;
    const int via_cache = cached || f->mode == DIDCL_FORWARD_GLOBAL_KV || rows_mode;
    const int kv_len = rows_mode ? (int)m->cached : start + n; /* keys attended to */
    const didcl_ops_rows qv = {m->qkv, 0, W}, kv = {m->qkv, H, W}, vv = {m->qkv, 2 * H, W};
    /* products over the stacked rows of a batch: see product() */
    const int pb = cached ? batch : 1, pn = cached ? n : T;

    DIDCL_TRY(set_sigma(m, f->sigma));
    DIDCL_TRY(upload_ids(m, f->ids, 0, (size_t)batch * n, "ids"));
    if (f->mode == DIDCL_FORWARD_SCORE)
        DIDCL_TRY(upload_ids(m, f->x0, (size_t)n, (size_t)n, "x0"));
    if (rows_mode) /* checked by didcl_model_forward_batch */
        DIDCL_CL_TRY(clEnqueueWriteBuffer(rt->queue, m->pos, CL_TRUE, 0,
                                          sizeof(int32_t) * (size_t)n, f->pos, 0, NULL,
                                          didcl_profile_event(rt, "write_row_positions")),
                     "model: uploading row positions");
    DIDCL_TRY(didcl_ops_embed(rt, T, H, V, m->ids, m->embed, NULL, 0, 0, m->wt, m->x));

    /* final norm's offset in mod; a global pass's row selection gathers the wanted rows
     * in it (a block step's gathers after it: see the output layer) */
    const int fo = (int)c->n_layers * 6 * H;
    const int gather = (f->mode == DIDCL_FORWARD_GLOBAL || f->mode == DIDCL_FORWARD_GLOBAL_KV ||
                        rows_mode) && f->want;
    didcl_attn_mask mask = {DIDCL_ATTN_NONE, 0, 0, 0};
    if (f->mode == DIDCL_FORWARD_GLOBAL && f->block > 0 && (int)f->block < n)
        mask = (didcl_attn_mask){DIDCL_ATTN_BLOCK_CAUSAL, 0, (int)f->block, 0};
    else if (f->mode == DIDCL_FORWARD_SCORE)
        mask = (didcl_attn_mask){DIDCL_ATTN_BD3_2L, 0, (int)f->block, n};

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct didcl_model_layer *L = &m->layers[l];
        const int mo = (int)l * 6 * H;
        if (l == 0) /* later layers get h from the previous layer's fused residual */
            DIDCL_TRY(didcl_ops_layernorm_modulate(rt, T, H, eps, m->x, L->norm1, m->mod, mo,
                                                   mo + H, 0, m->h));
        DIDCL_TRY(product(m, pb, pn, W, H, m->h, L->qkv_w, NULL, DIDCL_ACT_NONE, m->qkv));
        if (via_cache) {
            if (rows_mode)
                DIDCL_TRY(didcl_ops_rope_cache_at(rt, n, heads, hd, m->pos, m->inv_freq, m->qkv,
                                                  L->kv));
            else
                DIDCL_TRY(didcl_ops_rope_cache(rt, batch, n, heads, hd, start, m->inv_freq,
                                               m->qkv, L->kv, (int)m->max_tokens));
            if (f->mode == DIDCL_FORWARD_STORE_KV && l + 1 == c->n_layers)
                return DIDCL_OK; /* the last layer's K/V is all a store pass needs */
            const int kvs = (int)m->max_tokens * 2 * H; /* elements between caches */
            const didcl_ops_rows kc0 = {L->kv, 0, 2 * H}, vc0 = {L->kv, H, 2 * H};
            if (attn_small(m, n)) /* every sequence in one launch */
                DIDCL_TRY(didcl_ops_attention_batch(rt, batch, n, kv_len, heads, hd,
                                                    1.0f / sqrtf((float)hd), qv, kc0, vc0,
                                                    &mask, n * W, kvs, m->scores, m->att));
            /* else last sequence first: each attends into att rows [0, n), and sequences
             * b > 0 move their rows to [b*n, (b+1)*n) before sequence 0 writes its own */
            for (int b = attn_small(m, n) ? -1 : batch - 1; b >= 0; b--) {
                didcl_ops_rows qb = {m->qkv, b * n * W, W};
                didcl_ops_rows kc = {L->kv, b * kvs, 2 * H}, vc = {L->kv, b * kvs + H, 2 * H};
                DIDCL_TRY(attend(m, n, kv_len, qb, kc, vc, &mask));
                if (b > 0) {
                    DIDCL_CL_TRY(clEnqueueCopyBuffer(rt->queue, m->att, m->att, 0,
                                                     (size_t)b * n * H * sizeof(float),
                                                     (size_t)n * H * sizeof(float), 0, NULL,
                                                     didcl_profile_event(rt, "copy_batch_rows")),
                                 "model: placing a sequence's attention rows");
                    rt->launches++;
                }
            }
        } else {
            DIDCL_TRY(didcl_ops_rope_rows(rt, n, heads, hd, 0, m->inv_freq, qv, 2));
            if (f->mode == DIDCL_FORWARD_SCORE) { /* the x_0 half: positions 0..n-1 again */
                didcl_ops_rows q0 = {m->qkv, n * W, W};
                DIDCL_TRY(didcl_ops_rope_rows(rt, n, heads, hd, 0, m->inv_freq, q0, 2));
            }
            DIDCL_TRY(attend(m, T, T, qv, kv, vv, &mask));
        }
        DIDCL_TRY(product(m, pb, pn, H, H, m->att, L->out_w, NULL, DIDCL_ACT_NONE, m->proj));
        DIDCL_TRY(didcl_ops_residual_layernorm_modulate(rt, T, H, eps, m->x, m->proj, L->norm2,
                                                        m->mod, mo + 2 * H, mo + 3 * H,
                                                        mo + 4 * H, 0, m->h));
        DIDCL_TRY(product(m, pb, pn, F, H, m->h, L->fc_w, L->fc_b, DIDCL_ACT_GELU, m->mlp));
        DIDCL_TRY(product(m, pb, pn, H, F, m->mlp, L->proj_w, L->proj_b, DIDCL_ACT_NONE,
                          m->proj));
        /* the MLP residual, fused with the next LayerNorm: the next layer's norm1, or the
         * final norm over every row (a row selection gathers x first, so it stays apart) */
        const int last = l + 1 == c->n_layers, no = last ? fo : mo + 6 * H;
        if (last && gather)
            DIDCL_TRY(didcl_ops_gated_residual(rt, T, H, m->x, m->proj, m->mod, mo + 5 * H, 0));
        else
            DIDCL_TRY(didcl_ops_residual_layernorm_modulate(
                rt, T, H, eps, m->x, m->proj, last ? m->final_norm : m->layers[l + 1].norm1,
                m->mod, mo + 5 * H, no, no + H, 0, m->h));
    }
    /* output layer on the rows that give logits (the x_t half when scoring; h already
     * holds their final norm), or on the wanted rows only (want): their indices go up */
    int n_out = batch * n;
    if (f->want) {
        int32_t *idx = m->sel_host;
        n_out = 0;
        for (int i = 0; i < batch * n; i++)
            if (f->want[i])
                idx[n_out++] = i;
        if (n_out == 0)
            return DIDCL_OK;
        DIDCL_CL_TRY(clEnqueueWriteBuffer(rt->queue, m->sel, CL_TRUE, 0,
                                          sizeof *idx * (size_t)n_out, idx, 0, NULL,
                                          didcl_profile_event(rt, "write_wanted_rows")),
                     "model: uploading the wanted rows");
    }
    if (gather) { /* global: the final norm gathers them (one launch however scattered) */
        DIDCL_TRY(didcl_ops_layernorm_modulate_rows(rt, n_out, H, eps, m->x, m->sel,
                                                    m->final_norm, m->mod, fo, fo + H, 0, m->h));
        DIDCL_TRY(product(m, 1, n_out, V, H, m->h, m->head_w, m->head_b, DIDCL_ACT_NONE,
                          m->logits));
    } else if (f->want && n_out < batch * n) {
        DIDCL_TRY(block_head_wanted(m, batch, n, n_out));
    } else {
        DIDCL_TRY(product(m, pb, cached ? n : n_out, V, H, m->h, m->head_w, m->head_b,
                          DIDCL_ACT_NONE, m->logits));
    }
    m->logit_rows = (uint32_t)n_out;
    return DIDCL_OK;
}

static didcl_status gpt2_forward(struct didcl_model *m, const didcl_forward *f) {
    didcl_runtime_t rt = m->rt;
    const didcl_model_config *c = &m->cfg;
    const int H = (int)c->hidden, F = (int)c->mlp_dim, V = (int)c->vocab_size, W = 3 * H;
    const float eps = (float)c->norm_eps;
    const int T = (int)f->n;
    const didcl_ops_rows qv = {m->qkv, 0, W}, kv = {m->qkv, H, W}, vv = {m->qkv, 2 * H, W};
    const didcl_attn_mask mask = {DIDCL_ATTN_CAUSAL, 0, 0, 0};
    DIDCL_TRY(upload_ids(m, f->ids, 0, (size_t)T, "ids"));
    DIDCL_TRY(didcl_ops_embed(rt, T, H, V, m->ids, m->embed, m->wpe, (int)c->context_length, 0,
                              m->wt, m->x));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct didcl_model_layer *L = &m->layers[l];
        DIDCL_TRY(didcl_ops_layernorm_bias(rt, T, H, eps, m->x, L->norm1, L->norm1_b, m->h));
        DIDCL_TRY(product(m, 1, T, W, H, m->h, L->qkv_w, L->qkv_b, DIDCL_ACT_NONE, m->qkv));
        DIDCL_TRY(attend(m, T, T, qv, kv, vv, &mask));
        DIDCL_TRY(product(m, 1, T, H, H, m->att, L->out_w, L->out_b, DIDCL_ACT_NONE, m->proj));
        DIDCL_TRY(didcl_ops_axpy(rt, T * H, 1.0f, m->proj, m->x));
        DIDCL_TRY(didcl_ops_layernorm_bias(rt, T, H, eps, m->x, L->norm2, L->norm2_b, m->h));
        DIDCL_TRY(product(m, 1, T, F, H, m->h, L->fc_w, L->fc_b, DIDCL_ACT_GELU, m->mlp));
        DIDCL_TRY(product(m, 1, T, H, F, m->mlp, L->proj_w, L->proj_b, DIDCL_ACT_NONE,
                          m->proj));
        DIDCL_TRY(didcl_ops_axpy(rt, T * H, 1.0f, m->proj, m->x));
    }
    DIDCL_TRY(didcl_ops_layernorm_bias(rt, T, H, eps, m->x, m->final_norm, m->final_norm_b, m->h));
    DIDCL_TRY(product(m, 1, T, V, H, m->h, m->head_w ? m->head_w : m->embed, NULL,
                      DIDCL_ACT_NONE, m->logits));
    m->logit_rows = (uint32_t)T;
    return DIDCL_OK;
}

static const char *mode_name(enum didcl_forward_mode mode) {
    switch (mode) {
    case DIDCL_FORWARD_BLOCK: return "block";
    case DIDCL_FORWARD_STORE_KV: return "store-kv";
    case DIDCL_FORWARD_GLOBAL: return "global";
    case DIDCL_FORWARD_SCORE: return "score";
    case DIDCL_FORWARD_CAUSAL: return "causal";
    case DIDCL_FORWARD_GLOBAL_KV: return "global-kv";
    case DIDCL_FORWARD_ROWS: return "rows";
    }
    return "?";
}

didcl_status didcl_model_forward(didcl_model_t m, const didcl_forward *f) {
    return didcl_model_forward_batch(m, f, 1);
}

didcl_status didcl_model_forward_batch(didcl_model_t m, const didcl_forward *f, uint32_t batch) {
    if (!m || !f || !f->ids)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward: NULL model, request or ids");
    const int bd3 = m->cfg.arch == DIDCL_ARCH_BD3LM;
    const int mode = (int)f->mode;
    if (mode < DIDCL_FORWARD_BLOCK || mode > DIDCL_FORWARD_ROWS)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward: mode %d, expected 0..6", mode);
    const char *name = mode_name(f->mode);
    if (bd3 != (f->mode != DIDCL_FORWARD_CAUSAL))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward: mode %s does not apply to a %s model",
                          name, didcl_arch_str(m->cfg.arch));
    const int cached = f->mode == DIDCL_FORWARD_BLOCK || f->mode == DIDCL_FORWARD_STORE_KV;
    if (f->n == 0 || (uint64_t)(cached ? f->start : 0) + f->n > m->max_tokens)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "forward %s: tokens [%u, %u), expected 1 to %u tokens within "
                          "max_tokens %u",
                          name, cached ? f->start : 0, (cached ? f->start : 0) + f->n,
                          m->max_tokens, m->max_tokens);
    if (cached && f->start != m->cached)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "forward %s: start %u, expected the cached length %u", name, f->start,
                          m->cached);
    if (!cached && f->start != 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward %s: start %u, expected 0", name,
                          f->start);
    if (batch != 1 && (!cached || batch == 0 || batch > m->max_batch ||
                       (uint64_t)batch * f->n > m->max_tokens))
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "forward %s: batch of %u sequences of %u tokens, expected a cached "
                          "mode (block, store-kv), 1 to max_batch %u sequences and at most "
                          "max_tokens %u tokens in all",
                          name, batch, f->n, m->max_batch, m->max_tokens);
    if (f->want && f->mode != DIDCL_FORWARD_GLOBAL && f->mode != DIDCL_FORWARD_GLOBAL_KV &&
        f->mode != DIDCL_FORWARD_ROWS && f->mode != DIDCL_FORWARD_BLOCK)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward %s: row selection (want) is for "
                          "modes block, global, global-kv and rows only", name);
    if ((f->pos != NULL) != (f->mode == DIDCL_FORWARD_ROWS))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward %s: %s", name,
                          f->pos ? "positions (pos) are for mode rows only"
                                 : "expected the rows' positions (pos)");
    if (f->mode == DIDCL_FORWARD_ROWS) {
        if (f->n > m->cached)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward rows: %u rows over a cache of "
                              "%u positions, expected at most the cached length (a global-kv "
                              "pass fills the cache)", f->n, m->cached);
        for (uint32_t i = 0; i < f->n; i++)
            if (f->pos[i] < (i ? f->pos[i - 1] + 1 : 0) || (uint32_t)f->pos[i] >= m->cached)
                return didcl_fail(DIDCL_ERR_INVALID_ARG, "forward rows: pos[%u] = %d, expected "
                                  "increasing positions below the cached length %u", i,
                                  (int)f->pos[i], m->cached);
    }
    if (f->mode == DIDCL_FORWARD_SCORE && (!f->x0 || f->block == 0))
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "forward score: expected x0 and a block size > 0");
    m->logit_rows = 0;
    if (f->mode == DIDCL_FORWARD_GLOBAL_KV)
        m->cached = 0; /* overwritten from position 0 on, valid again only if it succeeds */
    didcl_status rc = bd3 ? bd3lm_forward(m, f, (int)batch) : gpt2_forward(m, f);
    if (rc != DIDCL_OK)
        return rc;
    if (f->mode == DIDCL_FORWARD_STORE_KV || f->mode == DIDCL_FORWARD_GLOBAL_KV)
        m->cached = f->start + f->n;
    return DIDCL_OK;
}

/* ------------------------------------------------------------------------------------
 * Reading results
 * ------------------------------------------------------------------------------------ */

static didcl_status check_rows(didcl_model_t m, uint32_t first, uint32_t count, const char *op) {
    if (!m)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "%s: NULL model", op);
    if (count == 0 || (uint64_t)first + count > m->logit_rows)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "%s: rows [%u, %u), expected a non-empty range within the %u rows "
                          "of the last forward",
                          op, first, first + count, m->logit_rows);
    return DIDCL_OK;
}

static int excluded(didcl_model_t m) {
    return m->cfg.arch == DIDCL_ARCH_BD3LM ? m->cfg.mask_token_id : -1;
}

didcl_status didcl_model_rows(didcl_model_t m, uint32_t first, uint32_t count,
                              enum didcl_rows_kind kind, float *out) {
    DIDCL_TRY(check_rows(m, first, count, "model rows"));
    if (!out || (kind != DIDCL_ROWS_LOGITS && kind != DIDCL_ROWS_LOGPROBS))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "model rows: %s, expected an output array and "
                          "kind 0 (logits) or 1 (logprobs)", out ? "unknown kind" : "NULL out");
    const size_t V = m->cfg.vocab_size;
    if (kind == DIDCL_ROWS_LOGPROBS)
        DIDCL_TRY(didcl_ops_max_lse(m->rt, (int)(first + count), (int)V, excluded(m), m->logits,
                                    m->stats));
    DIDCL_CL_TRY(clEnqueueReadBuffer(m->rt->queue, m->logits, CL_TRUE,
                                     (size_t)first * V * sizeof(float),
                                     (size_t)count * V * sizeof(float), out, 0, NULL,
                                     didcl_profile_event(m->rt, "read_logits")),
                 "model rows: reading logits");
    if (kind != DIDCL_ROWS_LOGPROBS)
        return DIDCL_OK;
    /* subtract each row's log-sum-exp, reading the statistics a few rows at a time */
    enum { CHUNK = 64 };
    float st[2 * CHUNK];
    const int ex = excluded(m);
    for (uint32_t r0 = 0; r0 < count; r0 += CHUNK) {
        const uint32_t nr = count - r0 < CHUNK ? count - r0 : CHUNK;
        DIDCL_CL_TRY(clEnqueueReadBuffer(m->rt->queue, m->stats, CL_TRUE,
                                         2 * (size_t)(first + r0) * sizeof(float),
                                         2 * (size_t)nr * sizeof(float), st, 0, NULL,
                                         didcl_profile_event(m->rt, "read_logit_stats")),
                     "model rows: reading logit statistics");
        for (uint32_t r = 0; r < nr; r++) {
            float *row = out + (size_t)(r0 + r) * V;
            for (size_t i = 0; i < V; i++)
                row[i] = (int)i == ex ? -INFINITY : row[i] - st[2 * r + 1];
        }
    }
    return DIDCL_OK;
}

didcl_status didcl_model_token_logprobs(didcl_model_t m, uint32_t first, uint32_t count,
                                        const int32_t *targets, float *out) {
    DIDCL_TRY(check_rows(m, first, count, "token logprobs"));
    if (!targets || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "token logprobs: NULL targets or out");
    didcl_runtime_t rt = m->rt;
    const int R = (int)count, V = (int)m->cfg.vocab_size, fi = (int)first, ex = excluded(m);
    DIDCL_TRY(didcl_ops_max_lse(rt, fi + R, V, ex, m->logits, m->stats));
    DIDCL_CL_TRY(clEnqueueWriteBuffer(rt->queue, m->tgt, CL_FALSE, 0, (size_t)R * sizeof(int32_t),
                                      targets, 0, NULL, didcl_profile_event(rt, "write_targets")),
                 "token logprobs: uploading targets");
    DIDCL_TRY(didcl_ops_gather_logprob(rt, R, V, fi, ex, m->logits, m->stats, m->tgt, m->lp));
    DIDCL_CL_TRY(clEnqueueReadBuffer(rt->queue, m->lp, CL_TRUE, 0, (size_t)R * sizeof(float), out,
                                     0, NULL, didcl_profile_event(rt, "read_logprobs")),
                 "token logprobs: reading results");
    return DIDCL_OK;
}

/* ------------------------------------------------------------------------------------
 * The sampler's denoiser (denoiser.h) on top of the forward modes
 * ------------------------------------------------------------------------------------ */

static didcl_status dn_reset(void *ctx, uint32_t sample) {
    (void)sample;
    didcl_model_reset((didcl_model_t)ctx);
    return DIDCL_OK;
}

/* The last forward's logit rows into logits (NULL: they stay on the device). */
static didcl_status read_logits(didcl_model_t m, float *logits) {
    return logits && m->logit_rows
               ? didcl_model_rows(m, 0, m->logit_rows, DIDCL_ROWS_LOGITS, logits)
               : DIDCL_OK;
}

static didcl_status dn_block(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                             int32_t B, const uint8_t *want, float *logits) {
    didcl_model_t m = ctx;
    (void)sample;
    didcl_forward f = {.mode = DIDCL_FORWARD_BLOCK, .ids = seq + start, .n = (uint32_t)B,
                       .start = (uint32_t)start, .want = want};
    DIDCL_TRY(didcl_model_forward(m, &f));
    return read_logits(m, logits);
}

static didcl_status dn_store(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                             int32_t B) {
    (void)sample;
    didcl_forward f = {.mode = DIDCL_FORWARD_STORE_KV, .ids = seq + start, .n = (uint32_t)B,
                       .start = (uint32_t)start};
    return didcl_model_forward((didcl_model_t)ctx, &f);
}

static didcl_status dn_global(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                              int32_t attn_block, const uint8_t *rows, float *logits) {
    didcl_model_t m = ctx;
    (void)sample;
    didcl_forward f = {.mode = DIDCL_FORWARD_GLOBAL, .ids = seq, .n = (uint32_t)n,
                       .block = (uint32_t)attn_block, .want = rows};
    DIDCL_TRY(didcl_model_forward(m, &f));
    return read_logits(m, logits);
}

static didcl_status dn_global_store(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                                    const uint8_t *rows, float *logits) {
    didcl_model_t m = ctx;
    (void)sample;
    didcl_forward f = {.mode = DIDCL_FORWARD_GLOBAL_KV, .ids = seq, .n = (uint32_t)n,
                       .want = rows};
    DIDCL_TRY(didcl_model_forward(m, &f));
    return read_logits(m, logits);
}

/* The k rows' tokens and wanted flags gathered from the sequence's (n,) arrays. */
static didcl_status dn_reuse(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                             const int32_t *pos, int32_t k, const uint8_t *rows,
                             float *logits) {
    didcl_model_t m = ctx;
    (void)sample;
    if (k < 1 || k > n || (uint32_t)n != m->cached)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "model denoiser: %d reused-K/V rows of a "
                          "%d-token sequence over a cache of %u, expected 1 to n rows and the "
                          "cache of that sequence (global_store first)", (int)k, (int)n,
                          m->cached);
    for (int32_t i = 0; i < k; i++) {
        if (pos[i] < 0 || pos[i] >= n)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "model denoiser: row position %d "
                              "outside [0, %d)", (int)pos[i], (int)n);
        m->ids_host[i] = seq[pos[i]];
        m->want_host[i] = rows[pos[i]] != 0;
    }
    didcl_forward f = {.mode = DIDCL_FORWARD_ROWS, .ids = m->ids_host, .n = (uint32_t)k,
                       .want = m->want_host, .pos = pos};
    DIDCL_TRY(didcl_model_forward(m, &f));
    return read_logits(m, logits);
}

/* Stack the B tokens at start of each sequence into the model's (batch * B,) array. */
static didcl_status gather_ids(didcl_model_t m, uint32_t batch, const int32_t *const *seqs,
                               int32_t start, int32_t B) {
    if ((uint64_t)batch * (uint64_t)B > m->max_tokens)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "model denoiser: a batch of %u blocks of %d "
                          "tokens, expected at most max_tokens %u in all", batch, (int)B,
                          m->max_tokens);
    for (uint32_t b = 0; b < batch; b++)
        memcpy(m->ids_host + (size_t)b * B, seqs[b] + start, sizeof(int32_t) * (size_t)B);
    return DIDCL_OK;
}

static didcl_status dn_reset_batch(void *ctx, uint32_t batch) {
    (void)batch;
    didcl_model_reset((didcl_model_t)ctx);
    return DIDCL_OK;
}

static didcl_status dn_block_batch(void *ctx, uint32_t batch, const int32_t *const *seqs,
                                   int32_t start, int32_t B, const uint8_t *want,
                                   float *logits) {
    didcl_model_t m = ctx;
    DIDCL_TRY(gather_ids(m, batch, seqs, start, B));
    didcl_forward f = {.mode = DIDCL_FORWARD_BLOCK, .ids = m->ids_host, .n = (uint32_t)B,
                       .start = (uint32_t)start, .want = want};
    DIDCL_TRY(didcl_model_forward_batch(m, &f, batch));
    return read_logits(m, logits);
}

static didcl_status dn_store_batch(void *ctx, uint32_t batch, const int32_t *const *seqs,
                                   int32_t start, int32_t B) {
    didcl_model_t m = ctx;
    DIDCL_TRY(gather_ids(m, batch, seqs, start, B));
    didcl_forward f = {.mode = DIDCL_FORWARD_STORE_KV, .ids = m->ids_host, .n = (uint32_t)B,
                       .start = (uint32_t)start};
    return didcl_model_forward_batch(m, &f, batch);
}

static didcl_status dn_sample_rows(void *ctx, int32_t n, const didcl_sample_req *req,
                                   didcl_draw *out) {
    didcl_model_t m = ctx;
    return didcl_devsample_draw(m->sampler, m->logits, (int32_t)m->logit_rows, n, req, out);
}

/* The device sampler, made once per model. NULL (the sampler draws on the host) on a
 * device without float64, or where the kernel cannot run (logged with the reason). */
static didcl_status device_sampler(struct didcl_model *m) {
    if (m->sampler || !m->rt->info.fp64)
        return DIDCL_OK;
    didcl_devsample *s = malloc(sizeof *s);
    if (!s)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "model denoiser: out of memory");
    didcl_status st = didcl_devsample_init(s, m->rt, (int32_t)m->cfg.vocab_size,
                                           m->cfg.mask_token_id, (int32_t)m->max_tokens);
    if (st == DIDCL_OK) {
        m->sampler = s;
        return DIDCL_OK;
    }
    free(s);
    if (st != DIDCL_ERR_UNSUPPORTED)
        return st;
    didcl_log(DIDCL_LOG_WARN, "sampling on the host: %s", didcl_last_error());
    didcl_error_clear();
    return DIDCL_OK;
}

/* Multiply-adds x 2 of one forward: per query and layer the QKV, attention-output and
 * MLP products and the attention over n_key keys, then the output head. A store-KV pass
 * stops after the last layer's QKV product (all it needs), so it has no head and its last
 * layer costs only that product. */
static double dn_flops(void *ctx, enum didcl_forward_kind kind, int32_t n_query, int32_t n_key) {
    const didcl_model_config *c = &((didcl_model_t)ctx)->cfg;
    const double H = c->hidden, F = c->mlp_dim, V = c->vocab_size;
    const double qkv = 2.0 * 3.0 * H * H;
    const double layer = qkv + 2.0 * (H * H + 2.0 * H * F) + 4.0 * H * n_key;
    double per_q = kind == DIDCL_FWD_STORE_KV ? (c->n_layers - 1) * layer + qkv
                                              : c->n_layers * layer + 2.0 * H * V;
    return per_q * n_query;
}

didcl_status didcl_model_denoiser(didcl_model_t m, didcl_denoiser *dn) {
    if (!m || !dn)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "model denoiser: NULL model or table");
    if (m->cfg.arch != DIDCL_ARCH_BD3LM)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "model denoiser: needs a bd3lm model, not %s",
                          didcl_arch_str(m->cfg.arch));
    didcl_denoiser d = {m,
                        (int32_t)m->cfg.vocab_size,
                        m->cfg.mask_token_id,
                        m->cfg.bos_token_id,
                        m->cfg.eos_token_id,
                        (int32_t)m->max_tokens,
                        dn_reset,
                        dn_block,
                        dn_store,
                        dn_global,
                        dn_flops,
                        m->max_batch > 1 ? m->max_batch : 0,
                        dn_reset_batch,
                        dn_block_batch,
                        dn_store_batch,
                        dn_global_store,
                        dn_reuse,
                        NULL};
    DIDCL_TRY(device_sampler(m));
    if (m->sampler)
        d.sample_rows = dn_sample_rows;
    *dn = d;
    return DIDCL_OK;
}

/*
 * denoise_model.c — the sampler's denoiser over the OpenCL BD3-LM forward (see
 * denoise_model.h for the mapping).
 */
#include "denoise_model.h"

#include <string.h>

#include "error.h"

static didcl_status need_cache(didcl_model_denoiser *d, uint32_t sample, const char *op) {
    if (d->cache_sample != (int64_t)sample)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "model denoiser: %s for sample %u, but the KV cache belongs to %s%lld; "
                          "expected reset(%u) first (one sample at a time)",
                          op, sample, d->cache_sample < 0 ? "no sample " : "sample ",
                          (long long)d->cache_sample, sample);
    return DIDCL_OK;
}

static didcl_status md_reset(void *ctx, uint32_t sample) {
    didcl_model_denoiser *d = ctx;
    didcl_model_reset(d->model);
    d->cache_sample = sample;
    return DIDCL_OK;
}

static didcl_status md_block(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                             int32_t B, float *logits) {
    didcl_model_denoiser *d = ctx;
    DIDCL_TRY(need_cache(d, sample, "block step"));
    didcl_forward f = {DIDCL_FORWARD_BLOCK, seq + start, (uint32_t)B, (uint32_t)start, 0,
                       NULL, 0.0f};
    DIDCL_TRY(didcl_model_forward(d->model, &f));
    return didcl_model_rows(d->model, 0, (uint32_t)B, DIDCL_ROWS_LOGITS, logits);
}

static didcl_status md_store(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                             int32_t B) {
    didcl_model_denoiser *d = ctx;
    DIDCL_TRY(need_cache(d, sample, "store-KV"));
    didcl_forward f = {DIDCL_FORWARD_STORE_KV, seq + start, (uint32_t)B, (uint32_t)start, 0,
                       NULL, 0.0f};
    return didcl_model_forward(d->model, &f);
}

static didcl_status md_global(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                              int32_t attn_block, const uint8_t *rows, float *logits) {
    didcl_model_denoiser *d = ctx;
    (void)sample; /* uses no cache */
    didcl_forward f = {DIDCL_FORWARD_GLOBAL, seq, (uint32_t)n, 0,
                       attn_block >= n ? 0u : (uint32_t)attn_block, NULL, 0.0f};
    DIDCL_TRY(didcl_model_forward(d->model, &f));
    const size_t V = (size_t)d->dn.vocab;
    size_t out = 0;
    for (int32_t i = 0; i < n;) {
        if (!rows[i]) {
            i++;
            continue;
        }
        int32_t j = i;
        while (j < n && rows[j])
            j++;
        DIDCL_TRY(didcl_model_rows(d->model, (uint32_t)i, (uint32_t)(j - i), DIDCL_ROWS_LOGITS,
                                   logits + out * V));
        out += (size_t)(j - i);
        i = j;
    }
    return DIDCL_OK;
}

double didcl_model_forward_flops(const didcl_model_config *c, enum didcl_forward_kind kind,
                                 int32_t n_query, int32_t n_key) {
    const double H = c->hidden, F = c->mlp_dim, V = c->vocab_size, nq = n_query,
                 nk = n_key, layers = c->n_layers;
    const double qkv = 2.0 * nq * H * 3.0 * H;
    const double layer = qkv + 2.0 * nq * H * H /* attn_out */ + 4.0 * nq * H * F /* MLP */ +
                         4.0 * nq * nk * H /* Q.K^T and P.V over all heads */;
    if (kind == DIDCL_FWD_STORE_KV)
        return (layers - 1.0) * layer + qkv;
    return layers * layer + 2.0 * nq * H * V;
}

static double md_flops(void *ctx, enum didcl_forward_kind kind, int32_t n_query, int32_t n_key) {
    didcl_model_denoiser *d = ctx;
    return didcl_model_forward_flops(didcl_model_get_config(d->model), kind, n_query, n_key);
}

didcl_status didcl_model_denoiser_init(didcl_model_denoiser *d, didcl_model_t m) {
    const didcl_model_config *c = didcl_model_get_config(m);
    if (c->arch != DIDCL_ARCH_BD3LM)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "model denoiser: a %s model cannot denoise, expected bd3lm",
                          didcl_arch_str(c->arch));
    memset(d, 0, sizeof *d);
    d->model = m;
    d->cache_sample = -1;
    d->dn.ctx = d;
    d->dn.vocab = (int32_t)c->vocab_size;
    d->dn.mask_id = c->mask_token_id;
    d->dn.bos_id = c->bos_token_id;
    d->dn.eos_id = c->eos_token_id;
    d->dn.model_length = (int32_t)didcl_model_max_tokens(m);
    d->dn.reset = md_reset;
    d->dn.block_logits = md_block;
    d->dn.store_kv = md_store;
    d->dn.global_logits = md_global;
    d->dn.flops = md_flops;
    return DIDCL_OK;
}

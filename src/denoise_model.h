/*
 * denoise_model.h — the denoiser table (denoiser.h) over a BD3-LM on an OpenCL device
 * (didcl_model_t): what `didcl generate` hands the sampler.
 *
 * Mapping:
 *   reset        → didcl_model_reset (the model's single KV cache now belongs to `sample`)
 *   block_logits → DIDCL_FORWARD_BLOCK of the B tokens at [start, start+B) over the cache,
 *                  then the B rows of logits copied to the host
 *   store_kv     → DIDCL_FORWARD_STORE_KV of the clean block (no logits cross)
 *   global_logits→ DIDCL_FORWARD_GLOBAL over [0, n) with the requested attention block,
 *                  then only the flagged rows copied, one read per contiguous run
 *   flops        → an estimate from the config (flops() below)
 * The model has one KV cache, so samples run one after another: a cached call for a
 * sample other than the one last reset is refused (batching is future work).
 */
#ifndef DIDCL_DENOISE_MODEL_H
#define DIDCL_DENOISE_MODEL_H

#include <stdint.h>

#include "denoiser.h"
#include "didcl.h"

typedef struct didcl_model_denoiser {
    didcl_denoiser dn;      /* the table; dn.ctx points back at this struct */
    didcl_model_t model;    /* not owned */
    int64_t cache_sample;   /* sample whose blocks the KV cache holds, -1 for none */
} didcl_model_denoiser;

/* Fill d for model m (a BD3-LM). Ids come from the config: mask_token_id, bos/eos;
 * model_length = didcl_model_max_tokens(m). DIDCL_ERR_UNSUPPORTED for another
 * architecture. */
didcl_status didcl_model_denoiser_init(didcl_model_denoiser *d, didcl_model_t m);

/* Forward FLOPs (multiply-adds count 2) of one pass of a BD3-LM with config c: n_query
 * query rows against n_key keys; matrix products per layer (QKV, output projection, MLP),
 * attention scores and weighted values over n_key keys, and the output head on every row
 * the pass produces logits for. A store-KV pass stops after the last layer's QKV and
 * computes no head. Embedding lookups, norms and elementwise ops are left out. */
double didcl_model_forward_flops(const didcl_model_config *c, enum didcl_forward_kind kind,
                                 int32_t n_query, int32_t n_key);

#endif /* DIDCL_DENOISE_MODEL_H */

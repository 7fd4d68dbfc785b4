/*
 * model.h — the forward pass of BD3-LM and GPT-2 on an OpenCL device (model.c): weights
 * uploaded once, activations allocated once, logits kept on the device. The public API
 * (didcl_model_*) is in didcl.h; this header exposes the structure to the library's own
 * modules, tests and benchmarks.
 *
 * Host/device boundary (decisions):
 *   - Weights cross once, at didcl_model_open: every tensor is widened to fp32 on the host
 *     (didcl_tensor_to_f32), GPT-2's Conv1D matrices transposed from [in, out] to the
 *     [out, in] layout the products use, the large matrices optionally rounded to half,
 *     and copied into one device buffer each. The host keeps nothing but, with time
 *     conditioning on, the small sigma_map/adaLN matrices.
 *   - adaLN is computed on the host. With time conditioning off (every published
 *     BD3-LM) sigma is 0 and c = SiLU(sigma_map(0)) is constant, so the six per-layer
 *     vectors (shift/scale/gate for attention and MLP) and the final (shift, scale) are
 *     computed once at load (double accumulators) and uploaded as one buffer `mod`
 *     (n_layers * 6H + 2H floats). With it on, the same host code runs again whenever a
 *     forward brings a sigma different from the last one (one upload of that buffer).
 *   - Per forward, only token ids go up (n or 2n int32). Nothing is allocated per
 *     forward: activation, cache and logits buffers are sized at open for max_tokens.
 *   - Logits stay on the device. Callers fetch only the rows they need
 *     (didcl_model_rows) or, for scoring, one log-probability per row
 *     (didcl_model_token_logprobs: the row max/log-sum-exp and the gather run on the
 *     device, R floats come back).
 *   - KV cache (BD3-LM): per layer one buffer (max_tokens, 2, H) holding K and V of each
 *     finished position, K stored AFTER RoPE at its absolute position. Positions never
 *     move while the sequence stays within max_tokens <= context length (no sliding
 *     window), so post-RoPE storage is exact and the cache is read as is. A BLOCK step
 *     writes its own K/V into slots [start, start+n) too (they are overwritten by the
 *     next step or made permanent by STORE_KV), so attention reads one contiguous range
 *     [0, start+n) of the cache with no mask.
 *   - Batches (didcl_model_forward_batch, the sampler's lockstep drafts): max_batch KV
 *     caches in one buffer per layer, cache b at rows [b * max_tokens, ...). A batched
 *     BLOCK/STORE_KV step stacks its sequences' rows (sequence b at rows [b*n, (b+1)*n))
 *     through embedding, norms and the four products, so each weight matrix is read
 *     once per step for the whole batch; RoPE + cache write (one launch) and attention
 *     run per sequence over its own cache (one launch for the batch when the small-query
 *     kernel applies; else attention into att rows [0, n), then moved to its place,
 *     last sequence first). All sequences share the cached length (lockstep).
 *     Each product keeps the path one sequence alone would take, so each sequence's
 *     logits are bitwise those of its own run and batched sampling draws the same
 *     tokens (didcl_ops_linear chooses by n, a sequence's rows): below the device's
 *     switch point (src/tuning.c) one gemm_skinny launch over all stacked rows, whose
 *     reduction order does not depend on M (the block steps, where batching pays);
 *     else one SGEMM per sequence (CLBlast's tiling may depend on M) and the bias/GELU
 *     over all rows. Half weights that go to CLBlast are widened first into `stage`.
 *     Row buffers are not enlarged: batch * n <= max_tokens. GLOBAL and SCORE are not
 *     batched (the sampler's revision stages run per sample).
 *   - Attention path: the split kernel (keys in chunks across work-groups, then a fixed-
 *     order combine) for up to ATTN_SMALL_Q queries (block steps; partials in `scores`),
 *     else the flash kernel (K/V tiles, online softmax; on GPUs the keys in parts across
 *     work-groups, partials in `scores`, merged by the same combine) where ATTN_FLASH
 *     says so, else the CLBlast path in chunks of at most ATTN_CHUNK queries, so its
 *     scores scratch is heads * ATTN_CHUNK * rows floats, not quadratic.
 *   - Launches: RoPE and the KV-cache write are one kernel for a whole batch; each gated
 *     residual is fused with the LayerNorm that follows it (the next layer's norm1, or
 *     the final norm), so a block step enqueues 8 commands per layer (4 products, RoPE +
 *     cache, attention, 2 residual + norm), down from 11; rt->launches counts them.
 *   - Row selection (want): the wanted rows' indices go up. A global pass's final norm
 *     gathers them, so the head product runs on those rows only. A block step (single or
 *     batched: first-hitting wants one row per sequence) keeps its fused final norm over
 *     every row, copies the wanted normed rows together and runs the head on them alone
 *     where the product computes each row as alone (gemm_skinny/gemm_tiled:
 *     didcl_ops_linear_rowwise), so each is bitwise that row of the full step; where it
 *     does not (the wide paths, blocks at or above the device's switch point) the head
 *     runs on every row and the wanted rows are moved up. Either way the logits come packed, logit_rows =
 *     wanted rows.

 *   - K/V reuse (the approximate global revision): GLOBAL_KV is a block step at start 0
 *     over the whole sequence that keeps its K/V (cache 0, cached = n): the same
 *     products, RoPE angles and attention inputs as GLOBAL, so the same logits. ROWS then
 *     forwards a handful of rows at scattered positions: RoPE at their positions fused
 *     with the write of their K/V into those cache rows (rope_cache_at), and attention of
 *     their queries over the whole cache, as a block step's few queries do.
 */
#ifndef DIDCL_MODEL_H
#define DIDCL_MODEL_H

#include <CL/cl.h>

#include "denoiser.h"
#include "didcl.h"
#include "ops.h"

#define ATTN_SMALL_Q DIDCL_OPS_ATTN_MAX_Q
#define ATTN_CHUNK 256
/* Whether wide attention takes the flash kernel (else the CLBlast path), by measurement
 * (docs/performance.md): on CPUs (PoCL) CLBlast's SGEMM was measured ahead of the CPU
 * flash kernel (attention_flash_rows, a query a work-item) when every key is visible, while the masked passes (2L score, causal, block-causal)
 * skip about half the key tiles and go faster flash; other devices always take flash
 * (no quadratic scores scratch). head_dim must be a multiple of 4. */
#define ATTN_FLASH(rt, head_dim, mode)                                                  \
    ((head_dim) % 4 == 0 && ((rt)->info.kind != DIDCL_DEVICE_CPU || (mode) != DIDCL_ATTN_NONE))

/* One transformer layer's device buffers. NULL where the architecture has none. */
struct didcl_model_layer {
    cl_mem norm1, norm1_b; /* (H,) bd3lm norm1 / gpt2 ln_1 weight, gpt2 bias */
    cl_mem norm2, norm2_b; /* (H,) */
    cl_mem qkv_w, qkv_b;   /* (3H, H) wtype; gpt2 bias (3H,) */
    cl_mem out_w, out_b;   /* (H, H) wtype; gpt2 bias (H,) */
    cl_mem fc_w, fc_b;     /* (F, H) wtype, (F,) */
    cl_mem proj_w, proj_b; /* (H, F) wtype, (H,) */
    cl_mem kv;             /* bd3lm caches (max_batch, max_tokens, 2, H): K (post-RoPE)
                              then V; sequence b of a batch uses cache b */
};

struct didcl_model {
    didcl_runtime_t rt;
    didcl_model_config cfg;
    enum didcl_wtype wt;
    uint32_t max_tokens; /* longest sequence */
    uint32_t max_batch;  /* KV caches (sequences of a batched cached forward), >= 1 */
    uint32_t rows;       /* trunk rows: 2 * max_tokens (bd3lm scoring) or max_tokens */
    struct didcl_model_layer *layers;
    cl_mem embed;        /* (V, H) wtype: bd3lm vocab_embed.embedding, gpt2 wte */
    cl_mem wpe;          /* gpt2 (P, H) wtype */
    cl_mem final_norm;   /* (H,) */
    cl_mem final_norm_b; /* gpt2 (H,) */
    cl_mem head_w;       /* (V, H) wtype; gpt2: lm_head.weight or NULL (tied: embed) */
    cl_mem head_b;       /* bd3lm (V,) */
    cl_mem inv_freq;     /* bd3lm (head_dim/2,) RoPE table */
    cl_mem mod;          /* bd3lm (n_layers * 6H + 2H,) adaLN vectors */
    /* host copies for time conditioning (NULL when off) */
    float *sig_w0, *sig_b0, *sig_w2, *sig_b2; /* (C, 256), (C,), (C, C), (C,) */
    float *ada_w, *ada_b;                     /* (n_layers * 6H + 2H, C), (...,) */
    float *mod_host;                          /* (n_layers * 6H + 2H,) */
    float mod_sigma;                          /* sigma the uploaded mod belongs to */
    /* activations */
    cl_mem ids;       /* (rows,) int32 */
    cl_mem x, h, att; /* (rows, H) residual stream, normed input, attention output */
    cl_mem proj;      /* (rows, H) projection outputs */
    cl_mem qkv;       /* (rows, 3H) */
    cl_mem mlp;       /* (rows, F) */
    cl_mem att_chunk; /* (ATTN_CHUNK, H) wide-attention output of one chunk */
    cl_mem scores;    /* wide-attention scores (heads * min(rows, ATTN_CHUNK) * rows floats),
                         split-attention or flash key-part partials, whichever is largest */
    cl_mem logits;    /* (max_tokens, V) */
    cl_mem stats;     /* (max_tokens, 2) row max and log-sum-exp */
    cl_mem tgt;       /* (max_tokens,) int32 targets of gather_logprob */
    cl_mem lp;        /* (max_tokens,) gathered log-probabilities */
    cl_mem stage;     /* half weights widened for CLBlast, or NULL (didcl_ops_linear) */
    cl_mem sel;       /* (max_tokens,) int32 wanted rows of a forward (want) */
    cl_mem pos;       /* (max_tokens,) int32 positions of a ROWS pass */
    uint8_t *want_host; /* (max_tokens,) the denoiser's wanted flags of a ROWS pass */
    int32_t *sel_host; /* (max_tokens,) their host copy, filled per forward */
    int32_t *ids_host; /* (max_tokens,) a batch's stacked block ids (the denoiser's
                          batched calls, and a ROWS pass's tokens), so a step allocates
                          nothing */
    struct didcl_devsample *sampler; /* sampling on the device (devsample.h), made by
                                        didcl_model_denoiser; NULL without cl_khr_fp64 */
    uint32_t cached;     /* KV cache holds positions [0, cached) */
    uint32_t logit_rows; /* rows of logits valid */
};

/* Compute the adaLN vectors for sigma into mod_host (n_layers * 6H + 2H floats) from
 * host weights; exported for tests. */
void didcl_model_adaln(const struct didcl_model *m, float sigma, float *mod_host);

/* Compile (or load from the kernel cache) everything a run of forwards over at most
 * `rows` tokens a sequence needs, before its first forward: every kernel family in m's
 * weight storage and, when such a forward reaches CLBlast (fp32 products over more than
 * DIDCL_GEMV_MAX_M rows, wide attention over more than ATTN_SMALL_Q queries), CLBlast's
 * programs. */
didcl_status didcl_model_prepare(didcl_model_t m, uint32_t rows);

/* Fill dn with the sampler's calls (denoiser.h) backed by m's forward modes: block_logits
 * = a BLOCK step and global_logits = GLOBAL with the given attention block, both with the
 * sampler's row flags as want (only those rows get a head and cross to the host),
 * store_kv = STORE_KV, flops = a multiply-add count (the head of every query). The
 * single-sample calls (and global_store / reuse_logits = GLOBAL_KV / ROWS) use KV cache 0,
 * shared by every sample id: samples run one after
 * another, each starting with reset (as didcl_sampler_run does). With max_batch > 1 the
 * batched calls are set too (max_batch = m's; sequence b of a batch uses cache b).
 * On a device with cl_khr_fp64, sample_rows draws on the device (devsample.h; its
 * kernel and buffers, for max_tokens requests, are made here, once) and the logits of a
 * forward called with logits == NULL stay there; elsewhere, or where the kernel cannot
 * run (a warning in the log says why), sample_rows is NULL and the sampler draws on the
 * host. bd3lm only; model_length = max_tokens. */
didcl_status didcl_model_denoiser(didcl_model_t m, didcl_denoiser *dn);

#endif /* DIDCL_MODEL_H */

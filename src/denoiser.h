/*
 * denoiser.h — what the sampler needs from a model: logits for masked positions, in
 * the two shapes BD3-LM/DiD generation uses. The model implements this table; the
 * sampler (sampler.h) never sees weights, devices or caches, and tests drive it with
 * fake denoisers written in plain C.
 *
 * Conventions for every call:
 *   - seq holds token ids of the whole sequence so far; masked positions hold mask_id.
 *   - logits are fp32, row-major, one row of `vocab` values per requested position, in
 *     increasing position order. The mask token's logit is ignored by the sampler
 *     (it is excluded from sampling), so a model need not add -inf to it.
 *   - sample identifies one sequence of a run (the RNG's sample index); the
 *     single-sample calls see one sequence at a time (a model may keep one KV cache for
 *     all of them: the sampler resets it at each sample's start).
 *   - Each call returns a didcl_status and leaves a message on failure; the sampler
 *     stops and passes the status up.
 */
#ifndef DIDCL_DENOISER_H
#define DIDCL_DENOISER_H

#include <stdint.h>

#include "didcl.h"
#include "sampling.h"

/* Kinds of forward pass, for the FLOPs estimate. */
enum didcl_forward_kind {
    DIDCL_FWD_BLOCK = 0,    /* cached block step: n_query = B, n_key = start + B */
    DIDCL_FWD_STORE_KV = 1, /* store-KV pass of a clean block: same shape */
    DIDCL_FWD_GLOBAL = 2,   /* uncached forward: n_query = n_key = n */
    DIDCL_FWD_REUSE = 3,    /* reuse_logits: n_query = forwarded rows, n_key = n */
};

typedef struct didcl_denoiser {
    void *ctx;              /* passed back as the first argument of every call */
    int32_t vocab;          /* V: rows of logits have V entries */
    int32_t mask_id;        /* the [MASK] token (BD3-LM: V - 1) */
    int32_t bos_id;         /* written at position 0 */
    int32_t eos_id;         /* ends a variable-length sample (may equal bos_id) */
    int32_t model_length;   /* longest sequence the model accepts (no sliding window) */

    /* Forget the KV cache of this sample (start of a generation, or a restart). */
    didcl_status (*reset)(void *ctx, uint32_t sample);

    /* Cached block step: the B queries at positions [start, start+B), tokens
     * seq[start..start+B) (some are mask_id), attend to the cached keys of [0, start)
     * and to each other (bidirectional, no mask). want: NULL for every row, or (B,)
     * flags: the rows the sampler will draw from. Writes the logits of the wanted rows
     * (all B when want is NULL), packed in position order; a model may compute only
     * those (the head is most of a block step's work). Does not change the cache.
     * start is a multiple of B. */
    didcl_status (*block_logits)(void *ctx, uint32_t sample, const int32_t *seq,
                                 int32_t start, int32_t B, const uint8_t *want,
                                 float *logits);

    /* Append the clean block seq[start..start+B) to the cache: one forward of that
     * block over the cache of [0, start), keeping its K/V (BD3-LM's store_kv pass). */
    didcl_status (*store_kv)(void *ctx, uint32_t sample, const int32_t *seq, int32_t start,
                             int32_t B);

    /* Uncached forward over seq[0..n) with BD3-LM's block-causal mask of block size
     * attn_block: query i sees key j iff j / attn_block <= i / attn_block. attn_block == n
     * is full bidirectional attention (DiD revision); attn_block == B on a sequence that
     * ends with the current block reproduces exactly what the cached path computes.
     * rows (n,) flags the positions whose logits are wanted (nonzero); logits receives
     * (number of flagged rows, V), packed in position order. Uses no cache. */
    didcl_status (*global_logits)(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                                  int32_t attn_block, const uint8_t *rows, float *logits);

    /* Estimated floating-point operations of one forward of this kind (multiply-adds
     * count 2). MAY be NULL: FLOPs are then reported as 0. */
    double (*flops)(void *ctx, enum didcl_forward_kind kind, int32_t n_query, int32_t n_key);

    /* Batched stage-1 calls (all MAY be NULL / max_batch 0: samples then run one after
     * another). A batch of `batch` <= max_batch sequences advances in lockstep through
     * the same blocks; sequence b (0-based inside the batch, its own KV cache) has the
     * tokens seqs[b]. Each call means the single-sample call above applied to every
     * sequence; block_logits_batch's want is NULL or (batch * B,) flags, sequence-major,
     * and it writes the wanted rows of every sequence packed in that order (batch * B
     * rows when want is NULL). batch * B never exceeds model_length. */
    uint32_t max_batch;
    didcl_status (*reset_batch)(void *ctx, uint32_t batch);
    didcl_status (*block_logits_batch)(void *ctx, uint32_t batch, const int32_t *const *seqs,
                                       int32_t start, int32_t B, const uint8_t *want,
                                       float *logits);
    didcl_status (*store_kv_batch)(void *ctx, uint32_t batch, const int32_t *const *seqs,
                                   int32_t start, int32_t B);

    /* K/V reuse in global revision stages (didcl_gen_options.revise_reuse > 0; both MAY
     * be NULL, and that option is then refused). global_store: global_logits with
     * attn_block = n (bidirectional) that also keeps the K/V of every position of
     * seq[0..n) in this sample's cache. reuse_logits: forward only the k positions pos
     * (increasing) of seq, at their absolute positions, over that cache: their K/V are
     * recomputed and replace the cached ones, then they attend to all n positions, the
     * others' K/V reused as last computed (so after tokens changed elsewhere the logits
     * approximate global_logits'). rows (n,) flags the wanted positions, all among pos;
     * logits as global_logits. Calls in between to other entries MAY drop the cache. */
    didcl_status (*global_store)(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                                 const uint8_t *rows, float *logits);
    didcl_status (*reuse_logits)(void *ctx, uint32_t sample, const int32_t *seq, int32_t n,
                                 const int32_t *pos, int32_t k, const uint8_t *rows,
                                 float *logits);

    /* Sampling where the logits are (MAY be NULL: the sampler then draws on the host
     * with didcl_sampling_draw). When set, the sampler calls block_logits,
     * block_logits_batch and global_logits with logits == NULL (the model keeps them),
     * then draws every candidate of that forward with one call, a lockstep batch's
     * sequences together: request i takes the packed row req[i].row of the logits the
     * call would have written, with its own counter, temperature and top-p, and out[i]
     * is what didcl_sampling_draw would give (sampling.h), or a token DIDCL_DRAW_NAN /
     * DIDCL_DRAW_NO_FINITE for a row it fails on (didcl_sampling_check). The call fails
     * only as a whole (a device error). */
    didcl_status (*sample_rows)(void *ctx, int32_t n, const didcl_sample_req *req,
                                didcl_draw *out);
} didcl_denoiser;

#endif /* DIDCL_DENOISER_H */

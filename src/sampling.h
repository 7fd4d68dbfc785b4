/*
 * sampling.h — one token from one row of logits, as the BD3-LM reference samples it.
 *
 * Pipeline for a row of V fp32 logits (the mask token is excluded, i.e. gets p = 0):
 *   1. softmax in float64 of logits / T (T = 1 when temperature is 0, see greedy below);
 *   2. nucleus: sort descending (ties: lower token id first), take the running sum
 *      c_j = p_(0) + ... + p_(j) in float64 in that order, keep rank j iff c_j <= top_p
 *      (exactly the reference's `cumsum <= p`, so a token whose running sum lands
 *      exactly on p is kept and the first one that crosses p is dropped), always keep
 *      rank 0, renormalise the kept mass to 1. top_p == 1 keeps every token with p > 0
 *      (the reference skips the filter then, and rounding could otherwise drop the tail);
 *   3. draw by exponential race: argmax over kept i of q_i / (-log(U_i + 1e-10) + 1e-10)
 *      with U_i the Philox uniform at index i (the token id), ties to the lower id;
 *      temperature 0 (greedy) takes the argmax of q instead (ties to the lower id).
 *
 * Statistics (what the trajectory stores) are all of the distribution q the token is
 * drawn from, i.e. AFTER temperature and top-p renormalisation (at T = 0: of the T = 1
 * distribution, since the one-hot greedy distribution carries no information):
 *   confidence = q[token], entropy = -sum q log q (nats), margin = q_(0) - q_(1)
 *   (q_(1) = 0 when the nucleus holds one token, so a lone survivor has margin 1).
 *
 * Cost: softmax is O(V); the nucleus is found by selecting the top k (k = 64, 256, ...
 * until the sorted running sum passes top_p) and sorting only those, so a peaked row
 * never sorts the whole vocabulary. The result equals a full sort exactly, because the
 * kept prefix and its running sums are the same numbers in the same order.
 */
#ifndef DIDCL_SAMPLING_H
#define DIDCL_SAMPLING_H

#include <stdint.h>

#include "didcl.h"
#include "philox.h"

/* Reusable scratch for one vocabulary size: allocate once, draw many times. */
typedef struct didcl_sampling {
    int32_t vocab;     /* V */
    double *prob;      /* (V,) after a draw: q[id] for the ids of the nucleus */
    int32_t *order;    /* (V,) after a draw: the nucleus ids in [0, n_kept), descending by q
                          (top_p == 1: every id with p > 0; only ranks 0, 1 placed) */
    int32_t n_kept;    /* size of the nucleus after the last draw */
    struct didcl_ranked *ranked; /* (V,) scratch of (p, id) pairs */
} didcl_sampling;

typedef struct didcl_draw {
    int32_t token;
    double confidence; /* q[token] */
    double entropy;    /* nats, of q */
    double margin;     /* q_(0) - q_(1) */
} didcl_draw;

/* One draw of a row somewhere else (device sampling, denoiser.h's sample_rows): the row
 * of the forward's logits, its counter and the run's temperature and top-p. */
typedef struct didcl_sample_req {
    int32_t row;
    didcl_philox_at at;
    double temperature;
    double top_p;
} didcl_sample_req;

/* Tokens a device draw returns for a row it could not draw: what didcl_sampling_draw
 * fails on (didcl_sampling_check turns them into that failure). */
enum {
    DIDCL_DRAW_NAN = -1,       /* a logit is NaN */
    DIDCL_DRAW_NO_FINITE = -2, /* no finite logit outside the mask token */
};

didcl_status didcl_sampling_init(didcl_sampling *s, int32_t vocab);
void didcl_sampling_free(didcl_sampling *s);

/* Draw one token from logits (V,). mask_id < 0 excludes nothing. rng gives the
 * uniforms (its index is set to each token id); it is not used when temperature == 0.
 * After the call s->order[0..n_kept) and s->prob[order[j]] describe the nucleus.
 * Fails (DIDCL_ERR_INVALID_ARG) on a NaN logit or a row with no finite logit. */
didcl_status didcl_sampling_draw(didcl_sampling *s, const float *logits, int32_t mask_id,
                                 double temperature, double top_p,
                                 const didcl_philox_at *rng, didcl_draw *out);

/* DIDCL_OK for a drawn token; for DIDCL_DRAW_NAN / DIDCL_DRAW_NO_FINITE the failure
 * didcl_sampling_draw gives such a row (DIDCL_ERR_INVALID_ARG and its message). */
didcl_status didcl_sampling_check(const didcl_draw *d);

#endif /* DIDCL_SAMPLING_H */

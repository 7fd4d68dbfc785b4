/*
 * devsample.h — sampling on the device: the draw of sampling.h (temperature softmax,
 * top-p nucleus, Philox race or greedy argmax, and the statistics of the renormalised
 * distribution) for many rows of device logits in one launch of cl/sample.cl, in float64.
 * Only (token, confidence, entropy, margin) per row come back, in one read.
 *
 * Agreement with the host reference (didcl_sampling_draw): the same rules and counters,
 * so the same token for the same logits, except where the float64 sums, which the
 * device takes in a fixed tree order and the host sequentially, straddle top_p or two
 * race values within rounding (about 1e-15 relative); statistics agree to ~1e-12
 * relative. Needs cl_khr_fp64: without it init fails with DIDCL_ERR_UNSUPPORTED and the
 * caller keeps the host sampler (there is no float fallback).
 *
 * A row where a tie group of more than 256 equal probabilities straddles top_p is left
 * to the host: its logits are read back and didcl_sampling_draw draws it (exact).
 *
 * Everything a step needs is resolved and allocated at init (the kernel, its
 * work-group size, the request/probability/result buffers for max_rows rows), so a draw
 * only sets arguments, writes the requests, launches and reads the results.
 */
#ifndef DIDCL_DEVSAMPLE_H
#define DIDCL_DEVSAMPLE_H

#include <CL/cl.h>
#include <stdint.h>

#include "didcl.h"
#include "philox.h"
#include "sampling.h"

typedef struct didcl_devsample {
    didcl_runtime_t rt;
    cl_kernel kernel;  /* sample_rows, owned by the runtime's program cache */
    size_t wg;         /* work-group size (power of two) */
    int32_t vocab;     /* V */
    int32_t max_rows;  /* requests one call may make */
    cl_mem req;        /* (max_rows, 4) int32: row, Philox counter words 0..2 */
    cl_mem prob;       /* (max_rows, V) double scratch */
    cl_mem out;        /* (max_rows, 4) double: token, confidence, entropy, margin */
    int32_t *req_host; /* (max_rows, 4) */
    double *out_host;  /* (max_rows, 4) */
    float *row_host;   /* (V,) a row the kernel leaves to the host */
    didcl_sampling host; /* the host sampler for such rows */
} didcl_devsample;

/* Prepare draws over rows of V logits, at most max_rows per call. Fails with
 * DIDCL_ERR_UNSUPPORTED on a device without cl_khr_fp64 or too little local memory. */
didcl_status didcl_devsample_init(didcl_devsample *s, didcl_runtime_t rt, int32_t vocab,
                                  int32_t max_rows);
void didcl_devsample_free(didcl_devsample *s);

/* Draw n tokens: request i reads row rows[i] of logits (rows, V) fp32 with the Philox
 * counter at[i] (all with one seed; index = token id) and writes out[i] exactly as
 * didcl_sampling_draw(logits row, mask_id, temperature, top_p, &at[i]) would, up to the
 * rounding stated above. Fails (DIDCL_ERR_INVALID_ARG) on a row with a NaN logit or no
 * finite logit outside mask_id, as the host does. */
didcl_status didcl_devsample_draw(didcl_devsample *s, cl_mem logits, int32_t n,
                                  const int32_t *rows, const didcl_philox_at *at,
                                  int32_t mask_id, double temperature, double top_p,
                                  didcl_draw *out);

#endif /* DIDCL_DEVSAMPLE_H */

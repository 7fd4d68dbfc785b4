/*
 * devsample.h — sampling on the device: the draw of sampling.h (temperature softmax,
 * top-p nucleus, Philox race or greedy argmax, and the statistics of the renormalised
 * distribution) for many rows of device logits in one launch of cl/sample.cl, in float64.
 * Each request brings its own row, counter, seed, temperature and top-p, so the rows of
 * every sequence of a lockstep batch are drawn together. Only (token, confidence,
 * entropy, margin) per request come back, in one read.
 *
 * Agreement with the host reference (didcl_sampling_draw): the same rules and counters,
 * so the same token for the same logits, except where a float64 sum, which the device
 * takes in a fixed order (per work-item, then in work-item order) and the host
 * sequentially, straddles top_p or two race values tie within rounding (about 1e-15
 * relative); statistics agree to ~1e-12 relative. Needs cl_khr_fp64: without it init
 * fails with DIDCL_ERR_UNSUPPORTED and the caller keeps the host sampler (there is no
 * float fallback).
 *
 * Work-group size: 128 on every device that allows it, so that the float64 sums are
 * grouped the same way everywhere and a seed gives the same tokens on every device. A
 * device whose limits (work-group size, local memory) do not allow 128 gets the largest
 * power of two that fits (init logs a warning): its sums group differently, so its
 * tokens can differ from other devices' where a running sum lies within rounding of
 * top_p, as the host's can.
 *
 * A row where a tie group of more than 256 equal probabilities straddles top_p is left
 * to the host: its logits are read back and didcl_sampling_draw draws it (exact).
 *
 * Everything a draw needs is made at init (a kernel object of its own with the fixed
 * arguments set, the work-group size, the request/probability/result buffers for
 * max_rows requests), so a draw fills the requests, sets two arguments, writes, launches
 * and reads; it allocates nothing and looks nothing up.
 */
#ifndef DIDCL_DEVSAMPLE_H
#define DIDCL_DEVSAMPLE_H

#include <CL/cl.h>
#include <stdint.h>

#include "didcl.h"
#include "philox.h"
#include "sampling.h"

struct didcl_devsample_req;

typedef struct didcl_devsample {
    didcl_runtime_t rt;
    cl_kernel kernel;  /* sample_rows, this sampler's own object (its arguments stay set) */
    size_t wg;         /* work-group size (power of two, 128 where the device allows) */
    int32_t vocab;     /* V */
    int32_t mask_id;   /* excluded id, or -1 */
    int32_t max_rows;  /* requests one call may make */
    cl_mem req;        /* (max_rows,) struct didcl_devsample_req */
    cl_mem prob;       /* (max_rows, V) double scratch */
    cl_mem out;        /* (max_rows, 4) double: token, confidence, entropy, margin */
    struct didcl_devsample_req *req_host; /* (max_rows,) */
    double *out_host;  /* (max_rows, 4) */
    float *row_host;   /* (V,) a row the kernel leaves to the host */
    didcl_sampling host; /* the host sampler for such rows */
} didcl_devsample;

/* Prepare draws over rows of V logits, excluding mask_id (-1: none), at most max_rows
 * per call. Fails with DIDCL_ERR_UNSUPPORTED, and a message with the numbers, on a
 * device without cl_khr_fp64 or without the local memory for a work-group of 1. On
 * failure s holds nothing; didcl_devsample_free(s) is safe after init either way. */
didcl_status didcl_devsample_init(didcl_devsample *s, didcl_runtime_t rt, int32_t vocab,
                                  int32_t mask_id, int32_t max_rows);
void didcl_devsample_free(didcl_devsample *s);

/* Draw n requests from logits (rows, V) fp32: out[i] is exactly what
 * didcl_sampling_draw(row req[i].row, mask_id, req[i].temperature, req[i].top_p,
 * &req[i].at) gives, up to the rounding stated above. A row with a NaN logit or no finite
 * logit outside mask_id gets the token DIDCL_DRAW_NAN / DIDCL_DRAW_NO_FINITE
 * (didcl_sampling_check makes it the host's failure); the other rows are drawn. Fails
 * only for the call: n outside 1..max_rows, a row outside 0..rows_valid - 1, an OpenCL
 * error. */
didcl_status didcl_devsample_draw(didcl_devsample *s, cl_mem logits, int32_t rows_valid,
                                  int32_t n, const didcl_sample_req *req, didcl_draw *out);

#endif /* DIDCL_DEVSAMPLE_H */

/*
 * kernels.h — the kernels src/ops.c launches, resolved once per runtime: a table of
 * records indexed by kernel and variant, each holding the cl_kernel, its work-group size
 * and its static local memory, so that a launch only sets arguments and enqueues (no
 * string lookups, no clGet*Info per launch). A record is filled on first use through the
 * program cache (program.h), which builds or loads the program.
 *
 * Variants: the weight type (embed, gemv: 0 float, 1 half), 2 * tiling + weight type
 * for gemm_wide (rt->gemm.wide[tiling]), head_dim / 4 for the attention kernels but
 * attention_probs (built per head_dim; 64 is cl/attention.cl's default, built without options), 0 otherwise. gemv and gemm_wide records are built with the runtime's
 * product tilings (rt->gemm) and dropped when its tiling fields change.
 *
 * Records belong to the runtime, like the kernels in them: callers MUST NOT release the
 * kernel, and a runtime MUST be used from one thread at a time (program.h).
 */
#ifndef DIDCL_KERNELS_H
#define DIDCL_KERNELS_H

#include <CL/cl.h>

#include "didcl.h"

/* Build options of a family's half-weight variant. */
#define DIDCL_WEIGHT_HALF_OPTIONS "-DDIDCL_WEIGHT_HALF"

enum didcl_kid {
    DIDCL_K_EMBED_TOKENS,
    DIDCL_K_EMBED_TOKENS_POS,
    DIDCL_K_LAYERNORM_MODULATE,
    DIDCL_K_RESIDUAL_LAYERNORM_MODULATE,
    DIDCL_K_LAYERNORM_BIAS,
    DIDCL_K_ROPE_ROWS,
    DIDCL_K_ROPE_CACHE,
    DIDCL_K_ROPE_CACHE_AT,
    DIDCL_K_ATTENTION_SPLIT,
    DIDCL_K_ATTENTION_COMBINE,
    DIDCL_K_ATTENTION_PROBS,
    DIDCL_K_ATTENTION_FLASH,
    DIDCL_K_ATTENTION_FLASH_ROWS,
    DIDCL_K_GEMM_SKINNY,
    DIDCL_K_GEMM_TILED,
    DIDCL_K_GEMM_WIDE,
    DIDCL_K_WIDEN_HALF,
    DIDCL_K_AXPY,
    DIDCL_K_SCALE,
    DIDCL_K_GATED_RESIDUAL,
    DIDCL_K_BIAS_ADD,
    DIDCL_K_GELU,
    DIDCL_K_LOG_SOFTMAX_ROWS,
    DIDCL_K_MAX_LSE_ROWS,
    DIDCL_K_GATHER_LOGPROB,
    DIDCL_K_COUNT
};

struct didcl_kernel {
    cl_kernel kernel;    /* NULL until resolved */
    const char *name;    /* the kernel's name in cl/, for messages and profiling */
    size_t wg;           /* work-group size for 1-D launches: the largest power of two
                            <= its preferred size (kernels.c) that the device and the
                            kernel accept */
    size_t wg_max;       /* CL_KERNEL_WORK_GROUP_SIZE */
    cl_ulong local_used; /* local memory of its own (didcl_program_kernel_local) */
};

struct didcl_kernel_table; /* per runtime (runtime.h); freed by didcl_kernels_free */

/* The record of kernel id, variant (see above), resolved on first use. */
didcl_status didcl_kernels_get(didcl_runtime_t rt, enum didcl_kid id, int variant,
                               const struct didcl_kernel **out);

void didcl_kernels_free(struct didcl_kernel_table *t);

#endif /* DIDCL_KERNELS_H */

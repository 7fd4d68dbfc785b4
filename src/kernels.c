/*
 * kernels.c — the per-runtime kernel table (kernels.h): every kernel ops.c launches,
 * with its family, preferred work-group size and what its build options vary with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels.h"
#include "program.h"
#include "runtime.h"

/* What a kernel's build options vary with, and so its number of variants. */
enum vary { VARY_NONE, VARY_WTYPE, VARY_GEMM, VARY_TILED, VARY_WIDE, VARY_HEAD_DIM };
static const int n_variants[] = {1, 2, 2, 4, 4, 256 / 4 + 1};

/* Preferred work-group sizes of 1-D launches: element-wise kernels, row reductions (one
 * work-group per row), the split attention path (capped by rt->attn.wg), flash (64 items). */
#define WG_ELEMENTWISE 64
#define WG_ROW 256
#define WG_ATTENTION 128
#define WG_FLASH 64

static const struct kdef {
    const char *family, *name;
    size_t wg;
    enum vary vary;
} defs[DIDCL_K_COUNT] = {
    [DIDCL_K_EMBED_TOKENS] = {"embed", "embed_tokens", WG_ELEMENTWISE, VARY_WTYPE},
    [DIDCL_K_EMBED_TOKENS_POS] = {"embed", "embed_tokens_pos", WG_ELEMENTWISE, VARY_WTYPE},
    [DIDCL_K_LAYERNORM_MODULATE] = {"norm", "layernorm_modulate", WG_ROW, VARY_NONE},
    [DIDCL_K_RESIDUAL_LAYERNORM_MODULATE] = {"norm", "residual_layernorm_modulate", WG_ROW,
                                             VARY_NONE},
    [DIDCL_K_LAYERNORM_BIAS] = {"norm", "layernorm_bias", WG_ROW, VARY_NONE},
    [DIDCL_K_ROPE_ROWS] = {"rope", "rope_rows", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_ROPE_CACHE] = {"rope", "rope_cache", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_ROPE_CACHE_AT] = {"rope", "rope_cache_at", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_ATTENTION_SPLIT] = {"attention", "attention_split", WG_ATTENTION, VARY_HEAD_DIM},
    [DIDCL_K_ATTENTION_COMBINE] = {"attention", "attention_combine", WG_ELEMENTWISE,
                                   VARY_HEAD_DIM},
    [DIDCL_K_ATTENTION_PROBS] = {"attention", "attention_probs", WG_ROW, VARY_NONE},
    [DIDCL_K_ATTENTION_FLASH] = {"attention", "attention_flash", WG_FLASH, VARY_HEAD_DIM},
    [DIDCL_K_ATTENTION_FLASH_ROWS] = {"attention", "attention_flash_rows", WG_FLASH,
                                      VARY_HEAD_DIM},
    [DIDCL_K_GEMM_SKINNY] = {"gemv", "gemm_skinny", 1, VARY_GEMM},   /* 2-D, from rt->gemm */
    [DIDCL_K_GEMM_TILED] = {"gemv", "gemm_tiled", 1, VARY_TILED},    /* 3-D, from rt->gemm */
    [DIDCL_K_GEMM_WIDE] = {"gemm", "gemm_wide", 1, VARY_WIDE},       /* 2-D, from rt->gemm */
    [DIDCL_K_WIDEN_HALF] = {"gemv", "widen_half", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_AXPY] = {"elementwise", "axpy_f32", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_SCALE] = {"elementwise", "scale_f32", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_GATED_RESIDUAL] = {"elementwise", "gated_residual_f32", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_BIAS_ADD] = {"elementwise", "bias_add_f32", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_GELU] = {"elementwise", "gelu_tanh_f32", WG_ELEMENTWISE, VARY_NONE},
    [DIDCL_K_LOG_SOFTMAX_ROWS] = {"softmax", "log_softmax_rows", WG_ROW, VARY_NONE},
    [DIDCL_K_MAX_LSE_ROWS] = {"softmax", "max_lse_rows", WG_ROW, VARY_NONE},
    [DIDCL_K_GATHER_LOGPROB] = {"logits", "gather_logprob", WG_ELEMENTWISE, VARY_NONE},
};

struct didcl_kernel_table {
    struct didcl_kernel *rec[DIDCL_K_COUNT]; /* n_variants of each id, in recs */
    struct didcl_gemm_tuning gemm;           /* the tiling the gemv records were built
                                                with */
    size_t max_item0;                        /* CL_DEVICE_MAX_WORK_ITEM_SIZES[0] */
    struct didcl_kernel recs[];
};

void didcl_kernels_free(struct didcl_kernel_table *t) {
    free(t); /* the kernels belong to the program cache */
}

/* The fields of the tuning that the build options of gemv.cl and gemm.cl hold. */
static int same_tiling(const struct didcl_gemm_tuning *a, const struct didcl_gemm_tuning *b) {
    return a->tn == b->tn && a->tm == b->tm && a->vw == b->vw && a->lk == b->lk &&
           a->tiles == b->tiles && a->ku == b->ku && !memcmp(a->tiled, b->tiled, sizeof a->tiled) &&
           a->half_bits == b->half_bits &&
           !memcmp(a->wide, b->wide, sizeof a->wide);
}

static didcl_status table_new(didcl_runtime_t rt) {
    size_t n = 0;
    for (int id = 0; id < DIDCL_K_COUNT; id++)
        n += (size_t)n_variants[defs[id].vary];
    struct didcl_kernel_table *t = calloc(1, sizeof *t + n * sizeof t->recs[0]);
    if (!t)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "kernel table: out of memory");
    size_t dims[16] = {0}; /* CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS entries (>= 3) */
    cl_int err = clGetDeviceInfo(rt->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof dims, dims,
                                 NULL);
    if (err != CL_SUCCESS) {
        free(t);
        return didcl_fail_cl(err, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)");
    }
    t->max_item0 = dims[0];
    for (int id = 0, at = 0; id < DIDCL_K_COUNT; id++) {
        t->rec[id] = t->recs + at;
        at += n_variants[defs[id].vary];
    }
    rt->kernels = t;
    return DIDCL_OK;
}

/* Fill the record of (id, variant): build options, kernel, and its limits. */
static didcl_status resolve(didcl_runtime_t rt, enum didcl_kid id, int variant,
                            struct didcl_kernel *r) {
    const struct kdef *d = &defs[id];
    char hd[32];
    const char *options = NULL;
    if (d->vary == VARY_WTYPE && variant)
        options = DIDCL_WEIGHT_HALF_OPTIONS;
    else if (d->vary == VARY_GEMM)
        options = rt->gemm.options[0][variant];
    else if (d->vary == VARY_TILED) /* 2 * tiling + half */
        options = rt->gemm.options[variant / 2][variant % 2];
    else if (d->vary == VARY_WIDE)
        options = rt->gemm.wide_options[variant / 2][variant % 2];
    else if (d->vary == VARY_HEAD_DIM && variant != 64 / 4) /* 64: the file's default */
        snprintf(hd, sizeof hd, "-DATTN_HD=%d", 4 * variant), options = hd;
    cl_kernel k = NULL;
    size_t kmax = 0;
    cl_ulong used = 0; /* not queried now: that would count __local arguments set before */
    DIDCL_TRY(didcl_program_kernel_local(rt, d->family, options, d->name, &k, &used));
    DIDCL_CL_TRY(clGetKernelWorkGroupInfo(k, rt->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                          &kmax, NULL),
                 "clGetKernelWorkGroupInfo(CL_KERNEL_WORK_GROUP_SIZE)");
    size_t lim = d->wg;
    if (kmax && kmax < lim)
        lim = kmax;
    if (rt->info.max_work_group && rt->info.max_work_group < lim)
        lim = (size_t)rt->info.max_work_group;
    if (rt->kernels->max_item0 && rt->kernels->max_item0 < lim)
        lim = rt->kernels->max_item0;
    size_t wg = 1;
    while (wg * 2 <= lim)
        wg *= 2;
    *r = (struct didcl_kernel){k, d->name, wg, kmax, used};
    return DIDCL_OK;
}

didcl_status didcl_kernels_get(didcl_runtime_t rt, enum didcl_kid id, int variant,
                               const struct didcl_kernel **out) {
    struct didcl_kernel_table *t = rt->kernels;
    if ((unsigned)id >= DIDCL_K_COUNT || variant < 0 ||
        variant >= n_variants[defs[id].vary])
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "kernel table: no kernel %d variant %d",
                          (int)id, variant);
    if (!t) {
        DIDCL_TRY(table_new(rt));
        t = rt->kernels;
    }
    if ((defs[id].vary == VARY_GEMM || defs[id].vary == VARY_TILED ||
         defs[id].vary == VARY_WIDE) &&
        !same_tiling(&t->gemm, &rt->gemm)) {
        /* a tiling changed (a benchmark or a test): the product kernels are rebuilt */
        for (int g = 0; g < DIDCL_K_COUNT; g++)
            if (defs[g].vary == VARY_GEMM || defs[g].vary == VARY_TILED ||
                defs[g].vary == VARY_WIDE)
                memset(t->rec[g], 0, (size_t)n_variants[defs[g].vary] * sizeof t->rec[g][0]);
        t->gemm = rt->gemm;
    }
    struct didcl_kernel *r = &t->rec[id][variant];
    if (!r->kernel) /* the program cache counts this lookup, later launches skip it */
        DIDCL_TRY(resolve(rt, id, variant, r));
    *out = r;
    return DIDCL_OK;
}


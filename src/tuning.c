/*
 * tuning.c — the product and attention tuning tables (tuning.h): one entry per device
 * kind, chosen from device info and measured with tools/bench-ops and tools/bench-model
 * --profile (docs/performance.md).
 */
#include <limits.h>
#include <stdio.h>

#include "tuning.h"

void didcl_tuning_gemm_options(struct didcl_gemm_tuning *t) {
    for (int h = 0; h < 2; h++)
        snprintf(t->options[h], sizeof t->options[h],
                 "-DGEMM_TN=%d -DGEMM_TM=%d -DGEMM_VW=%d -DGEMM_LK=%d%s", t->tn, t->tm, t->vw,
                 t->lk, h ? " -DDIDCL_WEIGHT_HALF" : "");
}

void didcl_tuning_gemm(const didcl_device_info *info, struct didcl_gemm_tuning *t) {
    if (info->kind == DIDCL_DEVICE_CPU) {
        /* PoCL: one work-item runs a whole column tile over k (no barriers), its
         * accumulators in vector registers; work-groups spread over the cores. CLBlast
         * lost to it at every M measured (4 to 512), fp32 and half: never used. Half
         * conversion is slow here, so from 128 rows W is widened once, not per M-tile */
        *t = (struct didcl_gemm_tuning){.tn = 4, .tm = 4, .vw = 8, .lk = 1, .tiles = 8,
                                        .wide_m = INT_MAX, .half_wide_m = INT_MAX,
                                        .half_stage_m = 128};
    } else {
        /* GPUs: a warp's lanes split k (coalesced float4 loads), a tree joins them. On
         * the H200 the skinny kernel wins every 110M product at M = 4 and all but the
         * head at M = 16; CLBlast (half: widened, then CLBlast) wins every one at M = 64
         * (docs/performance.md, bench-ops): switch at 32 rows of one sequence */
        *t = (struct didcl_gemm_tuning){.tn = 1, .tm = 4, .vw = 4, .lk = 32, .tiles = 4,
                                        .wide_m = 32, .half_wide_m = 32,
                                        .half_stage_m = INT_MAX};
    }
    /* what the device cannot run (a small work-group limit) shrinks the lanes */
    while (info->max_work_group && (uint64_t)t->lk * t->tiles > info->max_work_group) {
        if (t->tiles > 1)
            t->tiles /= 2;
        else
            t->lk /= 2;
    }
    didcl_tuning_gemm_options(t);
}

void didcl_tuning_attention(const didcl_device_info *info, struct didcl_attn_tuning *t) {
    if (info->kind == DIDCL_DEVICE_CPU)
        /* PoCL: 64-key chunks and 64 items; chunks of 32 to 256 and groups of 16 to 256
         * were all within the noise of this loaded 2-core machine, each about twice as
         * fast as the per-query kernel before them. Flash: a query a work-item (one
         * vectorised loop over the group) ran 5x faster than the register tiling */
        *t = (struct didcl_attn_tuning){.chunk = 64, .wg = 64, .flash_rows = 1};
    else
        /* GPUs: the 110M's block step (12 heads, 1024 keys) at batch 1 needs
         * T_k / chunk * heads >= ~3 work-groups per SM of an H200 (132) to fill it: 32 keys
         * give 384; 4 warps a group, 24 KB of local memory at 16 queries. Flash: the
         * register-tiled kernel (a query per item leaves an SM 3 warps at L = 1024) */
        *t = (struct didcl_attn_tuning){.chunk = 32, .wg = 128, .flash_rows = 0};
    while (info->max_work_group && (uint64_t)t->wg > info->max_work_group)
        t->wg /= 2;
}

/*
 * tuning.c — the product tuning table (tuning.h): one entry per device kind, chosen
 * from device info and measured with tools/bench-ops (docs/performance.md).
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

/*
 * tuning.c — the product and attention tuning tables (tuning.h): one entry per device
 * kind, chosen from device info and measured with tools/bench-ops and tools/bench-model
 * --profile (docs/performance.md).
 */
#include <limits.h>
#include <stdio.h>

#include "tuning.h"

/* d's k-lanes per work-item as built: la, 1 where la is 0 or does not divide lk. */
static int tiled_la(const struct didcl_gemm_tuning *t, const struct didcl_tiled_tiling *d) {
    return d->la > 0 && t->lk % d->la == 0 && !(d->la & (d->la - 1)) ? d->la : 1;
}

int didcl_tuning_tiled_items(const struct didcl_gemm_tuning *t,
                             const struct didcl_tiled_tiling *d) {
    return t->lk / tiled_la(t, d);
}

void didcl_tuning_gemm_options(struct didcl_gemm_tuning *t) {
    const char *const half[2] = {"", t->half_bits ? " -DDIDCL_WEIGHT_HALF -DDIDCL_HALF_BITS"
                                                  : " -DDIDCL_WEIGHT_HALF"};
    for (int h = 0; h < 2; h++) {
        for (int p = 0; p < 2; p++) {
            const struct didcl_tiled_tiling *d = &t->tiled[p];
            snprintf(t->options[p][h], sizeof t->options[p][h],
                     "-DGEMM_TN=%d -DGEMM_TM=%d -DGEMM_VW=%d -DGEMM_LK=%d -DGEMM_KU=%d -DTILED_TM=%d "
                     "-DTILED_TN=%d -DTILED_GM=%d -DTILED_GN=%d -DTILED_KU=%d -DTILED_LA=%d%s",
                     t->tn, t->tm, t->vw, t->lk, t->ku, d->tm, d->tn, d->gm, d->gn, d->ku,
                     tiled_la(t, d), half[h]);
            const struct didcl_wide_tiling *w = &t->wide[p];
            snprintf(t->wide_options[p][h], sizeof t->wide_options[p][h],
                     "-DWIDE_BM=%d -DWIDE_BN=%d -DWIDE_BK=%d -DWIDE_TM=%d -DWIDE_TN=%d%s", w->bm,
                     w->bn, w->bk, w->tm, w->tn, half[h]);
        }
    }
}

int didcl_tuning_wide_valid(const struct didcl_wide_tiling *w, uint64_t max_wg) {
    if (w->tm <= 0 || w->tn <= 0 || w->bk <= 0 || w->tm % 4 || w->tn % 4 || w->bk % 4 ||
        w->bm < w->tm || w->bn < w->tn || w->bm % w->tm || w->bn % w->tn)
        return 0;
    const long wg = (long)(w->bm / w->tm) * (w->bn / w->tn);
    const long loads_x = (long)w->bm * w->bk / 4, loads_w = (long)w->bn * w->bk / 4;
    return loads_x % wg == 0 && loads_w % wg == 0 && (!max_wg || (uint64_t)wg <= max_wg);
}

int didcl_tuning_tiled_pick(const struct didcl_gemm_tuning *t, int M) {
    return M >= t->tiled_big_m ? 1 : 0;
}

size_t didcl_tuning_tiled_local_bytes(const struct didcl_gemm_tuning *t,
                                      const struct didcl_tiled_tiling *d) {
    const size_t p = (size_t)didcl_tuning_tiled_items(t, d);
    return (p > 1 ? (size_t)d->gm * d->tm * d->gn * d->tn * (p + 1) : 1) * sizeof(float);
}

int didcl_tuning_wide_pick(const struct didcl_gemm_tuning *t, int M, int N) {
    const long groups = (long)((M + t->wide[0].bm - 1) / t->wide[0].bm) *
                        ((N + t->wide[0].bn - 1) / t->wide[0].bn);
    return groups >= t->wide_fill ? 0 : 1;
}

/* Halve a tiling's tile until its work-group fits max_wg (m first: the grid grows). */
static void wide_fit(struct didcl_wide_tiling *w, uint64_t max_wg) {
    while (!didcl_tuning_wide_valid(w, max_wg) && (w->bm > w->tm || w->bn > w->tn)) {
        if (w->bm > w->tm)
            w->bm /= 2;
        else
            w->bn /= 2;
    }
}

void didcl_tuning_gemm(const didcl_device_info *info, struct didcl_gemm_tuning *t) {
    if (info->kind == DIDCL_DEVICE_CPU) {
        /* PoCL: one work-item runs a whole column tile over k (no barriers), its
         * accumulators in vector registers; work-groups spread over the cores. CLBlast
         * lost to it at every M measured (4 to 512), fp32 and half: never used. Half
         * conversion is slow here, so from 128 rows W is widened once, not per M-tile.
         * gemm_tiled (no barriers either since it stopped staging K) beat it from 16
         * rows on this 2-core machine (bench-ops --tiled, 110M shapes, 2026-12-04: a
         * 12-layer step's products 27.3 ms with 4 x 4 blocks one a work-group, 27.1
         * with 4 x 4 of them, against 36.2 at 16 rows; 82.8 against 99.2 at 64; the
         * default model's batch-16 step 35.4-35.9 ms against 36.5-38.0). (Staging K,
         * it had lost at every M: PoCL keeps the accumulators of a kernel with barriers
         * in memory.) */
        *t = (struct didcl_gemm_tuning){.tn = 4, .tm = 4, .vw = 8, .lk = 1, .tiles = 8, .ku = 1,
                                        .tiled = {{4, 4, 1, 1, 1, 1}, {4, 4, 4, 4, 1, 1}},
                                        .tiled_big_m = 32, .tiled_m = 16,
                                        .wide_m = INT_MAX, .half_wide_m = INT_MAX,
                                        .half_stage_m = 128};
        /* wide products stay on gemm_skinny: gemm_wide lost to it on PoCL at M = 256
         * for three of the four 110M products (its barriers split each work-group into
         * loops over work-items; docs/performance.md). These tilings serve tests and
         * bench-ops */
        t->wide[0] = (struct didcl_wide_tiling){64, 64, 16, 4, 4};
        t->wide[1] = (struct didcl_wide_tiling){32, 32, 16, 4, 4};
    } else {
        /* GPUs: a warp's lanes split k (coalesced float4 loads), a tree joins them.
         * gemm_tiled (the same bits; bench-ops --tiled-sweep on the H200, 2026-12-04,
         * docs/performance.md) beats gemm_skinny from 4 rows: a 12-layer step's products
         * at 4 / 8 / 16 / 64 rows 497 / 606 / 882 / 2018 us against 580 / 957 / 1744 /
         * 6423 (CLBlast 3099 / 3128 / 3172 / 3039), with 4 x 4 outputs and 2 k-steps of
         * loads ahead a work-item; below 16 rows a work-item owns one of an output
         * block's 32 k-lanes and a work-group one block (445 / 549 us at 4 / 8 rows
         * against 466 / 559 with 4 blocks side by side, the first figures above; 18 other
         * tilings lost), from 16 rows 2 k-lanes (16 items a block) and 4 x 2 blocks a
         * group. LA 4 to 32 lost by 1.3-5x
         * (too few work-items), 8 x 4 blocks by 2x, the K-staged kernel of sessions
         * 3-6 ran 4037 us at 64 rows. gemm_skinny keeps 1 to 3 rows (2 columns a
         * work-item, 2 k-steps of W loads ahead: 638 us a step at 4 rows against 706
         * for 1 column and 3 steps). CLBlast/gemm_wide from 32 rows of one sequence (the
         * per-sequence switch; a batch keeps tiled, so each sequence keeps its bits). */
        *t = (struct didcl_gemm_tuning){.tn = 2, .tm = 4, .vw = 4, .lk = 32, .tiles = 4, .ku = 2,
                                        .tiled = {{4, 4, 1, 1, 2, 1}, {4, 4, 4, 2, 2, 2}},
                                        .tiled_big_m = 16, .tiled_m = 4, .wide_m = 32,
                                        .half_wide_m = 32, .half_stage_m = INT_MAX};
        /* wide products: gemm_wide (bias and GELU fused, no staging), 1.3-2x CLBlast at
         * M = 1024 on the H200. Of nine tilings, 128 x 64 tiles with 8 x 8 blocks were
         * fastest where their grid fills the card (QKV 27.9, MLP up 36.2 TFLOP/s) and
         * 128 x 64 with 8 x 4 blocks elsewhere (out 19.7, MLP down 23.0) */
        t->wide_kernel = 1;
        /* half weights widened tile by tile by vload_half4 ran 1.2-1.3x slower than
         * fp32 at M = 1024 (NVIDIA makes it four 16-bit loads and conversions); widened
         * into the stage first, a global pass took 14.0 ms against 12.4 (48 more
         * launches, and the head, too large for the stage, still direct). Read by bits
         * (one 8-byte load, bench-ops --wide-m 1024, H200 2026-12-04, us): QKV 149 / 149
         * by vload_half / 145 staged, MLP down 249 / 245 / 231, the head 2418 / 2611 /
         * (does not fit); fp32 128, 207, 1966. The stage wins the layers, bits only the
         * head; in gemv.cl bits won the block step's layer products at 4 rows (75 / 79 us
         * a layer) and lost its head (105 / 91) and gemm_tiled at 64 rows. One switch
         * for all three kernels: vload_half and the stage stay. (The compiler failures
         * with -DDIDCL_HALF_BITS of 2026-12-04 were the unstaged gemm_tiled's.) */
        t->half_bits = 0;
        t->wide_stage_half = 1;
        t->wide[0] = (struct didcl_wide_tiling){128, 64, 16, 8, 8};
        t->wide[1] = (struct didcl_wide_tiling){128, 64, 16, 8, 4};
    }
    t->wide_fill = info->compute_units ? (int)info->compute_units : 1;
    for (int p = 0; p < 2; p++)
        wide_fit(&t->wide[p], info->max_work_group);
    /* what the device cannot run (a small work-group limit) shrinks the lanes */
    while (info->max_work_group && (uint64_t)t->lk * t->tiles > info->max_work_group) {
        if (t->tiles > 1)
            t->tiles /= 2;
        else
            t->lk /= 2;
    }
    /* then gemm_tiled's blocks (lk * 1 * 1 fits after the loop above) */
    for (int p = 0; p < 2; p++) {
        struct didcl_tiled_tiling *d = &t->tiled[p];
        while (info->max_work_group &&
               (uint64_t)didcl_tuning_tiled_items(t, d) * d->gm * d->gn > info->max_work_group) {
            if (d->gn > 1)
                d->gn /= 2;
            else
                d->gm /= 2;
        }
    }
    didcl_tuning_gemm_options(t);
}

void didcl_tuning_attention(const didcl_device_info *info, struct didcl_attn_tuning *t) {
    if (info->kind == DIDCL_DEVICE_CPU)
        /* PoCL: 64-key chunks and 64 items; chunks of 32 to 256 and groups of 16 to 256
         * were all within the noise of this loaded 2-core machine, each about twice as
         * fast as the per-query kernel before them. Flash: a query a work-item (one
         * vectorised loop over the group) ran 5x faster than the register tiling; no key
         * parts (two cores are full without them) */
        *t = (struct didcl_attn_tuning){.chunk = 64, .wg = 64, .flash_rows = 1,
                                        .flash_split = 1, .split_merge = 1};
    else
        /* GPUs: the split path's chunks of 64 keys, 4 warps a group. With its own merge
         * (split_merge, below) the H200 (bench-ops --attn-chunk, 2026-12-04; us a layer,
         * a block-4 step at 1024 keys, batch 1 / batch 16) ran 36.0 / 80.4 at 32 keys,
         * 48.2 / 101.9 at 16, 25.4 / 73.9 at 64, 28.6 / 76.5 at 128, 28.4 / 76.9 at 256
         * (work-groups of 64: 47.6 at 32 keys; of 256: 28.3 at 64): the merge's partials
         * grow with the chunk count. (With attention_combine as the merge, 32 keys had
         * won: 25.4 against 28.6 at 64; it was 250 us with a work-group per query and
         * head.) Flash: the
         * register-tiled kernel (a query per item leaves an SM 3 warps at L = 1024).
         * Its 32-query tiles x 12 heads are 384 work-groups of 2 warps at L = 1024, ~3 an
         * SM of an H200: latency-bound (339 us a layer, 9.5 TFLOP/s, without parts). Key
         * parts from the grid, aiming at 4 work-groups per compute unit, and of at most
         * 512 keys. Measured on the H200 (bench-ops --flash-split, 2026-12-04; us a layer,
         * 1, 2, 4, 8 parts): global pass L = 1024 345, 286, 295, 309 (the grid asks 2);
         * the 2L scoring pass 525, 568, 451, 439 (the grid asks 1, 512 keys 4).
         * split_merge (the split's last work-group merging its chunks, saving the combine
         * launch: 12 of a block step's 111): check_ops' split cases bitwise both ways on
         * the H200 (2026-12-04); block step device time 1.29 against 1.42 ms (split +
         * merge 0.33 ms against 0.15 + 0.24 combine), batch of 16 0.85 against 0.92 */
        *t = (struct didcl_attn_tuning){.chunk = 64, .wg = 128, .flash_rows = 0,
                                        .flash_split = 0,
                                        .flash_fill = 4 * (int)info->compute_units,
                                        .flash_keys = 512, .split_merge = 1};
    while (info->max_work_group && (uint64_t)t->wg > info->max_work_group)
        t->wg /= 2;
}

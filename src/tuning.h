/*
 * tuning.h — per-device choices for the product and attention kernels, made once when a
 * runtime is created (didcl_runtime_init) from its device info, never per launch: the
 * tilings of gemm_skinny/gemm_tiled (cl/gemv.cl), the row counts from which a product is
 * wide, what runs wide products (CLBlast, or gemm_wide of cl/gemm.cl with its tilings),
 * and the key chunks of the split attention path and key parts of the flash path
 * (cl/attention.cl). The figures behind
 * each entry are in docs/performance.md ("Forward kernels: products",
 * "Forward kernels: attention and launches").
 */
#ifndef DIDCL_TUNING_H
#define DIDCL_TUNING_H

#include "didcl.h"

/* One tiling of gemm_wide (cl/gemm.cl): a bm x bn tile of y per work-group of
 * (bn/tn) x (bm/tm) work-items, K staged bk at a time. tm, tn and bk are multiples of 4,
 * bm and bn of tm and tn, and each K-tile splits evenly into float4 loads
 * (bm * bk / 4 and bn * bk / 4 multiples of the work-group size). */
struct didcl_wide_tiling {
    int bm, bn, bk, tm, tn;
};

/* One tiling of gemm_tiled (cl/gemv.cl): work-groups of gm x gn blocks of lk / la
 * work-items each (the gemm tuning's lk lanes over k, la of them a work-item; la a power
 * of two dividing lk, 0 taken as 1), a block tm x tn outputs, so a group a
 * (gm * tm) x (gn * tn) block of y; ku k-steps' loads issued before their fmas. The
 * result does not depend on it (only on vw and lk). */
struct didcl_tiled_tiling {
    int tm, tn, gm, gn, ku, la;
};

struct didcl_gemm_tuning {
    int tn, tm, vw, lk;   /* gemm_skinny: columns and rows per work-item, vector width,
                             lanes over k per column tile */
    int tiles;            /* column tiles per work-group (its size is lk * tiles) */
    int ku;               /* gemm_skinny: k-steps per lane whose W loads go before their
                             fmas (loads in flight; the bits do not depend on it) */
    struct didcl_tiled_tiling tiled[2]; /* gemm_tiled (same vw, lk): [0] below
                                           tiled_big_m rows in all, [1] from it */
    int tiled_big_m;
    int tiled_m;          /* M >= tiled_m rows in all (any batch) runs gemm_tiled rather
                             than gemm_skinny: bitwise the same rows (INT_MAX: never) */
    int wide_m;           /* fp32 weights: M >= wide_m goes to CLBlast SGEMM (INT_MAX:
                             never) */
    int half_wide_m;      /* half weights: M >= half_wide_m is widened to fp32 in chunks
                             and goes to CLBlast (INT_MAX: never) */
    int half_stage_m;     /* half weights below that: from M rows in all (any batch) they
                             are widened once for gemm_skinny rather than converted in
                             every M-tile (bitwise the same result; INT_MAX: never) */
    char options[2][2][192]; /* build options of gemv.cl: [gemm_tiled tiling][0 fp32, 1
                                half weights, with half_bits' option]; gemm_skinny is
                                built from [0] */
    int wide_kernel;      /* what runs products of wide_m (half: half_wide_m) rows: 0
                             CLBlast SGEMM (+ bias and GELU launches), 1 gemm_wide (bias
                             and GELU fused, half weights read directly, one launch for a
                             whole batch) */
    int wide_stage_half;  /* gemm_wide with half weights: widen W into the linear stage
                             first and run the fp32 variant (the same floats, so the same
                             bits), where W fits the stage in one piece; 0: gemm_wide reads
                             half W and widens it tile by tile */
    int half_bits;        /* half weights in gemm_wide, gemm_skinny and gemm_tiled: 1 read
                             as ushort4 (one 8-byte load) and widened by integer bit
                             operations (-DDIDCL_HALF_BITS), 0 by vload_half (the same
                             floats either way: a speed choice only) */
    struct didcl_wide_tiling wide[2]; /* gemm_wide: [0] large tiles, taken when their grid
                                         has at least wide_fill work-groups; else [1] */
    int wide_fill;        /* work-groups that keep the device busy (its compute units) */
    char wide_options[2][2][128]; /* build options of gemm_wide: [tiling][half weights] */
};

/* Attention: the split (small-query) path's keys per chunk and work-group size (results
 * depend on both, their reduction order, so they are fixed per device, never chosen per
 * call: a sequence gives the same bits alone or in any batch), and which flash kernel
 * wide passes take. */
struct didcl_attn_tuning {
    int chunk; /* keys per work-group of attention_split (ops.c halves it for a head_dim
                  whose tiles would not fit the device's local memory) */
    int wg;    /* its work-group size, a power of two (capped by the device) */
    int flash_rows; /* wide passes: attention_flash_rows (a query a work-item; CPUs)
                       instead of the register-tiled attention_flash (GPUs) */
    int flash_split; /* key parts of a flash pass (work-groups per query tile and head,
                        merged by attention_combine): > 0 that many, 0 the fewest that
                        give flash_fill work-groups; at most one per key tile either way.
                        Results depend on it (the merge), never on a batch */
    int flash_fill;  /* work-groups a flash pass aims at when flash_split is 0 */
    int split_merge; /* attention_split's chunks merged by its last work-group per (sequence,
                        head) (1; one launch fewer a layer) or by attention_combine (0):
                        the same bits either way */
    int flash_keys;  /* and then at most this many keys a part (0: no limit): long passes
                        whose grid is already full still gain from shorter key loops */
};

/* Fill t for the device described by info. */
void didcl_tuning_attention(const didcl_device_info *info, struct didcl_attn_tuning *t);

/* Fill t for the device described by info. */
void didcl_tuning_gemm(const didcl_device_info *info, struct didcl_gemm_tuning *t);

/* Rebuild t->options and t->wide_options from their fields (after a benchmark or a test
 * changes them). */
void didcl_tuning_gemm_options(struct didcl_gemm_tuning *t);

/* Work-items sharing an output block of gemm_tiled with tiling d under t (lk / la). */
int didcl_tuning_tiled_items(const struct didcl_gemm_tuning *t,
                             const struct didcl_tiled_tiling *d);

/* Which of t->tiled gemm_tiled runs a product of M rows in all with: 0 or 1. */
int didcl_tuning_tiled_pick(const struct didcl_gemm_tuning *t, int M);

/* Bytes of local memory gemm_tiled takes with tiling d under t: the partials of the tree's
 * last levels (over the lk / la work-items of a block), at least one float. */
size_t didcl_tuning_tiled_local_bytes(const struct didcl_gemm_tuning *t,
                                      const struct didcl_tiled_tiling *d);

/* Which of t->wide gemm_wide runs an (M, N) product with: 0 or 1. */
int didcl_tuning_wide_pick(const struct didcl_gemm_tuning *t, int M, int N);

/* Nonzero when w satisfies gemm_wide's constraints (above) with a work-group of at most
 * max_wg work-items (0: no limit). */
int didcl_tuning_wide_valid(const struct didcl_wide_tiling *w, uint64_t max_wg);

#endif /* DIDCL_TUNING_H */

/*
 * tuning.h — per-device choices for the product kernels, made once when a runtime is
 * created (didcl_runtime_init) from its device info, never per launch: the tiling of
 * gemm_skinny (cl/gemv.cl) and the row counts from which a product goes to CLBlast.
 * The figures behind each entry are in docs/performance.md ("Forward kernels: products").
 */
#ifndef DIDCL_TUNING_H
#define DIDCL_TUNING_H

#include "didcl.h"

struct didcl_gemm_tuning {
    int tn, tm, vw, lk;   /* gemm_skinny: columns and rows per work-item, vector width,
                             lanes over k per column tile */
    int tiles;            /* column tiles per work-group (its size is lk * tiles) */
    int ttm, ttn;         /* gemm_tiled: rows and columns per work-item (same vw, lk) */
    int tgm, tgn;         /* gemm_tiled: work-items of lk lanes per work-group over M
                             and N (its size is lk * tgm * tgn) */
    int tku;              /* gemm_tiled: vectors of k per lane per staged K-tile */
    int tiled_m;          /* M >= tiled_m rows in all (any batch) runs gemm_tiled rather
                             than gemm_skinny: bitwise the same rows (INT_MAX: never) */
    int wide_m;           /* fp32 weights: M >= wide_m goes to CLBlast SGEMM (INT_MAX:
                             never) */
    int half_wide_m;      /* half weights: M >= half_wide_m is widened to fp32 in chunks
                             and goes to CLBlast (INT_MAX: never) */
    int half_stage_m;     /* half weights below that: from M rows in all (any batch) they
                             are widened once for gemm_skinny rather than converted in
                             every M-tile (bitwise the same result; INT_MAX: never) */
    char options[2][192]; /* build options of gemv.cl (both tilings): [0] fp32, [1] half
                             weights */
};

/* Fill t for the device described by info. */
void didcl_tuning_gemm(const didcl_device_info *info, struct didcl_gemm_tuning *t);

/* Rebuild t->options from its fields (after a benchmark changes them). */
void didcl_tuning_gemm_options(struct didcl_gemm_tuning *t);

#endif /* DIDCL_TUNING_H */

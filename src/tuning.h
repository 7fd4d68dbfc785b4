/*
 * tuning.h — per-device choices for the product and attention kernels, made once when a
 * runtime is created (didcl_runtime_init) from its device info, never per launch: the
 * tiling of gemm_skinny (cl/gemv.cl), the row counts from which a product goes to
 * CLBlast, and the key chunks of the split attention path (cl/attention.cl). The figures
 * behind each entry are in docs/performance.md ("Forward kernels: products",
 * "Forward kernels: attention and launches").
 */
#ifndef DIDCL_TUNING_H
#define DIDCL_TUNING_H

#include "didcl.h"

struct didcl_gemm_tuning {
    int tn, tm, vw, lk;   /* gemm_skinny: columns and rows per work-item, vector width,
                             lanes over k per column tile */
    int tiles;            /* column tiles per work-group (its size is lk * tiles) */
    int wide_m;           /* fp32 weights: M >= wide_m goes to CLBlast SGEMM (INT_MAX:
                             never) */
    int half_wide_m;      /* half weights: M >= half_wide_m is widened to fp32 in chunks
                             and goes to CLBlast (INT_MAX: never) */
    int half_stage_m;     /* half weights below that: from M rows in all (any batch) they
                             are widened once for gemm_skinny rather than converted in
                             every M-tile (bitwise the same result; INT_MAX: never) */
    char options[2][96];  /* build options of gemm_skinny: [0] fp32, [1] half weights */
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
};

/* Fill t for the device described by info. */
void didcl_tuning_attention(const didcl_device_info *info, struct didcl_attn_tuning *t);

/* Fill t for the device described by info. */
void didcl_tuning_gemm(const didcl_device_info *info, struct didcl_gemm_tuning *t);

/* Rebuild t->options from its fields (after a benchmark changes them). */
void didcl_tuning_gemm_options(struct didcl_gemm_tuning *t);

#endif /* DIDCL_TUNING_H */

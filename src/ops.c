/*
 * ops.c — host wrappers of the transformer kernels (see ops.h): argument checks,
 * argument setting and enqueue of kernels resolved once per runtime (kernels.h, with
 * their work-group sizes and local memory), so a launch makes no lookups or info
 * queries. Work-group sizes are powers of two no larger than what the device and the
 * kernel allow, so nothing here assumes a particular vendor; local scratch is checked
 * against CL_DEVICE_LOCAL_MEM_SIZE.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>

#include <clblast_c.h>

#include "error.h"
#include "cl-sources.h"
#include "fault.h"
#include "kernels.h"
#include "ops.h"
#include "profile.h"
#include "program.h"
#include "runtime.h"

/* ------------------------------------------------------------------------------------
 * Launch helpers
 * ------------------------------------------------------------------------------------ */

/* A kernel argument: size and pointer to the value (NULL value = __local scratch). */
struct karg {
    size_t size;
    const void *value;
};
#define KV(v) {sizeof(v), &(v)}
#define KLOCAL(bytes) {(bytes), NULL}
#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The kernel variant of a weight type (kernels.h). */
static int wt_variant(enum didcl_wtype wt) {
    return wt == DIDCL_WTYPE_F16;
}

/* Kernel id (variant) with its first nargs arguments set. */
static didcl_status kernel_args(didcl_runtime_t rt, enum didcl_kid id, int variant,
                                const struct karg *args, int nargs,
                                const struct didcl_kernel **out) {
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(didcl_kernels_get(rt, id, variant, &k));
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(k->kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return didcl_fail_cl(err, "%s: clSetKernelArg arg %d", k->name, i);
    }
    *out = k;
    return DIDCL_OK;
}

/* __local scratch of `bytes` as argument arg of k. */
static didcl_status set_local(const struct didcl_kernel *k, cl_uint arg, size_t bytes) {
    cl_int err = clSetKernelArg(k->kernel, arg, bytes, NULL);
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "%s: clSetKernelArg arg %u (local scratch)", k->name, arg);
    return DIDCL_OK;
}

/* Fail unless `bytes` of __local scratch fit beside the kernel's own local memory. */
static didcl_status check_local(didcl_runtime_t rt, const struct didcl_kernel *k, size_t bytes) {
    if (bytes + k->local_used > rt->info.local_mem)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "%s: needs %zu bytes of local memory, device %s has %llu", k->name,
                          bytes + (size_t)k->local_used, rt->info.name,
                          (unsigned long long)rt->info.local_mem);
    return DIDCL_OK;
}

static didcl_status enqueue(didcl_runtime_t rt, const struct didcl_kernel *k, cl_uint dims,
                            const size_t *global, const size_t *local) {
    cl_int err = didcl_fault_hit(DIDCL_FAULT_LAUNCH)
                     ? CL_OUT_OF_RESOURCES
                     : clEnqueueNDRangeKernel(rt->queue, k->kernel, dims, NULL, global, local,
                                              0, NULL, didcl_profile_event(rt, k->name));
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "clEnqueueNDRangeKernel %s", k->name);
    rt->launches++;
    return DIDCL_OK;
}

/* One work-item per element of n, in work-groups of the kernel's size. */
static didcl_status launch_1d(didcl_runtime_t rt, const struct didcl_kernel *k, size_t n) {
    size_t global = (n + k->wg - 1) / k->wg * k->wg;
    return enqueue(rt, k, 1, &global, &k->wg);
}

/* One work-group per row, for the row-reduction kernels whose last argument is a
 * __local scratch of one float per work-item (set here). */
static didcl_status launch_rows(didcl_runtime_t rt, const struct didcl_kernel *k, cl_uint red_arg,
                                int rows) {
    DIDCL_TRY(check_local(rt, k, k->wg * sizeof(float)));
    DIDCL_TRY(set_local(k, red_arg, k->wg * sizeof(float)));
    size_t global = (size_t)rows * k->wg;
    return enqueue(rt, k, 1, &global, &k->wg);
}

/* Shape checks: positive, and products that index buffers fit in an int. */
static int fits_int(long long a, long long b) {
    return a > 0 && b > 0 && a * b <= INT_MAX;
}

#define CHECK_DIMS(op, cond, ...)                                                     \
    do {                                                                              \
        if (!(cond))                                                                  \
            return didcl_fail(DIDCL_ERR_INVALID_ARG, op ": " __VA_ARGS__);            \
    } while (0)

/* The same, for helpers that get the op's name in a variable `op`. */
#define CHECK_OP(cond, fmt, ...)                                                      \
    do {                                                                              \
        if (!(cond))                                                                  \
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "%s: " fmt, op, __VA_ARGS__);    \
    } while (0)

/* ------------------------------------------------------------------------------------
 * Embedding
 * ------------------------------------------------------------------------------------ */

didcl_status didcl_ops_embed(didcl_runtime_t rt, int T, int H, int V, cl_mem ids, cl_mem table,
                             cl_mem pos, int P, int pos_start, enum didcl_wtype wt, cl_mem out) {
    CHECK_DIMS("embed", fits_int(T, H) && fits_int(V, H),
               "shape T=%d H=%d V=%d, expected positive sizes with T*H and V*H below 2^31", T, H, V);
    CHECK_DIMS("embed", pos_start >= 0, "pos_start %d, expected >= 0", pos_start);
    CHECK_DIMS("embed", !pos || (long long)pos_start + T <= P,
               "positions %d..%d, expected below the %d rows of the position table", pos_start,
               pos_start + T - 1, P);
    const struct didcl_kernel *k = NULL;
    if (pos) {
        struct karg a[] = {KV(T), KV(H), KV(V), KV(pos_start), KV(ids), KV(table), KV(pos), KV(out)};
        DIDCL_TRY(kernel_args(rt, DIDCL_K_EMBED_TOKENS_POS, wt_variant(wt), a, NARGS(a), &k));
        return launch_1d(rt, k, (size_t)T * H);
    }
    struct karg a[] = {KV(T), KV(H), KV(V), KV(ids), KV(table), KV(out)};
    DIDCL_TRY(kernel_args(rt, DIDCL_K_EMBED_TOKENS, wt_variant(wt), a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)T * H);
}

/* ------------------------------------------------------------------------------------
 * Normalization
 * ------------------------------------------------------------------------------------ */

didcl_status didcl_ops_layernorm_modulate(didcl_runtime_t rt, int T, int C, float eps, cl_mem x,
                                          cl_mem w, cl_mem mod, int shift_off, int scale_off,
                                          int mod_stride, cl_mem out) {
    return didcl_ops_layernorm_modulate_rows(rt, T, C, eps, x, NULL, w, mod, shift_off, scale_off,
                                             mod_stride, out);
}

didcl_status didcl_ops_layernorm_modulate_rows(didcl_runtime_t rt, int T, int C, float eps,
                                               cl_mem x, cl_mem sel, cl_mem w, cl_mem mod,
                                               int shift_off, int scale_off, int mod_stride,
                                               cl_mem out) {
    CHECK_DIMS("layernorm_modulate", fits_int(T, C), "shape T=%d C=%d, expected positive", T, C);
    CHECK_DIMS("layernorm_modulate", shift_off >= 0 && scale_off >= 0 && mod_stride >= 0,
               "shift_off=%d scale_off=%d mod_stride=%d, expected >= 0", shift_off, scale_off,
               mod_stride);
    struct karg a[] = {KV(T), KV(C), KV(eps), KV(x), KV(sel), KV(w), KV(mod), KV(shift_off),
                       KV(scale_off), KV(mod_stride), KV(out)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_LAYERNORM_MODULATE, 0, a, NARGS(a), &k));
    return launch_rows(rt, k, (cl_uint)NARGS(a), T);
}

didcl_status didcl_ops_residual_layernorm_modulate(didcl_runtime_t rt, int T, int C, float eps,
                                                   cl_mem x, cl_mem y, cl_mem w, cl_mem mod,
                                                   int gate_off, int shift_off, int scale_off,
                                                   int mod_stride, cl_mem out) {
    CHECK_DIMS("residual_layernorm_modulate", fits_int(T, C) && gate_off >= 0 &&
                   shift_off >= 0 && scale_off >= 0 && mod_stride >= 0,
               "shape T=%d C=%d, offsets gate %d shift %d scale %d stride %d: expected positive "
               "sizes and offsets >= 0", T, C, gate_off, shift_off, scale_off, mod_stride);
    struct karg a[] = {KV(T),        KV(C),         KV(eps),       KV(x),
                       KV(y),        KV(w),         KV(mod),       KV(gate_off),
                       KV(shift_off), KV(scale_off), KV(mod_stride), KV(out)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_RESIDUAL_LAYERNORM_MODULATE, 0, a, NARGS(a), &k));
    return launch_rows(rt, k, (cl_uint)NARGS(a), T);
}

didcl_status didcl_ops_layernorm_bias(didcl_runtime_t rt, int T, int C, float eps, cl_mem x,
                                      cl_mem w, cl_mem b, cl_mem out) {
    CHECK_DIMS("layernorm_bias", fits_int(T, C), "shape T=%d C=%d, expected positive", T, C);
    struct karg a[] = {KV(T), KV(C), KV(eps), KV(x), KV(w), KV(b), KV(out)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_LAYERNORM_BIAS, 0, a, NARGS(a), &k));
    return launch_rows(rt, k, (cl_uint)NARGS(a), T);
}

/* ------------------------------------------------------------------------------------
 * RoPE
 * ------------------------------------------------------------------------------------ */

didcl_status didcl_ops_rope_rows(didcl_runtime_t rt, int T, int heads, int head_dim,
                                 int pos_start, cl_mem inv_freq, didcl_ops_rows view, int parts) {
    CHECK_DIMS("rope", head_dim > 0 && head_dim % 2 == 0, "head_dim %d, expected even and > 0",
               head_dim);
    CHECK_DIMS("rope", parts > 0 && fits_int(T, (long long)parts * heads * head_dim),
               "shape T=%d heads=%d parts=%d, expected positive", T, heads, parts);
    CHECK_DIMS("rope", pos_start >= 0, "pos_start %d, expected >= 0", pos_start);
    CHECK_DIMS("rope", view.off >= 0 && view.stride >= 0, "view offset %d stride %d, expected >= 0",
               view.off, view.stride);
    struct karg a[] = {KV(T),        KV(heads),    KV(head_dim),    KV(pos_start), KV(inv_freq),
                       KV(view.buf), KV(view.off), KV(view.stride), KV(parts)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_ROPE_ROWS, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)T * parts * heads * (head_dim / 2));
}

didcl_status didcl_ops_rope(didcl_runtime_t rt, int T, int heads, int head_dim, int pos_start,
                            cl_mem inv_freq, cl_mem qkv) {
    didcl_ops_rows view = {qkv, 0, 3 * heads * head_dim};
    return didcl_ops_rope_rows(rt, T, heads, head_dim, pos_start, inv_freq, view, 2);
}

didcl_status didcl_ops_rope_cache(didcl_runtime_t rt, int batch, int n, int heads, int head_dim,
                                  int pos_start, cl_mem inv_freq, cl_mem qkv, cl_mem cache,
                                  int seq_rows) {
    CHECK_DIMS("rope_cache", head_dim > 0 && head_dim % 2 == 0, "head_dim %d, expected even and > 0",
               head_dim);
    CHECK_DIMS("rope_cache", batch > 0 && n > 0 && pos_start >= 0 && pos_start + n <= seq_rows &&
                   fits_int((long long)batch * n, 3LL * heads * head_dim) &&
                   fits_int((long long)batch * seq_rows, 2LL * heads * head_dim),
               "batch %d of %d rows at position %d, %d cache rows per sequence, heads %d: "
               "expected rows within the cache", batch, n, pos_start, seq_rows, heads);
    const int T = batch * n;
    struct karg a[] = {KV(T),        KV(n),   KV(heads),  KV(head_dim), KV(pos_start),
                       KV(inv_freq), KV(qkv), KV(cache), KV(seq_rows)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_ROPE_CACHE, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)T * heads * (head_dim / 2));
}

didcl_status didcl_ops_rope_cache_at(didcl_runtime_t rt, int T, int heads, int head_dim,
                                     cl_mem pos, cl_mem inv_freq, cl_mem qkv, cl_mem cache) {
    CHECK_DIMS("rope_cache_at", head_dim > 0 && head_dim % 2 == 0,
               "head_dim %d, expected even and > 0", head_dim);
    CHECK_DIMS("rope_cache_at", fits_int(T, 3LL * heads * head_dim), "shape T=%d heads=%d, "
               "expected positive", T, heads);
    struct karg a[] = {KV(T), KV(heads), KV(head_dim), KV(pos), KV(inv_freq), KV(qkv),
                       KV(cache)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_ROPE_CACHE_AT, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)T * heads * (head_dim / 2));
}

/* ------------------------------------------------------------------------------------
 * Attention
 * ------------------------------------------------------------------------------------ */

/* Shared argument checks of the attention paths; *mask is replaced by NONE if NULL. */
static didcl_status check_attention(const char *op, int Tq, int Tk, int heads, int head_dim,
                                    didcl_ops_rows q, didcl_ops_rows k, didcl_ops_rows v,
                                    const didcl_attn_mask **maskp) {
    static const didcl_attn_mask none = {DIDCL_ATTN_NONE, 0, 0, 0};
    if (!*maskp)
        *maskp = &none;
    const didcl_attn_mask *mask = *maskp;
    const int mode = (int)mask->mode;
    CHECK_OP(fits_int(Tq, (long long)heads * head_dim) && fits_int(Tk, 1),
             "shape Tq=%d Tk=%d heads=%d head_dim=%d, expected positive", Tq, Tk, heads, head_dim);
    CHECK_OP(q.off >= 0 && k.off >= 0 && v.off >= 0 && q.stride >= 0 && k.stride >= 0 &&
                 v.stride >= 0,
             "view offset/stride q %d/%d k %d/%d v %d/%d, expected >= 0", q.off, q.stride, k.off,
             k.stride, v.off, v.stride);
    CHECK_OP(mode >= 0 && mode <= 3, "mask mode %d, expected 0..3", mode);
    CHECK_OP((mode != DIDCL_ATTN_BLOCK_CAUSAL && mode != DIDCL_ATTN_BD3_2L) || mask->block > 0,
             "mask block size %d, expected > 0", mask->block);
    CHECK_OP(mode != DIDCL_ATTN_BD3_2L ||
                 (mask->half_len > 0 && Tk <= 2 * mask->half_len &&
                  (long long)Tq + mask->q_offset <= 2LL * mask->half_len),
             "BD3_2L mask with half_len %d, block %d, Tq %d + q_offset %d, Tk %d: expected "
             "queries and keys within 2*half_len (a shorter last block is allowed)",
             mask->half_len, mask->block, Tq, mask->q_offset, Tk);
    CHECK_OP(mask->q_offset >= 0, "q_offset %d, expected >= 0", mask->q_offset);
    return DIDCL_OK;
}

/* attention_flash's work-group: 8 x 8 items (its reqd_work_group_size in cl/attention.cl) */
#define FLASH_ITEMS 64

/* The flash kernel's tiles as cl/attention.cl sizes them from ATTN_HD: queries (*fq) and
 * keys (*bk). attention_flash_rows takes a query a work-item: its nominal tile is
 * FLASH_ITEMS queries (the device may give fewer; the part count below uses this one). */
static void flash_tiles(didcl_runtime_t rt, int head_dim, int *fq, int *bk) {
    if (rt->attn.flash_rows) {
        *fq = FLASH_ITEMS;
        *bk = head_dim <= 64 ? 32 : 8; /* ATTN_RBK */
    } else {
        *fq = 8 * (head_dim <= 128 ? 4 : 2);                       /* ATTN_FQ */
        *bk = 8 * (head_dim <= 64 ? 4 : head_dim <= 128 ? 2 : 1);  /* ATTN_BK */
    }
}

/* Key parts of a flash pass before rounding: rt->attn.flash_split, or when that is 0 the
 * fewest that give rt->attn.flash_fill work-groups and parts of at most
 * rt->attn.flash_keys keys; at most one per key tile. Non-increasing
 * in Tq, non-decreasing in Tk (didcl_ops_attention_flash_scratch_bytes relies on both). */
static int flash_parts_max(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim) {
    int fq, bk;
    flash_tiles(rt, head_dim, &fq, &bk);
    const long groups = (long)((Tq + fq - 1) / fq) * heads, ktiles = (Tk + bk - 1) / bk;
    long parts = rt->attn.flash_split > 0   ? rt->attn.flash_split
                 : rt->attn.flash_fill > 0 ? (rt->attn.flash_fill + groups - 1) / groups
                                           : 1;
    if (rt->attn.flash_split <= 0 && rt->attn.flash_keys > 0 &&
        parts < (Tk + rt->attn.flash_keys - 1) / rt->attn.flash_keys)
        parts = (Tk + rt->attn.flash_keys - 1) / rt->attn.flash_keys;
    parts = parts < ktiles ? parts : ktiles;
    return parts > 1 ? (int)parts : 1;
}

/* The key parts a flash pass runs: parts of *kpart keys (a multiple of the key tile, so
 * no part ends in a short tile but the last), at most flash_parts_max of them. Depends on
 * the device, the tuning and the shapes alone (the results' bits depend on it). */
static int flash_parts(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim, int *kpart) {
    int fq, bk;
    flash_tiles(rt, head_dim, &fq, &bk);
    const int parts = flash_parts_max(rt, Tq, Tk, heads, head_dim);
    const int per = (Tk + parts - 1) / parts;
    *kpart = (per + bk - 1) / bk * bk;
    return (Tk + *kpart - 1) / *kpart;
}

int didcl_ops_attention_flash_parts(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim) {
    int kpart;
    if (!rt || Tq <= 0 || Tk <= 0 || heads <= 0 || head_dim <= 0)
        return 1;
    return flash_parts(rt, Tq, Tk, heads, head_dim, &kpart);
}

/* Bytes of the partials of a flash pass in parts parts (0 for one). */
static size_t flash_part_bytes(int Tq, int heads, int head_dim, int parts) {
    return parts > 1 ? (size_t)heads * Tq * parts * (head_dim + 2) * sizeof(float) : 0;
}

size_t didcl_ops_attention_flash_scratch_bytes(didcl_runtime_t rt, int Tq, int Tk, int heads,
                                               int head_dim) {
    if (!rt || Tq <= 0 || Tk <= 0 || heads <= 0 || head_dim <= 0)
        return 0;
    /* the most over the query tiles: the parts fall as the tiles grow, and at most
     * flash_parts_max at Tk keys for fewer keys */
    int fq, bk;
    flash_tiles(rt, head_dim, &fq, &bk);
    size_t most = 0;
    for (int t = 1; (long)(t - 1) * fq < Tq; t++) {
        const int tq = (long)t * fq < Tq ? t * fq : Tq;
        const size_t b = flash_part_bytes(tq, heads, head_dim,
                                          flash_parts_max(rt, tq, Tk, heads, head_dim));
        most = b > most ? b : most;
    }
    return most;
}

/* The __local arguments of attention_split (cl/attention.cl), in bytes, for chunk keys,
 * Tq queries and a work-group of wg items: key rows padded by 4 floats, value rows,
 * queries, scores, per-query stats (wg / ATTN_QMAX items a query). */
#define SPLIT_LOCALS 5
static void split_local(int chunk, int Tq, int head_dim, size_t wg, size_t bytes[SPLIT_LOCALS]) {
    const size_t f = sizeof(float), hd = (size_t)head_dim;
    const size_t g2 = wg >= DIDCL_OPS_ATTN_MAX_Q ? wg / DIDCL_OPS_ATTN_MAX_Q : 1;
    bytes[0] = (size_t)chunk * (hd + 4) * f;
    bytes[1] = (size_t)chunk * hd * f;
    bytes[2] = (size_t)Tq * hd * f;
    bytes[3] = (size_t)Tq * chunk * f;
    bytes[4] = 2 * (size_t)Tq * g2 * f;
}

/* Fail unless scratch holds the need bytes of partials of parts parts of kpart keys (none
 * needed when need is 0); sizer: the function that gives need. */
static didcl_status check_partials(const char *op, cl_mem scratch, size_t need, int parts,
                                   int kpart, const char *sizer) {
    size_t have = 0;
    if (!need)
        return DIDCL_OK;
    cl_int err = scratch ? clGetMemObjectInfo(scratch, CL_MEM_SIZE, sizeof have, &have, NULL)
                         : CL_SUCCESS;
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "%s: clGetMemObjectInfo(scratch)", op);
    if (have < need)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "%s: scratch of %zu bytes, %zu needed for the partials of %d chunks "
                          "of %d keys (%s)", op, have, need, parts, kpart, sizer);
    return DIDCL_OK;
}

/* Keys per chunk of the split path for head_dim: the device's choice (rt->attn), halved
 * until the tiles of the most queries fit its local memory. It depends on the device and
 * head_dim alone, never on Tq, Tk or the batch (the results' bits depend on it). */
static int split_chunk(didcl_runtime_t rt, int head_dim) {
    int chunk = rt->attn.chunk > 0 ? rt->attn.chunk : 1;
    for (; chunk > 1; chunk /= 2) {
        size_t b[SPLIT_LOCALS], sum = 0;
        split_local(chunk, DIDCL_OPS_ATTN_MAX_Q, head_dim, (size_t)rt->attn.wg, b);
        for (int i = 0; i < SPLIT_LOCALS; i++)
            sum += b[i];
        if (sum <= rt->info.local_mem)
            break;
    }
    return chunk;
}

size_t didcl_ops_attention_scratch_bytes(didcl_runtime_t rt, int batch, int Tq, int Tk,
                                         int heads, int head_dim) {
    if (!rt || batch <= 0 || Tq <= 0 || Tk <= 0 || heads <= 0 || head_dim <= 0)
        return 0;
    const int chunk = split_chunk(rt, head_dim), chunks = (Tk + chunk - 1) / chunk;
    return chunks > 1 ? (size_t)batch * heads * Tq * chunks * (head_dim + 2) * sizeof(float) : 0;
}

/* attention_combine: the nparts partials of each of rows rows (batch, heads, Tq) in part
 * merged into out. */
static didcl_status combine(didcl_runtime_t rt, int rows, int Tq, int heads, int head_dim,
                            int nparts, cl_mem part, cl_mem out) {
    struct karg c[] = {KV(Tq), KV(heads), KV(rows), KV(nparts), KV(part), KV(out)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_ATTENTION_COMBINE, head_dim / 4, c, NARGS(c), &k));
    return launch_1d(rt, k, (size_t)rows * head_dim);
}

/* rt's counts for attention_split, at least n of them, all 0 (they return to 0 at the end
 * of every launch). */
static didcl_status split_done(didcl_runtime_t rt, size_t n, cl_mem *out) {
    if (rt->split_done_len < n) {
        size_t len = n < 256 ? 256 : n;
        int *zero = calloc(len, sizeof *zero);
        if (!zero)
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "attention: out of memory");
        cl_int err;
        cl_mem m = clCreateBuffer(rt->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                  len * sizeof *zero, zero, &err);
        free(zero);
        if (err != CL_SUCCESS)
            return didcl_fail_cl(err, "attention: clCreateBuffer (%zu chunk counts)", len);
        if (rt->split_done) /* in-order queue: launches that use the old one come first */
            clReleaseMemObject(rt->split_done);
        rt->split_done = m;
        rt->split_done_len = len;
    }
    *out = rt->split_done;
    return DIDCL_OK;
}

didcl_status didcl_ops_attention(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim,
                                 float scale, didcl_ops_rows q, didcl_ops_rows k,
                                 didcl_ops_rows v, const didcl_attn_mask *mask, cl_mem scratch,
                                 cl_mem out) {
    return didcl_ops_attention_batch(rt, 1, Tq, Tk, heads, head_dim, scale, q, k, v, mask, 0, 0,
                                     scratch, out);
}

didcl_status didcl_ops_attention_batch(didcl_runtime_t rt, int batch, int Tq, int Tk, int heads,
                                       int head_dim, float scale, didcl_ops_rows q,
                                       didcl_ops_rows k, didcl_ops_rows v,
                                       const didcl_attn_mask *mask, int q_bstride,
                                       int kv_bstride, cl_mem scratch, cl_mem out) {
    DIDCL_TRY(check_attention("attention", Tq, Tk, heads, head_dim, q, k, v, &mask));
    CHECK_DIMS("attention", batch > 0 && q_bstride >= 0 && kv_bstride >= 0,
               "batch %d, strides q %d k/v %d, expected a positive batch and strides >= 0",
               batch, q_bstride, kv_bstride);
    CHECK_DIMS("attention", Tq <= DIDCL_OPS_ATTN_MAX_Q,
               "%d queries, expected at most %d (wider passes take attention_flash or "
               "attention_wide)", Tq, DIDCL_OPS_ATTN_MAX_Q);
    CHECK_DIMS("attention", head_dim % 4 == 0 && head_dim <= 256,
               "head_dim %d, expected a multiple of 4 up to 256", head_dim);
    const int chunk = split_chunk(rt, head_dim), chunks = (Tk + chunk - 1) / chunk;
    CHECK_DIMS("attention", fits_int((long long)batch * heads * Tq * chunks, head_dim + 2),
               "partials of batch %d x %d heads x %d queries x %d chunks exceed 2^31 floats",
               batch, heads, Tq, chunks);
    DIDCL_TRY(check_partials("attention", scratch,
                             didcl_ops_attention_scratch_bytes(rt, batch, Tq, Tk, heads, head_dim),
                             chunks, chunk, "didcl_ops_attention_scratch_bytes"));
    int mode = (int)mask->mode;
    cl_mem done = NULL; /* NULL: attention_combine merges the chunks */
    if (chunks > 1 && rt->attn.split_merge)
        DIDCL_TRY(split_done(rt, (size_t)batch * heads, &done));
    struct karg a[] = {KV(Tq),        KV(Tk),       KV(heads),          KV(scale),
                       KV(q.buf),     KV(q.off),    KV(q.stride),       KV(k.buf),
                       KV(k.off),     KV(k.stride), KV(v.buf),          KV(v.off),
                       KV(v.stride),  KV(mode),     KV(mask->q_offset), KV(mask->block),
                       KV(mask->half_len), KV(q_bstride), KV(kv_bstride), KV(chunk),
                       KV(scratch),   KV(out),      KV(done)};
    const struct didcl_kernel *kr = NULL; /* built per head_dim (-DATTN_HD) */
    DIDCL_TRY(kernel_args(rt, DIDCL_K_ATTENTION_SPLIT, head_dim / 4, a, NARGS(a), &kr));
    const size_t wg = kr->wg < (size_t)rt->attn.wg ? kr->wg : (size_t)rt->attn.wg;
    size_t bytes[SPLIT_LOCALS], sum = 0;
    split_local(chunk, Tq, head_dim, wg, bytes);
    for (int i = 0; i < SPLIT_LOCALS; i++) {
        sum += bytes[i];
        DIDCL_TRY(set_local(kr, (cl_uint)(NARGS(a) + i), bytes[i]));
    }
    DIDCL_TRY(check_local(rt, kr, sum));
    size_t global[3] = {(size_t)chunks * wg, (size_t)heads, (size_t)batch}, local[3] = {wg, 1, 1};
    DIDCL_TRY(enqueue(rt, kr, 3, global, local));
    if (chunks == 1 || done)
        return DIDCL_OK; /* the work-groups wrote the output */
    return combine(rt, batch * heads * Tq, Tq, heads, head_dim, chunks, scratch, out);
}

didcl_status didcl_ops_attention_flash(didcl_runtime_t rt, int Tq, int Tk, int heads,
                                       int head_dim, float scale, didcl_ops_rows q,
                                       didcl_ops_rows k, didcl_ops_rows v,
                                       const didcl_attn_mask *mask, cl_mem scratch,
                                       cl_mem out) {
    DIDCL_TRY(check_attention("attention_flash", Tq, Tk, heads, head_dim, q, k, v, &mask));
    CHECK_DIMS("attention_flash", head_dim % 4 == 0 && head_dim <= 256,
               "head_dim %d, expected a multiple of 4 up to 256", head_dim);
    int kpart = Tk;
    const int parts = flash_parts(rt, Tq, Tk, heads, head_dim, &kpart);
    CHECK_DIMS("attention_flash", fits_int((long long)heads * Tq * parts, head_dim + 2),
               "partials of %d heads x %d queries x %d key parts exceed 2^31 floats", heads, Tq,
               parts);
    DIDCL_TRY(check_partials("attention_flash", scratch,
                             flash_part_bytes(Tq, heads, head_dim, parts), parts, kpart,
                             "didcl_ops_attention_flash_scratch_bytes"));
    int mode = (int)mask->mode;
    struct karg a[] = {KV(Tq),       KV(Tk),       KV(heads),    KV(scale),
                       KV(q.buf),    KV(q.off),    KV(q.stride), KV(k.buf),
                       KV(k.off),    KV(k.stride), KV(v.buf),    KV(v.off),
                       KV(v.stride), KV(out),      KV(mode),     KV(mask->q_offset),
                       KV(mask->block), KV(mask->half_len), KV(kpart), KV(scratch)};
    const size_t hd = (size_t)head_dim, f = sizeof(float);
    const struct didcl_kernel *kr = NULL; /* built per head_dim (-DATTN_HD) */
    size_t global[3] = {0, (size_t)heads, (size_t)parts}, sum = 0;
    int fq, bk;
    flash_tiles(rt, head_dim, &fq, &bk);
    if (rt->attn.flash_rows) {
        DIDCL_TRY(kernel_args(rt, DIDCL_K_ATTENTION_FLASH_ROWS, head_dim / 4, a, NARGS(a), &kr));
        /* key and value tiles of bk keys of head_dim floats each */
        const size_t tile = (size_t)bk * hd * f;
        for (int i = 0; i < 2; i++)
            DIDCL_TRY(set_local(kr, (cl_uint)(NARGS(a) + i), tile));
        sum = 2 * tile;
        global[0] = ((size_t)Tq + kr->wg - 1) / kr->wg * kr->wg; /* a query an item */
    } else {
        DIDCL_TRY(kernel_args(rt, DIDCL_K_ATTENTION_FLASH, head_dim / 4, a, NARGS(a), &kr));
        if (kr->wg != FLASH_ITEMS)
            return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                              "attention_flash: needs work-groups of %d items, device %s "
                              "allows %zu", FLASH_ITEMS, rt->info.name, kr->wg);
        /* queries and key tile transposed, value tile, probabilities, row maxima / sums */
        const size_t tiles[5] = {hd * fq * f, hd * bk * f, bk * hd * f, (size_t)bk * fq * f,
                                 8 * (size_t)fq * f};
        for (int i = 0; i < 5; i++) {
            sum += tiles[i];
            DIDCL_TRY(set_local(kr, (cl_uint)(NARGS(a) + i), tiles[i]));
        }
        global[0] = ((size_t)Tq + fq - 1) / fq * kr->wg; /* fq queries a group */
    }
    DIDCL_TRY(check_local(rt, kr, sum));
    size_t local[3] = {kr->wg, 1, 1};
    DIDCL_TRY(enqueue(rt, kr, 3, global, local));
    if (parts == 1)
        return DIDCL_OK; /* the work-groups wrote the output */
    return combine(rt, heads * Tq, Tq, heads, head_dim, parts, scratch, out);
}

didcl_status didcl_ops_attention_wide(didcl_runtime_t rt, int Tq, int Tk, int heads, int head_dim,
                                      float scale, didcl_ops_rows q, didcl_ops_rows k,
                                      didcl_ops_rows v, const didcl_attn_mask *mask,
                                      cl_mem scratch, cl_mem out) {
    DIDCL_TRY(check_attention("attention_wide", Tq, Tk, heads, head_dim, q, k, v, &mask));
    CHECK_DIMS("attention_wide", fits_int((long long)heads * Tq, Tk),
               "scores of %d heads x %d x %d exceed 2^31 elements", heads, Tq, Tk);
    const size_t hd = (size_t)head_dim, W = (size_t)heads * head_dim;
    const size_t plane = (size_t)Tq * Tk;
    /* S[h] (Tq, Tk) = scale * Q_h (Tq, hd) . K_h (Tk, hd)^T, heads hd apart in a row */
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, (size_t)Tq, (size_t)Tk,
        hd, scale, q.buf, (size_t)q.off, (size_t)q.stride, hd, k.buf, (size_t)k.off,
        (size_t)k.stride, hd, 0.0f, scratch, 0, (size_t)Tk, plane, (size_t)heads, &rt->queue,
        didcl_profile_event(rt, "attention_wide_qk"));
    rt->launches++;
    if (s != CLBlastSuccess)
        return didcl_fail(DIDCL_ERR_CLBLAST,
                          "attention_wide: CLBlastSgemmStridedBatched Q.K^T (Tq=%d Tk=%d heads=%d "
                          "head_dim=%d): CLBlast status %d",
                          Tq, Tk, heads, head_dim, (int)s);
    /* mask and softmax, row by row, in place */
    int rows = heads * Tq, mode = (int)mask->mode;
    struct karg a[] = {KV(Tq),   KV(Tk), KV(rows), KV(scratch), KV(mode), KV(mask->q_offset),
                       KV(mask->block), KV(mask->half_len)};
    const struct didcl_kernel *kr = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_ATTENTION_PROBS, 0, a, NARGS(a), &kr));
    DIDCL_TRY(launch_rows(rt, kr, (cl_uint)NARGS(a), rows));
    /* O_h (Tq, hd) = P_h (Tq, Tk) . V_h (Tk, hd), written at column h*hd of out */
    s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo,
                                   (size_t)Tq, hd, (size_t)Tk, 1.0f, scratch, 0, (size_t)Tk, plane,
                                   v.buf, (size_t)v.off, (size_t)v.stride, hd, 0.0f, out, 0, W,
                                   hd, (size_t)heads, &rt->queue,
                                   didcl_profile_event(rt, "attention_wide_pv"));
    rt->launches++;
    if (s != CLBlastSuccess)
        return didcl_fail(DIDCL_ERR_CLBLAST,
                          "attention_wide: CLBlastSgemmStridedBatched P.V (Tq=%d Tk=%d heads=%d "
                          "head_dim=%d): CLBlast status %d",
                          Tq, Tk, heads, head_dim, (int)s);
    return DIDCL_OK;
}

/* ------------------------------------------------------------------------------------
 * Products
 * ------------------------------------------------------------------------------------ */

/* One of the two kernels of cl/gemv.cl on W (N, K), writing columns [n_off, n_off + N)
 * of y (M, ldy): gemm_skinny (tiled 0) or gemm_tiled (tiled 1, with the tiling M picks),
 * the same sums. */
static didcl_status gemm(didcl_runtime_t rt, int tiled, int M, int N, int K, cl_mem x, cl_mem W,
                         enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y, int ldy,
                         int n_off) {
    const struct didcl_gemm_tuning *t = &rt->gemm;
    int iact = (int)act;
    size_t local[3], global[3], lmem;
    int variant = wt_variant(wt);
    if (tiled) {
        const int p = didcl_tuning_tiled_pick(t, M);
        const struct didcl_tiled_tiling *d = &t->tiled[p];
        const size_t bm = (size_t)d->gm * d->tm, bn = (size_t)d->gn * d->tn;
        lmem = didcl_tuning_tiled_local_bytes(t, d);
        local[0] = (size_t)didcl_tuning_tiled_items(t, d);
        local[1] = (size_t)d->gm * d->gn, local[2] = 1;
        variant += 2 * p;
        global[0] = local[0];
        global[1] = ((size_t)M + bm - 1) / bm * local[1];
        global[2] = ((size_t)N + bn - 1) / bn;
    } else {
        lmem = (t->lk > 1 ? (size_t)t->tm * t->tn * t->lk * t->tiles : 1) * sizeof(float);
        const size_t tiles = ((size_t)N + t->tn - 1) / t->tn;
        local[0] = (size_t)t->lk, local[1] = (size_t)t->tiles, local[2] = 1;
        global[0] = local[0];
        global[1] = (tiles + local[1] - 1) / local[1] * local[1];
        global[2] = 1;
    }
    struct karg a[] = {KV(M),    KV(N), KV(K),   KV(x),     KV(W),       KV(b),
                       KV(iact), KV(y), KV(ldy), KV(n_off), KLOCAL(lmem)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, tiled ? DIDCL_K_GEMM_TILED : DIDCL_K_GEMM_SKINNY, variant, a,
                          NARGS(a), &k));
    if (k->wg_max < local[0] * local[1])
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "%s: work-group of %zu x %zu, device %s allows %zu for it", k->name,
                          local[0], local[1], rt->info.name, k->wg_max);
    DIDCL_TRY(check_local(rt, k, lmem));
    return enqueue(rt, k, 3, global, local);
}

static didcl_status check_product(int M, int N, int K, enum didcl_act act, const char *op) {
    CHECK_OP(fits_int(M, K) && fits_int(M, N) && fits_int(N, K),
             "shape M=%d N=%d K=%d, expected positive sizes with products below 2^31", M, N, K);
    CHECK_OP(act == DIDCL_ACT_NONE || act == DIDCL_ACT_GELU, "activation %d, expected 0 or 1",
             (int)act);
    return DIDCL_OK;
}

didcl_status didcl_ops_gemm_skinny(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                                   enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y) {
    DIDCL_TRY(check_product(M, N, K, act, "gemm_skinny"));
    return gemm(rt, 0, M, N, K, x, W, wt, b, act, y, N, 0);
}

didcl_status didcl_ops_gemm_tiled(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                                  enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y) {
    DIDCL_TRY(check_product(M, N, K, act, "gemm_tiled"));
    return gemm(rt, 1, M, N, K, x, W, wt, b, act, y, N, 0);
}

/* gemm_wide (cl/gemm.cl) on W (N, K) into y (M, N), with the tiling the grid picks. */
static didcl_status gemm_wide(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                              enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y) {
    const struct didcl_gemm_tuning *t = &rt->gemm;
    const int p = didcl_tuning_wide_pick(t, M, N);
    const struct didcl_wide_tiling *w = &t->wide[p];
    int iact = (int)act;
    struct karg a[] = {KV(M), KV(N), KV(K), KV(x), KV(W), KV(b), KV(iact), KV(y)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_GEMM_WIDE, 2 * p + wt_variant(wt), a, NARGS(a), &k));
    /* the kernel requires exactly this work-group (reqd_work_group_size) */
    size_t local[2] = {(size_t)(w->bn / w->tn), (size_t)(w->bm / w->tm)};
    if (k->wg_max < local[0] * local[1])
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "gemm_wide: work-group of %zu x %zu, device %s allows %zu for it",
                          local[0], local[1], rt->info.name, k->wg_max);
    DIDCL_TRY(check_local(rt, k, 0)); /* its tiles are static __local arrays */
    size_t global[2] = {(size_t)((N + w->bn - 1) / w->bn) * local[0],
                        (size_t)((M + w->bm - 1) / w->bm) * local[1]};
    return enqueue(rt, k, 2, global, local);
}

didcl_status didcl_ops_gemm_wide(didcl_runtime_t rt, int M, int N, int K, cl_mem x, cl_mem W,
                                 enum didcl_wtype wt, cl_mem b, enum didcl_act act, cl_mem y) {
    DIDCL_TRY(check_product(M, N, K, act, "gemm_wide"));
    return gemm_wide(rt, M, N, K, x, W, wt, b, act, y);
}

didcl_status didcl_ops_sgemm(didcl_runtime_t rt, int M, int N, int K, float alpha, cl_mem A,
                             size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb,
                             int trans_b, float beta, cl_mem C, size_t c_off, size_t ldc) {
    CHECK_DIMS("sgemm", M > 0 && N > 0 && K > 0, "shape M=%d N=%d K=%d, expected positive", M, N, K);
    CLBlastStatusCode s = CLBlastSgemm(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, trans_b ? CLBlastTransposeYes : CLBlastTransposeNo,
        (size_t)M, (size_t)N, (size_t)K, alpha, A, a_off, lda, B, b_off, ldb, beta, C, c_off, ldc,
        &rt->queue, didcl_profile_event(rt, "sgemm"));
    rt->launches++;
    if (s != CLBlastSuccess)
        return didcl_fail(DIDCL_ERR_CLBLAST,
                          "CLBlastSgemm M=%d N=%d K=%d lda=%zu ldb=%zu ldc=%zu trans_b=%d: CLBlast "
                          "status %d",
                          M, N, K, lda, ldb, ldc, trans_b ? 1 : 0, (int)s);
    return DIDCL_OK;
}

/* Floats of one staging chunk: rows of widened half weights that CLBlast multiplies at
 * a time (32 MB), so the scratch does not grow with the vocabulary. */
#define STAGE_FLOATS (8 << 20)

static int stage_rows(int N, int K) {
    int r = STAGE_FLOATS / K;
    return r < 1 ? 1 : r > N ? N : r;
}

/* How a product runs, decided here alone (rt->gemm, the rows and whether the caller
 * has a stage): a kernel on W as stored, or on half W widened into the stage first (the
 * same floats, so bitwise the same rows either way):
 *   skinny, tiled  cl/gemv.cl's two tilings (the same bits for any M), half W staged
 *                  chunk by chunk from half_stage_m rows in all;
 *   wide           gemm_wide, all rows in one launch (row m the same for any M), half W
 *                  staged whole where wide_stage_half says so and it fits the stage;
 *   clblast        SGEMM per sequence (its tiling may depend on M), half W always staged
 *                  chunk by chunk; without a stage half W stays in gemv.cl's kernels. */
enum product_kernel { PRODUCT_SKINNY, PRODUCT_TILED, PRODUCT_WIDE, PRODUCT_CLBLAST };

struct product_path {
    enum product_kernel kernel;
    int staged; /* half W widened into the stage first */
};

/* The path of a batch of sequences of n rows, M rows in all, on W (N, K). */
static struct product_path product_path(didcl_runtime_t rt, int n, int M, int N, int K,
                                        enum didcl_wtype wt, int have_stage) {
    const struct didcl_gemm_tuning *t = &rt->gemm;
    const int half = wt == DIDCL_WTYPE_F16;
    if (n >= (half ? t->half_wide_m : t->wide_m)) {
        if (t->wide_kernel)
            return (struct product_path){PRODUCT_WIDE, half && t->wide_stage_half &&
                                                           have_stage && stage_rows(N, K) == N};
        if (!half || have_stage)
            return (struct product_path){PRODUCT_CLBLAST, half};
    }
    return (struct product_path){M >= t->tiled_m ? PRODUCT_TILED : PRODUCT_SKINNY,
                                 half && have_stage && M >= t->half_stage_m};
}

int didcl_ops_linear_rowwise(didcl_runtime_t rt, int n, enum didcl_wtype wt, cl_mem stage) {
    /* the kernel depends on n, not on the shape (only gemm_wide's staging does); gemm_wide
     * is M-independent too, but does not give a lone row's bits */
    const enum product_kernel k = product_path(rt, n, n, 1, 1, wt, stage != NULL).kernel;
    return k == PRODUCT_SKINNY || k == PRODUCT_TILED;
}

size_t didcl_ops_linear_stage_bytes(didcl_runtime_t rt, int N, int K, enum didcl_wtype wt) {
    if (wt != DIDCL_WTYPE_F16 || N <= 0 || K <= 0)
        return 0;
    /* staged paths: the wide one (most rows) or gemv.cl's below it (many rows in all);
     * INT_MAX - 1 rows reach every switch point short of never (INT_MAX) */
    const int most = INT_MAX - 1;
    if (!product_path(rt, most, most, N, K, wt, 1).staged &&
        !product_path(rt, 0, most, N, K, wt, 1).staged)
        return 0;
    return (size_t)stage_rows(N, K) * (size_t)K * sizeof(float);
}

/* Rows [n0, n0 + rows) of half W (N, K) into stage as floats. */
static didcl_status widen_half(didcl_runtime_t rt, cl_mem W, int n0, int rows, int K,
                               cl_mem stage) {
    int count = rows * K;
    cl_long first = (cl_long)n0 * K;
    struct karg a[] = {KV(count), KV(W), KV(first), KV(stage)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_WIDEN_HALF, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)count);
}

/* One launch of a kernel of path on W (N, K) into columns [n_off, n_off + N) of y
 * (M, ldy); gemm_wide writes whole rows (n_off 0, ldy N: product_path stages for it
 * only a W that fits the stage whole). */
static didcl_status product_kernel(didcl_runtime_t rt, enum product_kernel kernel, int M, int N,
                                   int K, cl_mem x, cl_mem W, enum didcl_wtype wt, cl_mem b,
                                   enum didcl_act act, cl_mem y, int ldy, int n_off) {
    if (kernel == PRODUCT_WIDE)
        return gemm_wide(rt, M, N, K, x, W, wt, b, act, y);
    return gemm(rt, kernel == PRODUCT_TILED, M, N, K, x, W, wt, b, act, y, ldy, n_off);
}

didcl_status didcl_ops_linear(didcl_runtime_t rt, int batch, int n, int N, int K, cl_mem x,
                              cl_mem W, enum didcl_wtype wt, cl_mem b, enum didcl_act act,
                              cl_mem y, cl_mem stage) {
    CHECK_DIMS("linear", batch > 0 && fits_int(batch, n), "batch %d of %d rows", batch, n);
    const int M = batch * n;
    DIDCL_TRY(check_product(M, N, K, act, "linear"));
    const struct product_path path = product_path(rt, n, M, N, K, wt, stage != NULL);
    const int clblast = path.kernel == PRODUCT_CLBLAST;
    if (!path.staged && !clblast)
        return product_kernel(rt, path.kernel, M, N, K, x, W, wt, b, act, y, N, 0);
    const int rows = path.staged ? stage_rows(N, K) : N;
    for (int n0 = 0; n0 < N; n0 += rows) {
        const int c = N - n0 < rows ? N - n0 : rows;
        if (path.staged)
            DIDCL_TRY(widen_half(rt, W, n0, c, K, stage));
        if (!clblast) {
            DIDCL_TRY(product_kernel(rt, path.kernel, M, c, K, x, stage, DIDCL_WTYPE_F32, b, act,
                                     y, N, n0));
            continue;
        }
        /* one SGEMM per sequence: CLBlast's tiling may depend on M */
        for (int s = 0; s < batch; s++)
            DIDCL_TRY(didcl_ops_sgemm(rt, n, c, K, 1.0f, x, (size_t)s * n * K, (size_t)K,
                                      path.staged ? stage : W, path.staged ? 0 : (size_t)n0 * K,
                                      (size_t)K, 1, 0.0f, y, (size_t)s * n * N + n0, (size_t)N));
    }
    if (!clblast)
        return DIDCL_OK; /* bias and activation ran in the epilogue */
    if (b)
        DIDCL_TRY(didcl_ops_bias_add(rt, M, N, y, b));
    if (act == DIDCL_ACT_GELU)
        DIDCL_TRY(didcl_ops_gelu(rt, M * N, y));
    return DIDCL_OK;
}

/* ------------------------------------------------------------------------------------
 * Element-wise
 * ------------------------------------------------------------------------------------ */

didcl_status didcl_ops_axpy(didcl_runtime_t rt, int n, float a, cl_mem x, cl_mem y) {
    CHECK_DIMS("axpy", n > 0, "n=%d, expected > 0", n);
    struct karg args[] = {KV(n), KV(a), KV(x), KV(y)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_AXPY, 0, args, NARGS(args), &k));
    return launch_1d(rt, k, (size_t)n);
}

didcl_status didcl_ops_scale(didcl_runtime_t rt, int n, float a, cl_mem x) {
    CHECK_DIMS("scale", n > 0, "n=%d, expected > 0", n);
    struct karg args[] = {KV(n), KV(a), KV(x)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_SCALE, 0, args, NARGS(args), &k));
    return launch_1d(rt, k, (size_t)n);
}

didcl_status didcl_ops_gated_residual(didcl_runtime_t rt, int T, int C, cl_mem x, cl_mem y,
                                      cl_mem gate, int gate_off, int gate_stride) {
    CHECK_DIMS("gated_residual", fits_int(T, C), "shape T=%d C=%d, expected positive", T, C);
    CHECK_DIMS("gated_residual", gate_off >= 0 && gate_stride >= 0,
               "gate_off=%d gate_stride=%d, expected >= 0", gate_off, gate_stride);
    struct karg a[] = {KV(T), KV(C), KV(x), KV(y), KV(gate), KV(gate_off), KV(gate_stride)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_GATED_RESIDUAL, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)T * C);
}

didcl_status didcl_ops_bias_add(didcl_runtime_t rt, int M, int N, cl_mem y, cl_mem b) {
    CHECK_DIMS("bias_add", fits_int(M, N), "shape M=%d N=%d, expected positive", M, N);
    struct karg a[] = {KV(M), KV(N), KV(y), KV(b)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_BIAS_ADD, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)M * N);
}

didcl_status didcl_ops_gelu(didcl_runtime_t rt, int n, cl_mem x) {
    CHECK_DIMS("gelu", n > 0, "n=%d, expected > 0", n);
    struct karg a[] = {KV(n), KV(x)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_GELU, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)n);
}

/* ------------------------------------------------------------------------------------
 * Softmax
 * ------------------------------------------------------------------------------------ */

/* Both row reductions of softmax.cl take (R, V, excl, x, out): one work-group per row. */
static didcl_status softmax_rows(didcl_runtime_t rt, const char *op, enum didcl_kid id, int R,
                                 int V, int excl, cl_mem x, cl_mem out) {
    CHECK_OP(fits_int(R, V), "shape R=%d V=%d, expected positive", R, V);
    CHECK_OP(excl >= -1 && excl < V, "excluded index %d, expected -1..%d", excl, V - 1);
    CHECK_OP(V > 1 || excl < 0, "V=%d with its only index excluded", V);
    struct karg a[] = {KV(R), KV(V), KV(excl), KV(x), KV(out)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, id, 0, a, NARGS(a), &k));
    return launch_rows(rt, k, (cl_uint)NARGS(a), R);
}

didcl_status didcl_ops_log_softmax(didcl_runtime_t rt, int R, int V, int excl, cl_mem x,
                                   cl_mem out) {
    return softmax_rows(rt, "log_softmax", DIDCL_K_LOG_SOFTMAX_ROWS, R, V, excl, x, out);
}

didcl_status didcl_ops_max_lse(didcl_runtime_t rt, int R, int V, int excl, cl_mem x,
                               cl_mem stats) {
    return softmax_rows(rt, "max_lse", DIDCL_K_MAX_LSE_ROWS, R, V, excl, x, stats);
}

didcl_status didcl_ops_gather_logprob(didcl_runtime_t rt, int R, int V, int first, int excl,
                                      cl_mem x, cl_mem stats, cl_mem tgt, cl_mem out) {
    CHECK_DIMS("gather_logprob", fits_int(first + (long long)R, V) && first >= 0,
               "rows %d..%d of V=%d, expected positive sizes", first, first + R - 1, V);
    struct karg a[] = {KV(R), KV(V), KV(first), KV(excl), KV(x), KV(stats), KV(tgt), KV(out)};
    const struct didcl_kernel *k = NULL;
    DIDCL_TRY(kernel_args(rt, DIDCL_K_GATHER_LOGPROB, 0, a, NARGS(a), &k));
    return launch_1d(rt, k, (size_t)R);
}

/* ------------------------------------------------------------------------------------
 * Warm-up: compile ahead of the first launch
 * ------------------------------------------------------------------------------------ */

/* Families with a half-weight variant (wt_variant). */
static const char *const half_families[] = {"embed", "gemv"};

/* One tiny call of each CLBlast routine used here builds its program (one per routine,
 * whatever the sizes later), so the first real product does not compile. */
static didcl_status clblast_prepare(didcl_runtime_t rt) {
    cl_int err;
    cl_mem buf = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, 64 * sizeof(float), NULL, &err);
    if (!buf)
        return didcl_fail_cl(err, "warm-up: a CLBlast scratch buffer");
    const float zero = 0.0f;
    didcl_status st = DIDCL_OK;
    err = clEnqueueFillBuffer(rt->queue, buf, &zero, sizeof zero, 0, 64 * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS)
        st = didcl_fail_cl(err, "warm-up: clEnqueueFillBuffer");
    if (st == DIDCL_OK)
        st = didcl_ops_sgemm(rt, 2, 2, 2, 1.0f, buf, 0, 2, buf, 8, 2, 1, 0.0f, buf, 16, 2);
    if (st == DIDCL_OK) {
        CLBlastStatusCode s = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, 2, 2, 2, 1.0f, buf,
            0, 2, 4, buf, 16, 2, 4, 0.0f, buf, 32, 2, 4, 2, &rt->queue, NULL);
        if (s != CLBlastSuccess)
            st = didcl_fail(DIDCL_ERR_CLBLAST, "warm-up: CLBlastSgemmStridedBatched: CLBlast "
                            "status %d", (int)s);
    }
    if (st == DIDCL_OK && (err = clFinish(rt->queue)) != CL_SUCCESS)
        st = didcl_fail_cl(err, "warm-up: clFinish");
    clReleaseMemObject(buf);
    return st;
}

didcl_status didcl_ops_prepare(didcl_runtime_t rt, int half, int clblast) {
    /* every embedded family, so new ones (cl/<family>.cl) are covered without a change */
    for (size_t i = 0; i < didcl_cl_sources_count; i++) {
        const char *family = didcl_cl_sources[i].family;
        if (strcmp(family, "common"))
            DIDCL_TRY(didcl_program_prepare(rt, family, NULL));
    }
    for (size_t i = 0; half && i < sizeof half_families / sizeof half_families[0]; i++)
        DIDCL_TRY(didcl_program_prepare(rt, half_families[i], DIDCL_WEIGHT_HALF_OPTIONS));
    /* gemv.cl is built with the device's tilings (tuning.c): the second gemm_tiled one
     * where gemm_tiled runs at all */
    for (int p = 0; p < (rt->gemm.tiled_m == INT_MAX ? 1 : 2); p++)
        for (int h = 0; h <= (half != 0); h++)
            DIDCL_TRY(didcl_program_prepare(rt, "gemv", rt->gemm.options[p][h]));
    for (int p = 0; rt->gemm.wide_kernel && p < 2; p++) /* and gemm_wide with its tilings */
        for (int h = 0; h <= (half != 0); h++)
            DIDCL_TRY(didcl_program_prepare(rt, "gemm", rt->gemm.wide_options[p][h]));
    return clblast ? clblast_prepare(rt) : DIDCL_OK;
}

didcl_status didcl_runtime_warmup(didcl_runtime_t rt, uint32_t flags) {
    if (!rt)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_runtime_warmup: NULL runtime");
    if (flags & ~(uint32_t)(DIDCL_WARMUP_HALF | DIDCL_WARMUP_CLBLAST))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_runtime_warmup: unknown flags 0x%x",
                          (unsigned)flags);
    return didcl_ops_prepare(rt, (flags & DIDCL_WARMUP_HALF) != 0,
                             (flags & DIDCL_WARMUP_CLBLAST) != 0);
}

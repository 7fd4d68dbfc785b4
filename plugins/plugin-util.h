/*
 * plugin-util.h — small helpers shared by the bundled remask plugins: option checking and
 * an index sort. Header-only (static functions), so every plugin stays one object built
 * against include/didcl/remask.h alone, with no libdidcl symbol. Every bundled plugin
 * includes it first: it also renames the entry when the plugin is built into libdidcl.
 */
#ifndef DIDCL_PLUGIN_UTIL_H
#define DIDCL_PLUGIN_UTIL_H

#include <stdio.h>
#include <string.h>

#include <didcl/remask.h>

/* Compiled into libdidcl as a built-in (plugins/local.mk, src/remask.h): the entry gets
 * the internal name DIDCL_PLUGIN_BUILTIN and stays hidden inside the library, so the four
 * plugins' entries do not clash and the library exports no didcl_remask_plugin_entry. */
#ifdef DIDCL_PLUGIN_BUILTIN
#undef DIDCL_REMASK_EXPORT
#if defined(__GNUC__) || defined(__clang__)
#define DIDCL_REMASK_EXPORT __attribute__((visibility("hidden")))
#else
#define DIDCL_REMASK_EXPORT
#endif
#define didcl_remask_plugin_entry DIDCL_PLUGIN_BUILTIN
#endif

/* Check that every entry of "k1=v1,k2=v2" has the form key=value with a key from keys
 * (nkeys of them; expected names them for the message). Returns 0, or -1 with a reason. */
static inline int plugin_check_options(const char *options, const char *const *keys,
                                       size_t nkeys, const char *expected, char *err,
                                       size_t err_size) {
    const char *p = options;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        size_t k;
        for (k = 0; k < nkeys; k++)
            if (strlen(keys[k]) == klen && !strncmp(keys[k], p, klen))
                break;
        if (k == nkeys) {
            snprintf(err, err_size, "unknown option '%.*s'; expected %s", (int)klen, p, expected);
            return -1;
        }
        if (!eq) {
            snprintf(err, err_size, "option '%.*s' has no value; expected %.*s=VALUE", (int)klen,
                     p, (int)klen, p);
            return -1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Order of two position indices: nonzero if a comes before b. */
typedef int (*plugin_before_fn)(const didcl_remask_input *in, uint32_t a, uint32_t b);

/* Heapsort of idx[0..m) with an order that reads ctx (a score array, say): in place, no
 * allocation, O(m log m); before() must be a strict total order, so break ties by index. */
typedef int (*plugin_order_fn)(const void *ctx, uint32_t a, uint32_t b);

static inline void plugin_sift(uint32_t *idx, uint32_t root, uint32_t m, const void *ctx,
                               plugin_order_fn before) {
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= m)
            return;
        if (child + 1 < m && before(ctx, idx[child], idx[child + 1]))
            child++;
        if (!before(ctx, idx[root], idx[child]))
            return;
        uint32_t t = idx[root];
        idx[root] = idx[child];
        idx[child] = t;
        root = child;
    }
}

static inline void plugin_heapsort(uint32_t *idx, uint32_t m, const void *ctx,
                                   plugin_order_fn before) {
    for (uint32_t i = m / 2; i-- > 0;)
        plugin_sift(idx, i, m, ctx, before);
    for (uint32_t end = m; end-- > 1;) {
        uint32_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        plugin_sift(idx, 0, end, ctx, before);
    }
}

/* plugin_sort's order, carried through plugin_heapsort's context. */
typedef struct plugin_input_order {
    const didcl_remask_input *in;
    plugin_before_fn before;
} plugin_input_order;

static inline int plugin_input_before(const void *ctx, uint32_t a, uint32_t b) {
    const plugin_input_order *o = ctx;
    return o->before(o->in, a, b);
}

/* Sort idx[0..m) so that before() holds between neighbours. */
static inline void plugin_sort(uint32_t *idx, uint32_t m, const didcl_remask_input *in,
                               plugin_before_fn before) {
    plugin_input_order o = {in, before};
    plugin_heapsort(idx, m, &o, plugin_input_before);
}

/* Write the indices of all unlocked positions into out; returns how many. */
static inline uint32_t plugin_unlocked(const didcl_remask_input *in, uint32_t *out) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < in->n; i++)
        if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED))
            out[m++] = i;
    return m;
}

/* The common select() of ranking plugins: the first `count` unlocked positions in
 * before() order (a flexible count of 0 still takes one). */
static inline int plugin_select_ranked(const didcl_remask_input *in, uint32_t *out,
                                       uint32_t *n_out, plugin_before_fn before) {
    uint32_t m = plugin_unlocked(in, out);
    uint32_t k = in->count ? in->count : 1;
    plugin_sort(out, m, in, before);
    *n_out = k < m ? k : m;
    return 0;
}

#endif /* DIDCL_PLUGIN_UTIL_H */

/*
 * span.c — remask plugin "span": remask whole contiguous spans of low confidence, so that a
 * multi-token error is regenerated together instead of token by token.
 *
 * Options: len=N (span length, 1..65536, default 4), agg=mean|min (how a span's snapshot
 * confidences are combined into its score, default mean).
 *
 * Selection, precisely. A position is available while it is unlocked and not yet
 * selected. Repeat until `count` positions are selected:
 *   1. Candidates are all windows of w = min(len, r) consecutive available positions
 *      inside each maximal run of r consecutive available positions (a run shorter than
 *      len is one candidate of its own length).
 *   2. Score each candidate by the mean (or min) of its confidences (NaN counts as 0);
 *      take the lowest score, ties to the leftmost start.
 *   3. If the window fits in what is still needed, select it whole. Otherwise, with a
 *      flexible count, select it whole and stop (the result may exceed count); with an
 *      exact count, select only its contiguous sub-window of the needed length that has
 *      the lowest score (ties: leftmost) and stop.
 * Spans therefore never overlap, and every unlocked position is reachable.
 */
#include <stdlib.h>

#include "plugin-util.h"

enum { AGG_MEAN, AGG_MIN };

typedef struct span_state {
    uint32_t len;
    int agg;
    uint32_t cap;   /* capacity of taken */
    uint8_t *taken; /* [cap] 1 = selected in this call */
} span_state;

static int span_create(const char *options, const didcl_remask_host *host, void **state,
                       char *err, size_t err_size) {
    static const char *const keys[] = {"len", "agg"};
    char v[32] = "";
    int found;
    (void)host;
    if (plugin_check_options(options, keys, 2, "len, agg", err, err_size))
        return -1;
    span_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    s->len = 4;
    s->agg = AGG_MEAN;
    if ((found = didcl_remask_option(options, "len", v, sizeof v)) != 0) {
        char *end;
        unsigned long len = strtoul(v, &end, 10);
        if (found < 0 || v[0] < '0' || v[0] > '9' || *end || len < 1 || len > 65536) {
            snprintf(err, err_size, "option len: '%s' is not an integer in 1..65536",
                     found < 0 ? "(too long)" : v);
            free(s);
            return -1;
        }
        s->len = (uint32_t)len;
    }
    if ((found = didcl_remask_option(options, "agg", v, sizeof v)) != 0) {
        if (found > 0 && !strcmp(v, "mean"))
            s->agg = AGG_MEAN;
        else if (found > 0 && !strcmp(v, "min"))
            s->agg = AGG_MIN;
        else {
            snprintf(err, err_size, "option agg: '%s', expected mean or min",
                     found < 0 ? "(too long)" : v);
            free(s);
            return -1;
        }
    }
    *state = s;
    return 0;
}

static void span_destroy(void *state) {
    span_state *s = state;
    free(s->taken);
    free(s);
}

static double score(const span_state *s, const didcl_remask_input *in, uint32_t start,
                    uint32_t w) {
    double sum = 0.0, lo = 2.0;
    for (uint32_t i = start; i < start + w; i++) {
        float c = in->positions[i].confidence;
        double x = c == c ? (double)c : 0.0;
        sum += x;
        if (x < lo)
            lo = x;
    }
    return s->agg == AGG_MIN ? lo : sum / (double)w;
}

/* Lowest-scoring window of length w (ties: leftmost) inside [a, b); returns its start. */
static uint32_t best_window(const span_state *s, const didcl_remask_input *in, uint32_t a,
                            uint32_t b, uint32_t w, double *best) {
    uint32_t at = a;
    *best = score(s, in, a, w);
    for (uint32_t st = a + 1; st + w <= b; st++) {
        double x = score(s, in, st, w);
        if (x < *best) {
            *best = x;
            at = st;
        }
    }
    return at;
}

static int span_select(void *state, const didcl_remask_input *in, uint32_t *out,
                       uint32_t *n_out, char *err, size_t err_size) {
    span_state *s = state;
    uint32_t target = in->count ? in->count : 1, k = 0;
    if (in->n > s->cap) {
        uint8_t *t = realloc(s->taken, in->n);
        if (!t) {
            snprintf(err, err_size, "out of memory for %u positions", (unsigned)in->n);
            return -1;
        }
        s->taken = t;
        s->cap = in->n;
    }
    memset(s->taken, 0, in->n);
    while (k < target) {
        uint32_t best_start = 0, best_w = 0;
        double best = 0.0;
        for (uint32_t a = 0; a < in->n;) {
            if ((in->positions[a].flags & DIDCL_REMASK_LOCKED) || s->taken[a]) {
                a++;
                continue;
            }
            uint32_t b = a;
            while (b < in->n && !(in->positions[b].flags & DIDCL_REMASK_LOCKED) && !s->taken[b])
                b++;
            uint32_t w = b - a < s->len ? b - a : s->len;
            double x;
            uint32_t at = best_window(s, in, a, b, w, &x);
            if (best_w == 0 || x < best) {
                best = x;
                best_start = at;
                best_w = w;
            }
            a = b;
        }
        if (best_w == 0)
            break; /* nothing left: count exceeded the unlocked positions */
        uint32_t need = target - k;
        if (best_w > need && !in->count_flexible) {
            double x;
            best_start = best_window(s, in, best_start, best_start + best_w, need, &x);
            best_w = need;
        }
        for (uint32_t i = best_start; i < best_start + best_w; i++) {
            s->taken[i] = 1;
            out[k++] = i;
        }
    }
    *n_out = k;
    return 0;
}

static const didcl_remask_plugin descriptor = {
    .abi_version = DIDCL_REMASK_ABI_VERSION,
    .struct_size = sizeof(didcl_remask_plugin),
    .name = "span",
    .description = "whole contiguous spans of lowest mean/min confidence (len=N, agg=mean|min)",
    .version = "1.0",
    .create = span_create,
    .select = span_select,
    .destroy = span_destroy,
};

DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
    return &descriptor;
}

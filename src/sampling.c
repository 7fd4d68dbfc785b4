/*
 * sampling.c — softmax, nucleus, exponential race and per-token statistics in float64
 * (sampling.h states the exact rules).
 */
#include "sampling.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

struct didcl_ranked {
    double p;
    int32_t id;
};

/* The total order of the nucleus: larger p first, equal p by lower id. */
static int ranks_before(const struct didcl_ranked *a, const struct didcl_ranked *b) {
    return a->p > b->p || (a->p == b->p && a->id < b->id);
}

static int ranked_cmp(const void *x, const void *y) {
    const struct didcl_ranked *a = x, *b = y;
    return ranks_before(a, b) ? -1 : ranks_before(b, a) ? 1 : 0;
}

/* Partial selection (Hoare quickselect): afterwards a[0..k) hold the k first elements
 * of the order, unsorted. The order is strict (ids differ), so the set is unique. */
static void select_top(struct didcl_ranked *a, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        struct didcl_ranked x = a[lo], y = a[mid], z = a[hi], pivot; /* median of three */
        if (ranks_before(&x, &y))
            pivot = ranks_before(&y, &z) ? y : (ranks_before(&x, &z) ? z : x);
        else
            pivot = ranks_before(&x, &z) ? x : (ranks_before(&y, &z) ? z : y);
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (ranks_before(&a[i], &pivot))
                i++;
            while (ranks_before(&pivot, &a[j]))
                j--;
            if (i <= j) {
                struct didcl_ranked t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break; /* k-1 sits between the halves: it equals the pivot, done */
    }
}

didcl_status didcl_sampling_init(didcl_sampling *s, int32_t vocab) {
    if (vocab < 2)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "sampling: vocabulary size %d, expected >= 2",
                          (int)vocab);
    s->vocab = vocab;
    s->n_kept = 0;
    s->prob = malloc(sizeof *s->prob * (size_t)vocab);
    s->order = malloc(sizeof *s->order * (size_t)vocab);
    s->ranked = malloc(sizeof *s->ranked * (size_t)vocab);
    if (!s->prob || !s->order || !s->ranked) {
        didcl_sampling_free(s);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "sampling: cannot allocate scratch for %d tokens",
                          (int)vocab);
    }
    return DIDCL_OK;
}

void didcl_sampling_free(didcl_sampling *s) {
    if (!s)
        return;
    free(s->prob);
    free(s->order);
    free(s->ranked);
    s->prob = NULL;
    s->order = NULL;
    s->ranked = NULL;
}

/* Size of the nucleus of r[0..n) under top_p (< 1); leaves r[0..kept) sorted. */
static int32_t nucleus(struct didcl_ranked *r, int32_t n, double top_p) {
    for (int32_t k = n < 64 ? n : 64;; k = (n / 4 < k) ? n : 4 * k) {
        select_top(r, n, k);
        qsort(r, (size_t)k, sizeof *r, ranked_cmp);
        double cum = 0.0;
        for (int32_t j = 0; j < k; j++) {
            cum += r[j].p;
            if (cum > top_p)
                return j > 0 ? j : 1; /* rank 0 always stays */
        }
        if (k == n)
            return n; /* the running sum never passed top_p (rounding) */
    }
}

didcl_status didcl_sampling_draw(didcl_sampling *s, const float *logits, int32_t mask_id,
                                 double temperature, double top_p,
                                 const didcl_philox_at *rng, didcl_draw *out) {
    const int32_t V = s->vocab;
    double m = -INFINITY;
    for (int32_t v = 0; v < V; v++) {
        if (isnan(logits[v]))
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "sampling: logit of token %d is NaN",
                              (int)v);
        if (v != mask_id && logits[v] > m)
            m = logits[v];
    }
    if (!isfinite(m))
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "sampling: no finite logit outside the mask token (max %g)", m);
    /* softmax in float64; T = 0 keeps the model's own (T = 1) distribution for stats */
    const double inv_t = temperature > 0.0 ? 1.0 / temperature : 1.0;
    double z = 0.0;
    int32_t n = 0;
    for (int32_t v = 0; v < V; v++) { /* one exp per token: the row's main cost */
        double e = v == mask_id ? 0.0 : exp(((double)logits[v] - m) * inv_t);
        z += e;
        if (e > 0.0)
            s->ranked[n++] = (struct didcl_ranked){e, v};
    }
    for (int32_t j = 0; j < n; j++)
        s->ranked[j].p /= z;
    /* nucleus; top_p == 1 keeps all, unsorted: only the two largest matter (margin) */
    int32_t kept;
    if (top_p >= 1.0) {
        kept = n; /* bring ranks 0 and 1 to the front; the rest stays unsorted */
        for (int32_t front = 0; front < 2 && front < n; front++) {
            int32_t a = front;
            for (int32_t j = front + 1; j < n; j++)
                if (ranks_before(&s->ranked[j], &s->ranked[a]))
                    a = j;
            struct didcl_ranked t = s->ranked[front];
            s->ranked[front] = s->ranked[a];
            s->ranked[a] = t;
        }
    } else {
        kept = nucleus(s->ranked, n, top_p);
    }
    double mass = 0.0;
    for (int32_t j = 0; j < kept; j++)
        mass += s->ranked[j].p;
    double entropy = 0.0;
    for (int32_t j = 0; j < kept; j++) {
        double q = s->ranked[j].p / mass;
        s->ranked[j].p = q;
        s->prob[s->ranked[j].id] = q;
        s->order[j] = s->ranked[j].id;
        if (q > 0.0)
            entropy -= q * log(q);
    }
    s->n_kept = kept;
    /* draw: greedy = rank 0; otherwise the exponential race over the kept ids */
    int32_t best = 0;
    if (temperature > 0.0) {
        double best_r = -1.0;
        for (int32_t j = 0; j < kept; j++) {
            double u = didcl_philox_uniform(rng, (uint32_t)s->ranked[j].id);
            double r = s->ranked[j].p / (-log(u + 1e-10) + 1e-10);
            if (r > best_r || (r == best_r && s->ranked[j].id < s->ranked[best].id)) {
                best_r = r;
                best = j;
            }
        }
    }
    out->token = s->ranked[best].id;
    out->confidence = s->ranked[best].p;
    out->entropy = entropy;
    out->margin = s->ranked[0].p - (kept > 1 ? s->ranked[1].p : 0.0);
    return DIDCL_OK;
}

didcl_status didcl_sampling_check(const didcl_draw *d) {
    if (d->token == DIDCL_DRAW_NAN)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "sampling: a logit of the row is NaN");
    if (d->token == DIDCL_DRAW_NO_FINITE)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "sampling: no finite logit outside the mask token");
    if (d->token < 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "sampling: row not drawn (code %d)",
                          (int)d->token);
    return DIDCL_OK;
}

/*
 * evalstats.c — Gen PPL, bootstrap intervals, entropy and distinct-n (evalstats.h).
 */
#include "cli/evalstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

double didcl_es_entropy(const int32_t *ids, size_t n) {
    if (n == 0)
        return 0.0;
    int32_t *s = malloc(sizeof *s * n);
    if (!s)
        return NAN;
    memcpy(s, ids, sizeof *s * n);
    qsort(s, n, sizeof *s, cmp_i32);
    double h = 0.0;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && s[j] == s[i]; j++)
            ;
        double q = (double)(j - i) / (double)n;
        h -= q * log(q);
    }
    free(s);
    return h;
}

static int g_k; /* k-gram length for cmp_gram (qsort has no user pointer) */
static int cmp_gram(const void *x, const void *y) {
    const int32_t *a = *(const int32_t *const *)x, *b = *(const int32_t *const *)y;
    for (int i = 0; i < g_k; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

double didcl_es_distinct(const int32_t *ids, size_t n, int k) {
    if (k < 1 || n < (size_t)k)
        return 1.0;
    size_t m = n - (size_t)k + 1;
    const int32_t **g = malloc(sizeof *g * m);
    if (!g)
        return NAN;
    for (size_t i = 0; i < m; i++)
        g[i] = ids + i;
    g_k = k;
    qsort(g, m, sizeof *g, cmp_gram);
    size_t distinct = 1;
    for (size_t i = 1; i < m; i++)
        distinct += cmp_gram(&g[i - 1], &g[i]) != 0;
    free(g);
    return (double)distinct / (double)m;
}

double didcl_es_gen_ppl(const double *nll, const double *tok, size_t n) {
    double sn = 0.0, st = 0.0;
    for (size_t i = 0; i < n; i++) {
        sn += nll[i];
        st += tok[i];
    }
    return st > 0 ? exp(sn / st) : NAN;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double didcl_es_percentile(double *x, size_t n, double q) {
    if (n == 0)
        return NAN;
    qsort(x, n, sizeof *x, cmp_double);
    double h = q * (double)(n - 1);
    size_t i = (size_t)floor(h);
    if (i + 1 >= n)
        return x[n - 1];
    return x[i] + (h - (double)i) * (x[i + 1] - x[i]);
}

uint64_t didcl_es_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

size_t didcl_es_rng_index(uint64_t *state, size_t n) {
    /* 53 random bits scaled: the bias is below 2^-40 for any n we meet */
    double u = (double)(didcl_es_rng_next(state) >> 11) * 0x1.0p-53;
    size_t i = (size_t)(u * (double)n);
    return i < n ? i : n - 1;
}

/* The core: reps resamples; for each, stat A (ratio of sums, optionally over a pair) and
 * stat B (a mean difference). Any of the inputs may be NULL (that statistic skipped). */
static int bootstrap(const double *nll_a, const double *tok_a, const double *nll_b,
                     const double *tok_b, const double *xa, const double *xb, size_t n,
                     int reps, uint64_t seed, didcl_es_interval *ppl, didcl_es_interval *mean) {
    if (n == 0 || reps < 1)
        return -1;
    double *ra = malloc(sizeof *ra * (size_t)reps), *rb = malloc(sizeof *rb * (size_t)reps);
    if (!ra || !rb) {
        free(ra);
        free(rb);
        return -1;
    }
    uint64_t st = seed;
    for (int r = 0; r < reps; r++) {
        double sna = 0, sta = 0, snb = 0, stb = 0, sx = 0;
        for (size_t j = 0; j < n; j++) {
            size_t i = didcl_es_rng_index(&st, n);
            if (nll_a) {
                sna += nll_a[i];
                sta += tok_a[i];
            }
            if (nll_b) {
                snb += nll_b[i];
                stb += tok_b[i];
            }
            if (xb)
                sx += xb[i] - (xa ? xa[i] : 0.0);
        }
        double la = sta > 0 ? sna / sta : 0.0;
        ra[r] = nll_b ? exp((stb > 0 ? snb / stb : 0.0) - la) : exp(la);
        rb[r] = sx / (double)n;
    }
    if (ppl) {
        ppl->lo = didcl_es_percentile(ra, (size_t)reps, 0.025);
        ppl->hi = didcl_es_percentile(ra, (size_t)reps, 0.975);
    }
    if (mean) {
        mean->lo = didcl_es_percentile(rb, (size_t)reps, 0.025);
        mean->hi = didcl_es_percentile(rb, (size_t)reps, 0.975);
    }
    free(ra);
    free(rb);
    return 0;
}

static double mean_diff(const double *xa, const double *xb, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += xb[i] - (xa ? xa[i] : 0.0);
    return n ? s / (double)n : NAN;
}

int didcl_es_gen_ppl_ci(const double *nll, const double *tok, size_t n, int reps,
                        uint64_t seed, didcl_es_interval *out) {
    out->value = didcl_es_gen_ppl(nll, tok, n);
    return bootstrap(nll, tok, NULL, NULL, NULL, NULL, n, reps, seed, out, NULL);
}

int didcl_es_mean_ci(const double *x, size_t n, int reps, uint64_t seed,
                     didcl_es_interval *out) {
    out->value = mean_diff(NULL, x, n);
    return bootstrap(NULL, NULL, NULL, NULL, NULL, x, n, reps, seed, NULL, out);
}

int didcl_es_paired_ci(const double *nll_a, const double *tok_a, const double *nll_b,
                       const double *tok_b, const double *xa, const double *xb, size_t n,
                       int reps, uint64_t seed, didcl_es_interval *ratio,
                       didcl_es_interval *diff) {
    ratio->value = didcl_es_gen_ppl(nll_b, tok_b, n) / didcl_es_gen_ppl(nll_a, tok_a, n);
    diff->value = mean_diff(xa, xb, n);
    return bootstrap(nll_a, tok_a, nll_b, tok_b, xa, xb, n, reps, seed, ratio, diff);
}

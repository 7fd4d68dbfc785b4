/*
 * evalstats.h — the statistics of `didcl eval` (Gen PPL protocol, docs/quality.md), in a
 * module of plain C with no device or library state, so tests/check_evalstats.c checks
 * every number against known values.
 *
 *   - Gen PPL of a set of samples: exp(sum of per-token NLLs / number of tokens) over all
 *     samples' scored tokens (BD3-LM's protocol), from per-sample sums (nll_i, tok_i).
 *   - Bootstrap over samples: `reps` resamples of the n samples with replacement, drawn
 *     from a fixed-seed splitmix64 stream (same seed, same interval); the interval is the
 *     2.5 and 97.5 percentiles of the replicates (linear interpolation between order
 *     statistics, as numpy's default). The paired version resamples the same indices in
 *     both configurations (samples i of A and B share a seed).
 *   - Unigram entropy of one sample: -sum_v q_v log q_v (nats), q the token frequencies.
 *   - distinct-k of one sample: distinct k-grams / k-grams (1 when it has none).
 */
#ifndef DIDCL_CLI_EVALSTATS_H
#define DIDCL_CLI_EVALSTATS_H

#include <stddef.h>
#include <stdint.h>

/* Unigram entropy (nats) of ids[0..n); 0 when n == 0. */
double didcl_es_entropy(const int32_t *ids, size_t n);

/* Fraction of distinct k-grams among the n - k + 1 k-grams of ids; 1 when n < k. */
double didcl_es_distinct(const int32_t *ids, size_t n, int k);

/* exp(sum nll / sum tok) over the samples; NAN when no tokens. */
double didcl_es_gen_ppl(const double *nll, const double *tok, size_t n);

/* Percentile q in [0, 1] of x[0..n) (sorted in place), linear interpolation. */
double didcl_es_percentile(double *x, size_t n, double q);

/* The splitmix64 stream of the bootstrap: next value, uniform index in [0, n). */
uint64_t didcl_es_rng_next(uint64_t *state);
size_t didcl_es_rng_index(uint64_t *state, size_t n);

typedef struct didcl_es_interval {
    double value; /* the statistic on the samples themselves */
    double lo, hi; /* 95% percentile bootstrap interval */
} didcl_es_interval;

/* Gen PPL with a bootstrap interval over samples. 0, or -1 when out of memory. */
int didcl_es_gen_ppl_ci(const double *nll, const double *tok, size_t n, int reps,
                        uint64_t seed, didcl_es_interval *out);

/* Mean of x[0..n) with a bootstrap interval. */
int didcl_es_mean_ci(const double *x, size_t n, int reps, uint64_t seed,
                     didcl_es_interval *out);

/* Paired: Gen PPL of B / Gen PPL of A (samples i paired), and mean(xb - xa) (e.g. the
 * entropy difference), each with a paired bootstrap interval (the same resampled indices
 * for both statistics). */
int didcl_es_paired_ci(const double *nll_a, const double *tok_a, const double *nll_b,
                       const double *tok_b, const double *xa, const double *xb, size_t n,
                       int reps, uint64_t seed, didcl_es_interval *ratio,
                       didcl_es_interval *diff);

#endif /* DIDCL_CLI_EVALSTATS_H */

/*
 * check_evalstats.c — the statistics of `didcl eval` (src/cli/evalstats.c) on inputs
 * whose answers are known in closed form: entropy, distinct-n, Gen PPL, percentiles, the
 * bootstrap's generator, intervals that must collapse (identical samples, a constant
 * paired shift) and the exact percentiles of a two-sample bootstrap.
 */
#include <math.h>
#include <stdlib.h>

#include "cli/evalstats.h"
#include "testutil.h"

#define TOL 1e-12

START_TEST(test_entropy) {
    ck_assert_double_eq_tol(didcl_es_entropy((const int32_t[]){1, 1, 2, 2}, 4), log(2.0), TOL);
    ck_assert_double_eq_tol(didcl_es_entropy((const int32_t[]){4, 3, 2, 1}, 4), log(4.0), TOL);
    ck_assert_double_eq_tol(didcl_es_entropy((const int32_t[]){5, 5, 5}, 3), 0.0, TOL);
    ck_assert_double_eq_tol(didcl_es_entropy((const int32_t[]){1, 2, 1, 1}, 4),
                            -(0.75 * log(0.75) + 0.25 * log(0.25)), TOL);
    ck_assert_double_eq_tol(didcl_es_entropy(NULL, 0), 0.0, TOL);
}
END_TEST

START_TEST(test_distinct) {
    const int32_t a[] = {1, 2, 1, 2};
    ck_assert_double_eq_tol(didcl_es_distinct(a, 4, 1), 0.5, TOL);
    ck_assert_double_eq_tol(didcl_es_distinct(a, 4, 2), 2.0 / 3.0, TOL);
    ck_assert_double_eq_tol(didcl_es_distinct(a, 4, 3), 1.0, TOL);
    ck_assert_double_eq_tol(didcl_es_distinct(a, 2, 3), 1.0, TOL); /* no 3-grams */
    const int32_t b[] = {7, 7, 7, 7, 7};
    ck_assert_double_eq_tol(didcl_es_distinct(b, 5, 1), 0.2, TOL);
    ck_assert_double_eq_tol(didcl_es_distinct(b, 5, 3), 1.0 / 3.0, TOL);
    const int32_t c[] = {1, 2, 3, 1, 2, 4};
    ck_assert_double_eq_tol(didcl_es_distinct(c, 6, 2), 4.0 / 5.0, TOL);
    ck_assert_double_eq_tol(didcl_es_distinct(c, 6, 3), 1.0, TOL);
}
END_TEST

START_TEST(test_gen_ppl_and_percentile) {
    /* ratio of sums, not mean of ratios: exp((2 + 4) / (1 + 3)) */
    ck_assert_double_eq_tol(didcl_es_gen_ppl((const double[]){2, 4}, (const double[]){1, 3}, 2),
                            exp(1.5), TOL);
    ck_assert(isnan(didcl_es_gen_ppl((const double[]){0}, (const double[]){0}, 1)));
    double x[] = {4, 1, 3, 2};
    ck_assert_double_eq_tol(didcl_es_percentile(x, 4, 0.5), 2.5, TOL);
    ck_assert_double_eq_tol(didcl_es_percentile(x, 4, 0.025), 1.075, TOL);
    ck_assert_double_eq_tol(didcl_es_percentile(x, 4, 0.975), 3.925, TOL);
    ck_assert_double_eq_tol(didcl_es_percentile(x, 4, 0.0), 1.0, TOL);
    ck_assert_double_eq_tol(didcl_es_percentile(x, 4, 1.0), 4.0, TOL);
    double one[] = {9};
    ck_assert_double_eq_tol(didcl_es_percentile(one, 1, 0.3), 9.0, TOL);
}
END_TEST

START_TEST(test_rng) {
    uint64_t s = 0; /* splitmix64's published first outputs from state 0 */
    ck_assert_uint_eq(didcl_es_rng_next(&s), 0xe220a8397b1dcdafull);
    ck_assert_uint_eq(didcl_es_rng_next(&s), 0x6e789e6aa1b965f4ull);
    uint64_t t = 42;
    size_t hist[3] = {0, 0, 0};
    for (int i = 0; i < 30000; i++)
        hist[didcl_es_rng_index(&t, 3)]++;
    for (int i = 0; i < 3; i++)
        ck_assert(hist[i] > 9500 && hist[i] < 10500);
}
END_TEST

START_TEST(test_bootstrap_known) {
    didcl_es_interval ci;
    /* identical samples: every replicate equals the value */
    const double nll[] = {2, 2, 2}, tok[] = {1, 1, 1};
    ck_assert_int_eq(didcl_es_gen_ppl_ci(nll, tok, 3, 500, 1, &ci), 0);
    ck_assert_double_eq_tol(ci.value, exp(2.0), TOL);
    ck_assert_double_eq_tol(ci.lo, exp(2.0), 1e-9);
    ck_assert_double_eq_tol(ci.hi, exp(2.0), 1e-9);
    /* two samples, NLL 0 and 1 per token: a replicate is 1 (p 1/4), e^0.5 (1/2) or e
     * (1/4), so the 2.5% and 97.5% percentiles are 1 and e */
    const double n2[] = {0, 1}, t2[] = {1, 1};
    ck_assert_int_eq(didcl_es_gen_ppl_ci(n2, t2, 2, 4000, 7, &ci), 0);
    ck_assert_double_eq_tol(ci.value, exp(0.5), TOL);
    ck_assert_double_eq_tol(ci.lo, 1.0, 1e-9);
    ck_assert_double_eq_tol(ci.hi, exp(1.0), 1e-9);
    /* a fixed seed gives the same interval; the interval holds the value */
    double a[50], t[50];
    for (int i = 0; i < 50; i++) {
        a[i] = 100.0 + 30.0 * sin(i * 1.7);
        t[i] = 30.0 + (i % 7);
    }
    didcl_es_interval c1, c2, c3;
    ck_assert_int_eq(didcl_es_gen_ppl_ci(a, t, 50, 1000, 5, &c1), 0);
    ck_assert_int_eq(didcl_es_gen_ppl_ci(a, t, 50, 1000, 5, &c2), 0);
    ck_assert_int_eq(didcl_es_gen_ppl_ci(a, t, 50, 1000, 6, &c3), 0);
    ck_assert(c1.lo == c2.lo && c1.hi == c2.hi);
    ck_assert(c1.lo != c3.lo || c1.hi != c3.hi);
    ck_assert(c1.lo < c1.value && c1.value < c1.hi);
    /* mean: identical values collapse, the interval holds the mean */
    const double m[] = {0.25, 0.25, 0.25, 0.25};
    ck_assert_int_eq(didcl_es_mean_ci(m, 4, 300, 3, &ci), 0);
    ck_assert_double_eq_tol(ci.value, 0.25, TOL);
    ck_assert_double_eq_tol(ci.lo, 0.25, TOL);
    ck_assert_double_eq_tol(ci.hi, 0.25, TOL);
    ck_assert_int_eq(didcl_es_mean_ci(t, 50, 1000, 3, &ci), 0);
    ck_assert(ci.lo < ci.value && ci.value < ci.hi);
    ck_assert_int_eq(didcl_es_mean_ci(t, 0, 1000, 3, &ci), -1);
}
END_TEST

START_TEST(test_paired) {
    /* B = A plus 0.1 nats on every token: the ratio is e^0.1 on every replicate, however
     * different the samples are; the entropy shift of 0.5 likewise */
    double na[40], ta[40], nb[40], ha[40], hb[40];
    for (int i = 0; i < 40; i++) {
        ta[i] = 20.0 + i;
        na[i] = ta[i] * (3.0 + 0.5 * cos(i));
        nb[i] = na[i] + 0.1 * ta[i];
        ha[i] = 4.0 + 0.1 * sin(i);
        hb[i] = ha[i] + 0.5;
    }
    didcl_es_interval r, d;
    ck_assert_int_eq(didcl_es_paired_ci(na, ta, nb, ta, ha, hb, 40, 1000, 9, &r, &d), 0);
    ck_assert_double_eq_tol(r.value, exp(0.1), 1e-12);
    ck_assert_double_eq_tol(r.lo, exp(0.1), 1e-12);
    ck_assert_double_eq_tol(r.hi, exp(0.1), 1e-12);
    ck_assert_double_eq_tol(d.value, 0.5, 1e-12);
    ck_assert_double_eq_tol(d.lo, 0.5, 1e-12);
    ck_assert_double_eq_tol(d.hi, 0.5, 1e-12);
    /* unpaired noise: the paired interval is a real interval around the ratio */
    for (int i = 0; i < 40; i++)
        nb[i] = na[i] * (1.0 + 0.05 * sin(3.0 * i));
    ck_assert_int_eq(didcl_es_paired_ci(na, ta, nb, ta, ha, hb, 40, 1000, 9, &r, &d), 0);
    ck_assert(r.lo < r.value && r.value < r.hi);
}
END_TEST

static Suite *evalstats_suite(void) {
    Suite *s = suite_create("evalstats");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_entropy);
    tcase_add_test(tc, test_distinct);
    tcase_add_test(tc, test_gen_ppl_and_percentile);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_bootstrap_known);
    tcase_add_test(tc, test_paired);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return testutil_run(evalstats_suite());
}

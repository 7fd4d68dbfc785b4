/*
 * check_sampling.c — softmax/nucleus/exponential race/statistics on hand-made rows:
 * the exact nucleus boundary (cumsum <= p, at least top-1), renormalisation, mask
 * exclusion, greedy ties, temperature, race frequencies, and the partial-selection
 * nucleus against a full sort on a GPT-2-sized vocabulary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampling.h"
#include "testutil.h"

static didcl_sampling smp;
static const didcl_philox_at rng0 = {1234, DIDCL_RNG_TOKEN, 0, 0, 1, 0};

static void setup_v(int32_t v) { ck_assert_int_eq(didcl_sampling_init(&smp, v), DIDCL_OK); }

static didcl_draw draw(const float *logits, int32_t mask, double t, double top_p) {
    didcl_draw d;
    ck_assert_int_eq(didcl_sampling_draw(&smp, logits, mask, t, top_p, &rng0, &d), DIDCL_OK);
    return d;
}

/* 8 tokens of logit 0 (p = 1/8 exactly, cumsums exact), mask id 8 with a huge logit. */
START_TEST(test_nucleus_boundary_exact) {
    setup_v(9);
    float l[9] = {0, 0, 0, 0, 0, 0, 0, 0, 50.0f};
    didcl_draw d = draw(l, 8, 1.0, 0.5); /* cumsum 0.5 at rank 3: kept (<=), 0.625 not */
    ck_assert_int_eq(smp.n_kept, 4);
    for (int j = 0; j < 4; j++) {
        ck_assert_int_eq(smp.order[j], j); /* ties: lower id first */
        ck_assert(smp.prob[j] == 0.25);
    }
    ck_assert(d.token >= 0 && d.token < 4);
    ck_assert(d.confidence == 0.25);
    ck_assert_double_eq_tol(d.entropy, log(4.0), 1e-12);
    ck_assert(d.margin == 0.0);
    draw(l, 8, 1.0, 0.49);
    ck_assert_int_eq(smp.n_kept, 3);
    d = draw(l, 8, 1.0, 0.1); /* below the top-1 mass: the top-1 alone */
    ck_assert_int_eq(smp.n_kept, 1);
    ck_assert_int_eq(d.token, 0);
    ck_assert(d.confidence == 1.0 && d.entropy == 0.0 && d.margin == 1.0);
    draw(l, 8, 1.0, 1.0); /* all eight, never the mask */
    ck_assert_int_eq(smp.n_kept, 8);
    didcl_sampling_free(&smp);
}
END_TEST

START_TEST(test_nucleus_renormalises) {
    setup_v(5);
    float l[5] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f), 0};
    didcl_draw d = draw(l, 4, 0.0, 0.85); /* cumsum 0.8 kept, 0.95 not */
    ck_assert_int_eq(smp.n_kept, 2);
    ck_assert_int_eq(smp.order[0], 0);
    ck_assert_int_eq(smp.order[1], 1);
    ck_assert_double_eq_tol(smp.prob[0], 0.625, 1e-6);
    ck_assert_double_eq_tol(smp.prob[1], 0.375, 1e-6);
    ck_assert_int_eq(d.token, 0); /* greedy */
    ck_assert_double_eq_tol(d.confidence, 0.625, 1e-6);
    ck_assert_double_eq_tol(d.margin, 0.25, 1e-6);
    ck_assert_double_eq_tol(d.entropy, -(0.625 * log(0.625) + 0.375 * log(0.375)), 1e-6);
    didcl_sampling_free(&smp);
}
END_TEST

START_TEST(test_greedy_ties_and_temperature) {
    setup_v(6);
    float l[6] = {0, 1, 0, 2, 0, 2}; /* ids 3 and 5 tie for the max */
    didcl_draw d = draw(l, -1, 0.0, 1.0);
    ck_assert_int_eq(d.token, 3);
    ck_assert_double_eq_tol(d.margin, 0.0, 1e-15);
    /* T = 0.5 squares the odds: p ~ exp(2 l) */
    float l2[3] = {0, logf(2.0f), 0};
    didcl_sampling_free(&smp);
    setup_v(3);
    draw(l2, 2, 0.5, 1.0);
    ck_assert_int_eq(smp.n_kept, 2);
    ck_assert_double_eq_tol(smp.prob[1], 0.8, 1e-6);
    ck_assert_double_eq_tol(smp.prob[0], 0.2, 1e-6);
    didcl_sampling_free(&smp);
}
END_TEST

START_TEST(test_bad_rows) {
    setup_v(4);
    didcl_draw d;
    float nan_row[4] = {0, 1, NAN, 0};
    ck_assert_int_eq(didcl_sampling_draw(&smp, nan_row, 3, 1.0, 0.9, &rng0, &d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("logit of token 2 is NaN");
    float inf_row[4] = {-INFINITY, -INFINITY, -INFINITY, 5};
    ck_assert_int_eq(didcl_sampling_draw(&smp, inf_row, 3, 1.0, 0.9, &rng0, &d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("no finite logit outside the mask token");
    didcl_sampling_free(&smp);
}
END_TEST

/* 40000 races on (0.5, 0.3, 0.15, 0.05), each at its own forward index. The seed is
 * fixed, so the counts are fixed numbers; the bounds (5 standard deviations) only say
 * they are what a correct race gives. A race on p instead of p/E, or reused uniforms,
 * fails them by far. */
START_TEST(test_race_frequencies) {
    setup_v(5);
    const double p[4] = {0.5, 0.3, 0.15, 0.05};
    float l[5] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f), 0};
    int counts[4] = {0};
    const int n = 40000;
    didcl_philox_at at = rng0;
    for (int i = 0; i < n; i++) {
        at.forward = (uint32_t)i;
        didcl_draw d;
        ck_assert_int_eq(didcl_sampling_draw(&smp, l, 4, 1.0, 1.0, &at, &d), DIDCL_OK);
        ck_assert(d.token >= 0 && d.token < 4);
        counts[d.token]++;
        ck_assert_double_eq_tol(d.confidence, p[d.token], 1e-6);
    }
    for (int k = 0; k < 4; k++) {
        double sd = sqrt(n * p[k] * (1 - p[k]));
        ck_assert_msg(fabs(counts[k] - n * p[k]) < 5 * sd, "token %d: %d of %d", k, counts[k],
                      n);
    }
    didcl_sampling_free(&smp);
}
END_TEST

/* The race picks argmax q / (-log(U + 1e-10) + 1e-10) with U at index = token id. */
START_TEST(test_race_is_the_formula) {
    setup_v(7);
    float l[7] = {0.1f, 0.5f, -0.3f, 0.2f, 0.0f, 0.4f, 9.0f};
    for (uint32_t f = 0; f < 50; f++) {
        didcl_philox_at at = rng0;
        at.forward = f;
        didcl_draw d;
        ck_assert_int_eq(didcl_sampling_draw(&smp, l, 6, 0.7, 1.0, &at, &d), DIDCL_OK);
        int best = -1;
        double best_r = -1, z = 0;
        for (int v = 0; v < 6; v++) /* same arithmetic as the sampler: max logit 0.5 */
            z += exp(((double)l[v] - 0.5) * (1.0 / 0.7));
        for (int v = 0; v < 6; v++) {
            double q = exp(((double)l[v] - 0.5) * (1.0 / 0.7)) / z;
            double r = q / (-log(didcl_philox_uniform(&at, (uint32_t)v) + 1e-10) + 1e-10);
            if (r > best_r) {
                best_r = r;
                best = v;
            }
        }
        ck_assert_int_eq(d.token, best);
    }
    didcl_sampling_free(&smp);
}
END_TEST

/* ---- full-sort reference on V = 50258 ---- */

typedef struct {
    double p;
    int32_t id;
} pid;

static int pid_cmp(const void *x, const void *y) {
    const pid *a = x, *b = y;
    if (a->p != b->p)
        return a->p > b->p ? -1 : 1;
    return a->id < b->id ? -1 : 1;
}

static uint64_t lcg_state;
static double lcg_normal(void) { /* sum of 4 uniforms, centred: enough for a test */
    double s = 0;
    for (int i = 0; i < 4; i++) {
        lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
        s += (double)(lcg_state >> 11) * 0x1.0p-53;
    }
    return (s - 2.0) * 1.7;
}

START_TEST(test_nucleus_matches_full_sort) {
    const int32_t V = 50258, mask = V - 1;
    setup_v(V);
    float *l = malloc(sizeof *l * V);
    pid *ref = malloc(sizeof *ref * V);
    const double scales[] = {0.5, 2.0, 6.0};
    const double tops[] = {0.9, 0.5, 0.99, 0.01};
    const double temps[] = {1.0, 0.7, 1.3};
    lcg_state = 99;
    for (int sc = 0; sc < 3; sc++) {
        for (int32_t v = 0; v < V; v++)
            l[v] = (float)(lcg_normal() * scales[sc]);
        l[mask] = 100.0f;
        for (int ti = 0; ti < 4; ti++) {
            double top_p = tops[ti], t = temps[(sc + ti) % 3];
            draw(l, mask, t, top_p);
            /* reference: full softmax and sort */
            double m = -INFINITY, z = 0;
            for (int32_t v = 0; v < V - 1; v++)
                m = fmax(m, l[v]);
            for (int32_t v = 0; v < V - 1; v++)
                z += exp(((double)l[v] - m) / t);
            for (int32_t v = 0; v < V - 1; v++)
                ref[v] = (pid){exp(((double)l[v] - m) / t) / z, v};
            qsort(ref, (size_t)(V - 1), sizeof *ref, pid_cmp);
            double cum = 0;
            int32_t kept = 0;
            while (kept < V - 1 && cum + ref[kept].p <= top_p)
                cum += ref[kept++].p;
            if (kept == 0)
                kept = 1;
            ck_assert_int_eq(smp.n_kept, kept);
            for (int32_t j = 0; j < kept; j++)
                ck_assert_int_eq(smp.order[j], ref[j].id);
        }
    }
    free(l);
    free(ref);
    didcl_sampling_free(&smp);
}
END_TEST

static Suite *sampling_suite(void) {
    Suite *s = suite_create("sampling");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_nucleus_boundary_exact);
    tcase_add_test(tc, test_nucleus_renormalises);
    tcase_add_test(tc, test_greedy_ties_and_temperature);
    tcase_add_test(tc, test_bad_rows);
    tcase_add_test(tc, test_race_frequencies);
    tcase_add_test(tc, test_race_is_the_formula);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, 60);
    tcase_add_test(lim, test_nucleus_matches_full_sort);
    suite_add_tcase(s, lim);
    return s;
}

int main(void) { return testutil_run(sampling_suite()); }

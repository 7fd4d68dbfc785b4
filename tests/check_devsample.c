/*
 * check_devsample.c — sampling on the device (cl/sample.cl, src/devsample.c) against the
 * host reference (src/sampling.c): for rows of many shapes (flat, peaked, heavy-tailed,
 * tie groups larger than the kernel's window, -inf entries), temperatures (greedy
 * included) and top-p, every row must give the host's token, and confidence, entropy
 * and margin within 1e-9. Many rows go in one launch with different Philox counters;
 * one launch also mixes requests of different seeds, temperatures and top-p (a lockstep
 * batch of several requests). Every failure prints didcl_last_error().
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devsample.h"
#include "error.h"
#include "runtime.h"
#include "sampling.h"
#include "testutil.h"

enum { MAXR = 64 };

static uint64_t rng_state;

static double uniform(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

static double normal(void) {
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

enum shape { FLAT, MEDIUM, PEAKED, TIES, CONSTANT, NEG_INF, ONE_HOT, SHAPES };

/* Row r of shape sh: logits (V,). */
static void fill_row(float *x, int V, enum shape sh) {
    for (int i = 0; i < V; i++) {
        switch (sh) {
        case FLAT: x[i] = (float)(0.05 * normal()); break;
        case MEDIUM: x[i] = (float)(2.5 * normal()); break;
        case PEAKED: x[i] = (float)normal(); break;
        case TIES: x[i] = (float)(int)(4.0 * uniform()); break; /* four big tie groups */
        case CONSTANT: x[i] = 1.25f; break;                    /* one group of V - 1 */
        case NEG_INF: x[i] = uniform() < 0.5 ? -INFINITY : (float)normal(); break;
        case ONE_HOT: x[i] = 0.0f; break;
        default: break;
        }
    }
    if (sh == PEAKED)
        for (int k = 0; k < 3; k++)
            x[(int)(uniform() * V)] = (float)(8.0 + 4.0 * uniform());
    if (sh == ONE_HOT)
        x[(int)(uniform() * V)] = 60.0f;
}

static didcl_runtime_t rt;

static void setup(void) {
    rt = testutil_runtime_or_skip();
    if (!rt->info.fp64) {
        didcl_runtime_free(rt);
        exit(77); /* no cl_khr_fp64: the device path is refused (tested below if present) */
    }
}

static void teardown(void) {
    didcl_runtime_free(rt);
}

/* The host's draw of request q from rows x (., V) against the device's got. */
static void check_draw(didcl_sampling *hs, const float *x, int V, int mask,
                       const didcl_sample_req *q, const didcl_draw *got, const char *what,
                       int i) {
    didcl_draw want;
    ck_assert_msg(didcl_sampling_draw(hs, x + (size_t)q->row * V, mask, q->temperature,
                                      q->top_p, &q->at, &want) == DIDCL_OK,
                  "%s", didcl_last_error());
    ck_assert_msg(got->token == want.token,
                  "%s T %g top-p %g request %d: token %d, host %d (kept %d)", what,
                  q->temperature, q->top_p, i, (int)got->token, (int)want.token,
                  (int)hs->n_kept);
    const double g[3] = {got->confidence, got->entropy, got->margin};
    const double w[3] = {want.confidence, want.entropy, want.margin};
    for (int k = 0; k < 3; k++)
        ck_assert_msg(fabs(g[k] - w[k]) <= 1e-9 * (1.0 + fabs(w[k])),
                      "%s T %g top-p %g request %d: stat %d = %.17g, host %.17g", what,
                      q->temperature, q->top_p, i, k, g[k], w[k]);
}

static cl_mem upload(const float *x, size_t n) {
    cl_int err;
    cl_mem buf = clCreateBuffer(rt->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                sizeof *x * n, (void *)x, &err);
    ck_assert_msg(err == CL_SUCCESS, "clCreateBuffer: %d", (int)err);
    return buf;
}

/* Sample R rows of one shape on both sides and compare. */
static void compare(int V, enum shape sh, int R, double temperature, double top_p, int mask) {
    didcl_devsample ds;
    didcl_sampling hs;
    ck_assert_msg(didcl_devsample_init(&ds, rt, V, mask, MAXR) == DIDCL_OK, "%s",
                  didcl_last_error());
    ck_assert_msg(didcl_sampling_init(&hs, V) == DIDCL_OK, "%s", didcl_last_error());
    float *x = malloc(sizeof *x * (size_t)R * V);
    ck_assert_ptr_nonnull(x);
    for (int r = 0; r < R; r++)
        fill_row(x + (size_t)r * V, V, sh);
    cl_mem buf = upload(x, (size_t)R * V);
    didcl_sample_req req[MAXR];
    didcl_draw got[MAXR];
    for (int i = 0; i < R; i++) /* requests need not follow the rows */
        req[i] = (didcl_sample_req){R - 1 - i,
                                    {0x1234567890abcdefull + (uint64_t)sh, DIDCL_RNG_TOKEN,
                                     (uint32_t)(i % 3), (uint32_t)i, 1, (uint32_t)(i / 7)},
                                    temperature, top_p};
    ck_assert_msg(didcl_devsample_draw(&ds, buf, R, R, req, got) == DIDCL_OK, "%s",
                  didcl_last_error());
    char what[64];
    snprintf(what, sizeof what, "V %d shape %d", V, (int)sh);
    for (int i = 0; i < R; i++)
        check_draw(&hs, x, V, mask, &req[i], &got[i], what, i);
    clReleaseMemObject(buf);
    free(x);
    didcl_sampling_free(&hs);
    didcl_devsample_free(&ds);
}

static const double temps[] = {0.0, 0.7, 1.0, 1.6};
static const double tops[] = {0.5, 0.9, 0.95, 1.0};

/* Every shape, temperature and top-p at one vocabulary size. */
static void sweep(int V, int R) {
    for (int sh = 0; sh < SHAPES; sh++)
        for (size_t t = 0; t < sizeof temps / sizeof temps[0]; t++)
            for (size_t p = 0; p < sizeof tops / sizeof tops[0]; p++) {
                rng_state = 1000u * (unsigned)sh + 10u * (unsigned)t + (unsigned)p + (unsigned)V;
                compare(V, (enum shape)sh, R, temps[t], tops[p], V - 1);
            }
}

START_TEST(test_small_vocabulary) {
    sweep(64, 32); /* the window holds the whole row: no search pass */
}
END_TEST

START_TEST(test_model_vocabulary) {
    sweep(8192, 12); /* the default model's V: search passes, tie groups > the window */
}
END_TEST

START_TEST(test_odd_vocabulary_no_mask) {
    rng_state = 7;
    compare(5003, MEDIUM, MAXR, 1.0, 0.9, -1);
    rng_state = 8;
    compare(5003, FLAT, MAXR, 0.0, 0.95, -1);
}
END_TEST

/* One launch, requests of different seeds, temperatures and top-p (greedy among them)
 * over rows of different shapes: each as the host draws it alone. */
START_TEST(test_mixed_requests) {
    enum { V = 5003, R = 48 };
    float *x = malloc(sizeof *x * (size_t)R * V);
    ck_assert_ptr_nonnull(x);
    rng_state = 99;
    for (int r = 0; r < R; r++)
        fill_row(x + (size_t)r * V, V, (enum shape)(r % SHAPES));
    cl_mem buf = upload(x, (size_t)R * V);
    didcl_devsample ds;
    didcl_sampling hs;
    ck_assert_msg(didcl_devsample_init(&ds, rt, V, V - 1, R) == DIDCL_OK, "%s",
                  didcl_last_error());
    ck_assert_msg(didcl_sampling_init(&hs, V) == DIDCL_OK, "%s", didcl_last_error());
    didcl_sample_req req[R];
    didcl_draw got[R];
    for (int i = 0; i < R; i++)
        req[i] = (didcl_sample_req){(i * 5) % R,
                                    {1000u + (uint64_t)(i % 5), DIDCL_RNG_TOKEN, (uint32_t)i,
                                     (uint32_t)(3 * i), 1 + (uint32_t)(i % 2), 7},
                                    temps[i % 4], tops[(i / 4) % 4]};
    ck_assert_msg(didcl_devsample_draw(&ds, buf, R, R, req, got) == DIDCL_OK, "%s",
                  didcl_last_error());
    for (int i = 0; i < R; i++)
        check_draw(&hs, x, V, V - 1, &req[i], &got[i], "mixed", i);
    ck_assert_msg(ds.wg == 128, "work-group %zu, not 128: this device's float64 sums group "
                  "differently from other devices' (init logged why)", ds.wg);
    didcl_sampling_free(&hs);
    didcl_devsample_free(&ds);
    clReleaseMemObject(buf);
    free(x);
}
END_TEST

/* Rows that cannot be drawn come back as the host's failures; the others are drawn. */
START_TEST(test_bad_rows_fail) {
    enum { V = 300 };
    float x[3 * V];
    for (int i = 0; i < 3 * V; i++)
        x[i] = (float)(i % 17);
    x[V + 5] = NAN;
    for (int i = 2 * V; i < 3 * V; i++)
        x[i] = -INFINITY;
    x[2 * V + 3] = 5.0f; /* only the excluded id is finite */
    cl_mem buf = upload(x, 3 * V);
    didcl_devsample ds;
    ck_assert_msg(didcl_devsample_init(&ds, rt, V, 3, 4) == DIDCL_OK, "%s", didcl_last_error());
    didcl_sample_req req[5];
    for (int i = 0; i < 5; i++)
        req[i] = (didcl_sample_req){i % 3, {1, DIDCL_RNG_TOKEN, 0, (uint32_t)i, 1, 0}, 1.0, 0.9};
    didcl_draw d[5];
    ck_assert_msg(didcl_devsample_draw(&ds, buf, 3, 3, req, d) == DIDCL_OK, "%s",
                  didcl_last_error());
    ck_assert_int_ge(d[0].token, 0);
    ck_assert_int_eq(didcl_sampling_check(&d[0]), DIDCL_OK);
    ck_assert_int_eq(d[1].token, DIDCL_DRAW_NAN);
    ck_assert_int_eq(didcl_sampling_check(&d[1]), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("NaN");
    ck_assert_int_eq(d[2].token, DIDCL_DRAW_NO_FINITE);
    ck_assert_int_eq(didcl_sampling_check(&d[2]), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("no finite logit");
    ck_assert_int_eq(didcl_devsample_draw(&ds, buf, 3, 5, req, d), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("expected 1 to 4"); /* more requests than init allowed */
    ck_assert_int_eq(didcl_devsample_draw(&ds, buf, 2, 3, req, d), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("reads row 2"); /* a row past the valid ones */
    didcl_devsample_free(&ds);
    didcl_devsample_free(&ds); /* twice: nothing left to free */
    ck_assert_int_eq(didcl_devsample_init(&ds, rt, V, V, 4), DIDCL_ERR_INVALID_ARG);
    clReleaseMemObject(buf);
}
END_TEST

static Suite *devsample_suite(void) {
    Suite *s = suite_create("devsample");
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {{"small", test_small_vocabulary},
                 {"model", test_model_vocabulary},
                 {"odd", test_odd_vocabulary_no_mask},
                 {"mixed", test_mixed_requests},
                 {"limits", test_bad_rows_fail}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 4 * DIDCL_CL_TIMEOUT);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) {
    testutil_skip_without_device();
    return testutil_run(devsample_suite());
}

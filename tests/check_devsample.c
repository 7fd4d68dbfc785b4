/*
 * check_devsample.c — sampling on the device (cl/sample.cl, src/devsample.c) against the
 * host reference (src/sampling.c): for rows of many shapes (flat, peaked, heavy-tailed,
 * tie groups larger than the kernel's window, -inf entries), temperatures (greedy
 * included) and top-p, every row must give the host's token, and confidence, entropy
 * and margin within 1e-9. Many rows go in one launch with different Philox counters.
 */
#include <math.h>
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

/* Sample R rows of one shape on both sides and compare. */
static void compare(int V, enum shape sh, int R, double temperature, double top_p, int mask) {
    didcl_devsample ds;
    didcl_sampling hs;
    ck_assert_int_eq(didcl_devsample_init(&ds, rt, V, MAXR), DIDCL_OK);
    ck_assert_int_eq(didcl_sampling_init(&hs, V), DIDCL_OK);
    float *x = malloc(sizeof *x * (size_t)R * V);
    ck_assert_ptr_nonnull(x);
    for (int r = 0; r < R; r++)
        fill_row(x + (size_t)r * V, V, sh);
    cl_int err;
    cl_mem buf = clCreateBuffer(rt->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                sizeof *x * (size_t)R * V, x, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    int32_t rows[MAXR];
    didcl_philox_at at[MAXR];
    didcl_draw got[MAXR];
    for (int i = 0; i < R; i++) {
        rows[i] = R - 1 - i; /* requests need not follow the rows */
        at[i] = (didcl_philox_at){0x1234567890abcdefull + (uint64_t)sh, DIDCL_RNG_TOKEN,
                                  (uint32_t)(i % 3), (uint32_t)i, 1, (uint32_t)(i / 7)};
    }
    ck_assert_msg(didcl_devsample_draw(&ds, buf, R, rows, at, mask, temperature, top_p, got) ==
                      DIDCL_OK, "%s", didcl_last_error());
    for (int i = 0; i < R; i++) {
        didcl_draw want;
        ck_assert_int_eq(didcl_sampling_draw(&hs, x + (size_t)rows[i] * V, mask, temperature,
                                             top_p, &at[i], &want), DIDCL_OK);
        ck_assert_msg(got[i].token == want.token,
                      "V %d shape %d T %g top-p %g request %d: token %d, host %d (kept %d)", V,
                      (int)sh, temperature, top_p, i, (int)got[i].token, (int)want.token,
                      (int)hs.n_kept);
        const double g[3] = {got[i].confidence, got[i].entropy, got[i].margin};
        const double w[3] = {want.confidence, want.entropy, want.margin};
        for (int k = 0; k < 3; k++)
            ck_assert_msg(fabs(g[k] - w[k]) <= 1e-9 * (1.0 + fabs(w[k])),
                          "V %d shape %d T %g top-p %g request %d: stat %d = %.17g, host %.17g",
                          V, (int)sh, temperature, top_p, i, k, g[k], w[k]);
    }
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

START_TEST(test_bad_rows_fail) {
    enum { V = 300 };
    float x[2 * V];
    for (int i = 0; i < 2 * V; i++)
        x[i] = (float)(i % 17);
    x[V + 5] = NAN;
    cl_int err;
    cl_mem buf = clCreateBuffer(rt->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof x,
                                x, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    didcl_devsample ds;
    ck_assert_int_eq(didcl_devsample_init(&ds, rt, V, 4), DIDCL_OK);
    didcl_philox_at at[2] = {{1, DIDCL_RNG_TOKEN, 0, 0, 1, 0}, {1, DIDCL_RNG_TOKEN, 0, 1, 1, 0}};
    int32_t rows[2] = {0, 1};
    didcl_draw d[2];
    ck_assert_int_eq(didcl_devsample_draw(&ds, buf, 2, rows, at, -1, 1.0, 0.9, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("NaN");
    for (int i = 0; i < V; i++)
        x[i] = -INFINITY;
    x[3] = 5.0f; /* only the excluded id is finite */
    ck_assert_int_eq(clEnqueueWriteBuffer(rt->queue, buf, CL_TRUE, 0, sizeof x, x, 0, NULL, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(didcl_devsample_draw(&ds, buf, 1, rows, at, 3, 1.0, 0.9, d),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("no finite logit");
    ck_assert_int_eq(didcl_devsample_draw(&ds, buf, 5, rows, at, 3, 1.0, 0.9, d),
                     DIDCL_ERR_INVALID_ARG); /* more rows than init allowed */
    didcl_devsample_free(&ds);
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

/*
 * check_philox.c — Philox4x32-10 against Random123's published known-answer vectors
 * (tests/kat_vectors, the three "philox4x32 10" lines), the counter layout and the
 * 53-bit uniform conversion, and order independence of the draws.
 */
#include <math.h>
#include <string.h>

#include "philox.h"
#include "testutil.h"

static void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    const uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1};
    uint32_t out[4];
    didcl_philox4x32_10(ctr, key, out);
    ck_assert_uint_eq(out[0], e0);
    ck_assert_uint_eq(out[1], e1);
    ck_assert_uint_eq(out[2], e2);
    ck_assert_uint_eq(out[3], e3);
}

START_TEST(test_kat_vectors) {
    kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
        0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
        0x94fdcceb, 0x5001e420, 0x24126ea1);
}
END_TEST

/* The uniform of an all-zero place is the first KAT block, words 0 and 1; the all-ones
 * place (every field at its widest) is the second. Pins layout and conversion. */
START_TEST(test_uniform_layout) {
    didcl_philox_at zero = {0, 0, 0, 0, 0, 0};
    double want = (double)(((uint64_t)0x6627e8d5 << 21) + (0xe169c58du >> 11)) * 0x1.0p-53;
    ck_assert(didcl_philox_uniform(&zero, 0) == want);
    didcl_philox_at ones = {UINT64_MAX, 0xff, 0xffffff, 0xffffffff, 0xff, 0xffffff};
    want = (double)(((uint64_t)0x408f276d << 21) + (0x41c83b0eu >> 11)) * 0x1.0p-53;
    ck_assert(didcl_philox_uniform(&ones, 0xffffffff) == want);
    /* seed low word is key[0]: the third KAT */
    didcl_philox_at pi = {((uint64_t)0x299f31d0 << 32) | 0xa4093822, 0x24, 0x3f6a88,
                          0x85a308d3, 0x13, 0x198a2e};
    want = (double)(((uint64_t)0xd16cfe09 << 21) + (0x94fdccebu >> 11)) * 0x1.0p-53;
    ck_assert(didcl_philox_uniform(&pi, 0x03707344) == want);
}
END_TEST

/* Every field changes the draw; the same place gives the same draw in any order. */
START_TEST(test_uniform_fields_and_order) {
    didcl_philox_at base = {42, DIDCL_RNG_TOKEN, 3, 17, 1, 5};
    double u0 = didcl_philox_uniform(&base, 9);
    didcl_philox_at v[6];
    for (int i = 0; i < 6; i++)
        v[i] = base;
    v[0].seed ^= 1ull << 40;
    v[1].purpose = DIDCL_RNG_POSITION;
    v[2].sample = 4;
    v[3].position = 18;
    v[4].stage = 2;
    v[5].forward = 6;
    for (int i = 0; i < 6; i++)
        ck_assert_msg(didcl_philox_uniform(&v[i], 9) != u0, "field %d ignored", i);
    ck_assert(didcl_philox_uniform(&base, 10) != u0);
    double fwd[100], bwd[100];
    for (int i = 0; i < 100; i++)
        fwd[i] = didcl_philox_uniform(&base, (uint32_t)i);
    for (int i = 99; i >= 0; i--)
        bwd[i] = didcl_philox_uniform(&base, (uint32_t)i);
    ck_assert(memcmp(fwd, bwd, sizeof fwd) == 0);
}
END_TEST

/* 2^16 draws: in [0, 1), mean and variance of a uniform (fixed seed, so deterministic;
 * the bounds are 6 standard errors wide). */
START_TEST(test_uniform_moments) {
    didcl_philox_at at = {7, DIDCL_RNG_TOKEN, 0, 0, 1, 0};
    const int n = 1 << 16;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        double u = didcl_philox_uniform(&at, (uint32_t)i);
        ck_assert(u >= 0.0 && u < 1.0);
        sum += u;
        sq += u * u;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    ck_assert_msg(fabs(mean - 0.5) < 6 * sqrt(1.0 / 12 / n), "mean %g", mean);
    ck_assert_msg(fabs(var - 1.0 / 12) < 0.002, "variance %g", var);
}
END_TEST

static Suite *philox_suite(void) {
    Suite *s = suite_create("philox");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_kat_vectors);
    tcase_add_test(tc, test_uniform_layout);
    tcase_add_test(tc, test_uniform_fields_and_order);
    tcase_add_test(tc, test_uniform_moments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return testutil_run(philox_suite()); }

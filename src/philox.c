/*
 * philox.c — Philox4x32-10 and the sampler's uniform doubles (see philox.h).
 */
#include "philox.h"

/* Multipliers and Weyl key increments of Philox4x32 (from the SC11 paper). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void didcl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0; /* the key bump after the last round is never used */
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

double didcl_philox_uniform(const didcl_philox_at *at, uint32_t index) {
    uint32_t ctr[4] = {(at->purpose << 24) | (at->sample & 0xFFFFFFu), at->position,
                       (at->stage << 24) | (at->forward & 0xFFFFFFu), index};
    uint32_t key[2] = {(uint32_t)at->seed, (uint32_t)(at->seed >> 32)};
    uint32_t r[4];
    didcl_philox4x32_10(ctr, key, r);
    uint64_t bits = ((uint64_t)r[0] << 21) + (r[1] >> 11); /* 53 bits */
    return (double)bits * 0x1.0p-53;
}

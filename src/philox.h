/*
 * philox.h — Philox4x32-10 counter-based random numbers (Salmon et al., SC11).
 *
 * A counter-based generator has no state to advance: every draw is a pure function of
 * (key, counter). The sampler derives each counter from what the draw is for (sample,
 * position, stage, forward pass, token id), so the same seed gives the same tokens
 * whatever order samples, positions or devices are processed in, and an OpenCL kernel
 * can compute the identical draw with 32-bit integer arithmetic only.
 */
#ifndef DIDCL_PHILOX_H
#define DIDCL_PHILOX_H

#include <stdint.h>

/* The raw block function: out = Philox4x32-10(ctr, key). */
void didcl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* What a draw is for; goes into the top byte of counter word 0 so draws of different
 * purposes never share a counter. */
enum didcl_philox_purpose {
    DIDCL_RNG_TOKEN = 1,    /* exponential race over the vocabulary; index = token id */
    DIDCL_RNG_POSITION = 2, /* first-hitting choice of the position to commit */
    DIDCL_RNG_PLUGIN = 3,   /* uniforms handed to remask plugins; index = draw number */
};

/* Where a draw lives. Counter layout (each a 32-bit word):
 *   ctr[0] = purpose << 24 | sample      (sample < 2^24)
 *   ctr[1] = position                    (sequence position, or 0 when none applies)
 *   ctr[2] = stage << 24 | forward       (forward-pass index inside the stage, < 2^24)
 *   ctr[3] = index                       (token id, or a draw number)
 * key = the 64-bit seed, low word first. */
typedef struct didcl_philox_at {
    uint64_t seed;
    uint32_t purpose;
    uint32_t sample;
    uint32_t position;
    uint32_t stage;
    uint32_t forward;
} didcl_philox_at;

/* Uniform double in [0, 1) with 53 random bits: words 0 and 1 of the block at
 * (at, index), taken as (w0 << 21) + (w1 >> 11), times 2^-53. */
double didcl_philox_uniform(const didcl_philox_at *at, uint32_t index);

#endif /* DIDCL_PHILOX_H */

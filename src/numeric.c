/*
 * numeric.c — host-side number conversions of the library (see numeric.h).
 */
#include <math.h>
#include <string.h>

#include "numeric.h"

uint16_t didcl_numeric_half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const int exp = (int)((x >> 23) & 0xffu);
    const uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) /* inf, or NaN kept quiet */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));
    const int e = exp - 127 + 15; /* half exponent field */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* half subnormal (or zero): m * 2^-24 */
        if (e < -10)
            return (uint16_t)sign;
        const uint32_t full = man | 0x800000u;
        const int shift = 14 - e;
        uint32_t m = full >> shift;
        const uint32_t rem = full & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (m & 1u)))
            m++; /* may carry into the smallest normal, which is the right encoding */
        return (uint16_t)(sign | m);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13);
    const uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry runs into the exponent, up to inf: still correct */
    return (uint16_t)h;
}

float didcl_numeric_float_from_half(uint16_t h) {
    const uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    const uint32_t e = ((uint32_t)h >> 10) & 0x1fu, m = (uint32_t)h & 0x3ffu;
    if (e == 0) {
        const float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    const uint32_t bits = e == 31 ? sign | 0x7f800000u | (m << 13)
                                  : sign | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void didcl_numeric_rope_inv_freq(float *inv_freq, int head_dim, float base) {
    for (int j = 0; j < head_dim / 2; j++)
        inv_freq[j] = 1.0f / powf(base, (float)(2 * j) / (float)head_dim);
}

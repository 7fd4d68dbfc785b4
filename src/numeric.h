/*
 * numeric.h — the few host-side number conversions the shipped library needs: half
 * rounding for fp16 weights and the RoPE frequency table, used by the model and by the
 * op reference (ops_ref.h) alike.
 */
#ifndef DIDCL_NUMERIC_H
#define DIDCL_NUMERIC_H

#include <stdint.h>

/* IEEE 754 binary16 conversion: round to nearest even (overflow to inf, NaN kept), and
 * back exactly. What DIDCL_WTYPE_F16 buffers hold. */
uint16_t didcl_numeric_half_from_float(float f);
float didcl_numeric_float_from_half(uint16_t h);

/* inv_freq[j] = 1 / base^(2j / head_dim), j < head_dim/2, in float as PyTorch computes
 * it (the RoPE kernel reads this table; it does not recompute it). */
void didcl_numeric_rope_inv_freq(float *inv_freq, int head_dim, float base);

#endif /* DIDCL_NUMERIC_H */

/*
 * safetensors.h — internal side of the safetensors reader (safetensors.c). The public
 * API (didcl_weights_*, didcl_tensor_to_f32) is in didcl.h; this adds the scalar
 * converters the engine and tests share.
 */
#ifndef DIDCL_SAFETENSORS_H
#define DIDCL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "didcl.h"

/* Largest header accepted, the same limit as the reference reader. */
#define DIDCL_SAFETENSORS_MAX_HEADER 100000000ull

/* Exact widening of one IEEE binary16 / bfloat16 value given as raw bits. */
float didcl_f16_to_f32(uint16_t bits);
float didcl_bf16_to_f32(uint16_t bits);

/* A shape as "[2304, 768]" ("[]" for a scalar), written into buf; returns buf. */
const char *didcl_shape_str(const uint64_t *shape, uint32_t ndim, char *buf, size_t size);

#endif /* DIDCL_SAFETENSORS_H */

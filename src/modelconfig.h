/*
 * modelconfig.h — internal side of config.json reading (modelconfig.c): the list of
 * tensors each architecture stores, with the shapes a config implies. The public
 * didcl_model_config and its loader are in didcl.h.
 */
#ifndef DIDCL_MODELCONFIG_H
#define DIDCL_MODELCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "didcl.h"

enum didcl_tensor_role {
    DIDCL_TENSOR_REQUIRED = 0, /* a parameter the forward pass needs */
    DIDCL_TENSOR_OPTIONAL = 1, /* a parameter that may be absent (GPT-2 lm_head: tied) */
    DIDCL_TENSOR_BUFFER = 2,   /* optional, not a parameter (inv_freq, eps scalars) */
};

typedef struct didcl_tensor_spec {
    char name[96];
    enum didcl_tensor_role role;
    uint32_t ndim;
    uint64_t shape[2];
} didcl_tensor_spec;

/* The tensors of cfg's architecture, every name prefixed with prefix (GPT-2
 * "transformer."; lm_head.weight never is). Writes up to cap entries to out (which may
 * be NULL) and returns the total count. */
size_t didcl_model_tensor_specs(const didcl_model_config *cfg, const char *prefix,
                                didcl_tensor_spec *out, size_t cap);

/* Whether name (after any prefix) is a GPT-2 buffer that loaders ignore
 * (h.N.attn.bias, h.N.attn.masked_bias). */
int didcl_model_ignored_tensor(const didcl_model_config *cfg, const char *name);

#endif /* DIDCL_MODELCONFIG_H */

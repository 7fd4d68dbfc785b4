/*
 * modelfiles.c — a checkpoint directory on the host: config.json (modelconfig.c) plus
 * its safetensors weights (safetensors.c), checked against each other. Every tensor the
 * architecture needs must be present with the shape the config implies; tensors it does
 * not use are reported through didcl_log and otherwise ignored. Nothing here touches a
 * device: the engine builds its device model from the description this returns.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "modelconfig.h"
#include "safetensors.h"

/* Unused tensors beyond this many are summarised in one line. */
#define MAX_UNUSED_WARNINGS 8

struct didcl_model_files {
    char *dir;
    didcl_model_config cfg;
    didcl_weights_t weights;
    const char *prefix; /* GPT-2: "" or "transformer." */
    uint64_t n_params;
};

/* A scalar buffer (numel 1) as a double. */
static didcl_status read_scalar(const didcl_tensor_info *t, double *out) {
    float v;
    if (t->numel != 1)
        return didcl_fail(DIDCL_ERR_SHAPE, "%s: tensor '%s' has %llu elements, expected a scalar",
                          t->file, t->name, (unsigned long long)t->numel);
    DIDCL_TRY(didcl_tensor_to_f32(t, &v));
    *out = v;
    return DIDCL_OK;
}

/* Match the weights against the config's tensor list; sets n_params and eps. */
static didcl_status validate(struct didcl_model_files *m, const char *config_path) {
    didcl_model_config *c = &m->cfg;
    size_t nt = didcl_weights_count(m->weights);
    m->prefix = c->arch == DIDCL_ARCH_GPT2 && !didcl_weights_find(m->weights, "wte.weight") &&
                        didcl_weights_find(m->weights, "transformer.wte.weight")
                    ? "transformer."
                    : "";
    /* a config far larger than its weights fails here, naming its size keys, rather than
     * at the first of thousands of missing tensors */
    uint64_t bytes = 0, need = 2 * didcl_model_config_param_count(c); /* F16/BF16: 2 bytes */
    for (size_t i = 0; i < nt; i++)
        bytes += didcl_weights_at(m->weights, i)->nbytes;
    const int bd3 = c->arch == DIDCL_ARCH_BD3LM;
    if (need > bytes)
        return didcl_fail(DIDCL_ERR_SHAPE, "%s: %s %u, %s %u, vocab_size %u imply %llu "
                          "parameters, more than the %llu bytes of %s can hold", config_path,
                          bd3 ? "n_blocks" : "n_layer", c->n_layers, bd3 ? "hidden_dim" : "n_embd",
                          c->hidden, c->vocab_size, (unsigned long long)need / 2,
                          (unsigned long long)bytes, didcl_weights_source(m->weights));
    size_t n = didcl_model_tensor_specs(c, m->prefix, NULL, 0);
    didcl_tensor_spec *specs = malloc(n * sizeof *specs);
    unsigned char *used = calloc(nt ? nt : 1, 1);
    didcl_status rc = DIDCL_OK;
    if (!specs || !used)
        rc = didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", m->dir);
    else
        didcl_model_tensor_specs(c, m->prefix, specs, n);
    const didcl_tensor_info *base = didcl_weights_at(m->weights, 0);
    for (size_t i = 0; rc == DIDCL_OK && i < n; i++) {
        const didcl_tensor_spec *s = &specs[i];
        const didcl_tensor_info *t = didcl_weights_find(m->weights, s->name);
        if (!t) {
            if (s->role == DIDCL_TENSOR_REQUIRED)
                rc = didcl_fail(DIDCL_ERR_NOT_FOUND, "%s: tensor '%s' is missing (required by %s)",
                                didcl_weights_source(m->weights), s->name, config_path);
            continue;
        }
        used[t - base] = 1;
        int same = t->ndim == s->ndim;
        for (uint32_t d = 0; same && d < s->ndim; d++)
            same = t->shape[d] == s->shape[d];
        /* scalar buffers may also be stored as [1] */
        if (s->ndim == 0 && t->numel == 1)
            same = 1;
        if (!same) {
            char got[160], want[64];
            rc = didcl_fail(DIDCL_ERR_SHAPE, "%s: tensor '%s' has shape %s, config.json implies %s",
                            t->file, t->name, didcl_shape_str(t->shape, t->ndim, got, sizeof got),
                            didcl_shape_str(s->shape, s->ndim, want, sizeof want));
        } else if (s->role != DIDCL_TENSOR_BUFFER)
            m->n_params += t->numel;
    }
    if (rc == DIDCL_OK && c->arch == DIDCL_ARCH_BD3LM) {
        /* the learned noise clip travels with the weights and overrides config.json */
        const didcl_tensor_info *lo = didcl_weights_find(m->weights, "sampling_eps_min"),
                                *hi = didcl_weights_find(m->weights, "sampling_eps_max");
        if (lo && (rc = read_scalar(lo, &c->sampling_eps_min)) == DIDCL_OK)
            c->eps_from_checkpoint = 1;
        if (rc == DIDCL_OK && hi && (rc = read_scalar(hi, &c->sampling_eps_max)) == DIDCL_OK)
            c->eps_from_checkpoint = 1;
        /* the same ranges config.json's keys get: a NaN or Inf clip breaks every sampler */
        const didcl_tensor_info *bad = !(c->sampling_eps_min >= 0.0 && c->sampling_eps_min <= 1.0)
                                           ? lo
                                       : !(c->sampling_eps_max >= 0.0 && c->sampling_eps_max <= 1.0)
                                           ? hi
                                           : NULL;
        if (rc == DIDCL_OK && bad)
            rc = didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s' is %g, expected 0..1", bad->file,
                            bad->name, bad == lo ? c->sampling_eps_min : c->sampling_eps_max);
        else if (rc == DIDCL_OK && c->sampling_eps_min > c->sampling_eps_max)
            rc = didcl_fail(DIDCL_ERR_FORMAT, "%s: sampling_eps_min %g exceeds sampling_eps_max %g "
                            "(tensors of the checkpoint override config.json)",
                            didcl_weights_source(m->weights), c->sampling_eps_min,
                            c->sampling_eps_max);
    }
    size_t unused = 0;
    for (size_t i = 0; rc == DIDCL_OK && i < nt; i++) {
        const didcl_tensor_info *t = didcl_weights_at(m->weights, i);
        size_t plen = strlen(m->prefix);
        const char *rel = strncmp(t->name, m->prefix, plen) ? t->name : t->name + plen;
        if (used[i] || didcl_model_ignored_tensor(c, rel))
            continue;
        if (++unused <= MAX_UNUSED_WARNINGS)
            didcl_log(DIDCL_LOG_WARN, "%s: tensor '%s' is not used by the %s architecture; "
                      "ignoring it", t->file, t->name, didcl_arch_str(c->arch));
    }
    if (unused > MAX_UNUSED_WARNINGS)
        didcl_log(DIDCL_LOG_WARN, "%s: %zu more unused tensors ignored",
                  didcl_weights_source(m->weights), unused - MAX_UNUSED_WARNINGS);
    free(specs);
    free(used);
    return rc;
}

didcl_status didcl_model_files_open(const char *dir, didcl_model_files_t *out) {
    if (!dir || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_model_files_open: NULL directory or output");
    struct stat st;
    if (stat(dir, &st) != 0)
        return didcl_fail(errno == ENOENT ? DIDCL_ERR_NOT_FOUND : DIDCL_ERR_IO, "%s: %s", dir,
                          strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "%s: not a directory, expected a model directory "
                          "with config.json and model.safetensors", dir);
    struct didcl_model_files *m = calloc(1, sizeof *m);
    size_t len = strlen(dir) + sizeof "/config.json";
    char *config_path = malloc(len);
    if (!m || !config_path || !(m->dir = strdup(dir))) {
        free(config_path);
        didcl_model_files_free(m);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", dir);
    }
    snprintf(config_path, len, "%s/config.json", dir);
    didcl_status rc = didcl_model_config_load(config_path, &m->cfg);
    if (rc == DIDCL_OK)
        rc = didcl_weights_open(dir, &m->weights);
    if (rc == DIDCL_OK)
        rc = validate(m, config_path);
    free(config_path);
    if (rc != DIDCL_OK) {
        didcl_model_files_free(m);
        return rc;
    }
    *out = m;
    return DIDCL_OK;
}

void didcl_model_files_free(didcl_model_files_t m) {
    if (!m)
        return;
    didcl_weights_free(m->weights);
    free(m->dir);
    free(m);
}

const char *didcl_model_files_dir(didcl_model_files_t m) { return m ? m->dir : ""; }
const didcl_model_config *didcl_model_files_config(didcl_model_files_t m) {
    return m ? &m->cfg : NULL;
}
didcl_weights_t didcl_model_files_weights(didcl_model_files_t m) { return m ? m->weights : NULL; }
uint64_t didcl_model_files_param_count(didcl_model_files_t m) { return m ? m->n_params : 0; }

const didcl_tensor_info *didcl_model_files_tensor(didcl_model_files_t m, const char *name) {
    if (!m || !name)
        return NULL;
    if (!*m->prefix || !strcmp(name, "lm_head.weight"))
        return didcl_weights_find(m->weights, name);
    char full[256];
    if ((size_t)snprintf(full, sizeof full, "%s%s", m->prefix, name) >= sizeof full)
        return NULL;
    return didcl_weights_find(m->weights, full);
}

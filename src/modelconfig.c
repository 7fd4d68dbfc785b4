/*
 * modelconfig.c — config.json of a model directory, read with jansson, and the tensors
 * each supported architecture stores with the shapes the config implies.
 *
 * Two architectures: "bd3lm" (the kuleshov-group BD3-LM DiT, keys and tensor names per
 * spec/bd3lm-and-did.md §2.1-2.2) and "gpt2" (Hugging Face GPT2LMHeadModel, used as the
 * autoregressive reference). Keys the engine does not need (dropout, auto_map, ...) are
 * ignored; every key it does need is checked for presence, JSON type and range.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "modelconfig.h"

const char *didcl_arch_str(enum didcl_arch arch) {
    switch (arch) {
    case DIDCL_ARCH_BD3LM: return "bd3lm";
    case DIDCL_ARCH_GPT2: return "gpt2";
    }
    return "?";
}

/* ---- typed keys --------------------------------------------------------------------- */

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* The value of key, NULL when absent or null. Fails when required and absent. */
static didcl_status key_get(const char *path, json_t *root, const char *key, int required,
                            const char *expected, json_t **out) {
    json_t *v = json_object_get(root, key);
    *out = json_is_null(v) ? NULL : v;
    if (!*out && required)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key '%s' is missing, expected %s", path, key,
                          expected);
    return DIDCL_OK;
}

/* Integer key in [lo, hi]; when optional and absent, *out keeps its default. */
static didcl_status key_int(const char *path, json_t *root, const char *key, int required,
                            long long lo, long long hi, long long *out) {
    json_t *v;
    DIDCL_TRY(key_get(path, root, key, required, "an integer", &v));
    if (!v)
        return DIDCL_OK;
    if (!json_is_integer(v))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key '%s' is %s, expected an integer", path, key,
                          json_kind(v));
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key '%s' is %lld, expected %lld..%lld", path,
                          key, x, lo, hi);
    *out = x;
    return DIDCL_OK;
}

/* Upper bounds of the size keys, checked before anything is sized from them: far above
 * any published checkpoint, low enough that a 200-byte config.json cannot make the
 * loader list billions of tensors or size buffers beyond memory before failing. */
#define MAX_LAYERS 1024
#define MAX_WIDTH (1 << 16)   /* hidden, cond, heads */
#define MAX_MLP (1 << 18)
#define MAX_VOCAB (1 << 24)
#define MAX_CONTEXT (1 << 20) /* tokens; also bounds block_size */

/* A positive integer key in [1, max]. */
static didcl_status key_dim(const char *path, json_t *root, const char *key, long long max,
                            uint32_t *out) {
    long long x = 0;
    DIDCL_TRY(key_int(path, root, key, 1, 1, max, &x));
    *out = (uint32_t)x;
    return DIDCL_OK;
}

static didcl_status key_real(const char *path, json_t *root, const char *key, double lo,
                             double hi, double *out) {
    json_t *v;
    DIDCL_TRY(key_get(path, root, key, 0, "a number", &v));
    if (!v)
        return DIDCL_OK;
    if (!json_is_number(v))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key '%s' is %s, expected a number", path, key,
                          json_kind(v));
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key '%s' is %g, expected %g..%g", path, key, x,
                          lo, hi);
    *out = x;
    return DIDCL_OK;
}

static didcl_status key_bool(const char *path, json_t *root, const char *key, int *out) {
    json_t *v;
    DIDCL_TRY(key_get(path, root, key, 0, "a boolean", &v));
    if (!v)
        return DIDCL_OK;
    if (!json_is_boolean(v))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key '%s' is %s, expected a boolean", path, key,
                          json_kind(v));
    *out = json_is_true(v);
    return DIDCL_OK;
}

/* Optional token id in [0, vocab); keeps *id when absent. */
static didcl_status key_token(const char *path, json_t *root, const char *key, uint32_t vocab,
                              int32_t *id) {
    long long x = *id;
    DIDCL_TRY(key_int(path, root, key, 0, 0, (long long)vocab - 1, &x));
    *id = (int32_t)x;
    return DIDCL_OK;
}

/* ---- architectures ------------------------------------------------------------------ */

static didcl_status bd3lm_parse(const char *path, json_t *root, didcl_model_config *c) {
    DIDCL_TRY(key_dim(path, root, "n_blocks", MAX_LAYERS, &c->n_layers));
    DIDCL_TRY(key_dim(path, root, "hidden_dim", MAX_WIDTH, &c->hidden));
    DIDCL_TRY(key_dim(path, root, "n_heads", MAX_WIDTH, &c->n_heads));
    DIDCL_TRY(key_dim(path, root, "cond_dim", MAX_WIDTH, &c->cond_dim));
    DIDCL_TRY(key_dim(path, root, "vocab_size", MAX_VOCAB, &c->vocab_size));
    DIDCL_TRY(key_dim(path, root, "model_length", MAX_CONTEXT, &c->context_length));
    DIDCL_TRY(key_dim(path, root, "block_size", MAX_CONTEXT, &c->block_size));
    DIDCL_TRY(key_bool(path, root, "time_conditioning", &c->time_conditioning));
    c->sampling_eps_min = 1e-3;
    c->sampling_eps_max = 1.0;
    DIDCL_TRY(key_real(path, root, "sampling_eps_min", 0.0, 1.0, &c->sampling_eps_min));
    DIDCL_TRY(key_real(path, root, "sampling_eps_max", 0.0, 1.0, &c->sampling_eps_max));
    if (c->sampling_eps_min > c->sampling_eps_max)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: sampling_eps_min %g exceeds sampling_eps_max %g",
                          path, c->sampling_eps_min, c->sampling_eps_max);
    /* Newer bd3lms configs may carry these switches; the hub ones predate them and mean
     * adaLN on, non-causal. */
    int adaln = 1, causal = 0;
    DIDCL_TRY(key_bool(path, root, "adaln", &adaln));
    DIDCL_TRY(key_bool(path, root, "causal", &causal));
    if (!adaln || causal)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: '%s' is %s; only the adaLN, non-causal "
                          "BD3-LM is supported", path, adaln ? "causal" : "adaln",
                          adaln ? "true" : "false");
    if (c->vocab_size < 3)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: key 'vocab_size' is %u, expected at least 3 "
                          "(text tokens, BOS/EOS and [MASK])", path, c->vocab_size);
    if (c->context_length % c->block_size)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: block_size %u does not divide model_length %u",
                          path, c->block_size, c->context_length);
    c->mlp_dim = 4 * c->hidden; /* fixed MLP ratio of the DiT blocks */
    c->norm_eps = 1e-5;
    c->mask_token_id = (int32_t)c->vocab_size - 1;
    c->bos_token_id = c->eos_token_id = (int32_t)c->vocab_size - 2;
    return DIDCL_OK;
}

static didcl_status gpt2_parse(const char *path, json_t *root, didcl_model_config *c) {
    DIDCL_TRY(key_dim(path, root, "n_embd", MAX_WIDTH, &c->hidden));
    DIDCL_TRY(key_dim(path, root, "n_layer", MAX_LAYERS, &c->n_layers));
    DIDCL_TRY(key_dim(path, root, "n_head", MAX_WIDTH, &c->n_heads));
    DIDCL_TRY(key_dim(path, root, "vocab_size", MAX_VOCAB, &c->vocab_size));
    /* n_ctx is the older spelling of n_positions */
    json_t *np = json_object_get(root, "n_positions");
    DIDCL_TRY(key_dim(path, root, !np && json_object_get(root, "n_ctx") ? "n_ctx" : "n_positions",
                      MAX_CONTEXT, &c->context_length));
    long long inner = 4ll * c->hidden;
    DIDCL_TRY(key_int(path, root, "n_inner", 0, 1, MAX_MLP, &inner));
    c->mlp_dim = (uint32_t)inner;
    c->norm_eps = 1e-5;
    DIDCL_TRY(key_real(path, root, "layer_norm_epsilon", 0.0, 1.0, &c->norm_eps));
    json_t *act;
    DIDCL_TRY(key_get(path, root, "activation_function", 0, "a string", &act));
    /* gelu_pytorch_tanh is the same tanh approximation as gelu_new */
    if (act && (!json_is_string(act) || (strcmp(json_string_value(act), "gelu_new") &&
                                         strcmp(json_string_value(act), "gelu_pytorch_tanh"))))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: activation_function %s%s%s is not "
                          "supported, expected 'gelu_new'", path, json_is_string(act) ? "'" : "",
                          json_is_string(act) ? json_string_value(act) : json_kind(act),
                          json_is_string(act) ? "'" : "");
    c->block_size = 1;
    c->mask_token_id = -1;
    c->bos_token_id = c->eos_token_id = (int32_t)c->vocab_size - 1;
    return DIDCL_OK;
}

static didcl_status config_parse(const char *path, json_t *root, didcl_model_config *c) {
    if (!json_is_object(root))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: not a JSON object", path);
    json_t *mt = json_object_get(root, "model_type");
    if (!json_is_string(mt))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: model_type is %s; expected 'bd3lm' or "
                          "'gpt2'", path, mt ? json_kind(mt) : "missing");
    const char *type = json_string_value(mt);
    if (!strcmp(type, "bd3lm")) {
        c->arch = DIDCL_ARCH_BD3LM;
        DIDCL_TRY(bd3lm_parse(path, root, c));
    } else if (!strcmp(type, "gpt2")) {
        c->arch = DIDCL_ARCH_GPT2;
        DIDCL_TRY(gpt2_parse(path, root, c));
    } else
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported; expected "
                          "'bd3lm' or 'gpt2'", path, type);
    if (c->hidden % c->n_heads)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: hidden size %u is not a multiple of the %u heads",
                          path, c->hidden, c->n_heads);
    c->head_dim = c->hidden / c->n_heads;
    if (c->arch == DIDCL_ARCH_BD3LM && c->head_dim % 2)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: head dimension %u is odd; rotary embeddings need "
                          "an even one", path, c->head_dim);
    DIDCL_TRY(key_token(path, root, "mask_token_id", c->vocab_size, &c->mask_token_id));
    DIDCL_TRY(key_token(path, root, "bos_token_id", c->vocab_size, &c->bos_token_id));
    DIDCL_TRY(key_token(path, root, "eos_token_id", c->vocab_size, &c->eos_token_id));
    return DIDCL_OK;
}

didcl_status didcl_model_config_load(const char *path, didcl_model_config *out) {
    if (!path || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_model_config_load: NULL path or output");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files pass */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return didcl_fail(DIDCL_ERR_NOT_FOUND, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "rb"))) {
        close(fd);
        return didcl_fail(DIDCL_ERR_IO, "%s: not a regular file, expected a JSON file", path);
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: not valid JSON: %s (line %d, column %d)", path,
                          jerr.text, jerr.line, jerr.column);
    didcl_model_config c;
    memset(&c, 0, sizeof c);
    didcl_status rc = config_parse(path, root, &c);
    json_decref(root);
    if (rc == DIDCL_OK)
        *out = c;
    return rc;
}

/* ---- tensors ------------------------------------------------------------------------ */

struct spec_list {
    didcl_tensor_spec *out;
    size_t cap, n;
};

static void DIDCL_PRINTF(7, 8) add(struct spec_list *l, const char *prefix,
                                   enum didcl_tensor_role role, uint32_t ndim, uint64_t d0,
                                   uint64_t d1, const char *fmt, ...) {
    if (l->out && l->n < l->cap) {
        didcl_tensor_spec *s = &l->out[l->n];
        int k = snprintf(s->name, sizeof s->name, "%s", prefix);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->name + k, sizeof s->name - (size_t)k, fmt, ap);
        va_end(ap);
        s->role = role;
        s->ndim = ndim;
        s->shape[0] = d0;
        s->shape[1] = d1;
    }
    l->n++;
}

#define REQ DIDCL_TENSOR_REQUIRED

static void bd3lm_specs(const didcl_model_config *c, struct spec_list *l) {
    const char *p = "backbone.";
    uint64_t V = c->vocab_size, H = c->hidden, C = c->cond_dim, M = c->mlp_dim;
    add(l, p, REQ, 2, V, H, "vocab_embed.embedding");
    add(l, p, REQ, 2, C, 256, "sigma_map.mlp.0.weight"); /* 256-wide timestep embedding */
    add(l, p, REQ, 1, C, 0, "sigma_map.mlp.0.bias");
    add(l, p, REQ, 2, C, C, "sigma_map.mlp.2.weight");
    add(l, p, REQ, 1, C, 0, "sigma_map.mlp.2.bias");
    add(l, p, DIDCL_TENSOR_BUFFER, 1, c->head_dim / 2, 0, "rotary_emb.inv_freq");
    for (uint32_t i = 0; i < c->n_layers; i++) {
        add(l, p, REQ, 1, H, 0, "blocks.%u.norm1.weight", i);
        add(l, p, REQ, 2, 3 * H, H, "blocks.%u.attn_qkv.weight", i);
        add(l, p, REQ, 2, H, H, "blocks.%u.attn_out.weight", i);
        add(l, p, REQ, 1, H, 0, "blocks.%u.norm2.weight", i);
        add(l, p, REQ, 2, M, H, "blocks.%u.mlp.0.weight", i);
        add(l, p, REQ, 1, M, 0, "blocks.%u.mlp.0.bias", i);
        add(l, p, REQ, 2, H, M, "blocks.%u.mlp.2.weight", i);
        add(l, p, REQ, 1, H, 0, "blocks.%u.mlp.2.bias", i);
        add(l, p, REQ, 2, 6 * H, C, "blocks.%u.adaLN_modulation.weight", i);
        add(l, p, REQ, 1, 6 * H, 0, "blocks.%u.adaLN_modulation.bias", i);
    }
    add(l, p, REQ, 1, H, 0, "output_layer.norm_final.weight");
    add(l, p, REQ, 2, V, H, "output_layer.linear.weight");
    add(l, p, REQ, 1, V, 0, "output_layer.linear.bias");
    add(l, p, REQ, 2, 2 * H, C, "output_layer.adaLN_modulation.weight");
    add(l, p, REQ, 1, 2 * H, 0, "output_layer.adaLN_modulation.bias");
    add(l, "", DIDCL_TENSOR_BUFFER, 0, 0, 0, "sampling_eps_min");
    add(l, "", DIDCL_TENSOR_BUFFER, 0, 0, 0, "sampling_eps_max");
}

/* GPT-2 Linear layers are Conv1D: weights stored [in, out]. */
static void gpt2_specs(const didcl_model_config *c, const char *p, struct spec_list *l) {
    uint64_t V = c->vocab_size, H = c->hidden, M = c->mlp_dim;
    add(l, p, REQ, 2, V, H, "wte.weight");
    add(l, p, REQ, 2, c->context_length, H, "wpe.weight");
    for (uint32_t i = 0; i < c->n_layers; i++) {
        add(l, p, REQ, 1, H, 0, "h.%u.ln_1.weight", i);
        add(l, p, REQ, 1, H, 0, "h.%u.ln_1.bias", i);
        add(l, p, REQ, 2, H, 3 * H, "h.%u.attn.c_attn.weight", i);
        add(l, p, REQ, 1, 3 * H, 0, "h.%u.attn.c_attn.bias", i);
        add(l, p, REQ, 2, H, H, "h.%u.attn.c_proj.weight", i);
        add(l, p, REQ, 1, H, 0, "h.%u.attn.c_proj.bias", i);
        add(l, p, REQ, 1, H, 0, "h.%u.ln_2.weight", i);
        add(l, p, REQ, 1, H, 0, "h.%u.ln_2.bias", i);
        add(l, p, REQ, 2, H, M, "h.%u.mlp.c_fc.weight", i);
        add(l, p, REQ, 1, M, 0, "h.%u.mlp.c_fc.bias", i);
        add(l, p, REQ, 2, M, H, "h.%u.mlp.c_proj.weight", i);
        add(l, p, REQ, 1, H, 0, "h.%u.mlp.c_proj.bias", i);
    }
    add(l, p, REQ, 1, H, 0, "ln_f.weight");
    add(l, p, REQ, 1, H, 0, "ln_f.bias");
    add(l, "", DIDCL_TENSOR_OPTIONAL, 2, V, H, "lm_head.weight"); /* absent: tied to wte */
}

size_t didcl_model_tensor_specs(const didcl_model_config *cfg, const char *prefix,
                                didcl_tensor_spec *out, size_t cap) {
    struct spec_list l = {out, cap, 0};
    if (cfg->arch == DIDCL_ARCH_BD3LM)
        bd3lm_specs(cfg, &l);
    else if (cfg->arch == DIDCL_ARCH_GPT2)
        gpt2_specs(cfg, prefix ? prefix : "", &l);
    return l.n;
}

int didcl_model_ignored_tensor(const didcl_model_config *cfg, const char *name) {
    unsigned layer;
    int end = 0;
    if (cfg->arch != DIDCL_ARCH_GPT2 || sscanf(name, "h.%u.attn.%n", &layer, &end) != 1 || !end)
        return 0;
    return !strcmp(name + end, "bias") || !strcmp(name + end, "masked_bias");
}

uint64_t didcl_model_config_param_count(const didcl_model_config *cfg) {
    size_t n = cfg ? didcl_model_tensor_specs(cfg, "", NULL, 0) : 0;
    didcl_tensor_spec *specs = n ? malloc(n * sizeof *specs) : NULL;
    uint64_t total = 0;
    if (!specs)
        return 0;
    didcl_model_tensor_specs(cfg, "", specs, n);
    for (size_t i = 0; i < n; i++)
        if (specs[i].role == DIDCL_TENSOR_REQUIRED)
            total += specs[i].shape[0] * (specs[i].ndim > 1 ? specs[i].shape[1] : 1);
    free(specs);
    return total;
}

/*
 * inspect.c — `didcl inspect --model DIR [--tensors] [--json]`: open a model directory
 * on the host, check config.json against the weights, and describe the checkpoint.
 * Exit 0 only when the checkpoint is fully valid; otherwise print the error, exit 1.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void shape_fmt(const didcl_tensor_info *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (uint32_t i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)t->shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* Storage dtypes present, e.g. "F32" or "F16, F32", and the total data size. */
static void storage_summary(didcl_weights_t w, char *dtypes, size_t size, uint64_t *bytes) {
    static const enum didcl_dtype all[] = {DIDCL_DTYPE_F32, DIDCL_DTYPE_F16, DIDCL_DTYPE_BF16};
    int seen[3] = {0};
    *bytes = 0;
    for (size_t i = 0; i < didcl_weights_count(w); i++) {
        const didcl_tensor_info *t = didcl_weights_at(w, i);
        seen[t->dtype] = 1;
        *bytes += t->nbytes;
    }
    dtypes[0] = '\0';
    for (int i = 0; i < 3; i++)
        if (seen[i])
            snprintf(dtypes + strlen(dtypes), size - strlen(dtypes), "%s%s", *dtypes ? ", " : "",
                     didcl_dtype_str(all[i]));
}

static json_t *token_json(int32_t id) { return id < 0 ? json_null() : json_integer(id); }

static int print_json(didcl_model_files_t m, int tensors) {
    const didcl_model_config *c = didcl_model_files_config(m);
    didcl_weights_t w = didcl_model_files_weights(m);
    char dtypes[32];
    uint64_t bytes;
    storage_summary(w, dtypes, sizeof dtypes, &bytes);
    json_t *o = json_pack(
        "{s:o, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:o, s:o, s:o, s:o, s:o, "
        "s:b, s:o, s:I, s:s, s:i, s:i, s:I}",
        "model", didcl_cli_json_string(didcl_model_files_dir(m)), "arch", didcl_arch_str(c->arch),
        "layers", (int)c->n_layers, "hidden", (int)c->hidden, "heads", (int)c->n_heads,
        "head_dim", (int)c->head_dim, "mlp_dim", (int)c->mlp_dim, "cond_dim", (int)c->cond_dim,
        "vocab_size", (int)c->vocab_size, "context_length", (int)c->context_length,
        "block_size", (int)c->block_size, "time_conditioning", c->time_conditioning,
        "mask_token_id", token_json(c->mask_token_id), "bos_token_id",
        token_json(c->bos_token_id), "eos_token_id", token_json(c->eos_token_id),
        "sampling_eps_min", didcl_cli_json_real(c->sampling_eps_min), "sampling_eps_max",
        didcl_cli_json_real(c->sampling_eps_max), "eps_from_checkpoint", c->eps_from_checkpoint,
        "norm_eps", didcl_cli_json_real(c->norm_eps), "parameters",
        (json_int_t)didcl_model_files_param_count(m), "dtypes", dtypes, "files",
        (int)didcl_weights_file_count(w), "tensor_count", (int)didcl_weights_count(w), "bytes",
        (json_int_t)bytes);
    if (o && tensors) {
        json_t *arr = json_array();
        int bad = !arr || json_object_set_new(o, "tensors", arr);
        for (size_t i = 0; !bad && i < didcl_weights_count(w); i++) {
            const didcl_tensor_info *t = didcl_weights_at(w, i);
            json_t *shape = json_array();
            for (uint32_t d = 0; shape && d < t->ndim; d++)
                if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d]))) {
                    json_decref(shape);
                    shape = NULL;
                }
            /* names and file names come from the checkpoint: not necessarily UTF-8 */
            bad = json_array_append_new(
                arr, json_pack("{s:o, s:s, s:o, s:I, s:o, s:I}", "name",
                               didcl_cli_json_string(t->name), "dtype", didcl_dtype_str(t->dtype),
                               "shape", shape, "bytes", (json_int_t)t->nbytes, "file",
                               didcl_cli_json_string(t->file), "offset", (json_int_t)t->offset));
        }
        if (bad) {
            json_decref(o);
            o = NULL;
        }
    }
    return didcl_cli_json_print("inspect", o,
                                JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
}

static void print_token(const char *key, int32_t id) {
    if (id < 0)
        printf("%-18s none\n", key);
    else
        printf("%-18s %d\n", key, (int)id);
}

static int print_text(didcl_model_files_t m, int tensors) {
    const didcl_model_config *c = didcl_model_files_config(m);
    didcl_weights_t w = didcl_model_files_weights(m);
    char dtypes[32];
    uint64_t bytes, params = didcl_model_files_param_count(m);
    storage_summary(w, dtypes, sizeof dtypes, &bytes);
    int bd3 = c->arch == DIDCL_ARCH_BD3LM;
    printf("%-18s %s\n", "model:", didcl_model_files_dir(m));
    printf("%-18s %s\n", "arch:", didcl_arch_str(c->arch));
    printf("%-18s %u\n", "layers:", c->n_layers);
    printf("%-18s %u\n", "hidden:", c->hidden);
    printf("%-18s %u (head dim %u)\n", "heads:", c->n_heads, c->head_dim);
    printf("%-18s %u\n", "mlp:", c->mlp_dim);
    if (bd3)
        printf("%-18s %u\n", "cond dim:", c->cond_dim);
    printf("%-18s %u\n", "vocab:", c->vocab_size);
    printf("%-18s %u\n", "context length:", c->context_length);
    if (bd3) {
        printf("%-18s %u\n", "block size:", c->block_size);
        printf("%-18s %s\n", "time conditioning:", c->time_conditioning ? "on" : "off");
    }
    print_token("mask id:", c->mask_token_id);
    print_token("bos id:", c->bos_token_id);
    print_token("eos id:", c->eos_token_id);
    if (bd3)
        printf("%-18s %g..%g (%s)\n", "sampling eps:", c->sampling_eps_min, c->sampling_eps_max,
               c->eps_from_checkpoint ? "from checkpoint" : "from config.json");
    printf("%-18s %g\n", "norm eps:", c->norm_eps);
    printf("%-18s %llu (%.2fM)\n", "parameters:", (unsigned long long)params, params / 1e6);
    printf("%-18s %s\n", "dtype:", dtypes);
    printf("%-18s %zu\n", "files:", didcl_weights_file_count(w));
    printf("%-18s %zu (%.1f MB)\n", "tensors:", didcl_weights_count(w), bytes / 1e6);
    if (!tensors)
        return 0;
    int width = 4;
    for (size_t i = 0; i < didcl_weights_count(w); i++) {
        int n = (int)strlen(didcl_weights_at(w, i)->name);
        width = n > width ? n : width;
    }
    printf("\n%-*s  %-5s  %-16s  %12s\n", width, "name", "dtype", "shape", "bytes");
    for (size_t i = 0; i < didcl_weights_count(w); i++) {
        const didcl_tensor_info *t = didcl_weights_at(w, i);
        char shape[128];
        shape_fmt(t, shape, sizeof shape);
        printf("%-*s  %-5s  %-16s  %12llu\n", width, t->name, didcl_dtype_str(t->dtype), shape,
               (unsigned long long)t->nbytes);
    }
    return 0;
}

int didcl_cli_inspect(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"tensors", no_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int json = 0, tensors = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:tjh", opts, NULL)) != -1) {
        if (c == 'm')
            dir = optarg;
        else if (c == 't')
            tensors = 1;
        else if (c == 'j')
            json = 1;
        else if (c == 'h') {
            printf("usage: didcl inspect --model DIR [--tensors] [--json]\n"
                   "Check a model directory (config.json + model.safetensors or a sharded\n"
                   "model.safetensors.index.json) and describe it. --tensors lists every\n"
                   "stored tensor. Exit status 0 only if the checkpoint is fully valid.\n");
            return 0;
        } else
            return didcl_cli_bad_option("inspect", c, argv);
    }
    if (optind < argc)
        return didcl_cli_usage_error("inspect", "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return didcl_cli_usage_error("inspect", "--model DIR is required");
    didcl_model_files_t m;
    if (didcl_model_files_open(dir, &m) != DIDCL_OK)
        return didcl_cli_fail(NULL);
    int rc = json ? print_json(m, tensors) : print_text(m, tensors);
    didcl_model_files_free(m);
    return rc;
}

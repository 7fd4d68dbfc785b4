/*
 * check_modelfiles.c — config.json reading and model directories: tiny BD3-LM and GPT-2
 * checkpoints in their exact layouts (single file and sharded, F32/F16/BF16), parameter
 * counts worked out by hand, the published 110M count from its config alone, and one
 * case per bad config or mismatched tensor asserting its message.
 *
 * Also a helper for tests/inspect.sh: `check_modelfiles --write-model DIR KIND` writes a
 * tiny model directory (KIND: bd3lm, gpt2, bd3lm-sharded) and exits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *dir;
static char path[4096];
static int warnings;
static char last_warning[1024];

static void log_capture(enum didcl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == DIDCL_LOG_WARN) {
        warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    }
}

static void setup(void) {
    dir = testutil_tmpdir();
    warnings = 0;
    didcl_log_set(log_capture, NULL);
}

static void teardown(void) {
    didcl_log_set(NULL, NULL);
    testutil_rmtree(dir);
    free(dir);
}

static void write_text(const char *name, const char *text) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(testutil_write_file(path, text, strlen(text)), 0);
}

static didcl_model_files_t open_ok(void) {
    didcl_model_files_t m = NULL;
    didcl_status st = didcl_model_files_open(dir, &m);
    ck_assert_msg(st == DIDCL_OK, "didcl_model_files_open: %s", didcl_last_error());
    return m;
}

/* Write m with tensor `name` changed: removed (ndim < 0) or given a new 2-D shape. */
static void write_model_edited(const testutil_model *m, const char *name, int ndim, uint64_t d0,
                               uint64_t d1) {
    testutil_tensor *t;
    size_t n = testutil_model_tensors(m, &t), k;
    for (k = 0; k < n && strcmp(t[k].name, name); k++)
        ;
    ck_assert_uint_lt(k, n);
    if (ndim < 0)
        memmove(&t[k], &t[k + 1], (n-- - k - 1) * sizeof *t);
    else {
        t[k].ndim = ndim;
        t[k].shape[0] = d0;
        t[k].shape[1] = d1;
    }
    ck_assert_int_eq(testutil_write_config(dir, m, NULL), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(testutil_write_safetensors(path, t, n), 0);
    free(t);
}

/* ---- core --------------------------------------------------------------------------- */

/* Tiny BD3-LM (L=2, H=64, heads 4, cond 16, V=100), counted by hand:
 *   vocab_embed 100*64 = 6400; sigma_map 16*256+16 + 16*16+16 = 4384
 *   per block: norm1 64, qkv 192*64 = 12288, out 4096, norm2 64, mlp.0 256*64+256 = 16640,
 *              mlp.2 64*256+64 = 16448, adaLN 384*16+384 = 6528  -> 56128, x2 = 112256
 *   output: norm 64, linear 100*64+100 = 6500, adaLN 128*16+128 = 2176 -> 8740
 *   total 6400 + 4384 + 112256 + 8740 = 131780 */
#define TINY_BD3LM_PARAMS 131780u

START_TEST(test_bd3lm_tiny) {
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    didcl_model_files_t m = open_ok();
    const didcl_model_config *c = didcl_model_files_config(m);
    ck_assert_int_eq(c->arch, DIDCL_ARCH_BD3LM);
    ck_assert_uint_eq(c->n_layers, 2);
    ck_assert_uint_eq(c->hidden, 64);
    ck_assert_uint_eq(c->n_heads, 4);
    ck_assert_uint_eq(c->head_dim, 16);
    ck_assert_uint_eq(c->mlp_dim, 256);
    ck_assert_uint_eq(c->cond_dim, 16);
    ck_assert_uint_eq(c->vocab_size, 100);
    ck_assert_uint_eq(c->context_length, 32);
    ck_assert_uint_eq(c->block_size, 4);
    ck_assert_int_eq(c->time_conditioning, 0);
    ck_assert_int_eq(c->mask_token_id, 99);
    ck_assert_int_eq(c->bos_token_id, 98);
    ck_assert_int_eq(c->eos_token_id, 98);
    ck_assert(c->norm_eps == 1e-5);
    /* the checkpoint's eps scalars (0.25, 0.75) win over config.json's 0.001/0.999 */
    ck_assert_int_eq(c->eps_from_checkpoint, 1);
    ck_assert(c->sampling_eps_min == 0.25 && c->sampling_eps_max == 0.75);
    ck_assert_uint_eq(didcl_model_files_param_count(m), TINY_BD3LM_PARAMS);
    ck_assert_uint_eq(didcl_model_config_param_count(c), TINY_BD3LM_PARAMS);
    ck_assert_uint_eq(didcl_weights_count(didcl_model_files_weights(m)), 5 + 1 + 20 + 5 + 2);
    const didcl_tensor_info *qkv = didcl_model_files_tensor(m, "backbone.blocks.1.attn_qkv.weight");
    ck_assert_ptr_nonnull(qkv);
    ck_assert_uint_eq(qkv->shape[0], 192);
    ck_assert_str_eq(didcl_model_files_dir(m), dir);
    ck_assert_int_eq(warnings, 0);
    didcl_model_files_free(m);
}
END_TEST

START_TEST(test_bd3lm_no_buffers_bf16) {
    testutil_model tm = testutil_tiny_bd3lm();
    tm.buffers = 0;
    tm.dtype = "BF16";
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    didcl_model_files_t m = open_ok();
    const didcl_model_config *c = didcl_model_files_config(m);
    ck_assert_int_eq(c->eps_from_checkpoint, 0);
    ck_assert(c->sampling_eps_min == 0.001 && c->sampling_eps_max == 0.999);
    ck_assert_uint_eq(didcl_model_files_param_count(m), TINY_BD3LM_PARAMS);
    const didcl_tensor_info *t = didcl_model_files_tensor(m, "backbone.vocab_embed.embedding");
    ck_assert_int_eq(t->dtype, DIDCL_DTYPE_BF16);
    ck_assert_uint_eq(t->nbytes, 100 * 64 * 2);
    didcl_model_files_free(m);
}
END_TEST

START_TEST(test_bd3lm_sharded_f16) {
    testutil_model tm = testutil_tiny_bd3lm();
    tm.dtype = "F16";
    ck_assert_int_eq(testutil_write_model(dir, &tm, 2), 0);
    didcl_model_files_t m = open_ok();
    didcl_weights_t w = didcl_model_files_weights(m);
    ck_assert_uint_eq(didcl_weights_file_count(w), 2);
    ck_assert_msg(strstr(didcl_weights_source(w), "model.safetensors.index.json"), "%s",
                  didcl_weights_source(w));
    ck_assert_uint_eq(didcl_model_files_param_count(m), TINY_BD3LM_PARAMS);
    /* first and last tensors live in different shards */
    ck_assert_ptr_nonnull(strstr(didcl_model_files_tensor(m, "backbone.vocab_embed.embedding")->file,
                                 "model-00001-of-00002.safetensors"));
    ck_assert_ptr_nonnull(strstr(didcl_model_files_tensor(m, "sampling_eps_max")->file,
                                 "model-00002-of-00002.safetensors"));
    didcl_model_files_free(m);
}
END_TEST

START_TEST(test_bd3lm_token_ids) {
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    ck_assert_int_eq(testutil_write_config(dir, &tm, "\"mask_token_id\": 3, \"bos_token_id\": 1, "
                                                     "\"eos_token_id\": 2"), 0);
    didcl_model_files_t m = open_ok();
    const didcl_model_config *c = didcl_model_files_config(m);
    ck_assert_int_eq(c->mask_token_id, 3);
    ck_assert_int_eq(c->bos_token_id, 1);
    ck_assert_int_eq(c->eos_token_id, 2);
    didcl_model_files_free(m);
}
END_TEST

/* Tiny GPT-2 (L=2, H=64, V=100, P=32): wte 6400, wpe 2048,
 *   per layer: ln_1 128, c_attn 64*192+192 = 12480, c_proj 4096+64 = 4160, ln_2 128,
 *              c_fc 64*256+256 = 16640, mlp c_proj 256*64+64 = 16448 -> 49984, x2 = 99968
 *   ln_f 128; total 108544, plus lm_head 6400 = 114944 */
START_TEST(test_gpt2_variants) {
    static const char *const prefixes[2] = {"", "transformer."};
    for (int v = 0; v < 4; v++) {
        testutil_model tm = testutil_tiny_gpt2();
        tm.prefix = prefixes[v & 1];
        tm.lm_head = v >> 1;
        testutil_rmtree(dir);
        free(dir);
        dir = testutil_tmpdir();
        ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
        didcl_model_files_t m = open_ok();
        const didcl_model_config *c = didcl_model_files_config(m);
        ck_assert_int_eq(c->arch, DIDCL_ARCH_GPT2);
        ck_assert_uint_eq(c->mlp_dim, 256); /* n_inner null */
        ck_assert_uint_eq(c->context_length, 32);
        ck_assert_int_eq(c->mask_token_id, -1);
        ck_assert_int_eq(c->eos_token_id, 99);
        ck_assert_uint_eq(didcl_model_files_param_count(m), tm.lm_head ? 114944u : 108544u);
        ck_assert_uint_eq(didcl_model_config_param_count(c), 108544u);
        const didcl_tensor_info *t = didcl_model_files_tensor(m, "h.1.attn.c_attn.weight");
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->shape[0], 64); /* Conv1D: [in, out] */
        ck_assert_uint_eq(t->shape[1], 192);
        ck_assert_str_eq(t->name, v & 1 ? "transformer.h.1.attn.c_attn.weight"
                                        : "h.1.attn.c_attn.weight");
        ck_assert(!tm.lm_head == !didcl_model_files_tensor(m, "lm_head.weight"));
        ck_assert_int_eq(warnings, 0); /* h.N.attn.bias buffers are ignored quietly */
        didcl_model_files_free(m);
    }
}
END_TEST

START_TEST(test_published_counts) {
    /* the hub config.json of kuleshov-group/bd3lm-owt-block_size4 */
    write_text("config.json",
               "{\"architectures\": [\"BD3LM\"], \"auto_map\": {\"AutoConfig\": "
               "\"configuration_bd3lm.BD3LMConfig\", \"AutoModelForMaskedLM\": "
               "\"modeling_bd3lm.BD3LM\"}, \"attn_backend\": \"sdpa\", \"block_size\": 4, "
               "\"cond_dim\": 128, \"cross_attn\": true, \"dropout\": 0.1, \"hidden_dim\": 768, "
               "\"model_length\": 1024, \"model_type\": \"bd3lm\", \"n_blocks\": 12, "
               "\"n_heads\": 12, \"return_dict\": false, \"sampling_eps_max\": 0.999, "
               "\"sampling_eps_min\": 0.001, \"time_conditioning\": false, \"torch_dtype\": "
               "\"float32\", \"transformers_version\": \"4.49.0\", \"var_min\": true, "
               "\"vocab_size\": 50258}");
    didcl_model_config c;
    ck_assert_int_eq(didcl_model_config_load(path, &c), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_config_param_count(&c), 169627218u);
    ck_assert_int_eq(c.mask_token_id, 50257);
    ck_assert_int_eq(c.bos_token_id, 50256);
    ck_assert_int_eq(c.eos_token_id, 50256);
    ck_assert_uint_eq(c.head_dim, 64);
    ck_assert_uint_eq(c.mlp_dim, 3072);

    /* GPT-2 small (openai-community/gpt2): 124,439,808 without the tied lm_head */
    write_text("config.json",
               "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], "
               "\"bos_token_id\": 50256, \"eos_token_id\": 50256, \"layer_norm_epsilon\": 1e-05, "
               "\"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, "
               "\"n_layer\": 12, \"n_positions\": 1024, \"vocab_size\": 50257}");
    ck_assert_int_eq(didcl_model_config_load(path, &c), DIDCL_OK);
    ck_assert_uint_eq(didcl_model_config_param_count(&c), 124439808u);
    ck_assert_int_eq(c.bos_token_id, 50256);
}
END_TEST

START_TEST(test_unused_tensor_warns) {
    testutil_model tm = testutil_tiny_bd3lm();
    testutil_tensor *t;
    size_t n = testutil_model_tensors(&tm, &t);
    testutil_tensor *t2 = realloc(t, (n + 1) * sizeof *t);
    ck_assert_ptr_nonnull(t2);
    t2[n] = t2[0];
    snprintf(t2[n].name, sizeof t2[n].name, "backbone.extra.weight");
    ck_assert_int_eq(testutil_write_config(dir, &tm, NULL), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(testutil_write_safetensors(path, t2, n + 1), 0);
    free(t2);
    didcl_model_files_t m = open_ok();
    ck_assert_int_eq(warnings, 1);
    ck_assert_msg(strstr(last_warning, "tensor 'backbone.extra.weight' is not used by the bd3lm "
                                       "architecture"), "%s", last_warning);
    ck_assert_uint_eq(didcl_model_files_param_count(m), TINY_BD3LM_PARAMS);
    didcl_model_files_free(m);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------- */

static void expect_open_fails(didcl_status st, const char *needle) {
    didcl_model_files_t m = NULL;
    ck_assert_int_eq(didcl_model_files_open(dir, &m), st);
    ck_assert_ptr_null(m);
    ck_assert_last_error_has(needle);
}

START_TEST(test_shape_mismatch) {
    testutil_model tm = testutil_tiny_bd3lm();
    write_model_edited(&tm, "backbone.blocks.1.attn_qkv.weight", 2, 192, 60);
    expect_open_fails(DIDCL_ERR_SHAPE, "model.safetensors: tensor 'backbone.blocks.1.attn_qkv.weight' "
                                       "has shape [192, 60], config.json implies [192, 64]");
    testutil_model g = testutil_tiny_gpt2();
    write_model_edited(&g, "wpe.weight", 1, 2048, 0);
    expect_open_fails(DIDCL_ERR_SHAPE, "tensor 'wpe.weight' has shape [2048], config.json implies "
                                       "[32, 64]");
}
END_TEST

START_TEST(test_missing_tensor) {
    testutil_model tm = testutil_tiny_bd3lm();
    write_model_edited(&tm, "backbone.output_layer.linear.bias", -1, 0, 0);
    expect_open_fails(DIDCL_ERR_NOT_FOUND, "model.safetensors: tensor "
                                           "'backbone.output_layer.linear.bias' is missing "
                                           "(required by ");
    ck_assert_last_error_has("config.json)");
    testutil_model g = testutil_tiny_gpt2();
    g.prefix = "transformer.";
    write_model_edited(&g, "transformer.h.1.mlp.c_fc.bias", -1, 0, 0);
    expect_open_fails(DIDCL_ERR_NOT_FOUND, "tensor 'transformer.h.1.mlp.c_fc.bias' is missing");
}
END_TEST

START_TEST(test_model_type) {
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    write_text("config.json", "{\"model_type\": \"llama\", \"hidden_size\": 64}");
    expect_open_fails(DIDCL_ERR_UNSUPPORTED, "config.json: model_type 'llama' is not supported; "
                                             "expected 'bd3lm' or 'gpt2'");
    write_text("config.json", "{\"n_blocks\": 2}");
    expect_open_fails(DIDCL_ERR_UNSUPPORTED, "config.json: model_type is missing; expected "
                                             "'bd3lm' or 'gpt2'");
    write_text("config.json", "{\"model_type\": \"bd3lm\",");
    expect_open_fails(DIDCL_ERR_FORMAT, "config.json: not valid JSON");
    testutil_rmtree(dir);
    expect_open_fails(DIDCL_ERR_NOT_FOUND, "No such file or directory");
}
END_TEST

START_TEST(test_config_keys) {
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    static const struct { const char *json; didcl_status st; const char *needle; } cases[] = {
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"cond_dim\": 16, "
         "\"vocab_size\": 100, \"model_length\": 32, \"block_size\": 4}",
         DIDCL_ERR_FORMAT, "config.json: key 'n_heads' is missing, expected an integer"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": \"64\", \"n_heads\": 4}",
         DIDCL_ERR_FORMAT, "config.json: key 'hidden_dim' is a string, expected an integer"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 0}", DIDCL_ERR_FORMAT,
         "key 'n_blocks' is 0, expected 1..1024"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 1073741824}", DIDCL_ERR_FORMAT,
         "key 'n_blocks' is 1073741824, expected 1..1024"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 4, "
         "\"cond_dim\": 16, \"vocab_size\": 100000000}", DIDCL_ERR_FORMAT,
         "key 'vocab_size' is 100000000, expected 1..16777216"},
        {"{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"vocab_size\": 100, \"n_positions\": 2000000}", DIDCL_ERR_FORMAT,
         "key 'n_positions' is 2000000, expected 1..1048576"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 5, "
         "\"cond_dim\": 16, \"vocab_size\": 100, \"model_length\": 32, \"block_size\": 4}",
         DIDCL_ERR_FORMAT, "hidden size 64 is not a multiple of the 5 heads"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 4, "
         "\"cond_dim\": 16, \"vocab_size\": 100, \"model_length\": 32, \"block_size\": 5}",
         DIDCL_ERR_FORMAT, "block_size 5 does not divide model_length 32"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 4, "
         "\"cond_dim\": 16, \"vocab_size\": 100, \"model_length\": 32, \"block_size\": 4, "
         "\"time_conditioning\": 0}",
         DIDCL_ERR_FORMAT, "key 'time_conditioning' is an integer, expected a boolean"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 4, "
         "\"cond_dim\": 16, \"vocab_size\": 100, \"model_length\": 32, \"block_size\": 4, "
         "\"sampling_eps_min\": \"small\"}",
         DIDCL_ERR_FORMAT, "key 'sampling_eps_min' is a string, expected a number"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 4, "
         "\"cond_dim\": 16, \"vocab_size\": 100, \"model_length\": 32, \"block_size\": 4, "
         "\"mask_token_id\": 100}",
         DIDCL_ERR_FORMAT, "key 'mask_token_id' is 100, expected 0..99"},
        {"{\"model_type\": \"bd3lm\", \"n_blocks\": 2, \"hidden_dim\": 64, \"n_heads\": 4, "
         "\"cond_dim\": 16, \"vocab_size\": 100, \"model_length\": 32, \"block_size\": 4, "
         "\"adaln\": false}",
         DIDCL_ERR_UNSUPPORTED, "'adaln' is false; only the adaLN, non-causal BD3-LM"},
        {"{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"vocab_size\": 100}",
         DIDCL_ERR_FORMAT, "key 'n_positions' is missing, expected an integer"},
        {"{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"vocab_size\": 100, \"n_positions\": 32, \"activation_function\": \"relu\"}",
         DIDCL_ERR_UNSUPPORTED, "activation_function 'relu' is not supported, expected 'gelu_new'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text("config.json", cases[i].json);
        didcl_model_config c;
        ck_assert_int_eq(didcl_model_config_load(path, &c), cases[i].st);
        ck_assert_last_error_has(cases[i].needle);
    }
}
END_TEST

/* The eps scalars of a checkpoint override config.json: they get its range checks. */
START_TEST(test_checkpoint_eps_checked) {
    static const struct { const char *name; float v; const char *needle; } cases[] = {
        {"sampling_eps_min", NAN, "tensor 'sampling_eps_min' is nan, expected 0..1"},
        {"sampling_eps_max", INFINITY, "tensor 'sampling_eps_max' is inf, expected 0..1"},
        {"sampling_eps_min", -0.5f, "tensor 'sampling_eps_min' is -0.5, expected 0..1"},
        {"sampling_eps_min", 0.9f, "sampling_eps_min 0.9 exceeds sampling_eps_max 0.75"},
    };
    testutil_model tm = testutil_tiny_bd3lm();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        testutil_tensor *t;
        size_t n = testutil_model_tensors(&tm, &t), k;
        for (k = 0; k < n && strcmp(t[k].name, cases[i].name); k++)
            ;
        ck_assert_uint_lt(k, n);
        t[k].data = &cases[i].v;
        ck_assert_int_eq(testutil_write_config(dir, &tm, NULL), 0);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        ck_assert_int_eq(testutil_write_safetensors(path, t, n), 0);
        free(t);
        expect_open_fails(DIDCL_ERR_FORMAT, cases[i].needle);
    }
}
END_TEST

/* Sizes within the limits but far beyond the weights fail at once, naming the keys. */
START_TEST(test_config_larger_than_weights) {
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_model(dir, &tm, 1), 0);
    tm.layers = 1024;
    tm.hidden = 4096;
    ck_assert_int_eq(testutil_write_config(dir, &tm, NULL), 0);
    expect_open_fails(DIDCL_ERR_SHAPE, "config.json: n_blocks 1024, hidden_dim 4096, "
                                       "vocab_size 100 imply ");
    ck_assert_last_error_has("parameters, more than the 527160 bytes of ");
}
END_TEST

START_TEST(test_no_weights) {
    testutil_model tm = testutil_tiny_bd3lm();
    ck_assert_int_eq(testutil_write_config(dir, &tm, NULL), 0);
    expect_open_fails(DIDCL_ERR_NOT_FOUND, "no model.safetensors or model.safetensors.index.json");
    snprintf(path, sizeof path, "%s/config.json", dir);
    didcl_model_files_t m;
    ck_assert_int_eq(didcl_model_files_open(path, &m), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("not a directory");
    didcl_model_files_free(NULL);
}
END_TEST

static Suite *modelfiles_suite(void) {
    Suite *s = suite_create("modelfiles");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_bd3lm_tiny);
    tcase_add_test(core, test_bd3lm_no_buffers_bf16);
    tcase_add_test(core, test_bd3lm_sharded_f16);
    tcase_add_test(core, test_bd3lm_token_ids);
    tcase_add_test(core, test_gpt2_variants);
    tcase_add_test(core, test_published_counts);
    tcase_add_test(core, test_unused_tensor_warns);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_shape_mismatch);
    tcase_add_test(limits, test_missing_tensor);
    tcase_add_test(limits, test_model_type);
    tcase_add_test(limits, test_config_keys);
    tcase_add_test(limits, test_no_weights);
    tcase_add_test(limits, test_checkpoint_eps_checked);
    tcase_add_test(limits, test_config_larger_than_weights);
    suite_add_tcase(s, limits);
    return s;
}

/* --write-model DIR KIND, for tests/inspect.sh */
static int write_model_cli(const char *out, const char *kind) {
    testutil_model m = strncmp(kind, "gpt2", 4) ? testutil_tiny_bd3lm() : testutil_tiny_gpt2();
    int shards = strstr(kind, "-sharded") ? 2 : 1;
    if (testutil_write_model(out, &m, shards) != 0) {
        fprintf(stderr, "cannot write model %s into %s\n", kind, out);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--write-model"))
        return write_model_cli(argv[2], argv[3]);
    return testutil_run(modelfiles_suite());
}

/*
 * testutil.c — helpers shared by the Check suites (see testutil.h).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

int testutil_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

didcl_runtime_t testutil_runtime_or_skip(void) {
    didcl_runtime_t rt = NULL;
    didcl_status st = didcl_runtime_init(NULL, &rt);
    if (st == DIDCL_ERR_NO_PLATFORM || st == DIDCL_ERR_NO_DEVICE) {
        fprintf(stderr, "SKIP: no OpenCL device: %s\n", didcl_last_error());
        exit(77);
    }
    ck_assert_msg(st == DIDCL_OK, "didcl_runtime_init: %s", didcl_last_error());
    return rt;
}

/* The probe runs in a child process: an OpenCL runtime initialised in the parent (PoCL
 * starts worker threads) does not survive the fork Check makes for every test. */
void testutil_skip_without_device(void) {
    pid_t pid = fork();
    if (pid == 0) {
        didcl_device_info *devs = NULL;
        size_t n = 0;
        if (didcl_devices_list(&devs, &n) != DIDCL_OK || n == 0) {
            fprintf(stderr, "SKIP: no OpenCL device: %s\n", didcl_last_error());
            _exit(77);
        }
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        exit(77);
}

int testutil_check_tensor(const char *label, const float *got, const float *want, size_t n,
                          double atol, double rtol) {
    double max_abs = 0.0, max_rel = 0.0;
    size_t bad = n;
    for (size_t i = 0; i < n; i++) {
        if (isinf(want[i]) || isinf(got[i])) {
            if (got[i] != want[i] && bad == n)
                bad = i;
            continue;
        }
        const double d = fabs((double)got[i] - want[i]);
        const double rel = d / (fabs(want[i]) > 1e-30 ? fabs(want[i]) : 1e-30);
        if (d > max_abs || isnan(d))
            max_abs = d;
        if (rel > max_rel && fabs(want[i]) > atol)
            max_rel = rel;
        if ((isnan(d) || d > atol + rtol * fabs(want[i])) && bad == n)
            bad = i;
    }
    fprintf(stderr, "%-40s n=%-6zu max abs err %.3g (atol %g)\n", label, n, max_abs, atol);
    if (bad == n)
        return 1;
    fprintf(stderr, "  MISMATCH (rtol %g, max rel err %.3g); first bad [%zu]: got %.9g want %.9g\n",
            rtol, max_rel, bad, got[bad], want[bad]);
    return 0;
}

#ifndef DIDCL_PYTHON_TORCH
#define DIDCL_PYTHON_TORCH ""
#endif

const char *testutil_python_torch(void) {
    const char *p = getenv("PYTHON_TORCH");
    return p && *p ? p : DIDCL_PYTHON_TORCH;
}

char *testutil_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    ck_assert_ptr_nonnull(path);
    snprintf(path, 4096, "%s/didcl-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void testutil_rmtree(const char *dir) {
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int testutil_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* ---- checkpoint files --------------------------------------------------------------- */

static size_t dtype_bytes(const char *dtype) {
    if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16") || !strcmp(dtype, "I16"))
        return 2;
    if (!strcmp(dtype, "F64") || !strcmp(dtype, "I64") || !strcmp(dtype, "U64"))
        return 8;
    if (!strcmp(dtype, "U8") || !strcmp(dtype, "I8") || !strcmp(dtype, "BOOL"))
        return 1;
    return 4;
}

static uint64_t tensor_numel(const testutil_tensor *t) {
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

int testutil_write_raw_safetensors(const char *path, const char *header, const void *data,
                                   size_t ndata) {
    uint64_t n = strlen(header);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, n, f) == n &&
             (!ndata || fwrite(data, 1, ndata, f) == ndata);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Deterministic fill: small finite values, different per tensor. */
static void fill(unsigned char *p, const char *dtype, uint64_t numel, unsigned seed) {
    size_t es = dtype_bytes(dtype);
    for (uint64_t i = 0; i < numel; i++) {
        uint32_t k = (uint32_t)(i * 2654435761u + seed * 40503u);
        if (es == 2) {
            uint16_t v = !strcmp(dtype, "BF16") ? (uint16_t)(0x3c00u | (k & 0x7fu))
                                                : (uint16_t)(0x2c00u | (k & 0x3ffu));
            p[2 * i] = (unsigned char)v;
            p[2 * i + 1] = (unsigned char)(v >> 8);
        } else {
            float v = (float)((int)(k % 2001u) - 1000) * 1e-4f;
            memcpy(p + es * i, &v, 4);
            for (size_t b = 4; b < es; b++)
                p[es * i + b] = 0;
        }
    }
}

int testutil_write_safetensors(const char *path, const testutil_tensor *t, size_t n) {
    size_t cap = 64 + n * 256, len = 0;
    char *h = malloc(cap);
    uint64_t off = 0;
    if (!h)
        return -1;
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        uint64_t nb = tensor_numel(&t[i]) * dtype_bytes(t[i].dtype);
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%llu", d ? "," : "",
                                    (unsigned long long)t[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                                (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8)
        h[len++] = ' ';
    h[len] = '\0';
    unsigned char *data = malloc(off ? off : 1);
    if (!data) {
        free(h);
        return -1;
    }
    for (size_t i = 0, at = 0; i < n; i++) {
        uint64_t numel = tensor_numel(&t[i]), nb = numel * dtype_bytes(t[i].dtype);
        if (t[i].data)
            memcpy(data + at, t[i].data, nb);
        else
            fill(data + at, t[i].dtype, numel, (unsigned)i + 1);
        at += nb;
    }
    int rc = testutil_write_raw_safetensors(path, h, data, off);
    free(h);
    free(data);
    return rc;
}

testutil_model testutil_tiny_bd3lm(void) {
    testutil_model m = {"bd3lm", 2, 64, 4, 16, 100, 32, 4, "F32", "", 0, 1};
    return m;
}

testutil_model testutil_tiny_gpt2(void) {
    testutil_model m = {"gpt2", 2, 64, 4, 0, 100, 32, 1, "F32", "", 1, 0};
    return m;
}

struct tlist {
    testutil_tensor *t;
    size_t n;
    const char *dtype;
};

static void push(struct tlist *l, const char *prefix, int ndim, uint64_t d0, uint64_t d1,
                 const char *fmt, int layer) {
    testutil_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    int k = snprintf(t->name, sizeof t->name, "%s", prefix);
    snprintf(t->name + k, sizeof t->name - (size_t)k, fmt, layer);
    snprintf(t->dtype, sizeof t->dtype, "%s", l->dtype);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
}

/* Written from the spec tables (bd3lm-and-did.md §2.2 and HF GPT2LMHeadModel), not from
 * the library's list, so the two are checked against each other. */
size_t testutil_model_tensors(const testutil_model *m, testutil_tensor **out) {
    static const float eps[2] = {0.25f, 0.75f};
    struct tlist l = {calloc(64 + 16 * (size_t)m->layers, sizeof(testutil_tensor)), 0,
                      m->dtype ? m->dtype : "F32"};
    *out = l.t;
    if (!l.t) /* no ck_assert here: --write-model runs outside a test */
        return 0;
    uint64_t V = (uint64_t)m->vocab, H = (uint64_t)m->hidden, C = (uint64_t)m->cond;
    if (!strcmp(m->arch, "bd3lm")) {
        const char *p = "backbone.";
        push(&l, p, 2, V, H, "vocab_embed.embedding", 0);
        push(&l, p, 2, C, 256, "sigma_map.mlp.0.weight", 0);
        push(&l, p, 1, C, 0, "sigma_map.mlp.0.bias", 0);
        push(&l, p, 2, C, C, "sigma_map.mlp.2.weight", 0);
        push(&l, p, 1, C, 0, "sigma_map.mlp.2.bias", 0);
        if (m->buffers)
            push(&l, p, 1, H / (uint64_t)m->heads / 2, 0, "rotary_emb.inv_freq", 0);
        for (int i = 0; i < m->layers; i++) {
            push(&l, p, 1, H, 0, "blocks.%d.norm1.weight", i);
            push(&l, p, 2, 3 * H, H, "blocks.%d.attn_qkv.weight", i);
            push(&l, p, 2, H, H, "blocks.%d.attn_out.weight", i);
            push(&l, p, 1, H, 0, "blocks.%d.norm2.weight", i);
            push(&l, p, 2, 4 * H, H, "blocks.%d.mlp.0.weight", i);
            push(&l, p, 1, 4 * H, 0, "blocks.%d.mlp.0.bias", i);
            push(&l, p, 2, H, 4 * H, "blocks.%d.mlp.2.weight", i);
            push(&l, p, 1, H, 0, "blocks.%d.mlp.2.bias", i);
            push(&l, p, 2, 6 * H, C, "blocks.%d.adaLN_modulation.weight", i);
            push(&l, p, 1, 6 * H, 0, "blocks.%d.adaLN_modulation.bias", i);
        }
        push(&l, p, 1, H, 0, "output_layer.norm_final.weight", 0);
        push(&l, p, 2, V, H, "output_layer.linear.weight", 0);
        push(&l, p, 1, V, 0, "output_layer.linear.bias", 0);
        push(&l, p, 2, 2 * H, C, "output_layer.adaLN_modulation.weight", 0);
        push(&l, p, 1, 2 * H, 0, "output_layer.adaLN_modulation.bias", 0);
        if (m->buffers) {
            l.dtype = "F32";
            push(&l, "", 0, 0, 0, "sampling_eps_min", 0);
            l.t[l.n - 1].data = &eps[0];
            push(&l, "", 0, 0, 0, "sampling_eps_max", 0);
            l.t[l.n - 1].data = &eps[1];
        }
    } else {
        const char *p = m->prefix ? m->prefix : "";
        push(&l, p, 2, V, H, "wte.weight", 0);
        push(&l, p, 2, (uint64_t)m->length, H, "wpe.weight", 0);
        for (int i = 0; i < m->layers; i++) {
            push(&l, p, 1, H, 0, "h.%d.ln_1.weight", i);
            push(&l, p, 1, H, 0, "h.%d.ln_1.bias", i);
            push(&l, p, 2, H, 3 * H, "h.%d.attn.c_attn.weight", i);
            push(&l, p, 1, 3 * H, 0, "h.%d.attn.c_attn.bias", i);
            push(&l, p, 2, H, H, "h.%d.attn.c_proj.weight", i);
            push(&l, p, 1, H, 0, "h.%d.attn.c_proj.bias", i);
            push(&l, p, 4, 1, 1, "h.%d.attn.bias", i); /* causal-mask buffer, ignored */
            l.t[l.n - 1].shape[2] = l.t[l.n - 1].shape[3] = (uint64_t)m->length;
            push(&l, p, 1, H, 0, "h.%d.ln_2.weight", i);
            push(&l, p, 1, H, 0, "h.%d.ln_2.bias", i);
            push(&l, p, 2, H, 4 * H, "h.%d.mlp.c_fc.weight", i);
            push(&l, p, 1, 4 * H, 0, "h.%d.mlp.c_fc.bias", i);
            push(&l, p, 2, 4 * H, H, "h.%d.mlp.c_proj.weight", i);
            push(&l, p, 1, H, 0, "h.%d.mlp.c_proj.bias", i);
        }
        push(&l, p, 1, H, 0, "ln_f.weight", 0);
        push(&l, p, 1, H, 0, "ln_f.bias", 0);
        if (m->lm_head)
            push(&l, "", 2, V, H, "lm_head.weight", 0);
    }
    *out = l.t;
    return l.n;
}

int testutil_write_config(const char *dir, const testutil_model *m, const char *extra) {
    char path[4096], text[2048];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!strcmp(m->arch, "bd3lm"))
        snprintf(text, sizeof text,
                 "{\n  \"architectures\": [\"BD3LM\"],\n  \"model_type\": \"bd3lm\",\n"
                 "  \"auto_map\": {\"AutoConfig\": \"configuration_bd3lm.BD3LMConfig\"},\n"
                 "  \"attn_backend\": \"sdpa\",\n  \"block_size\": %d,\n  \"cond_dim\": %d,\n"
                 "  \"cross_attn\": true,\n  \"dropout\": 0.1,\n  \"hidden_dim\": %d,\n"
                 "  \"model_length\": %d,\n  \"n_blocks\": %d,\n  \"n_heads\": %d,\n"
                 "  \"return_dict\": false,\n  \"sampling_eps_max\": 0.999,\n"
                 "  \"sampling_eps_min\": 0.001,\n  \"time_conditioning\": false,\n"
                 "  \"torch_dtype\": \"float32\",\n  \"var_min\": true,\n  \"vocab_size\": %d%s%s\n}\n",
                 m->block, m->cond, m->hidden, m->length, m->layers, m->heads, m->vocab,
                 extra ? ",\n  " : "", extra ? extra : "");
    else
        snprintf(text, sizeof text,
                 "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
                 "  \"activation_function\": \"gelu_new\",\n  \"n_embd\": %d,\n  \"n_layer\": %d,\n"
                 "  \"n_head\": %d,\n  \"n_positions\": %d,\n  \"n_ctx\": %d,\n  \"n_inner\": null,\n"
                 "  \"layer_norm_epsilon\": 1e-05,\n  \"vocab_size\": %d%s%s\n}\n",
                 m->hidden, m->layers, m->heads, m->length, m->length, m->vocab,
                 extra ? ",\n  " : "", extra ? extra : "");
    return testutil_write_file(path, text, strlen(text));
}

int testutil_write_model(const char *dir, const testutil_model *m, int shards) {
    testutil_tensor *t;
    size_t n = testutil_model_tensors(m, &t);
    char path[4096];
    int rc = n ? testutil_write_config(dir, m, NULL) : -1;
    if (shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = rc ? rc : testutil_write_safetensors(path, t, n);
        free(t);
        return rc;
    }
    /* contiguous runs of tensors per shard, plus the index */
    size_t cap = 128 + n * 160, len = 0, at = 0;
    char *idx = malloc(cap);
    if (!idx) {
        free(t);
        return -1;
    }
    len += (size_t)snprintf(idx, cap, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int s = 0; s < shards; s++) {
        size_t end = n * (size_t)(s + 1) / (size_t)shards;
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = rc ? rc : testutil_write_safetensors(path, t + at, end - at);
        for (; at < end; at++)
            len += (size_t)snprintf(idx + len, cap - len, "%s\"%s\": \"%s\"", at ? ", " : "",
                                    t[at].name, name);
    }
    snprintf(idx + len, cap - len, "}}\n");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    rc = rc ? rc : testutil_write_file(path, idx, strlen(idx));
    free(idx);
    free(t);
    return rc;
}

int testutil_write_generator(const char *dir, const testutil_model *m) {
    char to[4096];
    snprintf(to, sizeof to, "%s/tokenizer.json", dir);
    if (testutil_write_model(dir, m, 1) != 0)
        return -1;
    return testutil_copy_file(DIDCL_TEST_SRCDIR "/../models/tokenizer.json", to);
}

int testutil_copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    FILE *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        ok &= !ferror(in), fclose(in);
    if (out)
        ok &= fclose(out) == 0;
    return ok ? 0 : -1;
}

/*
 * check_model.c — the device forward pass (src/model.c) against the PyTorch reference
 * (tools/reference.py on the configure-detected PYTHON_TORCH): tiny random models in the
 * exact HF layouts, written by the reference, then logits compared row by row in every
 * mode (BD3-LM global, block-causal, cached block step built with store-KV, the 2L score
 * pass; GPT-2 causal), with time conditioning off and on, fp32 and half weights.
 * Tolerances: fp32 |got - want| <= 1e-4 on logits; half weights 1e-4 against the
 * reference given the same half-rounded weights, 0.01 against the unrounded fp32 model.
 * The suite skips (77) without an OpenCL device or without Python + torch.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "runtime.h"
#include "sampler.h"
#include "testutil.h"

#ifndef DIDCL_REFERENCE_PY
#define DIDCL_REFERENCE_PY DIDCL_TEST_SRCDIR "/../tools/reference.py"
#endif

#define OK(call) ck_assert_msg((call) == DIDCL_OK, "%s: %s", #call, didcl_last_error())

#define V_TINY 97
#define L_TINY 32

static didcl_runtime_t rt;
static char *tmp;

static void setup(void) {
    rt = testutil_runtime_or_skip();
    tmp = testutil_tmpdir();
}

static void teardown(void) {
    didcl_runtime_free(rt);
    rt = NULL;
    testutil_rmtree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------------------------
 * Reference runs: jobs collected into one JSON list, run by one Python process
 * ------------------------------------------------------------------------------------ */

static const char *python(void) { return testutil_python_torch(); }

/* tools/reference.py: beside $DIDCL_TEST_SRCDIR when set (a tree moved elsewhere), else
 * the path configure saw. */
static const char *reference_py(void) {
    static char path[4096];
    const char *src = getenv("DIDCL_TEST_SRCDIR");
    if (!src || !*src)
        return DIDCL_REFERENCE_PY;
    snprintf(path, sizeof path, "%s/../tools/reference.py", src);
    return path;
}

static char jobs[1 << 16];
static size_t jobs_len;

static void job_begin(void) {
    jobs_len = (size_t)snprintf(jobs, sizeof jobs, "[");
}

/* Append one job: a space-separated argument string (no quotes inside arguments). */
static void job_add(const char *fmt, ...) {
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    jobs_len += (size_t)snprintf(jobs + jobs_len, sizeof jobs - jobs_len, "%s[",
                                 jobs_len > 1 ? "," : "");
    int first = 1;
    for (char *tok = strtok(line, " "); tok; tok = strtok(NULL, " ")) {
        jobs_len += (size_t)snprintf(jobs + jobs_len, sizeof jobs - jobs_len, "%s\"%s\"",
                                     first ? "" : ",", tok);
        first = 0;
    }
    jobs_len += (size_t)snprintf(jobs + jobs_len, sizeof jobs - jobs_len, "]");
    ck_assert_uint_lt(jobs_len, sizeof jobs - 16);
}

/* Run the collected jobs; stdout of the reference goes to tmp/ref.out. */
static void job_run(void) {
    snprintf(jobs + jobs_len, sizeof jobs - jobs_len, "]");
    char path[4200], cmd[9000];
    snprintf(path, sizeof path, "%s/jobs.json", tmp);
    ck_assert_int_eq(testutil_write_file(path, jobs, strlen(jobs)), 0);
    snprintf(cmd, sizeof cmd, "'%s' '%s' jobs '%s' > '%s/ref.out'", python(),
             reference_py(), path, tmp);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

static void write_model(const char *name, const char *extra) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "'%s' '%s' write %s '%s/%s' > /dev/null", python(),
             reference_py(), extra, tmp, name);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* "1 2 3" from ids */
static char *ids_str(const int32_t *ids, int n) {
    static char buf[4][8192];
    static int which;
    char *s = buf[which++ % 4];
    size_t len = 0;
    s[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, 8192 - len, "%s%d", i ? " " : "", (int)ids[i]);
    return s;
}

static float *read_f32(const char *name, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: missing (did reference.py fail?)", path);
    float *a = malloc(n * sizeof *a);
    ck_assert_msg(fread(a, sizeof *a, n, f) == n && fgetc(f) == EOF, "%s: expected %zu floats",
                  path, n);
    fclose(f);
    return a;
}

static didcl_model_t open_model(const char *name, int half, uint32_t max_tokens) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    didcl_model_files_t files;
    OK(didcl_model_files_open(dir, &files));
    didcl_model_options opt = {half, max_tokens, 0};
    didcl_model_t m;
    OK(didcl_model_open(rt, files, &opt, &m));
    didcl_model_files_free(files);
    return m;
}

/* Logits rows [first, first+count) of the last forward, malloc'd. */
static float *rows(didcl_model_t m, uint32_t first, uint32_t count, enum didcl_rows_kind kind) {
    const size_t V = didcl_model_get_config(m)->vocab_size;
    float *a = malloc((size_t)count * V * sizeof *a);
    OK(didcl_model_rows(m, first, count, kind, a));
    return a;
}

static void random_ids(int32_t *ids, int n, int vocab, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 12345u;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (int32_t)((s >> 8) % (uint32_t)vocab);
    }
}

static didcl_forward fwd(enum didcl_forward_mode mode, const int32_t *ids, uint32_t n,
                         uint32_t start, uint32_t block, const int32_t *x0, float sigma) {
    didcl_forward f = {mode, ids, n, start, block, x0, sigma, NULL, NULL};
    return f;
}

/* Fill the cache with store-KV passes of blocks of B over ids[0, upto). */
static void store_blocks(didcl_model_t m, const int32_t *ids, int upto, int B, float sigma) {
    didcl_model_reset(m);
    for (int s = 0; s < upto; s += B) {
        didcl_forward f = fwd(DIDCL_FORWARD_STORE_KV, ids + s, (uint32_t)B, (uint32_t)s, 0, NULL, sigma);
        OK(didcl_model_forward(m, &f));
    }
    ck_assert_uint_eq(didcl_model_cached(m), (uint32_t)upto);
    ck_assert_uint_eq(didcl_model_logit_rows(m), 0);
}

/* ------------------------------------------------------------------------------------
 * BD3-LM
 * ------------------------------------------------------------------------------------ */

START_TEST(test_bd3lm_global) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 1");
    int32_t ids[L_TINY];
    random_ids(ids, L_TINY, V_TINY, 1);
    ids[3] = ids[17] = V_TINY - 1; /* a few [MASK] tokens */
    job_begin();
    job_add("logits --model %s/b --mode global --ids %s --out %s/g.f32", tmp, ids_str(ids, L_TINY), tmp);
    job_add("logits --model %s/b --mode global --block 4 --ids %s --out %s/bc.f32", tmp,
            ids_str(ids, L_TINY), tmp);
    job_add("logits --model %s/b --mode global --block 8 --ids %s --logprobs --out %s/lp.f32", tmp,
            ids_str(ids, 20), tmp);
    job_run();

    didcl_model_t m = open_model("b", 0, 0);
    didcl_forward f = fwd(DIDCL_FORWARD_GLOBAL, ids, L_TINY, 0, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    ck_assert_uint_eq(didcl_model_logit_rows(m), L_TINY);
    float *got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS), *want = read_f32("g.f32", L_TINY * V_TINY);
    CK_TENSOR("bd3lm global L=32", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    free(got); free(want);

    f.block = 4;
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS);
    want = read_f32("bc.f32", L_TINY * V_TINY);
    CK_TENSOR("bd3lm block-causal B=4", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    free(got);

    /* only some rows wanted: the output layer runs on them, packed in order */
    uint8_t flags[L_TINY] = {0};
    static const int sel[] = {1, 2, 5, 17, 30, 31};
    for (int i = 0; i < 6; i++)
        flags[sel[i]] = 1;
    f.want = flags;
    OK(didcl_model_forward(m, &f));
    ck_assert_uint_eq(didcl_model_logit_rows(m), 6);
    got = rows(m, 0, 6, DIDCL_ROWS_LOGITS);
    for (int i = 0; i < 6; i++)
        CK_TENSOR("bd3lm wanted rows", got + i * V_TINY, want + sel[i] * V_TINY, V_TINY, 1e-4, 0.0);
    memset(flags, 0, sizeof flags);
    OK(didcl_model_forward(m, &f));
    ck_assert_uint_eq(didcl_model_logit_rows(m), 0);
    f.want = NULL;
    free(got); free(want);

    /* a shorter sequence, block-causal 8 (last block partial), read as log-probs */
    f = fwd(DIDCL_FORWARD_GLOBAL, ids, 20, 0, 8, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    want = read_f32("lp.f32", 20 * V_TINY);
    got = rows(m, 3, 17, DIDCL_ROWS_LOGPROBS);
    CK_TENSOR("bd3lm log-probs rows 3..19", got, want + 3 * V_TINY, 17 * V_TINY, 1e-4, 0.0);
    ck_assert(isinf(got[V_TINY - 1]) && got[V_TINY - 1] < 0); /* [MASK] left out */
    /* one gathered log-prob per row equals the full row's entry */
    int32_t tgt[20];
    float lp[20];
    for (int i = 0; i < 20; i++)
        tgt[i] = i == 5 ? -1 : ids[(i * 7) % 20] % (V_TINY - 1);
    OK(didcl_model_token_logprobs(m, 0, 20, tgt, lp));
    for (int i = 0; i < 20; i++) {
        float w = tgt[i] < 0 ? 0.0f : want[i * V_TINY + tgt[i]];
        ck_assert_msg(fabsf(lp[i] - w) <= 1e-4f, "token logprob row %d: got %g want %g", i, lp[i], w);
    }
    tgt[0] = V_TINY - 1;
    OK(didcl_model_token_logprobs(m, 0, 1, tgt, lp));
    ck_assert(isinf(lp[0]) && lp[0] < 0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

/* The cached step: store-KV block by block, then a block step at start; equal to the
 * reference's block-causal forward and to the engine's own uncached computation. */
START_TEST(test_bd3lm_cached) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 2");
    int32_t ids[L_TINY], ids2[L_TINY];
    random_ids(ids, L_TINY, V_TINY - 1, 2);
    memcpy(ids2, ids, sizeof ids);
    ids[21] = ids[23] = V_TINY - 1; /* the current block, partly masked */
    ids2[20] = ids2[21] = ids2[22] = V_TINY - 1;
    job_begin();
    job_add("logits --model %s/b --mode block --start 20 --B 4 --ids %s --out %s/s20.f32", tmp,
            ids_str(ids, 24), tmp);
    job_add("logits --model %s/b --mode block --start 20 --B 4 --ids %s --out %s/s20b.f32", tmp,
            ids_str(ids2, 24), tmp);
    job_add("logits --model %s/b --mode block --start 28 --B 4 --ids %s --out %s/s28.f32", tmp,
            ids_str(ids, 32), tmp);
    job_add("logits --model %s/b --mode block --start 0 --B 4 --ids %s --out %s/s0.f32", tmp,
            ids_str(ids, 4), tmp);
    job_run();

    didcl_model_t m = open_model("b", 0, 0);
    /* first block: nothing cached */
    didcl_forward f = fwd(DIDCL_FORWARD_BLOCK, ids, 4, 0, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    float *got = rows(m, 0, 4, DIDCL_ROWS_LOGITS), *want = read_f32("s0.f32", 4 * V_TINY);
    CK_TENSOR("bd3lm block step start 0", got, want, 4 * V_TINY, 1e-4, 0.0);
    free(got); free(want);

    store_blocks(m, ids, 20, 4, 0.0f);
    f = fwd(DIDCL_FORWARD_BLOCK, ids + 20, 4, 20, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    float *step = rows(m, 0, 4, DIDCL_ROWS_LOGITS);
    want = read_f32("s20.f32", 4 * V_TINY);
    CK_TENSOR("bd3lm block step start 20 vs torch", step, want, 4 * V_TINY, 1e-4, 0.0);
    free(want);
    ck_assert_uint_eq(didcl_model_cached(m), 20); /* a step does not extend the cache */

    /* another step on the same cache with other masks */
    f.ids = ids2 + 20;
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, 4, DIDCL_ROWS_LOGITS);
    want = read_f32("s20b.f32", 4 * V_TINY);
    CK_TENSOR("bd3lm second step start 20", got, want, 4 * V_TINY, 1e-4, 0.0);
    free(got); free(want);

    /* the engine's uncached block-causal pass over the same 24 tokens */
    f = fwd(DIDCL_FORWARD_GLOBAL, ids, 24, 0, 4, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    got = rows(m, 20, 4, DIDCL_ROWS_LOGITS);
    CK_TENSOR("bd3lm cached step vs uncached (engine)", step, got, 4 * V_TINY, 2e-5, 0.0);
    free(got); free(step);
    ck_assert_uint_eq(didcl_model_cached(m), 20); /* global passes leave the cache alone */

    /* continue to the last block of the context */
    f = fwd(DIDCL_FORWARD_STORE_KV, ids + 20, 4, 20, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    f.ids = ids + 24, f.start = 24;
    OK(didcl_model_forward(m, &f));
    f = fwd(DIDCL_FORWARD_BLOCK, ids + 28, 4, 28, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, 4, DIDCL_ROWS_LOGITS);
    want = read_f32("s28.f32", 4 * V_TINY);
    CK_TENSOR("bd3lm block step start 28", got, want, 4 * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

START_TEST(test_bd3lm_score) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 3");
    int32_t x0[L_TINY], xt[L_TINY];
    random_ids(x0, L_TINY, V_TINY - 1, 3);
    memcpy(xt, x0, sizeof xt);
    for (int i = 0; i < L_TINY; i += 3)
        xt[i] = V_TINY - 1;
    static const int blocks[] = {4, 8, 5, 32, 1};
    const int nb = (int)(sizeof blocks / sizeof blocks[0]);
    job_begin();
    for (int i = 0; i < nb; i++)
        job_add("logits --model %s/b --mode score --block %d --xt %s --x0 %s --out %s/sc%d.f32",
                tmp, blocks[i], ids_str(xt, L_TINY), ids_str(x0, L_TINY), tmp, blocks[i]);
    job_add("logits --model %s/b --mode score --block 4 --xt %s --x0 %s --out %s/short.f32", tmp,
            ids_str(xt, 18), ids_str(x0, 18), tmp);
    job_run();

    didcl_model_t m = open_model("b", 0, 0);
    char label[64], name[32];
    for (int i = 0; i < nb; i++) {
        didcl_forward f = fwd(DIDCL_FORWARD_SCORE, xt, L_TINY, 0, (uint32_t)blocks[i], x0, 0.0f);
        OK(didcl_model_forward(m, &f));
        ck_assert_uint_eq(didcl_model_logit_rows(m), L_TINY);
        float *got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS);
        snprintf(name, sizeof name, "sc%d.f32", blocks[i]);
        float *want = read_f32(name, L_TINY * V_TINY);
        snprintf(label, sizeof label, "bd3lm score 2L block %d", blocks[i]);
        CK_TENSOR(label, got, want, L_TINY * V_TINY, 1e-4, 0.0);
        free(got); free(want);
    }
    didcl_forward f = fwd(DIDCL_FORWARD_SCORE, xt, 18, 0, 4, x0, 0.0f);
    OK(didcl_model_forward(m, &f));
    float *got = rows(m, 0, 18, DIDCL_ROWS_LOGITS), *want = read_f32("short.f32", 18 * V_TINY);
    CK_TENSOR("bd3lm score n=18 block 4", got, want, 18 * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

/* Longer than one attention chunk (ATTN_CHUNK = 256 queries): a score pass of 2 x 160
 * rows runs the wide path in two chunks (256 + 64), a global pass of 160 in one. */
START_TEST(test_bd3lm_chunked_attention) {
    write_model("c", "--arch bd3lm --layers 1 --hidden 32 --heads 2 --vocab 50 --length 160 "
                     "--block 16 --cond 8 --seed 11");
    enum { N = 160, V = 50 };
    int32_t x0[N], xt[N];
    random_ids(x0, N, V - 1, 11);
    memcpy(xt, x0, sizeof xt);
    for (int i = 0; i < N; i += 4)
        xt[i] = V - 1;
    job_begin();
    job_add("logits --model %s/c --mode score --block 16 --xt %s --x0 %s --out %s/s.f32", tmp,
            ids_str(xt, N), ids_str(x0, N), tmp);
    job_add("logits --model %s/c --mode global --block 16 --ids %s --out %s/g.f32", tmp,
            ids_str(xt, N), tmp);
    job_run();
    didcl_model_t m = open_model("c", 0, 0);
    ck_assert_uint_gt(m->rows, ATTN_CHUNK);
    didcl_forward f = fwd(DIDCL_FORWARD_SCORE, xt, N, 0, 16, x0, 0.0f);
    OK(didcl_model_forward(m, &f));
    float *got = rows(m, 0, N, DIDCL_ROWS_LOGITS), *want = read_f32("s.f32", N * V);
    CK_TENSOR("bd3lm score 2x160 rows (two chunks)", got, want, N * V, 1e-4, 0.0);
    free(got); free(want);
    f = fwd(DIDCL_FORWARD_GLOBAL, xt, N, 0, 16, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, N, DIDCL_ROWS_LOGITS);
    want = read_f32("g.f32", N * V);
    CK_TENSOR("bd3lm block-causal 160 rows", got, want, N * V, 1e-4, 0.0);
    /* log-probs of all 160 rows (statistics read in chunks) against the host's */
    float *lp = rows(m, 0, N, DIDCL_ROWS_LOGPROBS);
    for (int r = 0; r < N; r++) {
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < V - 1; i++)
            mx = fmax(mx, got[r * V + i]);
        for (int i = 0; i < V - 1; i++)
            sum += exp(got[r * V + i] - mx);
        for (int i = 0; i < V - 1; i++)
            want[r * V + i] = (float)(got[r * V + i] - mx - log(sum));
        want[r * V + V - 1] = -INFINITY;
    }
    CK_TENSOR("bd3lm log-probs 160 rows vs host", lp, want, N * V, 1e-5, 0.0);
    free(lp); free(got); free(want);
    didcl_model_free(m);
}
END_TEST

/* A checkpoint stored in bfloat16 and sharded (what a real export may be): the engine
 * widens it exactly, so it matches the reference reading the same files. */
START_TEST(test_bd3lm_bf16_sharded) {
    write_model("s", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 12 --dtype BF16 --shard-bytes 60000");
    char path[4200];
    snprintf(path, sizeof path, "%s/s/model.safetensors.index.json", tmp);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: expected a sharded checkpoint", path);
    fclose(f);
    int32_t ids[L_TINY];
    random_ids(ids, L_TINY, V_TINY, 12);
    job_begin();
    job_add("logits --model %s/s --mode global --block 4 --ids %s --out %s/g.f32", tmp,
            ids_str(ids, L_TINY), tmp);
    job_run();
    didcl_model_t m = open_model("s", 0, 0);
    didcl_forward fw = fwd(DIDCL_FORWARD_GLOBAL, ids, L_TINY, 0, 4, NULL, 0.0f);
    OK(didcl_model_forward(m, &fw));
    float *got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS), *want = read_f32("g.f32", L_TINY * V_TINY);
    CK_TENSOR("bd3lm bf16 sharded checkpoint", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

START_TEST(test_bd3lm_time_conditioning) {
    write_model("t", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 4 --time-cond");
    int32_t x0[L_TINY], xt[L_TINY];
    random_ids(x0, L_TINY, V_TINY - 1, 4);
    memcpy(xt, x0, sizeof xt);
    for (int i = 1; i < L_TINY; i += 2)
        xt[i] = V_TINY - 1;
    job_begin();
    job_add("logits --model %s/t --mode global --sigma 0.7 --ids %s --out %s/g.f32", tmp,
            ids_str(xt, L_TINY), tmp);
    job_add("logits --model %s/t --mode global --ids %s --out %s/g0.f32", tmp, ids_str(xt, L_TINY), tmp);
    job_add("logits --model %s/t --mode score --block 4 --sigma 1.3 --xt %s --x0 %s --out %s/s.f32",
            tmp, ids_str(xt, L_TINY), ids_str(x0, L_TINY), tmp);
    job_add("logits --model %s/t --mode block --start 12 --B 4 --sigma 0.7 --ids %s --out %s/b.f32",
            tmp, ids_str(xt, 16), tmp);
    job_run();

    didcl_model_t m = open_model("t", 0, 0);
    didcl_forward f = fwd(DIDCL_FORWARD_GLOBAL, xt, L_TINY, 0, 0, NULL, 0.7f);
    OK(didcl_model_forward(m, &f));
    float *got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS), *want = read_f32("g.f32", L_TINY * V_TINY);
    CK_TENSOR("bd3lm time-cond global sigma 0.7", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    float *want0 = read_f32("g0.f32", L_TINY * V_TINY);
    double diff = 0.0;
    for (int i = 0; i < L_TINY * V_TINY; i++)
        diff = fmax(diff, fabs((double)got[i] - want0[i]));
    ck_assert_msg(diff > 1e-2, "sigma 0.7 vs 0: logits differ by at most %g, expected an effect", diff);
    free(got); free(want);
    f.sigma = 0.0f;
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS);
    CK_TENSOR("bd3lm time-cond global sigma 0", got, want0, L_TINY * V_TINY, 1e-4, 0.0);
    free(got); free(want0);

    f = fwd(DIDCL_FORWARD_SCORE, xt, L_TINY, 0, 4, x0, 1.3f);
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS);
    want = read_f32("s.f32", L_TINY * V_TINY);
    CK_TENSOR("bd3lm time-cond score sigma 1.3", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    free(got); free(want);

    store_blocks(m, xt, 12, 4, 0.7f);
    f = fwd(DIDCL_FORWARD_BLOCK, xt + 12, 4, 12, 0, NULL, 0.7f);
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, 4, DIDCL_ROWS_LOGITS);
    want = read_f32("b.f32", 4 * V_TINY);
    CK_TENSOR("bd3lm time-cond block step sigma 0.7", got, want, 4 * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

START_TEST(test_bd3lm_half_weights) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 5");
    int32_t ids[L_TINY];
    random_ids(ids, L_TINY, V_TINY, 5);
    job_begin();
    job_add("logits --model %s/b --mode global --half-weights --ids %s --out %s/h.f32", tmp,
            ids_str(ids, L_TINY), tmp);
    job_add("logits --model %s/b --mode global --ids %s --out %s/f.f32", tmp, ids_str(ids, L_TINY), tmp);
    job_add("logits --model %s/b --mode block --half-weights --start 8 --B 4 --ids %s --out %s/hb.f32",
            tmp, ids_str(ids, 12), tmp);
    job_run();

    didcl_model_t m = open_model("b", 1, 0);
    ck_assert_int_eq(m->wt, DIDCL_WTYPE_F16);
    didcl_forward f = fwd(DIDCL_FORWARD_GLOBAL, ids, L_TINY, 0, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    float *got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS);
    float *want = read_f32("h.f32", L_TINY * V_TINY), *full = read_f32("f.f32", L_TINY * V_TINY);
    CK_TENSOR("bd3lm half weights vs torch (rounded)", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    CK_TENSOR("bd3lm half weights vs torch fp32", got, full, L_TINY * V_TINY, 1e-2, 0.0);
    free(got); free(want); free(full);

    store_blocks(m, ids, 8, 4, 0.0f);
    f = fwd(DIDCL_FORWARD_BLOCK, ids + 8, 4, 8, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, 4, DIDCL_ROWS_LOGITS);
    want = read_f32("hb.f32", 4 * V_TINY);
    CK_TENSOR("bd3lm half weights block step", got, want, 4 * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * GPT-2
 * ------------------------------------------------------------------------------------ */

START_TEST(test_gpt2_causal) {
    write_model("g", "--arch gpt2 --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 --seed 6");
    int32_t ids[L_TINY];
    random_ids(ids, L_TINY, V_TINY, 6);
    job_begin();
    job_add("logits --model %s/g --mode causal --ids %s --out %s/c.f32", tmp, ids_str(ids, L_TINY), tmp);
    job_add("logits --model %s/g --mode causal --ids %s --logprobs --out %s/c9.f32", tmp,
            ids_str(ids, 9), tmp);
    job_add("logits --model %s/g --mode causal --half-weights --ids %s --out %s/h.f32", tmp,
            ids_str(ids, L_TINY), tmp);
    job_run();

    didcl_model_t m = open_model("g", 0, 0);
    didcl_forward f = fwd(DIDCL_FORWARD_CAUSAL, ids, L_TINY, 0, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    float *got = rows(m, 0, L_TINY, DIDCL_ROWS_LOGITS), *want = read_f32("c.f32", L_TINY * V_TINY);
    CK_TENSOR("gpt2 causal L=32", got, want, L_TINY * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    f.n = 9;
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, 9, DIDCL_ROWS_LOGPROBS);
    want = read_f32("c9.f32", 9 * V_TINY);
    CK_TENSOR("gpt2 causal log-probs n=9", got, want, 9 * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);

    m = open_model("g", 1, 16);
    ck_assert_uint_eq(didcl_model_max_tokens(m), 16);
    f.n = 16;
    OK(didcl_model_forward(m, &f));
    got = rows(m, 0, 16, DIDCL_ROWS_LOGITS);
    want = read_f32("h.f32", L_TINY * V_TINY); /* causal: the first 16 rows are the same */
    CK_TENSOR("gpt2 half weights", got, want, 16 * V_TINY, 1e-4, 0.0);
    free(got); free(want);
    didcl_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Scoring (src/score.c)
 * ------------------------------------------------------------------------------------ */

/* The number after "key": in tmp/ref.out's line `line` (0-based) of JSON output. */
static double ref_value(int line, const char *key) {
    char path[4200], buf[4096], pat[64];
    snprintf(path, sizeof path, "%s/ref.out", tmp);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i <= line; i++)
        ck_assert_msg(fgets(buf, sizeof buf, f) != NULL, "%s: no line %d", path, line);
    fclose(f);
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(buf, pat);
    ck_assert_msg(p != NULL, "%s line %d: no %s in %s", path, line, key, buf);
    return strtod(p + strlen(pat), NULL);
}

START_TEST(test_nelbo_fixed) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 7");
    enum { N = 45 }; /* two windows: 32 + 13 tokens (a shorter last block) */
    int32_t x0[N];
    random_ids(x0, N, V_TINY - 1, 7);
    const uint32_t nb = didcl_score_blocks(N, L_TINY, 4);
    ck_assert_uint_eq(nb, 8 + 4);
    uint8_t mask_a[N], mask_b[N];
    double t_a[16], t_b[16];
    float t_b32[16];
    didcl_score_draw(N, L_TINY, 4, 11, 0, 0.5, 1e-3, mask_a, t_a);
    didcl_score_draw(N, L_TINY, 4, 12, 3, 0.0, 1e-3, mask_b, t_b);
    int na = 0;
    for (int i = 0; i < N; i++)
        na += mask_a[i];
    ck_assert_msg(na > 10 && na < 35, "t = 0.5 masked %d of %d tokens", na, N);
    for (uint32_t b = 0; b < nb; b++) {
        ck_assert(t_a[b] == 0.5);
        ck_assert(t_b[b] >= 1e-3 && t_b[b] < 1.0);
        t_b[b] = t_b32[b] = (float)t_b[b]; /* the reference reads float32 */
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/ma.u8", tmp);
    ck_assert_int_eq(testutil_write_file(path, mask_a, N), 0);
    snprintf(path, sizeof path, "%s/mb.u8", tmp);
    ck_assert_int_eq(testutil_write_file(path, mask_b, N), 0);
    snprintf(path, sizeof path, "%s/tb.f32", tmp);
    ck_assert_int_eq(testutil_write_file(path, t_b32, nb * sizeof(float)), 0);
    job_begin();
    job_add("nelbo --model %s/b --block 4 --x0 %s --mask-file %s/ma.u8 --t 0.5", tmp, ids_str(x0, N), tmp);
    job_add("nelbo --model %s/b --block 4 --x0 %s --mask-file %s/mb.u8 --t-file %s/tb.f32", tmp,
            ids_str(x0, N), tmp, tmp);
    job_run();

    didcl_model_t m = open_model("b", 0, 0);
    double got_a, got_b;
    OK(didcl_score_nelbo(m, x0, N, 4, mask_a, t_a, &got_a));
    OK(didcl_score_nelbo(m, x0, N, 4, mask_b, t_b, &got_b));
    const double want_a = ref_value(0, "nelbo"), want_b = ref_value(1, "nelbo");
    fprintf(stderr, "nelbo fixed t=0.5: %.8f (torch %.8f); drawn t: %.8f (torch %.8f)\n", got_a,
            want_a, got_b, want_b);
    ck_assert_msg(fabs(got_a - want_a) <= 1e-4 * fabs(want_a), "NELBO t=0.5 %g vs %g", got_a, want_a);
    ck_assert_msg(fabs(got_b - want_b) <= 1e-4 * fabs(want_b), "NELBO drawn t %g vs %g", got_b, want_b);

    /* didcl_score in fixed-t mode is that draw */
    didcl_score_options so = {4, 1, 11, 0.5, 0.0};
    didcl_score_result r;
    OK(didcl_score(m, x0, N, &so, &r));
    ck_assert(r.nll == got_a);
    ck_assert_uint_eq(r.tokens, N);
    ck_assert_uint_eq(r.windows, 2);
    ck_assert(r.se == 0.0);
    ck_assert(fabs(r.ppl - exp(got_a)) < 1e-9 * r.ppl);
    didcl_model_free(m);
}
END_TEST

START_TEST(test_nelbo_monte_carlo) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 8");
    int32_t x0[L_TINY];
    random_ids(x0, L_TINY, V_TINY - 1, 8);
    job_begin();
    job_add("mc --model %s/b --block 4 --x0 %s --samples 400 --seed 5", tmp, ids_str(x0, L_TINY));
    job_run();
    didcl_model_t m = open_model("b", 0, 0);
    didcl_score_options so = {4, 64, 9, 0.0, 0.0};
    didcl_score_result r;
    OK(didcl_score(m, x0, L_TINY, &so, &r));
    const double want = ref_value(0, "nelbo"), want_se = ref_value(0, "se");
    const double tol = 4.0 * sqrt(r.se * r.se + want_se * want_se);
    fprintf(stderr, "nelbo MC: %.5f +- %.5f (64 draws) vs torch %.5f +- %.5f (400 draws)\n", r.nll,
            r.se, want, want_se);
    ck_assert_uint_eq(r.samples, 64);
    ck_assert(r.se > 0.0 && r.se < 0.5 * r.nll);
    ck_assert_msg(fabs(r.nll - want) <= tol, "MC NELBO %g vs %g, beyond 4 standard errors (%g)",
                  r.nll, want, tol);
    /* the same seed gives the same estimate */
    didcl_score_result r2;
    OK(didcl_score(m, x0, L_TINY, &so, &r2));
    ck_assert(r2.nll == r.nll && r2.se == r.se);
    didcl_model_free(m);
}
END_TEST

START_TEST(test_gpt2_nll) {
    write_model("g", "--arch gpt2 --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 --seed 9");
    enum { N = 50 };
    int32_t ids[N];
    random_ids(ids, N, V_TINY, 9);
    job_begin();
    job_add("nll --model %s/g --x0 %s", tmp, ids_str(ids, N));
    job_run();
    didcl_model_t m = open_model("g", 0, 0);
    didcl_score_result r;
    OK(didcl_score(m, ids, N, NULL, &r));
    const double want = ref_value(0, "nll");
    fprintf(stderr, "gpt2 NLL %.8f (torch %.8f)\n", r.nll, want);
    ck_assert_msg(fabs(r.nll - want) <= 1e-5 * fabs(want), "NLL %g vs %g", r.nll, want);
    ck_assert_uint_eq(r.tokens, N - 1);
    ck_assert_uint_eq(r.windows, 2);
    ck_assert_int_eq(didcl_score(m, ids, 1, NULL, &r), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("score: 1 token(s), expected at least 2");
    double v;
    uint8_t mk[4] = {1, 1, 1, 1};
    double tb[1] = {0.5};
    ck_assert_int_eq(didcl_score_nelbo(m, ids, 4, 4, mk, tb, &v), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("score: the NELBO needs a bd3lm model, not gpt2");
    didcl_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * The sampler on the device model (didcl_model_denoiser)
 * ------------------------------------------------------------------------------------ */

START_TEST(test_denoiser_sampler) {
    write_model("b", "--arch bd3lm --layers 2 --hidden 64 --heads 4 --vocab 97 --length 32 "
                     "--block 4 --cond 16 --seed 10");
    didcl_model_t m = open_model("b", 0, 0);
    didcl_denoiser dn;
    OK(didcl_model_denoiser(m, &dn));
    ck_assert_int_eq(dn.vocab, V_TINY);
    ck_assert_int_eq(dn.mask_id, V_TINY - 1);
    ck_assert_int_eq(dn.model_length, L_TINY);
    didcl_gen_options o = didcl_gen_options_default();
    o.length = L_TINY;
    o.seed = 3;
    o.n_revisions = 1;
    o.revisions[0].gamma = 0.25;
    o.revisions[0].block = 0;
    const int32_t prompt[3] = {5, 6, 7};
    didcl_gen_result cached, uncached;
    OK(didcl_sampler_run(&dn, &o, prompt, 3, 0, NULL, &cached));
    o.use_kv_cache = 0;
    OK(didcl_sampler_run(&dn, &o, prompt, 3, 0, NULL, &uncached));
    ck_assert_int_eq(cached.n, L_TINY);
    ck_assert_int_eq(uncached.n, L_TINY);
    /* BD3-LM's cache is exact: the same seed gives the same tokens either way */
    for (int i = 0; i < L_TINY; i++) {
        ck_assert_int_eq(cached.tokens[i], uncached.tokens[i]);
        ck_assert_int_ne(cached.tokens[i], V_TINY - 1);
    }
    ck_assert_int_eq(cached.tokens[1], 5);
    ck_assert_int_eq(cached.stages[0].store_kv, L_TINY / 4 - 1);
    ck_assert_int_eq(cached.stages[1].remasked, 7); /* round(0.25 * 28) */
    ck_assert(cached.stages[0].flops > 0 && cached.stages[1].flops > 0);
    didcl_gen_result_free(&cached);
    didcl_gen_result_free(&uncached);
    didcl_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------------------ */

START_TEST(test_bad_requests) {
    write_model("b", "--arch bd3lm --layers 1 --hidden 32 --heads 2 --vocab 50 --length 16 "
                     "--block 4 --cond 8");
    write_model("g", "--arch gpt2 --layers 1 --hidden 32 --heads 2 --vocab 50 --length 16");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/b", tmp);
    didcl_model_files_t files;
    OK(didcl_model_files_open(dir, &files));
    didcl_model_options big = {0, 17, 0};
    didcl_model_t m = NULL;
    ck_assert_int_eq(didcl_model_open(rt, files, &big, &m), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("max_tokens 17 exceeds the context length 16");
    /* more sequences than the device can hold: refused up front, with the numbers */
    const didcl_device_info *dev = didcl_runtime_device(rt);
    double per_seq = 1.0 * 16 * 2 * 32 * sizeof(float); /* 1 layer, 16 tokens, K and V */
    didcl_model_options many = {0, 0, (uint32_t)((double)dev->global_mem / per_seq) + 1};
    if ((double)many.max_batch * per_seq > (double)dev->global_mem && many.max_batch > 1) {
        ck_assert_int_eq(didcl_model_open(rt, files, &many, &m), DIDCL_ERR_INVALID_ARG);
        ck_assert_last_error_has("of device memory (weights 0.00, KV cache");
        ck_assert_last_error_has("lower the batch (--batch)");
    }
    /* a buffer larger than one allocation may be */
    if (dev->max_alloc < dev->global_mem && dev->max_alloc / per_seq < UINT32_MAX) {
        many.max_batch = (uint32_t)((double)dev->max_alloc / per_seq) + 1;
        if ((double)many.max_batch * per_seq <= (double)dev->global_mem / 2) {
            ck_assert_int_eq(didcl_model_open(rt, files, &many, &m), DIDCL_ERR_INVALID_ARG);
            ck_assert_last_error_has("a layer's KV cache needs");
            ck_assert_last_error_has("(CL_DEVICE_MAX_MEM_ALLOC_SIZE)");
        }
    }
    didcl_model_files_free(files);

    m = open_model("b", 0, 8);
    int32_t ids[16] = {0};
    didcl_forward f = fwd(DIDCL_FORWARD_BLOCK, ids, 4, 4, 0, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward block: start 4, expected the cached length 0");
    f = fwd(DIDCL_FORWARD_GLOBAL, ids, 9, 0, 0, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward global: tokens [0, 9), expected 1 to 8 tokens");
    f = fwd(DIDCL_FORWARD_CAUSAL, ids, 4, 0, 0, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("mode causal does not apply to a bd3lm model");
    f = fwd(DIDCL_FORWARD_SCORE, ids, 4, 0, 4, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward score: expected x0");
    ids[2] = 50;
    f = fwd(DIDCL_FORWARD_GLOBAL, ids, 4, 0, 0, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward: ids[2] = 50, expected 0..49");
    ids[2] = 0;
    OK(didcl_model_forward(m, &f));
    float out[4];
    ck_assert_int_eq(didcl_model_rows(m, 2, 3, DIDCL_ROWS_LOGITS, out), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("model rows: rows [2, 5), expected a non-empty range within the 4 rows");
    f = fwd(DIDCL_FORWARD_STORE_KV, ids, 8, 0, 0, NULL, 0.0f);
    OK(didcl_model_forward(m, &f));
    f = fwd(DIDCL_FORWARD_BLOCK, ids, 4, 8, 0, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("forward block: tokens [8, 12), expected 1 to 8 tokens within max_tokens 8");
    didcl_model_free(m);

    m = open_model("g", 0, 0);
    f = fwd(DIDCL_FORWARD_GLOBAL, ids, 4, 0, 0, NULL, 0.0f);
    ck_assert_int_eq(didcl_model_forward(m, &f), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("mode global does not apply to a gpt2 model");
    didcl_model_free(m);
}
END_TEST

static Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_bd3lm_global);
    tcase_add_test(core, test_bd3lm_cached);
    tcase_add_test(core, test_bd3lm_score);
    tcase_add_test(core, test_bd3lm_chunked_attention);
    tcase_add_test(core, test_bd3lm_bf16_sharded);
    tcase_add_test(core, test_bd3lm_time_conditioning);
    tcase_add_test(core, test_bd3lm_half_weights);
    tcase_add_test(core, test_gpt2_causal);
    tcase_add_test(core, test_nelbo_fixed);
    tcase_add_test(core, test_nelbo_monte_carlo);
    tcase_add_test(core, test_gpt2_nll);
    tcase_add_test(core, test_denoiser_sampler);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_bad_requests);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) {
    if (!*python()) {
        fprintf(stderr, "SKIP: no Python with torch configured\n");
        return 77;
    }
    testutil_skip_without_device();
    return testutil_run(model_suite());
}

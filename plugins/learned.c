/*
 * learned.c — remask plugin "learned": a tiny MLP (F features -> H tanh units -> 1 score)
 * trained by tools/train-remask to predict which draft tokens the evaluator finds worst.
 * It reads only what the ABI already hands every plugin (no extra forward pass): the
 * snapshot confidence, entropy, margin, step and block of each position and of its
 * neighbours. The positions with the highest score are remasked (ties: lower index).
 *
 * Weights: a safetensors file whose __metadata__ says format "didcl-remask-learned",
 * format_version "1" and the comma-separated feature list, which must be exactly
 * learned_features below (docs/plugins.md, "The learned scorer"). Option weights=PATH
 * loads one; without it the bundled plugins/learned.safetensors, compiled in as bytes
 * (learned-weights.h, generated at build time), is used, so the built-in and the .so
 * need no path to find it. Every file, bundled or not, goes through the same checks.
 * Pure C against didcl/remask.h: a minimal JSON reader for the safetensors header lives
 * here, since a plugin links no library.
 */
#include "plugin-util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "learned-weights.h" /* learned_weights[], learned_weights_size */

#define LEARNED_FORMAT "didcl-remask-learned"
#define LEARNED_VERSION "1"
#define LEARNED_WINDOW 4   /* neighbours on each side for nb_conf_mean / nb_conf_min */
#define LEARNED_REPEAT 8   /* neighbours on each side for repeat */
#define LEARNED_DIST_CAP 64 /* distances saturate: the score transfers across lengths */
#define LEARNED_MAX_HIDDEN 256
#define LEARNED_MAX_HEADER (1u << 20)

/* The features, in the order the weights expect (tools/train-remask computes the same). */
enum {
    F_CONF, F_LOG_CONF, F_ENTROPY, F_MARGIN, F_STEP_FRAC, F_BLOCK_POS, F_NB_MEAN, F_NB_MIN,
    F_CONF_PREV, F_CONF_NEXT, F_PROMPT_DIST, F_END_DIST, F_REPEAT, N_FEATURES
};
static const char *const learned_features[N_FEATURES] = {
    "conf", "log_conf", "entropy", "margin", "step_frac", "block_pos", "nb_conf_mean",
    "nb_conf_min", "conf_prev", "conf_next", "prompt_dist", "end_dist", "repeat"};

typedef struct learned_model {
    uint32_t hidden;             /* H */
    float mean[N_FEATURES];      /* feature standardisation: (x - mean) * scale */
    float scale[N_FEATURES];
    float *w1;                   /* [H, F] */
    float *b1;                   /* [H] */
    float *w2;                   /* [1, H] */
    float b2;                    /* [1] */
} learned_model;

typedef struct learned_state {
    learned_model model;
    double *score;               /* [n] scratch, grown on demand */
    uint32_t cap;
} learned_state;

/* ---- safetensors header: just enough JSON ---------------------------------------- */

typedef struct json_cursor {
    const char *p, *end;
} json_cursor;

static void json_ws(json_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int json_eat(json_cursor *c, char ch) {
    json_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A string into buf (escapes \" \\ \/ \n \t and \u00XX; longer ones are refused). */
static int json_string(json_cursor *c, char *buf, size_t size) {
    size_t n = 0;
    if (!json_eat(c, '"'))
        return -1;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch == 't')
                ch = '\t';
            else if (ch == 'u') {
                unsigned v;
                if (c->end - c->p < 4 || sscanf(c->p, "%4x", &v) != 1 || v > 0x7f)
                    return -1;
                ch = (char)v;
                c->p += 4;
            } else if (ch != '"' && ch != '\\' && ch != '/')
                return -1;
        }
        if (n + 1 >= size)
            return -1;
        buf[n++] = ch;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    buf[n] = '\0';
    return 0;
}

/* An array of at most max non-negative integers; returns the count or -1. */
static int json_uints(json_cursor *c, uint64_t *v, int max) {
    int n = 0;
    if (!json_eat(c, '['))
        return -1;
    if (json_eat(c, ']'))
        return 0;
    do {
        json_ws(c);
        if (n == max || c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        uint64_t x = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (x > (UINT64_MAX - 9) / 10)
                return -1;
            x = x * 10 + (uint64_t)(*c->p++ - '0');
        }
        v[n++] = x;
    } while (json_eat(c, ','));
    return json_eat(c, ']') ? n : -1;
}

/* ---- weights file ------------------------------------------------------------------ */

enum { T_MEAN, T_SCALE, T_W1, T_B1, T_W2, T_B2, N_TENSORS };
static const char *const tensor_names[N_TENSORS] = {"mean", "scale", "w1", "b1", "w2", "b2"};

typedef struct tensor_info {
    int seen, ndim;
    uint64_t shape[4], begin, end;
} tensor_info;

typedef struct weights_meta {
    char format[64], version[16], features[1024];
    int has_format, has_version, has_features;
} weights_meta;

#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), -1)

static int parse_metadata(json_cursor *c, weights_meta *m, const char *src, char *err,
                          size_t err_size) {
    char key[64], val[1024];
    if (!json_eat(c, '{'))
        return FAIL("weights %s: __metadata__ is not an object", src);
    if (json_eat(c, '}'))
        return 0;
    do {
        if (json_string(c, key, sizeof key) || !json_eat(c, ':') ||
            json_string(c, val, sizeof val))
            return FAIL("weights %s: __metadata__ must map short keys to strings", src);
        if (!strcmp(key, "format"))
            m->has_format = snprintf(m->format, sizeof m->format, "%s", val) >= 0;
        else if (!strcmp(key, "format_version"))
            m->has_version = snprintf(m->version, sizeof m->version, "%s", val) >= 0;
        else if (!strcmp(key, "features"))
            m->has_features = snprintf(m->features, sizeof m->features, "%s", val) >= 0;
        /* anything else (training provenance, AUCs) is informational */
    } while (json_eat(c, ','));
    return json_eat(c, '}') ? 0 : FAIL("weights %s: __metadata__ is not closed", src);
}

static int parse_tensor(json_cursor *c, tensor_info *t, const char *name, const char *src,
                        char *err, size_t err_size) {
    char key[32], dtype[16] = "";
    uint64_t off[2];
    int have_off = 0;
    if (t->seen)
        return FAIL("weights %s: tensor '%s' appears twice", src, name);
    t->seen = 1;
    if (!json_eat(c, '{'))
        return FAIL("weights %s: tensor '%s' is not an object", src, name);
    do {
        if (json_string(c, key, sizeof key) || !json_eat(c, ':'))
            return FAIL("weights %s: tensor '%s': malformed entry", src, name);
        if (!strcmp(key, "dtype")) {
            if (json_string(c, dtype, sizeof dtype))
                return FAIL("weights %s: tensor '%s': bad dtype", src, name);
        } else if (!strcmp(key, "shape")) {
            if ((t->ndim = json_uints(c, t->shape, 4)) < 0)
                return FAIL("weights %s: tensor '%s': bad shape", src, name);
        } else if (!strcmp(key, "data_offsets")) {
            if (json_uints(c, off, 2) != 2 || off[1] < off[0])
                return FAIL("weights %s: tensor '%s': data_offsets must be [begin, end]", src,
                            name);
            have_off = 1;
        } else
            return FAIL("weights %s: tensor '%s': unknown key '%s'", src, name, key);
    } while (json_eat(c, ','));
    if (!json_eat(c, '}'))
        return FAIL("weights %s: tensor '%s' is not closed", src, name);
    if (strcmp(dtype, "F32"))
        return FAIL("weights %s: tensor '%s' has dtype '%s'; expected F32", src, name, dtype);
    if (!have_off || t->ndim < 0)
        return FAIL("weights %s: tensor '%s' lacks shape or data_offsets", src, name);
    t->begin = off[0];
    t->end = off[1];
    return 0;
}

/* The file's feature list must be learned_features, in order. */
static int check_features(const char *list, const char *src, char *err, size_t err_size) {
    char want[1024] = "";
    for (int f = 0; f < N_FEATURES; f++) {
        strcat(want, learned_features[f]);
        if (f + 1 < N_FEATURES)
            strcat(want, ",");
    }
    if (!strcmp(list, want))
        return 0;
    for (int f = 0; f < N_FEATURES; f++) {
        const char *p = list;
        size_t len = strlen(learned_features[f]);
        int found = 0;
        while (p && !found) {
            found = !strncmp(p, learned_features[f], len) && (p[len] == ',' || !p[len]);
            p = strchr(p, ',');
            p = p ? p + 1 : NULL;
        }
        if (!found)
            return FAIL("weights %s: feature '%s' is missing; expected features %s", src,
                        learned_features[f], want);
    }
    return FAIL("weights %s: features '%s' are not this plugin's; expected exactly %s", src,
                list, want);
}

static float read_f32(const unsigned char *b) {
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Parse and validate a whole weights file held in memory; src names it in errors. */
static int learned_parse(const unsigned char *buf, size_t size, const char *src,
                         learned_model *m, char *err, size_t err_size) {
    if (size < 8)
        return FAIL("weights %s: truncated (%zu bytes); expected a safetensors file", src,
                    size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > LEARNED_MAX_HEADER || hlen > size - 8)
        return FAIL("weights %s: truncated or not safetensors (header of %llu bytes, file "
                    "of %zu)", src, (unsigned long long)hlen, size);
    json_cursor c = {(const char *)buf + 8, (const char *)buf + 8 + hlen};
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = size - 8 - hlen;
    weights_meta meta = {0};
    tensor_info t[N_TENSORS] = {{0}};
    char key[64];
    if (!json_eat(&c, '{'))
        return FAIL("weights %s: header is not a JSON object; expected a safetensors file",
                    src);
    do {
        if (json_string(&c, key, sizeof key) || !json_eat(&c, ':'))
            return FAIL("weights %s: malformed safetensors header", src);
        if (!strcmp(key, "__metadata__")) {
            if (parse_metadata(&c, &meta, src, err, err_size))
                return -1;
            continue;
        }
        int k = 0;
        while (k < N_TENSORS && strcmp(key, tensor_names[k]))
            k++;
        if (k == N_TENSORS)
            return FAIL("weights %s: unexpected tensor '%s'; expected mean, scale, w1, b1, "
                        "w2, b2", src, key);
        if (parse_tensor(&c, &t[k], key, src, err, err_size))
            return -1;
    } while (json_eat(&c, ','));
    if (!json_eat(&c, '}'))
        return FAIL("weights %s: malformed safetensors header", src);

    if (!meta.has_format || strcmp(meta.format, LEARNED_FORMAT))
        return FAIL("weights %s: metadata format '%s'; expected '%s'", src,
                    meta.has_format ? meta.format : "(none)", LEARNED_FORMAT);
    if (!meta.has_version || strcmp(meta.version, LEARNED_VERSION))
        return FAIL("weights %s: format_version '%s'; this plugin reads version %s", src,
                    meta.has_version ? meta.version : "(none)", LEARNED_VERSION);
    if (!meta.has_features)
        return FAIL("weights %s: no 'features' in the metadata", src);
    if (check_features(meta.features, src, err, err_size))
        return -1;

    for (int k = 0; k < N_TENSORS; k++)
        if (!t[k].seen)
            return FAIL("weights %s: tensor '%s' is missing", src, tensor_names[k]);
    uint64_t h = t[T_W1].ndim == 2 ? t[T_W1].shape[0] : 0;
    if (h < 1 || h > LEARNED_MAX_HIDDEN)
        return FAIL("weights %s: w1 must be [H, %d] with 1 <= H <= %d", src, N_FEATURES,
                    LEARNED_MAX_HIDDEN);
    const uint64_t want[N_TENSORS][2] = {{N_FEATURES, 0}, {N_FEATURES, 0}, {h, N_FEATURES},
                                         {h, 0}, {1, h}, {1, 0}};
    for (int k = 0; k < N_TENSORS; k++) {
        int nd = want[k][1] ? 2 : 1;
        if (t[k].ndim != nd || t[k].shape[0] != want[k][0] ||
            (nd == 2 && t[k].shape[1] != want[k][1])) {
            if (nd == 2)
                return FAIL("weights %s: tensor '%s' has the wrong shape; expected [%llu, %llu]",
                            src, tensor_names[k], (unsigned long long)want[k][0],
                            (unsigned long long)want[k][1]);
            return FAIL("weights %s: tensor '%s' has the wrong shape; expected [%llu]", src,
                        tensor_names[k], (unsigned long long)want[k][0]);
        }
        uint64_t numel = want[k][0] * (nd == 2 ? want[k][1] : 1);
        if (t[k].end - t[k].begin != numel * 4)
            return FAIL("weights %s: tensor '%s' holds %llu bytes; its shape needs %llu", src,
                        tensor_names[k], (unsigned long long)(t[k].end - t[k].begin),
                        (unsigned long long)(numel * 4));
        if (t[k].end > data_len)
            return FAIL("weights %s: truncated: tensor '%s' ends at data byte %llu, the file "
                        "has %llu", src, tensor_names[k], (unsigned long long)t[k].end,
                        (unsigned long long)data_len);
    }

    m->hidden = (uint32_t)h;
    m->w1 = malloc((size_t)h * (N_FEATURES + 2) * sizeof(float));
    if (!m->w1)
        return FAIL("weights %s: out of memory", src);
    m->b1 = m->w1 + h * N_FEATURES;
    m->w2 = m->b1 + h;
    float *dst[N_TENSORS] = {m->mean, m->scale, m->w1, m->b1, m->w2, &m->b2};
    for (int k = 0; k < N_TENSORS; k++)
        for (uint64_t i = 0; i < (t[k].end - t[k].begin) / 4; i++) {
            dst[k][i] = read_f32(data + t[k].begin + 4 * i);
            if (!isfinite(dst[k][i])) {
                free(m->w1);
                m->w1 = NULL;
                return FAIL("weights %s: tensor '%s' holds a non-finite value", src,
                            tensor_names[k]);
            }
        }
    return 0;
}

static int learned_load_file(const char *path, learned_model *m, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return FAIL("weights %s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0, got;
    do {
        if (size == cap) {
            unsigned char *nb = cap < (64u << 20) ? realloc(buf, cap ? 2 * cap : 65536) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                return FAIL("weights %s: too large or out of memory", path);
            }
            buf = nb;
            cap = cap ? 2 * cap : 65536;
        }
        got = fread(buf + size, 1, cap - size, f);
        size += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? FAIL("weights %s: read error", path)
                 : learned_parse(buf, size, path, m, err, err_size);
    free(buf);
    return rc;
}

/* ---- features and score ------------------------------------------------------------ */

static double clean(float v) {
    return isfinite(v) ? (double)v : 0.0;
}

static int locked(const didcl_remask_input *in, uint32_t i) {
    return (in->positions[i].flags & DIDCL_REMASK_LOCKED) != 0;
}

static double conf_at(const didcl_remask_input *in, uint32_t i) {
    double c = clean(in->positions[i].confidence);
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

static int same_block(const didcl_remask_position *a, const didcl_remask_position *b) {
    return a->stage == b->stage && a->block == b->block;
}

/* Longest run of unlocked positions committed in one (stage, block): the block size. */
static uint32_t block_len(const didcl_remask_input *in) {
    uint32_t best = 1, run = 0;
    for (uint32_t i = 0; i < in->n; i++) {
        if (locked(in, i))
            run = 0;
        else if (run && same_block(&in->positions[i], &in->positions[i - 1]))
            run++;
        else
            run = 1;
        best = run > best ? run : best;
    }
    return best;
}

/* Features of unlocked position i; run_start is where its (stage, block) run begins. */
static void learned_features_at(const didcl_remask_input *in, uint32_t i, uint32_t run_start,
                                uint32_t run_len, uint32_t blen, uint32_t last_locked,
                                double *x) {
    const didcl_remask_position *p = &in->positions[i];
    double c = conf_at(in, i), denom = blen > 1 ? (double)(blen - 1) : 1.0;
    /* A run cut short by a prompt before it is the end of its block. */
    uint32_t offset = run_len < blen && run_start > 0 && locked(in, run_start - 1)
                          ? blen - run_len : 0;
    x[F_CONF] = c;
    x[F_LOG_CONF] = log(c > 1e-6 ? c : 1e-6);
    x[F_ENTROPY] = clean(p->entropy);
    x[F_MARGIN] = clean(p->margin);
    double step = p->step > 0 ? (double)p->step / denom : 0.0;
    x[F_STEP_FRAC] = step > 1 ? 1 : step;
    x[F_BLOCK_POS] = blen > 1 ? (double)(i - run_start + offset) / denom : 0.0;
    double sum = 0, mn = c; /* with no unlocked neighbour, both fall back to c(i) */
    uint32_t cnt = 0, lo = i > LEARNED_WINDOW ? i - LEARNED_WINDOW : 0;
    for (uint32_t j = lo; j <= i + LEARNED_WINDOW && j < in->n; j++)
        if (j != i && !locked(in, j)) {
            double cj = conf_at(in, j);
            sum += cj;
            mn = cnt == 0 || cj < mn ? cj : mn;
            cnt++;
        }
    x[F_NB_MEAN] = cnt ? sum / cnt : c;
    x[F_NB_MIN] = mn;
    x[F_CONF_PREV] = i > 0 && !locked(in, i - 1) ? conf_at(in, i - 1) : 1.0;
    x[F_CONF_NEXT] = i + 1 < in->n && !locked(in, i + 1) ? conf_at(in, i + 1) : 1.0;
    uint32_t d = last_locked == UINT32_MAX ? i + 1 : i - last_locked;
    x[F_PROMPT_DIST] = log1p(d < LEARNED_DIST_CAP ? d : LEARNED_DIST_CAP);
    uint32_t e = in->n - 1 - i;
    x[F_END_DIST] = log1p(e < LEARNED_DIST_CAP ? e : LEARNED_DIST_CAP);
    uint32_t rep = 0;
    lo = i > LEARNED_REPEAT ? i - LEARNED_REPEAT : 0;
    for (uint32_t j = lo; j <= i + LEARNED_REPEAT && j < in->n; j++)
        rep += j != i && in->positions[j].token == p->token;
    x[F_REPEAT] = (double)rep / (2 * LEARNED_REPEAT);
}

static double learned_score(const learned_model *m, const double *x) {
    double z[N_FEATURES], s = m->b2;
    for (int f = 0; f < N_FEATURES; f++)
        z[f] = (x[f] - m->mean[f]) * m->scale[f];
    for (uint32_t h = 0; h < m->hidden; h++) {
        double a = m->b1[h];
        for (int f = 0; f < N_FEATURES; f++)
            a += m->w1[h * N_FEATURES + f] * z[f];
        s += m->w2[h] * tanh(a);
    }
    return s == s ? s : -HUGE_VAL;
}

/* ---- the plugin -------------------------------------------------------------------- */

static int learned_create(const char *options, const didcl_remask_host *host, void **state,
                          char *err, size_t err_size) {
    static const char *const keys[] = {"weights"};
    char path[4096];
    (void)host;
    if (plugin_check_options(options, keys, 1, "weights=PATH", err, err_size))
        return -1;
    learned_state *s = calloc(1, sizeof *s);
    if (!s)
        return FAIL("out of memory");
    int has = didcl_remask_option(options, "weights", path, sizeof path);
    int rc = has < 0 ? FAIL("option weights: path too long")
             : has    ? learned_load_file(path, &s->model, err, err_size)
                      : learned_parse(learned_weights, sizeof learned_weights,
                                      "(bundled learned.safetensors)", &s->model, err, err_size);
    if (rc) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void learned_destroy(void *state) {
    learned_state *s = state;
    if (s) {
        free(s->model.w1);
        free(s->score);
        free(s);
    }
}

/* Ranking order over a score array: a higher score first, ties to the lower index. */
static int score_before(const void *ctx, uint32_t a, uint32_t b) {
    const double *score = ctx;
    return score[a] > score[b] || (score[a] == score[b] && a < b);
}

static int learned_select(void *state, const didcl_remask_input *in, uint32_t *out,
                          uint32_t *n_out, char *err, size_t err_size) {
    learned_state *s = state;
    if (s->cap < in->n) {
        double *ns = realloc(s->score, in->n * sizeof *ns);
        if (!ns)
            return FAIL("out of memory for %u positions", in->n);
        s->score = ns;
        s->cap = in->n;
    }
    uint32_t blen = block_len(in), run_start = 0, run_len = 0, last_locked = UINT32_MAX;
    double x[N_FEATURES];
    for (uint32_t i = 0; i < in->n; i++) {
        if (locked(in, i)) {
            last_locked = i;
            continue;
        }
        if (i == 0 || locked(in, i - 1) || !same_block(&in->positions[i], &in->positions[i - 1])) {
            run_start = i;
            for (run_len = 1; i + run_len < in->n && !locked(in, i + run_len) &&
                              same_block(&in->positions[i + run_len], &in->positions[i]);)
                run_len++;
        }
        learned_features_at(in, i, run_start, run_len, blen, last_locked, x);
        s->score[i] = learned_score(&s->model, x);
    }
    uint32_t m = plugin_unlocked(in, out), k = in->count ? in->count : 1;
    plugin_heapsort(out, m, s->score, score_before);
    *n_out = k < m ? k : m;
    return 0;
}

static const didcl_remask_plugin descriptor = {
    .abi_version = DIDCL_REMASK_ABI_VERSION,
    .struct_size = sizeof(didcl_remask_plugin),
    .name = "learned",
    .description = "highest score of a small learned model over the draft's own signals",
    .version = "1.0",
    .create = learned_create,
    .select = learned_select,
    .destroy = learned_destroy,
};

DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
    return &descriptor;
}

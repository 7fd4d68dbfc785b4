/*
 * safetensors.c — read-only access to safetensors checkpoints: one file, a sharded set
 * (model.safetensors.index.json) or a model directory holding either.
 *
 * The format (huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes of
 * UTF-8 JSON, an object {name: {"dtype", "shape", "data_offsets": [begin, end]}} with
 * an optional "__metadata__" object of string values, then the data area; offsets are
 * relative to the data area. Files are mmap'd and every header number is checked before
 * use, so a corrupt file is an error, never a read outside the mapping. The checks follow
 * the reference reader: the header starts with '{', names are unique, each tensor's byte
 * range matches shape x dtype, and the ranges tile the data area exactly (no overlap, no
 * gap, nothing after the last tensor). Data stays as stored; didcl_tensor_to_f32 widens.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "safetensors.h"

struct st_file {
    char *path;
    const uint8_t *map; /* whole file, PROT_READ */
    size_t size;
};

struct didcl_weights {
    char *source;                /* file or index.json that was opened */
    struct st_file *files;       /* [nfiles] */
    size_t nfiles;
    didcl_tensor_info *tensors;  /* [ntensors], by file then offset */
    size_t ntensors, cap;
    const didcl_tensor_info **by_name; /* [ntensors] the same, sorted by name */
};

/* ---- dtypes and conversion ---------------------------------------------------------- */

const char *didcl_dtype_str(enum didcl_dtype dtype) {
    switch (dtype) {
    case DIDCL_DTYPE_F32: return "F32";
    case DIDCL_DTYPE_F16: return "F16";
    case DIDCL_DTYPE_BF16: return "BF16";
    }
    return "?";
}

size_t didcl_dtype_size(enum didcl_dtype dtype) { return dtype == DIDCL_DTYPE_F32 ? 4 : 2; }

static float f32_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float didcl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / NaN, payload kept */
        return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp != 0) /* normal: rebias 15 -> 127 */
        return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
    if (man == 0)
        return f32_from_bits(sign);
    /* subnormal man * 2^-24: normalise so bit 10 is the implicit one */
    uint32_t e = 113;
    while (!(man & 0x400u)) {
        man <<= 1;
        e--;
    }
    return f32_from_bits(sign | (e << 23) | ((man & 0x3ffu) << 13));
}

float didcl_bf16_to_f32(uint16_t bits) { return f32_from_bits((uint32_t)bits << 16); }

didcl_status didcl_tensor_to_f32(const didcl_tensor_info *t, float *dst) {
    if (!t || (!dst && t->numel))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_tensor_to_f32: NULL tensor or destination");
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case DIDCL_DTYPE_F32:
        for (uint64_t i = 0; i < t->numel; i++, p += 4)
            dst[i] = f32_from_bits((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                   (uint32_t)p[3] << 24);
        return DIDCL_OK;
    case DIDCL_DTYPE_F16:
        for (uint64_t i = 0; i < t->numel; i++, p += 2)
            dst[i] = didcl_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return DIDCL_OK;
    case DIDCL_DTYPE_BF16:
        for (uint64_t i = 0; i < t->numel; i++, p += 2)
            dst[i] = didcl_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return DIDCL_OK;
    }
    return didcl_fail(DIDCL_ERR_INVALID_ARG, "tensor '%s': bad dtype %d", t->name, (int)t->dtype);
}

/* ---- one file ----------------------------------------------------------------------- */

static int dtype_parse(const char *s, enum didcl_dtype *out) {
    static const struct { const char *name; enum didcl_dtype dtype; } known[] = {
        {"F32", DIDCL_DTYPE_F32}, {"F16", DIDCL_DTYPE_F16}, {"BF16", DIDCL_DTYPE_BF16}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(s, known[i].name)) {
            *out = known[i].dtype;
            return 1;
        }
    return 0;
}

const char *didcl_shape_str(const uint64_t *shape, uint32_t ndim, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (uint32_t i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
    return buf;
}

static didcl_status tensor_push(struct didcl_weights *w, didcl_tensor_info **out) {
    if (w->ntensors == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        didcl_tensor_info *t = realloc(w->tensors, cap * sizeof *t);
        if (!t)
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory for the tensor table");
        w->tensors = t;
        w->cap = cap;
    }
    *out = &w->tensors[w->ntensors++];
    memset(*out, 0, sizeof **out);
    return DIDCL_OK;
}

/* A JSON value that must be a non-negative integer. */
static int json_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* Check one header entry and append it to w->tensors. */
static didcl_status tensor_parse(struct didcl_weights *w, const struct st_file *f,
                                 uint64_t data_start, const char *name, json_t *e) {
    const char *path = f->path;
    if (!json_is_object(e))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: header entry '%s' is not an object, expected "
                          "{\"dtype\", \"shape\", \"data_offsets\"}", path, name);
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string",
                          path, name);
    enum didcl_dtype dtype;
    if (!dtype_parse(json_string_value(jd), &dtype))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported dtype %s, "
                          "expected F32, F16 or BF16", path, name, json_string_value(jd));
    if (!json_is_array(js))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': \"shape\" is missing or not an "
                          "array", path, name);
    size_t ndim = json_array_size(js);
    if (ndim > DIDCL_MAX_DIMS)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions, at most %d "
                          "are supported", path, name, ndim, DIDCL_MAX_DIMS);
    uint64_t shape[DIDCL_MAX_DIMS], numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < ndim; i++) {
        if (!json_u64(json_array_get(js, i), &shape[i]))
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': shape entry %zu is not a "
                              "non-negative integer", path, name, i);
        if (shape[i] && numel > UINT64_MAX / 8 / shape[i])
            overflow = 1;
        else
            numel *= shape[i];
    }
    if (overflow) {
        char sb[160];
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': shape %s has more than %llu "
                          "elements, no file can hold it", path, name,
                          didcl_shape_str(shape, (uint32_t)ndim, sb, sizeof sb),
                          (unsigned long long)(UINT64_MAX / 8));
    }
    uint64_t begin, end;
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_u64(json_array_get(jo, 0), &begin) || !json_u64(json_array_get(jo, 1), &end))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is missing or not "
                          "[begin, end] with non-negative integers", path, name);
    uint64_t data_size = f->size - data_start;
    if (begin > end || end > data_size)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] lie outside "
                          "the data area of %llu bytes", path, name, (unsigned long long)begin,
                          (unsigned long long)end, (unsigned long long)data_size);
    uint64_t nbytes = numel * didcl_dtype_size(dtype);
    if (end - begin != nbytes) {
        char sb[160];
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s': data_offsets span %llu bytes, but "
                          "shape %s of %s needs %llu", path, name,
                          (unsigned long long)(end - begin), didcl_shape_str(shape, (uint32_t)ndim, sb,
                          sizeof sb), json_string_value(jd), (unsigned long long)nbytes);
    }
    char *dup = strdup(name);
    didcl_tensor_info *t = NULL;
    if (!dup || tensor_push(w, &t) != DIDCL_OK) {
        free(dup);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    t->name = dup;
    t->dtype = dtype;
    t->ndim = (uint32_t)ndim;
    memcpy(t->shape, shape, ndim * sizeof shape[0]);
    t->numel = numel;
    t->nbytes = nbytes;
    t->offset = data_start + begin;
    t->data = f->map + t->offset;
    t->file = f->path;
    return DIDCL_OK;
}

static didcl_status metadata_check(const char *path, json_t *m) {
    if (!json_is_object(m))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: \"__metadata__\" is not an object, expected "
                          "string values", path);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: \"__metadata__\" key '%s' is not a string",
                              path, k);
    }
    return DIDCL_OK;
}

static int by_offset(const void *a, const void *b) {
    const didcl_tensor_info *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* The byte ranges of the file's tensors (from first on) must tile the data area. */
static didcl_status ranges_check(const char *path, didcl_tensor_info *t, size_t n,
                                 uint64_t data_start, uint64_t file_size) {
    if (n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(t, n, sizeof *t, by_offset);
    uint64_t at = data_start;
    for (size_t i = 0; i < n; i++) {
        if (t[i].offset < at)
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (data_offsets "
                              "[%llu, %llu] and [%llu, %llu])", path, t[i - 1].name, t[i].name,
                              (unsigned long long)(t[i - 1].offset - data_start),
                              (unsigned long long)(t[i - 1].offset - data_start + t[i - 1].nbytes),
                              (unsigned long long)(t[i].offset - data_start),
                              (unsigned long long)(t[i].offset - data_start + t[i].nbytes));
        if (t[i].offset > at)
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: %llu unused bytes in the data area before "
                              "tensor '%s' (data offset %llu); tensors must cover it without gaps",
                              path, (unsigned long long)(t[i].offset - at), t[i].name,
                              (unsigned long long)(at - data_start));
        at = t[i].offset + t[i].nbytes;
    }
    if (at != file_size)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: %llu unused bytes after the last tensor (file "
                          "offset %llu); tensors must cover the data area exactly", path,
                          (unsigned long long)(file_size - at), (unsigned long long)at);
    return DIDCL_OK;
}

/* Map path, check its header and append its tensors. */
static didcl_status file_open(struct didcl_weights *w, const char *path) {
    struct st_file *files = realloc(w->files, (w->nfiles + 1) * sizeof *files);
    if (!files)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
    w->files = files;
    struct st_file *f = &files[w->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path)))
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
    w->nfiles++;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return didcl_fail(DIDCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return didcl_fail(DIDCL_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 8) {
        close(fd);
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: file is %lld bytes, shorter than the 8-byte "
                          "header length field", path, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED)
        return didcl_fail(DIDCL_ERR_IO, "%s: cannot mmap: %s", path, strerror(err));
    f->map = map;
    f->size = (size_t)st.st_size;

    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f->map[i];
    if (n > DIDCL_SAFETENSORS_MAX_HEADER)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit",
                          path, (unsigned long long)n, DIDCL_SAFETENSORS_MAX_HEADER);
    if (n > f->size - 8)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: header length %llu exceeds the %zu bytes after "
                          "the length field (truncated file?)", path, (unsigned long long)n,
                          f->size - 8);
    if (n == 0 || f->map[8] != '{')
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: header does not start with '{' at byte offset 8",
                          path);
    /* The reference writer pads the header with spaces to a multiple of 8 so that data is
     * aligned, but the spec does not require it and some writers (MLX) do not pad: reading
     * stays correct (conversion reads bytes), so warn only. */
    if (n % 8)
        didcl_log(DIDCL_LOG_WARN, "%s: header length %llu is not a multiple of 8; tensor data is "
                  "not 8-byte aligned", path, (unsigned long long)n);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: header is not valid JSON: %s (byte offset %d)",
                          path, jerr.text, 8 + jerr.position);
    didcl_status rc = DIDCL_OK;
    size_t first = w->ntensors;
    if (!json_is_object(root))
        rc = didcl_fail(DIDCL_ERR_FORMAT, "%s: header is not a JSON object", path);
    const char *key;
    json_t *val;
    if (rc == DIDCL_OK) {
        json_object_foreach(root, key, val) {
            rc = !strcmp(key, "__metadata__") ? metadata_check(path, val)
                                              : tensor_parse(w, f, 8 + n, key, val);
            if (rc != DIDCL_OK)
                break;
        }
    }
    json_decref(root);
    if (rc == DIDCL_OK)
        rc = ranges_check(path, w->ntensors > first ? w->tensors + first : NULL, /* NULL + 0 is UB */
                          w->ntensors - first, 8 + n, f->size);
    return rc;
}

/* ---- sets of files ------------------------------------------------------------------ */

static int by_name(const void *a, const void *b) {
    return strcmp((*(const didcl_tensor_info *const *)a)->name,
                  (*(const didcl_tensor_info *const *)b)->name);
}

/* Build the name index once all files are in; a name in two shards is an error. */
static didcl_status index_names(struct didcl_weights *w) {
    if (!(w->by_name = malloc((w->ntensors ? w->ntensors : 1) * sizeof *w->by_name)))
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", w->source);
    for (size_t i = 0; i < w->ntensors; i++)
        w->by_name[i] = &w->tensors[i];
    if (w->ntensors > 1)
        qsort(w->by_name, w->ntensors, sizeof *w->by_name, by_name);
    for (size_t i = 1; i < w->ntensors; i++)
        if (!strcmp(w->by_name[i - 1]->name, w->by_name[i]->name))
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: tensor '%s' is stored in both %s and %s",
                              w->source, w->by_name[i]->name, w->by_name[i - 1]->file,
                              w->by_name[i]->file);
    return DIDCL_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* "dir/name" (dir of the index file) into a new string. */
static char *sibling_path(const char *index_path, const char *name) {
    const char *slash = strrchr(index_path, '/');
    size_t dlen = slash ? (size_t)(slash - index_path + 1) : 0;
    char *p = malloc(dlen + strlen(name) + 1);
    if (p) {
        memcpy(p, index_path, dlen);
        strcpy(p + dlen, name);
    }
    return p;
}

static didcl_status index_open(struct didcl_weights *w, const char *path) {
    json_error_t jerr;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) /* a FIFO would block the load */
        return didcl_fail(DIDCL_ERR_IO, "%s: not a regular file", path);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: not valid JSON: %s (line %d, column %d)", path,
                          jerr.text, jerr.line, jerr.column);
    json_t *map = json_object_get(root, "weight_map");
    didcl_status rc = DIDCL_OK;
    const char *name;
    json_t *v;
    if (!json_is_object(map))
        rc = didcl_fail(DIDCL_ERR_FORMAT, "%s: \"weight_map\" is missing or not an object, expected "
                        "{tensor name: shard file}", path);
    /* open each distinct shard once, in order of first mention */
    for (void *it = rc ? NULL : json_object_iter(map); it && !rc;
         it = json_object_iter_next(map, it)) {
        name = json_object_iter_key(it);
        v = json_object_iter_value(it);
        const char *shard = json_string_value(v);
        if (!shard || !*shard || strchr(shard, '/') || !strcmp(shard, "..") || !strcmp(shard, ".")) {
            rc = didcl_fail(DIDCL_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name in the "
                            "index's directory", path, name);
            break;
        }
        char *spath = sibling_path(path, shard);
        if (!spath) {
            rc = didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
            break;
        }
        int seen = 0;
        for (size_t i = 0; i < w->nfiles && !seen; i++)
            seen = !strcmp(w->files[i].path, spath);
        if (!seen && (rc = file_open(w, spath)) != DIDCL_OK)
            rc = didcl_fail_context(rc, "%s: shard '%s' (for tensor '%s')", path, shard, name);
        free(spath);
    }
    if (rc == DIDCL_OK)
        rc = index_names(w);
    /* every listed tensor must be in the shard the index names */
    for (void *it = rc ? NULL : json_object_iter(map); it && !rc;
         it = json_object_iter_next(map, it)) {
        name = json_object_iter_key(it);
        const char *shard = json_string_value(json_object_iter_value(it));
        const didcl_tensor_info *t = didcl_weights_find(w, name);
        char *spath = sibling_path(path, shard);
        if (!spath)
            rc = didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
        else if (!t || strcmp(t->file, spath))
            rc = didcl_fail(DIDCL_ERR_NOT_FOUND, "%s: tensor '%s' is listed in weight_map for "
                            "shard '%s', but that file does not contain it", path, name, shard);
        free(spath);
    }
    for (size_t i = 0; rc == DIDCL_OK && i < w->ntensors; i++)
        if (!json_object_get(map, w->tensors[i].name))
            didcl_log(DIDCL_LOG_WARN, "%s: tensor '%s' of %s is not listed in weight_map", path,
                      w->tensors[i].name, w->tensors[i].file);
    json_decref(root);
    return rc;
}

didcl_status didcl_weights_open(const char *path, didcl_weights_t *out) {
    if (!path || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_weights_open: NULL path or output");
    struct stat st;
    if (stat(path, &st) != 0)
        return didcl_fail(errno == ENOENT ? DIDCL_ERR_NOT_FOUND : DIDCL_ERR_IO, "%s: %s", path,
                          strerror(errno));
    struct didcl_weights *w = calloc(1, sizeof *w);
    if (!w)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
    didcl_status rc = DIDCL_OK;
    if (S_ISDIR(st.st_mode)) {
        static const char *const names[] = {"model.safetensors", "model.safetensors.index.json"};
        for (size_t i = 0; i < 2 && !w->source; i++) {
            size_t len = strlen(path) + strlen(names[i]) + 2;
            char *p = malloc(len);
            if (!p) {
                rc = didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
                break;
            }
            snprintf(p, len, "%s/%s", path, names[i]);
            if (stat(p, &st) == 0)
                w->source = p;
            else
                free(p);
        }
        if (rc == DIDCL_OK && !w->source)
            rc = didcl_fail(DIDCL_ERR_NOT_FOUND, "%s: no model.safetensors or "
                            "model.safetensors.index.json in this directory", path);
    } else if (!(w->source = strdup(path)))
        rc = didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
    if (rc == DIDCL_OK) {
        if (ends_with(w->source, ".json"))
            rc = index_open(w, w->source);
        else if ((rc = file_open(w, w->source)) == DIDCL_OK)
            rc = index_names(w);
    }
    if (rc != DIDCL_OK) {
        didcl_weights_free(w);
        return rc;
    }
    *out = w;
    return DIDCL_OK;
}

void didcl_weights_free(didcl_weights_t w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->ntensors; i++)
        free((char *)w->tensors[i].name);
    for (size_t i = 0; i < w->nfiles; i++) {
        if (w->files[i].map)
            munmap((void *)w->files[i].map, w->files[i].size);
        free(w->files[i].path);
    }
    free(w->files);
    free(w->tensors);
    free(w->by_name);
    free(w->source);
    free(w);
}

const char *didcl_weights_source(didcl_weights_t w) { return w ? w->source : ""; }
size_t didcl_weights_file_count(didcl_weights_t w) { return w ? w->nfiles : 0; }
size_t didcl_weights_count(didcl_weights_t w) { return w ? w->ntensors : 0; }

const didcl_tensor_info *didcl_weights_at(didcl_weights_t w, size_t i) {
    return w && i < w->ntensors ? &w->tensors[i] : NULL;
}

const didcl_tensor_info *didcl_weights_find(didcl_weights_t w, const char *name) {
    if (!w || !name || !w->by_name)
        return NULL;
    size_t lo = 0, hi = w->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->by_name[mid]->name);
        if (c == 0)
            return w->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

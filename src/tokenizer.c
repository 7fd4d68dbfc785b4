/*
 * tokenizer.c — GPT-2-style byte-level BPE. Loads a Hugging Face tokenizer.json,
 * vocab.json + merges.txt, or GPT-2's original encoder.json + vocab.bpe; encodes UTF-8
 * text to ids and decodes ids back to the exact bytes.
 *
 * Encode pipeline: validate UTF-8 → cut out added/special tokens (longest match first) →
 * per segment, the GPT-2 pre-tokenizer regex (PCRE2, JIT when available) → per pre-token,
 * the word cache, or on a miss: bytes → 256 byte-level symbols → merges applied lowest
 * rank first (leftmost on ties, binary heap of candidate pairs) → ids, stored in the cache.
 *
 * Token strings in the files are in GPT-2's byte-to-unicode form ("Ġthe" is " the"); a
 * token's bytes are its string mapped back through that table. A handle is not
 * thread-safe: encode uses the handle's scratch buffers and word cache.
 */
#define _POSIX_C_SOURCE 200809L
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "tokenizer.h"

/* GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols, whitespace. PCRE2's
 * \s also matches U+180E, which Unicode stopped calling white space in 6.3, unlike the
 * reference encoders, so the Unicode property is used where PCRE2 knows it (10.40 on). */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+"
    "|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";
static const char GPT2_PATTERN_OLD[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

#define MAX_IDS (1u << 24)        /* ids beyond this are rejected as out of range */
#define CACHE_MAX_WORD 256        /* longer pre-tokens are not cached */
#define CACHE_MAX_ENTRIES (1u << 20) /* the word cache is emptied when it grows past this */
#define CACHE_MAX_BYTES (32u << 20)  /* ... or when its keys take this many bytes */
#define UNASSIGNED UINT32_MAX

/* ---- growable arrays and hash tables ---------------------------------------------- */

/* Make room for need elements of size elem in the array whose pointer is at pp (capacity
 * *cap elements). 0 on success; -1 when out of memory, the array unchanged. */
static int reserve(void *pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p;
    memcpy(&p, pp, sizeof p); /* pp points at some T *; copy instead of casting */
    if (n > SIZE_MAX / elem || !(p = realloc(p, n * elem)))
        return -1;
    memcpy(pp, &p, sizeof p);
    *cap = n;
    return 0;
}

typedef struct {
    char *p;
    size_t n, cap;
} bytebuf;

/* Append n bytes plus a NUL; *off receives where they start. */
static int bytebuf_add(bytebuf *b, const char *s, size_t n, uint32_t *off) {
    if (b->n + n + 1 > UINT32_MAX || reserve(&b->p, &b->cap, b->n + n + 1, 1))
        return -1;
    memcpy(b->p + b->n, s, n);
    b->p[b->n + n] = '\0';
    if (off)
        *off = (uint32_t)b->n;
    b->n += n + 1;
    return 0;
}

typedef struct {
    int32_t *p;
    size_t n, cap;
} idvec;

static int idvec_push(idvec *v, int32_t id) {
    if (v->n == v->cap && reserve(&v->p, &v->cap, v->n + 1, sizeof *v->p))
        return -1;
    v->p[v->n++] = id;
    return 0;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

/* Open-addressing map from byte strings (copied into its own arena) to a 64-bit value. */
typedef struct {
    struct strslot {
        uint64_t hash; /* 0: empty */
        uint64_t val;
        uint32_t off, len;
    } *slots;
    size_t mask, count;
    bytebuf keys;
} strmap;

static struct strslot *strmap_slot(const strmap *m, const char *s, size_t n, uint64_t h) {
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        struct strslot *e = &m->slots[i];
        if (!e->hash || (e->hash == h && e->len == n && !memcmp(m->keys.p + e->off, s, n)))
            return e;
    }
}

static int strmap_get(const strmap *m, const char *s, size_t n, uint64_t *val) {
    if (!m->slots)
        return 0;
    struct strslot *e = strmap_slot(m, s, n, hash_bytes(s, n));
    if (!e->hash)
        return 0;
    *val = e->val;
    return 1;
}

static int strmap_grow(strmap *m) {
    size_t cap = m->slots ? 2 * (m->mask + 1) : 1024;
    struct strslot *old = m->slots;
    size_t old_cap = old ? m->mask + 1 : 0;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].hash) {
            size_t j = old[i].hash & m->mask;
            while (m->slots[j].hash)
                j = (j + 1) & m->mask;
            m->slots[j] = old[i];
        }
    free(old);
    return 0;
}

/* Insert or overwrite. 0 on success, -1 when out of memory. */
static int strmap_put(strmap *m, const char *s, size_t n, uint64_t val) {
    if ((m->count + 1) * 2 > (m->slots ? m->mask + 1 : 0) && strmap_grow(m))
        return -1;
    uint64_t h = hash_bytes(s, n);
    struct strslot *e = strmap_slot(m, s, n, h);
    if (!e->hash) {
        if (bytebuf_add(&m->keys, s, n, &e->off))
            return -1;
        e->hash = h;
        e->len = (uint32_t)n;
        m->count++;
    }
    e->val = val;
    return 0;
}

static void strmap_clear(strmap *m) {
    if (m->slots)
        memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
    m->count = 0;
    m->keys.n = 0;
}

static void strmap_free(strmap *m) {
    free(m->slots);
    free(m->keys.p);
}

/* Merge table: (left id, right id) → rank and merged id. */
typedef struct {
    struct pairslot {
        uint64_t key; /* ((left << 32) | right) + 1; 0: empty */
        uint32_t rank;
        int32_t merged;
    } *slots;
    size_t mask, count;
} pairmap;

static size_t pair_hash(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static const struct pairslot *pairmap_get(const pairmap *m, int32_t a, int32_t b) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    for (size_t i = pair_hash(key, m->mask);; i = (i + 1) & m->mask) {
        const struct pairslot *e = &m->slots[i];
        if (e->key == key)
            return e;
        if (!e->key)
            return NULL;
    }
}

/* Table sized for n pairs, filled by pairmap_put (which never grows it). */
static int pairmap_init(pairmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    return m->slots ? 0 : -1;
}

/* Later merges of the same pair overwrite earlier ones, as in the reference encoders. */
static void pairmap_put(pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = pair_hash(key, m->mask);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    m->count += !m->slots[i].key;
    m->slots[i] = (struct pairslot){key, rank, merged};
}

/* ---- UTF-8 and GPT-2's byte-to-unicode table --------------------------------------- */

size_t didcl_utf8_valid_prefix(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return i;
        if (n - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

uint32_t didcl_byte_to_unicode(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
        return b;
    /* the other bytes, in ascending order, take U+0100 onwards */
    uint32_t n = 0;
    for (uint32_t x = 0; x < b; x++)
        n += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174);
    return 256 + n;
}

/* Decode one UTF-8 code point of a (valid) string; returns its length. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80 || n < 2) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    if (len > n)
        len = n;
    uint32_t c = s[0] & (0x7f >> len);
    for (size_t k = 1; k < len; k++)
        c = (c << 6) | (s[k] & 0x3f);
    *cp = c;
    return len;
}

/* ---- the tokenizer ------------------------------------------------------------------ */

struct added_token {
    uint32_t off, len; /* content in text arena */
    int32_t id;
    uint8_t special, lstrip, rstrip;
};

/* A candidate merge of the symbols at pos and its right neighbour. */
struct cand {
    uint32_t rank, pos;
    int32_t left, right, merged;
};

struct didcl_tokenizer {
    char source[1024];           /* the file(s) loaded, for messages */

    /* vocabulary, ids 0..n_ids-1 */
    uint32_t n_ids;
    uint32_t n_vocab;            /* ids below this come from the BPE vocabulary */
    uint32_t *str_off, *str_len; /* [n_ids] token string as in the file; UNASSIGNED: gap */
    uint32_t *raw_off, *raw_len; /* [n_ids] the bytes the token stands for */
    bytebuf text;                /* arena of the strings above */
    strmap vocab;                /* token string → id */
    int32_t byte_id[256];        /* id of the one-byte symbol of each byte; -1 where the
                                    vocabulary lacks it (legal: only text needing that
                                    byte is refused, at encode time) */
    char byte_str[256][3];       /* each byte's symbol as UTF-8 (1 or 2 bytes + NUL) */
    uint8_t byte_len[256];
    int16_t unmap[324];          /* symbol code point → byte, -1 for other code points */
    pairmap merges;
    int ignore_merges;           /* a pre-token that is itself a token skips merging */

    /* added tokens, longest first */
    struct added_token *added;
    size_t n_added;
    uint8_t added_first[256];    /* 1 where an added token starts with this byte */

    /* pre-tokenizer */
    int add_prefix_space, use_regex;
    pcre2_code *re;
    pcre2_match_data *md;
    int jit;

    /* word cache: pre-token bytes → (offset << 32 | count) into cache_ids */
    strmap cache;
    idvec cache_ids;

    /* encode scratch */
    int32_t *sym, *nxt, *prv;    /* [sym_cap] symbols of the word being merged, linked */
    size_t sym_cap;
    struct cand *heap;           /* [3 * sym_cap] candidate merges */
    bytebuf mapped;              /* the word in token-string form (ignore_merges) */
    bytebuf seg;                 /* a segment with its prefix space */
    /* where the segment being encoded came from, to name a byte's offset in the text */
    const char *seg_buf;         /* the bytes bpe_word sees (the text, or seg.p) */
    size_t seg_off;              /* offset in the caller's text of the segment */
    int seg_shift;               /* 1 when seg_buf starts with an added prefix space */
};

void didcl_tokenizer_free(didcl_tokenizer_t t) {
    if (!t)
        return;
    free(t->str_off);
    free(t->str_len);
    free(t->raw_off);
    free(t->raw_len);
    free(t->text.p);
    strmap_free(&t->vocab);
    free(t->merges.slots);
    free(t->added);
    pcre2_match_data_free(t->md);
    pcre2_code_free(t->re);
    strmap_free(&t->cache);
    free(t->cache_ids.p);
    free(t->sym);
    free(t->nxt);
    free(t->prv);
    free(t->heap);
    free(t->mapped.p);
    free(t->seg.p);
    free(t);
}

static didcl_status oom(const char *what) {
    return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", what);
}

static didcl_status read_file(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return didcl_fail(DIDCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (reserve(&buf, &cap, n + 65536, 1)) {
            fclose(f);
            free(buf);
            return oom(path);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err) {
        free(buf);
        return didcl_fail(DIDCL_ERR_IO, "%s: cannot read: %s", path, strerror(err));
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return DIDCL_OK;
}

static didcl_status load_json(const char *path, json_t **out) {
    char *data;
    size_t len;
    DIDCL_TRY(read_file(path, &data, &len));
    json_error_t err;
    *out = json_loadb(data, len, 0, &err);
    free(data);
    if (!*out)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: malformed JSON at line %d column %d: %s", path,
                          err.line, err.column, err.text);
    return DIDCL_OK;
}

/* Token string (byte-to-unicode form) → the bytes it stands for, appended to t->text. */
static int add_raw_bytes(struct didcl_tokenizer *t, const char *s, size_t n, uint32_t *off,
                         uint32_t *len) {
    if (reserve(&t->text.p, &t->text.cap, t->text.n + n + 1, 1) || t->text.n + n + 1 > UINT32_MAX)
        return -1;
    char *dst = t->text.p + t->text.n;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (cp < 324 && t->unmap[cp] >= 0)
            dst[k++] = (char)t->unmap[cp];
        else /* not a byte-level symbol: the character's own bytes */
            memcpy(dst + k, s + i, l), k += l;
        i += l;
    }
    dst[k] = '\0';
    *off = (uint32_t)t->text.n;
    *len = (uint32_t)k;
    t->text.n += k + 1;
    return 0;
}

/* A new empty tokenizer with the byte-level tables filled in. */
static struct didcl_tokenizer *tokenizer_new(const char *source) {
    struct didcl_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->source, sizeof t->source, "%s", source);
    for (int i = 0; i < 324; i++)
        t->unmap[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = didcl_byte_to_unicode((uint8_t)b);
        char *u = t->byte_str[b];
        t->unmap[cp] = (int16_t)b;
        if (cp < 0x80)
            u[0] = (char)cp, t->byte_len[b] = 1;
        else
            u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), t->byte_len[b] = 2;
    }
    return t;
}

static didcl_status ids_alloc(struct didcl_tokenizer *t, uint32_t n_ids) {
    t->n_ids = n_ids;
    t->str_off = malloc(n_ids * sizeof *t->str_off);
    t->str_len = malloc(n_ids * sizeof *t->str_len);
    t->raw_off = malloc(n_ids * sizeof *t->raw_off);
    t->raw_len = malloc(n_ids * sizeof *t->raw_len);
    if (!t->str_off || !t->str_len || !t->raw_off || !t->raw_len)
        return oom(t->source);
    for (uint32_t i = 0; i < n_ids; i++)
        t->str_off[i] = UNASSIGNED;
    return DIDCL_OK;
}

/* Fill ids 0..n_vocab-1 from a JSON object token → id (where: file and key for messages). */
static didcl_status vocab_fill(struct didcl_tokenizer *t, json_t *vocab, const char *where) {
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val))
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: token '%s' has a non-integer id", where, key);
        json_int_t id = json_integer_value(val);
        if (id < 0 || id >= (json_int_t)t->n_vocab)
            return didcl_fail(DIDCL_ERR_FORMAT,
                              "%s: token '%s' has id %lld, out of range, expected 0..%u", where,
                              key, (long long)id, t->n_vocab - 1);
        if (t->str_off[id] != UNASSIGNED)
            return didcl_fail(DIDCL_ERR_FORMAT, "%s: duplicate id %lld for tokens '%s' and '%s'",
                              where, (long long)id, t->text.p + t->str_off[id], key);
        size_t n = strlen(key);
        if (bytebuf_add(&t->text, key, n, &t->str_off[id]) ||
            add_raw_bytes(t, key, n, &t->raw_off[id], &t->raw_len[id]) ||
            strmap_put(&t->vocab, key, n, (uint64_t)id))
            return oom(where);
        t->str_len[id] = (uint32_t)n;
    }
    return DIDCL_OK;
}

/* Register an added token (content is raw text). */
static didcl_status added_add(struct didcl_tokenizer *t, const char *content, size_t n, int32_t id,
                              int special, int lstrip, int rstrip, const char *where) {
    if (n == 0)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: added token %d has empty content", where, id);
    if ((uint32_t)id < t->n_vocab) {
        /* already in the vocabulary: its bytes must be the content */
        if (t->raw_len[id] != n || memcmp(t->text.p + t->raw_off[id], content, n))
            return didcl_fail(DIDCL_ERR_FORMAT,
                              "%s: added token '%s' has id %d, which the vocabulary gives to '%s'",
                              where, content, id, t->text.p + t->str_off[id]);
    } else if (t->str_off[id] != UNASSIGNED) {
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: duplicate id %d for added tokens '%s' and '%s'",
                          where, id, t->text.p + t->str_off[id], content);
    } else {
        if (bytebuf_add(&t->text, content, n, &t->str_off[id]))
            return oom(where);
        t->str_len[id] = (uint32_t)n;
        t->raw_off[id] = t->str_off[id];
        t->raw_len[id] = (uint32_t)n;
    }
    struct added_token *a = realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a)
        return oom(where);
    t->added = a;
    a[t->n_added++] = (struct added_token){t->raw_off[id], (uint32_t)n, id, (uint8_t)!!special,
                                           (uint8_t)!!lstrip, (uint8_t)!!rstrip};
    t->added_first[(uint8_t)content[0]] = 1;
    return DIDCL_OK;
}

static int added_cmp(const void *a, const void *b) {
    const struct added_token *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len ? -1 : 1) : (x->id > y->id) - (x->id < y->id);
}

/* The one-symbol token of every byte. A vocabulary may lack some (Hugging Face loads
 * such files); text that needs a missing one is refused by encode, naming the byte. */
static didcl_status bytes_check(struct didcl_tokenizer *t) {
    int missing = 0, first = -1;
    for (int b = 0; b < 256; b++) {
        uint64_t id;
        t->byte_id[b] = -1;
        if (strmap_get(&t->vocab, t->byte_str[b], t->byte_len[b], &id))
            t->byte_id[b] = (int32_t)id;
        else if (missing++ == 0)
            first = b;
    }
    if (missing)
        didcl_log(DIDCL_LOG_DEBUG,
                  "%s: the vocabulary lacks %d of the 256 byte-level symbols (the first: byte "
                  "0x%02x); text needing them cannot be encoded", t->source, missing, first);
    return DIDCL_OK;
}

/* Refuse a word with a byte whose symbol the vocabulary lacks, naming its offset in the
 * caller's text (w lies in t->seg_buf). */
static didcl_status missing_byte(const struct didcl_tokenizer *t, const char *w, size_t i) {
    uint8_t b = (uint8_t)w[i];
    ptrdiff_t k = (w + i) - t->seg_buf - t->seg_shift;
    if (k < 0)
        return didcl_fail(DIDCL_ERR_ENCODING,
                          "the prefix space added before byte offset %zu needs byte 0x%02x, "
                          "whose symbol '%s' the vocabulary of %s lacks",
                          t->seg_off, b, t->byte_str[b], t->source);
    return didcl_fail(DIDCL_ERR_ENCODING,
                      "text needs byte 0x%02x at byte offset %zu, whose symbol '%s' the "
                      "vocabulary of %s lacks",
                      b, t->seg_off + (size_t)k, t->byte_str[b], t->source);
}

/* One merge rule "left right"; the caller adds where it is to a failure's message. */
static didcl_status merge_add(struct didcl_tokenizer *t, const char *l, size_t ln, const char *r,
                              size_t rn, uint32_t rank, bytebuf *scratch) {
    uint64_t a, b, m;
    int have_l = strmap_get(&t->vocab, l, ln, &a);
    int have_r = have_l && strmap_get(&t->vocab, r, rn, &b);
    if (!have_l || !have_r)
        return didcl_fail(DIDCL_ERR_FORMAT, "merge names unknown token '%.*s'",
                          (int)(have_l ? rn : ln), have_l ? r : l);
    if (reserve(&scratch->p, &scratch->cap, ln + rn, 1))
        return oom("merges");
    memcpy(scratch->p, l, ln);
    memcpy(scratch->p + ln, r, rn);
    if (!strmap_get(&t->vocab, scratch->p, ln + rn, &m))
        return didcl_fail(DIDCL_ERR_FORMAT, "merge result '%.*s%.*s' is not in the vocabulary",
                          (int)ln, l, (int)rn, r);
    pairmap_put(&t->merges, (int32_t)a, (int32_t)b, rank, (int32_t)m);
    return DIDCL_OK;
}

/* merges.txt / vocab.bpe: one "left right" per line; "#version" lines are skipped. */
static didcl_status merges_from_text(struct didcl_tokenizer *t, const char *path) {
    char *data;
    size_t len;
    DIDCL_TRY(read_file(path, &data, &len));
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    didcl_status st = pairmap_init(&t->merges, lines) ? oom(path) : DIDCL_OK;
    bytebuf scratch = {0};
    uint32_t rank = 0;
    size_t line = 0;
    for (char *p = data, *end = data + len; st == DIDCL_OK && p < end; p++) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        line++;
        size_t n = (size_t)(eol - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n && !(n >= 8 && !memcmp(p, "#version", 8))) {
            char *sp = memchr(p, ' ', n);
            if (!sp || sp == p || sp == p + n - 1 || memchr(sp + 1, ' ', (size_t)(p + n - sp - 1)))
                st = didcl_fail(DIDCL_ERR_FORMAT,
                                "%s:%zu: malformed merge '%.*s', expected two tokens separated by "
                                "one space",
                                path, line, (int)n, p);
            else if ((st = merge_add(t, p, (size_t)(sp - p), sp + 1, (size_t)(p + n - sp - 1),
                                     rank++, &scratch)) != DIDCL_OK)
                didcl_fail_context(st, "%s:%zu", path, line);
        }
        p = eol;
    }
    free(scratch.p);
    free(data);
    return st;
}

/* model.merges of tokenizer.json: strings "left right" or arrays ["left", "right"]. */
static didcl_status merges_from_json(struct didcl_tokenizer *t, json_t *merges, const char *path) {
    if (pairmap_init(&t->merges, json_array_size(merges)))
        return oom(path);
    bytebuf scratch = {0};
    didcl_status st = DIDCL_OK;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *l = NULL, *r = NULL;
        size_t ln = 0, rn = 0;
        if (json_is_string(m)) {
            l = json_string_value(m);
            const char *sp = strchr(l, ' ');
            if (sp && sp != l && sp[1] && !strchr(sp + 1, ' ')) {
                ln = (size_t)(sp - l), r = sp + 1, rn = strlen(r);
            } else
                l = NULL;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            l = json_string_value(json_array_get(m, 0));
            r = json_string_value(json_array_get(m, 1));
            ln = strlen(l), rn = strlen(r);
        }
        if (!l) {
            st = didcl_fail(DIDCL_ERR_FORMAT,
                            "%s: model.merges[%zu]: malformed merge, expected \"left right\" or "
                            "[\"left\", \"right\"]",
                            path, i);
            break;
        }
        if ((st = merge_add(t, l, ln, r, rn, (uint32_t)i, &scratch)) != DIDCL_OK) {
            didcl_fail_context(st, "%s: model.merges[%zu]", path, i);
            break;
        }
    }
    free(scratch.p);
    return st;
}

static didcl_status regex_init(struct didcl_tokenizer *t) {
    int err;
    PCRE2_SIZE at;
    t->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &err, &at, NULL);
    if (!t->re)
        t->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN_OLD, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "pre-tokenizer regex: PCRE2 error at %zu: %s",
                          (size_t)at, (const char *)msg);
    }
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0; /* interpreter otherwise */
    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    return t->md ? DIDCL_OK : oom("pre-tokenizer regex");
}

static const char *json_str(json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* A boolean field, def when absent or null; -1 when present but not a boolean. */
static int json_flag(json_t *obj, const char *key, int def) {
    json_t *v = json_object_get(obj, key);
    return !v || json_is_null(v) ? def : json_is_boolean(v) ? json_is_true(v) : -1;
}

/* pre_tokenizer: ByteLevel, or a Sequence holding exactly one ByteLevel. */
static didcl_status pretok_from_json(struct didcl_tokenizer *t, json_t *pt, const char *path) {
    const char *type = json_str(pt, "type");
    if (type && !strcmp(type, "Sequence")) {
        json_t *list = json_object_get(pt, "pretokenizers");
        if (json_array_size(list) == 1)
            return pretok_from_json(t, json_array_get(list, 0), path);
        type = "Sequence of several pre-tokenizers";
    }
    if (!type || strcmp(type, "ByteLevel"))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "%s: pre_tokenizer %s is not supported, expected ByteLevel", path,
                          type ? type : "(none)");
    t->add_prefix_space = json_flag(pt, "add_prefix_space", 1);
    t->use_regex = json_flag(pt, "use_regex", 1);
    if (t->add_prefix_space < 0 || t->use_regex < 0)
        return didcl_fail(DIDCL_ERR_FORMAT,
                          "%s: pre_tokenizer: add_prefix_space and use_regex must be booleans",
                          path);
    return DIDCL_OK;
}

static didcl_status load_tokenizer_json(struct didcl_tokenizer *t, json_t *root, const char *path) {
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: no \"model\" object, expected a tokenizer.json",
                          path);
    const char *type = json_str(model, "type");
    if (type && strcmp(type, "BPE"))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "%s: model type %s is not supported, expected BPE",
                          path, type);
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab) || !json_is_array(merges))
        return didcl_fail(DIDCL_ERR_FORMAT,
                          "%s: model.vocab must be an object and model.merges an array", path);
    json_t *dropout = json_object_get(model, "dropout");
    const char *prefix = json_str(model, "continuing_subword_prefix");
    const char *suffix = json_str(model, "end_of_word_suffix");
    if ((dropout && !json_is_null(dropout)) || (prefix && *prefix) || (suffix && *suffix) ||
        json_flag(model, "byte_fallback", 0) != 0)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "%s: BPE dropout, byte_fallback, continuing_subword_prefix and "
                          "end_of_word_suffix are not supported, expected byte-level BPE",
                          path);
    t->ignore_merges = json_flag(model, "ignore_merges", 0) == 1;
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "%s: normalizer %s is not supported, expected null", path,
                          json_str(norm, "type") ? json_str(norm, "type") : "?");
    json_t *dec = json_object_get(root, "decoder");
    const char *dec_type = json_str(dec, "type");
    if (dec && !json_is_null(dec) && (!dec_type || strcmp(dec_type, "ByteLevel")))
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "%s: decoder %s is not supported, expected ByteLevel", path,
                          dec_type ? dec_type : "?");
    DIDCL_TRY(pretok_from_json(t, json_object_get(root, "pre_tokenizer"), path));

    /* ids: the vocabulary is 0..n-1, added tokens may extend it */
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added))
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: added_tokens must be an array", path);
    t->n_vocab = (uint32_t)json_object_size(vocab);
    if (t->n_vocab == 0 || t->n_vocab > MAX_IDS)
        return didcl_fail(DIDCL_ERR_FORMAT, "%s: model.vocab has %u tokens, expected 1..%u", path,
                          t->n_vocab, MAX_IDS);
    uint32_t n_ids = t->n_vocab;
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || !json_str(a, "content"))
            return didcl_fail(DIDCL_ERR_FORMAT,
                              "%s: added_tokens[%zu]: expected integer \"id\" and string "
                              "\"content\"",
                              path, i);
        json_int_t v = json_integer_value(id);
        if (v < 0 || v >= MAX_IDS)
            return didcl_fail(DIDCL_ERR_FORMAT,
                              "%s: added_tokens[%zu]: id %lld out of range, expected 0..%u",
                              path, i, (long long)v, MAX_IDS - 1);
        if ((uint32_t)v >= n_ids)
            n_ids = (uint32_t)v + 1;
    }
    DIDCL_TRY(ids_alloc(t, n_ids));
    char where[1100];
    snprintf(where, sizeof where, "%s: model.vocab", path);
    DIDCL_TRY(vocab_fill(t, vocab, where));
    json_array_foreach(added, i, a) {
        const char *content = json_str(a, "content");
        snprintf(where, sizeof where, "%s: added_tokens[%zu]", path, i);
        DIDCL_TRY(added_add(t, content, strlen(content),
                            (int32_t)json_integer_value(json_object_get(a, "id")),
                            json_flag(a, "special", 0) == 1, json_flag(a, "lstrip", 0) == 1,
                            json_flag(a, "rstrip", 0) == 1, where));
    }
    DIDCL_TRY(bytes_check(t));
    return merges_from_json(t, merges, path);
}

/* vocab.json / encoder.json + merges.txt / vocab.bpe, as GPT-2 uses them: no prefix space,
 * GPT-2 regex, and vocabulary entries written <|...|> are special tokens. */
static didcl_status load_pair(struct didcl_tokenizer *t, const char *vocab_path,
                              const char *merges_path) {
    json_t *vocab;
    DIDCL_TRY(load_json(vocab_path, &vocab));
    didcl_status st = DIDCL_OK;
    t->n_vocab = (uint32_t)json_object_size(vocab);
    if (!json_is_object(vocab) || t->n_vocab == 0 || t->n_vocab > MAX_IDS)
        st = didcl_fail(DIDCL_ERR_FORMAT,
                        "%s: expected a JSON object of 1..%u \"token\": id entries", vocab_path,
                        MAX_IDS);
    if (st == DIDCL_OK)
        st = ids_alloc(t, t->n_vocab);
    if (st == DIDCL_OK)
        st = vocab_fill(t, vocab, vocab_path);
    json_decref(vocab);
    for (uint32_t id = 0; st == DIDCL_OK && id < t->n_vocab; id++) {
        const char *s = t->text.p + t->str_off[id];
        size_t n = t->str_len[id];
        if (n > 4 && !memcmp(s, "<|", 2) && !memcmp(s + n - 2, "|>", 2))
            st = added_add(t, t->text.p + t->raw_off[id], t->raw_len[id], (int32_t)id, 1, 0, 0,
                           vocab_path);
    }
    t->add_prefix_space = 0;
    t->use_regex = 1;
    if (st == DIDCL_OK)
        st = bytes_check(t);
    if (st == DIDCL_OK)
        st = merges_from_text(t, merges_path);
    return st;
}

static didcl_status finish(struct didcl_tokenizer *t, didcl_status st, didcl_tokenizer_t *out) {
    if (st == DIDCL_OK && t->use_regex)
        st = regex_init(t);
    if (st != DIDCL_OK) {
        didcl_tokenizer_free(t);
        return st;
    }
    if (t->n_added > 1) /* t->added may be NULL: qsort(NULL, 0, ...) is undefined */
        qsort(t->added, t->n_added, sizeof *t->added, added_cmp);
    *out = t;
    return DIDCL_OK;
}

didcl_status didcl_tokenizer_load_pair(const char *vocab_path, const char *merges_path,
                                       didcl_tokenizer_t *out) {
    if (!vocab_path || !merges_path || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "tokenizer: vocabulary and merges paths needed");
    char source[4200];
    snprintf(source, sizeof source, "%s + %s", vocab_path, merges_path);
    struct didcl_tokenizer *t = tokenizer_new(source);
    if (!t)
        return oom(vocab_path);
    return finish(t, load_pair(t, vocab_path, merges_path), out);
}

static int is_file(const char *dir, const char *name, char *buf, size_t size) {
    struct stat sb;
    snprintf(buf, size, "%s/%s", dir, name);
    return stat(buf, &sb) == 0 && S_ISREG(sb.st_mode);
}

didcl_status didcl_tokenizer_load(const char *path, didcl_tokenizer_t *out) {
    if (!path || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "tokenizer: path needed");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return didcl_fail(DIDCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        static const char *const pairs[][2] = {{"vocab.json", "merges.txt"},
                                               {"encoder.json", "vocab.bpe"}};
        char a[4096], b[4096];
        if (is_file(path, "tokenizer.json", a, sizeof a))
            return didcl_tokenizer_load(a, out);
        for (size_t i = 0; i < 2; i++)
            if (is_file(path, pairs[i][0], a, sizeof a) && is_file(path, pairs[i][1], b, sizeof b))
                return didcl_tokenizer_load_pair(a, b, out);
        return didcl_fail(DIDCL_ERR_NOT_FOUND,
                          "%s: no tokenizer found, expected tokenizer.json, vocab.json + "
                          "merges.txt, or encoder.json + vocab.bpe",
                          path);
    }
    if (!S_ISREG(sb.st_mode)) /* a FIFO would block the read */
        return didcl_fail(DIDCL_ERR_IO, "%s: not a regular file, expected tokenizer.json", path);
    json_t *root;
    DIDCL_TRY(load_json(path, &root));
    struct didcl_tokenizer *t = tokenizer_new(path);
    if (!t) {
        json_decref(root);
        return oom(path);
    }
    didcl_status st = load_tokenizer_json(t, root, path);
    json_decref(root);
    return finish(t, st, out);
}

/* ---- lookups -------------------------------------------------------------------------- */

const char *didcl_tokenizer_source(didcl_tokenizer_t t) { return t ? t->source : ""; }

uint32_t didcl_tokenizer_vocab_size(didcl_tokenizer_t t) { return t ? t->n_ids : 0; }

const char *didcl_tokenizer_token(didcl_tokenizer_t t, int32_t id) {
    if (!t || id < 0 || (uint32_t)id >= t->n_ids || t->str_off[id] == UNASSIGNED)
        return NULL;
    return t->text.p + t->str_off[id];
}

const char *didcl_tokenizer_token_bytes(didcl_tokenizer_t t, int32_t id, size_t *len) {
    if (!didcl_tokenizer_token(t, id))
        return NULL;
    if (len)
        *len = t->raw_len[id];
    return t->text.p + t->raw_off[id];
}

int32_t didcl_tokenizer_token_id(didcl_tokenizer_t t, const char *token) {
    uint64_t id;
    if (!t || !token)
        return -1;
    if (strmap_get(&t->vocab, token, strlen(token), &id))
        return (int32_t)id;
    for (size_t i = 0; i < t->n_added; i++)
        if (!strcmp(t->text.p + t->added[i].off, token))
            return t->added[i].id;
    return -1;
}

didcl_status didcl_tokenizer_special_id(didcl_tokenizer_t t, const char *content, int32_t *id) {
    if (!t || !content || !id)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "tokenizer: special token lookup needs a name");
    for (size_t i = 0; i < t->n_added; i++)
        if (!strcmp(t->text.p + t->added[i].off, content)) {
            *id = t->added[i].id;
            return DIDCL_OK;
        }
    return didcl_fail(DIDCL_ERR_NOT_FOUND, "%s: no special or added token '%s'", t->source,
                      content);
}

/* ---- encode ---------------------------------------------------------------------------- */

static int cand_less(const struct cand *a, const struct cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct cand *h, size_t *n, struct cand c) {
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n) {
    struct cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c]))
            c++;
        if (!cand_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

static void push_pair(const struct didcl_tokenizer *t, struct cand *h, size_t *n, int32_t pos) {
    int32_t l = t->sym[pos], r = t->sym[t->nxt[pos]];
    const struct pairslot *m = pairmap_get(&t->merges, l, r);
    if (m)
        heap_push(h, n, (struct cand){m->rank, (uint32_t)pos, l, r, m->merged});
}

/* Room for the symbols and candidate merges of an n-byte word. */
static int scratch_reserve(struct didcl_tokenizer *t, size_t n) {
    if (n <= t->sym_cap)
        return 0;
    if (n > INT32_MAX / 4)
        return -1;
    size_t cap = n < 64 ? 64 : n;
    int32_t *p;
    struct cand *h;
    if (!(p = realloc(t->sym, cap * sizeof *p)))
        return -1;
    t->sym = p;
    if (!(p = realloc(t->nxt, cap * sizeof *p)))
        return -1;
    t->nxt = p;
    if (!(p = realloc(t->prv, cap * sizeof *p)))
        return -1;
    t->prv = p;
    if (!(h = realloc(t->heap, 3 * cap * sizeof *h)))
        return -1;
    t->heap = h;
    t->sym_cap = cap;
    return 0;
}

/* Apply the merges to the n bytes of one pre-token; append its ids to out. */
static didcl_status bpe_word(struct didcl_tokenizer *t, const char *w, size_t n, idvec *out) {
    uint64_t hit;
    if (n <= CACHE_MAX_WORD && strmap_get(&t->cache, w, n, &hit)) {
        size_t off = (size_t)(hit >> 32), cnt = (size_t)(uint32_t)hit;
        if (reserve(&out->p, &out->cap, out->n + cnt, sizeof *out->p))
            return oom("encode");
        memcpy(out->p + out->n, t->cache_ids.p + off, cnt * sizeof *out->p);
        out->n += cnt;
        return DIDCL_OK;
    }
    size_t start = out->n;
    uint64_t whole;
    if (t->ignore_merges) { /* the whole pre-token, if it is a token */
        if (reserve(&t->mapped.p, &t->mapped.cap, 2 * n, 1))
            return oom("encode");
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(t->mapped.p + k, t->byte_str[(uint8_t)w[i]], 2);
            k += t->byte_len[(uint8_t)w[i]];
        }
        if (strmap_get(&t->vocab, t->mapped.p, k, &whole)) {
            if (idvec_push(out, (int32_t)whole))
                return oom("encode");
            goto store;
        }
    }
    if (scratch_reserve(t, n))
        return oom("encode");
    if (reserve(&out->p, &out->cap, out->n + n, sizeof *out->p))
        return oom("encode");
    int32_t *sym = t->sym, *nxt = t->nxt, *prv = t->prv;
    for (size_t i = 0; i < n; i++) {
        if ((sym[i] = t->byte_id[(uint8_t)w[i]]) < 0)
            return missing_byte(t, w, i);
        nxt[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        prv[i] = (int32_t)i - 1;
    }
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(t, t->heap, &nh, (int32_t)i);
    while (nh) {
        struct cand c = heap_pop(t->heap, &nh);
        int32_t p = (int32_t)c.pos, q = nxt[p];
        if (sym[p] != c.left || q < 0 || sym[q] != c.right)
            continue; /* stale: one side was merged since */
        sym[p] = c.merged;
        sym[q] = -1;
        nxt[p] = nxt[q];
        if (nxt[q] >= 0)
            prv[nxt[q]] = p;
        if (prv[p] >= 0)
            push_pair(t, t->heap, &nh, prv[p]);
        if (nxt[p] >= 0)
            push_pair(t, t->heap, &nh, p);
    }
    for (int32_t i = 0; i >= 0; i = nxt[i])
        out->p[out->n++] = sym[i];
store:
    if (n <= CACHE_MAX_WORD) {
        size_t cnt = out->n - start;
        if (t->cache.count >= CACHE_MAX_ENTRIES || t->cache.keys.n >= CACHE_MAX_BYTES) {
            strmap_clear(&t->cache);
            t->cache_ids.n = 0;
        }
        if (reserve(&t->cache_ids.p, &t->cache_ids.cap, t->cache_ids.n + cnt,
                    sizeof *t->cache_ids.p) ||
            strmap_put(&t->cache, w, n, ((uint64_t)t->cache_ids.n << 32) | cnt))
            return oom("encode");
        memcpy(t->cache_ids.p + t->cache_ids.n, out->p + start, cnt * sizeof *out->p);
        t->cache_ids.n += cnt;
    }
    return DIDCL_OK;
}

/* Pre-tokenize one stretch of text free of added tokens (at byte offset off of the
 * caller's text) and encode each piece. */
static didcl_status encode_segment(struct didcl_tokenizer *t, const char *s, size_t n,
                                   size_t off, idvec *out) {
    if (n == 0)
        return DIDCL_OK;
    t->seg_buf = s;
    t->seg_off = off;
    t->seg_shift = 0;
    if (t->add_prefix_space && s[0] != ' ') {
        if (reserve(&t->seg.p, &t->seg.cap, n + 1, 1))
            return oom("encode");
        t->seg.p[0] = ' ';
        memcpy(t->seg.p + 1, s, n);
        s = t->seg_buf = t->seg.p;
        t->seg_shift = 1;
        n++;
    }
    if (!t->use_regex)
        return bpe_word(t, s, n, out);
    size_t gap = 0, pos = 0; /* text before gap is done; search from pos */
    PCRE2_SPTR subj = (PCRE2_SPTR)s;
    while (pos < n) {
        int rc = t->jit ? pcre2_jit_match(t->re, subj, n, pos, 0, t->md, NULL)
                        : PCRE2_ERROR_JIT_BADOPTION;
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) /* no JIT, or it ran out of stack */
            rc = pcre2_match(t->re, subj, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, t->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "pre-tokenizer regex failed at byte %zu: %s",
                              pos, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        if (ov[1] == ov[0]) { /* empty match: step over one character */
            uint32_t cp;
            pos = ov[0] + utf8_next(subj + ov[0], n - ov[0], &cp);
            continue;
        }
        if (ov[0] > gap) /* text the regex skipped is a piece of its own */
            DIDCL_TRY(bpe_word(t, s + gap, ov[0] - gap, out));
        DIDCL_TRY(bpe_word(t, s + ov[0], ov[1] - ov[0], out));
        gap = pos = ov[1];
    }
    return gap < n ? bpe_word(t, s + gap, n - gap, out) : DIDCL_OK;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The longest added token at s (specials only when allowed), or NULL. */
static const struct added_token *match_added(const struct didcl_tokenizer *t, const char *s,
                                             size_t n, int specials) {
    for (size_t i = 0; i < t->n_added; i++) {
        const struct added_token *a = &t->added[i];
        if (a->len <= n && (specials || !a->special) && !memcmp(s, t->text.p + a->off, a->len))
            return a;
    }
    return NULL;
}

didcl_status didcl_tokenizer_encode(didcl_tokenizer_t t, const char *text, size_t len,
                                    uint32_t flags, int32_t **ids, size_t *n_ids) {
    if (!t || (!text && len) || !ids || !n_ids)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "tokenizer encode: NULL argument");
    size_t ok = didcl_utf8_valid_prefix(text, len);
    if (ok < len)
        return didcl_fail(DIDCL_ERR_ENCODING,
                          "invalid UTF-8 at byte offset %zu (byte 0x%02x), expected UTF-8 text",
                          ok, (uint8_t)text[ok]);
    int specials = !(flags & DIDCL_TOKENIZE_NO_SPECIAL);
    idvec out = {0};
    didcl_status st = DIDCL_OK;
    size_t seg = 0; /* start of the text not yet encoded */
    for (size_t i = 0; st == DIDCL_OK && i < len; i++) {
        if (!t->added_first[(uint8_t)text[i]])
            continue;
        const struct added_token *a = match_added(t, text + i, len - i, specials);
        if (!a)
            continue;
        size_t s = i, e = i + a->len;
        while (a->lstrip && s > seg && is_space(text[s - 1]))
            s--;
        while (a->rstrip && e < len && is_space(text[e]))
            e++;
        st = encode_segment(t, text + seg, s - seg, seg, &out);
        if (st == DIDCL_OK && idvec_push(&out, a->id))
            st = oom("encode");
        seg = e;
        i = e - 1;
    }
    if (st == DIDCL_OK)
        st = encode_segment(t, text + seg, len - seg, seg, &out);
    if (st != DIDCL_OK) {
        free(out.p);
        return st;
    }
    *ids = out.p;
    *n_ids = out.n;
    return DIDCL_OK;
}

/* ---- decode ---------------------------------------------------------------------------- */

didcl_status didcl_tokenizer_decode(didcl_tokenizer_t t, const int32_t *ids, size_t n_ids,
                                    char **text, size_t *len) {
    if (!t || (!ids && n_ids) || !text || !len)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "tokenizer decode: NULL argument");
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || (uint32_t)id >= t->n_ids)
            return didcl_fail(DIDCL_ERR_INVALID_ARG,
                              "decode: id %d at position %zu is out of range, expected 0..%u", id,
                              i, t->n_ids - 1);
        if (t->str_off[id] == UNASSIGNED)
            return didcl_fail(DIDCL_ERR_INVALID_ARG,
                              "decode: id %d at position %zu has no token in %s", id, i, t->source);
        total += t->raw_len[id];
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return oom("decode");
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        memcpy(buf + k, t->text.p + t->raw_off[ids[i]], t->raw_len[ids[i]]);
        k += t->raw_len[ids[i]];
    }
    buf[k] = '\0';
    *text = buf;
    *len = k;
    return DIDCL_OK;
}

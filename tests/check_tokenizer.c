/*
 * check_tokenizer.c — the byte-level BPE tokenizer against GPT-2's golden tokenizations
 * (tests/data/gpt2/golden.jsonl, made by the reference encoder) through all three loader
 * paths: encoder.json + vocab.bpe, vocab.json + merges.txt, and tokenizer.json (written
 * here from the same files, merges as arrays and as strings). "limits" covers bad input:
 * invalid UTF-8, bad merges, malformed or missing files, out-of-range ids.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tokenizer.h"

#define GPT2_DIR DIDCL_TEST_SRCDIR "/data/gpt2"
#define N_GOLDEN 198

/* golden cases, loaded once in main (the forked tests inherit them) */
static struct golden {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} golden[N_GOLDEN + 1];
static size_t n_golden;

/* Runs before the suite, outside any test: report problems by hand. */
static void golden_load(void) {
    FILE *f = fopen(GPT2_DIR "/golden.jsonl", "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s/golden.jsonl\n", GPT2_DIR);
        exit(1);
    }
    static char line[1 << 16];
    while (fgets(line, sizeof line, f) && n_golden <= N_GOLDEN) {
        json_error_t err;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &err);
        json_t *text = json_object_get(o, "text"), *ids = json_object_get(o, "ids");
        if (!json_is_string(text) || !json_is_array(ids)) {
            fprintf(stderr, "golden.jsonl:%zu: expected {\"text\": ..., \"ids\": [...]}: %s\n",
                    n_golden + 1, o ? "" : err.text);
            exit(1);
        }
        struct golden *g = &golden[n_golden++];
        g->len = json_string_length(text);
        g->text = malloc(g->len + 1);
        memcpy(g->text, json_string_value(text), g->len + 1);
        g->n = json_array_size(ids);
        g->ids = malloc((g->n + 1) * sizeof *g->ids);
        for (size_t i = 0; i < g->n; i++)
            g->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        json_decref(o);
    }
    fclose(f);
}

/* Encode and decode every golden case; all must match exactly. */
static void check_golden(didcl_tokenizer_t tok, const char *label) {
    size_t enc_ok = 0, dec_ok = 0;
    char first[512] = "";
    for (size_t c = 0; c < n_golden; c++) {
        const struct golden *g = &golden[c];
        int32_t *ids = NULL;
        size_t n = 0;
        ck_assert_msg(didcl_tokenizer_encode(tok, g->text, g->len, 0, &ids, &n) == DIDCL_OK,
                      "%s: case %zu: %s", label, c, didcl_last_error());
        if (n == g->n && (n == 0 || !memcmp(ids, g->ids, n * sizeof *ids)))
            enc_ok++;
        else if (!*first)
            snprintf(first, sizeof first, "encode case %zu (\"%.40s\"): %zu ids, expected %zu", c,
                     g->text, n, g->n);
        char *text = NULL;
        size_t len = 0;
        ck_assert_int_eq(didcl_tokenizer_decode(tok, g->ids, g->n, &text, &len), DIDCL_OK);
        if (len == g->len && !memcmp(text, g->text, len))
            dec_ok++;
        else if (!*first)
            snprintf(first, sizeof first, "decode case %zu (\"%.40s\")", c, g->text);
        free(ids);
        free(text);
    }
    ck_assert_msg(n_golden == N_GOLDEN && enc_ok == n_golden && dec_ok == n_golden,
                  "%s: %zu/%zu encoded and %zu/%zu decoded as golden.jsonl (expected %d); "
                  "first mismatch: %s",
                  label, enc_ok, n_golden, dec_ok, n_golden, N_GOLDEN, first);
}

static didcl_tokenizer_t load_ok(const char *path) {
    didcl_tokenizer_t tok = NULL;
    ck_assert_msg(didcl_tokenizer_load(path, &tok) == DIDCL_OK, "%s: %s", path,
                  didcl_last_error());
    return tok;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 21);
    size_t n = fread(buf, 1, 1 << 21, f);
    fclose(f);
    ck_assert_int_eq(testutil_write_file(to, buf, n), 0);
    free(buf);
}

/* GPT-2's merges (vocab.bpe) as a JSON array, each rule as "l r" or ["l", "r"]. */
static json_t *gpt2_merges(int as_arrays) {
    FILE *f = fopen(GPT2_DIR "/vocab.bpe", "rb");
    ck_assert_ptr_nonnull(f);
    json_t *merges = json_array();
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (!strncmp(line, "#version", 8) || !sp)
            continue;
        if (as_arrays) {
            *sp = '\0';
            json_array_append_new(merges, json_pack("[ss]", line, sp + 1));
        } else
            json_array_append_new(merges, json_string(line));
    }
    fclose(f);
    return merges;
}

/* Write GPT-2 as a Hugging Face tokenizer.json into dir. */
static char *write_tokenizer_json(const char *dir, int merges_as_arrays, int in_sequence,
                                  int prefix_space) {
    json_error_t err;
    json_t *vocab = json_load_file(GPT2_DIR "/encoder.json", 0, &err);
    ck_assert_msg(vocab != NULL, "encoder.json: %s", err.text);
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space",
                           prefix_space, "trim_offsets", 1, "use_regex", 1);
    json_t *pre = in_sequence ? json_pack("{s:s, s:[o]}", "type", "Sequence", "pretokenizers", bl)
                              : bl;
    json_t *root = json_pack(
        "{s:s, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}], s:n, s:o, s:n, s:{s:s, s:b}, "
        "s:{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "added_tokens", "id", 50256, "content", "<|endoftext|>", "single_word", 0,
        "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1, "normalizer", "pre_tokenizer", pre,
        "post_processor", "decoder", "type", "ByteLevel", "add_prefix_space", 1, "model", "type",
        "BPE", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
        "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges",
        gpt2_merges(merges_as_arrays));
    ck_assert_ptr_nonnull(root);
    char *path = path_join(dir, "tokenizer.json");
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
    return path;
}

static void expect_ids(didcl_tokenizer_t tok, const char *text, uint32_t flags,
                       const int32_t *want, size_t n_want) {
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_msg(didcl_tokenizer_encode(tok, text, strlen(text), flags, &ids, &n) == DIDCL_OK,
                  "%s", didcl_last_error());
    ck_assert_uint_eq(n, n_want);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ids[i], want[i]);
    free(ids);
}

/* ---- core ------------------------------------------------------------------------------ */

START_TEST(test_golden_encoder_json) {
    didcl_tokenizer_t tok = NULL;
    ck_assert_int_eq(didcl_tokenizer_load_pair(GPT2_DIR "/encoder.json", GPT2_DIR "/vocab.bpe",
                                               &tok),
                     DIDCL_OK);
    check_golden(tok, "encoder.json + vocab.bpe");
    didcl_tokenizer_free(tok);
    tok = load_ok(GPT2_DIR); /* the directory holds the same pair */
    ck_assert_ptr_nonnull(strstr(didcl_tokenizer_source(tok), "vocab.bpe"));
    check_golden(tok, "directory with encoder.json");
    didcl_tokenizer_free(tok);
}
END_TEST

START_TEST(test_golden_vocab_json) {
    char *dir = testutil_tmpdir();
    char *v = path_join(dir, "vocab.json"), *m = path_join(dir, "merges.txt");
    copy_file(GPT2_DIR "/encoder.json", v);
    copy_file(GPT2_DIR "/vocab.bpe", m);
    didcl_tokenizer_t tok = load_ok(dir);
    ck_assert_ptr_nonnull(strstr(didcl_tokenizer_source(tok), "merges.txt"));
    check_golden(tok, "vocab.json + merges.txt");
    didcl_tokenizer_free(tok);
    testutil_rmtree(dir);
    free(v), free(m), free(dir);
}
END_TEST

START_TEST(test_golden_tokenizer_json) {
    /* merges as arrays (newer tokenizers) with a bare ByteLevel, then as strings inside a
     * Sequence, loaded by file and by directory */
    for (int variant = 0; variant < 2; variant++) {
        char *dir = testutil_tmpdir(), *path = write_tokenizer_json(dir, !variant, variant, 0);
        didcl_tokenizer_t tok = load_ok(variant ? dir : path);
        ck_assert_str_eq(didcl_tokenizer_source(tok), path);
        check_golden(tok, variant ? "tokenizer.json, merges as strings" :
                                    "tokenizer.json, merges as arrays");
        didcl_tokenizer_free(tok);
        testutil_rmtree(dir);
        free(path), free(dir);
    }
}
END_TEST

START_TEST(test_lookups) {
    didcl_tokenizer_t tok = load_ok(GPT2_DIR);
    ck_assert_uint_eq(didcl_tokenizer_vocab_size(tok), 50257);
    ck_assert_str_eq(didcl_tokenizer_token(tok, 262), "\xc4\xa0the"); /* "Ġthe" */
    ck_assert_str_eq(didcl_tokenizer_token(tok, 50256), "<|endoftext|>");
    ck_assert_ptr_null(didcl_tokenizer_token(tok, 50257));
    ck_assert_ptr_null(didcl_tokenizer_token(tok, -1));
    ck_assert_int_eq(didcl_tokenizer_token_id(tok, "\xc4\xa0the"), 262);
    size_t len = 0;
    ck_assert_str_eq(didcl_tokenizer_token_bytes(tok, 262, &len), " the");
    ck_assert_uint_eq(len, 4);
    ck_assert_str_eq(didcl_tokenizer_token_bytes(tok, 198, &len), "\n"); /* "Ċ" */
    ck_assert_ptr_null(didcl_tokenizer_token_bytes(tok, 50257, &len));
    ck_assert_int_eq(didcl_tokenizer_token_id(tok, "Hello"), 15496);
    ck_assert_int_eq(didcl_tokenizer_token_id(tok, "no such token"), -1);
    int32_t id = -1;
    ck_assert_int_eq(didcl_tokenizer_special_id(tok, "<|endoftext|>", &id), DIDCL_OK);
    ck_assert_int_eq(id, 50256);
    ck_assert_int_eq(didcl_tokenizer_special_id(tok, "<|pad|>", &id), DIDCL_ERR_NOT_FOUND);
    ck_assert_last_error_has("no special or added token '<|pad|>'");
    didcl_tokenizer_free(tok);
}
END_TEST

START_TEST(test_special_tokens) {
    didcl_tokenizer_t tok = load_ok(GPT2_DIR);
    expect_ids(tok, "a<|endoftext|>b", 0, (const int32_t[]){64, 50256, 65}, 3);
    expect_ids(tok, "<|endoftext|><|endoftext|>", 0, (const int32_t[]){50256, 50256}, 2);
    expect_ids(tok, "a<|endoftext|>b", DIDCL_TOKENIZE_NO_SPECIAL,
               (const int32_t[]){64, 27, 91, 437, 1659, 5239, 91, 29, 65}, 9);
    expect_ids(tok, "<|endoftext", 0, (const int32_t[]){27, 91, 437, 1659, 5239}, 5);
    /* U+180E is not white space (Unicode 6.3 on), U+0085 and U+2028 are; as HF tokenizers */
    expect_ids(tok, " \xe1\xa0\x8e", 0, (const int32_t[]){28053, 254, 236}, 3);
    expect_ids(tok, "a\xc2\x85" "b\xe2\x80\xa8 c", 0,
               (const int32_t[]){64, 126, 227, 65, 447, 101, 269}, 7);
    char *text;
    size_t len;
    ck_assert_int_eq(didcl_tokenizer_decode(tok, (const int32_t[]){15496, 50256, 995}, 3, &text,
                                            &len),
                     DIDCL_OK);
    ck_assert_str_eq(text, "Hello<|endoftext|> world");
    ck_assert_uint_eq(len, 24);
    free(text);
    didcl_tokenizer_free(tok);
}
END_TEST

START_TEST(test_prefix_space) {
    /* add_prefix_space applies to every stretch between special tokens, as in HF */
    char *dir = testutil_tmpdir(), *path = write_tokenizer_json(dir, 1, 0, 1);
    didcl_tokenizer_t tok = load_ok(path);
    expect_ids(tok, "Hello world", 0, (const int32_t[]){18435, 995}, 2);
    expect_ids(tok, " Hello world", 0, (const int32_t[]){18435, 995}, 2);
    expect_ids(tok, "x<|endoftext|>y", 0, (const int32_t[]){2124, 50256, 331}, 3);
    didcl_tokenizer_free(tok);
    testutil_rmtree(dir);
    free(path), free(dir);
}
END_TEST

START_TEST(test_added_tokens) {
    /* GPT-2 plus "<mask>" (50257, not special, lstrip) and "[SEP]" (50260, special, rstrip),
     * leaving ids 50258..50259 unassigned; expected ids as HF tokenizers gives them */
    char *dir = testutil_tmpdir(), *path = write_tokenizer_json(dir, 1, 0, 0);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err), *added = json_object_get(root, "added_tokens");
    json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b}", "id", 50257, "content",
                                           "<mask>", "lstrip", 1, "special", 0));
    json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b}", "id", 50260, "content",
                                           "[SEP]", "rstrip", 1, "special", 1));
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
    didcl_tokenizer_t tok = load_ok(path);
    ck_assert_uint_eq(didcl_tokenizer_vocab_size(tok), 50261);
    ck_assert_str_eq(didcl_tokenizer_token(tok, 50257), "<mask>");
    ck_assert_ptr_null(didcl_tokenizer_token(tok, 50258));
    ck_assert_int_eq(didcl_tokenizer_token_id(tok, "[SEP]"), 50260);
    expect_ids(tok, "a  <mask> b", 0, (const int32_t[]){64, 50257, 275}, 3);
    expect_ids(tok, "x [SEP]  y", 0, (const int32_t[]){87, 220, 50260, 88}, 4);
    /* without specials "[SEP]" is text, the plain added "<mask>" still matches */
    expect_ids(tok, "[SEP]<mask>", DIDCL_TOKENIZE_NO_SPECIAL,
               (const int32_t[]){58, 5188, 47, 60, 50257}, 5);
    char *text = NULL;
    size_t len;
    ck_assert_int_eq(didcl_tokenizer_decode(tok, (const int32_t[]){50260, 50257}, 2, &text, &len),
                     DIDCL_OK);
    ck_assert_str_eq(text, "[SEP]<mask>");
    free(text);
    ck_assert_int_eq(didcl_tokenizer_decode(tok, (const int32_t[]){50259}, 1, &text, &len),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("id 50259 at position 0 has no token");
    didcl_tokenizer_free(tok);
    testutil_rmtree(dir);
    free(path), free(dir);
}
END_TEST

START_TEST(test_ignore_merges) {
    /* one merge "h e"; with ignore_merges a pre-token that is a token is taken whole */
    char *dir = testutil_tmpdir(), *path = write_tokenizer_json(dir, 1, 0, 0);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err), *model = json_object_get(root, "model");
    json_object_set_new(model, "merges", json_pack("[[ss]]", "h", "e"));
    for (int ignore = 0; ignore < 2; ignore++) {
        json_object_set_new(model, "ignore_merges", json_boolean(ignore));
        ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
        didcl_tokenizer_t tok = load_ok(path);
        if (ignore)
            expect_ids(tok, "hello hellx", 0, (const int32_t[]){31373, 220, 258, 75, 75, 87}, 6);
        else
            expect_ids(tok, "hello hellx", 0,
                       (const int32_t[]){258, 75, 75, 78, 220, 258, 75, 75, 87}, 9);
        didcl_tokenizer_free(tok);
    }
    json_decref(root);
    testutil_rmtree(dir);
    free(path), free(dir);
}
END_TEST

START_TEST(test_random_round_trip) {
    /* random strings over tricky pieces: every one must decode back to its bytes */
    static const char *const pieces[] = {
        " ", "  ", "\t", "\n", "\r\n", "\xc2\xa0", "\xe3\x80\x80", "\xe1\xa0\x8e", "'s", "'ll",
        "'", "a", "Z", "hello", " world", "7", "2024", "\xc2\xb2", "\xd9\xa3", "\xc3\xa9",
        "e\xcc\x81", "\xe6\x97\xa5\xe6\x9c\xac", "\xce\xb1", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
        "\xe2\x80\x8d", "\xf0\x9f\x87\xba\xf0\x9f\x87\xb8", "!", "...", "<|", "|>",
        "<|endoftext|>", "\x01", "\x7f", "\xf4\x8f\xbf\xbf", "\xef\xbb\xbf"};
    const size_t n_pieces = sizeof pieces / sizeof pieces[0];
    didcl_tokenizer_t tok = load_ok(GPT2_DIR);
    uint32_t rng = 12345;
    char buf[1024];
    for (int c = 0; c < 2000; c++) {
        size_t len = 0;
        rng = rng * 1664525u + 1013904223u;
        for (int k = (int)(rng >> 28) + 1; k > 0; k--) {
            rng = rng * 1664525u + 1013904223u;
            const char *piece = pieces[(rng >> 8) % n_pieces];
            memcpy(buf + len, piece, strlen(piece));
            len += strlen(piece);
        }
        int32_t *ids;
        size_t n;
        char *text;
        size_t tlen;
        ck_assert_int_eq(didcl_tokenizer_encode(tok, buf, len, 0, &ids, &n), DIDCL_OK);
        ck_assert_int_eq(didcl_tokenizer_decode(tok, ids, n, &text, &tlen), DIDCL_OK);
        ck_assert_msg(tlen == len && !memcmp(text, buf, len), "case %d: round trip differs", c);
        free(ids);
        free(text);
    }
    didcl_tokenizer_free(tok);
}
END_TEST

START_TEST(test_empty_and_long) {
    didcl_tokenizer_t tok = load_ok(GPT2_DIR);
    int32_t *ids = (int32_t *)1;
    size_t n = 1;
    ck_assert_int_eq(didcl_tokenizer_encode(tok, "", 0, 0, &ids, &n), DIDCL_OK);
    ck_assert_uint_eq(n, 0);
    free(ids);
    char *text = NULL;
    size_t len = 1;
    ck_assert_int_eq(didcl_tokenizer_decode(tok, NULL, 0, &text, &len), DIDCL_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(text, "");
    free(text);
    /* one 200 kB pre-token (merged through the heap, not cached) and a long space run */
    size_t big = 200000;
    char *s = malloc(2 * big + 2);
    for (size_t i = 0; i < big; i++)
        s[i] = "thequickbrownfox"[i % 16];
    memset(s + big, ' ', big);
    s[2 * big] = 'x';
    s[2 * big + 1] = '\0';
    ck_assert_int_eq(didcl_tokenizer_encode(tok, s, 2 * big + 1, 0, &ids, &n), DIDCL_OK);
    ck_assert_uint_gt(n, big); /* GPT-2 has no tokens for space runs: one id per space */
    ck_assert_uint_lt(n, big + big / 2);
    ck_assert_int_eq(didcl_tokenizer_decode(tok, ids, n, &text, &len), DIDCL_OK);
    ck_assert_uint_eq(len, 2 * big + 1);
    ck_assert_int_eq(memcmp(text, s, len), 0);
    free(ids);
    free(text);
    free(s);
    didcl_tokenizer_free(tok);
}
END_TEST

/* ---- vocabularies without some byte symbols ------------------------------------------- */

/* GPT-2 as tokenizer.json without the byte-level symbols of the n bytes given: each keeps
 * its id under another name (ids stay 0..n-1) and merges naming it go, as in a legal file
 * Hugging Face loads. */
static char *write_without_bytes(const char *dir, const uint8_t *bytes, size_t n,
                                 int prefix_space, int ignore_merges) {
    char *path = write_tokenizer_json(dir, 1, 0, prefix_space);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err), *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    ck_assert_ptr_nonnull(root);
    for (size_t k = 0; k < n; k++) {
        char sym[8] = {0}, name[32];
        uint32_t cp = didcl_byte_to_unicode(bytes[k]);
        if (cp < 0x80) {
            sym[0] = (char)cp;
        } else {
            sym[0] = (char)(0xc0 | (cp >> 6));
            sym[1] = (char)(0x80 | (cp & 0x3f));
        }
        json_t *id = json_object_get(vocab, sym);
        ck_assert_ptr_nonnull(id);
        snprintf(name, sizeof name, "<unused-0x%02x>", bytes[k]);
        json_object_set(vocab, name, id);
        ck_assert_int_eq(json_object_del(vocab, sym), 0);
        for (size_t i = json_array_size(merges); i-- > 0;) {
            json_t *m = json_array_get(merges, i);
            if (!strcmp(json_string_value(json_array_get(m, 0)), sym) ||
                !strcmp(json_string_value(json_array_get(m, 1)), sym))
                json_array_remove(merges, i);
        }
    }
    json_object_set_new(model, "ignore_merges", json_boolean(ignore_merges));
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
    return path;
}

/* Encode text with both tokenizers: the same ids. */
static void expect_same_ids(didcl_tokenizer_t a, didcl_tokenizer_t b, const char *text) {
    int32_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    ck_assert_msg(didcl_tokenizer_encode(a, text, strlen(text), 0, &x, &nx) == DIDCL_OK, "%s",
                  didcl_last_error());
    ck_assert_msg(didcl_tokenizer_encode(b, text, strlen(text), 0, &y, &ny) == DIDCL_OK, "%s",
                  didcl_last_error());
    ck_assert_uint_eq(nx, ny);
    ck_assert_int_eq(memcmp(x, y, nx * sizeof *x), 0);
    free(x), free(y);
}

static void expect_missing_byte(didcl_tokenizer_t tok, const char *text, size_t len,
                                const char *needle) {
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(didcl_tokenizer_encode(tok, text, len, 0, &ids, &n), DIDCL_ERR_ENCODING);
    ck_assert_last_error_has(needle);
    ck_assert_last_error_has("tokenizer.json");
    ck_assert_ptr_null(ids);
}

START_TEST(test_missing_byte_symbols) {
    /* 0x00 ('Ā') and 0xa9 ('©', the second byte of "é" in UTF-8) */
    static const uint8_t gone[2] = {0x00, 0xa9};
    char *dir = testutil_tmpdir(), *path = write_without_bytes(dir, gone, 2, 0, 0);
    didcl_tokenizer_t tok = load_ok(path), full = load_ok(GPT2_DIR);
    /* text that needs none of them encodes as with the full vocabulary */
    expect_same_ids(tok, full, "Hello world, it's 2026!\n\tcaf\xc3\xa8");
    expect_same_ids(tok, full, "<|endoftext|>x y");
    /* the first byte that needs a missing symbol is named, with its offset */
    expect_missing_byte(tok, "ab\0cd", 5,
                        "text needs byte 0x00 at byte offset 2, whose symbol '\xc4\x80' the "
                        "vocabulary of ");
    expect_missing_byte(tok, "Hi caf\xc3\xa9 ok", 11, "byte 0xa9 at byte offset 7");
    /* offsets count from the start of the text across added tokens and pre-tokens */
    expect_missing_byte(tok, "<|endoftext|>one two\0", 21, "byte 0x00 at byte offset 20");
    /* the same text, with the special token read as plain text, still fails there */
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(didcl_tokenizer_encode(tok, "<|endoftext|>\xc2\xa9", 15,
                                            DIDCL_TOKENIZE_NO_SPECIAL, &ids, &n),
                     DIDCL_ERR_ENCODING);
    ck_assert_last_error_has("byte 0xa9 at byte offset 14");
    /* a failure leaves the tokenizer usable (no half-cached word) */
    expect_same_ids(tok, full, "Hi caf ok");
    didcl_tokenizer_free(tok);

    /* ignore_merges: a pre-token that is itself a token ("\xc3\xa9" is GPT-2's 'Ã©') needs
     * no byte symbols, as in Hugging Face */
    free(path);
    path = write_without_bytes(dir, gone, 2, 0, 1);
    tok = load_ok(path);
    expect_ids(tok, "\xc3\xa9", 0, (const int32_t[]){2634}, 1);
    expect_missing_byte(tok, "\xc3\xa9x", 3, "byte 0xa9 at byte offset 1");
    didcl_tokenizer_free(tok);

    /* a prefix space the pre-tokenizer adds, without the symbol of ' ' ('Ġ') */
    free(path);
    path = write_without_bytes(dir, (const uint8_t[]){0x20}, 1, 1, 0);
    tok = load_ok(path);
    expect_missing_byte(tok, "hi", 2, "the prefix space added before byte offset 0 needs byte 0x20");
    expect_missing_byte(tok, "<|endoftext|>hi", 15,
                        "the prefix space added before byte offset 13 needs byte 0x20");
    expect_missing_byte(tok, " hi", 3, "text needs byte 0x20 at byte offset 0");
    didcl_tokenizer_free(tok);
    didcl_tokenizer_free(full);
    testutil_rmtree(dir);
    free(path), free(dir);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------ */

static void expect_bad_utf8(didcl_tokenizer_t tok, const char *text, size_t len,
                            const char *needle) {
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(didcl_tokenizer_encode(tok, text, len, 0, &ids, &n), DIDCL_ERR_ENCODING);
    ck_assert_last_error_has(needle);
    ck_assert_ptr_null(ids);
}

START_TEST(test_invalid_utf8) {
    didcl_tokenizer_t tok = load_ok(GPT2_DIR);
    expect_bad_utf8(tok, "ab\xff" "cd", 5, "invalid UTF-8 at byte offset 2 (byte 0xff)");
    expect_bad_utf8(tok, "caf\xc3", 4, "byte offset 3");                  /* truncated */
    expect_bad_utf8(tok, "x\xc0\xaf", 3, "byte offset 1");                /* overlong "/" */
    expect_bad_utf8(tok, "ok \xed\xa0\x80", 6, "byte offset 3");          /* surrogate */
    expect_bad_utf8(tok, "\xf4\x90\x80\x80", 4, "byte offset 0");         /* > U+10FFFF */
    expect_bad_utf8(tok, "\xe2\x82\xac\xe2\x28\xa1", 6, "byte offset 3"); /* bad continuation */
    didcl_tokenizer_free(tok);
}
END_TEST

/* A directory with GPT-2's vocabulary as vocab.json and the given merges.txt. */
static char *dir_with_merges(const char *merges) {
    char *dir = testutil_tmpdir();
    char *v = path_join(dir, "vocab.json"), *m = path_join(dir, "merges.txt");
    copy_file(GPT2_DIR "/encoder.json", v);
    ck_assert_int_eq(testutil_write_file(m, merges, strlen(merges)), 0);
    free(v), free(m);
    return dir;
}

START_TEST(test_bad_merges) {
    didcl_tokenizer_t tok = NULL;
    char *dir = dir_with_merges("#version: 0.2\n\xc4\xa0 t\nq zzqq\n");
    ck_assert_int_eq(didcl_tokenizer_load(dir, &tok), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("merges.txt:3: merge names unknown token 'zzqq'");
    ck_assert_ptr_null(tok);
    testutil_rmtree(dir), free(dir);

    dir = dir_with_merges("#version: 0.2\nq \xc4\xa0\n");
    ck_assert_int_eq(didcl_tokenizer_load(dir, &tok), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("merges.txt:2: merge result 'q\xc4\xa0' is not in the vocabulary");
    testutil_rmtree(dir), free(dir);

    dir = dir_with_merges("#version: 0.2\nh e l\n");
    ck_assert_int_eq(didcl_tokenizer_load(dir, &tok), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("merges.txt:2: malformed merge 'h e l'");
    testutil_rmtree(dir), free(dir);

    /* a good tiny merges file works, and only merges what it lists */
    dir = dir_with_merges("#version: 0.2\nh e\n");
    tok = load_ok(dir);
    expect_ids(tok, "hel", 0, (const int32_t[]){258, 75}, 2); /* "he" = 258 */
    didcl_tokenizer_free(tok);
    testutil_rmtree(dir), free(dir);
}
END_TEST

/* Write text as dir/tokenizer.json and expect loading it to fail with status and needle. */
static void expect_bad_json(const char *text, didcl_status status, const char *needle) {
    char *dir = testutil_tmpdir(), *path = path_join(dir, "tokenizer.json");
    ck_assert_int_eq(testutil_write_file(path, text, strlen(text)), 0);
    didcl_tokenizer_t tok = NULL;
    ck_assert_int_eq(didcl_tokenizer_load(dir, &tok), status);
    ck_assert_last_error_has("tokenizer.json");
    ck_assert_last_error_has(needle);
    ck_assert_ptr_null(tok);
    testutil_rmtree(dir);
    free(path), free(dir);
}

START_TEST(test_bad_tokenizer_json) {
    expect_bad_json("{\"model\": {\"type\": \"BPE\",", DIDCL_ERR_FORMAT,
                    "malformed JSON at line 1");
    expect_bad_json("{\"version\": \"1.0\"}", DIDCL_ERR_FORMAT, "no \"model\" object");
    expect_bad_json("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", DIDCL_ERR_UNSUPPORTED,
                    "model type WordPiece is not supported, expected BPE");
    const char *pre =
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", ";
    char buf[512];
    snprintf(buf, sizeof buf, "%s\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", pre);
    expect_bad_json(buf, DIDCL_ERR_FORMAT, "duplicate id 0 for tokens 'a' and 'b'");
    snprintf(buf, sizeof buf, "%s\"vocab\": {\"a\": 0, \"b\": 2}, \"merges\": []}}", pre);
    expect_bad_json(buf, DIDCL_ERR_FORMAT, "token 'b' has id 2, out of range, expected 0..1");
    snprintf(buf, sizeof buf,
             "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\", "
             "\"vocab\": {\"a\": 0}, \"merges\": []}}");
    expect_bad_json(buf, DIDCL_ERR_UNSUPPORTED, "pre_tokenizer Whitespace is not supported");
}
END_TEST

START_TEST(test_bad_merges_json) {
    char *dir = testutil_tmpdir(), *path = write_tokenizer_json(dir, 1, 0, 0);
    /* replace merge 5 with one that names an unknown token */
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    json_array_set_new(json_object_get(json_object_get(root, "model"), "merges"), 5,
                       json_pack("[ss]", "q", "zzqq"));
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
    didcl_tokenizer_t tok = NULL;
    ck_assert_int_eq(didcl_tokenizer_load(path, &tok), DIDCL_ERR_FORMAT);
    ck_assert_last_error_has("tokenizer.json: model.merges[5]: merge names unknown token 'zzqq'");
    testutil_rmtree(dir);
    free(path), free(dir);
}
END_TEST

START_TEST(test_missing_files) {
    didcl_tokenizer_t tok = NULL;
    ck_assert_int_eq(didcl_tokenizer_load("/nonexistent/tokenizer.json", &tok), DIDCL_ERR_IO);
    ck_assert_last_error_has("/nonexistent/tokenizer.json: cannot open");
    ck_assert_int_eq(didcl_tokenizer_load_pair(GPT2_DIR "/encoder.json", "/nonexistent/merges.txt",
                                               &tok),
                     DIDCL_ERR_IO);
    ck_assert_last_error_has("/nonexistent/merges.txt: cannot open");
    char *dir = testutil_tmpdir();
    ck_assert_int_eq(didcl_tokenizer_load(dir, &tok), DIDCL_ERR_NOT_FOUND);
    ck_assert_last_error_has("no tokenizer found, expected tokenizer.json");
    ck_assert_ptr_null(tok);
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_decode_out_of_range) {
    didcl_tokenizer_t tok = load_ok(GPT2_DIR);
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(didcl_tokenizer_decode(tok, (const int32_t[]){15496, 50257}, 2, &text, &len),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("id 50257 at position 1 is out of range, expected 0..50256");
    ck_assert_int_eq(didcl_tokenizer_decode(tok, (const int32_t[]){-3}, 1, &text, &len),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("id -3 at position 0 is out of range");
    ck_assert_ptr_null(text);
    didcl_tokenizer_free(tok);
}
END_TEST

static Suite *tokenizer_suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 60);
    tcase_add_test(core, test_golden_encoder_json);
    tcase_add_test(core, test_golden_vocab_json);
    tcase_add_test(core, test_golden_tokenizer_json);
    tcase_add_test(core, test_missing_byte_symbols);
    tcase_add_test(core, test_lookups);
    tcase_add_test(core, test_special_tokens);
    tcase_add_test(core, test_prefix_space);
    tcase_add_test(core, test_added_tokens);
    tcase_add_test(core, test_ignore_merges);
    tcase_add_test(core, test_random_round_trip);
    tcase_add_test(core, test_empty_and_long);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_invalid_utf8);
    tcase_add_test(limits, test_bad_merges);
    tcase_add_test(limits, test_bad_tokenizer_json);
    tcase_add_test(limits, test_bad_merges_json);
    tcase_add_test(limits, test_missing_files);
    tcase_add_test(limits, test_decode_out_of_range);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) {
    golden_load();
    return testutil_run(tokenizer_suite());
}

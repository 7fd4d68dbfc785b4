/*
 * fuzz_tokenizer_load.c — didcl_tokenizer_load on a tokenizer.json of arbitrary bytes.
 * Oracles: a refusal is one line naming the file; an accepted tokenizer answers for
 * every id (token and bytes, or NULL for a gap; token_id inverts token), and encoding
 * fixed texts either succeeds and decodes back to the same bytes (round trip; with
 * add_prefix_space, after the one space it added) or fails with a one-line message.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"

static const char *const texts[] = {"Hello, world!", " the  cat\n\tsat 12 34 's 're",
                                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "<|endoftext|>x"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("tokenizer.json", data, size);
    didcl_tokenizer_t tok = NULL;
    didcl_status st = didcl_tokenizer_load(path, &tok);
    if (st != DIDCL_OK) {
        fuzz_check_error(st, "tokenizer.json");
        return 0;
    }
    uint32_t v = didcl_tokenizer_vocab_size(tok);
    FUZZ_CHECK(v >= 1, "empty vocabulary accepted");
    for (uint32_t id = 0; id < v && id < 4096; id++) {
        size_t len = 0;
        const char *t = didcl_tokenizer_token(tok, (int32_t)id);
        const char *b = didcl_tokenizer_token_bytes(tok, (int32_t)id, &len);
        FUZZ_CHECK(!t == !b, "id %u: token and bytes disagree on existence", id);
        if (t) {
            int32_t back = didcl_tokenizer_token_id(tok, t);
            FUZZ_CHECK(back >= 0, "id %u: token_id('%s') = %d", id, t, back);
        }
    }
    FUZZ_CHECK(!didcl_tokenizer_token(tok, (int32_t)v) && !didcl_tokenizer_token(tok, -1),
               "ids out of range have tokens");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0, len = 0;
        char *text = NULL;
        st = didcl_tokenizer_encode(tok, texts[i], strlen(texts[i]), 0, &ids, &n);
        if (st != DIDCL_OK) {
            fuzz_check_error(st, NULL);
            continue;
        }
        st = didcl_tokenizer_decode(tok, ids, n, &text, &len);
        FUZZ_CHECK(st == DIDCL_OK, "decode of encoded ids failed: %s", didcl_last_error());
        /* a ByteLevel pre-tokenizer with add_prefix_space (its default) adds one */
        size_t skip = len == strlen(texts[i]) + 1 && text[0] == ' ' ? 1 : 0;
        FUZZ_CHECK(len - skip == strlen(texts[i]) && !memcmp(text + skip, texts[i], len - skip),
                   "round trip of text %zu gave %zu bytes", i, len);
        free(ids);
        free(text);
    }
    didcl_tokenizer_free(tok);
    return 0;
}

/*
 * fuzz_tokenizer_codec.c — encode and decode with GPT-2's own tokenizer
 * (tests/data/gpt2, every byte in the vocabulary) on arbitrary input.
 * Oracles: encoding succeeds exactly when the input is valid UTF-8 (checked
 * independently), decodes back to the same bytes (round trip) and gives the same ids
 * twice (determinism, word cache warm the second time); the input read as ids decodes
 * exactly when every id is in range, else fails with one line naming the position.
 * Set DIDCL_FUZZ_DATA to the tests/data directory (tools/fuzz.sh does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"

static didcl_tokenizer_t tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *d = getenv("DIDCL_FUZZ_DATA");
    char enc[4096], bpe[4096];
    snprintf(enc, sizeof enc, "%s/gpt2/encoder.json", d ? d : "tests/data");
    snprintf(bpe, sizeof bpe, "%s/gpt2/vocab.bpe", d ? d : "tests/data");
    FUZZ_CHECK(didcl_tokenizer_load_pair(enc, bpe, &tok) == DIDCL_OK, "%s",
               didcl_last_error());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t flags = size && (data[0] & 1) ? DIDCL_TOKENIZE_NO_SPECIAL : 0;
    int32_t *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0, len = 0;
    char *text = NULL;
    didcl_status st = didcl_tokenizer_encode(tok, (const char *)data, size, flags, &ids, &n);
    int valid = fuzz_utf8_valid(data, size);
    FUZZ_CHECK((st == DIDCL_OK) == valid, "encode %s valid UTF-8: %s",
               valid ? "refused" : "accepted in", didcl_last_error());
    if (st == DIDCL_OK) {
        FUZZ_CHECK(didcl_tokenizer_decode(tok, ids, n, &text, &len) == DIDCL_OK, "decode: %s",
                   didcl_last_error());
        FUZZ_CHECK(len == size && !memcmp(text, data, size), "round trip: %zu bytes back of %zu",
                   len, size);
        free(text);
        FUZZ_CHECK(didcl_tokenizer_encode(tok, (const char *)data, size, flags, &ids2, &n2) ==
                           DIDCL_OK && n2 == n && (!n || !memcmp(ids, ids2, n * sizeof *ids)),
                   "second encode differs");
        free(ids2);
    } else {
        fuzz_check_error(st, NULL);
    }
    free(ids);

    /* The bytes as little-endian int32 ids. */
    size_t m = size / 4, bad = m;
    int32_t *raw = malloc(m ? m * sizeof *raw : 1);
    FUZZ_CHECK(raw != NULL, "out of memory");
    uint32_t v = didcl_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < m; i++) {
        raw[i] = (int32_t)((uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
                           (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24);
        if (bad == m && (raw[i] < 0 || (uint32_t)raw[i] >= v || !didcl_tokenizer_token(tok, raw[i])))
            bad = i;
    }
    text = NULL;
    st = didcl_tokenizer_decode(tok, raw, m, &text, &len);
    if (bad == m) {
        FUZZ_CHECK(st == DIDCL_OK, "decode of valid ids failed: %s", didcl_last_error());
    } else {
        fuzz_check_error(st, NULL);
        char where[64];
        snprintf(where, sizeof where, "%zu", bad);
        FUZZ_CHECK(strstr(didcl_last_error(), where), "message does not name position %zu: %s",
                   bad, didcl_last_error());
    }
    free(text);
    free(raw);
    return 0;
}

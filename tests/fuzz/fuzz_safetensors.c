/*
 * fuzz_safetensors.c — didcl_weights_open on a .safetensors file of arbitrary bytes.
 * Oracles: a refusal is one line naming the file; an accepted file has every tensor
 * inside the file with numel and nbytes matching its shape and dtype, found by name, and
 * widens to fp32 without reading outside its bytes (ASan); opening twice gives the same
 * answer (determinism).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"

static void check_accepted(didcl_weights_t w, size_t size) {
    size_t n = didcl_weights_count(w);
    for (size_t i = 0; i < n; i++) {
        const didcl_tensor_info *t = didcl_weights_at(w, i);
        FUZZ_CHECK(t && t->name, "tensor %zu missing", i);
        uint64_t numel = 1;
        for (uint32_t d = 0; d < t->ndim; d++)
            numel *= t->shape[d];
        FUZZ_CHECK(t->ndim <= DIDCL_MAX_DIMS && numel == t->numel, "'%s': numel %llu, shape "
                   "says %llu", t->name, (unsigned long long)t->numel,
                   (unsigned long long)numel);
        FUZZ_CHECK(t->nbytes == t->numel * didcl_dtype_size(t->dtype), "'%s': nbytes", t->name);
        FUZZ_CHECK(t->offset <= size && t->nbytes <= size - t->offset,
                   "'%s': bytes [%llu, +%llu) outside the %zu-byte file", t->name,
                   (unsigned long long)t->offset, (unsigned long long)t->nbytes, size);
        FUZZ_CHECK(didcl_weights_find(w, t->name) != NULL, "'%s' not found by name", t->name);
        if (t->numel <= (1u << 16)) {
            float *f = malloc(t->numel ? t->numel * sizeof *f : 1);
            FUZZ_CHECK(f && didcl_tensor_to_f32(t, f) == DIDCL_OK, "'%s': to_f32", t->name);
            free(f);
        }
    }
    FUZZ_CHECK(didcl_weights_at(w, n) == NULL, "at(count) is not NULL");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.safetensors", data, size);
    didcl_weights_t w = NULL, w2 = NULL;
    didcl_status st = didcl_weights_open(path, &w);
    char *first = strdup(didcl_last_error()); /* whole: messages may be long */
    FUZZ_CHECK(first != NULL, "out of memory");
    if (st == DIDCL_OK)
        check_accepted(w, size);
    else
        fuzz_check_error(st, "model.safetensors");
    didcl_status st2 = didcl_weights_open(path, &w2);
    FUZZ_CHECK(st2 == st, "second open: %d, first %d", (int)st2, (int)st);
    FUZZ_CHECK(st == DIDCL_OK ? didcl_weights_count(w) == didcl_weights_count(w2)
                              : !strcmp(first, didcl_last_error()),
               "second open differs: %s / %s", first, didcl_last_error());
    free(first);
    didcl_weights_free(w);
    didcl_weights_free(w2);
    return 0;
}

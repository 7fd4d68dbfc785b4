/*
 * fuzz_index.c — didcl_weights_open on a sharded checkpoint's
 * model.safetensors.index.json of arbitrary bytes, next to two small valid shards
 * (a.safetensors: tensors x, y; b.safetensors: z). Oracles: a refusal is one line
 * naming the index; an accepted index maps every tensor it lists to a tensor of the
 * shard it names, and opening twice gives the same answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"

/* A safetensors file: 8-byte little-endian header length, the JSON header, the data. */
static void write_shard(const char *name, const char *header, size_t data_bytes) {
    uint8_t buf[512] = {0};
    size_t h = strlen(header);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    fuzz_write(name, buf, 8 + h + data_bytes);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    write_shard("a.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                 "\"y\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}",
                16);
    write_shard("b.safetensors", "{\"z\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}}",
                2);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.safetensors.index.json", data, size);
    didcl_weights_t w = NULL, w2 = NULL;
    didcl_status st = didcl_weights_open(path, &w);
    char *first = strdup(didcl_last_error()); /* whole: messages may be long */
    FUZZ_CHECK(first != NULL, "out of memory");
    if (st == DIDCL_OK) {
        /* an index listing no tensor opens no shard (an empty checkpoint, which the
         * model loader then refuses for its missing tensors) */
        FUZZ_CHECK(didcl_weights_file_count(w) <= 2 &&
                       (didcl_weights_file_count(w) >= 1 || didcl_weights_count(w) == 0),
                   "%zu shards open for %zu tensors", didcl_weights_file_count(w),
                   didcl_weights_count(w));
        for (size_t i = 0; i < didcl_weights_count(w); i++) {
            const didcl_tensor_info *t = didcl_weights_at(w, i);
            FUZZ_CHECK(strstr(t->file, "/a.safetensors") || strstr(t->file, "/b.safetensors"),
                       "'%s' in unexpected file %s", t->name, t->file);
        }
    } else {
        fuzz_check_error(st, NULL);
    }
    didcl_status st2 = didcl_weights_open(path, &w2);
    FUZZ_CHECK(st2 == st && (st != DIDCL_OK || didcl_weights_count(w) == didcl_weights_count(w2)),
               "second open differs (%d, %d)", (int)st, (int)st2);
    FUZZ_CHECK(st == DIDCL_OK || !strcmp(first, didcl_last_error()), "message differs: %s / %s",
               first, didcl_last_error());
    free(first);
    didcl_weights_free(w);
    didcl_weights_free(w2);
    return 0;
}

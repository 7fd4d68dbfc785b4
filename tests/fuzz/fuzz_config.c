/*
 * fuzz_config.c — didcl_model_config_load on a config.json of arbitrary bytes.
 * Oracles: a refusal is one line naming config.json; an accepted config is consistent
 * (head_dim * n_heads = hidden, sizes within the documented limits, block_size dividing
 * the BD3-LM context, eps in order), its parameter count does not wrap, and loading
 * twice gives the same config or the same message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("config.json", data, size);
    didcl_model_config c, c2;
    memset(&c, 0, sizeof c);
    memset(&c2, 0, sizeof c2);
    didcl_status st = didcl_model_config_load(path, &c);
    char *first = strdup(didcl_last_error()); /* whole: messages may be long */
    FUZZ_CHECK(first != NULL, "out of memory");
    if (st == DIDCL_OK) {
        FUZZ_CHECK(c.arch == DIDCL_ARCH_BD3LM || c.arch == DIDCL_ARCH_GPT2, "arch %d", c.arch);
        FUZZ_CHECK(c.n_layers >= 1 && c.n_layers <= 1024, "n_layers %u", c.n_layers);
        FUZZ_CHECK(c.n_heads >= 1 && c.head_dim * c.n_heads == c.hidden, "heads %u x %u != %u",
                   c.n_heads, c.head_dim, c.hidden);
        FUZZ_CHECK(c.vocab_size >= 1 && c.vocab_size <= (1u << 24), "vocab %u", c.vocab_size);
        FUZZ_CHECK(c.context_length >= 1 && c.context_length <= (1u << 20), "context %u",
                   c.context_length);
        if (c.arch == DIDCL_ARCH_BD3LM) {
            FUZZ_CHECK(c.block_size >= 1 && c.context_length % c.block_size == 0,
                       "block %u vs context %u", c.block_size, c.context_length);
            FUZZ_CHECK(c.sampling_eps_min <= c.sampling_eps_max, "eps %g > %g",
                       c.sampling_eps_min, c.sampling_eps_max);
            FUZZ_CHECK(c.mask_token_id >= 0 && (uint32_t)c.mask_token_id < c.vocab_size,
                       "mask id %d of %u", c.mask_token_id, c.vocab_size);
        }
        uint64_t p = didcl_model_config_param_count(&c);
        FUZZ_CHECK(p >= (uint64_t)c.vocab_size * c.hidden, "param count %llu wrapped",
                   (unsigned long long)p);
    } else {
        fuzz_check_error(st, "config.json");
    }
    didcl_status st2 = didcl_model_config_load(path, &c2);
    FUZZ_CHECK(st2 == st, "second load: %d, first %d", (int)st2, (int)st);
    FUZZ_CHECK(st == DIDCL_OK ? c.arch == c2.arch && c.n_layers == c2.n_layers &&
                                    c.hidden == c2.hidden && c.vocab_size == c2.vocab_size &&
                                    c.context_length == c2.context_length &&
                                    c.block_size == c2.block_size &&
                                    c.mask_token_id == c2.mask_token_id
                              : !strcmp(first, didcl_last_error()),
               "second load differs: %s / %s", first, didcl_last_error());
    free(first);
    return 0;
}

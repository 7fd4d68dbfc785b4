/*
 * fuzz_remask_spec.c — remask specs "NAME[:key=value,...]" and the plugin-side option
 * parser didcl_remask_option. Input: a spec, optionally followed by a NUL and a key.
 * Specs that name a file (a '/' or ".so") are left out: opening them loads code, it
 * does not parse. Oracles: a refused spec is one line; an opened one has the name it
 * was asked for and selects the same positions as a second handle of the same spec and
 * seed (determinism), a valid selection on a synthetic draft; didcl_remask_option finds
 * a value exactly as "key=value" appears in the options, or reports absence/too small.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"

#define N 24
#define COUNT 5

static didcl_status run(const char *spec, uint32_t *sel, uint32_t *got) {
    didcl_remask_host_cfg cfg = {.seed = 7};
    didcl_remask_t r;
    didcl_status st = didcl_remask_open(spec, "/nonexistent", &cfg, &r);
    if (st != DIDCL_OK)
        return st;
    didcl_remask_position pos[N];
    for (uint32_t i = 0; i < N; i++) {
        float c = (float)((37u * i + 11u) % 100u) / 100.0f;
        pos[i] = (didcl_remask_position){.token = (int32_t)i, .confidence = c,
                                         .entropy = 1.0f - c, .margin = c / 2.0f,
                                         .stage = 1, .flags = i < 2 ? DIDCL_REMASK_LOCKED : 0u};
    }
    size_t nlen = strcspn(spec, ":");
    FUZZ_CHECK(strlen(didcl_remask_name(r)) == nlen && !strncmp(didcl_remask_name(r), spec, nlen),
               "spec '%s' opened plugin '%s'", spec, didcl_remask_name(r));
    st = didcl_remask_select(r, pos, N, COUNT, 0, 2, N, 0, sel, got);
    if (st == DIDCL_OK)
        FUZZ_CHECK(*got == COUNT, "selected %u of %u", *got, COUNT);
    didcl_remask_free(r);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *in = malloc(size + 2);
    FUZZ_CHECK(in != NULL, "out of memory");
    memcpy(in, data, size);
    in[size] = in[size + 1] = '\0';
    const char *spec = in, *key = in + strlen(in) + (strlen(in) < size ? 1 : 0);

    if (!strchr(spec, '/') && !strstr(spec, ".so")) {
        uint32_t a[N], b[N], na = 0, nb = 0;
        didcl_status st = run(spec, a, &na);
        if (st != DIDCL_OK)
            fuzz_check_error(st, NULL);
        char *first = strdup(didcl_last_error()); /* whole: messages may be long */
        FUZZ_CHECK(first != NULL, "out of memory");
        didcl_status st2 = run(spec, b, &nb);
        FUZZ_CHECK(st2 == st, "second open: %d, first %d", (int)st2, (int)st);
        FUZZ_CHECK(st == DIDCL_OK ? na == nb && !memcmp(a, b, na * sizeof *a)
                                  : !strcmp(first, didcl_last_error()),
                   "second run differs: %s / %s", first, didcl_last_error());
        free(first);
    }

    /* The option parser plugins use, on the spec's options part. */
    const char *colon = strchr(spec, ':'), *opts = colon ? colon + 1 : spec;
    char buf[16];
    int found = didcl_remask_option(opts, key, buf, sizeof buf);
    FUZZ_CHECK(found >= -1 && found <= 1, "didcl_remask_option returned %d", found);
    if (found == 1 && *key) {
        char want[64];
        snprintf(want, sizeof want, "%s=%s", key, buf);
        FUZZ_CHECK(strstr(opts, want) != NULL, "found %s=%s, not in '%s'", key, buf, opts);
    }
    free(in);
    return 0;
}

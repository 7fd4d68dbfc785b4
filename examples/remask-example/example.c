/*
 * example.c — a complete out-of-tree remask plugin for didcl, built against nothing but the
 * installed <didcl/remask.h> (see docs/plugins.md and the Makefile beside this file).
 *
 * It remasks the positions where the model hesitated most between its two best tokens:
 * score = (1 - weight) * margin + weight * confidence, lowest first, ties to the lower
 * index. Option: weight=W with W in [0, 1] (default 0: the top1-top2 margin alone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <didcl/remask.h>

typedef struct example_state {
    double weight;
    const didcl_remask_host *host; /* valid until destroy() */
} example_state;

/* create(): parse and validate the options; every error names the option and what it
 * accepts. Unknown keys are errors too, so a typo never goes unnoticed. */
static int example_create(const char *options, const didcl_remask_host *host, void **state,
                          char *err, size_t err_size) {
    char value[64];
    for (const char *p = options; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len < 7 || strncmp(p, "weight=", 7) != 0) {
            const char *eq = memchr(p, '=', len);
            snprintf(err, err_size, "unknown option '%.*s'; expected weight",
                     (int)(eq ? (size_t)(eq - p) : len), p);
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    example_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return 1;
    }
    s->host = host;
    int found = didcl_remask_option(options, "weight", value, sizeof value);
    if (found != 0) {
        char *end = NULL;
        double w = found > 0 ? strtod(value, &end) : -1.0;
        if (found < 0 || end == value || *end || !(w >= 0.0 && w <= 1.0)) {
            snprintf(err, err_size, "option weight: '%s' is not a number in [0, 1]",
                     found > 0 ? value : "(too long)");
            free(s);
            return 1;
        }
        s->weight = w;
    }
    *state = s;
    if (host && host->log) {
        char msg[64];
        snprintf(msg, sizeof msg, "weight %.3f", s->weight);
        host->log(host->handle, 0, msg);
    }
    return 0;
}

static double score(const example_state *s, const didcl_remask_position *p) {
    return (1.0 - s->weight) * p->margin + s->weight * p->confidence;
}

/* select(): write `count` distinct unlocked indices into out. out has room for in->n
 * entries, which we also use as scratch: collect every unlocked index, then move the
 * `count` best to the front (a selection sort: simple, and n is a few thousand at most). */
static int example_select(void *state, const didcl_remask_input *in, uint32_t *out,
                          uint32_t *n_out, char *err, size_t err_size) {
    const example_state *s = state;
    uint32_t m = 0, k = in->count ? in->count : 1;
    (void)err, (void)err_size;
    for (uint32_t i = 0; i < in->n; i++)
        if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED))
            out[m++] = i;
    if (k > m)
        k = m;
    for (uint32_t a = 0; a < k; a++) {
        uint32_t best = a;
        for (uint32_t b = a + 1; b < m; b++) {
            double sb = score(s, &in->positions[out[b]]);
            double sbest = score(s, &in->positions[out[best]]);
            if (sb < sbest || (sb == sbest && out[b] < out[best]))
                best = b;
        }
        uint32_t t = out[a];
        out[a] = out[best];
        out[best] = t;
    }
    *n_out = k;
    return 0;
}

static void example_destroy(void *state) { free(state); }

static const didcl_remask_plugin descriptor = {
    .abi_version = DIDCL_REMASK_ABI_VERSION,
    .struct_size = sizeof(didcl_remask_plugin),
    .name = "example",
    .description = "smallest top1-top2 margin first (weight=W mixes in confidence)",
    .version = "1.0",
    .create = example_create,
    .select = example_select,
    .destroy = example_destroy,
};

/* The one exported symbol. Build with -fvisibility=hidden so nothing else leaks out. */
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
    return &descriptor;
}

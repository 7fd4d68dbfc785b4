/*
 * didcl/remask.h — the remask-selection plugin ABI of didcl. This header is the whole
 * specification: a plugin author needs nothing else (no library to link against).
 *
 * What a plugin does. Between DiD stages the host has a draft: every position carries
 * the token committed there and what the model knew at that moment (its snapshot
 * confidence, entropy, top1-top2 margin, step, block, stage). The plugin chooses which
 * positions to set back to [MASK]; the next stage regenerates them with a larger block.
 *
 * How it is loaded. A plugin is a shared object exporting one symbol,
 *
 *     const didcl_remask_plugin *didcl_remask_plugin_entry(void);
 *
 * which returns a pointer to a constant descriptor. The host dlopen()s the file, calls
 * the entry, and refuses the plugin unless abi_version == DIDCL_REMASK_ABI_VERSION and
 * struct_size >= the size of the version-1 descriptor. A program linking libdidcl MAY
 * instead pass the same descriptor to didcl_remask_register (include/didcl.h), with the
 * same checks; the bundled plugins are also built into libdidcl that way.
 *
 * The key words MUST, MUST NOT, SHOULD and MAY are to be read as in RFC 2119.
 *
 * Minimal plugin (build: cc -shared -fPIC $(pkg-config --cflags didcl) -o mine.so mine.c):
 *
 *     #include <didcl/remask.h>
 *     static int sel(void *st, const didcl_remask_input *in, uint32_t *out,
 *                    uint32_t *n_out, char *err, size_t err_size) {
 *         uint32_t k = 0;                        // the first `count` unlocked positions
 *         for (uint32_t i = 0; i < in->n && k < in->count; i++)
 *             if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED)) out[k++] = i;
 *         *n_out = k;
 *         return 0;
 *     }
 *     static const didcl_remask_plugin desc = {
 *         DIDCL_REMASK_ABI_VERSION, sizeof(didcl_remask_plugin), "first", "the first n",
 *         "1.0", NULL, sel, NULL };
 *     DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
 *         return &desc;
 *     }
 */
#ifndef DIDCL_REMASK_H
#define DIDCL_REMASK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIDCL_REMASK_ABI_VERSION 1u

#if defined(_WIN32)
#define DIDCL_REMASK_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define DIDCL_REMASK_EXPORT __attribute__((visibility("default")))
#else
#define DIDCL_REMASK_EXPORT
#endif

/* Name of the entry symbol, for hosts: dlsym(handle, DIDCL_REMASK_ENTRY_SYMBOL). */
#define DIDCL_REMASK_ENTRY_SYMBOL "didcl_remask_plugin_entry"

/* Position flags. */
#define DIDCL_REMASK_LOCKED 0x1u /* prompt or BOS: MUST NOT be selected */

/* What the host knows about one position of a draft. */
typedef struct didcl_remask_position {
    int32_t token;      /* token id committed at this position */
    float confidence;   /* snapshot confidence: model probability of `token` when it was
                           committed (after top-p renormalisation), in [0, 1] */
    float entropy;      /* entropy in nats of the distribution `token` was drawn from */
    float margin;       /* top-1 minus top-2 probability at commit, in [0, 1] */
    int32_t step;       /* denoising step inside its block at commit (0-based) */
    int32_t block;      /* index of the block it was committed in (at that stage's size) */
    int32_t stage;      /* stage that committed it: 1 = draft, 2.. = revisions; 0 = prompt */
    int32_t nfe;        /* index of the forward pass that committed it */
    uint32_t flags;     /* DIDCL_REMASK_* bits */
} didcl_remask_position;

/* One selection request. positions are in sequence order, so the neighbours of i are
 * positions[i-1] and positions[i+1]. */
typedef struct didcl_remask_input {
    uint32_t struct_size;                   /* sizeof(didcl_remask_input) of the host */
    const didcl_remask_position *positions; /* n entries, read-only */
    uint32_t n;                             /* sequence length */
    uint32_t n_unlocked;                    /* positions without DIDCL_REMASK_LOCKED */
    uint32_t count;                         /* how many positions to select,
                                               1 <= count <= n_unlocked */
    uint32_t count_flexible;                /* nonzero: the plugin MAY select any number
                                               in [1, n_unlocked] instead of `count` */
    uint32_t stage;                         /* the stage about to run (2 for the first revision) */
    uint32_t block_size;                    /* block size of that stage */
    uint32_t sample;                        /* index of this sequence in a batch */
} didcl_remask_input;

/* Services the host offers. Valid from create() until destroy() returns. */
typedef struct didcl_remask_host {
    uint32_t struct_size;                   /* sizeof(didcl_remask_host) of the host */
    void *handle;                           /* pass back as the first argument */
    /* Log a message (level: 0 debug, 1 info, 2 warning, 3 error). */
    void (*log)(void *handle, int level, const char *msg);
    /* Uniform double in [0, 1) from the host's counter-based generator, seeded from the
     * run's seed: a plugin that draws only from here is reproducible on every device.
     * didcl: Philox at the sample and stage of the current select(), the draw number
     * restarting at 0 in every select() (see docs/plugins.md). */
    double (*uniform)(void *handle);
} didcl_remask_host;

/* The descriptor. All function pointers are called from one thread at a time per state;
 * different states MAY be used from different threads concurrently. */
typedef struct didcl_remask_plugin {
    uint32_t abi_version;     /* MUST be DIDCL_REMASK_ABI_VERSION */
    uint32_t struct_size;     /* MUST be sizeof(didcl_remask_plugin) */
    const char *name;         /* short identifier (at most 63 bytes): lowercase letters,
                                 digits, '-', '_' */
    const char *description;  /* one line */
    const char *version;      /* plugin's own version string, e.g. "1.0" */

    /* Parse options ("key=value,key=value", or "" for none) and allocate state.
     * MAY be NULL (then *state is NULL and options MUST be empty). Return 0 on success;
     * on failure free anything allocated, return nonzero and write a one-line reason
     * into err (NUL-terminated, at most err_size bytes), e.g. "unknown option 'lenght';
     * expected len, agg".
     * The host MUST call destroy() for every state that create() returned. */
    int (*create)(const char *options, const didcl_remask_host *host, void **state,
                  char *err, size_t err_size);

    /* Choose positions to remask. The host calls select() only when there is something
     * to choose (1 <= in->count <= in->n_unlocked). out has room for in->n entries;
     * write distinct indices of unlocked positions, in any order, and set *n_out.
     * Unless in->count_flexible, *n_out MUST equal in->count. The plugin MUST NOT keep the
     * pointers of `in` after returning. Return 0 on success, nonzero with a reason in err
     * on failure. The host validates the result and commits nothing from an invalid
     * selection. */
    int (*select)(void *state, const didcl_remask_input *in, uint32_t *out, uint32_t *n_out,
                  char *err, size_t err_size);

    /* Free state. MAY be NULL. Called exactly once per successful create(). */
    void (*destroy)(void *state);
} didcl_remask_plugin;

typedef const didcl_remask_plugin *(*didcl_remask_entry_fn)(void);

/* Helper for plugins: copy the value of `key` from an options string
 * "k1=v1,k2=v2" into buf. Returns 1 if found, 0 if absent, -1 if the value does not fit. */
static inline int didcl_remask_option(const char *options, const char *key, char *buf,
                                      size_t size) {
    size_t klen = strlen(key);
    const char *p = options;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && p[klen] == '=' && !strncmp(p, key, klen)) {
            size_t vlen = len - klen - 1;
            if (vlen + 1 > size)
                return -1;
            memcpy(buf, p + klen + 1, vlen);
            buf[vlen] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* DIDCL_REMASK_H */

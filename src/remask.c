/*
 * remask.c — the remask plugin loader: resolves "NAME[:options]" on the plugin search
 * path, then among the in-process plugins (built into libdidcl, or registered by the
 * host); dlopen()s a file, checks every descriptor against include/didcl/remask.h, runs
 * create()/select()/destroy(), draws the plugin's uniforms from Philox and validates
 * every selection before the caller sees it.
 */
#define _GNU_SOURCE /* dladdr */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "paths.h"
#include "philox.h"
#include "remask.h"
#include "settings.h"

#define ERR_TEXT_MAX 512

struct didcl_remask {
    void *dl;                         /* dlopen handle; NULL for an in-process plugin */
    const didcl_remask_plugin *desc;  /* the plugin's descriptor (owned by the plugin) */
    enum didcl_remask_origin origin;
    void *state;                      /* from create() */
    int created;                      /* create() succeeded: destroy() is owed */
    didcl_remask_host host;           /* handed to create(); handle = this struct */
    uint64_t seed;                    /* Philox key of host.uniform() */
    uint32_t sample, stage, draws;    /* where the next draw lives; draws restarts at 0
                                         in every select */
    char path[PATH_MAX];              /* the file, or "(built-in)" / "(registered)" */
    char label[96 + PATH_MAX];        /* how messages name the plugin */
    uint32_t cap;                     /* capacity of scratch and seen, in positions */
    uint32_t *scratch;                /* [cap] the plugin writes its selection here */
    uint8_t *seen;                    /* [cap] duplicate detection */
};

/* ---- host services ------------------------------------------------------------------ */

static void host_log(void *handle, int level, const char *msg) {
    didcl_remask_t r = handle;
    if (level < DIDCL_LOG_DEBUG)
        level = DIDCL_LOG_DEBUG;
    if (level > DIDCL_LOG_ERROR)
        level = DIDCL_LOG_ERROR;
    didcl_log((enum didcl_log_level)level, "plugin '%s': %s", r->desc->name, msg ? msg : "");
}

/* The sampler's stream for plugins: Philox at {seed, DIDCL_RNG_PLUGIN, sample, 0, stage,
 * 0}, index = draw number within the current select call. */
static double host_uniform(void *handle) {
    didcl_remask_t r = handle;
    didcl_philox_at at = {r->seed, DIDCL_RNG_PLUGIN, r->sample, 0, r->stage, 0};
    return didcl_philox_uniform(&at, r->draws++);
}

/* ---- search path -------------------------------------------------------------------- */

typedef struct dirlist {
    char **dir;
    size_t n;
} dirlist;

static void dirlist_free(dirlist *d) {
    for (size_t i = 0; i < d->n; i++)
        free(d->dir[i]);
    free(d->dir);
    d->dir = NULL;
    d->n = 0;
}

static didcl_status dirlist_add(dirlist *d, const char *dir, size_t len) {
    if (len == 0)
        return DIDCL_OK;
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->dir[i]) == len && !strncmp(d->dir[i], dir, len))
            return DIDCL_OK;
    char **grown = realloc(d->dir, (d->n + 1) * sizeof *grown);
    if (!grown)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "plugin search path: out of memory");
    d->dir = grown;
    if (!(d->dir[d->n] = strndup(dir, len)))
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "plugin search path: out of memory");
    d->n++;
    return DIDCL_OK;
}

static didcl_status dirlist_add_path(dirlist *d, const char *path) {
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        DIDCL_TRY(dirlist_add(d, path, len));
        path = colon ? colon + 1 : NULL;
    }
    return DIDCL_OK;
}

/* The build tree's plugins, only while libdidcl itself runs from this build tree. */
static const char *build_tree_plugins(char *dir, size_t size) {
    if (!didcl_paths_in_build_tree())
        return NULL;
    snprintf(dir, size, "%s/plugins/.libs", didcl_paths_build_dir());
    return dir;
}

static didcl_status search_dirs(const char *plugin_path, dirlist *d) {
    didcl_status st;
    char buf[PATH_MAX + 32];
    const char *build = build_tree_plugins(buf, sizeof buf);
    const char *installed = didcl_paths_plugins_dir();
    if ((st = dirlist_add_path(d, plugin_path)) != DIDCL_OK ||
        (st = dirlist_add_path(d, didcl_settings_plugin_path())) != DIDCL_OK ||
        (st = dirlist_add(d, installed, strlen(installed))) != DIDCL_OK ||
        (build && (st = dirlist_add(d, build, strlen(build))) != DIDCL_OK)) {
        dirlist_free(d);
        return st;
    }
    return DIDCL_OK;
}

didcl_status didcl_remask_search_path(const char *plugin_path, char *buf, size_t size) {
    dirlist d = {0};
    size_t used = 0;
    if (!buf || size == 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_remask_search_path: no buffer");
    DIDCL_TRY(search_dirs(plugin_path, &d));
    buf[0] = '\0';
    for (size_t i = 0; i < d.n; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ":" : "", d.dir[i]);
        if (w < 0 || (size_t)w >= size - used) {
            dirlist_free(&d);
            return didcl_fail(DIDCL_ERR_INVALID_ARG,
                              "didcl_remask_search_path: buffer of %zu bytes is too small", size);
        }
        used += (size_t)w;
    }
    dirlist_free(&d);
    return DIDCL_OK;
}

/* ---- descriptors ------------------------------------------------------------------- */

static int valid_name(const char *s, size_t len) {
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* The one check of a descriptor, whether it comes from a file, libdidcl or the host;
 * what names its origin in the message ("plugin WHAT: ..."). */
static didcl_status check_desc(const didcl_remask_plugin *d, const char *what) {
    if (!d)
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: %s() returned NULL", what,
                          DIDCL_REMASK_ENTRY_SYMBOL);
    if (d->abi_version != DIDCL_REMASK_ABI_VERSION)
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: ABI version %u, this didcl supports %u",
                          what, (unsigned)d->abi_version, (unsigned)DIDCL_REMASK_ABI_VERSION);
    if (d->struct_size < sizeof(didcl_remask_plugin))
        return didcl_fail(DIDCL_ERR_PLUGIN,
                          "plugin %s: descriptor struct_size %u is smaller than the ABI version "
                          "%u descriptor (%zu bytes)",
                          what, (unsigned)d->struct_size, (unsigned)DIDCL_REMASK_ABI_VERSION,
                          sizeof(didcl_remask_plugin));
    if (!d->name || !valid_name(d->name, strlen(d->name)) || strlen(d->name) >= 64)
        return didcl_fail(DIDCL_ERR_PLUGIN,
                          "plugin %s: descriptor name '%s' is not a valid name, expected "
                          "lowercase letters, digits, '-' and '_' (at most 63)",
                          what, d->name ? d->name : "(null)");
    if (!d->select)
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: descriptor '%s' has no select function",
                          what, d->name);
    return DIDCL_OK;
}

/* dlopen the file and check its descriptor. On success the caller owns *dl. */
static didcl_status probe(const char *path, void **dl, const didcl_remask_plugin **desc) {
    struct stat sb;
    char local[PATH_MAX];
    if (stat(path, &sb) != 0)
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: not a regular file", path);
    /* dlopen() searches the library path for a name without '/': never do that. */
    snprintf(local, sizeof local, "%s%s", strchr(path, '/') ? "" : "./", path);
    dlerror();
    void *h = dlopen(local, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: cannot load: %s", path,
                          e ? e : "dlopen failed");
    }
    void *sym = dlsym(h, DIDCL_REMASK_ENTRY_SYMBOL);
    if (!sym) {
        dlclose(h);
        return didcl_fail(DIDCL_ERR_PLUGIN,
                          "plugin %s: no entry symbol %s (not a didcl remask plugin?)", path,
                          DIDCL_REMASK_ENTRY_SYMBOL);
    }
    didcl_remask_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const didcl_remask_plugin *d = entry();
    didcl_status st = check_desc(d, path);
    if (st != DIDCL_OK) {
        dlclose(h);
        return st;
    }
    *dl = h;
    *desc = d;
    return DIDCL_OK;
}

/* ---- in-process plugins ------------------------------------------------------------- */

/* Built into libdidcl, sorted by name (the listing order). */
static const didcl_remask_entry_fn builtins[] = {
    didcl_remask_builtin_entropy, didcl_remask_builtin_learned, didcl_remask_builtin_lowconf,
    didcl_remask_builtin_random, didcl_remask_builtin_span};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

/* Registered by the host, in registration order; open counts live handles. */
typedef struct reg_entry {
    const didcl_remask_plugin *desc;
    uint32_t open;
} reg_entry;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static reg_entry *reg;
static size_t reg_n, reg_cap;

static const didcl_remask_plugin *builtin_find(const char *name, size_t len) {
    for (size_t i = 0; i < N_BUILTINS; i++) {
        const didcl_remask_plugin *d = builtins[i]();
        if (strlen(d->name) == len && !strncmp(d->name, name, len))
            return d;
    }
    return NULL;
}

/* Index of a registered name, or reg_n; call with reg_lock held. */
static size_t reg_find(const char *name, size_t len) {
    size_t i = 0;
    while (i < reg_n && !(strlen(reg[i].desc->name) == len && !strncmp(reg[i].desc->name, name,
                                                                       len)))
        i++;
    return i;
}

didcl_status didcl_remask_register(const didcl_remask_plugin *desc) {
    if (!desc)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_remask_register: NULL descriptor");
    DIDCL_TRY(check_desc(desc, "registration"));
    size_t len = strlen(desc->name);
    if (builtin_find(desc->name, len))
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "didcl_remask_register: '%s' is a built-in plugin and cannot be "
                          "replaced in-process (choose another name, or install a "
                          "didcl-remask-%s.so, which wins)",
                          desc->name, desc->name);
    pthread_mutex_lock(&reg_lock);
    didcl_status st = DIDCL_OK;
    if (reg_find(desc->name, len) < reg_n) {
        st = didcl_fail(DIDCL_ERR_INVALID_ARG,
                        "didcl_remask_register: a plugin named '%s' is already registered; "
                        "unregister it first", desc->name);
    } else if (reg_n == reg_cap) {
        size_t cap = reg_cap ? 2 * reg_cap : 8;
        reg_entry *grown = realloc(reg, cap * sizeof *grown);
        if (!grown)
            st = didcl_fail(DIDCL_ERR_NO_MEMORY, "didcl_remask_register: out of memory");
        else
            reg = grown, reg_cap = cap;
    }
    if (st == DIDCL_OK)
        reg[reg_n++] = (reg_entry){desc, 0};
    pthread_mutex_unlock(&reg_lock);
    return st;
}

didcl_status didcl_remask_unregister(const char *name) {
    if (!name)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_remask_unregister: NULL name");
    size_t len = strlen(name);
    if (builtin_find(name, len))
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "didcl_remask_unregister: '%s' is built in, not registered", name);
    pthread_mutex_lock(&reg_lock);
    didcl_status st = DIDCL_OK;
    size_t i = reg_find(name, len);
    if (i == reg_n) {
        st = didcl_fail(DIDCL_ERR_INVALID_ARG,
                        "didcl_remask_unregister: no plugin named '%s' is registered", name);
    } else if (reg[i].open) {
        st = didcl_fail(DIDCL_ERR_INVALID_ARG,
                        "didcl_remask_unregister: '%s' still has %u open handle%s; free %s "
                        "first", name, reg[i].open, reg[i].open == 1 ? "" : "s",
                        reg[i].open == 1 ? "it" : "them");
    } else {
        memmove(&reg[i], &reg[i + 1], (reg_n - i - 1) * sizeof *reg);
        if (--reg_n == 0) {
            free(reg);
            reg = NULL;
            reg_cap = 0;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return st;
}

/* The in-process plugin of a name, if any; a registered one counts one more open handle
 * (released by release_registered). */
static const didcl_remask_plugin *inproc_acquire(const char *name, size_t len,
                                                 enum didcl_remask_origin *origin) {
    const didcl_remask_plugin *d = builtin_find(name, len);
    if (d) {
        *origin = DIDCL_REMASK_BUILTIN;
        return d;
    }
    pthread_mutex_lock(&reg_lock);
    size_t i = reg_find(name, len);
    if (i < reg_n) {
        d = reg[i].desc;
        reg[i].open++;
        *origin = DIDCL_REMASK_REGISTERED;
    }
    pthread_mutex_unlock(&reg_lock);
    return d;
}

static void release_registered(const didcl_remask_plugin *desc) {
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_n; i++)
        if (reg[i].desc == desc && reg[i].open) {
            reg[i].open--;
            break;
        }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- opening ------------------------------------------------------------------------ */

/* Find the file of a plugin NAME on the search path: *found = 1 and its path in out, or
 * *found = 0 and the directories searched in tried. */
static didcl_status find_file(const char *name, size_t len, const char *plugin_path, char *out,
                              size_t size, int *found, char *tried, size_t tried_size) {
    dirlist d = {0};
    size_t used = 0;
    *found = 0;
    DIDCL_TRY(search_dirs(plugin_path, &d));
    tried[0] = '\0';
    for (size_t i = 0; i < d.n && !*found; i++) {
        struct stat sb;
        snprintf(out, size, "%s/" DIDCL_REMASK_FILE_PREFIX "%.*s" DIDCL_REMASK_FILE_SUFFIX,
                 d.dir[i], (int)len, name);
        if (stat(out, &sb) == 0) {
            *found = 1;
            break;
        }
        int w = snprintf(tried + used, tried_size - used, "%s%s", i ? ", " : "", d.dir[i]);
        if (w > 0 && (size_t)w < tried_size - used)
            used += (size_t)w;
    }
    dirlist_free(&d);
    return DIDCL_OK;
}

/* Fill r->dl/desc/origin/path from a spec's NAME (or path) part. */
static didcl_status locate(didcl_remask_t r, const char *spec, size_t len, int is_path,
                           const char *plugin_path) {
    if (is_path) {
        if (len >= sizeof r->path)
            return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %.60s...: path too long", spec);
        memcpy(r->path, spec, len);
        r->path[len] = '\0';
        return probe(r->path, &r->dl, &r->desc);
    }
    if (!valid_name(spec, len))
        return didcl_fail(DIDCL_ERR_PLUGIN,
                          "remask plugin '%.*s': not a plugin name (lowercase letters, digits, "
                          "'-', '_') nor a path to a .so file",
                          (int)len, spec);
    char tried[2048];
    int found;
    DIDCL_TRY(find_file(spec, len, plugin_path, r->path, sizeof r->path, &found, tried,
                        sizeof tried));
    if (found)
        return probe(r->path, &r->dl, &r->desc);
    if ((r->desc = inproc_acquire(spec, len, &r->origin))) {
        snprintf(r->path, sizeof r->path, "%s",
                 r->origin == DIDCL_REMASK_BUILTIN ? "(built-in)" : "(registered)");
        return check_desc(r->desc, r->path);
    }
    return didcl_fail(DIDCL_ERR_PLUGIN,
                      "remask plugin '%.*s' not found: no " DIDCL_REMASK_FILE_PREFIX
                      "%.*s" DIDCL_REMASK_FILE_SUFFIX " in %s, and no built-in or registered "
                      "plugin of that name (see 'didcl plugins')",
                      (int)len, spec, (int)len, spec, tried);
}

didcl_status didcl_remask_open(const char *spec, const char *plugin_path,
                               const didcl_remask_host_cfg *cfg, didcl_remask_t *out) {
    if (!spec || !*spec || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "remask plugin: empty spec, expected NAME[:key=value,...]");
    /* A spec that starts with a plugin name and a ':' is NAME:OPTIONS, whatever the options
     * hold (learned:weights=/a/b.safetensors); otherwise a path's NAME ends at the first
     * ':' after its last '/', so paths may contain ':'. */
    size_t name_len = strspn(spec, "abcdefghijklmnopqrstuvwxyz0123456789-_");
    const char *slash = spec[name_len] == ':' ? NULL : strrchr(spec, '/');
    const char *colon = strchr(slash ? slash : spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *options = colon ? colon + 1 : "";
    int is_path = memchr(spec, '/', len) != NULL ||
                  (len >= 3 && !strncmp(spec + len - 3, ".so", 3));

    didcl_remask_t r = calloc(1, sizeof *r);
    if (!r)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "remask plugin %s: out of memory", spec);
    didcl_status st = locate(r, spec, len, is_path, plugin_path);
    if (st != DIDCL_OK) {
        didcl_remask_free(r);
        return st;
    }
    /* messages name the file, or the in-process plugin and where it lives */
    if (r->origin == DIDCL_REMASK_FILE)
        snprintf(r->label, sizeof r->label, "%s", r->path);
    else
        snprintf(r->label, sizeof r->label, "'%s' %s", r->desc->name, r->path);

    r->seed = cfg ? cfg->seed : 0;
    r->host.struct_size = sizeof r->host;
    r->host.handle = r;
    r->host.log = host_log;
    r->host.uniform = host_uniform;

    if (!r->desc->create) {
        if (*options) {
            st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: '%s' takes no options, got '%s'",
                            r->label, r->desc->name, options);
            didcl_remask_free(r);
            return st;
        }
    } else {
        char err[ERR_TEXT_MAX] = "";
        void *state = NULL;
        if (r->desc->create(options, &r->host, &state, err, sizeof err) != 0) {
            err[sizeof err - 1] = '\0';
            st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: create failed: %s", r->label,
                            *err ? err : "no reason given");
            didcl_remask_free(r);
            return st;
        }
        r->state = state;
        r->created = 1;
    }
    didcl_log(DIDCL_LOG_DEBUG, "remask plugin '%s' %s loaded from %s", r->desc->name,
              r->desc->version ? r->desc->version : "", r->path);
    *out = r;
    return DIDCL_OK;
}

void didcl_remask_free(didcl_remask_t r) {
    if (!r)
        return;
    if (r->created && r->desc->destroy)
        r->desc->destroy(r->state);
    if (r->dl)
        dlclose(r->dl);
    if (r->desc && r->origin == DIDCL_REMASK_REGISTERED)
        release_registered(r->desc);
    free(r->scratch);
    free(r->seen);
    free(r);
}

const char *didcl_remask_name(didcl_remask_t r) { return r ? r->desc->name : ""; }
const char *didcl_remask_version(didcl_remask_t r) {
    return r && r->desc->version ? r->desc->version : "";
}
const char *didcl_remask_description(didcl_remask_t r) {
    return r && r->desc->description ? r->desc->description : "";
}
const char *didcl_remask_path(didcl_remask_t r) { return r ? r->path : ""; }

/* ---- selection ---------------------------------------------------------------------- */

didcl_status didcl_remask_select(didcl_remask_t r, const didcl_remask_position *positions,
                                 uint32_t n, uint32_t count, int count_flexible, uint32_t stage,
                                 uint32_t block_size, uint32_t sample, uint32_t *out_indices,
                                 uint32_t *n_out) {
    if (!r || !n_out || (n && (!positions || !out_indices)))
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_remask_select: NULL argument");
    uint32_t unlocked = 0;
    for (uint32_t i = 0; i < n; i++)
        unlocked += !(positions[i].flags & DIDCL_REMASK_LOCKED);
    if (count > unlocked)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "remask select: count %u exceeds the %u unlocked positions", count,
                          unlocked);
    if (count == 0) { /* nothing to choose: the ABI promises plugins count >= 1 */
        *n_out = 0;
        return DIDCL_OK;
    }
    if (n > r->cap) {
        uint32_t *s = realloc(r->scratch, (size_t)n * sizeof *s);
        if (s)
            r->scratch = s;
        uint8_t *seen = realloc(r->seen, n);
        if (seen)
            r->seen = seen;
        if (!s || !seen)
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "remask select: out of memory for %u positions",
                              n);
        r->cap = n;
    }

    didcl_remask_input in = {
        .struct_size = sizeof in, .positions = positions, .n = n, .n_unlocked = unlocked,
        .count = count, .count_flexible = count_flexible ? 1u : 0u, .stage = stage,
        .block_size = block_size, .sample = sample};
    char err[ERR_TEXT_MAX] = "";
    uint32_t got = UINT32_MAX;
    const char *name = r->desc->name;
    r->sample = sample;
    r->stage = stage;
    r->draws = 0;
    if (r->desc->select(r->state, &in, r->scratch, &got, err, sizeof err) != 0) {
        err[sizeof err - 1] = '\0';
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin '%s' failed to select: %s", name,
                          *err ? err : "no reason given");
    }
    if (!count_flexible && got != count)
        return didcl_fail(DIDCL_ERR_PLUGIN, "plugin '%s' selected %u positions, expected %u",
                          name, got, count);
    if (count_flexible && (got < 1 || got > unlocked))
        return didcl_fail(DIDCL_ERR_PLUGIN,
                          "plugin '%s' selected %u positions, expected 1..%u (flexible count)",
                          name, got, unlocked);
    memset(r->seen, 0, n);
    for (uint32_t k = 0; k < got; k++) {
        uint32_t i = r->scratch[k];
        if (i >= n)
            return didcl_fail(DIDCL_ERR_PLUGIN,
                              "plugin '%s' selected position %u, out of range (sequence length %u)",
                              name, i, n);
        if (positions[i].flags & DIDCL_REMASK_LOCKED)
            return didcl_fail(DIDCL_ERR_PLUGIN, "plugin '%s' selected locked position %u (prompt or BOS)",
                              name, i);
        if (r->seen[i])
            return didcl_fail(DIDCL_ERR_PLUGIN, "plugin '%s' selected position %u twice", name, i);
        r->seen[i] = 1;
    }
    memcpy(out_indices, r->scratch, (size_t)got * sizeof *out_indices);
    *n_out = got;
    return DIDCL_OK;
}

/* ---- listing ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void copy_str(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

/* Names of didcl-remask-*.so files in dir, sorted; *names is malloc'd. */
static didcl_status scan_dir(const char *dir, char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    DIR *dh = opendir(dir);
    if (!dh)
        return DIDCL_OK; /* a missing directory on the path is not an error */
    size_t pre = strlen(DIDCL_REMASK_FILE_PREFIX), suf = strlen(DIDCL_REMASK_FILE_SUFFIX);
    struct dirent *e;
    didcl_status st = DIDCL_OK;
    while ((e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        if (len <= pre + suf || strncmp(e->d_name, DIDCL_REMASK_FILE_PREFIX, pre) ||
            strcmp(e->d_name + len - suf, DIDCL_REMASK_FILE_SUFFIX))
            continue;
        char **grown = realloc(*names, (*n + 1) * sizeof *grown);
        if (!grown || !(grown[*n] = strdup(e->d_name))) {
            if (grown)
                *names = grown;
            st = didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory listing plugins", dir);
            break;
        }
        *names = grown;
        (*n)++;
    }
    closedir(dh);
    if (*n)
        qsort(*names, *n, sizeof **names, cmp_str);
    return st;
}

/* What a probing child reports through its pipe. */
typedef struct probe_report {
    didcl_status status;
    uint32_t abi_version;
    char plugin_name[64], version[32], description[256], message[512];
} probe_report;

#define PROBE_TIMEOUT_MS 10000

/* probe() in a child process, so that a plugin whose constructor or entry aborts,
 * faults or exits only fails its own line (a plugin is code that runs: docs/security.md).
 * The child's stdout goes to stderr so that a chatty constructor cannot spoil a listing
 * printed as JSON; a child that does not answer within PROBE_TIMEOUT_MS is killed. */
static void probe_isolated(didcl_remask_info *info) {
    probe_report rep;
    int fd[2] = {-1, -1}, e = 0;
    memset(&rep, 0, sizeof rep);
    fflush(NULL); /* a child that exit()s must not flush our buffers a second time */
    pid_t pid = -1;
    if (pipe(fd) != 0)
        e = errno;
    else if ((pid = fork()) < 0) {
        e = errno;
        close(fd[0]);
        close(fd[1]);
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        void *dl;
        const didcl_remask_plugin *desc;
        rep.status = probe(info->path, &dl, &desc);
        if (rep.status == DIDCL_OK) {
            copy_str(rep.plugin_name, sizeof rep.plugin_name, desc->name);
            copy_str(rep.version, sizeof rep.version, desc->version);
            copy_str(rep.description, sizeof rep.description, desc->description);
            rep.abi_version = desc->abi_version;
        } else {
            copy_str(rep.message, sizeof rep.message, didcl_last_error());
        }
        ssize_t w = write(fd[1], &rep, sizeof rep);
        _exit(w == (ssize_t)sizeof rep ? 0 : 1); /* no atexit handlers, no stdio flush */
    }
    if (pid < 0) {
        info->status = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: cannot start a process to "
                                  "probe it: %s", info->path, strerror(e));
        copy_str(info->message, sizeof info->message, didcl_last_error());
        return;
    }
    close(fd[1]);
    size_t got = 0;
    int timed_out = 0;
    struct pollfd pfd = {.fd = fd[0], .events = POLLIN};
    while (got < sizeof rep) {
        int r = poll(&pfd, 1, PROBE_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            timed_out = 1;
        if (r <= 0)
            break;
        ssize_t k = read(fd[0], (char *)&rep + got, sizeof rep - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (got == sizeof rep && WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
        rep.plugin_name[sizeof rep.plugin_name - 1] = '\0';
        rep.version[sizeof rep.version - 1] = '\0';
        rep.description[sizeof rep.description - 1] = '\0';
        rep.message[sizeof rep.message - 1] = '\0';
        info->status = rep.status;
        info->abi_version = rep.abi_version;
        copy_str(info->plugin_name, sizeof info->plugin_name, rep.plugin_name);
        copy_str(info->version, sizeof info->version, rep.version);
        copy_str(info->description, sizeof info->description, rep.description);
        copy_str(info->message, sizeof info->message, rep.message);
        return;
    }
    if (timed_out)
        info->status = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: loading it did not finish "
                                  "within %d s (killed)", info->path, PROBE_TIMEOUT_MS / 1000);
    else if (WIFSIGNALED(ws))
        info->status = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: loading it killed the probing "
                                  "process with signal %d (%s)", info->path, WTERMSIG(ws),
                                  strsignal(WTERMSIG(ws)));
    else
        info->status = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: loading it ended the probing "
                                  "process (exit status %d) before its descriptor was read",
                                  info->path, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    copy_str(info->message, sizeof info->message, didcl_last_error());
}

didcl_status didcl_remask_list(const char *plugin_path, didcl_remask_info **out, size_t *n) {
    dirlist d = {0};
    didcl_remask_info *list = NULL;
    size_t count = 0;
    didcl_status st;
    if (!out || !n)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_remask_list: NULL argument");
    DIDCL_TRY(search_dirs(plugin_path, &d));
    size_t pre = strlen(DIDCL_REMASK_FILE_PREFIX), suf = strlen(DIDCL_REMASK_FILE_SUFFIX);
    for (size_t i = 0; i < d.n; i++) {
        char **names;
        size_t nn;
        if ((st = scan_dir(d.dir[i], &names, &nn)) != DIDCL_OK)
            goto fail;
        for (size_t k = 0; k < nn; k++) {
            didcl_remask_info *grown = realloc(list, (count + 1) * sizeof *grown);
            if (!grown) {
                for (; k < nn; k++)
                    free(names[k]);
                free(names);
                st = didcl_fail(DIDCL_ERR_NO_MEMORY, "listing plugins: out of memory");
                goto fail;
            }
            list = grown;
            didcl_remask_info *info = &list[count++];
            memset(info, 0, sizeof *info);
            size_t len = strlen(names[k]) - pre - suf;
            snprintf(info->name, sizeof info->name, "%.*s", (int)len, names[k] + pre);
            snprintf(info->path, sizeof info->path, "%s/%s", d.dir[i], names[k]);
            free(names[k]);
            for (size_t j = 0; j + 1 < count; j++)
                if (!strcmp(list[j].name, info->name))
                    info->shadowed = 1;
            probe_isolated(info);
        }
        free(names);
    }
    dirlist_free(&d);
    /* then the in-process ones, which every file of the same name shadows */
    pthread_mutex_lock(&reg_lock);
    size_t total = count + N_BUILTINS + reg_n;
    didcl_remask_info *grown = realloc(list, (total ? total : 1) * sizeof *grown);
    if (!grown) {
        pthread_mutex_unlock(&reg_lock);
        free(list);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "listing plugins: out of memory");
    }
    list = grown;
    for (size_t i = 0; i < N_BUILTINS + reg_n; i++) {
        const didcl_remask_plugin *desc = i < N_BUILTINS ? builtins[i]() : reg[i - N_BUILTINS].desc;
        didcl_remask_info *info = &list[count++];
        memset(info, 0, sizeof *info);
        info->origin = i < N_BUILTINS ? DIDCL_REMASK_BUILTIN : DIDCL_REMASK_REGISTERED;
        copy_str(info->name, sizeof info->name, desc->name);
        copy_str(info->plugin_name, sizeof info->plugin_name, desc->name);
        copy_str(info->version, sizeof info->version, desc->version);
        copy_str(info->description, sizeof info->description, desc->description);
        copy_str(info->path, sizeof info->path,
                 i < N_BUILTINS ? "(built-in)" : "(registered)");
        info->abi_version = desc->abi_version;
        info->status = DIDCL_OK; /* checked at registration; built-ins by check_remask */
        for (size_t j = 0; j + 1 < count; j++)
            if (!strcmp(list[j].name, info->name))
                info->shadowed = 1;
    }
    pthread_mutex_unlock(&reg_lock);
    *out = list;
    *n = count;
    return DIDCL_OK;
fail:
    dirlist_free(&d);
    free(list);
    return st;
}

/*
 * remask.c — the remask plugin loader: resolves "NAME[:options]" on the plugin search
 * path, dlopen()s the file, checks the descriptor against include/didcl/remask.h, runs
 * create()/select()/destroy() and validates every selection before the caller sees it.
 */
#define _GNU_SOURCE /* dladdr */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "paths.h"
#include "remask.h"
#include "settings.h"

#define ERR_TEXT_MAX 512

struct didcl_remask {
    void *dl;                         /* dlopen handle */
    const didcl_remask_plugin *desc;  /* the plugin's descriptor (owned by the plugin) */
    void *state;                      /* from create() */
    int created;                      /* create() succeeded: destroy() is owed */
    didcl_remask_host host;           /* handed to create(); handle = this struct */
    double (*uniform)(void *);        /* the caller's generator, or the built-in one */
    void *uniform_user;
    didcl_splitmix rng;               /* built-in generator state */
    char path[PATH_MAX];
    uint32_t cap;                     /* capacity of scratch and seen, in positions */
    uint32_t *scratch;                /* [cap] the plugin writes its selection here */
    uint8_t *seen;                    /* [cap] duplicate detection */
};

/* ---- generator ---------------------------------------------------------------------- */

double didcl_splitmix_uniform(void *state) {
    didcl_splitmix *g = state;
    uint64_t z = g->seed + (++g->counter) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

/* ---- host services ------------------------------------------------------------------ */

static void host_log(void *handle, int level, const char *msg) {
    didcl_remask_t r = handle;
    if (level < DIDCL_LOG_DEBUG)
        level = DIDCL_LOG_DEBUG;
    if (level > DIDCL_LOG_ERROR)
        level = DIDCL_LOG_ERROR;
    didcl_log((enum didcl_log_level)level, "plugin '%s': %s", r->desc->name, msg ? msg : "");
}

static double host_uniform(void *handle) {
    didcl_remask_t r = handle;
    return r->uniform(r->uniform_user);
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

/* ---- loading ------------------------------------------------------------------------ */

static int valid_name(const char *s, size_t len) {
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return 0;
    return 1;
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
    didcl_status st = DIDCL_OK;
    if (!d)
        st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: %s() returned NULL", path,
                        DIDCL_REMASK_ENTRY_SYMBOL);
    else if (d->abi_version != DIDCL_REMASK_ABI_VERSION)
        st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: ABI version %u, this didcl supports %u",
                        path, (unsigned)d->abi_version, (unsigned)DIDCL_REMASK_ABI_VERSION);
    else if (d->struct_size < sizeof(didcl_remask_plugin))
        st = didcl_fail(DIDCL_ERR_PLUGIN,
                        "plugin %s: descriptor struct_size %u is smaller than the ABI version %u "
                        "descriptor (%zu bytes)",
                        path, (unsigned)d->struct_size, (unsigned)DIDCL_REMASK_ABI_VERSION,
                        sizeof(didcl_remask_plugin));
    else if (!d->name || !valid_name(d->name, strlen(d->name)))
        st = didcl_fail(DIDCL_ERR_PLUGIN,
                        "plugin %s: descriptor name '%s' is not a valid name, expected lowercase "
                        "letters, digits, '-' and '_'",
                        path, d->name ? d->name : "(null)");
    else if (!d->select)
        st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: descriptor '%s' has no select function",
                        path, d->name);
    if (st != DIDCL_OK) {
        dlclose(h);
        return st;
    }
    *dl = h;
    *desc = d;
    return DIDCL_OK;
}

/* Find the file of a plugin NAME on the search path. */
static didcl_status resolve(const char *name, size_t len, const char *plugin_path, char *out,
                            size_t size) {
    dirlist d = {0};
    char tried[2048];
    size_t used = 0;
    if (!valid_name(name, len))
        return didcl_fail(DIDCL_ERR_PLUGIN,
                          "remask plugin '%.*s': not a plugin name (lowercase letters, digits, "
                          "'-', '_') nor a path to a .so file",
                          (int)len, name);
    DIDCL_TRY(search_dirs(plugin_path, &d));
    tried[0] = '\0';
    for (size_t i = 0; i < d.n; i++) {
        struct stat sb;
        snprintf(out, size, "%s/" DIDCL_REMASK_FILE_PREFIX "%.*s" DIDCL_REMASK_FILE_SUFFIX,
                 d.dir[i], (int)len, name);
        if (stat(out, &sb) == 0) {
            dirlist_free(&d);
            return DIDCL_OK;
        }
        int w = snprintf(tried + used, sizeof tried - used, "%s%s", i ? ", " : "", d.dir[i]);
        if (w > 0 && (size_t)w < sizeof tried - used)
            used += (size_t)w;
    }
    dirlist_free(&d);
    return didcl_fail(DIDCL_ERR_PLUGIN,
                      "remask plugin '%.*s' not found: no " DIDCL_REMASK_FILE_PREFIX
                      "%.*s" DIDCL_REMASK_FILE_SUFFIX " in %s (see 'didcl plugins')",
                      (int)len, name, (int)len, name, tried);
}

didcl_status didcl_remask_open(const char *spec, const char *plugin_path,
                               const didcl_remask_host_cfg *cfg, didcl_remask_t *out) {
    if (!spec || !*spec || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG,
                          "remask plugin: empty spec, expected NAME[:key=value,...]");
    /* NAME ends at the first ':' after the last '/', so paths may contain ':'. */
    const char *slash = strrchr(spec, '/');
    const char *colon = strchr(slash ? slash : spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *options = colon ? colon + 1 : "";
    int is_path = memchr(spec, '/', len) != NULL ||
                  (len >= 3 && !strncmp(spec + len - 3, ".so", 3));

    didcl_remask_t r = calloc(1, sizeof *r);
    if (!r)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "remask plugin %s: out of memory", spec);
    didcl_status st;
    if (is_path) {
        if (len >= sizeof r->path) {
            free(r);
            return didcl_fail(DIDCL_ERR_PLUGIN, "plugin %.60s...: path too long", spec);
        }
        memcpy(r->path, spec, len);
        r->path[len] = '\0';
    } else if ((st = resolve(spec, len, plugin_path, r->path, sizeof r->path)) != DIDCL_OK) {
        free(r);
        return st;
    }
    if ((st = probe(r->path, &r->dl, &r->desc)) != DIDCL_OK) {
        free(r);
        return st;
    }

    r->rng.seed = cfg ? cfg->seed : 0;
    r->uniform = cfg && cfg->uniform ? cfg->uniform : didcl_splitmix_uniform;
    r->uniform_user = cfg && cfg->uniform ? cfg->uniform_user : &r->rng;
    r->host.struct_size = sizeof r->host;
    r->host.handle = r;
    r->host.log = host_log;
    r->host.uniform = host_uniform;

    if (!r->desc->create) {
        if (*options) {
            st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: '%s' takes no options, got '%s'",
                            r->path, r->desc->name, options);
            didcl_remask_free(r);
            return st;
        }
    } else {
        char err[ERR_TEXT_MAX] = "";
        void *state = NULL;
        if (r->desc->create(options, &r->host, &state, err, sizeof err) != 0) {
            err[sizeof err - 1] = '\0';
            st = didcl_fail(DIDCL_ERR_PLUGIN, "plugin %s: create failed: %s", r->path,
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
    free(r->scratch);
    free(r->seen);
    free(r);
}

const char *didcl_remask_name(didcl_remask_t r) { return r->desc->name; }
const char *didcl_remask_version(didcl_remask_t r) {
    return r->desc->version ? r->desc->version : "";
}
const char *didcl_remask_description(didcl_remask_t r) {
    return r->desc->description ? r->desc->description : "";
}
const char *didcl_remask_path(didcl_remask_t r) { return r->path; }

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
            return didcl_fail(DIDCL_ERR_PLUGIN, "plugin '%s' selected locked position %u (prompt)",
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
            void *dl;
            const didcl_remask_plugin *desc;
            info->status = probe(info->path, &dl, &desc);
            if (info->status == DIDCL_OK) {
                copy_str(info->plugin_name, sizeof info->plugin_name, desc->name);
                copy_str(info->version, sizeof info->version, desc->version);
                copy_str(info->description, sizeof info->description, desc->description);
                info->abi_version = desc->abi_version;
                dlclose(dl);
            } else {
                copy_str(info->message, sizeof info->message, didcl_last_error());
            }
        }
        free(names);
    }
    dirlist_free(&d);
    *out = list;
    *n = count;
    return DIDCL_OK;
fail:
    dirlist_free(&d);
    free(list);
    return st;
}

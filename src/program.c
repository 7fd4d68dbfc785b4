/*
 * program.c — builds kernel families into OpenCL programs through the disk cache and
 * keeps them, with their kernels, in a per-runtime memory cache (see program.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl-sources.h"
#include "error.h"
#include "fault.h"
#include "progcache.h"
#include "program.h"
#include "runtime.h"
#include "settings.h"

/* Options every build gets. Precise math: no -cl-fast-relaxed-math, since sampling
 * depends on argmax and ties. */
#define BASE_OPTIONS "-cl-std=CL1.2"

struct kernel_entry {
    char *name;
    cl_kernel kernel;
    cl_ulong local_own; /* CL_KERNEL_LOCAL_MEM_SIZE as created */
    struct kernel_entry *next;
};

struct program_entry {
    char *family;
    char *options;
    cl_program program;
    struct kernel_entry *kernels;
    char key[65];  /* disk cache key */
    int from_disk; /* program came from the disk cache: a missing kernel drops the entry */
    struct program_entry *next;
};

struct didcl_program_cache {
    struct program_entry *head;
    struct kernel_entry *retired; /* kernels of a replaced program: callers may hold them */
};

static void kernels_free(struct kernel_entry *k) {
    for (struct kernel_entry *kn; k; k = kn) {
        kn = k->next;
        clReleaseKernel(k->kernel);
        free(k->name);
        free(k);
    }
}

void didcl_program_cache_free(struct didcl_program_cache *cache) {
    if (!cache)
        return;
    for (struct program_entry *p = cache->head, *pn; p; p = pn) {
        pn = p->next;
        kernels_free(p->kernels);
        clReleaseProgram(p->program);
        free(p->family);
        free(p->options);
        free(p);
    }
    kernels_free(cache->retired);
    free(cache);
}

/* Read a whole file into a malloc'd NUL-terminated buffer. */
static didcl_status read_text(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return didcl_fail(DIDCL_ERR_IO, "%s: cannot open kernel source (DIDCL_CL_DIR is set)", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return didcl_fail(DIDCL_ERR_NO_MEMORY, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return didcl_fail(DIDCL_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return DIDCL_OK;
}

/* The text of cl/<family>.cl: from DIDCL_CL_DIR if set, else the embedded copy. */
static didcl_status family_text(const char *family, char **out, size_t *len) {
    const char *dir = didcl_settings_cl_dir();
    if (dir) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.cl", dir, family) >= (int)sizeof path)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "DIDCL_CL_DIR path too long");
        return read_text(path, out, len);
    }
    for (size_t i = 0; i < didcl_cl_sources_count; i++)
        if (!strcmp(didcl_cl_sources[i].family, family)) {
            *out = strdup(didcl_cl_sources[i].text);
            *len = didcl_cl_sources[i].size;
            return *out ? DIDCL_OK : didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory");
        }
    return didcl_fail(DIDCL_ERR_NOT_FOUND, "no kernel family '%s' (cl/%s.cl) in this build",
                      family, family);
}

didcl_status didcl_program_source(const char *family, char **out, size_t *len) {
    char *common = NULL, *body = NULL;
    size_t nc = 0, nb = 0;
    DIDCL_TRY(family_text("common", &common, &nc));
    didcl_status st = family_text(family, &body, &nb);
    if (st != DIDCL_OK) {
        free(common);
        return st;
    }
    /* #line keeps compiler messages pointing at the right file and line. */
    size_t cap = nc + nb + 256;
    char *src = malloc(cap);
    if (!src) {
        free(common);
        free(body);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory");
    }
    int n = snprintf(src, cap, "#line 1 \"common.cl\"\n%s\n#line 1 \"%s.cl\"\n%s", common, family, body);
    free(common);
    free(body);
    *out = src;
    *len = (size_t)n;
    return DIDCL_OK;
}

static char *build_log(cl_program prog, cl_device_id dev) {
    size_t n = 0;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS || !n)
        return NULL;
    char *log = malloc(n + 1);
    if (log && clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS) {
        log[n] = '\0';
        /* Trim trailing whitespace so the message ends cleanly. */
        while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' ' || log[n - 1] == '\0'))
            log[--n] = '\0';
        return log;
    }
    free(log);
    return NULL;
}

/* Try the disk cache; returns a built program or NULL. */
static cl_program build_from_cache(didcl_runtime_t rt, const char *key, const char *options) {
    unsigned char *bin = NULL;
    size_t len = 0;
    if (!didcl_progcache_load(rt->cache_dir, key, &bin, &len))
        return NULL;
    cl_int err, bin_status;
    const unsigned char *bins[1] = {bin};
    cl_program prog = clCreateProgramWithBinary(rt->context, 1, &rt->device, &len, bins,
                                                &bin_status, &err);
    free(bin);
    if (!prog)
        return NULL;
    if (bin_status != CL_SUCCESS || clBuildProgram(prog, 1, &rt->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

static void store_in_cache(didcl_runtime_t rt, const char *key, cl_program prog) {
    size_t len = 0;
    if (!rt->cache_dir[0] ||
        clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || !len)
        return;
    unsigned char *bin = malloc(len);
    unsigned char *bins[1] = {bin};
    if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        didcl_progcache_store(rt->cache_dir, key, bin, len);
    free(bin);
}

/* Build source, from the disk cache when use_cache (then *from_disk = 1). key gets the
 * disk cache key. */
static didcl_status build(didcl_runtime_t rt, const char *label, const char *source, size_t len,
                          const char *options, int use_cache, cl_program *out, char key[65],
                          int *from_disk) {
    char opts[2048];
    if (snprintf(opts, sizeof opts, "%s%s%s", BASE_OPTIONS, options && *options ? " " : "",
                 options ? options : "") >= (int)sizeof opts)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "%s: build options too long", label);
    didcl_progcache_key(&rt->info, source, len, opts, key);
    *from_disk = 0;

    cl_program prog = use_cache ? build_from_cache(rt, key, opts) : NULL;
    if (prog) {
        rt->stats.disk_hits++;
        *from_disk = 1;
        *out = prog;
        return DIDCL_OK;
    }
    cl_int err;
    prog = clCreateProgramWithSource(rt->context, 1, &source, &len, &err);
    if (!prog)
        return didcl_fail_cl(err, "%s: clCreateProgramWithSource", label);
    err = didcl_fault_hit(DIDCL_FAULT_BUILD) ? CL_BUILD_PROGRAM_FAILURE
                                             : clBuildProgram(prog, 1, &rt->device, opts, NULL, NULL);
    rt->stats.compiles++;
    if (err != CL_SUCCESS) {
        char *log = build_log(prog, rt->device);
        didcl_status st = didcl_fail(DIDCL_ERR_BUILD, "%s: OpenCL build failed on %s (%s, options '%s'):\n%s",
                                     label, rt->info.name, didcl_cl_error_str(err), opts,
                                     log ? log : "(the compiler gave no log)");
        free(log);
        clReleaseProgram(prog);
        return st;
    }
    store_in_cache(rt, key, prog);
    *out = prog;
    return DIDCL_OK;
}

didcl_status didcl_program_build_source(didcl_runtime_t rt, const char *label, const char *source,
                                        size_t len, const char *options, cl_program *out) {
    char key[65];
    int from_disk;
    return build(rt, label, source, len, options, 1, out, key, &from_disk);
}

/* Build family's program, from the disk cache when use_cache. */
static didcl_status build_family(didcl_runtime_t rt, const char *family, const char *options,
                                 int use_cache, cl_program *out, char key[65], int *from_disk) {
    char *src = NULL, label[300];
    size_t len = 0;
    DIDCL_TRY(didcl_program_source(family, &src, &len));
    snprintf(label, sizeof label, "cl/%s.cl", family);
    didcl_status st = build(rt, label, src, len, options, use_cache, out, key, from_disk);
    free(src);
    return st;
}

/* A cached binary that builds but lacks a kernel of its family (another program's
 * binary under this key): drop the entry and rebuild p from source. Kernels made from
 * the old program are retired, not released, since callers may still hold them. */
static didcl_status rebuild_from_source(didcl_runtime_t rt, struct program_entry *p,
                                        const char *name) {
    cl_program prog;
    int from_disk;
    didcl_log(DIDCL_LOG_WARN, "kernel cache: the entry %s/%s.bin of cl/%s.cl lacks kernel '%s'; "
              "dropping it and rebuilding from source", rt->cache_dir, p->key, p->family, name);
    didcl_progcache_drop(rt->cache_dir, p->key);
    DIDCL_TRY(build_family(rt, p->family, p->options, 0, &prog, p->key, &from_disk));
    struct kernel_entry **tail = &rt->programs->retired;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p->kernels;
    p->kernels = NULL;
    clReleaseProgram(p->program);
    p->program = prog;
    p->from_disk = 0;
    return DIDCL_OK;
}

static int same_options(const char *a, const char *b) {
    return !strcmp(a ? a : "", b ? b : "");
}

/* The entry of (family, options), built (through the disk cache) on first use. */
static didcl_status program_get(didcl_runtime_t rt, const char *family, const char *options,
                                struct program_entry **out) {
    if (!rt->programs && !(rt->programs = calloc(1, sizeof *rt->programs)))
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory");
    struct program_entry *p = rt->programs->head;
    while (p && !(!strcmp(p->family, family) && same_options(p->options, options)))
        p = p->next;
    if (!p) {
        cl_program prog;
        char key[65];
        int from_disk;
        DIDCL_TRY(build_family(rt, family, options, 1, &prog, key, &from_disk));
        p = calloc(1, sizeof *p);
        if (!p || !(p->family = strdup(family)) || !(p->options = strdup(options ? options : ""))) {
            if (p)
                free(p->family);
            free(p);
            clReleaseProgram(prog);
            return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory");
        }
        p->program = prog;
        memcpy(p->key, key, sizeof p->key);
        p->from_disk = from_disk;
        p->next = rt->programs->head;
        rt->programs->head = p;
    }
    *out = p;
    return DIDCL_OK;
}

didcl_status didcl_program_prepare(didcl_runtime_t rt, const char *family, const char *options) {
    if (!rt || !family)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_program_prepare: NULL argument");
    struct program_entry *p;
    return program_get(rt, family, options, &p);
}

didcl_status didcl_program_kernel(didcl_runtime_t rt, const char *family, const char *options,
                                  const char *name, cl_kernel *out) {
    cl_ulong local_own;
    return didcl_program_kernel_local(rt, family, options, name, out, &local_own);
}

didcl_status didcl_program_kernel_local(didcl_runtime_t rt, const char *family,
                                        const char *options, const char *name,
                                        cl_kernel *out, cl_ulong *local_own) {
    if (!rt || !family || !name || !out || !local_own)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_program_kernel: NULL argument");
    struct program_entry *p;
    DIDCL_TRY(program_get(rt, family, options, &p));
    for (struct kernel_entry *k = p->kernels; k; k = k->next)
        if (!strcmp(k->name, name)) {
            rt->stats.memory_hits++;
            *out = k->kernel;
            *local_own = k->local_own;
            return DIDCL_OK;
        }
    cl_int err;
    cl_kernel kernel = clCreateKernel(p->program, name, &err);
    if (!kernel && err == CL_INVALID_KERNEL_NAME && p->from_disk) {
        DIDCL_TRY(rebuild_from_source(rt, p, name));
        kernel = clCreateKernel(p->program, name, &err);
    }
    if (!kernel)
        return didcl_fail_cl(err, "cl/%s.cl: kernel '%s'", family, name);
    struct kernel_entry *k = calloc(1, sizeof *k);
    if (!k || !(k->name = strdup(name))) {
        free(k);
        clReleaseKernel(kernel);
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory");
    }
    k->kernel = kernel;
    if (clGetKernelWorkGroupInfo(kernel, rt->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                 sizeof k->local_own, &k->local_own, NULL) != CL_SUCCESS)
        k->local_own = 0;
    k->next = p->kernels;
    p->kernels = k;
    *out = kernel;
    *local_own = k->local_own;
    return DIDCL_OK;
}

/*
 * runtime.c — OpenCL platform/device enumeration, device selection, and the context and
 * in-order queue every other module runs on.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clblast_c.h>

#include "error.h"
#include "kernels.h"
#include "progcache.h"
#include "profile.h"
#include "program.h"
#include "runtime.h"
#include "settings.h"

#define MAX_PLATFORMS 32
#define MAX_DEVICES 64

static void info_str(cl_device_id d, cl_device_info what, char *buf, size_t size) {
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, size, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[size - 1] = '\0';
}

static uint64_t info_u64(cl_device_id d, cl_device_info what) {
    cl_ulong v = 0;
    clGetDeviceInfo(d, what, sizeof v, &v, NULL);
    return v;
}

static int has_extension(cl_device_id d, const char *ext) {
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return 0;
    char *all = malloc(n + 1);
    if (!all)
        return 0;
    int found = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, all, NULL) == CL_SUCCESS) {
        all[n] = '\0';
        size_t len = strlen(ext);
        for (const char *p = all; (p = strstr(p, ext)) != NULL; p += len)
            if ((p == all || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) {
                found = 1;
                break;
            }
    }
    free(all);
    return found;
}

static void device_describe(cl_platform_id p, cl_device_id d, uint32_t pi, uint32_t di,
                            didcl_device_info *out) {
    memset(out, 0, sizeof *out);
    out->platform_index = pi;
    out->device_index = di;
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    out->kind = (type & CL_DEVICE_TYPE_GPU)           ? DIDCL_DEVICE_GPU
                : (type & CL_DEVICE_TYPE_CPU)         ? DIDCL_DEVICE_CPU
                : (type & CL_DEVICE_TYPE_ACCELERATOR) ? DIDCL_DEVICE_ACCELERATOR
                                                      : DIDCL_DEVICE_OTHER;
    info_str(d, CL_DEVICE_NAME, out->name, sizeof out->name);
    info_str(d, CL_DEVICE_VENDOR, out->vendor, sizeof out->vendor);
    info_str(d, CL_DEVICE_VERSION, out->version, sizeof out->version);
    info_str(d, CL_DRIVER_VERSION, out->driver, sizeof out->driver);
    info_str(d, CL_DEVICE_OPENCL_C_VERSION, out->c_version, sizeof out->c_version);
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof out->platform, out->platform, NULL);
    out->platform[sizeof out->platform - 1] = '\0';
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof out->platform_version,
                      out->platform_version, NULL);
    out->platform_version[sizeof out->platform_version - 1] = '\0';
    cl_uint cu = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    out->compute_units = cu;
    out->global_mem = info_u64(d, CL_DEVICE_GLOBAL_MEM_SIZE);
    out->max_alloc = info_u64(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    out->local_mem = info_u64(d, CL_DEVICE_LOCAL_MEM_SIZE);
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    out->max_work_group = wg;
    out->fp16 = has_extension(d, "cl_khr_fp16");
    /* float64: the extension (every OpenCL 1.x device that has it, NVIDIA included), or
     * a nonzero CL_DEVICE_DOUBLE_FP_CONFIG (where 3.0 drivers report the feature) */
    cl_device_fp_config dfp = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dfp, &dfp, NULL) != CL_SUCCESS)
        dfp = 0;
    out->fp64 = has_extension(d, "cl_khr_fp64") || dfp != 0;
    out->subgroups = has_extension(d, "cl_khr_subgroups") || has_extension(d, "cl_intel_subgroups");
}

/* Walk all devices; calls visit for each, stops early when it returns nonzero. */
typedef int (*device_visit_fn)(cl_platform_id p, cl_device_id d, const didcl_device_info *info,
                               void *user);

static didcl_status devices_walk(device_visit_fn visit, void *user) {
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0))
        return didcl_fail(DIDCL_ERR_NO_PLATFORM,
                          "no OpenCL platform is installed: install a driver's ICD, e.g. "
                          "'apt-get install pocl-opencl-icd' for the CPU, or your GPU vendor's "
                          "OpenCL package (check with clinfo -l)");
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "clGetPlatformIDs");
    for (cl_uint pi = 0; pi < np && pi < MAX_PLATFORMS; pi++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        err = clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd);
        if (err == CL_DEVICE_NOT_FOUND)
            continue;
        if (err != CL_SUCCESS)
            return didcl_fail_cl(err, "clGetDeviceIDs(platform %u)", (unsigned)pi);
        for (cl_uint di = 0; di < nd && di < MAX_DEVICES; di++) {
            didcl_device_info info;
            device_describe(plats[pi], devs[di], pi, di, &info);
            if (visit(plats[pi], devs[di], &info, user))
                return DIDCL_OK;
        }
    }
    return DIDCL_OK;
}

struct list_ctx {
    didcl_device_info *items;
    size_t n, cap;
    int oom;
};

static int list_visit(cl_platform_id p, cl_device_id d, const didcl_device_info *info, void *user) {
    (void)p; (void)d;
    struct list_ctx *c = user;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        didcl_device_info *items = realloc(c->items, cap * sizeof *items);
        if (!items) {
            c->oom = 1;
            return 1;
        }
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = *info;
    return 0;
}

didcl_status didcl_devices_list(didcl_device_info **out, size_t *n) {
    if (!out || !n)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_devices_list: NULL output");
    struct list_ctx c = {0};
    didcl_status st = devices_walk(list_visit, &c);
    if (st == DIDCL_OK && c.oom)
        st = didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory listing devices");
    if (st != DIDCL_OK) {
        free(c.items);
        return st;
    }
    *out = c.items;
    *n = c.n;
    return DIDCL_OK;
}

static int ci_contains(const char *hay, const char *needle) {
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return 1;
    }
    return nl == 0;
}

/* Selection state: an index pair "P:D", or a name substring, or "best" (first GPU,
 * else first device). */
struct select_ctx {
    int by_index;
    unsigned pi, di;
    const char *name; /* NULL = best */
    int found, found_gpu;
    cl_platform_id platform;
    cl_device_id device;
    didcl_device_info info;
};

static int select_visit(cl_platform_id p, cl_device_id d, const didcl_device_info *info,
                        void *user) {
    struct select_ctx *c = user;
    int match;
    if (c->by_index)
        match = info->platform_index == c->pi && info->device_index == c->di;
    else if (c->name)
        match = ci_contains(info->name, c->name) || ci_contains(info->platform, c->name) ||
                ci_contains(info->vendor, c->name);
    else
        match = !c->found || (!c->found_gpu && info->kind == DIDCL_DEVICE_GPU);
    if (!match)
        return 0;
    c->found = 1;
    c->found_gpu = info->kind == DIDCL_DEVICE_GPU;
    c->platform = p;
    c->device = d;
    c->info = *info;
    /* Explicit selections take the first match; "best" keeps looking for a GPU. */
    return c->by_index || c->name || c->found_gpu;
}

static int parse_index_pair(const char *s, unsigned *pi, unsigned *di) {
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != ':' || !isdigit((unsigned char)s[0]))
        return 0;
    const char *t = end + 1;
    unsigned long b = strtoul(t, &end, 10);
    if (end == t || *end != '\0' || !isdigit((unsigned char)t[0]))
        return 0;
    *pi = (unsigned)a;
    *di = (unsigned)b;
    return 1;
}

/* Runtimes alive in the process (see didcl_runtime_free). */
static unsigned live_runtimes;

didcl_status didcl_runtime_init(const char *selector, didcl_runtime_t *out) {
    if (!out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_runtime_init: NULL output");
    const char *source = "--device";
    if (!selector || !*selector) {
        selector = didcl_settings_device();
        source = "DIDCL_DEVICE";
    }
    struct select_ctx c = {0};
    if (selector) {
        if (parse_index_pair(selector, &c.pi, &c.di))
            c.by_index = 1;
        else
            c.name = selector;
    }
    DIDCL_TRY(devices_walk(select_visit, &c));
    if (!c.found) {
        if (selector)
            return didcl_fail(DIDCL_ERR_NO_DEVICE,
                              "%s '%s' matches no OpenCL device: give 'P:D' (platform:device "
                              "index) or a substring of a name listed by 'didcl devices'",
                              source, selector);
        return didcl_fail(DIDCL_ERR_NO_DEVICE,
                          "OpenCL platforms exist but expose no device: check the driver "
                          "installation with 'clinfo -l'");
    }

    struct didcl_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory creating the runtime");
    rt->info = c.info;
    rt->platform = c.platform;
    rt->device = c.device;
    didcl_tuning_gemm(&rt->info, &rt->gemm);
    didcl_tuning_attention(&rt->info, &rt->attn);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)c.platform, 0};
    rt->context = clCreateContext(props, 1, &c.device, NULL, NULL, &err);
    if (!rt->context) {
        free(rt);
        return didcl_fail_cl(err, "clCreateContext on %s", c.info.name);
    }
    rt->queue = clCreateCommandQueue(rt->context, c.device, 0, &err);
    if (!rt->queue) {
        clReleaseContext(rt->context);
        free(rt);
        return didcl_fail_cl(err, "clCreateCommandQueue on %s", c.info.name);
    }
    if (!didcl_settings_cache_dir(rt->cache_dir, sizeof rt->cache_dir))
        rt->cache_dir[0] = '\0';
    if (rt->cache_dir[0] && !didcl_progcache_dir_ok(rt->cache_dir)) {
        didcl_log(DIDCL_LOG_WARN, "kernel cache %s: not a directory of this user closed to "
                  "others' writes; the cache is off (chmod go-w, or set DIDCL_CACHE_DIR)",
                  rt->cache_dir);
        rt->cache_dir[0] = '\0';
    }
    __atomic_add_fetch(&live_runtimes, 1, __ATOMIC_SEQ_CST);
    *out = rt;
    return DIDCL_OK;
}

void didcl_runtime_free(didcl_runtime_t rt) {
    if (!rt)
        return;
    if (rt->queue)
        clFinish(rt->queue);
    didcl_profile_state_free(rt->profile);
    if (rt->split_done)
        clReleaseMemObject(rt->split_done);
    didcl_kernels_free(rt->kernels);
    didcl_program_cache_free(rt->programs);
    if (rt->queue)
        clReleaseCommandQueue(rt->queue);
    if (rt->context)
        clReleaseContext(rt->context);
    free(rt);
    /* CLBlast caches the programs it compiles per context, and they hold the context:
     * without this every runtime that ran a CLBlast routine stayed in memory (about 6 MB
     * per session with a revision stage). The cache is process-wide, so it is cleared
     * when the last runtime goes. */
    if (__atomic_sub_fetch(&live_runtimes, 1, __ATOMIC_SEQ_CST) == 0)
        CLBlastClearCache();
}

const didcl_device_info *didcl_runtime_device(didcl_runtime_t rt) { return rt ? &rt->info : NULL; }

void didcl_runtime_cache_stats(didcl_runtime_t rt, didcl_cache_stats *out) {
    if (rt && out)
        *out = rt->stats;
}

const char *didcl_runtime_cache_dir(didcl_runtime_t rt) { return rt ? rt->cache_dir : ""; }

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

didcl_status didcl_runtime_copy_bandwidth(didcl_runtime_t rt, uint64_t bytes, uint32_t reps,
                                          double *bytes_per_s) {
    if (!rt || !bytes_per_s || bytes < 4096 || reps == 0)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "copy bandwidth: expected a runtime, at least "
                          "4096 bytes, at least one repetition and an output");
    if (rt->info.max_alloc && bytes > rt->info.max_alloc)
        bytes = rt->info.max_alloc;
    bytes &= ~(uint64_t)3;
    cl_int err;
    cl_mem a = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, (size_t)bytes, NULL, &err);
    if (!a)
        return didcl_fail_cl(err, "copy bandwidth: a buffer of %llu bytes", (unsigned long long)bytes);
    cl_mem b = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, (size_t)bytes, NULL, &err);
    if (!b) {
        clReleaseMemObject(a);
        return didcl_fail_cl(err, "copy bandwidth: a buffer of %llu bytes", (unsigned long long)bytes);
    }
    /* the first copy touches both buffers (allocation on first use) and is not timed */
    const float zero = 0.0f;
    double t0 = 0.0;
    err = clEnqueueFillBuffer(rt->queue, a, &zero, sizeof zero, 0, (size_t)bytes, 0, NULL, NULL);
    for (uint32_t i = 0; err == CL_SUCCESS && i <= reps; i++) {
        err = clEnqueueCopyBuffer(rt->queue, a, b, 0, 0, (size_t)bytes, 0, NULL, NULL);
        if (err == CL_SUCCESS && i == 0 && (err = clFinish(rt->queue)) == CL_SUCCESS)
            t0 = now_s();
    }
    if (err == CL_SUCCESS)
        err = clFinish(rt->queue);
    const double dt = now_s() - t0;
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "copy bandwidth: copying %llu bytes on %s",
                             (unsigned long long)bytes, rt->info.name);
    *bytes_per_s = dt > 0 ? 2.0 * (double)bytes * reps / dt : 0.0;
    return DIDCL_OK;
}

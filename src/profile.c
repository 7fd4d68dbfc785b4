/*
 * profile.c — device time by kind of work from OpenCL profiling events (see profile.h):
 * the event table of a profiling runtime, the name → kind table, and the public
 * didcl_runtime_set_profiling / didcl_runtime_profile.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "profile.h"
#include "runtime.h"

/* Events kept before a collect: a bound on memory, and on how far the host can run
 * ahead of a profiled queue (a full table waits for the device). */
#define PENDING_MAX 4096
/* Distinct command names kept per name; more fall into the kinds' totals only. */
#define PROFILE_NAMES 64

struct pending {
    const char *name;
    cl_event ev;
};

struct didcl_profile_state {
    didcl_profile totals;
    size_t n;
    struct pending pending[PENDING_MAX];
    size_t n_names;                            /* rows of by_name in use */
    didcl_profile_name by_name[PROFILE_NAMES]; /* per command name, first seen first */
};

/* Command name → kind: the first row whose text occurs in the name. Sampling comes
 * first so that "sample_*" kernels that also gather or reduce count as sampling;
 * host transfers are named read_* / write_*; device-side copies fall to "other". */
static const struct {
    const char *part;
    enum didcl_time_kind kind;
} kinds[] = {
    {"sample", DIDCL_TIME_SAMPLING},   {"nucleus", DIDCL_TIME_SAMPLING},
    {"top_p", DIDCL_TIME_SAMPLING},    {"argmax", DIDCL_TIME_SAMPLING},
    {"attention", DIDCL_TIME_ATTENTION}, {"attn", DIDCL_TIME_ATTENTION},
    {"gemv", DIDCL_TIME_PRODUCTS},     {"gemm", DIDCL_TIME_PRODUCTS},
    {"matmul", DIDCL_TIME_PRODUCTS},   {"linear", DIDCL_TIME_PRODUCTS},
    {"read_", DIDCL_TIME_TRANSFERS},   {"write_", DIDCL_TIME_TRANSFERS},
};

enum didcl_time_kind didcl_profile_kind(const char *name) {
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strstr(name, kinds[i].part))
            return kinds[i].kind;
    return DIDCL_TIME_OTHER;
}

const char *didcl_time_kind_str(enum didcl_time_kind kind) {
    static const char *const names[DIDCL_TIME_KINDS] = {"products", "attention", "sampling",
                                                        "transfers", "other"};
    return (unsigned)kind < DIDCL_TIME_KINDS ? names[kind] : "unknown";
}

cl_event *didcl_profile_event(didcl_runtime_t rt, const char *name) {
    struct didcl_profile_state *p = rt ? rt->profile : NULL;
    if (!p)
        return NULL;
    if (p->n == PENDING_MAX && didcl_profile_collect(rt) != DIDCL_OK)
        return NULL; /* the time of this one command is lost, the run goes on */
    struct pending *e = &p->pending[p->n++];
    e->name = name;
    e->ev = NULL;
    return &e->ev;
}

/* Names are literals: equal pointers are the common case, strcmp catches copies. */
static void add_name(struct didcl_profile_state *p, const char *name, double seconds) {
    size_t i = 0;
    while (i < p->n_names && p->by_name[i].name != name && strcmp(p->by_name[i].name, name))
        i++;
    if (i == p->n_names) {
        if (i == PROFILE_NAMES)
            return;
        p->by_name[p->n_names++] = (didcl_profile_name){name, 0.0, 0};
    }
    p->by_name[i].seconds += seconds;
    p->by_name[i].commands++;
}

size_t didcl_profile_names(didcl_runtime_t rt, didcl_profile_name *rows, size_t cap) {
    struct didcl_profile_state *p = rt ? rt->profile : NULL;
    if (!p || didcl_profile_collect(rt) != DIDCL_OK)
        return 0;
    for (size_t i = 0; i < p->n_names && i < cap; i++)
        rows[i] = p->by_name[i];
    return p->n_names;
}

didcl_status didcl_profile_collect(didcl_runtime_t rt) {
    struct didcl_profile_state *p = rt->profile;
    if (!p)
        return DIDCL_OK;
    didcl_status st = DIDCL_OK;
    for (size_t i = 0; i < p->n; i++) {
        struct pending *e = &p->pending[i];
        if (!e->ev)
            continue;
        cl_ulong t0 = 0, t1 = 0;
        cl_int err = clWaitForEvents(1, &e->ev);
        if (err == CL_SUCCESS)
            err = clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (err == CL_SUCCESS)
            err = clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        if (err == CL_SUCCESS && t1 >= t0) {
            enum didcl_time_kind k = didcl_profile_kind(e->name);
            p->totals.seconds[k] += 1e-9 * (double)(t1 - t0);
            p->totals.commands[k]++;
            add_name(p, e->name, 1e-9 * (double)(t1 - t0));
        } else if (err != CL_SUCCESS && st == DIDCL_OK) {
            st = didcl_fail_cl(err, "profiling event of '%s'", e->name);
        }
        clReleaseEvent(e->ev);
    }
    p->n = 0;
    return st;
}

void didcl_profile_state_free(struct didcl_profile_state *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->pending[i].ev)
            clReleaseEvent(p->pending[i].ev);
    free(p);
}

didcl_status didcl_runtime_set_profiling(didcl_runtime_t rt, int on) {
    if (!rt)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_runtime_set_profiling: NULL runtime");
    on = on != 0;
    if (on == (rt->profile != NULL))
        return DIDCL_OK;
    /* Profiling is a property of the queue: drain the old one and swap it. Kernels and
     * buffers belong to the context and stay valid. */
    DIDCL_CL_TRY(clFinish(rt->queue), "clFinish before changing the queue's profiling");
    struct didcl_profile_state *p = NULL;
    if (on && !(p = calloc(1, sizeof *p)))
        return didcl_fail(DIDCL_ERR_NO_MEMORY, "out of memory for the profiling table");
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(rt->context, rt->device,
                                              on ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (!q) {
        free(p);
        return didcl_fail_cl(err, "clCreateCommandQueue(%s) on %s",
                             on ? "CL_QUEUE_PROFILING_ENABLE" : "no profiling", rt->info.name);
    }
    if (p)
        p->totals.enabled = 1;
    if (rt->profile) {
        didcl_profile_collect(rt);
        didcl_profile_state_free(rt->profile);
    }
    clReleaseCommandQueue(rt->queue);
    rt->queue = q;
    rt->profile = p;
    return DIDCL_OK;
}

didcl_status didcl_runtime_profile(didcl_runtime_t rt, didcl_profile *out) {
    if (!rt || !out)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "didcl_runtime_profile: NULL argument");
    memset(out, 0, sizeof *out);
    if (!rt->profile)
        return DIDCL_OK;
    DIDCL_TRY(didcl_profile_collect(rt));
    *out = rt->profile->totals;
    return DIDCL_OK;
}

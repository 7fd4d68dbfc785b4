/*
 * devsample.c — the host side of cl/sample.cl (devsample.h): kernel, work-group size,
 * fixed arguments and buffers resolved once; per call one small write, one launch, one
 * small read.
 */
#include "devsample.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fault.h"
#include "profile.h"
#include "program.h"
#include "runtime.h"

/* Work-group size asked for: the same on every device that allows it, so that the
 * float64 sums are grouped the same way everywhere (devsample.h). */
#define DEVSAMPLE_WG 128
#define DEVSAMPLE_CAP 256 /* SAMPLE_CAP of cl/sample.cl */
#define DEVSAMPLE_WAYS 16 /* SAMPLE_WAYS of cl/sample.cl */
#define DEVSAMPLE_WINDOW 64 /* bytes for struct window of cl/sample.cl (40) */
#define DEVSAMPLE_LOCALS 9 /* __local arguments */

/* A request as cl/sample.cl's sample_req reads it (natural alignment on both sides). */
struct didcl_devsample_req {
    cl_double inv_t;   /* 1 / temperature (1 when greedy) */
    cl_double top_p;
    cl_int row;
    cl_uint ctr[3];    /* Philox counter words 0..2 (word 3: the token id) */
    cl_uint seed[2];   /* the key, low word first */
    cl_int greedy;
    cl_int pad;
};
_Static_assert(sizeof(struct didcl_devsample_req) == 48, "sample_req of cl/sample.cl is 48 bytes");

/* Kernel arguments: the fixed ones set at init, R and logits per call. */
enum { ARG_R, ARG_V, ARG_EXCL, ARG_LOGITS, ARG_REQ, ARG_PROB, ARG_OUT, ARG_LOCAL0 };

/* The __local arguments for a work-group of wg, in kernel order: (bytes). */
static void local_sizes(size_t wg, size_t bytes[DEVSAMPLE_LOCALS]) {
    const size_t d = sizeof(cl_double), i = sizeof(cl_int);
    const size_t all[DEVSAMPLE_LOCALS] = {(wg + 1) * d, (wg + 1) * i, DEVSAMPLE_WAYS * wg * d,
                                          DEVSAMPLE_WAYS * wg * i, DEVSAMPLE_CAP * d,
                                          DEVSAMPLE_CAP * i, DEVSAMPLE_CAP * d,
                                          DEVSAMPLE_CAP * i, DEVSAMPLE_WINDOW};
    memcpy(bytes, all, sizeof all);
}

static didcl_status make_buffer(didcl_devsample *s, size_t bytes, cl_mem *out) {
    cl_int err;
    *out = clCreateBuffer(s->rt->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!*out)
        return didcl_fail_cl(err, "device sampling: allocating %zu bytes on %s", bytes,
                             s->rt->info.name);
    return DIDCL_OK;
}

/* The local memory the kernel reports now (0 where the driver will not say: the sizes
 * of the __local arguments still count). */
static cl_ulong kernel_local(const didcl_devsample *s) {
    cl_ulong used = 0;
    if (clGetKernelWorkGroupInfo(s->kernel, s->rt->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                 sizeof used, &used, NULL) != CL_SUCCESS)
        used = 0;
    return used;
}

/* The largest power of two <= DEVSAMPLE_WG that the device and the kernel accept and
 * whose local memory fits: the kernel's own (CL_KERNEL_LOCAL_MEM_SIZE before any __local
 * argument is set) plus the __local arguments, or what the kernel reports once they are
 * set, whichever is larger (drivers differ in whether they count set arguments).
 * Leaves the __local arguments set for the chosen size. */
static didcl_status pick_size(didcl_devsample *s) {
    didcl_runtime_t rt = s->rt;
    size_t kmax = 0, dims[16] = {0}; /* CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS entries (>= 3) */
    DIDCL_CL_TRY(clGetKernelWorkGroupInfo(s->kernel, rt->device, CL_KERNEL_WORK_GROUP_SIZE,
                                          sizeof kmax, &kmax, NULL),
                 "device sampling: CL_KERNEL_WORK_GROUP_SIZE");
    const cl_ulong own = kernel_local(s); /* before any __local argument is set */
    DIDCL_CL_TRY(clGetDeviceInfo(rt->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof dims, dims,
                                 NULL),
                 "device sampling: CL_DEVICE_MAX_WORK_ITEM_SIZES");
    size_t lim = DEVSAMPLE_WG, need = 0;
    if (kmax && kmax < lim)
        lim = kmax;
    if (rt->info.max_work_group && rt->info.max_work_group < lim)
        lim = (size_t)rt->info.max_work_group;
    if (dims[0] && dims[0] < lim)
        lim = dims[0];
    size_t wg = 1;
    while (wg * 2 <= lim)
        wg *= 2;
    for (; wg >= 1; wg /= 2) {
        size_t bytes[DEVSAMPLE_LOCALS], args = 0;
        local_sizes(wg, bytes);
        for (cl_uint a = 0; a < DEVSAMPLE_LOCALS; a++) {
            DIDCL_CL_TRY(clSetKernelArg(s->kernel, ARG_LOCAL0 + a, bytes[a], NULL),
                         "device sampling: sample_rows local arguments");
            args += bytes[a];
        }
        const cl_ulong used = kernel_local(s);
        need = (size_t)own + args > (size_t)used ? (size_t)own + args : (size_t)used;
        if (need <= rt->info.local_mem)
            break;
    }
    if (wg == 0)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED,
                          "device sampling: a work-group of 1 needs %zu bytes of local "
                          "memory (the kernel's own %llu), %s has %llu",
                          need, (unsigned long long)own, rt->info.name,
                          (unsigned long long)rt->info.local_mem);
    if (wg != DEVSAMPLE_WG)
        didcl_log(DIDCL_LOG_WARN,
                  "device sampling: %s runs work-groups of %zu, not %d (kernel limit %zu, "
                  "device limit %llu, local memory %llu bytes): its float64 sums group "
                  "differently, so a token can differ from other devices' where a running "
                  "sum lies within rounding of top-p",
                  rt->info.name, wg, DEVSAMPLE_WG, kmax,
                  (unsigned long long)rt->info.max_work_group,
                  (unsigned long long)rt->info.local_mem);
    s->wg = wg;
    return DIDCL_OK;
}

/* A kernel object of our own (the program cache's is shared: its arguments, and the
 * local memory it reports, would be other callers'), with the fixed arguments set. */
static didcl_status make_kernel(didcl_devsample *s) {
    cl_kernel shared = NULL;
    cl_program prog = NULL;
    cl_int err;
    DIDCL_TRY(didcl_program_kernel(s->rt, "sample", NULL, "sample_rows", &shared));
    DIDCL_CL_TRY(clGetKernelInfo(shared, CL_KERNEL_PROGRAM, sizeof prog, &prog, NULL),
                 "device sampling: CL_KERNEL_PROGRAM");
    s->kernel = clCreateKernel(prog, "sample_rows", &err);
    if (!s->kernel)
        return didcl_fail_cl(err, "cl/sample.cl: kernel 'sample_rows'");
    const struct {
        cl_uint index;
        size_t size;
        const void *value;
    } fixed[] = {{ARG_V, sizeof(cl_int), &s->vocab}, {ARG_EXCL, sizeof(cl_int), &s->mask_id},
                 {ARG_REQ, sizeof(cl_mem), &s->req}, {ARG_PROB, sizeof(cl_mem), &s->prob},
                 {ARG_OUT, sizeof(cl_mem), &s->out}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        DIDCL_CL_TRY(clSetKernelArg(s->kernel, fixed[i].index, fixed[i].size, fixed[i].value),
                     "device sampling: sample_rows arguments");
    return pick_size(s);
}

didcl_status didcl_devsample_init(didcl_devsample *s, didcl_runtime_t rt, int32_t vocab,
                                  int32_t mask_id, int32_t max_rows) {
    memset(s, 0, sizeof *s);
    if (!rt || vocab < 2 || max_rows < 1 || mask_id < -1 || mask_id >= vocab)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "device sampling: vocabulary %d, mask %d, %d "
                          "rows, expected a runtime, >= 2, -1 or an id, >= 1", (int)vocab,
                          (int)mask_id, (int)max_rows);
    if (!rt->info.fp64)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "device sampling: %s lacks cl_khr_fp64",
                          rt->info.name);
    s->rt = rt;
    s->vocab = vocab;
    s->mask_id = mask_id;
    s->max_rows = max_rows;
    const size_t R = (size_t)max_rows;
    didcl_status st = make_buffer(s, R * sizeof *s->req_host, &s->req);
    if (st == DIDCL_OK)
        st = make_buffer(s, R * (size_t)vocab * sizeof(cl_double), &s->prob);
    if (st == DIDCL_OK)
        st = make_buffer(s, R * 4 * sizeof(cl_double), &s->out);
    if (st == DIDCL_OK)
        st = make_kernel(s);
    if (st == DIDCL_OK) {
        s->req_host = calloc(R, sizeof *s->req_host);
        s->out_host = malloc(R * 4 * sizeof *s->out_host);
        s->row_host = malloc((size_t)vocab * sizeof *s->row_host);
        if (!s->req_host || !s->out_host || !s->row_host)
            st = didcl_fail(DIDCL_ERR_NO_MEMORY, "device sampling: out of memory");
    }
    if (st == DIDCL_OK)
        st = didcl_sampling_init(&s->host, vocab);
    if (st != DIDCL_OK)
        didcl_devsample_free(s);
    return st;
}

void didcl_devsample_free(didcl_devsample *s) {
    if (!s)
        return;
    cl_mem *all[] = {&s->req, &s->prob, &s->out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i])
            clReleaseMemObject(*all[i]);
    if (s->kernel)
        clReleaseKernel(s->kernel);
    free(s->req_host);
    free(s->out_host);
    free(s->row_host);
    didcl_sampling_free(&s->host);
    memset(s, 0, sizeof *s);
}

didcl_status didcl_devsample_draw(didcl_devsample *s, cl_mem logits, int32_t rows_valid,
                                  int32_t n, const didcl_sample_req *req, didcl_draw *out) {
    if (n < 1 || n > s->max_rows)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "device sampling: %d requests, expected 1 to "
                          "%d", (int)n, (int)s->max_rows);
    for (int32_t i = 0; i < n; i++) {
        const didcl_sample_req *q = &req[i];
        if (q->row < 0 || q->row >= rows_valid)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "device sampling: request %d reads row %d, "
                              "the logits have %d", (int)i, (int)q->row, (int)rows_valid);
        const int greedy = !(q->temperature > 0.0);
        s->req_host[i] = (struct didcl_devsample_req){
            .inv_t = greedy ? 1.0 : 1.0 / q->temperature,
            .top_p = q->top_p,
            .row = q->row,
            .ctr = {(q->at.purpose << 24) | (q->at.sample & 0xFFFFFFu), q->at.position,
                    (q->at.stage << 24) | (q->at.forward & 0xFFFFFFu)},
            .seed = {(cl_uint)q->at.seed, (cl_uint)(q->at.seed >> 32)},
            .greedy = greedy};
    }
    didcl_runtime_t rt = s->rt;
    const cl_int R = n;
    DIDCL_CL_TRY(clEnqueueWriteBuffer(rt->queue, s->req, CL_FALSE, 0,
                                      (size_t)n * sizeof *s->req_host, s->req_host, 0, NULL,
                                      didcl_profile_event(rt, "write_draw_requests")),
                 "device sampling: writing requests");
    DIDCL_CL_TRY(clSetKernelArg(s->kernel, ARG_R, sizeof R, &R),
                 "device sampling: sample_rows arguments");
    DIDCL_CL_TRY(clSetKernelArg(s->kernel, ARG_LOGITS, sizeof logits, &logits),
                 "device sampling: sample_rows arguments");
    const size_t global = (size_t)n * s->wg;
    cl_int err = didcl_fault_hit(DIDCL_FAULT_LAUNCH)
                     ? CL_OUT_OF_RESOURCES
                     : clEnqueueNDRangeKernel(rt->queue, s->kernel, 1, NULL, &global, &s->wg,
                                              0, NULL, didcl_profile_event(rt, "sample_rows"));
    if (err != CL_SUCCESS)
        return didcl_fail_cl(err, "clEnqueueNDRangeKernel sample_rows");
    rt->launches++;
    DIDCL_CL_TRY(clEnqueueReadBuffer(rt->queue, s->out, CL_TRUE, 0,
                                     4 * (size_t)n * sizeof *s->out_host, s->out_host, 0, NULL,
                                     didcl_profile_event(rt, "read_draws")),
                 "device sampling: reading draws");
    for (int32_t i = 0; i < n; i++) {
        const double *o = s->out_host + 4 * (size_t)i;
        if (o[0] == -3.0) { /* a big tie group at the nucleus boundary: the host draws it */
            const didcl_sample_req *q = &req[i];
            DIDCL_CL_TRY(clEnqueueReadBuffer(rt->queue, logits, CL_TRUE,
                                             (size_t)q->row * (size_t)s->vocab * sizeof(float),
                                             (size_t)s->vocab * sizeof(float), s->row_host, 0,
                                             NULL, didcl_profile_event(rt, "read_tie_row")),
                         "device sampling: reading a row for the host");
            DIDCL_TRY(didcl_sampling_draw(&s->host, s->row_host, s->mask_id, q->temperature,
                                          q->top_p, &q->at, &out[i]));
            continue;
        }
        if (o[0] == -4.0)
            return didcl_fail(DIDCL_ERR_OPENCL, "device sampling: request %d broke an invariant "
                              "of cl/sample.cl on %s (a kernel or compiler bug)", (int)i,
                              rt->info.name);
        out[i] = (didcl_draw){(int32_t)o[0], o[1], o[2], o[3]};
    }
    return DIDCL_OK;
}

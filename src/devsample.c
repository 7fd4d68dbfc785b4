/*
 * devsample.c — the host side of cl/sample.cl (devsample.h): kernel, work-group size and
 * buffers resolved once; per call one small write, one launch, one small read.
 */
#include "devsample.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "program.h"
#include "runtime.h"

/* Work-group size asked for: the same on every device that allows it, so that the
 * float64 sums are taken in the same order everywhere. */
#define DEVSAMPLE_WG 128
#define DEVSAMPLE_CAP 256 /* SAMPLE_CAP of cl/sample.cl */
#define DEVSAMPLE_WAYS 16 /* SAMPLE_WAYS of cl/sample.cl */

static didcl_status make_buffer(didcl_devsample *s, size_t bytes, cl_mem *out) {
    cl_int err;
    *out = clCreateBuffer(s->rt->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!*out)
        return didcl_fail_cl(err, "device sampling: allocating %zu bytes on %s", bytes,
                             s->rt->info.name);
    return DIDCL_OK;
}

/* Largest power of two <= DEVSAMPLE_WG that the device and the kernel accept, and the
 * local memory it needs checked once. */
static didcl_status pick_size(didcl_devsample *s) {
    size_t kmax = 0, dims[16] = {0};
    cl_ulong used = 0;
    DIDCL_CL_TRY(clGetKernelWorkGroupInfo(s->kernel, s->rt->device, CL_KERNEL_WORK_GROUP_SIZE,
                                          sizeof kmax, &kmax, NULL),
                 "device sampling: CL_KERNEL_WORK_GROUP_SIZE");
    DIDCL_CL_TRY(clGetKernelWorkGroupInfo(s->kernel, s->rt->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                          sizeof used, &used, NULL),
                 "device sampling: CL_KERNEL_LOCAL_MEM_SIZE");
    DIDCL_CL_TRY(clGetDeviceInfo(s->rt->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof dims,
                                 dims, NULL),
                 "device sampling: CL_DEVICE_MAX_WORK_ITEM_SIZES");
    size_t lim = DEVSAMPLE_WG;
    if (kmax && kmax < lim)
        lim = kmax;
    if (s->rt->info.max_work_group && s->rt->info.max_work_group < lim)
        lim = (size_t)s->rt->info.max_work_group;
    if (dims[0] && dims[0] < lim)
        lim = dims[0];
    for (s->wg = 1; s->wg * 2 <= lim; s->wg *= 2)
        ;
    const size_t local = (s->wg + 1) * (sizeof(double) + sizeof(int32_t)) +
                         DEVSAMPLE_WAYS * s->wg * (sizeof(double) + sizeof(int32_t)) +
                         2 * DEVSAMPLE_CAP * (sizeof(double) + sizeof(int32_t));
    if (local + used > s->rt->info.local_mem)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "device sampling: needs %zu bytes of local "
                          "memory, %s has %llu", local + (size_t)used, s->rt->info.name,
                          (unsigned long long)s->rt->info.local_mem);
    return DIDCL_OK;
}

didcl_status didcl_devsample_init(didcl_devsample *s, didcl_runtime_t rt, int32_t vocab,
                                  int32_t max_rows) {
    memset(s, 0, sizeof *s);
    if (!rt || vocab < 2 || max_rows < 1)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "device sampling: vocabulary %d, %d rows, "
                          "expected a runtime, >= 2 and >= 1", (int)vocab, (int)max_rows);
    if (!rt->info.fp64)
        return didcl_fail(DIDCL_ERR_UNSUPPORTED, "device sampling: %s lacks cl_khr_fp64",
                          rt->info.name);
    s->rt = rt;
    s->vocab = vocab;
    s->max_rows = max_rows;
    const size_t R = (size_t)max_rows;
    didcl_status st = didcl_program_kernel(rt, "sample", NULL, "sample_rows", &s->kernel);
    if (st == DIDCL_OK)
        st = pick_size(s);
    if (st == DIDCL_OK)
        st = make_buffer(s, R * 4 * sizeof(int32_t), &s->req);
    if (st == DIDCL_OK)
        st = make_buffer(s, R * (size_t)vocab * sizeof(double), &s->prob);
    if (st == DIDCL_OK)
        st = make_buffer(s, R * 4 * sizeof(double), &s->out);
    if (st == DIDCL_OK) {
        s->req_host = malloc(R * 4 * sizeof *s->req_host);
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
    free(s->req_host);
    free(s->out_host);
    free(s->row_host);
    didcl_sampling_free(&s->host);
    memset(s, 0, sizeof *s);
}

didcl_status didcl_devsample_draw(didcl_devsample *s, cl_mem logits, int32_t n,
                                  const int32_t *rows, const didcl_philox_at *at,
                                  int32_t mask_id, double temperature, double top_p,
                                  didcl_draw *out) {
    if (n < 1 || n > s->max_rows)
        return didcl_fail(DIDCL_ERR_INVALID_ARG, "device sampling: %d rows, expected 1 to %d",
                          (int)n, (int)s->max_rows);
    const uint64_t seed = at[0].seed;
    for (int32_t i = 0; i < n; i++) {
        if (at[i].seed != seed)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "device sampling: request %d has another "
                              "seed than request 0", (int)i);
        int32_t *q = s->req_host + 4 * (size_t)i;
        q[0] = rows[i];
        q[1] = (int32_t)((at[i].purpose << 24) | (at[i].sample & 0xFFFFFFu));
        q[2] = (int32_t)at[i].position;
        q[3] = (int32_t)((at[i].stage << 24) | (at[i].forward & 0xFFFFFFu));
    }
    cl_command_queue queue = s->rt->queue;
    DIDCL_CL_TRY(clEnqueueWriteBuffer(queue, s->req, CL_FALSE, 0, 4 * (size_t)n * sizeof(int32_t),
                                      s->req_host, 0, NULL, NULL),
                 "device sampling: writing requests");
    const int R = n, V = s->vocab, excl = mask_id, greedy = !(temperature > 0.0);
    const double inv_t = greedy ? 1.0 : 1.0 / temperature;
    const cl_uint seed_lo = (cl_uint)seed, seed_hi = (cl_uint)(seed >> 32);
    const size_t wg = s->wg;
    struct {
        size_t size;
        const void *value;
    } args[] = {
        {sizeof R, &R},           {sizeof V, &V},
        {sizeof excl, &excl},     {sizeof inv_t, &inv_t},
        {sizeof greedy, &greedy}, {sizeof top_p, &top_p},
        {sizeof seed_lo, &seed_lo}, {sizeof seed_hi, &seed_hi},
        {sizeof(cl_mem), &logits}, {sizeof(cl_mem), &s->req},
        {sizeof(cl_mem), &s->prob}, {sizeof(cl_mem), &s->out},
        {(wg + 1) * sizeof(double), NULL}, {(wg + 1) * sizeof(int32_t), NULL},
        {DEVSAMPLE_WAYS * wg * sizeof(double), NULL},
        {DEVSAMPLE_WAYS * wg * sizeof(int32_t), NULL},
        {DEVSAMPLE_CAP * sizeof(double), NULL}, {DEVSAMPLE_CAP * sizeof(int32_t), NULL},
        {DEVSAMPLE_CAP * sizeof(double), NULL}, {DEVSAMPLE_CAP * sizeof(int32_t), NULL},
    };
    for (cl_uint i = 0; i < sizeof args / sizeof args[0]; i++)
        DIDCL_CL_TRY(clSetKernelArg(s->kernel, i, args[i].size, args[i].value),
                     "device sampling: sample_rows arguments");
    const size_t global = (size_t)n * wg;
    DIDCL_CL_TRY(clEnqueueNDRangeKernel(queue, s->kernel, 1, NULL, &global, &wg, 0, NULL, NULL),
                 "clEnqueueNDRangeKernel sample_rows");
    DIDCL_CL_TRY(clEnqueueReadBuffer(queue, s->out, CL_TRUE, 0, 4 * (size_t)n * sizeof(double),
                                     s->out_host, 0, NULL, NULL),
                 "device sampling: reading draws");
    for (int32_t i = 0; i < n; i++) {
        const double *o = s->out_host + 4 * (size_t)i;
        if (o[0] == -1.0)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "sampling: a logit of row %d is NaN",
                              (int)rows[i]);
        if (o[0] == -2.0)
            return didcl_fail(DIDCL_ERR_INVALID_ARG, "sampling: no finite logit outside the "
                              "mask token in row %d", (int)rows[i]);
        if (o[0] == -3.0) { /* a big tie group at the nucleus boundary: the host draws it */
            DIDCL_CL_TRY(clEnqueueReadBuffer(queue, logits, CL_TRUE,
                                             (size_t)rows[i] * (size_t)V * sizeof(float),
                                             (size_t)V * sizeof(float), s->row_host, 0, NULL,
                                             NULL),
                         "device sampling: reading a row for the host");
            DIDCL_TRY(didcl_sampling_draw(&s->host, s->row_host, mask_id, temperature, top_p,
                                          &at[i], &out[i]));
            continue;
        }
        out[i] = (didcl_draw){(int32_t)o[0], o[1], o[2], o[3]};
    }
    return DIDCL_OK;
}

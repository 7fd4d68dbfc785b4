/*
 * runtime.h — internal view of a didcl_runtime: the OpenCL objects other modules use.
 */
#ifndef DIDCL_RUNTIME_H
#define DIDCL_RUNTIME_H

#include <CL/cl.h>
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001 /* cl_khr_icd, returned by ICD loaders */
#endif

#include "didcl.h"
#include "tuning.h"

struct didcl_program_cache; /* program.c: in-memory program/kernel cache */
struct didcl_profile_state; /* profile.c: events of a profiling queue */
struct didcl_kernel_table;  /* kernels.c: kernels resolved once, with their limits */

struct didcl_runtime {
    didcl_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    struct didcl_program_cache *programs; /* owned; freed by didcl_runtime_free */
    struct didcl_kernel_table *kernels;   /* owned; NULL until the first launch */
    didcl_cache_stats stats;
    char cache_dir[1024];                 /* "" when the disk cache is off */
    struct didcl_gemm_tuning gemm;        /* product kernels' tiling and switch points */
    struct didcl_attn_tuning attn;        /* split attention's chunk and work-group */
    uint64_t launches;                    /* commands enqueued by ops.c and model.c:
                                             kernels, CLBlast calls (one each, whatever
                                             CLBlast runs inside), buffer copies;
                                             benchmarks read it */
    struct didcl_profile_state *profile;  /* owned; NULL unless profiling is on */
    cl_mem split_done;                    /* attention_split's counts of finished chunks
                                             per (sequence, head), all 0 between launches
                                             (ops.c); NULL until needed */
    size_t split_done_len;                /* ints in split_done */
};

#endif /* DIDCL_RUNTIME_H */

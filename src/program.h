/*
 * program.h — OpenCL programs built from the kernel families in cl/ (embedded, or read
 * from DIDCL_CL_DIR), with two caches: in memory per runtime (family + options →
 * program and its kernels) and on disk (progcache.h). Each family is compiled as
 * cl/common.cl followed by cl/<family>.cl.
 *
 * Kernels returned here belong to the runtime: callers MUST NOT release them, and since
 * clSetKernelArg mutates a kernel, a runtime MUST be used from one thread at a time.
 */
#ifndef DIDCL_PROGRAM_H
#define DIDCL_PROGRAM_H

#include <CL/cl.h>

#include "didcl.h"

struct didcl_program_cache;


/* The kernel `name` of family (e.g. "elementwise") built with extra build options
 * (may be NULL). Cached: later calls with the same arguments return the same kernel. */
didcl_status didcl_program_kernel(didcl_runtime_t rt, const char *family, const char *options,
                                  const char *name, cl_kernel *out);

/* The same, with the kernel's own local memory (CL_KERNEL_LOCAL_MEM_SIZE as created,
 * before any argument: later queries count the __local arguments set since, on NVIDIA
 * and PoCL). */
didcl_status didcl_program_kernel_local(didcl_runtime_t rt, const char *family,
                                        const char *options, const char *name,
                                        cl_kernel *out, cl_ulong *local_own);

/* Build family with options (may be NULL) into both caches without making a kernel:
 * what a warm-up does so that no later launch waits for the compiler. */
didcl_status didcl_program_prepare(didcl_runtime_t rt, const char *family, const char *options);

/* Build a program from source text with both caches bypassed in memory but the disk
 * cache used; label names the source in error messages. The caller releases *out. */
didcl_status didcl_program_build_source(didcl_runtime_t rt, const char *label, const char *source,
                                        size_t len, const char *options, cl_program *out);

/* Assemble the full source of a family (common.cl + <family>.cl) as a malloc'd string. */
didcl_status didcl_program_source(const char *family, char **out, size_t *len);

void didcl_program_cache_free(struct didcl_program_cache *cache);

#endif /* DIDCL_PROGRAM_H */

/*
 * check_kernels.c — the per-runtime kernel table (src/kernels.h): a kernel is looked up
 * in the program cache once, later launches make no lookup; records hold work-group
 * sizes the device accepts; gemv.cl's records follow a change of the product tiling;
 * bad ids and variants are refused; an injected launch failure still reaches the caller.
 */
#include "fault.h"
#include "kernels.h"
#include "ops.h"
#include "runtime.h"
#include "testutil.h"

static didcl_runtime_t rt;
static cl_mem buf;

static void setup(void) {
    rt = testutil_runtime_or_skip();
    cl_int err;
    buf = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, 1024 * sizeof(float), NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    const float zero = 0.0f;
    ck_assert_int_eq(clEnqueueFillBuffer(rt->queue, buf, &zero, sizeof zero, 0,
                                         1024 * sizeof(float), 0, NULL, NULL),
                     CL_SUCCESS);
}

static void teardown(void) {
    didcl_fault_disarm();
    clReleaseMemObject(buf);
    didcl_runtime_free(rt);
}

#define OK(call) ck_assert_msg((call) == DIDCL_OK, "%s: %s", #call, didcl_last_error())

START_TEST(test_resolved_once) {
    didcl_cache_stats s0, s1;
    OK(didcl_ops_axpy(rt, 1000, 2.0f, buf, buf));
    OK(didcl_ops_log_softmax(rt, 2, 300, -1, buf, buf));
    didcl_runtime_cache_stats(rt, &s0);
    const uint64_t launches = rt->launches;
    for (int i = 0; i < 50; i++) {
        OK(didcl_ops_axpy(rt, 1000, 2.0f, buf, buf));
        OK(didcl_ops_log_softmax(rt, 2, 300, -1, buf, buf));
    }
    ck_assert_int_eq(clFinish(rt->queue), CL_SUCCESS);
    didcl_runtime_cache_stats(rt, &s1);
    /* 100 launches, none through the program cache (no lookup, no build) */
    ck_assert_uint_eq(rt->launches - launches, 100);
    ck_assert_uint_eq(s1.memory_hits, s0.memory_hits);
    ck_assert_uint_eq(s1.compiles + s1.disk_hits, s0.compiles + s0.disk_hits);

    const struct didcl_kernel *a, *b;
    OK(didcl_kernels_get(rt, DIDCL_K_AXPY, 0, &a));
    OK(didcl_kernels_get(rt, DIDCL_K_AXPY, 0, &b));
    ck_assert_ptr_eq(a, b);
    ck_assert_str_eq(a->name, "axpy_f32");
    /* a power of two within the kernel's and the device's limits */
    ck_assert_uint_ge(a->wg, 1);
    ck_assert_uint_eq(a->wg & (a->wg - 1), 0);
    ck_assert_uint_le(a->wg, 64);
    ck_assert_uint_le(a->wg, a->wg_max);
    ck_assert_uint_le(a->wg, rt->info.max_work_group);
}
END_TEST

/* gemv.cl's kernels are built with rt->gemm's tiling: a change of it drops them, and
 * going back finds the first program again in the program cache, with the kernel's own
 * local memory as before (not counting the __local scratch a launch set:
 * CL_KERNEL_LOCAL_MEM_SIZE does, once set, on NVIDIA and PoCL). */
START_TEST(test_gemm_follows_tiling) {
    const struct didcl_gemm_tuning keep = rt->gemm;
    const struct didcl_kernel *r;
    OK(didcl_kernels_get(rt, DIDCL_K_GEMM_SKINNY, 0, &r));
    const cl_kernel first = r->kernel;
    const cl_ulong own = r->local_used;
    OK(didcl_ops_gemm_skinny(rt, 2, 8, 16, buf, buf, DIDCL_WTYPE_F32, NULL, DIDCL_ACT_NONE, buf));
    ck_assert_int_eq(clFinish(rt->queue), CL_SUCCESS);
    didcl_cache_stats s0, s1;
    didcl_runtime_cache_stats(rt, &s0);
    rt->gemm.tm += 1;
    didcl_tuning_gemm_options(&rt->gemm);
    OK(didcl_kernels_get(rt, DIDCL_K_GEMM_SKINNY, 0, &r));
    ck_assert_ptr_ne(r->kernel, first);
    didcl_runtime_cache_stats(rt, &s1);
    ck_assert_uint_eq(s1.compiles + s1.disk_hits, s0.compiles + s0.disk_hits + 1);
    rt->gemm.wide_m = 5; /* switch points are not build options: nothing rebuilt */
    const struct didcl_kernel *r2;
    OK(didcl_kernels_get(rt, DIDCL_K_GEMM_SKINNY, 0, &r2));
    ck_assert_ptr_eq(r2->kernel, r->kernel);
    rt->gemm = keep;
    OK(didcl_kernels_get(rt, DIDCL_K_GEMM_SKINNY, 0, &r));
    ck_assert_ptr_eq(r->kernel, first);
    ck_assert_uint_eq(r->local_used, own);
}
END_TEST

START_TEST(test_bad_ids) {
    const struct didcl_kernel *r;
    ck_assert_int_eq(didcl_kernels_get(rt, DIDCL_K_COUNT, 0, &r), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_kernels_get(rt, DIDCL_K_AXPY, 1, &r), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_kernels_get(rt, DIDCL_K_EMBED_TOKENS, 2, &r), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_kernels_get(rt, DIDCL_K_ATTENTION_FLASH, -1, &r),
                     DIDCL_ERR_INVALID_ARG);
    OK(didcl_kernels_get(rt, DIDCL_K_EMBED_TOKENS, 1, &r)); /* half tables */
}
END_TEST

/* A resolved kernel's launch still goes through the fault hook and the counter. */
START_TEST(test_fault_after_resolve) {
    OK(didcl_ops_axpy(rt, 100, 1.0f, buf, buf));
    const uint64_t launches = rt->launches;
    didcl_fault_arm(DIDCL_FAULT_LAUNCH, 0);
    ck_assert_int_eq(didcl_ops_axpy(rt, 100, 1.0f, buf, buf), DIDCL_ERR_OPENCL);
    ck_assert_uint_eq(rt->launches, launches);
    didcl_fault_disarm();
    OK(didcl_ops_axpy(rt, 100, 1.0f, buf, buf));
    ck_assert_uint_eq(rt->launches, launches + 1);
}
END_TEST

static Suite *kernels_suite(void) {
    Suite *s = suite_create("kernels");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_resolved_once);
    tcase_add_test(core, test_gemm_follows_tiling);
    tcase_add_test(core, test_fault_after_resolve);
    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, DIDCL_CL_TIMEOUT);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_bad_ids);
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) { return testutil_run(kernels_suite()); }

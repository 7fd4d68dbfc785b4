/*
 * check_fault.c — failures injected where a real device or disk fails (src/fault.h):
 * an OpenCL allocation, a program build and a kernel launch in the middle of a
 * generation, and a full disk (RLIMIT_FSIZE: writes fail with EFBIG, as they fail with
 * ENOSPC on a full one) while the kernel cache writes. Each must end in one clear
 * line and no results; nothing half-written may stay in the cache; and the same
 * session must then generate exactly what a fresh one does.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "didcl.h"
#include "fault.h"
#include "progcache.h"
#include "testutil.h"

static char *dir;

static void setup(void) {
    testutil_skip_without_device();
    dir = testutil_tmpdir();
    testutil_model m = testutil_tiny_bd3lm();
    m.vocab = 8192;
    m.length = 32;
    ck_assert_int_eq(testutil_write_generator(dir, &m), 0);
}

static void teardown(void) {
    didcl_fault_disarm();
    testutil_rmtree(dir);
    free(dir);
}

static didcl_session_t open_session(void) {
    didcl_session_params p = didcl_session_default_params();
    p.model = dir;
    didcl_session_t s = NULL;
    ck_assert_msg(didcl_session_open(&p, &s) == DIDCL_OK, "%s", didcl_last_error());
    return s;
}

static didcl_request request(void) {
    didcl_request r = didcl_request_default();
    r.prompt = "Hello world";
    r.options.seed = 11;
    r.options.n_revisions = 1;
    r.options.revisions[0].gamma = 0.25;
    r.samples = 2;
    return r;
}

static int commits;
static int count_commits(const didcl_event *ev, void *user) {
    (void)user;
    commits += ev->kind == DIDCL_EVENT_COMMIT;
    return 0;
}

/* The samples of a fresh session: what a session recovered from a failure must give. */
static didcl_results *reference(void) {
    didcl_session_t s = open_session();
    didcl_request r = request();
    didcl_results *res = NULL;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &res), DIDCL_OK);
    didcl_session_free(s);
    return res;
}

static void assert_same(const didcl_results *a, const didcl_results *b) {
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_int_eq(a->samples[i].n, b->samples[i].n);
        ck_assert_mem_eq(a->samples[i].tokens, b->samples[i].tokens,
                         sizeof(int32_t) * (size_t)a->samples[i].n);
    }
}

/* Generate with site armed after `after` calls: the failure and its message, no
 * results; then, disarmed, the same session gives the reference samples. */
static void fail_then_recover(didcl_session_t s, enum didcl_fault_site site, uint64_t after,
                              didcl_status want, const char *const *needles) {
    didcl_request r = request();
    didcl_results *res = (didcl_results *)&res; /* must stay untouched */
    didcl_results *const untouched = res;
    didcl_fault_arm(site, after);
    didcl_status st = didcl_session_generate(s, &r, 1, count_commits, NULL, &res);
    didcl_fault_disarm();
    ck_assert_msg(st == want, "status %s, expected %s: %s", didcl_status_str(st),
                  didcl_status_str(want), didcl_session_error(s));
    ck_assert_ptr_eq(res, untouched);
    const char *msg = didcl_session_error(s);
    ck_assert_ptr_null(strchr(msg, '\n'));
    for (; *needles; needles++)
        ck_assert_msg(strstr(msg, *needles), "'%s' lacks '%s'", msg, *needles);
    didcl_results *ref = reference(), *again = NULL;
    ck_assert_msg(didcl_session_generate(s, &r, 1, NULL, NULL, &again) == DIDCL_OK, "%s",
                  didcl_session_error(s));
    assert_same(ref, again);
    didcl_results_free(ref);
    didcl_results_free(again);
}

/* The same, in a fresh session, failing the first call at site and a later one. */
static void fail_first_and_later(enum didcl_fault_site site, uint64_t later, didcl_status want,
                                 const char *const *needles) {
    const uint64_t afters[2] = {0, later};
    for (int i = 0; i < 2; i++) {
        didcl_session_t s = open_session();
        fail_then_recover(s, site, afters[i], want, needles);
        didcl_session_free(s);
    }
}

/* A device buffer allocation fails: first, and in the middle of the model's buffers. */
START_TEST(test_alloc_failure) {
    static const char *const needles[] = {"model: allocating", "CL_MEM_OBJECT_ALLOCATION_FAILURE",
                                          NULL};
    fail_first_and_later(DIDCL_FAULT_ALLOC, 9, DIDCL_ERR_OPENCL, needles);
}
END_TEST

/* A kernel program fails to build (no kernel cache, so every program is built). */
START_TEST(test_build_failure) {
    static const char *const needles[] = {"OpenCL build failed on", "CL_BUILD_PROGRAM_FAILURE",
                                          NULL};
    setenv("DIDCL_CACHE_DIR", "off", 1);
    fail_first_and_later(DIDCL_FAULT_BUILD, 2, DIDCL_ERR_BUILD, needles);
}
END_TEST

/* The device fails a kernel launch halfway through a generation, after tokens were
 * committed. */
START_TEST(test_device_error_mid_generation) {
    static const char *const needles[] = {"clEnqueueNDRangeKernel", "CL_OUT_OF_RESOURCES", NULL};
    didcl_session_t s = open_session();
    didcl_request r = request();
    didcl_results *res = NULL;
    didcl_fault_arm(DIDCL_FAULT_LAUNCH, UINT64_MAX); /* count the launches of a clean run */
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &res), DIDCL_OK);
    uint64_t launches = didcl_fault_count(DIDCL_FAULT_LAUNCH);
    didcl_fault_disarm();
    didcl_results_free(res);
    ck_assert_uint_gt(launches, 100);
    commits = 0;
    fail_then_recover(s, DIDCL_FAULT_LAUNCH, launches / 2, DIDCL_ERR_OPENCL, needles);
    ck_assert_int_gt(commits, 0); /* it failed in the middle, not before the first token */
    didcl_session_free(s);
}
END_TEST

/* Entries of a cache directory other than the *.bin of keep; 0 if none. */
static int stray_entries(const char *cache, const char *keep) {
    DIR *d = opendir(cache);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' && (!keep || strncmp(e->d_name, keep, 64)))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* The soft limit only, so that it can be raised again without privileges. */
static void limit_file_size(rlim_t bytes) {
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes;
    signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead of killing us */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* The disk fills while a kernel binary is written (the store that program.c calls after
 * every build from source, whose failure it ignores: the cache is an optimisation): no
 * entry, no temporary file, an older entry intact. The driver is left out: PoCL's own
 * LLVM exits the process when it cannot write its files, which is not ours to test. */
START_TEST(test_cache_full_disk) {
    char *cache = testutil_tmpdir();
    const char old_key[] = "0000000000000000000000000000000000000000000000000000000000000000";
    const char key[] = "1111111111111111111111111111111111111111111111111111111111111111";
    unsigned char small[64], *big = calloc(1, 1 << 20), *got = NULL;
    size_t len = 0;
    memset(small, 7, sizeof small);
    ck_assert_int_eq(didcl_progcache_store(cache, old_key, small, sizeof small), 1);
    /* a binary the disk cannot hold */
    limit_file_size(64 << 10);
    ck_assert_int_eq(didcl_progcache_store(cache, key, big, 1 << 20), 0);
    ck_assert_int_eq(stray_entries(cache, old_key), 0);
    ck_assert_int_eq(didcl_progcache_load(cache, old_key, &got, &len), 1);
    ck_assert_uint_eq(len, sizeof small);
    ck_assert_mem_eq(got, small, len);
    free(got);
    /* room again: the next store succeeds */
    limit_file_size(RLIM_INFINITY);
    ck_assert_int_eq(didcl_progcache_store(cache, key, big, 1 << 20), 1);
    ck_assert_int_eq(stray_entries(cache, old_key), 1);
    free(big);
    testutil_rmtree(cache);
    free(cache);
}
END_TEST

static Suite *fault_suite(void) {
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_alloc_failure);
    tcase_add_test(tc, test_build_failure);
    tcase_add_test(tc, test_device_error_mid_generation);
    tcase_add_test(tc, test_cache_full_disk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return testutil_run(fault_suite()); }

/*
 * check_remask.c — the remask plugin loader and the bundled plugins: exact selections of
 * lowconf, entropy, span and random on hand-built drafts (learned's: tests/learned.sh);
 * option errors; the search path;
 * the plugins' Philox draws; the in-process registry (didcl_remask_register/unregister:
 * errors, open handles, threads, a file winning over an in-process plugin, the listing
 * with the built-ins); and every refusal of the loader, exercised with the deliberately
 * broken modules built from tests/plugins/bad.c (in TEST_PLUGINS_DIR) and files written
 * at run time. (The built-ins themselves, with no file to shadow them, are run from a
 * temporary install by tests/plugin_example.sh.)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "philox.h"
#include "testutil.h"

#ifndef TEST_PLUGINS_DIR
#define TEST_PLUGINS_DIR "tests/.libs"
#endif
#ifndef BUNDLED_PLUGINS_DIR
#define BUNDLED_PLUGINS_DIR "plugins/.libs"
#endif

#define MAXN 64

/* A draft: confidence (or entropy) per position, locked where lock[i] is nonzero. */
typedef struct draft {
    didcl_remask_position pos[MAXN];
    uint32_t n;
} draft;

static draft make_draft(const float *conf, const float *ent, const int *lock, uint32_t n) {
    draft d;
    memset(&d, 0, sizeof d);
    ck_assert_uint_le(n, MAXN);
    d.n = n;
    for (uint32_t i = 0; i < n; i++) {
        d.pos[i].token = (int32_t)(100 + i);
        d.pos[i].confidence = conf ? conf[i] : 0.5f;
        d.pos[i].entropy = ent ? ent[i] : 1.0f;
        d.pos[i].margin = 0.1f;
        d.pos[i].stage = lock && lock[i] ? 0 : 1;
        d.pos[i].flags = lock && lock[i] ? DIDCL_REMASK_LOCKED : 0u;
    }
    return d;
}

static didcl_remask_t open_ok(const char *spec, const char *dir, uint64_t seed) {
    didcl_remask_host_cfg cfg = {.seed = seed};
    didcl_remask_t r = NULL;
    didcl_status st = didcl_remask_open(spec, dir, &cfg, &r);
    ck_assert_msg(st == DIDCL_OK, "open %s: %s", spec, didcl_last_error());
    return r;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Run a selection and render it as a sorted "i,j,k" string for exact comparison. */
static const char *select_str(didcl_remask_t r, const draft *d, uint32_t count, int flexible) {
    static char buf[512];
    uint32_t out[MAXN], n_out = 0;
    didcl_status st = didcl_remask_select(r, d->pos, d->n, count, flexible, 2, d->n, 0, out,
                                          &n_out);
    ck_assert_msg(st == DIDCL_OK, "select: %s", didcl_last_error());
    qsort(out, n_out, sizeof out[0], cmp_u32);
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n_out; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%u", i ? "," : "", out[i]);
    return buf;
}

static const char *bundled_select(const char *spec, const draft *d, uint32_t count,
                                  int flexible) {
    didcl_remask_t r = open_ok(spec, BUNDLED_PLUGINS_DIR, 1);
    const char *s = select_str(r, d, count, flexible);
    didcl_remask_free(r);
    return s;
}

/* ---- bundled plugins -------------------------------------------------------------- */

START_TEST(test_lowconf) {
    static const float conf[] = {0.9f, 0.5f, 0.2f, 0.2f, 0.8f, 0.1f, 0.3f, 0.2f};
    static const int lock[] = {1, 0, 0, 0, 0, 1, 0, 0};
    draft d = make_draft(conf, NULL, lock, 8);
    /* 5 has the lowest confidence but is locked; the three 0.2 tie: lower index first. */
    ck_assert_str_eq(bundled_select("lowconf", &d, 2, 0), "2,3");
    ck_assert_str_eq(bundled_select("lowconf", &d, 3, 0), "2,3,7");
    ck_assert_str_eq(bundled_select("lowconf", &d, 4, 0), "2,3,6,7");
    ck_assert_str_eq(bundled_select("lowconf", &d, 6, 0), "1,2,3,4,6,7");
    ck_assert_str_eq(bundled_select("lowconf", &d, 1, 1), "2");
}
END_TEST

START_TEST(test_entropy) {
    static const float ent[] = {5.0f, 1.0f, 2.0f, 2.0f, 0.5f, 3.0f, 2.0f};
    static const int lock[] = {1, 0, 0, 0, 0, 0, 0};
    draft d = make_draft(NULL, ent, lock, 7);
    ck_assert_str_eq(bundled_select("entropy", &d, 1, 0), "5");
    ck_assert_str_eq(bundled_select("entropy", &d, 2, 0), "2,5");
    ck_assert_str_eq(bundled_select("entropy", &d, 4, 0), "2,3,5,6");
    ck_assert_str_eq(bundled_select("entropy", &d, 5, 0), "1,2,3,5,6");
}
END_TEST

/* Confidences are multiples of 1/8, so window means compare exactly. Locked: 0 and 6. */
static const float span_conf[] = {0.5f,   0.875f, 0.125f, 0.75f,  0.25f,
                                  0.375f, 0.0f,   0.125f, 0.125f, 0.875f};
static const int span_lock[] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0};

START_TEST(test_span_mean) {
    draft d = make_draft(span_conf, NULL, span_lock, 10);
    /* len 2: [7,8] mean .125, then [4,5] mean .3125. */
    ck_assert_str_eq(bundled_select("span:len=2", &d, 4, 0), "4,5,7,8");
    /* Exact count 3: the second span is cut to its best single position (4: .25 < .375). */
    ck_assert_str_eq(bundled_select("span:len=2", &d, 3, 0), "4,7,8");
    /* Flexible: the whole span is kept, so 4 positions. */
    ck_assert_str_eq(bundled_select("span:len=2,agg=mean", &d, 3, 1), "4,5,7,8");
    /* len 3: [2,3,4] and [7,8,9] tie at .375: leftmost wins; locked 6 never in a span. */
    ck_assert_str_eq(bundled_select("span:len=3", &d, 3, 0), "2,3,4");
    /* Then the leftover runs [1], [5], [7..9]: [5] (.375) ties [7,8,9] and is leftmost;
     * the last span [7,8,9] is cut to [7,8]. */
    ck_assert_str_eq(bundled_select("span:len=3", &d, 6, 0), "2,3,4,5,7,8");
    /* Default len 4: [2..5] (.375) ties the 3-run [7..9] (.375), cut to [2,3,4]. */
    ck_assert_str_eq(bundled_select("span", &d, 3, 0), "2,3,4");
    /* Everything unlocked. */
    ck_assert_str_eq(bundled_select("span:len=2", &d, 8, 0), "1,2,3,4,5,7,8,9");
}
END_TEST

START_TEST(test_span_min) {
    draft d = make_draft(span_conf, NULL, span_lock, 10);
    /* min: [1,2], [2,3], [7,8], [8,9] all score .125: the leftmost, [1,2], wins, where
     * mean would have taken [7,8]. */
    ck_assert_str_eq(bundled_select("span:len=2,agg=min", &d, 2, 0), "1,2");
    ck_assert_str_eq(bundled_select("span:len=2,agg=mean", &d, 2, 0), "7,8");
    ck_assert_str_eq(bundled_select("span:agg=min,len=2", &d, 4, 0), "1,2,7,8");
    /* len 1 is per-token: the same as lowconf with ties to the lower index. */
    ck_assert_str_eq(bundled_select("span:len=1,agg=min", &d, 3, 0), "2,7,8");
}
END_TEST

START_TEST(test_random_reproducible) {
    static const int lock[20] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    draft d = make_draft(NULL, NULL, lock, 20);
    char a[512], b[512], c[512];
    didcl_remask_t r = open_ok("random", BUNDLED_PLUGINS_DIR, 42);
    snprintf(a, sizeof a, "%s", select_str(r, &d, 6, 0));
    didcl_remask_free(r);
    r = open_ok("random", BUNDLED_PLUGINS_DIR, 42);
    snprintf(b, sizeof b, "%s", select_str(r, &d, 6, 0));
    didcl_remask_free(r);
    r = open_ok("random", BUNDLED_PLUGINS_DIR, 43);
    snprintf(c, sizeof c, "%s", select_str(r, &d, 6, 0));
    didcl_remask_free(r);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    /* Six distinct unlocked positions (select_str's validation already refused others). */
    uint32_t out[MAXN], n_out = 0;
    r = open_ok("random", BUNDLED_PLUGINS_DIR, 7);
    ck_assert_int_eq(didcl_remask_select(r, d.pos, d.n, 17, 0, 2, 20, 0, out, &n_out), DIDCL_OK);
    ck_assert_uint_eq(n_out, 17);
    didcl_remask_free(r);
}
END_TEST

/* A registered plugin that records its first draws of each select call. */
static double draws[2][4];
static int n_calls;

static int draws_create(const char *options, const didcl_remask_host *host, void **state,
                        char *err, size_t err_size) {
    (void)options, (void)err, (void)err_size;
    *state = (void *)host;
    return 0;
}

static int draws_select(void *state, const didcl_remask_input *in, uint32_t *out,
                        uint32_t *n_out, char *err, size_t err_size) {
    const didcl_remask_host *host = state;
    (void)err, (void)err_size;
    for (int i = 0; i < 4; i++)
        draws[n_calls % 2][i] = host->uniform(host->handle);
    n_calls++;
    uint32_t k = 0;
    for (uint32_t i = 0; i < in->n && k < in->count; i++)
        if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED))
            out[k++] = i;
    *n_out = k;
    return 0;
}

static const didcl_remask_plugin draws_plugin = {
    DIDCL_REMASK_ABI_VERSION, sizeof(didcl_remask_plugin), "draws", "records draws", "1.0",
    draws_create, draws_select, NULL};

START_TEST(test_uniform_is_philox) {
    /* Draw i of a select call for (sample, stage) is Philox at {seed, DIDCL_RNG_PLUGIN,
     * sample, 0, stage, 0}, index i: the counter restarts in every call. */
    static const int lock[6] = {1};
    draft d = make_draft(NULL, NULL, lock, 6);
    didcl_remask_host_cfg cfg = {.seed = 0x123456789abcull};
    didcl_remask_t r;
    uint32_t out[6], n_out;
    ck_assert_int_eq(didcl_remask_register(&draws_plugin), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_open("draws", NULL, &cfg, &r), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 6, 2, 0, 3, 6, 5, out, &n_out), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 6, 2, 0, 3, 6, 5, out, &n_out), DIDCL_OK);
    for (uint32_t i = 0; i < 4; i++) {
        didcl_philox_at at = {cfg.seed, DIDCL_RNG_PLUGIN, 5, 0, 3, 0};
        ck_assert(draws[0][i] == didcl_philox_uniform(&at, i));
        ck_assert(draws[1][i] == draws[0][i]);
    }
    /* another sample or stage: another stream */
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 6, 2, 0, 4, 6, 5, out, &n_out), DIDCL_OK);
    didcl_philox_at at = {cfg.seed, DIDCL_RNG_PLUGIN, 5, 0, 4, 0};
    ck_assert(draws[0][0] == didcl_philox_uniform(&at, 0));
    ck_assert(draws[0][0] != draws[1][0]);
    didcl_remask_free(r);
    ck_assert_int_eq(didcl_remask_unregister("draws"), DIDCL_OK);
}
END_TEST

START_TEST(test_random_uses_philox) {
    /* The bundled random plugin's partial shuffle, replayed from the Philox stream. */
    static const int lock[12] = {1, 0, 0, 1};
    draft d = make_draft(NULL, NULL, lock, 12);
    didcl_remask_t r = open_ok("random", BUNDLED_PLUGINS_DIR, 99);
    uint32_t out[12], n_out, idx[12], m = 0;
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 12, 4, 0, 2, 12, 7, out, &n_out), DIDCL_OK);
    for (uint32_t i = 0; i < 12; i++)
        if (!lock[i])
            idx[m++] = i;
    didcl_philox_at at = {99, DIDCL_RNG_PLUGIN, 7, 0, 2, 0};
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t j = i + (uint32_t)(didcl_philox_uniform(&at, i) * (double)(m - i));
        uint32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        ck_assert_uint_eq(out[i], idx[i]);
    }
    didcl_remask_free(r);
}
END_TEST

START_TEST(test_uniform_range) {
    /* The Philox stream stays in [0, 1) and is fair. */
    didcl_remask_t r = open_ok("random", BUNDLED_PLUGINS_DIR, 0);
    static const int lock[2] = {0, 0};
    draft d = make_draft(NULL, NULL, lock, 2);
    int first[2] = {0, 0};
    for (int i = 0; i < 200; i++) { /* one draw each of samples 0..199 */
        uint32_t out[2], n_out;
        ck_assert_int_eq(didcl_remask_select(r, d.pos, 2, 1, 0, 2, 2, (uint32_t)i, out, &n_out),
                         DIDCL_OK);
        first[out[0]]++;
    }
    /* Both positions get picked (a fair coin 200 times: each side well above 50). */
    ck_assert_int_gt(first[0], 50);
    ck_assert_int_gt(first[1], 50);
    didcl_remask_free(r);
}
END_TEST

START_TEST(test_options_errors) {
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"span:lenght=3", "create failed: unknown option 'lenght'; expected len, agg"},
        {"span:len=0", "create failed: option len: '0' is not an integer in 1..65536"},
        {"span:len=-2", "option len: '-2' is not an integer in 1..65536"},
        {"span:len=4x", "option len: '4x' is not an integer in 1..65536"},
        {"span:agg=avg", "create failed: option agg: 'avg', expected mean or min"},
        {"span:len", "option 'len' has no value; expected len=VALUE"},
        {"random:seed=3", "unknown option 'seed'; expected none (random takes no options)"},
        {"lowconf:x=1", "'lowconf' takes no options, got 'x=1'"},
        {"entropy:top=2", "'entropy' takes no options, got 'top=2'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        didcl_remask_t r = NULL;
        ck_assert_int_eq(didcl_remask_open(cases[i].spec, BUNDLED_PLUGINS_DIR, NULL, &r),
                         DIDCL_ERR_PLUGIN);
        ck_assert_ptr_null(r);
        ck_assert_last_error_has(cases[i].msg);
        ck_assert_last_error_has("/didcl-remask-"); /* names the file */
    }
}
END_TEST

/* ---- search path and listing ------------------------------------------------------ */

static void copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    ck_assert_msg(f != NULL, "open %s", from);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_int_eq(testutil_write_file(to, buf, n), 0);
}

START_TEST(test_search_path_order) {
    char buf[8192], want[8192];
    setenv("DIDCL_PLUGIN_PATH", "/env/a::/env/b", 1);
    ck_assert_int_eq(didcl_remask_search_path("/cli/x:/cli/y", buf, sizeof buf), DIDCL_OK);
    snprintf(want, sizeof want, "/cli/x:/cli/y:/env/a:/env/b:%s:%s/plugins/.libs",
             DIDCL_PLUGINS_DIR, DIDCL_BUILD_DIR);
    ck_assert_str_eq(buf, want);
    unsetenv("DIDCL_PLUGIN_PATH");
    ck_assert_int_eq(didcl_remask_search_path(NULL, buf, sizeof buf), DIDCL_OK);
    snprintf(want, sizeof want, "%s:%s/plugins/.libs", DIDCL_PLUGINS_DIR, DIDCL_BUILD_DIR);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(didcl_remask_search_path(NULL, buf, 4), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("buffer of 4 bytes is too small");
}
END_TEST

START_TEST(test_build_tree_fallback) {
    /* Uninstalled, bundled plugins are found by name without any path (unless an
     * installed copy sits earlier on the path). */
    didcl_remask_t r = open_ok("lowconf", NULL, 0);
    char installed[4096];
    snprintf(installed, sizeof installed, "%s/didcl-remask-lowconf.so", DIDCL_PLUGINS_DIR);
    if (access(installed, F_OK) != 0)
        ck_assert_str_eq(didcl_remask_path(r), DIDCL_BUILD_DIR "/plugins/.libs/didcl-remask-lowconf.so");
    ck_assert_str_eq(didcl_remask_name(r), "lowconf");
    ck_assert_str_eq(didcl_remask_version(r), "1.0");
    ck_assert_ptr_nonnull(strstr(didcl_remask_description(r), "confidence"));
    didcl_remask_free(r);
}
END_TEST

START_TEST(test_precedence) {
    /* A file named entropy that is really lowconf, in the --plugin-path dir and in a
     * DIDCL_PLUGIN_PATH dir: the earlier directory wins. */
    char *cli = testutil_tmpdir(), *env = testutil_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/didcl-remask-entropy.so", cli);
    copy_file(BUNDLED_PLUGINS_DIR "/didcl-remask-lowconf.so", path);
    snprintf(path, sizeof path, "%s/didcl-remask-entropy.so", env);
    copy_file(BUNDLED_PLUGINS_DIR "/didcl-remask-span.so", path);
    setenv("DIDCL_PLUGIN_PATH", env, 1);

    didcl_remask_t r = open_ok("entropy", cli, 0);
    ck_assert_str_eq(didcl_remask_name(r), "lowconf");
    didcl_remask_free(r);
    r = open_ok("entropy", NULL, 0);
    ck_assert_str_eq(didcl_remask_name(r), "span");
    snprintf(path, sizeof path, "%s/didcl-remask-entropy.so", env);
    ck_assert_str_eq(didcl_remask_path(r), path);
    didcl_remask_free(r);
    /* By path, with options after the last '/'. */
    snprintf(path, sizeof path, "%s/didcl-remask-entropy.so:len=2", env);
    r = open_ok(path, NULL, 0);
    ck_assert_str_eq(didcl_remask_name(r), "span");
    didcl_remask_free(r);

    /* The listing shows both copies in order, the later ones shadowed. */
    didcl_remask_info *list;
    size_t n;
    ck_assert_int_eq(didcl_remask_list(cli, &list, &n), DIDCL_OK);
    ck_assert_uint_ge(n, 2);
    ck_assert_str_eq(list[0].name, "entropy");
    ck_assert_str_eq(list[0].plugin_name, "lowconf");
    ck_assert_int_eq(list[0].shadowed, 0);
    ck_assert_int_eq(list[0].status, DIDCL_OK);
    ck_assert_str_eq(list[1].name, "entropy");
    ck_assert_str_eq(list[1].plugin_name, "span");
    ck_assert_int_eq(list[1].shadowed, 1);
    int bundled = 0;
    for (size_t i = 2; i < n; i++)
        if (strstr(list[i].path, BUNDLED_PLUGINS_DIR) == list[i].path) {
            ck_assert_int_eq(list[i].status, DIDCL_OK);
            ck_assert_uint_eq(list[i].abi_version, 1);
            ck_assert_int_eq(list[i].shadowed, !strcmp(list[i].name, "entropy"));
            bundled++;
        }
    ck_assert_int_eq(bundled, 5);
    free(list);
    unsetenv("DIDCL_PLUGIN_PATH");
    testutil_rmtree(cli);
    testutil_rmtree(env);
    free(cli);
    free(env);
}
END_TEST

START_TEST(test_list_broken) {
    didcl_remask_info *list;
    size_t n;
    int seen = 0;
    ck_assert_int_eq(didcl_remask_list(TEST_PLUGINS_DIR, &list, &n), DIDCL_OK);
    for (size_t i = 0; i < n; i++) {
        const didcl_remask_info *d = &list[i];
        if (!strcmp(d->name, "badabi")) {
            ck_assert_int_eq(d->status, DIDCL_ERR_PLUGIN);
            ck_assert_ptr_nonnull(strstr(d->message, "ABI version 2, this didcl supports 1"));
            seen |= 1;
        } else if (!strcmp(d->name, "noentry")) {
            ck_assert_int_eq(d->status, DIDCL_ERR_PLUGIN);
            ck_assert_ptr_nonnull(strstr(d->message, "no entry symbol"));
            seen |= 2;
        } else if (!strcmp(d->name, "misbehave")) {
            ck_assert_int_eq(d->status, DIDCL_OK);
            ck_assert_str_eq(d->version, "0.1");
            ck_assert_str_eq(d->message, "");
            seen |= 4;
        }
    }
    ck_assert_int_eq(seen, 7);
    free(list);
}
END_TEST

/* Plugins that abort, exit or fault while loading are probed in a child process: each
 * fails its own entry with the reason, the listing (and this process) goes on. */
START_TEST(test_list_survives_crashing_plugins) {
    didcl_remask_info *list;
    size_t n;
    int seen = 0;
    ck_assert_int_eq(didcl_remask_list(TEST_PLUGINS_DIR, &list, &n), DIDCL_OK);
    for (size_t i = 0; i < n; i++) {
        const didcl_remask_info *d = &list[i];
        if (!strcmp(d->name, "ctorabort")) {
            ck_assert_int_eq(d->status, DIDCL_ERR_PLUGIN);
            ck_assert_msg(strstr(d->message, "didcl-remask-ctorabort.so: loading it killed the "
                                 "probing process with signal 6"), "%s", d->message);
            seen |= 1;
        } else if (!strcmp(d->name, "ctorexit")) {
            ck_assert_int_eq(d->status, DIDCL_ERR_PLUGIN);
            ck_assert_msg(strstr(d->message, "ended the probing process (exit status 3)"), "%s",
                          d->message);
            seen |= 2;
        } else if (!strcmp(d->name, "entrycrash")) {
            ck_assert_int_eq(d->status, DIDCL_ERR_PLUGIN);
            /* SIGSEGV, or a sanitizer's report and exit */
            ck_assert_msg(strstr(d->message, "didcl-remask-entrycrash.so: loading it "),
                          "%s", d->message);
            seen |= 4;
        } else if (!strcmp(d->name, "misbehave")) {
            ck_assert_int_eq(d->status, DIDCL_OK);
            ck_assert_str_eq(d->plugin_name, "misbehave");
            ck_assert_str_eq(d->description, "misbehaves on request (tests only)");
            seen |= 8;
        }
        ck_assert_ptr_null(strchr(d->message, '\n'));
    }
    ck_assert_int_eq(seen, 15);
    free(list);
}
END_TEST

/* ---- refusals --------------------------------------------------------------------- */

static void expect_open_fails(const char *spec, const char *dir, const char *msg) {
    didcl_remask_t r = NULL;
    ck_assert_int_eq(didcl_remask_open(spec, dir, NULL, &r), DIDCL_ERR_PLUGIN);
    ck_assert_ptr_null(r);
    ck_assert_last_error_has(msg);
}

START_TEST(test_refuse_descriptor) {
    char msg[256];
    expect_open_fails("noentry", TEST_PLUGINS_DIR,
                      "didcl-remask-noentry.so: no entry symbol didcl_remask_plugin_entry");
    expect_open_fails("badabi", TEST_PLUGINS_DIR,
                      "/didcl-remask-badabi.so: ABI version 2, this didcl supports 1");
    snprintf(msg, sizeof msg,
             "/didcl-remask-badsize.so: descriptor struct_size 16 is smaller than the ABI "
             "version 1 descriptor (%zu bytes)",
             sizeof(didcl_remask_plugin));
    expect_open_fails("badsize", TEST_PLUGINS_DIR, msg);
    expect_open_fails("nullselect", TEST_PLUGINS_DIR,
                      "/didcl-remask-nullselect.so: descriptor 'misbehave' has no select function");
    expect_open_fails("nullentry", TEST_PLUGINS_DIR,
                      "/didcl-remask-nullentry.so: didcl_remask_plugin_entry() returned NULL");
    expect_open_fails("badname", TEST_PLUGINS_DIR,
                      "/didcl-remask-badname.so: descriptor name 'Mis Behave' is not a valid "
                      "name, expected lowercase letters, digits, '-' and '_'");
    expect_open_fails("misbehave:mode=bogus", TEST_PLUGINS_DIR,
                      "/didcl-remask-misbehave.so: create failed: option mode: 'bogus', "
                      "expected ok, count, dup, locked, range, fail");
}
END_TEST

START_TEST(test_refuse_files) {
    char *dir = testutil_tmpdir(), path[4200], msg[8400];
    /* Not found by name: the message lists every directory searched. */
    didcl_remask_t r = NULL;
    ck_assert_int_eq(didcl_remask_open("nosuch", dir, NULL, &r), DIDCL_ERR_PLUGIN);
    snprintf(msg, sizeof msg, "remask plugin 'nosuch' not found: no didcl-remask-nosuch.so in %s, %s",
             dir, DIDCL_PLUGINS_DIR);
    ck_assert_last_error_has(msg);
    ck_assert_last_error_has("(see 'didcl plugins')");
    /* Missing file by path. */
    snprintf(path, sizeof path, "%s/gone.so", dir);
    snprintf(msg, sizeof msg, "plugin %s: No such file or directory", path);
    expect_open_fails(path, NULL, msg);
    /* A file that is not a shared object. */
    snprintf(path, sizeof path, "%s/didcl-remask-junk.so", dir);
    ck_assert_int_eq(testutil_write_file(path, "this is not ELF\n", 16), 0);
    snprintf(msg, sizeof msg, "plugin %s: cannot load: ", path);
    expect_open_fails(path, NULL, msg);
    /* ... with dlerror()'s reason (glibc: "file too short"; others: "invalid ELF header"
     * or "not a dynamic library"). */
    ck_assert_msg(strstr(didcl_last_error(), "too short") || strstr(didcl_last_error(), "ELF") ||
                      strstr(didcl_last_error(), "dynamic"),
                  "no dlerror text in \"%s\"", didcl_last_error());
    expect_open_fails("junk", dir, msg);
    /* ... listed with the same reason. */
    didcl_remask_info *list;
    size_t n;
    ck_assert_int_eq(didcl_remask_list(dir, &list, &n), DIDCL_OK);
    ck_assert_uint_ge(n, 1);
    ck_assert_str_eq(list[0].name, "junk");
    ck_assert_int_eq(list[0].status, DIDCL_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(list[0].message, msg));
    free(list);
    /* A bad name and an empty spec. */
    expect_open_fails("Bad!", dir, "remask plugin 'Bad!': not a plugin name");
    ck_assert_int_eq(didcl_remask_open("", NULL, NULL, &r), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("expected NAME[:key=value,...]");
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

/* A draft of 8 with position 0 locked; the misbehaving plugin picks 1, 2, 3 for count 3. */
static void expect_select_fails(const char *mode, int flexible, const char *msg) {
    static const int lock[8] = {1};
    draft d = make_draft(NULL, NULL, lock, 8);
    char spec[64];
    snprintf(spec, sizeof spec, "misbehave:mode=%s", mode);
    didcl_remask_t r = open_ok(spec, TEST_PLUGINS_DIR, 0);
    uint32_t out[8], n_out = 777;
    for (int i = 0; i < 8; i++)
        out[i] = 0xdeadu;
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 8, 3, flexible, 2, 8, 0, out, &n_out),
                     DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has(msg);
    /* Nothing is returned from an invalid selection. */
    ck_assert_uint_eq(n_out, 777);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(out[i], 0xdeadu);
    didcl_remask_free(r);
}

START_TEST(test_refuse_selection) {
    expect_select_fails("count", 0, "plugin 'misbehave' selected 2 positions, expected 3");
    expect_select_fails("dup", 0, "plugin 'misbehave' selected position 1 twice");
    expect_select_fails("locked", 0,
                        "plugin 'misbehave' selected locked position 0 (prompt or BOS)");
    expect_select_fails("range", 0,
                        "plugin 'misbehave' selected position 13, out of range (sequence length 8)");
    expect_select_fails("fail", 0, "plugin 'misbehave' failed to select: deliberate failure");
    expect_select_fails("none", 1,
                        "plugin 'misbehave' selected 0 positions, expected 1..7 (flexible count)");
    /* The well-behaved mode passes the same checks. */
    static const int lock[8] = {1};
    draft d = make_draft(NULL, NULL, lock, 8);
    didcl_remask_t r = open_ok("misbehave:mode=ok", TEST_PLUGINS_DIR, 0);
    ck_assert_str_eq(select_str(r, &d, 3, 0), "1,2,3");
    /* A flexible count of 2 may come back as 1 (count mode drops one). */
    didcl_remask_free(r);
    r = open_ok("misbehave:mode=count", TEST_PLUGINS_DIR, 0);
    ck_assert_str_eq(select_str(r, &d, 2, 1), "1");
    didcl_remask_free(r);
}
END_TEST

START_TEST(test_select_args) {
    static const int lock[4] = {1, 0, 1, 0};
    draft d = make_draft(NULL, NULL, lock, 4);
    didcl_remask_t r = open_ok("misbehave:mode=fail", TEST_PLUGINS_DIR, 0);
    uint32_t out[4], n_out = 9;
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 4, 3, 0, 2, 4, 0, out, &n_out),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("count 3 exceeds the 2 unlocked positions");
    /* count 0 never reaches the plugin (which would fail here). */
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 4, 0, 0, 2, 4, 0, out, &n_out), DIDCL_OK);
    ck_assert_uint_eq(n_out, 0);
    n_out = 9;
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 4, 0, 1, 2, 4, 0, out, &n_out), DIDCL_OK);
    ck_assert_uint_eq(n_out, 0);
    /* NULL arguments. */
    ck_assert_int_eq(didcl_remask_select(r, NULL, 4, 1, 0, 2, 4, 0, out, &n_out),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("didcl_remask_select: NULL argument");
    didcl_remask_free(r);
    didcl_remask_free(NULL);
}
END_TEST

static char logged[1024];
static void capture_log(enum didcl_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == DIDCL_LOG_INFO)
        snprintf(logged, sizeof logged, "%s", msg);
}

START_TEST(test_host_log) {
    didcl_log_set(capture_log, NULL);
    didcl_remask_t r = open_ok("misbehave:mode=dup", TEST_PLUGINS_DIR, 0);
    ck_assert_str_eq(logged, "plugin 'misbehave': created with mode dup");
    didcl_remask_free(r);
    didcl_log_set(NULL, NULL);
}
END_TEST

/* ---- in-process plugins ------------------------------------------------------------ */

static int inproc_create(const char *options, const didcl_remask_host *host, void **state,
                         char *err, size_t err_size) {
    (void)host;
    if (!strcmp(options, "fail")) {
        snprintf(err, err_size, "asked to fail");
        return 1;
    }
    *state = strdup(options);
    return *state ? 0 : 1;
}

static int inproc_select(void *state, const didcl_remask_input *in, uint32_t *out,
                         uint32_t *n_out, char *err, size_t err_size) {
    (void)err, (void)err_size;
    /* "dup" picks the first unlocked position twice; otherwise the last `count` */
    uint32_t k = 0;
    for (uint32_t i = in->n; i-- > 0 && k < in->count;)
        if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED))
            out[k++] = i;
    if (!strcmp(state, "dup") && k > 1)
        out[1] = out[0];
    *n_out = k;
    return 0;
}

static void inproc_destroy(void *state) { free(state); }

#define DESC(name, sel) \
    {DIDCL_REMASK_ABI_VERSION, sizeof(didcl_remask_plugin), name, "test plugin", "2.5", \
     inproc_create, sel, inproc_destroy}

START_TEST(test_register_open) {
    static const didcl_remask_plugin desc = DESC("inproc", inproc_select);
    static const didcl_remask_plugin plain = {DIDCL_REMASK_ABI_VERSION,
                                              sizeof(didcl_remask_plugin), "plain", NULL, NULL,
                                              NULL, inproc_select, NULL};
    static const int lock[6] = {0, 0, 0, 0, 0, 1};
    draft d = make_draft(NULL, NULL, lock, 6);
    didcl_remask_t r;
    ck_assert_int_eq(didcl_remask_open("inproc", NULL, NULL, &r), DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has("no built-in or registered plugin of that name");
    ck_assert_int_eq(didcl_remask_register(&desc), DIDCL_OK);
    r = open_ok("inproc:last", NULL, 0);
    ck_assert_str_eq(didcl_remask_name(r), "inproc");
    ck_assert_str_eq(didcl_remask_version(r), "2.5");
    ck_assert_str_eq(didcl_remask_description(r), "test plugin");
    ck_assert_str_eq(didcl_remask_path(r), "(registered)");
    ck_assert_str_eq(select_str(r, &d, 2, 0), "3,4");
    didcl_remask_free(r);
    /* its selections are validated like any plugin's */
    r = open_ok("inproc:dup", NULL, 0);
    uint32_t out[6], n_out = 77;
    ck_assert_int_eq(didcl_remask_select(r, d.pos, 6, 2, 0, 2, 6, 0, out, &n_out),
                     DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has("plugin 'inproc' selected position 4 twice");
    ck_assert_uint_eq(n_out, 77);
    didcl_remask_free(r);
    /* create() failures and options name the in-process plugin */
    ck_assert_int_eq(didcl_remask_open("inproc:fail", NULL, NULL, &r), DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has("plugin 'inproc' (registered): create failed: asked to fail");
    ck_assert_int_eq(didcl_remask_register(&plain), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_open("plain:x=1", NULL, NULL, &r), DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has("plugin 'plain' (registered): 'plain' takes no options, got 'x=1'");
    r = open_ok("plain", NULL, 0);
    ck_assert_str_eq(didcl_remask_version(r), "");
    ck_assert_str_eq(didcl_remask_description(r), "");
    /* an open handle keeps its registration */
    ck_assert_int_eq(didcl_remask_unregister("plain"), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("'plain' still has 1 open handle; free it first");
    didcl_remask_free(r);
    ck_assert_int_eq(didcl_remask_unregister("plain"), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_unregister("inproc"), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_open("inproc", NULL, NULL, &r), DIDCL_ERR_PLUGIN);
    ck_assert_last_error_has("remask plugin 'inproc' not found");
    /* and it can come back */
    ck_assert_int_eq(didcl_remask_register(&desc), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_unregister("inproc"), DIDCL_OK);
}
END_TEST

START_TEST(test_register_errors) {
    static const didcl_remask_plugin good = DESC("good", inproc_select);
    static didcl_remask_plugin bad[7];
    static const char *const want[7] = {
        "plugin registration: ABI version 2, this didcl supports 1",
        "plugin registration: descriptor struct_size 8 is smaller than the ABI version 1",
        "plugin registration: descriptor name 'Not Good' is not a valid name",
        "plugin registration: descriptor name '(null)' is not a valid name",
        "plugin registration: descriptor name '' is not a valid name",
        "plugin registration: descriptor 'noselect' has no select function",
        "is not a valid name, expected lowercase letters, digits, '-' and '_' (at most 63)"};
    for (int i = 0; i < 7; i++)
        bad[i] = good;
    bad[0].abi_version = 2;
    bad[1].struct_size = 8;
    bad[2].name = "Not Good";
    bad[3].name = NULL;
    bad[4].name = "";
    bad[5].name = "noselect";
    bad[5].select = NULL;
    bad[6].name = "a123456789b123456789c123456789d123456789e123456789f123456789abcd"; /* 64 */
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(didcl_remask_register(&bad[i]), DIDCL_ERR_PLUGIN);
        ck_assert_last_error_has(want[i]);
    }
    ck_assert_int_eq(didcl_remask_register(NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("didcl_remask_register: NULL descriptor");
    static const didcl_remask_plugin builtin_name = DESC("lowconf", inproc_select);
    ck_assert_int_eq(didcl_remask_register(&builtin_name), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("'lowconf' is a built-in plugin and cannot be replaced in-process");
    ck_assert_int_eq(didcl_remask_register(&good), DIDCL_OK);
    static const didcl_remask_plugin again = DESC("good", inproc_select);
    ck_assert_int_eq(didcl_remask_register(&again), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("a plugin named 'good' is already registered; unregister it first");
    ck_assert_int_eq(didcl_remask_register(&good), DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(didcl_remask_unregister("good"), DIDCL_OK);
    ck_assert_int_eq(didcl_remask_unregister("good"), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("no plugin named 'good' is registered");
    ck_assert_int_eq(didcl_remask_unregister("span"), DIDCL_ERR_INVALID_ARG);
    ck_assert_last_error_has("'span' is built in, not registered");
    ck_assert_int_eq(didcl_remask_unregister(NULL), DIDCL_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_file_wins_and_listing) {
    /* A file of the same name on the search path wins over an in-process plugin, and the
     * listing shows the in-process one after it, shadowed. */
    static const didcl_remask_plugin clash = DESC("clash", inproc_select);
    char *dir = testutil_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/didcl-remask-clash.so", dir);
    copy_file(BUNDLED_PLUGINS_DIR "/didcl-remask-lowconf.so", path);
    ck_assert_int_eq(didcl_remask_register(&clash), DIDCL_OK);
    didcl_remask_t r = open_ok("clash", dir, 0);
    ck_assert_str_eq(didcl_remask_name(r), "lowconf");
    ck_assert_str_eq(didcl_remask_path(r), path);
    didcl_remask_free(r);
    r = open_ok("clash", NULL, 0);
    ck_assert_str_eq(didcl_remask_name(r), "clash");
    ck_assert_str_eq(didcl_remask_path(r), "(registered)");
    didcl_remask_free(r);

    didcl_remask_info *list;
    size_t n, file = SIZE_MAX, reg = SIZE_MAX, builtins = 0;
    ck_assert_int_eq(didcl_remask_list(dir, &list, &n), DIDCL_OK);
    for (size_t i = 0; i < n; i++) {
        const didcl_remask_info *e = &list[i];
        if (e->origin == DIDCL_REMASK_FILE) {
            ck_assert_uint_eq(builtins, 0); /* files first */
            ck_assert_uint_eq(reg, SIZE_MAX);
            if (!strcmp(e->name, "clash"))
                file = i;
        } else if (e->origin == DIDCL_REMASK_BUILTIN) {
            static const char *const names[5] = {"entropy", "learned", "lowconf", "random",
                                                 "span"};
            ck_assert_uint_lt(builtins, 5);
            ck_assert_str_eq(e->name, names[builtins]);
            ck_assert_str_eq(e->plugin_name, names[builtins]);
            ck_assert_str_eq(e->path, "(built-in)");
            ck_assert_str_eq(e->version, "1.0");
            ck_assert_int_eq(e->status, DIDCL_OK);
            ck_assert_uint_eq(e->abi_version, 1);
            /* this build tree's plugins/.libs has the same names, so they win */
            ck_assert_int_eq(e->shadowed, 1);
            builtins++;
        } else {
            ck_assert_int_eq(e->origin, DIDCL_REMASK_REGISTERED);
            ck_assert_uint_eq(builtins, 5);
            if (!strcmp(e->name, "clash"))
                reg = i;
        }
    }
    ck_assert_uint_eq(builtins, 5);
    ck_assert_uint_eq(file, 0);
    ck_assert_int_eq(list[file].shadowed, 0);
    ck_assert_str_eq(list[file].plugin_name, "lowconf");
    ck_assert_uint_ne(reg, SIZE_MAX);
    ck_assert_str_eq(list[reg].path, "(registered)");
    ck_assert_str_eq(list[reg].version, "2.5");
    ck_assert_int_eq(list[reg].shadowed, 1);
    free(list);
    /* without the file, the registered one is what the name means */
    ck_assert_int_eq(didcl_remask_list(NULL, &list, &n), DIDCL_OK);
    ck_assert_str_eq(list[n - 1].name, "clash");
    ck_assert_int_eq(list[n - 1].shadowed, 0);
    free(list);
    ck_assert_int_eq(didcl_remask_unregister("clash"), DIDCL_OK);
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_null_handle) {
    uint32_t out[1], n_out = 5;
    didcl_remask_position p = {0};
    ck_assert_str_eq(didcl_remask_name(NULL), "");
    ck_assert_str_eq(didcl_remask_version(NULL), "");
    ck_assert_str_eq(didcl_remask_description(NULL), "");
    ck_assert_str_eq(didcl_remask_path(NULL), "");
    ck_assert_int_eq(didcl_remask_select(NULL, &p, 1, 1, 0, 2, 1, 0, out, &n_out),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_uint_eq(n_out, 5);
}
END_TEST

/* Threads registering, opening, selecting, listing and unregistering at once. */
static void *register_worker(void *arg) {
    static const char *const names[4] = {"t-0", "t-1", "t-2", "t-3"};
    didcl_remask_plugin desc = DESC(names[*(int *)arg], inproc_select);
    static const int lock[4] = {1};
    draft d = make_draft(NULL, NULL, lock, 4);
    for (int i = 0; i < 200; i++) {
        didcl_remask_t r;
        uint32_t out[4], n_out;
        if (didcl_remask_register(&desc) != DIDCL_OK ||
            didcl_remask_open(desc.name, NULL, NULL, &r) != DIDCL_OK)
            return (void *)1;
        int bad = didcl_remask_select(r, d.pos, 4, 2, 0, 2, 4, 0, out, &n_out) != DIDCL_OK ||
                  out[0] != 3;
        didcl_remask_free(r);
        didcl_remask_info *list;
        size_t n;
        bad |= didcl_remask_list(NULL, &list, &n) != DIDCL_OK;
        if (!bad)
            free(list);
        if (bad || didcl_remask_unregister(desc.name) != DIDCL_OK)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_register_threads) {
    pthread_t t[4];
    int id[4];
    for (int i = 0; i < 4; i++) {
        id[i] = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, register_worker, &id[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        ck_assert_int_eq(pthread_join(t[i], &ret), 0);
        ck_assert_ptr_null(ret);
    }
}
END_TEST

static Suite *remask_suite(void) {
    Suite *s = suite_create("remask");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_lowconf);
    tcase_add_test(tc, test_entropy);
    tcase_add_test(tc, test_span_mean);
    tcase_add_test(tc, test_span_min);
    tcase_add_test(tc, test_random_reproducible);
    tcase_add_test(tc, test_uniform_is_philox);
    tcase_add_test(tc, test_random_uses_philox);
    tcase_add_test(tc, test_uniform_range);
    tcase_add_test(tc, test_search_path_order);
    tcase_add_test(tc, test_build_tree_fallback);
    tcase_add_test(tc, test_precedence);
    tcase_add_test(tc, test_list_broken);
    tcase_add_test(tc, test_list_survives_crashing_plugins);
    tcase_add_test(tc, test_host_log);
    tcase_add_test(tc, test_register_open);
    tcase_add_test(tc, test_file_wins_and_listing);
    tcase_add_test(tc, test_register_threads);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, test_options_errors);
    tcase_add_test(lim, test_refuse_descriptor);
    tcase_add_test(lim, test_refuse_files);
    tcase_add_test(lim, test_refuse_selection);
    tcase_add_test(lim, test_select_args);
    tcase_add_test(lim, test_register_errors);
    tcase_add_test(lim, test_null_handle);
    suite_add_tcase(s, lim);
    return s;
}

int main(void) {
    unsetenv("DIDCL_PLUGIN_PATH"); /* the developer's own setting must not leak in */
    return testutil_run(remask_suite());
}

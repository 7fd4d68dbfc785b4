/*
 * bad.c — deliberately broken remask plugins for tests/check_remask.c, one module per
 * defect (the build compiles this file several times with a different BAD_* define):
 *   BAD_NOENTRY     exports no didcl_remask_plugin_entry
 *   BAD_ABI         abi_version 2
 *   BAD_SIZE        struct_size 16
 *   BAD_NULLSELECT  select is NULL
 *   BAD_NULLENTRY   the entry returns NULL
 *   BAD_NAME        the descriptor's name is "Mis Behave" (not a valid name)
 *   BAD_CTOR_ABORT  a constructor that writes to stdout, then aborts the process
 *   BAD_CTOR_EXIT   a constructor that calls exit(3)
 *   BAD_ENTRY_CRASH the entry raises SIGSEGV (a fault in plugin code)
 *   (none)          "misbehave": a valid plugin whose option mode=ok|count|dup|locked|
 *                   range|fail|none picks how select() misbehaves; mode=bogus fails create().
 */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#include <didcl/remask.h>

#if defined(BAD_CTOR_ABORT) || defined(BAD_CTOR_EXIT)
__attribute__((constructor)) static void bad_ctor(void) {
#if defined(BAD_CTOR_ABORT)
    fputs("noise from a plugin constructor\n", stdout);
    fflush(stdout);
    abort();
#else
    exit(3);
#endif
}
#endif

static const char *const modes[] = {"ok", "count", "dup", "locked", "range", "fail", "none"};
enum { OK, COUNT, DUP, LOCKED, RANGE, FAIL, NONE, NMODES };

static int bad_create(const char *options, const didcl_remask_host *host, void **state,
                      char *err, size_t err_size) {
    char v[32] = "ok";
    int found = didcl_remask_option(options, "mode", v, sizeof v);
    for (int m = 0; m < NMODES; m++)
        if (!strcmp(v, modes[m])) {
            int *s = malloc(sizeof *s);
            if (!s)
                return -1;
            *s = m;
            *state = s;
            if (host && host->log) {
                char msg[64];
                snprintf(msg, sizeof msg, "created with mode %s", v);
                host->log(host->handle, 1, msg);
            }
            return 0;
        }
    snprintf(err, err_size, "option mode: '%s', expected ok, count, dup, locked, range, fail",
             found > 0 ? v : "?");
    return 1;
}

static void bad_destroy(void *state) { free(state); }

#if !defined(BAD_NULLSELECT)
/* The first `count` unlocked positions, then spoil the result as the mode says. */
static int bad_select(void *state, const didcl_remask_input *in, uint32_t *out, uint32_t *n_out,
                      char *err, size_t err_size) {
    int mode = *(int *)state;
    uint32_t k = 0;
    for (uint32_t i = 0; i < in->n && k < in->count; i++)
        if (!(in->positions[i].flags & DIDCL_REMASK_LOCKED))
            out[k++] = i;
    *n_out = k;
    switch (mode) {
    case COUNT: *n_out = k - 1; break;
    case DUP: out[k - 1] = out[0]; break;
    case LOCKED:
        for (uint32_t i = 0; i < in->n; i++)
            if (in->positions[i].flags & DIDCL_REMASK_LOCKED)
                out[0] = i;
        break;
    case RANGE: out[k - 1] = in->n + 5; break;
    case FAIL: snprintf(err, err_size, "deliberate failure"); return 1;
    case NONE: *n_out = 0; break;
    }
    return 0;
}
#endif

static const didcl_remask_plugin descriptor = {
#if defined(BAD_ABI)
    2u,
#else
    DIDCL_REMASK_ABI_VERSION,
#endif
#if defined(BAD_SIZE)
    16u,
#else
    sizeof(didcl_remask_plugin),
#endif
#if defined(BAD_NAME)
    "Mis Behave",
#else
    "misbehave",
#endif
    "misbehaves on request (tests only)",
    "0.1",
    bad_create,
#if defined(BAD_NULLSELECT)
    NULL,
#else
    bad_select,
#endif
    bad_destroy,
};

#if defined(BAD_NOENTRY)
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry_v0(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry_v0(void) {
    return &descriptor;
}
#else
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
#if defined(BAD_NULLENTRY)
    return descriptor.name ? NULL : &descriptor;
#elif defined(BAD_ENTRY_CRASH)
    raise(SIGSEGV);
    return &descriptor;
#else
    return &descriptor;
#endif
}
#endif

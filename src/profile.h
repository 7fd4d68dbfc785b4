/*
 * profile.h — device time by kind of work, from OpenCL profiling events (profile.c).
 *
 * With profiling on (didcl_runtime_set_profiling), every enqueue of the library passes
 * the event slot didcl_profile_event gives it; the runtime keeps the events and, when
 * asked (didcl_runtime_profile) or when its table fills, waits for them and adds
 * END - START of each to the kind its name maps to. With profiling off the slot is NULL
 * and nothing is kept, so the enqueue path costs one branch.
 *
 * Names MUST be string literals (or otherwise outlive the runtime): only the pointer is
 * kept. The name → kind table in profile.c matches substrings, first row wins, so a new
 * kernel lands in the right bucket by being named for what it does ("..._gemv",
 * "sample_..."), with no change here.
 */
#ifndef DIDCL_PROFILE_H
#define DIDCL_PROFILE_H

#include <CL/cl.h>

#include "didcl.h"

struct didcl_profile_state;

/* The event slot for one enqueue named `name`, or NULL when profiling is off. If the
 * enqueue fails the slot stays empty and is skipped. */
cl_event *didcl_profile_event(didcl_runtime_t rt, const char *name);

/* The kind a command name counts as (DIDCL_TIME_OTHER when no row matches). */
enum didcl_time_kind didcl_profile_kind(const char *name);

/* Device time of one command name since profiling was turned on. */
typedef struct didcl_profile_name {
    const char *name;
    double seconds;
    long commands;
} didcl_profile_name;

/* Per-name totals (waits for the kept events first), in the order names were first
 * seen: copies up to cap rows, returns how many names there are (0 when profiling is
 * off). For benchmarks that explain a kind's time (tools/bench-model --profile). */
size_t didcl_profile_names(didcl_runtime_t rt, didcl_profile_name *rows, size_t cap);

/* Wait for the kept events and add their times to rt's totals. */
didcl_status didcl_profile_collect(didcl_runtime_t rt);

void didcl_profile_state_free(struct didcl_profile_state *p);

#endif /* DIDCL_PROFILE_H */

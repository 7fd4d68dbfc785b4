/*
 * remask.h — internal side of the remask plugin loader (src/remask.c). The public API
 * (didcl_remask_open/select/list) is in include/didcl.h; the plugin ABI itself is
 * include/didcl/remask.h.
 */
#ifndef DIDCL_REMASK_INTERNAL_H
#define DIDCL_REMASK_INTERNAL_H

#include <stdint.h>

#include "didcl.h"

/* A plugin named NAME lives in the file DIDCL_REMASK_FILE_PREFIX NAME DIDCL_REMASK_FILE_SUFFIX
 * (didcl-remask-NAME.so). The prefix keeps `didcl plugins` from dlopen()ing unrelated
 * shared objects that happen to sit in a directory of DIDCL_PLUGIN_PATH. */
#define DIDCL_REMASK_FILE_PREFIX "didcl-remask-"
#define DIDCL_REMASK_FILE_SUFFIX ".so"

/* The built-in uniform generator: a splitmix64 counter stream. Draw i of seed s is
 * splitmix64(s + (i+1) * golden), mapped to the top 53 bits, so any draw can be computed
 * without the ones before it. TODO: switch to the sampler's Philox stream (src/philox.c)
 * once it lands; until then the sampler can pass its own through didcl_remask_host_cfg. */
typedef struct didcl_splitmix {
    uint64_t seed;
    uint64_t counter;
} didcl_splitmix;

double didcl_splitmix_uniform(void *state /* didcl_splitmix * */);

#endif /* DIDCL_REMASK_INTERNAL_H */

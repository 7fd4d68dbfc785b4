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

/* The bundled plugins compiled into libdidcl (plugins/local.mk builds each plugins/NAME.c
 * a second time with -DDIDCL_PLUGIN_BUILTIN=didcl_remask_builtin_NAME, which plugin-util.h
 * turns into the name of its entry function, hidden inside the library). */
const didcl_remask_plugin *didcl_remask_builtin_entropy(void);
const didcl_remask_plugin *didcl_remask_builtin_learned(void);
const didcl_remask_plugin *didcl_remask_builtin_lowconf(void);
const didcl_remask_plugin *didcl_remask_builtin_random(void);
const didcl_remask_plugin *didcl_remask_builtin_span(void);

#endif /* DIDCL_REMASK_INTERNAL_H */

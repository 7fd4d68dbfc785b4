/*
 * paths.c — install and build-tree paths of this build (see paths.h).
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config-paths.h"
#include "paths.h"

const char *didcl_paths_plugins_dir(void) {
    return DIDCL_PLUGINS_DIR;
}

const char *didcl_paths_models_dir(void) {
    return DIDCL_MODELS_DIR;
}

const char *didcl_paths_build_dir(void) {
    return DIDCL_BUILD_DIR;
}

const char *didcl_paths_source_dir(void) {
    return DIDCL_SOURCE_DIR;
}

/* dladdr() finds our own file whichever way the program was started (libtool wrapper,
 * LD_LIBRARY_PATH, rpath); real paths, so a symlinked build dir still matches. Linked
 * into a program, dladdr() names it by argv[0], which has no '/' when found on PATH. */
int didcl_paths_in_build_tree(void) {
    char self[PATH_MAX], build[PATH_MAX];
    Dl_info info;
    if (!dladdr((void *)didcl_paths_in_build_tree, &info) || !info.dli_fname)
        return 0;
    const char *file = strchr(info.dli_fname, '/') ? info.dli_fname : "/proc/self/exe";
    if (!realpath(file, self) || !realpath(DIDCL_BUILD_DIR, build))
        return 0;
    const size_t len = strlen(build);
    return strncmp(self, build, len) == 0 && self[len] == '/';
}

/*
 * settings.c — reads didcl's environment variables (see settings.h for the list).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *didcl_settings_device(void) { return env_nonempty("DIDCL_DEVICE"); }
const char *didcl_settings_cl_dir(void) { return env_nonempty("DIDCL_CL_DIR"); }
const char *didcl_settings_plugin_path(void) { return env_nonempty("DIDCL_PLUGIN_PATH"); }

int didcl_settings_cache_dir(char *buf, size_t size) {
    const char *dir = env_nonempty("DIDCL_CACHE_DIR");
    const char *base;
    int n;
    if (dir) {
        if (!strcmp(dir, "off") || !strcmp(dir, "0"))
            return 0;
        n = snprintf(buf, size, "%s", dir);
    } else if ((base = env_nonempty("XDG_CACHE_HOME"))) {
        n = snprintf(buf, size, "%s/didcl/kernels", base);
    } else if ((base = env_nonempty("HOME"))) {
        n = snprintf(buf, size, "%s/.cache/didcl/kernels", base);
    } else {
        return 0;
    }
    return n > 0 && (size_t)n < size;
}

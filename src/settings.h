/*
 * settings.h — the environment variables didcl reads, all in one place. Library code
 * asks here instead of calling getenv() itself, so every knob is documented once:
 *
 *   DIDCL_DEVICE       device selector when none is given ("P:D" or a name substring)
 *   DIDCL_CACHE_DIR    kernel binary cache directory; "off" disables the cache
 *                      (default $XDG_CACHE_HOME/didcl/kernels or ~/.cache/didcl/kernels)
 *   DIDCL_CL_DIR       load cl/<family>.cl from this directory instead of the copies
 *                      embedded at build time (kernel development)
 *   DIDCL_PLUGIN_PATH  extra ':'-separated directories searched for remask plugins
 */
#ifndef DIDCL_SETTINGS_H
#define DIDCL_SETTINGS_H

#include <stddef.h>

/* Value of a DIDCL_* variable, or NULL when unset or empty. */
const char *didcl_settings_device(void);
const char *didcl_settings_cl_dir(void);
const char *didcl_settings_plugin_path(void);

/* Write the kernel cache directory into buf; returns 0 when caching is disabled or no
 * directory can be determined, else 1. */
int didcl_settings_cache_dir(char *buf, size_t size);

#endif /* DIDCL_SETTINGS_H */

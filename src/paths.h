/*
 * paths.h — where libdidcl looks for its installed files, and whether it runs from its
 * build tree. The directories come from a header that make writes (src/config-paths.h),
 * so a reconfigure with another prefix rebuilds paths.c and nothing else goes stale.
 * Every string is static and never NULL.
 */
#ifndef DIDCL_PATHS_H
#define DIDCL_PATHS_H

/* The installed remask plugin directory, $(pluginsdir). */
const char *didcl_paths_plugins_dir(void);

/* The installed models directory, $(pkgdatadir)/models. */
const char *didcl_paths_models_dir(void);

/* 1 when libdidcl itself (the shared library, or the program it is linked into) is a
 * file under this build tree, else 0: an installed copy never looks into a build tree,
 * even one that still exists. */
int didcl_paths_in_build_tree(void);

/* The absolute top build directory and top source directory of this build. */
const char *didcl_paths_build_dir(void);
const char *didcl_paths_source_dir(void);

#endif /* DIDCL_PATHS_H */

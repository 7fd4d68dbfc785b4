/*
 * cl-sources.h — the OpenCL C sources of cl/ (one .cl file a family), embedded at build time by
 * tools/embed-cl.sh into src/cl-sources.c (generated).
 */
#ifndef DIDCL_CL_SOURCES_H
#define DIDCL_CL_SOURCES_H

#include <stddef.h>

typedef struct didcl_cl_source {
    const char *family; /* file name without .cl, e.g. "elementwise" */
    const char *text;   /* NUL-terminated source */
    size_t size;        /* bytes, without the NUL */
} didcl_cl_source;

extern const didcl_cl_source didcl_cl_sources[];
extern const size_t didcl_cl_sources_count;

#endif /* DIDCL_CL_SOURCES_H */

/*
 * fault.h — failure injection for tests: make the n-th OpenCL allocation, program
 * build or kernel launch fail as a driver would, so that the error paths behind them
 * (a clear one-line message, nothing half-written, a session still usable) are tested
 * on any device. Internal only: tests link libdidcl-internal.la and arm it; libdidcl.so
 * does not export it and nothing reads it from the environment. Not thread-safe: arm
 * it from the thread that runs the library.
 */
#ifndef DIDCL_FAULT_H
#define DIDCL_FAULT_H

#include <stdint.h>

enum didcl_fault_site {
    DIDCL_FAULT_ALLOC = 0,  /* device buffers of a model: CL_MEM_OBJECT_ALLOCATION_FAILURE */
    DIDCL_FAULT_BUILD = 1,  /* a program build from source: CL_BUILD_PROGRAM_FAILURE */
    DIDCL_FAULT_LAUNCH = 2, /* a kernel launch (every op): CL_OUT_OF_RESOURCES */
    DIDCL_FAULT_SITES
};

/* Let `after` more calls at site succeed, then fail every later one until disarmed. */
void didcl_fault_arm(enum didcl_fault_site site, uint64_t after);
/* Disarm every site. */
void didcl_fault_disarm(void);
/* Calls seen at site since it was armed (to pick `after` from a clean run). */
uint64_t didcl_fault_count(enum didcl_fault_site site);

/* At a site: 1 when this call must fail. Cheap when nothing is armed. */
int didcl_fault_hit(enum didcl_fault_site site);

#endif /* DIDCL_FAULT_H */

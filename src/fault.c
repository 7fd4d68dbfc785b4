/*
 * fault.c — failure injection for tests (see fault.h).
 */
#include "fault.h"

static struct {
    int armed;
    uint64_t after, seen;
} sites[DIDCL_FAULT_SITES];

void didcl_fault_arm(enum didcl_fault_site site, uint64_t after) {
    sites[site].armed = 1;
    sites[site].after = after;
    sites[site].seen = 0;
}

void didcl_fault_disarm(void) {
    for (int i = 0; i < DIDCL_FAULT_SITES; i++)
        sites[i].armed = 0;
}

uint64_t didcl_fault_count(enum didcl_fault_site site) { return sites[site].seen; }

int didcl_fault_hit(enum didcl_fault_site site) {
    if (!sites[site].armed)
        return 0;
    return sites[site].seen++ >= sites[site].after;
}

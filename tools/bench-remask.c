/*
 * bench-remask — microseconds per token of a remask plugin's selection. Usage:
 *   tools/bench-remask [SPEC...]   (default: every bundled plugin)
 * Each plugin selects a quarter of a 512-position draft (the default model's length) with
 * block-4 steps and varied confidences, repeated until about 0.2 s has passed; the figure
 * is the mean wall time of one didcl_remask_select divided by the positions it ranked.
 * Prints figures, checks nothing (docs/plugins.md quotes them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "didcl.h"

#define BENCH_N 512u

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    static const char *const bundled[] = {"lowconf", "entropy", "span:len=4", "random",
                                          "learned"};
    const char *const *specs = argc > 1 ? (const char *const *)argv + 1 : bundled;
    int nspecs = argc > 1 ? argc - 1 : (int)(sizeof bundled / sizeof bundled[0]);
    didcl_remask_position pos[BENCH_N];
    uint32_t sel[BENCH_N], got;
    for (uint32_t i = 0; i < BENCH_N; i++) {
        float c = (float)((37u * i + 11u) % 100u) / 100.0f;
        pos[i] = (didcl_remask_position){.token = (int32_t)(i % 97), .confidence = c,
                                         .entropy = 1.0f - c, .margin = c / 2.0f,
                                         .step = (int32_t)(i % 4), .block = (int32_t)(i / 4),
                                         .stage = i ? 1 : 0, .nfe = (int32_t)i,
                                         .flags = i ? 0u : DIDCL_REMASK_LOCKED};
    }
    didcl_remask_host_cfg cfg = {.seed = 1};
    for (int s = 0; s < nspecs; s++) {
        didcl_remask_t r;
        if (didcl_remask_open(specs[s], NULL, &cfg, &r) != DIDCL_OK) {
            fprintf(stderr, "bench-remask: %s\n", didcl_last_error());
            return 1;
        }
        long reps = 0;
        double t0 = now(), t;
        do {
            if (didcl_remask_select(r, pos, BENCH_N, BENCH_N / 4, 0, 2, BENCH_N, 0, sel,
                                    &got) != DIDCL_OK) {
                fprintf(stderr, "bench-remask: %s\n", didcl_last_error());
                didcl_remask_free(r);
                return 1;
            }
            reps++;
        } while ((t = now() - t0) < 0.2);
        printf("%-12s %8.3f us per token (%u positions, %ld selections)\n", specs[s],
               t / reps / BENCH_N * 1e6, BENCH_N, reps);
        didcl_remask_free(r);
    }
    return 0;
}

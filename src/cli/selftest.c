/*
 * selftest.c — `didcl selftest [--device D] [--json]`: every kernel against the library's
 * C reference on the chosen device (didcl_selftest_run), as a pass/fail table; exit 0
 * when every op is within its tolerance, 1 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: didcl selftest [--device D] [--json]\n"
               "Run every OpenCL kernel once on random inputs and compare it element by element\n"
               "with the library's plain-C reference (|got - want| <= atol + rtol |want|, per-op\n"
               "tolerances). Prints one line per op; exits 0 when all pass, 1 otherwise.\n"
               "--device D   \"P:D\" or a name substring (default: DIDCL_DEVICE, then the first GPU)\n");
}

static int print_json(const didcl_device_info *d, const didcl_selftest_case *t, size_t n,
                      size_t passed) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(
                arr, json_pack("{s:s, s:o, s:f, s:f, s:o, s:o, s:b, s:o}", "op", t[i].op, "shape",
                               didcl_cli_json_string(t[i].shape), "atol", t[i].atol, "rtol",
                               t[i].rtol, "max_abs", didcl_cli_json_real(t[i].max_abs), "worst",
                               didcl_cli_json_real(t[i].worst), "passed", t[i].passed, "error",
                               didcl_cli_json_string(t[i].message))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    return didcl_cli_json_print(
        "selftest",
        arr ? json_pack("{s:o, s:o, s:o, s:i, s:i, s:o}", "device", didcl_cli_json_string(d->name),
                        "platform", didcl_cli_json_string(d->platform), "driver",
                        didcl_cli_json_string(d->driver), "passed", (int)passed, "total", (int)n,
                        "ops", arr)
            : NULL,
        JSON_INDENT(2));
}

int didcl_cli_selftest(int argc, char **argv) {
    static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *device = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: return didcl_cli_bad_option("selftest", c, argv);
        }
    }
    if (optind < argc)
        return didcl_cli_usage_error("selftest", "unexpected argument '%s'", argv[optind]);
    didcl_runtime_t rt;
    if (didcl_runtime_init(device, &rt) != DIDCL_OK)
        return didcl_cli_fail("selftest");
    didcl_selftest_case *t = NULL;
    size_t n = 0, passed = 0;
    if (didcl_selftest_run(rt, &t, &n) != DIDCL_OK) {
        didcl_runtime_free(rt);
        return didcl_cli_fail("selftest");
    }
    for (size_t i = 0; i < n; i++)
        passed += t[i].passed != 0;
    const didcl_device_info *d = didcl_runtime_device(rt);
    int rc = 0;
    if (json) {
        rc = print_json(d, t, n, passed);
    } else {
        printf("device %s (%s, driver %s)\n", d->name, d->platform, d->driver);
        printf("%-19s %-40s %10s %9s %9s  %s\n", "op", "shape", "max |err|", "atol", "rtol",
               "worst/tol");
        for (size_t i = 0; i < n; i++) {
            if (t[i].status != DIDCL_OK)
                printf("%-19s %-40s FAILED to run: %s\n", t[i].op, t[i].shape, t[i].message);
            else
                printf("%-19s %-40s %10.3g %9.0e %9.0e  %-9.3f %s\n", t[i].op, t[i].shape,
                       t[i].max_abs, t[i].atol, t[i].rtol, t[i].worst,
                       t[i].passed ? "pass" : "FAIL");
        }
        printf("%zu/%zu ops pass on %s\n", passed, n, d->name);
    }
    free(t);
    didcl_runtime_free(rt);
    return rc ? rc : passed == n ? 0 : 1;
}

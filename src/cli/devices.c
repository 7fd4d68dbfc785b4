/*
 * devices.c — `didcl devices [--json]`: list OpenCL platforms and devices with the
 * capabilities the engine cares about, and mark the one selection would pick.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *kind_str(enum didcl_device_kind k) {
    switch (k) {
    case DIDCL_DEVICE_CPU: return "cpu";
    case DIDCL_DEVICE_GPU: return "gpu";
    case DIDCL_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

/* Strings come from the OpenCL driver: not necessarily UTF-8. */
static json_t *device_json(const didcl_device_info *d, const char *id, int selected) {
    return json_pack("{s:s, s:i, s:i, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:I, s:I, "
                     "s:b, s:b, s:b, s:b}",
                     "id", id, "platform_index", (int)d->platform_index, "device_index",
                     (int)d->device_index, "kind", kind_str(d->kind), "name",
                     didcl_cli_json_string(d->name), "vendor", didcl_cli_json_string(d->vendor),
                     "platform", didcl_cli_json_string(d->platform), "version",
                     didcl_cli_json_string(d->version), "driver", didcl_cli_json_string(d->driver),
                     "opencl_c", didcl_cli_json_string(d->c_version), "compute_units",
                     (int)d->compute_units, "global_mem", (json_int_t)d->global_mem, "max_alloc",
                     (json_int_t)d->max_alloc, "local_mem", (json_int_t)d->local_mem,
                     "max_work_group", (json_int_t)d->max_work_group, "fp16", d->fp16, "fp64",
                     d->fp64, "subgroups", d->subgroups, "default", selected);
}

int didcl_cli_devices(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'h') {
            printf("usage: didcl devices [--json]\n"
                   "List OpenCL devices as P:D (platform:device). Pick one for other commands\n"
                   "with --device P:D or a name substring, or set DIDCL_DEVICE.\n");
            return 0;
        } else
            return didcl_cli_bad_option("devices", c, argv);
    }
    if (optind < argc)
        return didcl_cli_usage_error("devices", "unexpected argument '%s'", argv[optind]);

    didcl_device_info *devs = NULL;
    size_t n = 0;
    if (didcl_devices_list(&devs, &n) != DIDCL_OK)
        return didcl_cli_fail(NULL);

    /* Which device the default selection (DIDCL_DEVICE or best) picks, if any. */
    int sel_p = -1, sel_d = -1;
    didcl_runtime_t rt;
    if (didcl_runtime_init(NULL, &rt) == DIDCL_OK) {
        sel_p = (int)didcl_runtime_device(rt)->platform_index;
        sel_d = (int)didcl_runtime_device(rt)->device_index;
        didcl_runtime_free(rt);
    }

    int rc = 0;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            char id[32];
            snprintf(id, sizeof id, "%u:%u", devs[i].platform_index, devs[i].device_index);
            if (json_array_append_new(arr, device_json(&devs[i], id,
                                                       (int)devs[i].platform_index == sel_p &&
                                                           (int)devs[i].device_index == sel_d))) {
                json_decref(arr);
                arr = NULL;
            }
        }
        rc = didcl_cli_json_print("devices", arr, JSON_INDENT(2));
    } else {
        if (n == 0)
            printf("no OpenCL devices (platforms exist but expose none; check 'clinfo -l')\n");
        for (size_t i = 0; i < n; i++) {
            const didcl_device_info *d = &devs[i];
            int sel = (int)d->platform_index == sel_p && (int)d->device_index == sel_d;
            printf("%c %u:%u  %s [%s]  (%s)\n", sel ? '*' : ' ', d->platform_index, d->device_index,
                   d->name, kind_str(d->kind), d->platform);
            printf("      %s, driver %s, %s\n", d->version, d->driver, d->c_version);
            printf("      %u compute units, %.1f GiB global (max alloc %.1f GiB), %.0f KiB local, "
                   "work-group %llu, fp16 %s, fp64 %s, subgroups %s\n",
                   d->compute_units, d->global_mem / 1073741824.0, d->max_alloc / 1073741824.0,
                   d->local_mem / 1024.0, (unsigned long long)d->max_work_group,
                   d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->subgroups ? "yes" : "no");
        }
        if (sel_p >= 0)
            printf("\n* = default selection (override with --device P:D or DIDCL_DEVICE)\n");
    }
    free(devs);
    return rc;
}

/*
 * plugins.c — `didcl plugins [--plugin-path DIR] [--json] [--try SPEC ...]`: list the remask
 * plugins in resolution order (files on the search path, then those built into libdidcl),
 * each with whether it loads and why not; --try runs one plugin on a small synthetic
 * draft and prints what it selects.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: didcl plugins [--plugin-path DIR[:DIR...]] [--json]\n"
            "       didcl plugins --try SPEC [--n N] [--count K] [--flexible] [--seed S]\n"
            "                     [--plugin-path DIR] [--json]\n"
            "List remask plugins in the order a NAME resolves: files didcl-remask-NAME.so on\n"
            "the search path (--plugin-path, then DIDCL_PLUGIN_PATH, then the installed plugin\n"
            "directory), then the plugins built into libdidcl (path \"(built-in)\"). Plugins\n"
            "that fail to load are listed with the reason; a NAME found earlier shadows later\n"
            "ones, so a file wins over the built-in of the same name.\n"
            "--try SPEC (NAME[:key=value,...] or a path to a .so) loads the plugin and runs one\n"
            "selection on a synthetic draft of N positions (default 16; the first 2 are a\n"
            "locked prompt; confidence of position i is ((37*i + 11) mod 100) / 100, entropy\n"
            "1 - confidence, margin confidence / 2), asking for K positions (default 4).\n");
}

static const char *origin_str(enum didcl_remask_origin o) {
    return o == DIDCL_REMASK_BUILTIN ? "built-in" : o == DIDCL_REMASK_REGISTERED ? "registered"
                                                                                  : "file";
}

static int list_plugins(const char *plugin_path, int json) {
    didcl_remask_info *list = NULL;
    size_t n = 0;
    char search[8192];
    if (didcl_remask_search_path(plugin_path, search, sizeof search) != DIDCL_OK ||
        didcl_remask_list(plugin_path, &list, &n) != DIDCL_OK)
        return didcl_cli_fail("plugins");
    if (json) {
        /* Strings through didcl_cli_json_string: a path or a plugin's text that is not
         * UTF-8 would make json_pack fail; any failure is reported, never dropped. */
        json_t *dirs = json_array(), *arr = json_array();
        int bad = !dirs || !arr;
        for (char *p = search, *colon; !bad && p && *p; p = colon ? colon + 1 : NULL) {
            colon = strchr(p, ':');
            if (colon)
                *colon = '\0';
            bad = json_array_append_new(dirs, didcl_cli_json_string(p)) != 0;
        }
        for (size_t i = 0; !bad && i < n; i++) {
            const didcl_remask_info *d = &list[i];
            json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:i, s:b, s:b, s:o}", "name",
                                  didcl_cli_json_string(d->name), "plugin_name",
                                  didcl_cli_json_string(d->plugin_name), "version",
                                  didcl_cli_json_string(d->version), "description",
                                  didcl_cli_json_string(d->description), "path",
                                  didcl_cli_json_string(d->path), "origin",
                                  origin_str(d->origin), "abi_version", (int)d->abi_version,
                                  "ok", d->status == DIDCL_OK, "shadowed", d->shadowed, "error",
                                  didcl_cli_json_string(d->message));
            bad = json_array_append_new(arr, o) != 0;
        }
        free(list);
        if (bad) {
            json_decref(dirs);
            json_decref(arr);
            return didcl_cli_json_print("plugins", NULL, 0);
        }
        return didcl_cli_json_print("plugins", json_pack("{s:o, s:o}", "search_path", dirs,
                                                         "plugins", arr), JSON_INDENT(2));
    } else {
        printf("search path: %s (then the built-in plugins)\n", search);
        for (size_t i = 0; i < n; i++) {
            const didcl_remask_info *d = &list[i];
            if (d->status == DIDCL_OK)
                printf("%-12s %-8s ABI %u ok%s  %s\n             %s\n", d->name, d->version,
                       d->abi_version, d->shadowed ? " (shadowed by an earlier one)" : "",
                       d->description, d->path);
            else
                printf("%-12s FAILED: %s\n", d->name, d->message);
        }
    }
    free(list);
    return 0;
}

static int try_plugin(const char *spec, const char *plugin_path, uint32_t n, uint32_t count,
                      int flexible, uint64_t seed, int json) {
    didcl_remask_host_cfg cfg = {.seed = seed};
    didcl_remask_t r;
    if (didcl_remask_open(spec, plugin_path, &cfg, &r) != DIDCL_OK)
        return didcl_cli_fail(NULL);
    didcl_remask_position *pos = calloc(n, sizeof *pos);
    uint32_t *sel = calloc(n, sizeof *sel), got = 0;
    if (!pos || !sel) {
        free(pos);
        free(sel);
        didcl_remask_free(r);
        fprintf(stderr, "didcl plugins: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        float c = (float)((37u * i + 11u) % 100u) / 100.0f;
        pos[i] = (didcl_remask_position){.token = (int32_t)i, .confidence = c,
                                         .entropy = 1.0f - c, .margin = c / 2.0f,
                                         .step = (int32_t)(i % 4), .block = (int32_t)(i / 4),
                                         .stage = i < 2 ? 0 : 1, .nfe = (int32_t)i,
                                         .flags = i < 2 ? DIDCL_REMASK_LOCKED : 0u};
    }
    didcl_status st = didcl_remask_select(r, pos, n, count, flexible, 2, n, 0, sel, &got);
    if (st == DIDCL_OK) {
        /* Ascending order, for stable output. */
        for (uint32_t i = 1; i < got; i++)
            for (uint32_t j = i; j > 0 && sel[j - 1] > sel[j]; j--) {
                uint32_t t = sel[j];
                sel[j] = sel[j - 1];
                sel[j - 1] = t;
            }
        if (json) {
            json_t *arr = json_array();
            for (uint32_t i = 0; arr && i < got; i++)
                if (json_array_append_new(arr, json_integer(sel[i])) != 0) {
                    json_decref(arr);
                    arr = NULL;
                }
            json_t *o = json_pack("{s:o, s:o, s:o, s:i, s:i, s:o}", "name",
                                  didcl_cli_json_string(didcl_remask_name(r)), "version",
                                  didcl_cli_json_string(didcl_remask_version(r)), "path",
                                  didcl_cli_json_string(didcl_remask_path(r)), "n", (int)n,
                                  "count", (int)count, "selected", arr);
            if (didcl_cli_json_print("plugins", o, JSON_INDENT(2)))
                st = DIDCL_ERR_NO_MEMORY;
        } else {
            printf("plugin %s %s (%s)\n", didcl_remask_name(r), didcl_remask_version(r),
                   didcl_remask_path(r));
            printf("draft: %u positions (2 locked), count %u%s, seed %llu\nselected (%u):", n,
                   count, flexible ? " (flexible)" : "", (unsigned long long)seed, got);
            for (uint32_t i = 0; i < got; i++)
                printf(" %u", sel[i]);
            printf("\n");
        }
    }
    free(pos);
    free(sel);
    didcl_remask_free(r);
    return st == DIDCL_OK ? 0 : st == DIDCL_ERR_NO_MEMORY ? 1 : didcl_cli_fail(NULL);
}

static int parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || v < lo || v > hi)
        return didcl_cli_usage_error("plugins", "%s: '%s' is not an integer in %u..%u", opt, s,
                                     lo, hi);
    *out = (uint32_t)v;
    return 0;
}

int didcl_cli_plugins(int argc, char **argv) {
    enum { OPT_N = 256, OPT_COUNT, OPT_SEED, OPT_FLEX };
    static const struct option opts[] = {{"plugin-path", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"try", required_argument, NULL, 't'},
                                         {"n", required_argument, NULL, OPT_N},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"flexible", no_argument, NULL, OPT_FLEX},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *plugin_path = NULL, *spec = NULL;
    int json = 0, flexible = 0, c;
    uint32_t n = 16, count = 4, seed = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:jt:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': plugin_path = optarg; break;
        case 'j': json = 1; break;
        case 't': spec = optarg; break;
        case OPT_N:
            if (parse_u32("--n", optarg, 1, 1u << 20, &n))
                return 2;
            break;
        case OPT_COUNT:
            if (parse_u32("--count", optarg, 0, 1u << 20, &count))
                return 2;
            break;
        case OPT_SEED:
            if (parse_u32("--seed", optarg, 0, UINT32_MAX, &seed))
                return 2;
            break;
        case OPT_FLEX: flexible = 1; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (optind < argc)
        return didcl_cli_usage_error("plugins", "unexpected argument '%s'", argv[optind]);
    if (!spec)
        return list_plugins(plugin_path, json);
    if (count + 2 > n)
        return didcl_cli_usage_error("plugins", "--count %u exceeds the %u unlocked positions",
                                     count, n < 2 ? 0 : n - 2);
    return try_plugin(spec, plugin_path, n, count, flexible, seed, json);
}

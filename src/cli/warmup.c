/*
 * warmup.c — `didcl warmup [--device D] [--model DIR]`: fill the kernel cache of a device
 * ahead of time, so that the first generate on it reads kernels instead of compiling
 * them. With --model, also what that model's runs build (its device model is loaded to
 * size them; kernels specialised to a model's shapes land in the cache this way).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/genopts.h"

static const char usage_text[] =
    "usage: didcl warmup [--device D] [--model DIR] [--half] [--json]\n"
    "Compile every kernel for a device into the kernel cache (DIDCL_CACHE_DIR), so that\n"
    "later runs read them instead of compiling; fp32- and half-weight variants alike.\n"
    "  --device D    device selector (P:D or a name substring; default: DIDCL_DEVICE, then\n"
    "                the first GPU)\n"
    "  --model DIR   also prepare what generating with this model (draft and a global\n"
    "                revision at its length) builds; loads the model onto the device\n"
    "  --half        with --model: the model's weights as half\n"
    "  --json        one JSON object instead of text\n"
    "CLBlast's own programs are kept in memory only and are built again by each process\n"
    "(didcl generate reports that under 'compile', outside every stage).\n";

/* Prepare the model's largest run: its length, block 4 and a global revision. */
static int warm_model(const didcl_cli_genopts *go, double *seconds) {
    char defdir[4096];
    didcl_session_params sp = didcl_session_default_params();
    if (didcl_cli_genopts_session(go, "warmup", &sp, defdir, sizeof defdir))
        return 1;
    didcl_session_t s;
    didcl_status st = didcl_session_open(&sp, &s);
    if (st != DIDCL_OK)
        return didcl_cli_session_error("warmup", st, didcl_last_error());
    didcl_request rq = didcl_request_default();
    rq.options.n_revisions = 1;
    rq.options.revisions[0].gamma = 0.25;
    rq.options.revisions[0].block = 0;
    st = didcl_session_prepare(s, &rq, seconds);
    int rc = st == DIDCL_OK ? 0 : didcl_cli_session_error("warmup", st, didcl_session_error(s));
    didcl_session_free(s);
    return rc;
}

int didcl_cli_warmup(int argc, char **argv) {
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"model", required_argument, NULL, 'm'},
        {"half", no_argument, NULL, 'H'},          {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    didcl_cli_genopts go;
    didcl_cli_genopts_init(&go);
    int json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': go.device = optarg; break;
        case 'm': go.model = optarg; break;
        case 'H': go.half = 1; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return didcl_cli_bad_option("warmup", c, argv);
        }
    }
    if (optind < argc)
        return didcl_cli_usage_error("warmup", "unexpected argument '%s'", argv[optind]);
    if (go.half && !go.model)
        return didcl_cli_usage_error("warmup", "--half needs --model (without it both "
                                     "weight storages are built)");

    didcl_runtime_t rt;
    if (didcl_runtime_init(go.device, &rt) != DIDCL_OK)
        return didcl_cli_fail("warmup");
    const char *dir = didcl_runtime_cache_dir(rt);
    if (!*dir) {
        didcl_runtime_free(rt);
        fprintf(stderr, "didcl warmup: the kernel cache is off (DIDCL_CACHE_DIR): nothing "
                        "would be kept\n");
        return 1;
    }
    const double t0 = didcl_cli_now();
    if (didcl_runtime_warmup(rt, DIDCL_WARMUP_HALF) != DIDCL_OK) {
        didcl_runtime_free(rt);
        return didcl_cli_fail("warmup");
    }
    const double seconds = didcl_cli_now() - t0;
    didcl_cache_stats cs;
    didcl_runtime_cache_stats(rt, &cs);
    char device[sizeof didcl_runtime_device(rt)->name], cache[4096];
    snprintf(device, sizeof device, "%s", didcl_runtime_device(rt)->name);
    snprintf(cache, sizeof cache, "%s", dir);
    didcl_runtime_free(rt);

    double model_seconds = 0.0;
    if (go.model && warm_model(&go, &model_seconds))
        return 1;
    if (json) {
        json_t *o = json_pack("{s:o, s:o, s:I, s:I, s:f, s:o}", "device",
                              didcl_cli_json_string(device), "cache_dir",
                              didcl_cli_json_string(cache), "compiled", (json_int_t)cs.compiles,
                              "from_cache", (json_int_t)cs.disk_hits, "seconds", seconds,
                              "model", go.model ? didcl_cli_json_string(go.model) : json_null());
        if (o && go.model)
            json_object_set_new(o, "model_seconds", json_real(model_seconds));
        return didcl_cli_json_print("warmup", o, JSON_INDENT(2));
    }
    printf("didcl warmup: %s: %llu program%s compiled, %llu already in the cache, %.2f s\n",
           device, (unsigned long long)cs.compiles, cs.compiles == 1 ? "" : "s",
           (unsigned long long)cs.disk_hits, seconds);
    printf("  cache: %s\n", cache);
    if (go.model)
        printf("  model %s: prepared in %.2f s\n", go.model, model_seconds);
    return 0;
}

/*
 * genopts.c — the generation options shared by `didcl generate` and `didcl eval`
 * (genopts.h).
 */
#include "cli/genopts.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Any finite number (parse.c); each option states its own range after. */
static int parse_number(const char *cmd, const char *opt, const char *s, double *out) {
    return didcl_cli_parse_double(cmd, opt, s, -DBL_MAX, DBL_MAX, out);
}

const char *didcl_cli_mode_name(enum didcl_commit_mode m) {
    return m == DIDCL_COMMIT_STEPS ? "steps" : m == DIDCL_COMMIT_THRESHOLD ? "threshold"
                                                                          : "first-hitting";
}

void didcl_cli_genopts_init(didcl_cli_genopts *g) {
    memset(g, 0, sizeof *g);
    g->o = didcl_gen_options_default();
    g->samples = 1;
    g->batch = 16;
}

/* --revise GAMMA[@BLOCK] */
static int parse_revise(didcl_cli_genopts *g, const char *cmd, const char *s) {
    if (g->o.n_revisions == DIDCL_MAX_REVISIONS) {
        didcl_cli_usage_error(cmd, "--revise: at most %d revision stages", DIDCL_MAX_REVISIONS);
        return -1;
    }
    char buf[128];
    if (strlen(s) >= sizeof buf) {
        didcl_cli_usage_error(cmd, "--revise: '%.20s...' is %zu bytes, expected GAMMA[@BLOCK]",
                              s, strlen(s));
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    char *at = strchr(buf, '@');
    if (at)
        *at++ = '\0';
    didcl_revision *r = &g->o.revisions[g->o.n_revisions];
    r->block = 0;
    if (parse_number(cmd, "revise", buf, &r->gamma))
        return -1;
    if (!(r->gamma >= 0.0 && r->gamma <= 1.0)) {
        didcl_cli_usage_error(cmd, "--revise %s: gamma %g outside [0, 1]", s, r->gamma);
        return -1;
    }
    if (at) {
        long b;
        if (didcl_cli_parse_long(cmd, "revise", at, 0, INT32_MAX, &b))
            return -1;
        r->block = (int32_t)b;
    }
    g->o.n_revisions++;
    return 0;
}

int didcl_cli_genopts_parse(didcl_cli_genopts *g, const char *cmd, int ch, const char *arg) {
    long v;
    double d;
    switch (ch) {
    case DIDCL_GO_MODEL: g->model = arg; return 0;
    case DIDCL_GO_TOKENIZER: g->tokenizer = arg; return 0;
    case DIDCL_GO_DEVICE: g->device = arg; return 0;
    case DIDCL_GO_REMASK: g->remask = arg; return 0;
    case DIDCL_GO_PLUGIN_PATH: g->plugin_path = arg; return 0;
    case DIDCL_GO_NO_CACHE: g->o.use_kv_cache = 0; return 0;
    case DIDCL_GO_HALF: g->half = 1; return 0;
    case DIDCL_GO_LENGTH:
        if (didcl_cli_parse_long(cmd, "length", arg, 2, INT32_MAX, &v))
            return 2;
        g->length = (int32_t)v;
        g->length_set = 1;
        return 0;
    case DIDCL_GO_SAMPLES:
        if (didcl_cli_parse_long(cmd, "samples", arg, 1, 1 << 24, &v))
            return 2;
        g->samples = (int32_t)v;
        return 0;
    case DIDCL_GO_BATCH:
        if (didcl_cli_parse_long(cmd, "batch", arg, 1, DIDCL_MAX_BATCH, &v))
            return 2;
        g->batch = (int32_t)v;
        return 0;
    case DIDCL_GO_SEED:
        if (didcl_cli_parse_u64(cmd, "seed", arg, &g->o.seed))
            return 2;
        g->seed_set = 1;
        return 0;
    case DIDCL_GO_TOP_P:
        if (parse_number(cmd, "top-p", arg, &d))
            return 2;
        if (!(d > 0.0 && d <= 1.0))
            return didcl_cli_usage_error(cmd, "--top-p: %s outside (0, 1]", arg);
        g->o.top_p = d;
        return 0;
    case DIDCL_GO_TEMPERATURE:
        if (parse_number(cmd, "temperature", arg, &d))
            return 2;
        if (d < 0.0)
            return didcl_cli_usage_error(cmd, "--temperature: %s is negative, expected >= 0",
                                         arg);
        g->o.temperature = d;
        return 0;
    case DIDCL_GO_BLOCK:
        if (didcl_cli_parse_long(cmd, "block", arg, 1, INT32_MAX, &v))
            return 2;
        g->block = (int32_t)v;
        g->block_set = 1;
        return 0;
    case DIDCL_GO_STEPS:
        if (didcl_cli_parse_long(cmd, "steps", arg, 1, INT32_MAX, &v))
            return 2;
        g->o.mode = DIDCL_COMMIT_STEPS;
        g->o.steps = (int32_t)v;
        g->steps_set = 1;
        return 0;
    case DIDCL_GO_THRESHOLD:
        if (parse_number(cmd, "threshold", arg, &d))
            return 2;
        if (!(d > 0.0 && d <= 1.0))
            return didcl_cli_usage_error(cmd, "--threshold: %s outside (0, 1]", arg);
        g->o.mode = DIDCL_COMMIT_THRESHOLD;
        g->o.threshold = d;
        g->threshold_set = 1;
        return 0;
    case DIDCL_GO_REVISE:
        return parse_revise(g, cmd, arg) ? 2 : 0;
    case DIDCL_GO_REVISE_STEPS:
        if (didcl_cli_parse_long(cmd, "revise-steps", arg, 1, INT32_MAX, &v))
            return 2;
        g->o.revise_mode = DIDCL_COMMIT_STEPS;
        g->o.revise_steps = (int32_t)v;
        g->revise_steps_set = 1;
        return 0;
    case DIDCL_GO_REVISE_THRESHOLD:
        if (parse_number(cmd, "revise-threshold", arg, &d))
            return 2;
        if (!(d > 0.0 && d <= 1.0))
            return didcl_cli_usage_error(cmd, "--revise-threshold: %s outside (0, 1]", arg);
        g->o.revise_mode = DIDCL_COMMIT_THRESHOLD;
        g->o.revise_threshold = d;
        g->revise_threshold_set = 1;
        return 0;
    case DIDCL_GO_REVISE_REUSE:
        if (didcl_cli_parse_long(cmd, "revise-reuse", arg, 0, INT32_MAX, &v))
            return 2;
        g->o.revise_reuse = (int32_t)v;
        return 0;
    default:
        return -1;
    }
}

int didcl_cli_genopts_finish(const didcl_cli_genopts *g, const char *cmd) {
    if (g->steps_set && g->threshold_set)
        return didcl_cli_usage_error(cmd, "--steps and --threshold are exclusive: one commit "
                                          "rule per stage");
    if (g->revise_steps_set && g->revise_threshold_set)
        return didcl_cli_usage_error(cmd, "--revise-steps and --revise-threshold are exclusive");
    return -1;
}

int didcl_cli_genopts_session(const didcl_cli_genopts *g, const char *cmd,
                              didcl_session_params *sp, char *defdir, size_t size) {
    sp->model = g->model;
    sp->tokenizer = g->tokenizer;
    sp->device = g->device;
    sp->plugin_path = g->plugin_path;
    sp->half_weights = g->half;
    sp->max_batch = (uint32_t)g->batch;
    if (!sp->model) {
        if (didcl_default_model_dir(defdir, size) != DIDCL_OK) {
            fprintf(stderr, "didcl %s: %s; pass --model DIR with a BD3-LM checkpoint "
                            "(config.json + model.safetensors + tokenizer)\n",
                    cmd, didcl_last_error());
            return 1;
        }
        sp->model = defdir;
    }
    return 0;
}

int didcl_cli_session_error(const char *cmd, didcl_status st, const char *msg) {
    int usage = st == DIDCL_ERR_INVALID_ARG || st == DIDCL_ERR_PLUGIN ||
                st == DIDCL_ERR_UNSUPPORTED || st == DIDCL_ERR_ENCODING;
    if (usage)
        fprintf(stderr, "didcl %s: %s\n", cmd, msg);
    else
        fprintf(stderr, "didcl: %s\n", msg);
    return usage ? 2 : 1;
}

json_t *didcl_cli_options_json(const didcl_gen_options *o, const char *model_dir,
                               const char *device, const char *remask) {
    json_t *rev = json_array();
    for (int32_t i = 0; i < o->n_revisions; i++)
        json_array_append_new(rev, json_pack("{s:f, s:i}", "gamma", o->revisions[i].gamma,
                                             "block", o->revisions[i].block));
    json_t *j = json_pack(
        "{s:s, s:s, s:i, s:i, s:s, s:f, s:f, s:o, s:s, s:b, s:b, s:b}", "model", model_dir,
        "device", device, "length", o->length, "block", o->block, "mode",
        didcl_cli_mode_name(o->mode), "temperature", o->temperature, "top_p", o->top_p,
        "revise", rev, "revise_mode", didcl_cli_mode_name(o->revise_mode), "kv_cache",
        o->use_kv_cache, "var_length", o->var_length, "reject_low_entropy",
        o->reject_low_entropy);
    if (o->mode == DIDCL_COMMIT_STEPS)
        json_object_set_new(j, "steps", json_integer(o->steps));
    if (o->mode == DIDCL_COMMIT_THRESHOLD)
        json_object_set_new(j, "threshold", json_real(o->threshold));
    if (o->revise_mode == DIDCL_COMMIT_STEPS)
        json_object_set_new(j, "revise_steps", json_integer(o->revise_steps));
    if (o->revise_mode == DIDCL_COMMIT_THRESHOLD)
        json_object_set_new(j, "revise_threshold", json_real(o->revise_threshold));
    json_object_set_new(j, "revise_reuse", json_integer(o->revise_reuse));
    json_object_set_new(j, "remask", json_string(remask));
    return j;
}

void didcl_cli_genopts_request(const didcl_cli_genopts *g, didcl_request *rq) {
    rq->options = g->o;
    rq->options.length = g->length_set ? g->length : 0;
    rq->options.block = g->block_set ? g->block : 0;
    rq->remask = g->remask;
    rq->samples = (uint32_t)g->samples;
}

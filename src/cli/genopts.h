/*
 * genopts.h — the generation options shared by `didcl generate` and `didcl eval`
 * (model, device, length, block, seed, sampling, commit rules, revision stages, remask
 * plugin, batch): one parser, one set of messages, one way to fill a session and a
 * request. A subcommand puts DIDCL_CLI_GENOPTS_LONG in its getopt_long table, passes
 * every option it does not handle itself to didcl_cli_genopts_parse, and checks the
 * combination with didcl_cli_genopts_finish.
 */
#ifndef DIDCL_CLI_GENOPTS_H
#define DIDCL_CLI_GENOPTS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "didcl.h"

typedef struct didcl_cli_genopts {
    const char *model, *tokenizer, *device, *remask, *plugin_path;
    int32_t length, block, samples, batch;
    int length_set, block_set, seed_set, half;
    int steps_set, threshold_set, revise_steps_set, revise_threshold_set;
    didcl_gen_options o;
} didcl_cli_genopts;

/* getopt_long values of the shared options (a subcommand's own start at 512). */
enum {
    DIDCL_GO_MODEL = 300, DIDCL_GO_TOKENIZER, DIDCL_GO_DEVICE, DIDCL_GO_LENGTH,
    DIDCL_GO_SAMPLES, DIDCL_GO_SEED, DIDCL_GO_TOP_P, DIDCL_GO_TEMPERATURE, DIDCL_GO_BLOCK,
    DIDCL_GO_STEPS, DIDCL_GO_THRESHOLD, DIDCL_GO_REVISE, DIDCL_GO_REVISE_STEPS,
    DIDCL_GO_REVISE_THRESHOLD, DIDCL_GO_REMASK, DIDCL_GO_PLUGIN_PATH, DIDCL_GO_NO_CACHE,
    DIDCL_GO_HALF, DIDCL_GO_BATCH, DIDCL_GO_REVISE_REUSE,
};

/* Entries of a struct option table (no terminator). */
#define DIDCL_CLI_GENOPTS_LONG                                                            \
    {"model", required_argument, NULL, DIDCL_GO_MODEL},                                   \
    {"tokenizer", required_argument, NULL, DIDCL_GO_TOKENIZER},                           \
    {"device", required_argument, NULL, DIDCL_GO_DEVICE},                                 \
    {"length", required_argument, NULL, DIDCL_GO_LENGTH},                                 \
    {"samples", required_argument, NULL, DIDCL_GO_SAMPLES},                               \
    {"seed", required_argument, NULL, DIDCL_GO_SEED},                                     \
    {"top-p", required_argument, NULL, DIDCL_GO_TOP_P},                                   \
    {"temperature", required_argument, NULL, DIDCL_GO_TEMPERATURE},                       \
    {"block", required_argument, NULL, DIDCL_GO_BLOCK},                                   \
    {"steps", required_argument, NULL, DIDCL_GO_STEPS},                                   \
    {"threshold", required_argument, NULL, DIDCL_GO_THRESHOLD},                           \
    {"revise", required_argument, NULL, DIDCL_GO_REVISE},                                 \
    {"revise-steps", required_argument, NULL, DIDCL_GO_REVISE_STEPS},                     \
    {"revise-threshold", required_argument, NULL, DIDCL_GO_REVISE_THRESHOLD},             \
    {"remask", required_argument, NULL, DIDCL_GO_REMASK},                                 \
    {"plugin-path", required_argument, NULL, DIDCL_GO_PLUGIN_PATH},                       \
    {"no-cache", no_argument, NULL, DIDCL_GO_NO_CACHE},                                   \
    {"half", no_argument, NULL, DIDCL_GO_HALF},                                           \
    {"batch", required_argument, NULL, DIDCL_GO_BATCH},                                   \
    {"revise-reuse", required_argument, NULL, DIDCL_GO_REVISE_REUSE}

/* Defaults: didcl_gen_options_default(), one sample, batches of 16, model length. */
void didcl_cli_genopts_init(didcl_cli_genopts *g);

/* Handle option ch (a DIDCL_GO_* value) with its argument. Returns 0 when handled, 2
 * after printing "didcl CMD: --opt: ..." for a bad value, -1 when ch is not one of the
 * shared options. */
int didcl_cli_genopts_parse(didcl_cli_genopts *g, const char *cmd, int ch, const char *arg);

/* Check the combination (exclusive commit rules). -1 when fine, else 2 (reported). */
int didcl_cli_genopts_finish(const didcl_cli_genopts *g, const char *cmd);

/* Fill session parameters (model, tokenizer, device, plugin path, half, batch); without
 * --model, the default model's directory (into defdir). 1 after printing why there is
 * no default model, else 0. */
int didcl_cli_genopts_session(const didcl_cli_genopts *g, const char *cmd,
                              didcl_session_params *sp, char *defdir, size_t size);

/* Exit status of a failed session call, after printing msg: 2 for what the user can fix
 * in the options (values the model cannot take, an unknown plugin, a prompt), else 1. */
int didcl_cli_session_error(const char *cmd, didcl_status st, const char *msg);

/* The resolved options as a JSON object (jansson json_t *, new reference). */
struct json_t;
struct json_t *didcl_cli_options_json(const didcl_gen_options *o, const char *model_dir,
                                      const char *device, const char *remask);

/* Fill a request's options, length, block, remask spec and sample count. */
void didcl_cli_genopts_request(const didcl_cli_genopts *g, didcl_request *rq);

/* "first-hitting", "steps" or "threshold". */
const char *didcl_cli_mode_name(enum didcl_commit_mode m);

#endif /* DIDCL_CLI_GENOPTS_H */

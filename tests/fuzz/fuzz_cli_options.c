/*
 * fuzz_cli_options.c — the CLI's option parsers: the generation options that
 * `didcl generate` and `didcl eval` share (genopts.c, through getopt_long with their
 * table) and the range-checked value parsers (parse.c). Input: NUL-separated
 * arguments. Oracles: a bad command line exits 2 with exactly one stderr line
 * "didcl generate: ..."; an accepted one leaves values in range (samples, batch,
 * top-p, temperature, revision stages) and parses to the same options twice
 * (determinism); an integer accepted by didcl_cli_parse_long prints back as itself
 * (round trip) and lies in its range.
 */
#define _GNU_SOURCE /* getopt_long reset with optind = 0 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/genopts.h"
#include "fuzzutil.h"

#define MAX_ARGS 32

/* What the parsers print on stderr goes to a scratch file, read back after each run
 * (the stderr stream only: libFuzzer keeps reporting on file descriptor 2). */
static FILE *captured;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    captured = tmpfile();
    FUZZ_CHECK(captured != NULL, "tmpfile for stderr");
    stderr = captured;
    return 0;
}

static size_t take_stderr(char *buf, size_t size) {
    fflush(captured);
    long n = ftell(captured);
    rewind(captured);
    size_t got = n > 0 ? fread(buf, 1, size - 1, captured) : 0;
    buf[got] = '\0';
    rewind(captured);
    FUZZ_CHECK(ftruncate(fileno(captured), 0) == 0, "reset stderr");
    return got;
}

/* Parse argv as `didcl generate` does its shared options; the exit status (0 or 2). */
static int parse(int argc, char **argv, didcl_cli_genopts *g) {
    static const struct option opts[] = {DIDCL_CLI_GENOPTS_LONG, {NULL, 0, NULL, 0}};
    didcl_cli_genopts_init(g);
    optind = 0; /* GNU: re-initialise getopt */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return didcl_cli_bad_option("generate", c, argv);
        int rc = didcl_cli_genopts_parse(g, "generate", c, optarg);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return didcl_cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    int rc = didcl_cli_genopts_finish(g, "generate");
    return rc < 0 ? 0 : rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *in = malloc(size + 1), *argv[MAX_ARGS + 2], *argv2[MAX_ARGS + 2], err[4096];
    FUZZ_CHECK(in != NULL, "out of memory");
    memcpy(in, data, size);
    in[size] = '\0';
    int argc = 1;
    argv[0] = argv2[0] = "generate";
    for (size_t i = 0; i < size && argc <= MAX_ARGS; i += strlen(in + i) + 1)
        argv[argc++] = in + i;
    argv[argc] = NULL;
    memcpy(argv2, argv, sizeof argv);

    didcl_cli_genopts g, g2;
    int rc = parse(argc, argv, &g);
    size_t n = take_stderr(err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == 2, "exit status %d", rc);
    if (rc == 2) {
        FUZZ_CHECK(n > 0 && !strncmp(err, "didcl generate: ", 16) &&
                       strchr(err, '\n') == err + n - 1,
                   "usage error is not one 'didcl generate:' line: '%s'", err);
    } else {
        FUZZ_CHECK(n == 0, "accepted with output: %s", err);
        FUZZ_CHECK(g.samples >= 1 && g.batch >= 1 && g.batch <= DIDCL_MAX_BATCH,
                   "samples %d batch %d", g.samples, g.batch);
        FUZZ_CHECK(g.o.top_p > 0 && g.o.top_p <= 1 && g.o.temperature >= 0,
                   "top-p %g temperature %g", g.o.top_p, g.o.temperature);
        FUZZ_CHECK(g.o.n_revisions >= 0 && g.o.n_revisions <= DIDCL_MAX_REVISIONS,
                   "%d revisions", g.o.n_revisions);
        for (int i = 0; i < g.o.n_revisions; i++)
            FUZZ_CHECK(g.o.revisions[i].gamma >= 0 && g.o.revisions[i].gamma <= 1 &&
                           g.o.revisions[i].block >= 0,
                       "revision %d: gamma %g block %d", i, g.o.revisions[i].gamma,
                       g.o.revisions[i].block);
        int rc2 = parse(argc, argv2, &g2);
        take_stderr(err, sizeof err);
        FUZZ_CHECK(rc2 == 0 && g2.samples == g.samples && g2.o.seed == g.o.seed &&
                       g2.o.length == g.o.length && g2.o.n_revisions == g.o.n_revisions &&
                       g2.o.top_p == g.o.top_p && g2.o.temperature == g.o.temperature,
                   "second parse differs");
    }

    /* Each argument through the integer parser: round trip and range. */
    for (int i = 1; i < argc; i++) {
        long v;
        if (didcl_cli_parse_long("fuzz", "n", argv[i], -1000, 1L << 40, &v) == 0) {
            char back[32];
            snprintf(back, sizeof back, "%ld", v);
            FUZZ_CHECK(v >= -1000 && v <= 1L << 40, "%ld out of range", v);
            FUZZ_CHECK(strtol(back, NULL, 10) == v && strtol(argv[i], NULL, 10) == v,
                       "'%s' parsed as %ld", argv[i], v);
        }
        take_stderr(err, sizeof err);
    }
    free(in);
    return 0;
}

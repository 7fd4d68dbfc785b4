/*
 * main.c — entry point of the didcl CLI: dispatches to a subcommand.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    didcl_cli_fn fn;
    const char *help;
} commands[] = {
    {"generate", didcl_cli_generate, "generate text: BD3 draft + DiD revision (--prompt, --revise)"},
    {"eval", didcl_cli_eval, "Gen PPL, entropy, distinct-n of generated samples (--evaluator DIR)"},
    {"serve", didcl_cli_serve, "OpenAI-compatible HTTP server with streaming (--port, --model)"},
    {"bench", didcl_cli_bench, "tokens/s, ms per NFE and device time split of W1-W3 (--model DIR)"},
    {"warmup", didcl_cli_warmup, "fill the kernel cache for a device ahead of time (--device D)"},
    {"devices", didcl_cli_devices, "list OpenCL platforms and devices (--json)"},
    {"selftest", didcl_cli_selftest, "every kernel against the C reference on a device (--device)"},
    {"plugins", didcl_cli_plugins, "list remask plugins and why any fail to load (--json)"},
    {"inspect", didcl_cli_inspect, "check and describe a model directory (--model DIR)"},
    {"score", didcl_cli_score, "NELBO (BD3-LM) or NLL (GPT-2) of a text (--model DIR --ids)"},
    {"tokenize", didcl_cli_tokenize, "text to token ids and back (--tokenizer PATH, --decode)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: didcl <command> [options]   (didcl <command> --help for details)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nenvironment: DIDCL_DEVICE (device selector), DIDCL_CACHE_DIR (kernel cache, "
               "'off' disables), DIDCL_CL_DIR (load cl/*.cl from a directory),\n"
               "             DIDCL_PLUGIN_PATH (':'-separated remask plugin directories)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("didcl %s\n", didcl_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].fn(argc - 1, argv + 1);
            /* Output is buffered: a full disk or a closed pipe may show only now. */
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "didcl %s: cannot write to standard output: %s\n", argv[1],
                        strerror(errno));
                return rc ? rc : 1;
            }
            return rc;
        }
    fprintf(stderr, "didcl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

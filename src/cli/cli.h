/*
 * cli.h — the didcl command-line tool: one function per subcommand (src/cli/<name>.c)
 * and the few helpers they share. Only the CLI decides to exit; the library returns.
 */
#ifndef DIDCL_CLI_H
#define DIDCL_CLI_H

#include <stdio.h>

#include "didcl.h"

/* Each subcommand gets argv with argv[0] = its own name and returns the exit status. */
typedef int (*didcl_cli_fn)(int argc, char **argv);

int didcl_cli_devices(int argc, char **argv);
int didcl_cli_plugins(int argc, char **argv);
int didcl_cli_inspect(int argc, char **argv);
int didcl_cli_score(int argc, char **argv);
int didcl_cli_tokenize(int argc, char **argv);
int didcl_cli_generate(int argc, char **argv);
int didcl_cli_eval(int argc, char **argv);

/* All of f in a malloc'd buffer (not NUL-terminated), its size in *len; NULL on a read
 * error (errno set) or when memory runs out. */
char *didcl_cli_read_all(FILE *f, size_t *len);

/* Valid UTF-8 copy of s (n bytes; invalid bytes become U+FFFD); malloc'd,
 * NUL-terminated; NULL when memory runs out. */
char *didcl_cli_utf8_clean(const char *s, size_t n);

/* Print "didcl: <context>: <last library error>" to stderr and return 1. */
int didcl_cli_fail(const char *context);

/* Print "didcl <cmd>: <message>" for a usage error to stderr and return 2. */
int didcl_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Seconds on a monotonic-enough wall clock (timespec_get). */
double didcl_cli_now(void);

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 if invalid. */
size_t didcl_cli_utf8_len(const unsigned char *s, size_t n);

/* What the live displays of `didcl generate` (live.c) draw with. */
typedef struct didcl_cli_live {
    didcl_tokenizer_t tok;
    int32_t mask_id;
    int samples;                 /* of the run, for "sample i/N" */
    double t_sample;             /* when the current sample started */
} didcl_cli_live;

/* Redraw the --visual canvas (stdout, a terminal) for ev. */
void didcl_cli_visual_draw(const didcl_cli_live *lv, const didcl_event *ev);

/* Redraw the one-line progress bar (stderr, a terminal) for ev. */
void didcl_cli_progress_draw(const didcl_cli_live *lv, const didcl_event *ev);

#endif /* DIDCL_CLI_H */

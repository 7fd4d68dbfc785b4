/*
 * cli.h — the didcl command-line tool: one function per subcommand (src/cli/<name>.c)
 * and the few helpers they share. Only the CLI decides to exit; the library returns.
 */
#ifndef DIDCL_CLI_H
#define DIDCL_CLI_H

#include <jansson.h>
#include <stdint.h>
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
int didcl_cli_serve(int argc, char **argv);
int didcl_cli_warmup(int argc, char **argv);
int didcl_cli_bench(int argc, char **argv);
int didcl_cli_selftest(int argc, char **argv);

/* All of f in a malloc'd buffer (not NUL-terminated), its size in *len; NULL on a read
 * error (errno set) or when memory runs out. */
char *didcl_cli_read_all(FILE *f, size_t *len);

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

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 if invalid (json.c). */
size_t didcl_cli_utf8_len(const unsigned char *s, size_t n);

/* A NUL-terminated copy of s (n bytes) with every byte that is not valid UTF-8 replaced
 * by U+FFFD; malloc'd, NULL without memory (json.c). */
char *didcl_cli_utf8_clean(const char *s, size_t n);

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

/* ---- option values (parse.c) ----
 * Each parses s, the value of --opt of subcommand cmd, into *out and returns 0; or
 * prints "didcl CMD: --OPT: 'S' is not an integer in [LO, HI]" (a number in [LO, HI],
 * an unsigned 64-bit integer; with lo = -DBL_MAX and hi = DBL_MAX, "a finite number", for
 * callers that word their own range check) and returns -1 (the caller exits 2). Ranges are inclusive;
 * no sign, space, suffix, overflow or wrap-around gets through. */
int didcl_cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi,
                         long *out);
int didcl_cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                           double *out);
int didcl_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);

/* getopt_long's error return c ('?' or, with a ':'-led optstring, ':') as
 * "didcl CMD: unknown option '--x' (didcl CMD --help lists them)" or "--x needs a
 * value". Set opterr = 0 first so getopt prints nothing itself. Returns 2. */
int didcl_cli_bad_option(const char *cmd, int c, char **argv);

/* ---- JSON output (json.c) ---- */

/* s as a JSON string, bytes that are not UTF-8 replaced by U+FFFD; NULL without memory. */
json_t *didcl_cli_json_string(const char *s);
/* v as a JSON real, or null when it is NaN or infinite. */
json_t *didcl_cli_json_real(double v);
/* Print v (NULL: a failed json_pack) with json_dumps flags and take its reference;
 * 0, or 1 after a one-line "didcl CMD: ..." error. */
int didcl_cli_json_print(const char *cmd, json_t *v, size_t flags);

#endif /* DIDCL_CLI_H */

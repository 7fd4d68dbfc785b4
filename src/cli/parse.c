/*
 * parse.c — range-checked option values and getopt's error cases, shared by the
 * subcommands so every one rejects "-1", "1e9", "12abc" and wrap-around alike, with
 * one message format: "didcl CMD: --OPT: 'S' is not an integer in [LO, HI]".
 */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>

#include "cli/cli.h"

int didcl_cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi,
                         long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        didcl_cli_usage_error(cmd, "--%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int didcl_cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                           double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || !(v >= lo && v <= hi)) {
        if (lo == -DBL_MAX && hi == DBL_MAX) /* the caller checks its own range */
            didcl_cli_usage_error(cmd, "--%s: '%s' is not a finite number", opt, s);
        else
            didcl_cli_usage_error(cmd, "--%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int didcl_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    /* strtoull takes "-3" as 2^64 - 3: refuse any sign or leading space up front */
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!(s[0] >= '0' && s[0] <= '9') || *end || errno) {
        didcl_cli_usage_error(cmd, "--%s: '%s' is not an unsigned 64-bit integer", opt, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int didcl_cli_bad_option(const char *cmd, int c, char **argv) {
    const char *opt = argv[optind - 1];
    if (c == ':')
        return didcl_cli_usage_error(cmd, "%s needs a value", opt);
    if (optopt > ' ' && optopt < 127) /* an unknown short option, maybe inside a group */
        return didcl_cli_usage_error(cmd, "unknown option '-%c' (didcl %s --help lists them)",
                                     optopt, cmd);
    return didcl_cli_usage_error(cmd, "unknown option '%s' (didcl %s --help lists them)", opt, cmd);
}

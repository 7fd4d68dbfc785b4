/*
 * io.c — input and error-message helpers shared by the CLI subcommands (apart from
 * main.c, so that tests and fuzz targets link the parsers without the dispatcher).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

char *didcl_cli_read_all(FILE *f, size_t *len) {
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *more = realloc(buf, cap *= 2);
        if (!more)
            free(buf);
        buf = more;
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int didcl_cli_fail(const char *context) {
    const char *msg = didcl_last_error();
    if (context && *context)
        fprintf(stderr, "didcl: %s: %s\n", context, *msg ? msg : "unknown error");
    else
        fprintf(stderr, "didcl: %s\n", *msg ? msg : "unknown error");
    return 1;
}

int didcl_cli_usage_error(const char *cmd, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line whatever the user typed: control bytes of an echoed value as \xNN. */
    fprintf(stderr, "didcl %s: ", cmd);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    fputc('\n', stderr);
    return 2;
}

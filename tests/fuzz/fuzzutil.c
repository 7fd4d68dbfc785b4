/*
 * fuzzutil.c — scratch files and shared oracles of the fuzz targets (fuzzutil.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzutil.h"

static char dir[256];

void fuzz_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fuzz oracle (%s:%d): ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void cleanup(void) {
    char cmd[300];
    if (dir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd)
        (void)!system(cmd);
}

const char *fuzz_dir(void) {
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/didcl-fuzz-XXXXXX", t && *t ? t : "/tmp");
        FUZZ_CHECK(mkdtemp(dir) != NULL, "cannot create a scratch directory under %s",
                   t && *t ? t : "/tmp");
        atexit(cleanup);
    }
    return dir;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    static char paths[4][512];
    static const char *names[4];
    int slot = 0;
    while (slot < 3 && names[slot] && strcmp(names[slot], name))
        slot++;
    names[slot] = name;
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(paths[slot], "wb");
    FUZZ_CHECK(f && fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s",
               paths[slot]);
    return paths[slot];
}

void fuzz_check_error(didcl_status st, const char *what) {
    const char *msg = didcl_last_error();
    FUZZ_CHECK(st < 0, "status %d is not an error", (int)st);
    FUZZ_CHECK(strcmp(didcl_status_str(st), "DIDCL_ERR_UNKNOWN") != 0, "unknown status %d", (int)st);
    FUZZ_CHECK(msg[0] != '\0', "%s with an empty message", didcl_status_str(st));
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f, "message has control byte 0x%02x: %s", *p, msg);
    FUZZ_CHECK(!what || strstr(msg, what), "message does not name %s: %s", what, msg);
}

int fuzz_utf8_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                                  : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1fu : len == 3 ? c & 0x0fu : c & 0x07u;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

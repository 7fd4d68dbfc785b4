/*
 * json.c — JSON output of the subcommands. jansson refuses non-finite reals and strings
 * that are not UTF-8 (json_pack then returns NULL): these helpers turn a NaN or Inf into
 * null and replace invalid bytes (a non-UTF-8 path, a driver's device name) with U+FFFD,
 * and the printer checks every step instead of handing NULL to puts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

size_t didcl_cli_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *didcl_cli_utf8_clean(const char *s, size_t n) {
    char *out = malloc(3 * n + 1), *o = out; /* each bad byte becomes the 3 of U+FFFD */
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t l = didcl_cli_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        }
    }
    *o = '\0';
    return out;
}

json_t *didcl_cli_json_string(const char *s) {
    char *clean = didcl_cli_utf8_clean(s ? s : "", s ? strlen(s) : 0);
    json_t *v = clean ? json_string(clean) : NULL;
    free(clean);
    return v;
}

json_t *didcl_cli_json_real(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int didcl_cli_json_print(const char *cmd, json_t *v, size_t flags) {
    char *s = v ? json_dumps(v, flags) : NULL;
    json_decref(v);
    if (!s) {
        fprintf(stderr, "didcl %s: cannot build the JSON output (out of memory)\n", cmd);
        return 1;
    }
    int ok = puts(s) >= 0;
    free(s);
    if (!ok) {
        fprintf(stderr, "didcl %s: cannot write the JSON output\n", cmd);
        return 1;
    }
    return 0;
}

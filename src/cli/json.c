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

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

json_t *didcl_cli_json_string(const char *s) {
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u), o = 0;
    char *buf = malloc(3 * n + 1); /* each bad byte becomes the 3 bytes of U+FFFD */
    if (!buf)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(u + i, n - i);
        if (len) {
            memcpy(buf + o, u + i, len);
            o += len;
            i += len;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    json_t *v = json_stringn(buf, o);
    free(buf);
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

/*
 * fuzzutil.h — what the libFuzzer targets of tests/fuzz/ share: a private scratch
 * directory, input written to a file there (the loaders take paths), and the oracles
 * beyond "no crash" that every target applies. A violated oracle aborts with a message,
 * which libFuzzer reports as a crash with the input that caused it.
 * Built only by tools/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#ifndef DIDCL_FUZZUTIL_H
#define DIDCL_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "didcl.h"

/* Abort with "fuzz oracle: <message>" when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond))                                                                     \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)

void fuzz_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4), noreturn))
#endif
    ;

/* The process's scratch directory (created on first use, removed at exit). */
const char *fuzz_dir(void);

/* Write data to fuzz_dir()/name and return the path (static storage per name slot). */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);

/* The oracle of every failing library call: st is an error, and didcl_last_error() is
 * one non-empty line (no control characters) that names `what` when it is not NULL. */
void fuzz_check_error(didcl_status st, const char *what);

/* 1 when s[0..n) is valid UTF-8 (an independent check, not the library's). */
int fuzz_utf8_valid(const uint8_t *s, size_t n);

#endif /* DIDCL_FUZZUTIL_H */

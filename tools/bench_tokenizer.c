/*
 * bench_tokenizer.c — throughput of the byte-level BPE tokenizer: encodes N MB of real
 * text (FILE repeated until N MB) with a cold and then a warm word cache, decodes it back,
 * checks the round trip, and prints MB/s and tokens/s. When a Python with Hugging Face
 * `tokenizers` is at hand (--python, default python3), tools/bench_tokenizer_ref.py
 * encodes the same text for a reference figure and its ids are compared with ours.
 * Figures only: nothing here is asserted by the test suite.
 *
 *   tools/bench-tokenizer [--tokenizer PATH] [--mb N] [--python PY|--no-python] FILE
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "didcl.h"

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FILE repeated until mb megabytes, cut back to a whole UTF-8 character. */
static char *load_text(const char *path, double mb, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long fsize = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t want = (size_t)(mb * 1e6);
    char *buf = fsize > 0 ? malloc(want + 1) : NULL;
    size_t n = 0;
    while (buf && n < want) {
        size_t got = fread(buf + n, 1, want - n, f);
        n += got;
        if (got == 0)
            rewind(f);
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: empty or out of memory\n", path);
        return NULL;
    }
    if (n == want && n > 0) {
        while (n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0 && ((unsigned char)buf[n - 1] & 0x80))
            n--; /* the lead byte of the cut character */
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void report(const char *what, double secs, size_t bytes, size_t tokens) {
    printf("%-22s %8.3f s  %8.2f MB/s  %10.0f tokens/s\n", what, secs, (double)bytes / 1e6 / secs,
           (double)tokens / secs);
}

/* Encode with tools/bench_tokenizer_ref.py; compare its ids with ours. */
static void python_reference(const char *py, const char *tok_path, const char *text, size_t len,
                             const int32_t *ids, size_t n_ids) {
    char check[1024];
    snprintf(check, sizeof check, "%s -c 'import tokenizers' >/dev/null 2>&1", py);
    if (system(check) != 0) {
        printf("reference: skipped (%s cannot import tokenizers)\n", py);
        return;
    }
    char dir[] = "/tmp/didcl-bench-XXXXXX";
    if (!mkdtemp(dir))
        return;
    char tpath[64], ipath[64], cmd[4096];
    snprintf(tpath, sizeof tpath, "%s/text", dir);
    snprintf(ipath, sizeof ipath, "%s/ids", dir);
    FILE *f = fopen(tpath, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "%s: cannot write\n", tpath);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s %s/tools/bench_tokenizer_ref.py '%s' %s %s", py, BENCH_SRCDIR,
             tok_path, tpath, ipath);
    FILE *p = popen(cmd, "r");
    double secs = 0;
    size_t n_ref = 0;
    if (!p || fscanf(p, "%lf %zu", &secs, &n_ref) != 2) {
        printf("reference: %s failed\n", cmd);
        if (p)
            pclose(p);
    } else {
        pclose(p);
        report("HF tokenizers encode", secs, len, n_ref);
        f = fopen(ipath, "rb");
        int32_t *ref = malloc((n_ref + 1) * sizeof *ref);
        size_t got = f && ref ? fread(ref, sizeof *ref, n_ref, f) : 0;
        size_t i = 0;
        while (i < n_ids && i < got && ids[i] == ref[i])
            i++;
        if (got == n_ref && n_ref == n_ids && i == n_ids)
            printf("reference ids: identical (%zu tokens)\n", n_ids);
        else
            printf("reference ids: DIFFER at token %zu (ours %zu tokens, reference %zu)\n", i,
                   n_ids, n_ref);
        if (f)
            fclose(f);
        free(ref);
    }
    unlink(tpath);
    unlink(ipath);
    rmdir(dir);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"tokenizer", required_argument, NULL, 't'},
                                         {"mb", required_argument, NULL, 'm'},
                                         {"python", required_argument, NULL, 'p'},
                                         {"no-python", no_argument, NULL, 'P'},
                                         {NULL, 0, NULL, 0}};
    const char *tok_path = BENCH_SRCDIR "/tests/data/gpt2", *py = "python3";
    double mb = 10;
    int c;
    while ((c = getopt_long(argc, argv, "t:m:", opts, NULL)) != -1) {
        if (c == 't')
            tok_path = optarg;
        else if (c == 'm')
            mb = strtod(optarg, NULL);
        else if (c == 'p')
            py = optarg;
        else if (c == 'P')
            py = NULL;
        else
            return 2;
    }
    if (optind + 1 != argc || !(mb > 0)) {
        fprintf(stderr, "usage: bench-tokenizer [--tokenizer PATH] [--mb N] [--python PY | "
                        "--no-python] FILE\n");
        return 2;
    }
    size_t len;
    char *text = load_text(argv[optind], mb, &len);
    if (!text)
        return 1;

    didcl_tokenizer_t tok;
    double t0 = now();
    if (didcl_tokenizer_load(tok_path, &tok) != DIDCL_OK) {
        fprintf(stderr, "%s\n", didcl_last_error());
        return 1;
    }
    printf("tokenizer %s: %u ids, loaded in %.3f s\n", didcl_tokenizer_source(tok),
           didcl_tokenizer_vocab_size(tok), now() - t0);
    printf("text: %.2f MB from %s\n", (double)len / 1e6, argv[optind]);

    int32_t *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0;
    char *back = NULL;
    size_t back_len = 0;
    t0 = now();
    didcl_status st = didcl_tokenizer_encode(tok, text, len, 0, &ids, &n);
    double t_cold = now() - t0;
    t0 = now();
    if (st == DIDCL_OK)
        st = didcl_tokenizer_encode(tok, text, len, 0, &ids2, &n2);
    double t_warm = now() - t0;
    t0 = now();
    if (st == DIDCL_OK)
        st = didcl_tokenizer_decode(tok, ids, n, &back, &back_len);
    double t_dec = now() - t0;
    if (st != DIDCL_OK) {
        fprintf(stderr, "%s\n", didcl_last_error());
        return 1;
    }
    report("encode (cold cache)", t_cold, len, n);
    report("encode (warm cache)", t_warm, len, n2);
    report("decode", t_dec, len, n);
    int same = n == n2 && !memcmp(ids, ids2, n * sizeof *ids);
    printf("round trip: %s; warm ids %s\n",
           back_len == len && !memcmp(back, text, len) ? "exact" : "DIFFERS",
           same ? "identical" : "DIFFER");
    if (py)
        python_reference(py, tok_path, text, len, ids, n);
    free(ids);
    free(ids2);
    free(back);
    free(text);
    didcl_tokenizer_free(tok);
    return 0;
}

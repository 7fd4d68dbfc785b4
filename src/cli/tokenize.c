/*
 * tokenize.c — `didcl tokenize`: UTF-8 text on stdin → ids on stdout (one line), or with
 * --decode, whitespace-separated ids on stdin → the exact bytes they stand for. All the
 * input is converted before anything is printed: bad input gives one error line, exit
 * status 1 and no partial output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: didcl tokenize (--tokenizer PATH | --model DIR | --vocab FILE --merges FILE)\n"
    "                      [--decode] [--no-special]\n"
    "Encode UTF-8 text from stdin to token ids (one line, space-separated), or with --decode\n"
    "turn whitespace-separated ids from stdin back into text.\n"
    "  --tokenizer PATH  tokenizer.json, or a directory holding tokenizer.json,\n"
    "                    vocab.json + merges.txt, or encoder.json + vocab.bpe\n"
    "  --model DIR       use the tokenizer inside a model directory\n"
    "  --vocab/--merges  an explicit vocab.json (encoder.json) and merges.txt (vocab.bpe)\n"
    "  --no-special      treat special tokens such as <|endoftext|> in the text as text\n";

static int encode(didcl_tokenizer_t tok, const char *in, size_t len, uint32_t flags) {
    int32_t *ids;
    size_t n;
    if (didcl_tokenizer_encode(tok, in, len, flags, &ids, &n) != DIDCL_OK)
        return didcl_cli_fail("stdin");
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    free(ids);
    return 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int decode(didcl_tokenizer_t tok, char *in, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        if (is_space(in[i])) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < len && !is_space(in[end]))
            end++;
        char word[32], *stop;
        size_t wl = end - i < sizeof word - 1 ? end - i : sizeof word - 1;
        memcpy(word, in + i, wl);
        word[wl] = '\0';
        errno = 0;
        long v = strtol(word, &stop, 10);
        if (end - i >= sizeof word || stop != word + wl || stop == word || errno || v < INT32_MIN ||
            v > INT32_MAX) {
            fprintf(stderr, "didcl: stdin: '%s' at byte offset %zu is not a token id, expected "
                            "integers\n", word, i);
            rc = 1;
        } else if (n == cap && !(ids = realloc(ids, (cap = cap ? 2 * cap : 1024) * sizeof *ids))) {
            fprintf(stderr, "didcl: stdin: out of memory\n");
            rc = 1;
        } else
            ids[n++] = (int32_t)v;
        i = end;
    }
    char *text = NULL;
    size_t tlen = 0;
    if (rc == 0 && didcl_tokenizer_decode(tok, ids, n, &text, &tlen) != DIDCL_OK)
        rc = didcl_cli_fail("stdin");
    if (rc == 0)
        fwrite(text, 1, tlen, stdout);
    free(text);
    free(ids);
    return rc;
}

int didcl_cli_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"tokenizer", required_argument, NULL, 't'}, {"model", required_argument, NULL, 'm'},
        {"vocab", required_argument, NULL, 'V'},     {"merges", required_argument, NULL, 'M'},
        {"decode", no_argument, NULL, 'd'},          {"no-special", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    const char *path = NULL, *vocab = NULL, *merges = NULL;
    int dec = 0, c;
    uint32_t flags = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":t:m:dh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
        case 'm': path = optarg; break;
        case 'V': vocab = optarg; break;
        case 'M': merges = optarg; break;
        case 'd': dec = 1; break;
        case 'n': flags |= DIDCL_TOKENIZE_NO_SPECIAL; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: return didcl_cli_bad_option("tokenize", c, argv);
        }
    }
    if (optind < argc)
        return didcl_cli_usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
    if (!path == !(vocab || merges) || (!path && !(vocab && merges)))
        return didcl_cli_usage_error("tokenize",
                                     "give --tokenizer PATH, --model DIR, or --vocab and --merges");

    didcl_tokenizer_t tok;
    didcl_status st = path ? didcl_tokenizer_load(path, &tok)
                           : didcl_tokenizer_load_pair(vocab, merges, &tok);
    if (st != DIDCL_OK)
        return didcl_cli_fail(NULL);
    size_t len;
    char *in = didcl_cli_read_all(stdin, &len);
    int rc;
    if (!in) {
        fprintf(stderr, "didcl: stdin: cannot read: %s\n", strerror(errno));
        rc = 1;
    } else
        rc = dec ? decode(tok, in, len) : encode(tok, in, len, flags);
    free(in);
    didcl_tokenizer_free(tok);
    if (rc == 0 && fflush(stdout) != 0) {
        fprintf(stderr, "didcl: stdout: cannot write: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

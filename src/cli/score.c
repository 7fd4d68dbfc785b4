/*
 * score.c — `didcl score --model DIR [options] < input`: the likelihood of a text.
 * BD3-LM: the NELBO per token (nats) and the perplexity bound exp(NELBO), Monte-Carlo
 * over noise draws (t ~ U[eps, 1] per block, tokens masked with probability t) with the
 * standard error over the draws, or one fixed draw (--t T --seed S: every block at t,
 * the mask a pure function of the seed; --dump-mask writes it for tools/reference.py).
 * GPT-2: the exact NLL per token and its perplexity.
 * Input: UTF-8 text, encoded with --tokenizer PATH or the tokenizer files of the model
 * directory; or, with --ids, token ids separated by white space or commas.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: didcl score --model DIR [options] < text   (or --ids < ids)\n"
            "  --model DIR      model directory (config.json + safetensors)\n"
            "  --tokenizer P    tokenizer.json or a directory (default: the model directory)\n"
            "  --ids            read token ids (white space or commas) instead of text\n"
            "  --bos            put the model's BOS token before the text\n"
            "  --no-special     treat special tokens such as <|endoftext|> in the text as text\n"
            "  --block B        BD3-LM block size (default: the model's)\n"
            "  --samples N      BD3-LM noise draws (default 16)\n"
            "  --seed S         seed of the draws (default 0)\n"
            "  --t T            fixed-t mode: every block at t, one draw unless --samples\n"
            "  --eps E          lower bound of t (default 0.001)\n"
            "  --dump-mask F    write the first draw's mask (one byte 0/1 per token) to F\n"
            "  --device D       OpenCL device (index P:D or a name substring)\n"
            "  --half           store the large weights as half\n"
            "  --json           print JSON\n");
}

/* Text on stdin, encoded with the tokenizer at path (flags: DIDCL_TOKENIZE_*).
 * 0, -1 (no memory), -2 (reported). */
static int read_text(const char *path, uint32_t flags, int32_t **out, uint32_t *n) {
    didcl_tokenizer_t tok;
    if (didcl_tokenizer_load(path, &tok) != DIDCL_OK) {
        fprintf(stderr, "didcl score: %s\n  (text needs a tokenizer: give --tokenizer PATH, "
                        "or pass token ids with --ids)\n", didcl_last_error());
        return -2;
    }
    size_t len = 0, n_ids = 0;
    char *text = didcl_cli_read_all(stdin, &len);
    if (!text) {
        didcl_tokenizer_free(tok);
        fprintf(stderr, "didcl score: cannot read stdin\n");
        return -2;
    }
    int32_t *ids = NULL;
    didcl_status st = didcl_tokenizer_encode(tok, text, len, flags, &ids, &n_ids);
    free(text);
    didcl_tokenizer_free(tok);
    if (st != DIDCL_OK) {
        didcl_cli_fail("stdin");
        return -2;
    }
    *out = ids;
    *n = (uint32_t)n_ids;
    return 0;
}

/* Token ids from f into a malloc'd array. */
static int read_ids(FILE *f, int32_t **out, uint32_t *n) {
    size_t cap = 1024, len = 0;
    int32_t *a = malloc(cap * sizeof *a);
    char tok[32];
    int c, k = 0;
    long line = 1;
    if (!a)
        return -1;
    for (;;) {
        c = fgetc(f);
        if (c != EOF && (c == '-' || (c >= '0' && c <= '9')) && k < 31) {
            tok[k++] = (char)c;
            continue;
        }
        if (k) {
            tok[k] = '\0';
            char *end;
            errno = 0;
            long v = strtol(tok, &end, 10);
            if (*end || errno || v < 0 || v > INT32_MAX) {
                fprintf(stderr, "didcl score: stdin line %ld: '%s' is not a token id\n", line, tok);
                free(a);
                return -2;
            }
            if (len == cap) {
                int32_t *b = realloc(a, (cap *= 2) * sizeof *a);
                if (!b) {
                    free(a);
                    return -1;
                }
                a = b;
            }
            a[len++] = (int32_t)v;
            k = 0;
        }
        if (c == EOF)
            break;
        if (c == '\n')
            line++;
        if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',')) {
            fprintf(stderr, "didcl score: stdin line %ld: unexpected character '%c', expected "
                            "token ids\n", line, c);
            free(a);
            return -2;
        }
    }
    *out = a;
    *n = (uint32_t)len;
    return 0;
}

int didcl_cli_score(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},   {"ids", no_argument, NULL, 'i'},
        {"block", required_argument, NULL, 'b'},   {"samples", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},    {"t", required_argument, NULL, 't'},
        {"eps", required_argument, NULL, 'e'},     {"dump-mask", required_argument, NULL, 'D'},
        {"device", required_argument, NULL, 'd'},  {"half", no_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {"tokenizer", required_argument, NULL, 'T'}, {"bos", no_argument, NULL, 'B'},
        {"no-special", no_argument, NULL, 'N'},    {NULL, 0, NULL, 0}};
    const char *model = NULL, *device = NULL, *dump = NULL, *tokenizer = NULL;
    int ids_in = 0, json = 0, half = 0, samples_set = 0, bos = 0;
    uint32_t flags = 0;
    didcl_score_options so = {0, 16, 0, 0.0, 0.0};
    int c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i': ids_in = 1; break;
        case 'd': device = optarg; break;
        case 'D': dump = optarg; break;
        case 'T': tokenizer = optarg; break;
        case 'B': bos = 1; break;
        case 'H': half = 1; break;
        case 'j': json = 1; break;
        case 'N': flags |= DIDCL_TOKENIZE_NO_SPECIAL; break;
        case 'b':
            if (didcl_cli_parse_long("score", "block", optarg, 1, INT32_MAX, &v))
                return 2;
            so.block = (uint32_t)v;
            break;
        case 'n': /* each draw is a forward pass per window: 2^20 is already days */
            if (didcl_cli_parse_long("score", "samples", optarg, 1, 1 << 20, &v))
                return 2;
            so.samples = (uint32_t)v;
            samples_set = 1;
            break;
        case 's':
            if (didcl_cli_parse_u64("score", "seed", optarg, &so.seed))
                return 2;
            break;
        case 't':
            if (didcl_cli_parse_double("score", "t", optarg, 0.0, 1.0, &so.t))
                return 2;
            if (!(so.t > 0))
                return didcl_cli_usage_error("score", "--t: '%s' is not a number in (0, 1]", optarg);
            break;
        case 'e':
            if (didcl_cli_parse_double("score", "eps", optarg, 0.0, 1.0, &so.eps))
                return 2;
            if (!(so.eps > 0 && so.eps < 1))
                return didcl_cli_usage_error("score", "--eps: '%s' is not a number in (0, 1)", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: return didcl_cli_bad_option("score", c, argv);
        }
    }
    if (!model)
        return didcl_cli_usage_error("score", "--model DIR is required");
    if (optind < argc)
        return didcl_cli_usage_error("score", "unexpected argument '%s'", argv[optind]);
    if (ids_in && tokenizer)
        return didcl_cli_usage_error("score", "--ids and --tokenizer exclude each other");
    if (ids_in && flags)
        return didcl_cli_usage_error("score", "--no-special applies to text, not to --ids");
    if (so.t > 0 && !samples_set)
        so.samples = 1;

    int32_t *ids = NULL;
    uint32_t n = 0;
    int r = ids_in ? read_ids(stdin, &ids, &n) : read_text(tokenizer ? tokenizer : model, flags, &ids, &n);
    if (r == -1) {
        fprintf(stderr, "didcl score: out of memory reading stdin\n");
        return 1;
    }
    if (r)
        return 1;
    if (n == 0) {
        free(ids);
        fprintf(stderr, "didcl score: no tokens on stdin\n");
        return 1;
    }

    didcl_model_files_t files = NULL;
    didcl_runtime_t rt = NULL;
    didcl_model_t m = NULL;
    int rc = 1;
    if (didcl_model_files_open(model, &files) != DIDCL_OK) {
        rc = didcl_cli_fail(NULL);
        goto done;
    }
    const didcl_model_config *cfg = didcl_model_files_config(files);
    const int bd3 = cfg->arch == DIDCL_ARCH_BD3LM;
    if (bos) {
        int32_t *b = realloc(ids, ((size_t)n + 1) * sizeof *ids);
        if (!b) {
            fprintf(stderr, "didcl score: out of memory\n");
            goto done;
        }
        ids = b;
        memmove(ids + 1, ids, (size_t)n * sizeof *ids);
        ids[0] = cfg->bos_token_id;
        n++;
    }
    for (uint32_t i = 0; i < n; i++)
        if ((uint32_t)ids[i] >= cfg->vocab_size) {
            fprintf(stderr, "didcl score: token %u of stdin is %d, expected 0..%u (vocab of %s)\n",
                    i, (int)ids[i], cfg->vocab_size - 1, model);
            goto done;
        } else if (ids[i] == cfg->mask_token_id) {
            /* [MASK] in a clean text has probability 0: the NELBO would be infinite */
            fprintf(stderr, "didcl score: token %u of stdin (id %d) is the mask token, which a "
                    "text to score cannot hold%s\n", i, (int)ids[i],
                    ids_in ? "" : " (--no-special reads '[MASK]' as plain text)");
            goto done;
        }
    if (didcl_runtime_init(device, &rt) != DIDCL_OK) {
        rc = didcl_cli_fail("device");
        goto done;
    }
    didcl_model_options mo = {half, n < cfg->context_length ? n : cfg->context_length, 0};
    if (!bd3 && mo.max_tokens < 2)
        mo.max_tokens = 2 < cfg->context_length ? 2 : cfg->context_length;
    if (didcl_model_open(rt, files, &mo, &m) != DIDCL_OK) {
        rc = didcl_cli_fail(model);
        goto done;
    }
    const uint32_t block = so.block ? so.block : cfg->block_size;
    if (dump && bd3) {
        const uint32_t nb = didcl_score_blocks(n, mo.max_tokens, block);
        uint8_t *mask = malloc(n);
        double *tb = malloc(nb * sizeof *tb);
        FILE *f = mask && tb ? fopen(dump, "wb") : NULL;
        if (f) {
            didcl_score_draw(n, mo.max_tokens, block, so.seed, 0, so.t, so.eps > 0 ? so.eps : 1e-3,
                             mask, tb);
            if (fwrite(mask, 1, n, f) != n) {
                fclose(f);
                f = NULL;
            }
        }
        free(mask);
        free(tb);
        if (!f || fclose(f) != 0) {
            fprintf(stderr, "didcl score: --dump-mask %s: cannot write the file\n", dump);
            goto done;
        }
    }
    didcl_score_result res;
    if (didcl_score(m, ids, n, &so, &res) != DIDCL_OK) {
        rc = didcl_cli_fail("score");
        goto done;
    }
    if (json) {
        json_t *o = json_pack("{s:o, s:s, s:i, s:o, s:o, s:o, s:i, s:i}", "model",
                              didcl_cli_json_string(model), "arch", didcl_arch_str(cfg->arch),
                              "tokens", (int)res.tokens, "nll", didcl_cli_json_real(res.nll), "se",
                              didcl_cli_json_real(res.se), "ppl", didcl_cli_json_real(res.ppl),
                              "samples", (int)res.samples, "windows", (int)res.windows);
        if (o && bd3 &&
            (json_object_set_new(o, "block", json_integer(block)) ||
             json_object_set_new(o, "t", so.t > 0 ? json_real(so.t) : json_null()) ||
             json_object_set_new(o, "seed", json_integer((json_int_t)so.seed)))) {
            json_decref(o);
            o = NULL;
        }
        if (didcl_cli_json_print("score", o, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                                 JSON_REAL_PRECISION(10)))
            goto done;
    } else if (bd3) {
        printf("model:       %s (bd3lm, block %u)\n", model, block);
        printf("tokens:      %u in %u window(s)\n", res.tokens, res.windows);
        if (so.t > 0)
            printf("draws:       %u, t = %g for every block, seed %llu\n", res.samples, so.t,
                   (unsigned long long)so.seed);
        else
            printf("draws:       %u, t ~ U[%g, 1] per block, seed %llu\n", res.samples,
                   so.eps > 0 ? so.eps : 1e-3, (unsigned long long)so.seed);
        printf("NELBO:       %.6f nats/token (standard error %.6f)\n", res.nll, res.se);
        printf("PPL bound:   %.4f\n", res.ppl);
    } else {
        printf("model:       %s (gpt2)\n", model);
        printf("tokens:      %u predicted in %u window(s)\n", res.tokens, res.windows);
        printf("NLL:         %.6f nats/token\n", res.nll);
        printf("PPL:         %.4f\n", res.ppl);
    }
    rc = 0;
done:
    didcl_model_free(m);
    didcl_runtime_free(rt);
    didcl_model_files_free(files);
    free(ids);
    return rc;
}

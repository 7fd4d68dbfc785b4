/*
 * generate.c — text from a block-diffusion LM through libdidcl's public API alone: a
 * draft, then one DiD revision of the least confident quarter. The draft streams to
 * stderr block by block; the revised text goes to stdout.
 *
 *   cc -std=c11 generate.c $(pkg-config --cflags --libs didcl) -o generate
 *   ./generate [-m MODEL_DIR] [-r REMASK] [-n LENGTH] [-s SEED] "Once upon a time"
 */
#define _POSIX_C_SOURCE 200809L /* getopt */
#include <didcl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Print each draft block as it finishes (stage 1), token by token. */
static int on_event(const didcl_event *ev, void *user) {
    if (ev->kind == DIDCL_EVENT_BLOCK_DONE && ev->stage == 1)
        for (int32_t p = ev->start > ev->n_prompt ? ev->start : ev->n_prompt + 1;
             p < ev->start + ev->len; p++) {
            size_t len;
            const char *b = didcl_tokenizer_token_bytes(user, ev->seq[p], &len);
            fwrite(b ? b : "", 1, b ? len : 0, stderr);
        }
    return 0; /* nonzero would cancel the run */
}

int main(int argc, char **argv) {
    didcl_session_params sp = didcl_session_default_params(); /* default model, device */
    didcl_request rq = didcl_request_default();
    rq.options.n_revisions = 1;
    rq.options.revisions[0].gamma = 0.25; /* global revision (block 0 = whole sequence) */
    for (int c; (c = getopt(argc, argv, "m:r:n:s:")) != -1;) {
        switch (c) {
        case 'm': sp.model = optarg; break;
        case 'r': rq.remask = optarg; break;
        case 'n': rq.options.length = atoi(optarg); break;
        case 's': rq.options.seed = strtoull(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    rq.prompt = optind < argc ? argv[optind] : NULL;
    didcl_session_t s;
    if (didcl_session_open(&sp, &s) != DIDCL_OK) {
        fprintf(stderr, "generate: %s\n", didcl_last_error());
        return 1;
    }
    didcl_results *res;
    if (didcl_session_generate(s, &rq, 1, on_event, didcl_session_tokenizer(s), &res) != DIDCL_OK) {
        fprintf(stderr, "generate: %s\n", didcl_session_error(s));
        didcl_session_free(s);
        return 1;
    }
    const didcl_sample *x = &res->samples[0];
    fprintf(stderr, "\n[draft %d NFE, revision remasked %d]\n", x->stages[0].nfe,
            x->stages[1].remasked);
    fwrite(x->text, 1, x->text_len, stdout);
    putchar('\n');
    didcl_results_free(res);
    didcl_session_free(s);
    return 0;
}

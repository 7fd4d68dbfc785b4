/*
 * check_session.c — the public session API (didcl_session_*), through include/didcl.h
 * only, on a tiny random BD3-LM with the project's tokenizer: opening and its refusals,
 * checking requests, generating one request, samples in lockstep or one after another,
 * several requests in one call, events and their order, cancellation, per-session error
 * messages, and a model that grows when a later request needs more.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "didcl.h"
#include "testutil.h"

enum { LENGTH = 32 };

static char *dir;

static void setup(void) {
    testutil_skip_without_device();
    dir = testutil_tmpdir();
    testutil_model m = testutil_tiny_bd3lm();
    m.vocab = 8192;
    m.length = LENGTH;
    ck_assert_int_eq(testutil_write_generator(dir, &m), 0);
}

static void teardown(void) {
    testutil_rmtree(dir);
    free(dir);
}

static didcl_session_t open_session(uint32_t max_batch) {
    didcl_session_params p = didcl_session_default_params();
    p.model = dir;
    p.max_batch = max_batch;
    didcl_session_t s = NULL;
    ck_assert_msg(didcl_session_open(&p, &s) == DIDCL_OK, "%s", didcl_last_error());
    return s;
}

static didcl_request request(uint64_t seed, uint32_t samples) {
    didcl_request r = didcl_request_default();
    r.prompt = "Hello world";
    r.options.seed = seed;
    r.samples = samples;
    return r;
}

static void assert_same_sample(const didcl_sample *a, const didcl_sample *b) {
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(a->n_ids, b->n_ids);
    ck_assert_mem_eq(a->tokens, b->tokens, sizeof *a->tokens * (size_t)a->n);
    ck_assert_mem_eq(a->trace, b->trace, sizeof *a->trace * (size_t)a->n);
    ck_assert_mem_eq(a->draft, b->draft, sizeof *a->draft * (size_t)a->n);
    ck_assert_mem_eq(a->remasked, b->remasked, sizeof *a->remasked * (size_t)a->n);
    ck_assert_uint_eq(a->text_len, b->text_len);
    ck_assert_mem_eq(a->text, b->text, a->text_len);
    for (int32_t k = 0; k < a->n_stages; k++) {
        ck_assert_int_eq(a->stages[k].nfe, b->stages[k].nfe);
        ck_assert_int_eq(a->stages[k].remasked, b->stages[k].remasked);
    }
}

START_TEST(test_open_refusals) {
    didcl_session_params p = didcl_session_default_params();
    didcl_session_t s = (didcl_session_t)0x1;
    p.model = "/nonexistent/didcl-model";
    ck_assert_int_ne(didcl_session_open(&p, &s), DIDCL_OK);
    ck_assert_ptr_eq(s, (didcl_session_t)0x1); /* untouched */
    ck_assert_ptr_nonnull(strstr(didcl_last_error(), "/nonexistent/didcl-model"));
    ck_assert_int_eq(didcl_session_open(&p, NULL), DIDCL_ERR_INVALID_ARG);
    p.model = dir;
    p.max_batch = DIDCL_MAX_BATCH + 1;
    ck_assert_int_eq(didcl_session_open(&p, &s), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_last_error(), "max_batch"));
    /* a GPT-2 checkpoint is not a diffusion model */
    char *gdir = testutil_tmpdir();
    testutil_model g = testutil_tiny_gpt2();
    ck_assert_int_eq(testutil_write_model(gdir, &g, 1), 0);
    p = didcl_session_default_params();
    p.model = gdir;
    ck_assert_int_eq(didcl_session_open(&p, &s), DIDCL_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(didcl_last_error(), "expected a bd3lm"));
    testutil_rmtree(gdir);
    free(gdir);
    /* NULL handles are refused or harmless */
    ck_assert_str_eq(didcl_session_error(NULL), "");
    ck_assert_ptr_null(didcl_session_config(NULL));
    didcl_results *r = NULL;
    ck_assert_int_eq(didcl_session_generate(NULL, NULL, 0, NULL, NULL, &r),
                     DIDCL_ERR_INVALID_ARG);
    didcl_session_free(NULL);
    didcl_results_free(NULL);
}
END_TEST

START_TEST(test_check_and_defaults) {
    didcl_session_t s = open_session(16);
    didcl_request r = request(1, 1);
    didcl_gen_options o;
    ck_assert_int_eq(didcl_session_check(s, &r, &o), DIDCL_OK);
    ck_assert_int_eq(o.length, LENGTH);            /* 0: the model's */
    ck_assert_int_eq(o.block, 4);                  /* the config's block_size */
    ck_assert_str_eq(didcl_session_error(s), "");
    r.options.length = 64;
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "length 64 exceeds the model's length 32"));
    r = request(1, 1);
    r.options.block = 5;
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "block 5 does not divide length 32"));
    r = request(1, 1);
    r.options.n_revisions = 1;
    r.options.revisions[0] = (didcl_revision){0.25, 5};
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "revise 0.25@5"));
    r = request(1, 1);
    r.options.length = 8;
    r.prompt = "one two three four five six seven eight";
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "too long for length 8"));
    r = request(1, 1);
    r.prompt = "[MASK]";
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "is the mask token"));
    r.flags = DIDCL_REQUEST_NO_SPECIAL; /* then it is plain text */
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_OK);
    r = request(1, 1);
    const int32_t bad_ids[] = {5, 9999};
    r.prompt = NULL;
    r.prompt_ids = bad_ids;
    r.n_prompt_ids = 2;
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "outside the model's vocabulary"));
    r = request(1, 1);
    r.remask = "nosuchplugin";
    ck_assert_int_eq(didcl_session_check(s, &r, NULL), DIDCL_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "remask nosuchplugin"));
    /* nothing ran: generate refuses the same request before any work */
    didcl_results *res = (didcl_results *)0x1;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &res), DIDCL_ERR_PLUGIN);
    ck_assert_ptr_eq(res, (didcl_results *)0x1);
    didcl_session_free(s);
}
END_TEST

/* Errors stay with their session. */
START_TEST(test_errors_per_session) {
    didcl_session_t a = open_session(16), b = open_session(16);
    didcl_request r = request(1, 1);
    r.options.length = 1000;
    ck_assert_int_eq(didcl_session_check(a, &r, NULL), DIDCL_ERR_INVALID_ARG);
    r.options.length = 0;
    didcl_results *res;
    ck_assert_int_eq(didcl_session_generate(b, &r, 1, NULL, NULL, &res), DIDCL_OK);
    ck_assert_str_eq(didcl_session_error(b), "");
    ck_assert_ptr_nonnull(strstr(didcl_session_error(a), "length 1000"));
    didcl_results_free(res);
    didcl_session_free(a);
    didcl_session_free(b);
}
END_TEST

START_TEST(test_generate_one) {
    didcl_session_t s = open_session(16);
    didcl_request r = request(7, 1);
    r.options.n_revisions = 1;
    r.options.revisions[0].gamma = 0.25;
    didcl_results *a, *b;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &a), DIDCL_OK);
    ck_assert_uint_eq(a->n, 1);
    const didcl_sample *x = &a->samples[0];
    ck_assert_int_eq(x->n, LENGTH);
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(didcl_tokenizer_encode(didcl_session_tokenizer(s), "Hello world", 11, 0,
                                            &ids, &n),
                     DIDCL_OK);
    const int np = (int)n;
    ck_assert_int_eq(x->n_prompt, np);
    ck_assert_int_eq(x->n_ids, LENGTH - 1);
    ck_assert_ptr_eq(x->ids, x->tokens + 1);
    ck_assert_str_eq(x->remask, "lowconf");
    ck_assert_int_eq(x->n_stages, 2);
    ck_assert_int_eq(x->stages[0].nfe, LENGTH - 1 - np);
    const int want = (int)(0.25 * (LENGTH - 1 - np) + 0.5);
    ck_assert_int_eq(x->stages[1].remasked, want);
    ck_assert_int_eq(a->totals[1].remasked, want);
    ck_assert_int_eq(a->generated, LENGTH - 1 - np);
    ck_assert_uint_eq(x->text_len, strlen(x->text));
    ck_assert_int_eq(strncmp(x->text, "Hello world", 11), 0);
    /* the draft and the remask history */
    int remasked = 0, changed = 0;
    for (int32_t p = 0; p < x->n; p++) {
        remasked += (x->remasked[p] & 1u) != 0;
        if (!(x->remasked[p] & 1u))
            ck_assert_int_eq(x->draft[p], x->tokens[p]); /* untouched by stage 2 */
        else
            ck_assert_int_eq(x->trace[p].stage, 2);
        changed += x->draft[p] != x->tokens[p];
    }
    ck_assert_int_eq(remasked, want);
    ck_assert_int_le(changed, want);
    /* the same seed, the same sample */
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &b), DIDCL_OK);
    assert_same_sample(&a->samples[0], &b->samples[0]);
    didcl_results_free(b);
    /* the prompt as ids is the same request */
    r.prompt = NULL;
    r.prompt_ids = ids;
    r.n_prompt_ids = n;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &b), DIDCL_OK);
    assert_same_sample(&a->samples[0], &b->samples[0]);
    free(ids);
    didcl_results_free(b);
    didcl_results_free(a);
    didcl_session_free(s);
}
END_TEST

/* Samples in lockstep batches are those drawn one after another; several requests in
 * one call are each what they are alone; a model grown for a longer request gives the
 * same samples. */
START_TEST(test_batches_and_requests) {
    didcl_session_t s = open_session(2);
    didcl_request r = request(3, 5);
    r.options.length = 16;
    r.options.n_revisions = 1;
    r.options.revisions[0].gamma = 0.5;
    didcl_results *bat, *seq, *two;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &bat), DIDCL_OK);
    ck_assert_uint_eq(bat->batch, 2);
    ck_assert_uint_eq(bat->n, 5);
    ck_assert_uint_eq(bat->samples[4].batch, 1); /* 2 + 2 + 1 */
    r.flags = DIDCL_REQUEST_SEQUENTIAL;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &seq), DIDCL_OK);
    ck_assert_uint_eq(seq->batch, 1);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(bat->samples[i].index, i);
        assert_same_sample(&bat->samples[i], &seq->samples[i]);
    }
    /* the samples differ from each other */
    ck_assert_int_ne(memcmp(bat->samples[0].tokens, bat->samples[1].tokens,
                            sizeof(int32_t) * 16), 0);
    /* two requests: a longer one first (the model grows), then the batched one again */
    didcl_request rr[2] = {request(9, 1), r};
    rr[1].flags = 0;
    ck_assert_int_eq(didcl_session_generate(s, rr, 2, NULL, NULL, &two), DIDCL_OK);
    ck_assert_uint_eq(two->n, 6);
    ck_assert_uint_eq(two->samples[0].request, 0);
    ck_assert_int_eq(two->samples[0].n, LENGTH);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(two->samples[1 + i].request, 1);
        assert_same_sample(&bat->samples[i], &two->samples[1 + i]);
    }
    const int np = bat->samples[0].n_prompt;
    ck_assert_int_eq(two->generated, (LENGTH - 1 - np) + 5 * (16 - 1 - np));
    didcl_results_free(two);
    /* a bad second request: nothing runs, and the message names it */
    rr[1].options.block = 3;
    ck_assert_int_eq(didcl_session_generate(s, rr, 2, NULL, NULL, &two), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "request 1: block 3"));
    didcl_results_free(bat);
    didcl_results_free(seq);
    didcl_session_free(s);
}
END_TEST

/* Requests with different prompts, lengths and seeds share lockstep batches and are
 * each what they are alone; generate_each keeps a bad, a cancelled and a good request
 * apart. */
static int cancel_request(const didcl_event *ev, void *user) {
    return ev->request == *(uint32_t *)user && ev->kind == DIDCL_EVENT_COMMIT;
}

START_TEST(test_requests_batched_together) {
    didcl_session_t s = open_session(4);
    didcl_request rr[3] = {request(1, 1), request(2, 2), request(3, 1)};
    rr[0].prompt = "A";
    rr[1].options.length = 24;
    rr[2].options.length = 16;
    rr[2].options.n_revisions = 1;
    rr[2].options.revisions[0].gamma = 0.5;
    didcl_results *all, *one;
    ck_assert_int_eq(didcl_session_generate(s, rr, 3, NULL, NULL, &all), DIDCL_OK);
    ck_assert_uint_eq(all->n, 4);
    ck_assert_uint_eq(all->batch, 4);
    for (size_t i = 0, k = 0; i < 3; i++) {
        ck_assert_int_eq(didcl_session_generate(s, &rr[i], 1, NULL, NULL, &one), DIDCL_OK);
        for (size_t j = 0; j < one->n; j++, k++) {
            ck_assert_uint_eq(all->samples[k].request, i);
            ck_assert_uint_eq(all->samples[k].batch, 4);
            assert_same_sample(&one->samples[j], &all->samples[k]);
        }
        didcl_results_free(one);
    }
    /* each alone: request 0 bad, request 1 cancelled by its events, request 2 fine */
    didcl_request bad[3] = {rr[0], rr[1], rr[2]};
    bad[0].options.block = 3;
    uint32_t victim = 1;
    didcl_results *each[3];
    ck_assert_int_eq(didcl_session_generate_each(s, bad, 3, cancel_request, &victim, each),
                     DIDCL_ERR_INVALID_ARG);
    ck_assert_int_eq(each[0]->status, DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(each[0]->error, "block 3"));
    ck_assert_uint_eq(each[0]->n, 0);
    ck_assert_int_eq(each[1]->status, DIDCL_ERR_CANCELLED);
    ck_assert_uint_eq(each[1]->n, 0);
    ck_assert_int_eq(each[2]->status, DIDCL_OK);
    ck_assert_str_eq(each[2]->error, "");
    ck_assert_uint_eq(each[2]->n, 1);
    ck_assert_uint_eq(each[2]->samples[0].batch, 3); /* drafted with request 1's two */
    assert_same_sample(&all->samples[3], &each[2]->samples[0]);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "request 0: "));
    for (int i = 0; i < 3; i++)
        didcl_results_free(each[i]);
    didcl_results_free(all);
    didcl_session_free(s);
}
END_TEST

typedef struct seen {
    int n, stage_start[3], commits, blocks[3], stage_done[3], sample_done;
    int cancel_at;            /* cancel at this event (1-based), 0: never */
    int order_ok;
    int32_t remasked;
    uint32_t last_sample;
} seen;

static int watch(const didcl_event *ev, void *user) {
    seen *w = user;
    w->n++;
    ck_assert_uint_lt(ev->stage, 3);
    switch (ev->kind) {
    case DIDCL_EVENT_STAGE_START:
        w->stage_start[ev->stage]++;
        if (ev->stage == 2) {
            w->remasked = ev->remasked;
            int masks = 0;
            for (int32_t p = 0; p < ev->n; p++)
                masks += (ev->remasked_by[p] & 1u) != 0;
            ck_assert_int_eq(masks, ev->remasked);
        }
        break;
    case DIDCL_EVENT_COMMIT: w->commits++; break;
    case DIDCL_EVENT_BLOCK_DONE: w->blocks[ev->stage]++; break;
    case DIDCL_EVENT_STAGE_DONE: w->stage_done[ev->stage]++; break;
    case DIDCL_EVENT_SAMPLE_DONE:
        w->sample_done++;
        ck_assert_ptr_nonnull(ev->result);
        w->order_ok &= w->stage_done[2] >= w->sample_done; /* after its last stage */
        w->last_sample = ev->sample;
        break;
    }
    if (ev->kind != DIDCL_EVENT_SAMPLE_DONE)
        ck_assert_ptr_null(ev->result);
    return w->cancel_at && w->n == w->cancel_at;
}

/* Kernels are built before stage 1: a prepared request compiles nothing in generate; a
 * profiling session reports device time by kind, a plain one nothing. */
START_TEST(test_prepare_and_profile) {
    didcl_session_params p = didcl_session_default_params();
    p.model = dir;
    p.profile = 1;
    didcl_session_t s = NULL;
    ck_assert_msg(didcl_session_open(&p, &s) == DIDCL_OK, "%s", didcl_last_error());
    didcl_request r = request(3, 2);
    r.options.n_revisions = 1;
    r.options.revisions[0].gamma = 0.25;
    double compile = -1.0;
    ck_assert_int_eq(didcl_session_prepare(s, &r, &compile), DIDCL_OK);
    ck_assert(compile >= 0.0);
    ck_assert_int_eq(didcl_session_prepare(s, &r, &compile), DIDCL_OK);
    ck_assert(compile == 0.0); /* already prepared */
    didcl_results *res;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &res), DIDCL_OK);
    ck_assert(res->compile_seconds == 0.0);
    ck_assert_int_eq(res->profile.enabled, 1);
    ck_assert_uint_gt(res->profile.commands[DIDCL_TIME_PRODUCTS], 0);
    ck_assert_uint_gt(res->profile.commands[DIDCL_TIME_ATTENTION], 0);
    ck_assert_uint_gt(res->profile.commands[DIDCL_TIME_TRANSFERS], 0);
    double dev = 0.0;
    for (int k = 0; k < DIDCL_TIME_KINDS; k++)
        dev += res->profile.seconds[k];
    ck_assert(dev > 0.0 && dev <= res->seconds * 1.01 + 1e-3);
    didcl_results_free(res);
    didcl_request bad = r;
    bad.options.block = 5;
    ck_assert_int_eq(didcl_session_prepare(s, &bad, NULL), DIDCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "block"));
    ck_assert_int_eq(didcl_session_prepare(s, NULL, NULL), DIDCL_ERR_INVALID_ARG);
    didcl_session_free(s);

    s = open_session(16);
    r = request(3, 1);
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &res), DIDCL_OK);
    ck_assert_int_eq(res->profile.enabled, 0);
    ck_assert(res->compile_seconds >= 0.0);
    didcl_results_free(res);
    didcl_session_free(s);
}
END_TEST

START_TEST(test_events_and_cancel) {
    didcl_session_t s = open_session(16);
    didcl_request r = request(5, 2);
    r.options.n_revisions = 1;
    r.options.revisions[0].gamma = 0.25;
    seen w;
    memset(&w, 0, sizeof w);
    w.order_ok = 1;
    didcl_results *res;
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, watch, &w, &res), DIDCL_OK);
    ck_assert_int_eq(w.stage_start[1], 2);
    ck_assert_int_eq(w.stage_start[2], 2);
    ck_assert_int_eq(w.remasked, res->samples[1].stages[1].remasked);
    ck_assert_int_eq(w.blocks[1], 2 * LENGTH / 4);
    ck_assert_int_eq(w.commits, res->totals[0].nfe + res->totals[1].nfe);
    ck_assert_int_eq(w.stage_done[1], 2);
    ck_assert_int_eq(w.sample_done, 2);
    ck_assert_int_eq(w.order_ok, 1);
    ck_assert_uint_eq(w.last_sample, 1);
    const int total = w.n;
    didcl_results_free(res);
    /* cancelled at the first event, in the draft, in the revision, at a finished sample */
    const int at[] = {1, 20, total - 3, total};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        memset(&w, 0, sizeof w);
        w.order_ok = 1;
        w.cancel_at = at[i];
        res = (didcl_results *)0x1;
        ck_assert_int_eq(didcl_session_generate(s, &r, 1, watch, &w, &res), DIDCL_ERR_CANCELLED);
        ck_assert_int_eq(w.n, at[i]); /* no event after the cancelling one */
        ck_assert_ptr_eq(res, (didcl_results *)0x1);
        ck_assert_ptr_nonnull(strstr(didcl_session_error(s), "cancelled"));
    }
    /* the session still works */
    ck_assert_int_eq(didcl_session_generate(s, &r, 1, NULL, NULL, &res), DIDCL_OK);
    didcl_results_free(res);
    didcl_session_free(s);
}
END_TEST

static Suite *session_suite(void) {
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_open_refusals);
    tcase_add_test(tc, test_check_and_defaults);
    tcase_add_test(tc, test_errors_per_session);
    tcase_add_test(tc, test_generate_one);
    tcase_add_test(tc, test_batches_and_requests);
    tcase_add_test(tc, test_requests_batched_together);
    tcase_add_test(tc, test_events_and_cancel);
    tcase_add_test(tc, test_prepare_and_profile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return testutil_run(session_suite()); }

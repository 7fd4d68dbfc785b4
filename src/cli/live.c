/*
 * live.c — what `didcl generate` shows while it runs, drawn from the session's events
 * (didcl_event): the --visual canvas on stdout (the sequence redrawn as tokens are
 * committed, remasked and revised, in an alternate screen) and the progress bar on
 * stderr. Pure presentation: nothing here decides a token.
 */
#define _GNU_SOURCE /* ioctl TIOCGWINSZ, open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

double didcl_cli_now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- visual canvas ---- */

enum cell_style { ST_PROMPT, ST_DRAFT, ST_REVISED, ST_MASK, ST_REMASKED, ST_NL };

static const char *style_sgr(int s) {
    switch (s) {
    case ST_PROMPT: return "\x1b[0;1;36m";   /* bold cyan */
    case ST_DRAFT: return "\x1b[0m";         /* plain */
    case ST_REVISED: return "\x1b[0;1;33m";  /* bold yellow */
    case ST_MASK: return "\x1b[0;2m";        /* dim */
    case ST_REMASKED: return "\x1b[0;31m";   /* red */
    }
    return "\x1b[0m";
}

typedef struct cell {
    unsigned char style, len;
    char b[4];
} cell;

typedef struct canvas {
    cell *c;
    size_t n, cap;
} canvas;

static void canvas_push(canvas *cv, int style, const char *b, size_t len) {
    if (cv->n == cv->cap) {
        size_t cap = cv->cap ? 2 * cv->cap : 4096;
        cell *p = realloc(cv->c, cap * sizeof *p);
        if (!p)
            return;
        cv->c = p;
        cv->cap = cap;
    }
    cell *x = &cv->c[cv->n++];
    x->style = (unsigned char)style;
    x->len = (unsigned char)len;
    memcpy(x->b, b, len);
}

/* Cells of one token's bytes: UTF-8 characters, newlines as line breaks, other control
 * bytes and invalid UTF-8 as U+FFFD. */
static void canvas_token(canvas *cv, int style, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t l = didcl_cli_utf8_len((const unsigned char *)s + i, n - i);
        if (ch == '\n')
            canvas_push(cv, ST_NL, "", 0);
        else if (ch == '\t')
            canvas_push(cv, style, " ", 1);
        else if (l == 0 || ch < 0x20 || ch == 0x7f)
            canvas_push(cv, style, "\xef\xbf\xbd", 3);
        else
            canvas_push(cv, style, s + i, l);
        i += l ? l : 1;
    }
}

static void term_size(int fd, int *rows, int *cols) {
    struct winsize ws;
    *rows = 24;
    *cols = 80;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2 && ws.ws_col > 8) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* The canvas cells of the sequence (BOS left out). */
static void canvas_fill(canvas *cv, const didcl_cli_live *lv, const didcl_event *ev) {
    const uint32_t stage_bit = ev->stage >= 2 ? 1u << (ev->stage - 2) : 0;
    for (int32_t p = 1; p < ev->n; p++) {
        int32_t id = ev->seq[p];
        if (id == lv->mask_id) {
            int st = (ev->remasked_by[p] & stage_bit) ? ST_REMASKED : ST_MASK;
            canvas_push(cv, st, "\xe2\x96\x91", 3); /* ░ */
            continue;
        }
        const didcl_remask_position *t = &ev->trace[p];
        int st = (t->flags & DIDCL_REMASK_LOCKED) ? ST_PROMPT
                 : t->stage >= 2                 ? ST_REVISED
                                                 : ST_DRAFT;
        size_t len = 0;
        const char *b = didcl_tokenizer_token_bytes(lv->tok, id, &len);
        canvas_token(cv, st, b ? b : "", b ? len : 0);
    }
}

void didcl_cli_visual_draw(const didcl_cli_live *lv, const didcl_event *ev) {
    canvas cv = {NULL, 0, 0};
    canvas_fill(&cv, lv, ev);
    int rows, W;
    term_size(STDOUT_FILENO, &rows, &W);
    const int view = rows - 2;
    /* line starts after wrapping */
    size_t *starts = malloc((cv.n + 1) * sizeof *starts);
    size_t nl = 0;
    if (!starts) {
        free(cv.c);
        return;
    }
    starts[nl++] = 0;
    for (size_t i = 0, col = 0; i < cv.n; i++) {
        if (cv.c[i].style == ST_NL) {
            starts[nl++] = i + 1;
            col = 0;
        } else if (++col == (size_t)W && i + 1 < cv.n && cv.c[i + 1].style != ST_NL) {
            starts[nl++] = i + 1;
            col = 0;
        }
    }
    size_t first = nl > (size_t)view ? nl - (size_t)view : 0;
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) {
        free(starts);
        free(cv.c);
        return;
    }
    char head[256];
    snprintf(head, sizeof head, " didcl generate  sample %u/%d  stage %u (%s)  NFE %d  %.1f s ",
             ev->sample + 1, lv->samples, ev->stage, ev->stage == 1 ? "draft" : "revision",
             ev->nfe, didcl_cli_now() - lv->t_sample);
    if (strlen(head) > (size_t)W)
        head[W] = '\0'; /* ASCII only: one byte per column */
    fprintf(f, "\x1b[H\x1b[0;7m%s\x1b[0m\x1b[K\n", head);
    int cur = -1;
    for (size_t l = first; l < nl; l++) {
        size_t end = l + 1 < nl ? starts[l + 1] : cv.n;
        for (size_t i = starts[l]; i < end; i++) {
            if (cv.c[i].style == ST_NL)
                continue;
            if (cv.c[i].style != cur) {
                cur = cv.c[i].style;
                fputs(style_sgr(cur), f);
            }
            fwrite(cv.c[i].b, 1, cv.c[i].len, f);
        }
        fputs("\x1b[0m\x1b[K", f);
        cur = -1;
        if (l + 1 < nl)
            fputc('\n', f);
    }
    fputs("\x1b[J", f);
    fclose(f);
    fwrite(buf, 1, blen, stdout);
    fflush(stdout);
    free(buf);
    free(starts);
    free(cv.c);
}

/* ---- progress bar on stderr ---- */

void didcl_cli_progress_draw(const didcl_cli_live *lv, const didcl_event *ev) {
    int32_t todo = 0, total = 0;
    for (int32_t p = 0; p < ev->n; p++) {
        if (ev->trace[p].flags & DIDCL_REMASK_LOCKED)
            continue;
        if (ev->stage == 1 || (ev->remasked_by[p] >> (ev->stage - 2) & 1u)) {
            total++;
            todo += ev->seq[p] == lv->mask_id;
        }
    }
    double frac = total ? (double)(total - todo) / total : 1.0;
    char bar[31];
    int fill = (int)(frac * 30.0 + 0.5);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char line[256];
    snprintf(line, sizeof line, "sample %u/%d  stage %u %3d%%  NFE %d  %.1f s [%s]",
             ev->sample + 1, lv->samples, ev->stage, (int)(frac * 100.0), ev->nfe,
             didcl_cli_now() - lv->t_sample, bar);
    struct winsize ws; /* a line that wraps would defeat the carriage return */
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
        strlen(line) >= ws.ws_col)
        line[ws.ws_col - 1] = '\0';
    fprintf(stderr, "\r\x1b[K%s", line);
    fflush(stderr);
}

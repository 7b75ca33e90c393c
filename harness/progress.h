/* progress.h — progress of long work on stderr: a bar with rate and ETA redrawn in place when the
 * stream is a terminal, plain periodic lines when it is not (logs, CI), nothing when quiet. Results
 * never go through here (they go to stdout / the database). Used by ppl, quantize and run. */
#ifndef QBENCH_PROGRESS_H
#define QBENCH_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int tty;            /* redraw one line with \r; otherwise print a line every `interval` seconds */
    int quiet;
    char label[64];
    char unit[16];      /* "tok", "layers", ... */
    long total;
    long done;
    double interval;    /* seconds between plain lines (10) or redraws on a tty (0.1) */
    double t0, last;
    int drawn;          /* a tty line is on screen and needs a newline at the end */
    double (*now)(void); /* clock, seconds; replaceable for tests */
    double eta;          /* seconds left as the caller estimates them; < 0 (the default): from the rate */
} Progress;

/* stderr; tty from isatty(2). total <= 0: unknown (no percentage, no ETA). */
void progress_init(Progress *p, const char *label, long total, const char *unit, int quiet);
/* Any stream, tty or not (tests, files). */
void progress_init_stream(Progress *p, FILE *out, int tty, const char *label, long total, const char *unit, int quiet);
void progress_update(Progress *p, long done);
/* Final state: the finished bar (tty) or one closing line (plain) with the elapsed time. */
void progress_finish(Progress *p);
/* Adapter for callbacks of the form fn(ctx, done, total) (PplProgressFn): ctx is a Progress. */
void progress_callback(void *ctx, long done, long total);

/* "1:02:03", "4:05", "7s" */
void progress_format_duration(double seconds, char *out, size_t outlen);

#endif

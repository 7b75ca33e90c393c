/* progress.c — see progress.h. The bar redraws at most ten times a second so that printing never
 * costs measurable time; plain mode prints a line every ten seconds so logs stay short. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/progress.h"

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init_stream(Progress *p, FILE *out, int tty, const char *label, long total, const char *unit, int quiet) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = tty;
    p->quiet = quiet;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->interval = tty ? 0.1 : 10.0;
    p->now = mono_now;
    p->t0 = p->last = p->now();
    p->eta = -1;
}

void progress_init(Progress *p, const char *label, long total, const char *unit, int quiet) {
    progress_init_stream(p, stderr, isatty(fileno(stderr)), label, total, unit, quiet);
}

void progress_format_duration(double s, char *out, size_t outlen) {
    if (!(s >= 0) || s > 1e8) { snprintf(out, outlen, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, outlen, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60) snprintf(out, outlen, "%ld:%02ld", t / 60, t % 60);
    else snprintf(out, outlen, "%lds", t);
}

static void rate_str(double r, const char *unit, char *out, size_t n) {
    if (r >= 1e6) snprintf(out, n, "%.1fM %s/s", r / 1e6, unit);
    else if (r >= 1e4) snprintf(out, n, "%.1fk %s/s", r / 1e3, unit);
    else snprintf(out, n, "%.1f %s/s", r, unit);
}

static void draw(Progress *p, int final) {
    double el = p->now() - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char rs[32], es[16], eta[16] = "?";
    rate_str(rate, p->unit[0] ? p->unit : "it", rs, sizeof rs);
    progress_format_duration(el, es, sizeof es);
    if (p->total > 0 && p->eta >= 0) progress_format_duration(p->eta, eta, sizeof eta);
    else if (p->total > 0 && rate > 0) progress_format_duration((double)(p->total - p->done) / rate, eta, sizeof eta);
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
        bar[30] = 0;
        if (p->total > 0)
            fprintf(p->out, "\r%s [%s] %3d%% %ld/%ld %s  %s  %s %s\x1b[K", p->label, bar, (int)(frac * 100), p->done, p->total,
                    p->unit, rs, final ? "in" : "ETA", final ? es : eta);
        else
            fprintf(p->out, "\r%s %ld %s  %s  %s\x1b[K", p->label, p->done, p->unit, rs, es);
        p->drawn = 1;
        if (final) { fputc('\n', p->out); p->drawn = 0; }
    } else if (p->total > 0) {
        fprintf(p->out, "%s: %d%% (%ld/%ld %s) %s, %s %s\n", p->label, (int)(frac * 100), p->done, p->total, p->unit, rs,
                final ? "done in" : "ETA", final ? es : eta);
    } else {
        fprintf(p->out, "%s: %ld %s, %s, elapsed %s\n", p->label, p->done, p->unit, rs, es);
    }
    fflush(p->out);
}

void progress_update(Progress *p, long done) {
    p->done = done;
    if (p->quiet || !p->out) return;
    if (!p->tty && p->total > 0 && done >= p->total) return; /* progress_finish prints the last line */
    double t = p->now();
    if (t - p->last < p->interval) return;
    p->last = t;
    draw(p, 0);
}

void progress_finish(Progress *p) {
    if (p->quiet || !p->out) return;
    draw(p, 1);
}

void progress_callback(void *ctx, long done, long total) {
    Progress *p = ctx;
    if (total > 0) p->total = total;
    progress_update(p, done);
}

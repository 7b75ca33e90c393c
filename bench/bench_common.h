/* bench_common.h — what the metric benchmarks share: the fixed newstest pairing (hypothesis = the
 * line without every 5th token), process CPU time, the speed record, and writing segments to a file
 * for the Python baselines. Header-only: each bench_*.c is its own program. */
#ifndef QBENCH_BENCH_COMMON_H
#define QBENCH_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Copies line without every 5th space-separated token. */
static char *drop_every_fifth(const char *line) {
    size_t n = strlen(line);
    char *out = malloc(n + 1), *o = out;
    int tok = 0;
    const char *p = line;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ') q++;
        if (++tok % 5 != 0) {
            if (o != out) *o++ = ' ';
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
        }
        p = q;
    }
    *o = 0;
    return out;
}

/* CPU seconds of the whole process (all threads) */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct { double wall, cpu, score; } Speed; /* seg/s wall, seg per CPU-second, corpus score */

static int write_lines(const char *path, const char *const *lines, size_t n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
    return fclose(f);
}

#endif

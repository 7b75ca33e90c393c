/* bench_chrf.c — segments per second of chrF and chrF++ (chrf_corpus) on two corpora:
 *   - newstest2014-filtered.de.tok (2,737 segments): hypothesis = each German line with every 5th
 *     token dropped, reference = the line itself (a fixed, documented pairing with realistic overlap);
 *   - the Meteor example corpus: xray/system1.hyp against xray/reference (2,489 segments).
 * One thread and all threads. The ratio is against 1,500 seg/s, an ESTIMATE of sacrebleu's Python
 * CHRF on such a machine (sacrebleu is not installed here, so it was not measured). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>

#include "metrics/chrf.h"
#include "metrics/textfile.h"

#define SACREBLEU_EST_SEG_PER_S 1500.0

/* Copies line without every 5th whitespace-separated token. */
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

static double now(void) { return omp_get_wtime(); }
/* CPU seconds of the whole process: on a shared machine, seg per CPU-second is steadier than wall */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run(const char *label, const char *const *hyps, const char *const *refs, size_t n, int threads) {
    for (int wo = 0; wo <= 2; wo += 2) {
        chrf_opts o = chrf_defaults(wo);
        chrf_result r;
        char err[QB_ERRLEN];
        omp_set_num_threads(threads);
        if (chrf_corpus(hyps, n, refs, 1, &o, &r, NULL, err)) { fprintf(stderr, "%s\n", err); exit(1); }
        int reps = 0;
        double t0 = now(), c0 = cpu_now(), t;
        do {
            chrf_corpus(hyps, n, refs, 1, &o, &r, NULL, err);
            reps++;
            t = now() - t0;
        } while (t < 0.5);
        double sps = (double)n * reps / t, per_cpu = (double)n * reps / (cpu_now() - c0);
        printf("%-27s %-6s threads %d: %7.0f seg/s wall, %7.0f seg per CPU-second  score %.4f  "
               "x%.0f (per CPU-s) vs sacrebleu est. %.0f seg/s\n",
               label, wo ? "chrF++" : "chrF", threads, sps, per_cpu, r.score, per_cpu / SACREBLEU_EST_SEG_PER_S,
               SACREBLEU_EST_SEG_PER_S);
    }
}

int main(void) {
    char err[QB_ERRLEN];
    TextFile de, xh, xr;
    if (textfile_read("assets/wmt14-ende/newstest2014-filtered.de.tok", &de, err) ||
        textfile_read("assets/meteor-examples/xray/system1.hyp", &xh, err) ||
        textfile_read("assets/meteor-examples/xray/reference", &xr, err)) {
        fprintf(stderr, "bench_chrf: %s (run `make assets` and start from the repository root)\n", err);
        return 1;
    }
    char **pert = malloc(de.n * sizeof(char *));
    for (size_t i = 0; i < de.n; i++) pert[i] = drop_every_fifth(de.lines[i]);
    int maxt = omp_get_max_threads();
    printf("chrF benchmark (timings are noisy on a shared machine; sacrebleu figure is an estimate)\n");
    for (int t = 1; t <= maxt; t = (t == maxt ? maxt + 1 : maxt)) {
        run("newstest2014 de (drop 5th)", (const char *const *)pert, (const char *const *)de.lines, de.n, t);
        run("xray system1 vs reference", (const char *const *)xh.lines, (const char *const *)xr.lines, xh.n, t);
    }
    for (size_t i = 0; i < de.n; i++) free(pert[i]);
    free(pert);
    textfile_free(&de);
    textfile_free(&xh);
    textfile_free(&xr);
    return 0;
}

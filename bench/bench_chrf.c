/* bench_chrf.c — segments per second of chrF and chrF++ (chrf_corpus) on two corpora, with
 * 1 thread and with all cores, against a baseline measured in the same run:
 *   - newstest2014-filtered.de.tok (2,737 segments): hypothesis = each German line with every 5th
 *     token dropped, reference = the line itself (a fixed, documented pairing with realistic overlap);
 *   - the Meteor example corpus: xray/system1.hyp against xray/reference (2,489 segments).
 * Baseline: bench/sacrebleu_chrf_port.py, a faithful pure-Python PORT of sacrebleu 2.x's CHRF
 * (its Counter-based extract_all_char_ngrams / _get_match_statistics code; sacrebleu itself is
 * not installable here), run by /usr/bin/python3 on the same segments. Its corpus score is printed
 * next to ours as a check. Wall seg/s and seg per CPU-second are both shown: on a shared machine the
 * CPU-second figure is the steadier one for 1 thread; the all-cores figure can only be wall time.
 * Figures only, never pass/fail. Run from the repository root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>

#include "metrics/chrf.h"
#include "metrics/textfile.h"
#include "bench/bench_common.h"
#include "harness/cli.h"

#define PORT "bench/sacrebleu_chrf_port.py"

static Speed run_c(const char *const *hyps, const char *const *refs, size_t n, int word_order, int threads) {
    chrf_opts o = chrf_defaults(word_order);
    chrf_result r;
    char err[QB_ERRLEN];
    omp_set_num_threads(threads);
    if (chrf_corpus(hyps, n, refs, 1, &o, &r, NULL, err)) { fprintf(stderr, "%s\n", err); exit(1); }
    int reps = 0;
    double t0 = omp_get_wtime(), c0 = cpu_now(), t;
    do {
        chrf_corpus(hyps, n, refs, 1, &o, &r, NULL, err);
        reps++;
        t = omp_get_wtime() - t0;
    } while (t < 0.5);
    Speed s = {(double)n * reps / t, (double)n * reps / (cpu_now() - c0), r.score};
    return s;
}

/* The Python port on the same segments; wall 0 when python3 or the script is missing. */
static Speed run_port(const char *const *hyps, const char *const *refs, size_t n, int word_order) {
    Speed s = {0, 0, 0};
    if (access("/usr/bin/python3", X_OK) != 0 || access(PORT, R_OK) != 0) return s;
    char hp[] = "/tmp/qbench_bench_chrf_hyp_XXXXXX", rp[] = "/tmp/qbench_bench_chrf_ref_XXXXXX";
    int fh = mkstemp(hp), fr = mkstemp(rp);
    if (fh >= 0) close(fh);
    if (fr >= 0) close(fr);
    if (fh >= 0 && fr >= 0 && write_lines(hp, hyps, n) == 0 && write_lines(rp, refs, n) == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s %d 2>/dev/null", PORT, hp, rp, word_order);
        FILE *p = popen(cmd, "r");
        if (p) {
            size_t got = 0;
            if (fscanf(p, "segps %lf cpu %lf score %lf n %zu", &s.wall, &s.cpu, &s.score, &got) != 4 || got != n)
                s.wall = 0;
            pclose(p);
        }
    }
    if (fh >= 0) unlink(hp);
    if (fr >= 0) unlink(rp);
    return s;
}

static void bench(const char *label, const char *const *hyps, const char *const *refs, size_t n, int maxt) {
    for (int wo = 0; wo <= 2; wo += 2) {
        const char *name = wo ? "chrF++" : "chrF";
        Speed one = run_c(hyps, refs, n, wo, 1), all = run_c(hyps, refs, n, wo, maxt);
        Speed py = run_port(hyps, refs, n, wo);
        printf("%s, %s (%zu segments)\n", label, name, n);
        printf("  qbench  1 thread : %8.0f seg/s wall %8.0f seg per CPU-s   score %.6f\n", one.wall, one.cpu, one.score);
        printf("  qbench %2d threads: %8.0f seg/s wall %8.0f seg per CPU-s   (%.2fx the 1-thread wall)\n", maxt,
               all.wall, all.cpu, all.wall / one.wall);
        if (py.wall > 0) {
            printf("  Python port of sacrebleu CHRF (not sacrebleu itself): %6.0f seg/s wall %6.0f seg per CPU-s  "
                   "score %.6f%s\n", py.wall, py.cpu, py.score,
                   py.score - one.score < 1e-9 && one.score - py.score < 1e-9 ? " (agrees)" : " (DIFFERS)");
            printf("  ratio vs port: 1 thread %.0fx (per CPU-s), %.0fx (wall); %d threads %.0fx (wall)  "
                   "[target >= 50x sacrebleu]\n", one.cpu / py.cpu, one.wall / py.wall, maxt, all.wall / py.wall);
        } else printf("  baseline skipped: /usr/bin/python3 or %s missing\n", PORT);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    /* Waiting OpenMP threads spin by default: on a shared, busy machine a spinning thread takes the
     * core its partner needs, and the all-cores figure would measure that fight instead of the code. */
    qb_prefer_passive_wait(argv);
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
    int maxt = omp_get_num_procs();
    printf("chrF benchmark: %d cores, OMP_WAIT_POLICY=%s; timings are noisy on a shared machine\n", maxt,
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(default)");
    bench("newstest2014 de (drop 5th)", (const char *const *)pert, (const char *const *)de.lines, de.n, maxt);
    bench("xray system1 vs reference", (const char *const *)xh.lines, (const char *const *)xr.lines, xh.n, maxt);
    for (size_t i = 0; i < de.n; i++) free(pert[i]);
    free(pert);
    textfile_free(&de);
    textfile_free(&xh);
    textfile_free(&xr);
    return 0;
}

/* bench_peak.h — the machine's measured sgemm peak, printed beside every speed figure of the model
 * benchmarks so that a figure can be read as a fraction of what this machine did in the same run.
 * The peak is the best of several 2048³ sgemms on `threads` OpenBLAS threads: on a shared machine the
 * best run is the one least disturbed. It also gives GFLOP per CPU-second (the FLOPs over the CPU time
 * the process got), a yardstick that does not depend on how busy the machine is. Header-only: each
 * bench_*.c is its own program. */
#ifndef QBENCH_BENCH_PEAK_H
#define QBENCH_BENCH_PEAK_H

#include <cblas.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);

static double peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP/s (2·M·N·K per product), best of `reps`; -1 if out of memory. *per_cpu_s (may be NULL):
 * GFLOP per CPU-second over the timed runs. */
static double sgemm_peak_gflops(int threads, int reps, double *per_cpu_s) {
    enum { M = 2048, N = 2048, K = 2048 };
    float *a = malloc((size_t)M * K * sizeof(float)), *b = malloc((size_t)N * K * sizeof(float)),
          *c = malloc((size_t)M * N * sizeof(float));
    double best = -1;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 7) * 0.01f;
        int saved = openblas_get_num_threads();
        openblas_set_num_threads(threads);
        double c0 = 0;
        for (int r = 0; r < reps + 1; r++) {
            if (r == 1) c0 = peak_cpu_now(); /* the first run warms the caches and the thread pool */
            double t0 = peak_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
            double g = 2.0 * M * N * K / (peak_now() - t0) / 1e9;
            if (r > 0 && g > best) best = g;
        }
        if (per_cpu_s) *per_cpu_s = reps * 2.0 * M * N * K / (peak_cpu_now() - c0) / 1e9;
        openblas_set_num_threads(saved);
    }
    free(a);
    free(b);
    free(c);
    return best;
}

#endif

/* bench_model.c — forward-pass speed: prefill tokens/s (a whole window of c positions, classifier
 * included, as perplexity runs it) and decode tokens/s (one token per call from the KV cache) for
 * stories260K, TinyStories-656K and a synthetic 110M Llama (dim 768, hidden 2048, 12 layers, 12 heads,
 * vocab 32000, written to /tmp at start). Prints the sgemm peak measured in the same run, the prefill's
 * GFLOP/s and fraction of that peak, peak RSS, and ratios to llama.cpp's F32 figures on this 2-core
 * machine (issue 5). Figures only — never a pass/fail on time. Usage: bench_model [threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <cblas.h>

#include "model/model.h"
#include "harness/cli.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP per CPU-second of the sgemm peak run: with wall time it gives a load-independent yardstick */
static double peak_per_cpu_s;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* best of a few 2048³ sgemms: the machine's practical peak for the BLAS we call */
static double sgemm_peak_gflops(void) {
    int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double best = 0, c0 = cpu_now();
    for (int r = 0; r < 4; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * n / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    peak_per_cpu_s = 4 * 2.0 * n * n * n / (cpu_now() - c0) / 1e9;
    free(a); free(b); free(c);
    return best;
}

/* FLOPs of one prefill window of c tokens: every linear layer and the classifier (2 per MAC), plus
 * causal attention (QKᵀ and PV, 2 * 2 * q_dim per (query, key) pair, c(c+1)/2 pairs). */
static double window_flops(const Model *m, int c) {
    double lin = (double)model_linear_params(m) + (double)m->cfg.vocab_size * m->cfg.dim;
    double att = 4.0 * m->cfg.n_heads * m->cfg.head_dim * ((double)c * (c + 1) / 2) * m->cfg.n_layers;
    return 2.0 * lin * c + att;
}

static void bench(const char *label, const char *path, int c, double min_seconds, double peak, double llamacpp) {
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    if (!m) { printf("%s: %s\n", label, err); return; }
    if (c > m->cfg.seq_len) c = m->cfg.seq_len;
    ModelState *s = model_state_new(m, c, c);
    int *tok = malloc(sizeof(int) * c);
    float *logits = malloc(sizeof(float) * (size_t)c * m->cfg.vocab_size);
    if (!s || !tok || !logits) { printf("%s: out of memory\n", label); goto out; }
    for (int i = 0; i < c; i++) tok[i] = (int)((1 + 7919u * (unsigned)i) % (unsigned)m->cfg.vocab_size);
    model_forward(m, s, tok, c, 0, logits, err); /* warm-up: page in the weights */
    double rate[64];
    int reps = 0;
    double t_start = now(), cpu_start = cpu_now();
    while (reps < 64 && (reps < 3 || now() - t_start < min_seconds)) {
        double t = now();
        if (model_forward(m, s, tok, c, 0, logits, err)) { printf("%s: %s\n", label, err); goto out; }
        rate[reps++] = c / (now() - t);
    }
    double pre = median(rate, reps);
    double gflops = window_flops(m, c) / c * pre / 1e9;
    double per_cpu = window_flops(m, c) * reps / (cpu_now() - cpu_start) / 1e9;
    /* decode: 64 tokens one at a time after a short prompt */
    int steps = c < 65 ? c - 1 : 64;
    double t = now();
    for (int i = 0; i < steps; i++) model_forward(m, s, &tok[i], 1, i, logits, err);
    double dec = steps / (now() - t);
    printf("%-17s c=%-4d prefill %7.0f tok/s %6.1f GFLOP/s %5.1f%% of peak", label, c, pre, gflops, 100 * gflops / peak);
    if (llamacpp > 0) printf(" x%.2f vs llama.cpp (%.0f)", pre / llamacpp, llamacpp);
    printf(" | per CPU-s %5.1f GFLOP = %3.0f%% of sgemm's | decode %6.0f tok/s\n", per_cpu,
           100 * per_cpu / peak_per_cpu_s, dec);
out:
    free(tok); free(logits);
    model_state_free(s);
    model_free(m);
}

int main(int argc, char **argv) {
    int threads = qb_set_threads(argc > 1 ? atoi(argv[1]) : 0);
    double peak = sgemm_peak_gflops();
    printf("threads %d, sgemm peak (2048^3, best of 4) %.1f GFLOP/s wall, %.1f GFLOP per CPU-second\n", threads,
           peak, peak_per_cpu_s);
    printf("(shared, noisy machine: medians of several windows. 'per CPU-s' divides by the CPU time the\n"
           " process got, so it is the load-independent measure of how close the forward is to sgemm)\n");
    bench("stories260K", "assets/stories260K/stories260K.bin", 256, 1.5, peak, 7000);
    bench("tinystories-656K", "assets/tinystories-656K", 256, 1.5, peak, 0);

    char path[64] = "/tmp/qbench_bench_synth_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { printf("synthetic: cannot create a temp file\n"); return 0; }
    close(fd);
    ModelConfig c = {.dim = 768, .hidden_dim = 2048, .n_layers = 12, .n_heads = 12, .n_kv_heads = 12,
                     .vocab_size = 32000, .seq_len = 1024, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    char err[QB_ERRLEN];
    double t = now();
    if (model_synth_write(&c, 1, SYNTH_LLAMA2C, path, err)) { printf("synthetic: %s\n", err); unlink(path); return 0; }
    printf("synthetic 110M written in %.1f s\n", now() - t);
    bench("synthetic-110M", path, 256, 3.0, peak, 546);
    bench("synthetic-110M", path, 1024, 3.0, peak, 452);
    unlink(path);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
    return 0;
}

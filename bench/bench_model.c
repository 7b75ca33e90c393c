/* bench_model.c — forward-pass speed: prefill tokens/s (a whole window of c positions, classifier
 * included, as perplexity runs it) and decode tokens/s (one token per call from the KV cache) for
 * stories260K, TinyStories-656K and a synthetic 110M Llama (dim 768, hidden 2048, 12 layers, 12 heads,
 * vocab 32000, written to /tmp at start). Prints the sgemm peak measured in the same run
 * (bench_peak.h), the prefill's GFLOP/s and fraction of that peak, and peak RSS. Figures only — never
 * a pass/fail on time.
 *   bench_model [threads]
 * llama.cpp, measured in the same run when it is given (nothing of it is built or shipped here):
 *   QBENCH_LLAMA_BENCH=/path/to/llama-bench QBENCH_LLAMA_GGUF=/path/to/110M-f32.gguf bench_model 2
 * runs `llama-bench -p c -n 0 -r 1 -t threads` for the 110M at c = 256 and 1024, alternating with
 * qbench's own windows (QBENCH_ROUNDS rounds, default 3; both inherit this process's CPU affinity, so
 * `taskset` pins them the same way), and prints both medians and their ratio. The GGUF must hold an
 * F32 model of the same shape (dim 768, hidden 2048, 12 layers, 12 heads, vocab 32000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <cblas.h>

#include "model/model.h"
#include "harness/cli.h"
#include "bench/bench_peak.h"

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

/* FLOPs of one prefill window of c tokens: every linear layer and the classifier (2 per MAC), plus
 * causal attention (QKᵀ and PV, 2 * 2 * q_dim per (query, key) pair, c(c+1)/2 pairs). */
static double window_flops(const Model *m, int c) {
    double lin = (double)model_linear_params(m) + (double)m->cfg.vocab_size * m->cfg.dim;
    double att = 4.0 * m->cfg.n_heads * m->cfg.head_dim * ((double)c * (c + 1) / 2) * m->cfg.n_layers;
    return 2.0 * lin * c + att;
}

typedef struct { double prefill, gflops, per_cpu, decode; } Speed;

/* Prefill (median over windows for at least min_seconds) and decode speed of a loaded model. */
static int measure(Model *m, ModelState *s, const int *tok, float *logits, int c, double min_seconds, int decode,
                   Speed *out) {
    char err[QB_ERRLEN];
    double rate[64];
    int reps = 0;
    double t_start = now(), cpu_start = cpu_now();
    while (reps < 64 && (reps < 3 || now() - t_start < min_seconds)) {
        double t = now();
        if (model_forward(m, s, tok, c, 0, logits, err)) { printf("%s\n", err); return -1; }
        rate[reps++] = c / (now() - t);
    }
    out->prefill = median(rate, reps);
    out->gflops = window_flops(m, c) / c * out->prefill / 1e9;
    out->per_cpu = window_flops(m, c) * reps / (cpu_now() - cpu_start) / 1e9;
    out->decode = 0;
    if (decode) { /* 64 tokens one at a time after a short prompt */
        int steps = c < 65 ? c - 1 : 64;
        double t = now();
        for (int i = 0; i < steps; i++) model_forward(m, s, &tok[i], 1, i, logits, err);
        out->decode = steps / (now() - t);
    }
    return 0;
}

/* llama-bench's prompt-processing tokens/s for c tokens (its avg_ts, one repetition), or -1. */
static double llama_bench(const char *exe, const char *gguf, int c, int threads) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p %d -n 0 -r 1 -t %d -o csv 2>/dev/null", exe, gguf, c, threads);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[4096];
    int col = -1;
    double v = -1;
    while (fgets(line, sizeof line, p)) {
        char *save = NULL, *f = strtok_r(line, ",\n", &save);
        for (int i = 0; f; i++, f = strtok_r(NULL, ",\n", &save)) {
            if (col < 0 && (!strcmp(f, "avg_ts") || !strcmp(f, "\"avg_ts\""))) col = i;
            else if (col >= 0 && i == col) v = atof(f[0] == '"' ? f + 1 : f);
        }
    }
    if (pclose(p) != 0) return -1;
    return v;
}

static void bench(const char *label, const char *path, const int *cs, int ncs, double min_seconds, double peak,
                  int threads, const char *llama_exe, const char *llama_gguf, int rounds) {
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    if (!m) { printf("%s: %s\n", label, err); return; }
    for (int k = 0; k < ncs; k++) {
        int c = cs[k] > m->cfg.seq_len ? m->cfg.seq_len : cs[k];
        ModelState *s = model_state_new(m, c, c);
        int *tok = malloc(sizeof(int) * c);
        float *logits = malloc(sizeof(float) * (size_t)c * m->cfg.vocab_size);
        if (!s || !tok || !logits) { printf("%s: out of memory\n", label); goto next; }
        for (int i = 0; i < c; i++) tok[i] = (int)((1 + 7919u * (unsigned)i) % (unsigned)m->cfg.vocab_size);
        model_forward(m, s, tok, c, 0, logits, err); /* warm-up: page in the weights */
        Speed sp;
        if (!llama_exe) {
            if (measure(m, s, tok, logits, c, min_seconds, 1, &sp)) goto next;
            printf("%-17s c=%-4d prefill %7.0f tok/s %6.1f GFLOP/s %5.1f%% of peak | per CPU-s %5.1f GFLOP = %3.0f%% of "
                   "sgemm's | decode %6.0f tok/s\n", label, c, sp.prefill, sp.gflops, 100 * sp.gflops / peak, sp.per_cpu,
                   100 * sp.per_cpu / peak_per_cpu_s, sp.decode);
        } else {
            /* alternate: qbench's windows, then one llama-bench repetition, `rounds` times */
            double q[16], l[16], pc[16];
            int nl = 0;
            for (int r = 0; r < rounds && r < 16; r++) {
                if (measure(m, s, tok, logits, c, min_seconds, 0, &sp)) goto next;
                q[r] = sp.prefill;
                pc[r] = sp.per_cpu;
                double v = llama_bench(llama_exe, llama_gguf, c, threads);
                if (v > 0) l[nl++] = v;
                printf("%-17s c=%-4d round %d: qbench %7.0f tok/s, llama.cpp %7.0f tok/s\n", label, c, r + 1, q[r], v);
                fflush(stdout);
            }
            int n = rounds < 16 ? rounds : 16;
            double qm = median(q, n), pcm = median(pc, n), fl = window_flops(m, c) / c / 1e9;
            printf("%-17s c=%-4d prefill qbench %7.0f tok/s %6.1f GFLOP/s %5.1f%% of peak (per CPU-s %3.0f%% of sgemm's)",
                   label, c, qm, qm * fl, 100 * qm * fl / peak, 100 * pcm / peak_per_cpu_s);
            if (nl > 0) {
                double lm = median(l, nl);
                printf(" | llama.cpp %7.0f tok/s %6.1f GFLOP/s %5.1f%% of peak | qbench/llama.cpp %.2fx (medians of %d "
                       "alternating rounds, %d threads each)\n", lm, lm * fl, 100 * lm * fl / peak, qm / lm, n, threads);
            } else {
                printf(" | llama.cpp did not run\n");
            }
        }
    next:
        free(tok);
        free(logits);
        model_state_free(s);
    }
    model_free(m);
}

int main(int argc, char **argv) {
    qb_blas_select_core(argv);
    int threads = qb_set_threads(argc > 1 ? atoi(argv[1]) : 0);
    double peak = sgemm_peak_gflops(threads, 4, &peak_per_cpu_s);
    printf("threads %d, OpenBLAS kernels %s, sgemm peak (2048^3, best of 4, this run) %.1f GFLOP/s wall, %.1f GFLOP "
           "per CPU-second\n", threads, openblas_get_corename(), peak, peak_per_cpu_s);
    printf("(shared, noisy machine: medians of several windows. 'per CPU-s' divides by the CPU time the\n"
           " process got, so it is the load-independent measure of how close the forward is to sgemm)\n");
    const char *lexe = getenv("QBENCH_LLAMA_BENCH"), *lgguf = getenv("QBENCH_LLAMA_GGUF");
    if (lexe && (!lgguf || access(lexe, X_OK) != 0 || access(lgguf, R_OK) != 0)) {
        printf("QBENCH_LLAMA_BENCH / QBENCH_LLAMA_GGUF not usable: llama.cpp skipped\n");
        lexe = NULL;
    }
    int rounds = getenv("QBENCH_ROUNDS") ? atoi(getenv("QBENCH_ROUNDS")) : 3;
    if (rounds < 1) rounds = 1;
    static const int c256[] = {256}, c110[] = {256, 1024};
    if (!lexe) {
        bench("stories260K", "assets/stories260K/stories260K.bin", c256, 1, 1.5, peak, threads, NULL, NULL, 0);
        bench("tinystories-656K", "assets/tinystories-656K", c256, 1, 1.5, peak, threads, NULL, NULL, 0);
    }

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
    bench("synthetic-110M", path, c110, 2, 3.0, peak, threads, lexe, lgguf, rounds);
    unlink(path);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
    return 0;
}

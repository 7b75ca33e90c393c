/* bench_ppl.c — tokens per second of perplexity in llamacpp mode (c=256) over the whole
 * tinystories_v1_validation_head.txt, the measurement llama.cpp's llama-perplexity can be timed on
 * (stories260K F32, c=256, batch 256: run it beside this benchmark, pinned the same way; no llama.cpp
 * figure is built in, since one from another day and load would not compare).
 * Tokens/s = chunks x c / wall seconds of the whole evaluation (tokenizing included), as llama.cpp
 * counts them. Median of RUNS runs (default 3; argv[1] overrides) for stories260K and TinyStories-656K.
 * Also the tokenizer alone. Prints figures, never fails on time; on a shared machine the numbers are
 * noisy (the load average is printed beside them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "metrics/ppl.h"
#include "harness/cli.h"

#define DATA "assets/tinystories/tinystories_v1_validation_head.txt"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) { if (fscanf(f, "%lf", &l) != 1) l = -1; fclose(f); }
    return l;
}

static int bench(const char *name, const char *model_path, const char *tok_path, int runs, const char *text, size_t len) {
    char err[QB_ERRLEN];
    Model *m = model_load(model_path, err);
    if (!m) { fprintf(stderr, "%s\n", err); return -1; }
    Tokenizer *t = tokenizer_load(tok_path, m->cfg.vocab_size, err);
    if (!t) { fprintf(stderr, "%s\n", err); model_free(m); return -1; }
    double tps[16], ppl = 0;
    long chunks = 0;
    for (int r = 0; r < runs; r++) {
        PplOptions o = {.mode = PPL_LLAMACPP, .seqlen = 256};
        PplStats st = {0};
        double t0 = omp_get_wtime();
        if (ppl_eval_text(m, t, text, len, &o, &st, err)) { fprintf(stderr, "%s\n", err); break; }
        double dt = omp_get_wtime() - t0;
        chunks = st.n_windows;
        tps[r] = (double)(st.n_windows * 256) / dt;
        ppl = ppl_value(&st);
        printf("  %-16s run %d: %.2f s, %.0f tok/s (ppl %.4f, load %.1f)\n", name, r + 1, dt, tps[r], ppl, loadavg());
        fflush(stdout);
    }
    qsort(tps, (size_t)runs, sizeof *tps, cmp_double);
    double med = tps[runs / 2];
    printf("%-16s llamacpp c=256: %ld chunks, median %.0f tok/s over %d runs (ppl %.4f)\n", name, chunks, med, runs,
           ppl);
    tokenizer_free(t);
    model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    qb_blas_select_core(argv);
    int runs = argc > 1 ? atoi(argv[1]) : 3;
    if (runs < 1 || runs > 15) runs = 3;
    int threads = qb_set_threads(0);
    char err[QB_ERRLEN];
    size_t len;
    char *text = qb_read_file(DATA, &len, err);
    if (!text) { fprintf(stderr, "%s (run from the repository root after make assets)\n", err); return 1; }
    printf("bench_ppl: %s (%zu bytes), %d threads, load average %.1f\n", DATA, len, threads, loadavg());

    /* the tokenizer alone (part of every run above) */
    Tokenizer *t = tokenizer_load("assets/stories260K/tok512.bin", 0, err);
    if (t) {
        int *ids, n;
        double t0 = omp_get_wtime();
        if (tokenizer_encode(t, text, len, 1, &ids, &n, err) == 0) {
            double dt = omp_get_wtime() - t0;
            printf("tokenizer tok512.bin: %d tokens in %.3f s (%.1f MB/s)\n", n, dt, (double)len / dt / 1e6);
            free(ids);
        }
        tokenizer_free(t);
    }
    int rc = bench("stories260K", "assets/stories260K/stories260K.bin", "assets/stories260K/tok512.bin", runs, text, len);
    rc |= bench("tinystories-656K", "assets/tinystories-656K", "assets/tinystories-656K/tokenizer.json", runs, text, len);
    free(text);
    return rc ? 1 : 0;
}

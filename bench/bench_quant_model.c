/* bench_quant_model.c — whole-model quantization time (per layer and per model) and peak RSS for
 * stories260K, tinystories-656K and the synthetic 110M Llama (dim 768, hidden 2048, 12 layers, 12
 * heads, vocab 32000, written with model_synth_write: q/k/v/o 768x768, gate/up 2048x768, down
 * 768x2048). Each model runs in its own child process so its peak RSS is its own. Prints figures, and
 * the machine's sgemm peak measured in the same run (bench_peak.h); never fails on time.
 *
 * usage: bench_quant_model [--synth-samples N] [--synth-seqlen L] [--samples N] [--seqlen L]
 *                          [--skip-synth] [--skip-small] [--per-layer] [--reference]
 * Defaults: 128 windows x 256 tokens of tinystories-calib for the two small models (the test's
 * setting); for the 110M, GPTQ 4-bit g128 on 128 x 256 tokens of wikitext2-test through the Llama 2
 * tokenizer (random tokens when that tokenizer is not in assets/). --reference runs the 110M a second
 * time on the straightforward pipeline (PipelineOptions.reference_path) for comparison.
 *
 * Before quantizing, each job times one forward pass of every window through every block (F). The
 * staged true-sequential pipeline computes one block forward per block (the reference path five),
 * so "pipeline overhead" = total − solves − F is the Hessians, the norms and the copies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "datasets/calib.h"
#include "datasets/datasets.h"
#include "model/tokenizer.h"
#include "quant/quant.h"
#include "bench/bench_peak.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

typedef struct {
    const char *name, *path, *tok; /* tok NULL: random windows */
    QuantMethod method;
    int bits, group_size, samples, seqlen;
    const char *dataset; /* calibration text (tok set) */
    int reference;       /* the reference path instead of the staged one */
} Job;

static int per_layer = 0;

static int run_job(const Job *j) {
    char err[QB_ERRLEN];
    double t0 = now_s();
    Model *m = model_load(j->path, err);
    if (!m) { fprintf(stderr, "%s\n", err); return 1; }
    double t_load = now_s() - t0;
    int *windows = malloc((size_t)j->samples * j->seqlen * sizeof(int));
    CalibWindows cw = {0};
    if (j->tok) {
        Tokenizer *tok = tokenizer_load(j->tok, m->cfg.vocab_size, err);
        TextDataset td;
        if (!tok || dataset_load_text(j->dataset, &td, err) ||
            calib_sample_text(tok, td.text, td.len, 0, j->dataset, j->samples, j->seqlen, 0, CALIB_AUTO, &cw, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        memcpy(windows, cw.windows, (size_t)j->samples * j->seqlen * sizeof(int));
        dataset_text_free(&td);
        tokenizer_free(tok);
        calib_free(&cw);
    } else {
        QbRng r;
        qb_rng_seed(&r, 0);
        for (long i = 0; i < (long)j->samples * j->seqlen; i++) windows[i] = (int)qb_rng_below(&r, (uint64_t)m->cfg.vocab_size);
    }
    CalibrationSet cs = {j->samples, j->seqlen, windows};
    /* F: one forward pass of every window through every block (the unquantized weights cost the same) */
    double t_fwd = 0;
    {
        size_t per = (size_t)j->seqlen * m->cfg.dim;
        float *x = malloc(per * sizeof(float));
        ModelState *st = model_state_new(m, j->seqlen, j->seqlen);
        if (!x || !st) { fprintf(stderr, "out of memory\n"); return 1; }
        double f0 = now_s();
        for (int i = 0; i < j->samples; i++) {
            model_embed(m, windows + (size_t)i * j->seqlen, j->seqlen, x);
            for (int l = 0; l < m->cfg.n_layers; l++)
                if (model_block_forward(m, st, l, x, j->seqlen, NULL, NULL, err)) { fprintf(stderr, "%s\n", err); return 1; }
        }
        t_fwd = now_s() - f0;
        model_state_free(st);
        free(x);
    }
    PipelineOptions po = {0};
    quant_options_default(&po.opt, j->method, j->bits);
    po.opt.group_size = j->group_size;
    po.true_sequential = 1;
    po.reference_path = j->reference;
    PipelineReport rep;
    if (quant_model(m, &cs, &po, 0, &rep, err)) { fprintf(stderr, "%s\n", err); return 1; }
    double solve = 0, by_kind[LIN_COUNT] = {0};
    for (int i = 0; i < rep.n_layers; i++) {
        solve += rep.layers[i].seconds;
        by_kind[rep.layers[i].kind] += rep.layers[i].seconds;
        if (per_layer)
            printf("    blk.%d.%-8s %5dx%-5d %8.4f s  error %.4g\n", rep.layers[i].layer, model_linear_name(&m->cfg, rep.layers[i].kind),
                   rep.layers[i].rows, rep.layers[i].cols, rep.layers[i].seconds, rep.layers[i].error);
    }
    const ModelConfig *c = &m->cfg;
    printf("%-16s %s%s %d-bit g%d, %d x %d windows of %s: total %.2f s wall, %.2f s CPU of the whole process (load %.2f s), "
           "layer solves %.2f s, forward passes + Hessians %.2f s, %.2f s per block; peak RSS %.0f MiB (weights %.0f MiB f32)\n",
           j->name, j->reference ? "(reference path) " : "", quant_method_name(j->method), j->bits, j->group_size, j->samples,
           j->seqlen, j->tok ? j->dataset : "random tokens", rep.seconds, cpu_s(), t_load,
           solve, rep.seconds - solve, rep.seconds / c->n_layers, peak_rss_mib(),
           (double)model_total_params(m) * 4 / 1048576.0);
    /* block forwards per block: the staged path 1, the reference 4 Hessian passes + 1 output pass */
    const int passes = j->reference ? 5 : 1;
    printf("%-16s one forward pass F %.2f s; pipeline overhead = total - solves - %d F = %.2f s (%.0f%% of the total)\n", "",
           t_fwd, passes, rep.seconds - solve - passes * t_fwd, 100.0 * (rep.seconds - solve - passes * t_fwd) / rep.seconds);
    printf("%-16s mean solve per layer kind:", "");
    for (int k = 0; k < LIN_COUNT; k++) {
        int r = m->blocks[0].lin[k].rows, co = m->blocks[0].lin[k].cols;
        if (!r) continue; /* a kind the family does not have */
        printf(" %s %dx%d %.4f s;", model_linear_name(c, (LinearKind)k), r, co, by_kind[k] / c->n_layers);
    }
    printf("\n");
    fflush(stdout);
    pipeline_report_free(&rep);
    free(windows);
    model_free(m);
    return 0;
}

/* Runs the job in a child so peak RSS is per model. */
static void run_isolated(const Job *j) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(run_job(j));
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) printf("%s: failed\n", j->name);
}

int main(int argc, char **argv) {
    qb_blas_select_core(argv);
    int synth_samples = 128, synth_seqlen = 256, samples = 128, seqlen = 256, skip_synth = 0, skip_small = 0, reference = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--synth-samples") && i + 1 < argc) synth_samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--synth-seqlen") && i + 1 < argc) synth_seqlen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seqlen") && i + 1 < argc) seqlen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--skip-synth")) skip_synth = 1;
        else if (!strcmp(argv[i], "--skip-small")) skip_small = 1;
        else if (!strcmp(argv[i], "--per-layer")) per_layer = 1;
        else if (!strcmp(argv[i], "--reference")) reference = 1;
        else {
            fprintf(stderr, "usage: %s [--synth-samples N] [--synth-seqlen L] [--samples N] [--seqlen L] [--skip-synth] [--skip-small] [--per-layer] [--reference]\n", argv[0]);
            return 2;
        }
    }
    int threads = omp_get_max_threads();
    printf("bench_quant_model: OMP threads %d, true-sequential, calibration seed 0; OpenBLAS kernels %s; "
           "sgemm peak %.1f GFLOP/s on %d thread(s) (2048^3, best of 4, this run)\n",
           threads, openblas_get_corename(), sgemm_peak_gflops(threads, 4, NULL), threads);
    const Job small[] = {
        {"stories260K", "assets/stories260K/stories260K.bin", "assets/stories260K/tok512.bin", QM_RTN, 4, -1, samples, seqlen, "tinystories-calib", 0},
        {"stories260K", "assets/stories260K/stories260K.bin", "assets/stories260K/tok512.bin", QM_GPTQ, 4, -1, samples, seqlen, "tinystories-calib", 0},
        {"tinystories-656K", "assets/tinystories-656K", "assets/tinystories-656K/tokenizer.json", QM_GPTQ, 4, -1, samples, seqlen, "tinystories-calib", 0},
        {"tinystories-656K", "assets/tinystories-656K", "assets/tinystories-656K/tokenizer.json", QM_GPTQT, 3, -1, samples, seqlen, "tinystories-calib", 0},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0] && !skip_small; i++) run_isolated(&small[i]);
    if (skip_synth) return 0;

    char dir[] = "/tmp/qbench_bench_synth_XXXXXX", path[64];
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(path, sizeof path, "%s/synth768.bin", dir);
    ModelConfig c = {.dim = 768, .hidden_dim = 2048, .n_layers = 12, .n_heads = 12, .n_kv_heads = 12, .head_dim = 64,
                     .vocab_size = 32000, .seq_len = 2048, .rope_theta = 10000, .norm_eps = 1e-5f, .tied_embeddings = 1,
                     .bos_id = 1, .eos_id = 2};
    snprintf(c.arch, sizeof c.arch, "llama2c");
    char err[QB_ERRLEN];
    double t0 = now_s();
    if (model_synth_write(&c, 1, SYNTH_LLAMA2C, path, err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("synthetic dim 768, hidden 2048, 12 layers, 12 heads, vocab 32000 written in %.1f s\n", now_s() - t0);
    const char *l2tok = "assets/llama2-tokenizer/tokenizer.bin";
    Job sj = {"synth-110M", path, access(l2tok, R_OK) == 0 ? l2tok : NULL, QM_GPTQ, 4, 128, synth_samples, synth_seqlen,
              "wikitext2-test", 0};
    run_isolated(&sj);
    if (reference) {
        sj.reference = 1;
        run_isolated(&sj);
    }
    unlink(path);
    rmdir(dir);
    return 0;
}

/* bench_arch.c — the non-Llama families at OPT-125M's shape (dim 768, 12 layers, 12 heads, FFN 3072,
 * vocab 50272, 2048 positions) or OPT-1.3B's (--shape 1.3b: dim 2048, 24 layers, 32 heads, FFN 8192)
 * beside a Llama of the same widths (SwiGLU hidden = the FFN width): for each, a seeded random model
 * written by model_synth_write (qbench synth --arch), then in its own child process (so peak RSS is its
 * own): load time, one prefill window of c tokens (tokens/s, GFLOP/s and the fraction of the sgemm
 * peak measured in the same process), GPTQ 4-bit (group 128 unless --group) true-sequential
 * quantization of every block on N random-token windows (seconds, split into layer solves and the
 * rest), and peak RSS. Figures only, never a pass or fail on time. The families share one machine at
 * one time: compare them within one run.
 *
 * usage: bench_arch [--shape 125m|1.3b] [--samples N] [--seqlen L] [--prefill C] [--layers K]
 *                   [--group G] [--keep] [family ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>

#include "bench/bench_peak.h"
#include "quant/quant.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* FLOPs of a prefill of n tokens: 2 per weight per token for every linear layer and the head, and the
 * causal attention's q·k and a·v (n(n+1)/2 pairs, 2·dim each). */
static double prefill_flops(const ModelConfig *c, int n) {
    double D = c->dim, F = c->hidden_dim, lin = c->family == ARCH_LLAMA ? 4 * D * D + 3 * D * F : 4 * D * D + 2 * D * F;
    double head = (double)c->vocab_size * (c->proj_dim ? c->proj_dim : c->dim);
    double att = 2.0 * 2.0 * D * ((double)n * (n + 1) / 2);
    return c->n_layers * (2.0 * lin * n + att) + 2.0 * head * n;
}

static int run_family(const char *fam, const char *dir, int samples, int seqlen, int prefill, int group) {
    char err[QB_ERRLEN];
    double t0 = now_s();
    Model *m = model_load(dir, err);
    if (!m) { fprintf(stderr, "%s\n", err); return 1; }
    double t_load = now_s() - t0;
    const ModelConfig *c = &m->cfg;
    int *tok = malloc((size_t)(samples * seqlen > prefill ? samples * seqlen : prefill) * sizeof *tok);
    QbRng r;
    qb_rng_seed(&r, 1);
    for (int i = 0; i < (samples * seqlen > prefill ? samples * seqlen : prefill); i++)
        tok[i] = (int)qb_rng_below(&r, (uint64_t)c->vocab_size);
    ModelState *s = model_state_new(m, prefill, prefill);
    float *lg = malloc((size_t)prefill * c->vocab_size * sizeof(float));
    if (!s || !lg) { fprintf(stderr, "out of memory\n"); return 1; }
    model_forward(m, s, tok, prefill, 0, lg, err); /* warm-up: page in the weights */
    /* the peak before and after the prefill, the better of the two: on a shared machine a single
     * measurement can land in a busier moment than the prefill did */
    double peak = sgemm_peak_gflops(omp_get_max_threads(), 3, NULL);
    t0 = now_s();
    if (model_forward(m, s, tok, prefill, 0, lg, err)) { fprintf(stderr, "%s\n", err); return 1; }
    double t_pre = now_s() - t0;
    double gfs = prefill_flops(c, prefill) / t_pre / 1e9, peak2 = sgemm_peak_gflops(omp_get_max_threads(), 3, NULL);
    if (peak2 > peak) peak = peak2;
    model_state_free(s);
    free(lg);
    printf("%-6s %7.1fM params  load %6.2f s  prefill c=%d %7.1f tok/s %6.1f GFLOP/s (%4.1f%% of sgemm peak %5.1f)  "
           "peak RSS %6.0f MiB\n", fam, (double)model_total_params(m) / 1e6, t_load, prefill, prefill / t_pre, gfs,
           100.0 * gfs / peak, peak, peak_rss_mib());
    fflush(stdout);
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, QM_GPTQ, 4);
    po.opt.group_size = group;
    po.true_sequential = 1;
    CalibrationSet cs = {samples, seqlen, tok};
    PipelineReport rep;
    if (quant_model(m, &cs, &po, 0, &rep, err)) { fprintf(stderr, "%s\n", err); return 1; }
    double solve = 0;
    for (int i = 0; i < rep.n_layers; i++) solve += rep.layers[i].seconds;
    printf("%-6s GPTQ-4bit g%d %d x %d: %8.2f s (solves %7.2f s, rest %7.2f s)  peak RSS %6.0f MiB\n", fam, group,
           samples, seqlen, rep.seconds, solve, rep.seconds - solve, peak_rss_mib());
    fflush(stdout);
    pipeline_report_free(&rep);
    free(tok);
    model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    int samples = 2, seqlen = 256, prefill = 256, layers = -1, keep = 0, group = 128, big = 0;
    const char *fams[8];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seqlen") && i + 1 < argc) seqlen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prefill") && i + 1 < argc) prefill = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--group") && i + 1 < argc) group = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc && (!strcmp(argv[i + 1], "125m") || !strcmp(argv[i + 1], "1.3b")))
            big = !strcmp(argv[++i], "1.3b");
        else if (!strcmp(argv[i], "--keep")) keep = 1;
        else if (nf < 8 && arch_family_from_name(argv[i]) != ARCH_COUNT) fams[nf++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_arch [--shape 125m|1.3b] [--samples N] [--seqlen L] [--prefill C] [--layers K] "
                            "[--group G] [--keep] [family ...]\n");
            return 2;
        }
    }
    const int dim = big ? 2048 : 768, heads = big ? 32 : 12, ffn = big ? 8192 : 3072;
    if (layers < 0) layers = big ? 24 : 12;
    if (samples < 1 || seqlen < 2 || prefill < 1 || prefill > 2048 || seqlen > 2048 || layers < 1 ||
        (group != -1 && group < 1)) {
        fprintf(stderr, "bench_arch: bad sizes\n");
        return 2;
    }
    if (!nf) {
        static const char *ALL[] = {"llama", "opt", "bloom", "gpt2", "neox"};
        for (int i = 0; i < 5; i++) fams[nf++] = ALL[i];
    }
    printf("bench_arch: OPT-%s shape (dim %d, %d layers, %d heads, FFN %d, vocab 50272, 2048 positions), %ld cores "
           "online, %d threads\n", big ? "1.3B" : "125M", dim, layers, heads, ffn, sysconf(_SC_NPROCESSORS_ONLN),
           omp_get_max_threads());
    for (int i = 0; i < nf; i++) {
        ModelConfig c = {.dim = dim, .hidden_dim = ffn, .n_layers = layers, .n_heads = heads, .n_kv_heads = heads,
                         .vocab_size = 50272, .seq_len = 2048, .tied_embeddings = 1, .bos_id = 2, .eos_id = 2};
        c.family = arch_family_from_name(fams[i]);
        /* what qbench synth --arch sets for each family */
        if (c.family == ARCH_OPT) { c.act = ACT_RELU; snprintf(c.arch, sizeof c.arch, "OPTForCausalLM"); }
        if (c.family == ARCH_BLOOM) { c.act = ACT_GELU_TANH; snprintf(c.arch, sizeof c.arch, "BloomForCausalLM"); }
        if (c.family == ARCH_GPT2) { c.act = ACT_GELU_TANH; snprintf(c.arch, sizeof c.arch, "GPT2LMHeadModel"); }
        if (c.family == ARCH_NEOX) {
            c.act = ACT_GELU; c.parallel_residual = 1; c.rotary_dims = 16; c.tied_embeddings = 0;
            snprintf(c.arch, sizeof c.arch, "GPTNeoXForCausalLM");
        }
        char dir[256], err[QB_ERRLEN];
        snprintf(dir, sizeof dir, "/tmp/qbench_bench_arch_%s_%d_%d", fams[i], dim, layers);
        if (access(dir, F_OK) != 0 && model_synth_write(&c, 7, SYNTH_SAFETENSORS, dir, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(run_family(fams[i], dir, samples, seqlen, prefill, group));
        int st = 0;
        waitpid(pid, &st, 0);
        if (!keep) {
            char cmd[300];
            snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
            if (system(cmd) != 0) fprintf(stderr, "bench_arch: could not remove %s\n", dir);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    }
    return 0;
}

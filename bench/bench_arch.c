/* bench_arch.c — the non-Llama families at OPT-125M's shape (dim 768, 12 layers, 12 heads, FFN 3072,
 * vocab 50272, 2048 positions; BLOOM's FFN is 4 x dim = 3072 too) beside a Llama of the same widths
 * (SwiGLU hidden 3072): for each, a seeded random model written by model_synth_write (qbench synth
 * --arch), then in its own child process (so peak RSS is its own): load time, one prefill window of
 * c tokens (tokens/s), GPTQ 4-bit per-row true-sequential quantization of every block on N random-token
 * windows (seconds, split into layer solves and the rest), and peak RSS. Figures only, never a pass or
 * fail on time. The families share one machine at one time: compare them within one run.
 *
 * usage: bench_arch [--samples N] [--seqlen L] [--prefill C] [--layers K] [--keep] [family ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static int run_family(const char *fam, const char *dir, int samples, int seqlen, int prefill) {
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
    t0 = now_s();
    if (model_forward(m, s, tok, prefill, 0, lg, err)) { fprintf(stderr, "%s\n", err); return 1; }
    double t_pre = now_s() - t0;
    model_state_free(s);
    free(lg);
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, QM_GPTQ, 4);
    po.opt.group_size = -1;
    po.true_sequential = 1;
    CalibrationSet cs = {samples, seqlen, tok};
    PipelineReport rep;
    if (quant_model(m, &cs, &po, 0, &rep, err)) { fprintf(stderr, "%s\n", err); return 1; }
    double solve = 0;
    for (int i = 0; i < rep.n_layers; i++) solve += rep.layers[i].seconds;
    printf("%-6s %6.1fM params  load %5.2f s  prefill c=%d %7.1f tok/s  GPTQ-4bit %d x %d: %7.2f s (solves %6.2f s, "
           "rest %6.2f s)  peak RSS %6.0f MiB\n", fam, (double)model_total_params(m) / 1e6, t_load, prefill,
           prefill / t_pre, samples, seqlen, rep.seconds, solve, rep.seconds - solve, peak_rss_mib());
    fflush(stdout);
    pipeline_report_free(&rep);
    free(tok);
    model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    int samples = 2, seqlen = 256, prefill = 256, layers = 12, keep = 0;
    const char *fams[8];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seqlen") && i + 1 < argc) seqlen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prefill") && i + 1 < argc) prefill = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep")) keep = 1;
        else if (nf < 8 && arch_family_from_name(argv[i]) != ARCH_COUNT) fams[nf++] = argv[i];
        else { fprintf(stderr, "usage: bench_arch [--samples N] [--seqlen L] [--prefill C] [--layers K] [--keep] [family ...]\n"); return 2; }
    }
    if (samples < 1 || seqlen < 2 || prefill < 1 || layers < 1) { fprintf(stderr, "bench_arch: bad sizes\n"); return 2; }
    if (!nf) {
        static const char *ALL[] = {"llama", "opt", "bloom", "gpt2", "neox"};
        for (int i = 0; i < 5; i++) fams[nf++] = ALL[i];
    }
    printf("bench_arch: OPT-125M shape (dim 768, %d layers, 12 heads, FFN 3072, vocab 50272), %ld cores online\n",
           layers, sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < nf; i++) {
        ModelConfig c = {.dim = 768, .hidden_dim = 3072, .n_layers = layers, .n_heads = 12, .n_kv_heads = 12,
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
        snprintf(dir, sizeof dir, "/tmp/qbench_bench_arch_%s_%d", fams[i], layers);
        if (access(dir, F_OK) != 0 && model_synth_write(&c, 7, SYNTH_SAFETENSORS, dir, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(run_family(fams[i], dir, samples, seqlen, prefill));
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

/* bench_tasks.c — zero-shot task scoring speed (items/s): stories260K on several tasks and a
 * synthetic 110M Llama (qbench synth's shape: dim 768, hidden 2048, 12 layers, 12 heads, vocab
 * 32000, context 1024, with the Llama 2 tokenizer), each with the shared-prefix path (an item's
 * context prefilled once, each continuation run from where it differs) against one forward per
 * request from an empty cache, at 1 and 2 threads (items in parallel). The accuracies of both paths
 * are printed and must agree. Prints figures, never fails on time; the machine is shared, so only
 * same-run interleaved figures compare (the load average is printed beside them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "harness/cli.h"
#include "harness/tasks_eval.h"

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) { if (fscanf(f, "%lf", &l) != 1) l = -1; fclose(f); }
    return l;
}

/* one measurement: items/s, accuracy, positions run */
static int measure(const Model *m, const Tokenizer *t, EvalTask *et, int threads, int reuse, double *ips, double *acc,
                   long *run, double *maxdiff, double **ref) {
    char err[QB_ERRLEN];
    qb_set_threads(threads);
    LoglikOptions o = {.bos = -1, .no_prefix_reuse = !reuse};
    TaskScores sc;
    double t0 = omp_get_wtime();
    if (loglik_eval_task(m, t, &et->view, &o, &sc, err)) { fprintf(stderr, "%s\n", err); return -1; }
    double dt = omp_get_wtime() - t0;
    TaskSummary s;
    loglik_summarize(&et->view, &sc, 0, &s);
    *ips = sc.n_items / dt;
    *acc = s.acc;
    *run = sc.tokens_run;
    size_t n = (size_t)sc.n_items * sc.max_req;
    if (!*ref) {
        *ref = malloc(n * sizeof **ref);
        if (*ref) memcpy(*ref, sc.ll, n * sizeof **ref);
    } else {
        for (size_t k = 0; k < n; k++) *maxdiff = fmax(*maxdiff, fabs((*ref)[k] - sc.ll[k]));
    }
    loglik_scores_free(&sc);
    return 0;
}

static void bench_task(const char *model_name, const Model *m, const Tokenizer *t, const char *task, int limit) {
    char err[QB_ERRLEN];
    EvalTask et;
    if (eval_task_load(task, limit, &et, err)) { fprintf(stderr, "%s\n", err); return; }
    double *ref = NULL, maxdiff = 0;
    printf("%-12s %-20s %4d items:", model_name, task, et.data.n);
    /* interleaved: shared/per-request at 1 thread, then at 2 */
    for (int th = 1; th <= 2; th++)
        for (int reuse = 1; reuse >= 0; reuse--) {
            double ips, acc;
            long run;
            if (measure(m, t, &et, th, reuse, &ips, &acc, &run, &maxdiff, &ref)) goto out;
            printf("  %dT %s %.1f it/s (%ld pos, acc %.4f)", th, reuse ? "shared" : "per-req", ips, run, acc);
            fflush(stdout);
        }
    printf("  max |ll diff| %.1e, load %.1f\n", maxdiff, loadavg());
out:
    free(ref);
    eval_task_free(&et);
}

int main(int argc, char **argv) {
    int big = argc > 1 ? atoi(argv[1]) : 1; /* 0 skips the 110M model */
    char err[QB_ERRLEN];
    printf("bench_tasks: items/s, load average %.1f\n", loadavg());
    Model *m = model_load("assets/stories260K/stories260K.bin", err);
    Tokenizer *t = m ? tokenizer_load("assets/stories260K/tok512.bin", m->cfg.vocab_size, err) : NULL;
    if (!m || !t) { fprintf(stderr, "%s (run from the repository root after make assets)\n", err); return 1; }
    bench_task("stories260K", m, t, "piqa", 200);
    bench_task("stories260K", m, t, "arc_easy", 200);
    bench_task("stories260K", m, t, "winogrande", 200);
    bench_task("stories260K", m, t, "hellaswag-llamacpp", 100);
    bench_task("stories260K", m, t, "tinystories-cloze", 150);
    tokenizer_free(t);
    model_free(m);
    if (!big) return 0;
    /* as `qbench synth --dim 768 --hidden 2048 --layers 12 --heads 12 --kv-heads 12 --vocab 32000 --seq-len 1024` */
    ModelConfig c = {.dim = 768, .hidden_dim = 2048, .n_layers = 12, .n_heads = 12, .n_kv_heads = 12,
                     .vocab_size = 32000, .seq_len = 1024, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    char path[] = "/tmp/qb_bench_tasks_110m_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    if (model_synth_write(&c, 1, SYNTH_LLAMA2C, path, err)) { fprintf(stderr, "%s\n", err); remove(path); return 1; }
    m = model_load(path, err);
    t = m ? tokenizer_load("assets/llama2-tokenizer/tokenizer.bin", m->cfg.vocab_size, err) : NULL;
    if (!m || !t) { fprintf(stderr, "%s\n", err); remove(path); return 1; }
    bench_task("synth-110M", m, t, "piqa", 8);
    bench_task("synth-110M", m, t, "hellaswag-llamacpp", 4);
    tokenizer_free(t);
    model_free(m);
    remove(path);
    return 0;
}

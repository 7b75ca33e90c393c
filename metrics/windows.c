/* windows.c — the one window driver behind perplexity (ppl.c) and agreement (agreement.c): it runs
 * one or more models over each planned window and hands the logits to a per-window callback.
 *
 * A small model's window is far too little work to split across threads (fork/join per layer costs
 * more than it saves: 2 threads were 2x slower than 1 on stories260K), so whole windows go to
 * threads, each running the models single-threaded; with few windows, or logits too large to hold
 * per thread, windows run one at a time with the model's own threading. The callback writes only
 * its window's slot of its per-window outputs and the caller sums those in window order afterwards,
 * so results have the same bits for any thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>

#include "metrics/ppl_internal.h"

/* One worker: its own KV cache and window logits per model, the window's tokens and row scratch. */
typedef struct {
    ModelState *s[PPL_MAX_MODELS];
    float *logits[PPL_MAX_MODELS]; /* (c, vocab) each */
    int *win;                      /* (c) */
    double *rows;                  /* (c) */
} PplWorker;

static void worker_free(PplWorker *k, int nm) {
    for (int j = 0; j < nm; j++) {
        model_state_free(k->s[j]);
        free(k->logits[j]);
    }
    free(k->win);
    free(k->rows);
}

static int worker_init(PplWorker *k, const Model *const *models, int nm, int c) {
    int ok = 1;
    for (int j = 0; j < nm; j++) {
        k->s[j] = model_state_new(models[j], c, c);
        k->logits[j] = malloc((size_t)c * (size_t)models[j]->cfg.vocab_size * sizeof *k->logits[j]);
        ok = ok && k->s[j] && k->logits[j];
    }
    k->win = malloc((size_t)c * sizeof *k->win);
    k->rows = malloc((size_t)c * sizeof *k->rows);
    return ok && k->win && k->rows ? 0 : -1;
}

static int outer_threads(const Model *m, int c, long nw, int copies) {
    int t = omp_get_max_threads();
    if (t > nw) t = (int)nw;
    if ((double)c * m->cfg.vocab_size * sizeof(float) * copies > 256e6) t = 1;
    return t < 1 ? 1 : t;
}

int ppl_plan_checked(const PplOptions *o, const int *tokens, long n, int bos, int V, const char *what,
                     PplWindow **w, long *nw, char err[QB_ERRLEN]) {
    if (ppl_plan(o, n, w, nw, err)) return -1;
    for (long i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V) {
            snprintf(err, QB_ERRLEN, "%s: token %d at index %ld is outside the model's vocabulary [0, %d)", what, tokens[i], i, V);
            free(*w);
            *w = NULL;
            return -1;
        }
    if (o->mode == PPL_LLAMACPP && (bos < 0 || bos >= V)) {
        snprintf(err, QB_ERRLEN, "%s: llamacpp mode needs a BOS token, and the tokenizer has %s", what,
                 bos < 0 ? "none" : "one outside the vocabulary");
        free(*w);
        *w = NULL;
        return -1;
    }
    return 0;
}

int ppl_run_windows(const Model *const *models, int nm, const int *tokens, int bos, const PplWindow *w, long nw,
                    const PplOptions *o, const char *what, PplWindowFn fn, void *ctx, char err[QB_ERRLEN]) {
    if (nm < 1 || nm > PPL_MAX_MODELS) {
        snprintf(err, QB_ERRLEN, "%s: %d models per window (1 to %d)", what, nm, PPL_MAX_MODELS);
        return -1;
    }
    const int c = o->seqlen, T = outer_threads(models[0], c, nw, nm);
    PplWorker *wk = calloc((size_t)T, sizeof *wk);
    int rc = wk ? 0 : -1;
    for (int i = 0; i < T && rc == 0; i++) rc = worker_init(&wk[i], models, nm, c);
    if (rc) snprintf(err, QB_ERRLEN, "%s: out of memory for %d window(s) of %d", what, T, c);
    long total = 0, done = 0;
    for (long i = 0; i < nw; i++) total += (long)nm * w[i].len;
    int failed = rc;
    /* OpenBLAS single-threaded for the whole region (set here, before the workers start, so no
     * worker's model_forward changes it under another) */
    int blas_saved = openblas_get_num_threads();
    if (T > 1) openblas_set_num_threads(1);
    #pragma omp parallel num_threads(T) if (T > 1 && rc == 0)
    {
        PplWorker *k = &wk[omp_get_thread_num()];
        #pragma omp for schedule(dynamic, 1)
        for (long i = 0; i < nw; i++) {
            int bad;
            #pragma omp atomic read
            bad = failed;
            if (bad) continue;
            const PplWindow *wi = &w[i];
            memcpy(k->win, tokens + wi->start, (size_t)wi->len * sizeof *k->win);
            if (wi->bos_first) k->win[0] = bos;
            char e2[QB_ERRLEN];
            int bad_fwd = 0;
            for (int j = 0; j < nm && !bad_fwd; j++)
                bad_fwd = model_forward(models[j], k->s[j], k->win, wi->len, 0, k->logits[j], e2) != 0;
            if (bad_fwd) {
                #pragma omp critical(ppl_windows_err)
                {
                    if (!failed) memcpy(err, e2, QB_ERRLEN);
                    failed = 1;
                }
                continue;
            }
            /* rows in parallel only when windows are not (T == 1 means no enclosing team) */
            fn(ctx, i, wi, (const float *const *)k->logits, k->rows, T == 1);
            #pragma omp critical(ppl_windows_progress)
            {
                done += (long)nm * wi->len;
                if (o->progress) o->progress(o->progress_ctx, done, total);
            }
        }
    }
    if (T > 1) openblas_set_num_threads(blas_saved);
    for (int i = 0; wk && i < T; i++) worker_free(&wk[i], nm);
    free(wk);
    return failed ? -1 : 0;
}

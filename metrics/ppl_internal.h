/* ppl_internal.h — private to metrics/: the per-thread scratch shared by perplexity (ppl.c) and
 * agreement (agreement.c), which both run whole windows on worker threads. */
#ifndef QBENCH_PPL_INTERNAL_H
#define QBENCH_PPL_INTERNAL_H

#include "metrics/ppl.h"
#include "model/model.h"

/* One worker: its own KV cache, the logits of a whole window, the window's tokens. */
typedef struct {
    ModelState *s;
    float *logits; /* (c, vocab) */
    int *win;      /* (c) */
} PplWorker;

int ppl_worker_init(PplWorker *k, const Model *m, int c);
void ppl_worker_free(PplWorker *k);

/* Threads that run windows at once (1 = one window at a time, threaded inside the model);
 * `copies` = logits buffers per worker. */
int ppl_outer_threads(const Model *m, int c, long nw, int copies);

/* ppl_plan plus the token and BOS checks against the vocabulary V (`what` names the caller in the
 * message). On error *w is NULL. */
int ppl_plan_checked(const PplOptions *o, const int *tokens, long n, int bos, int V, const char *what,
                     PplWindow **w, long *nw, char err[QB_ERRLEN]);

#endif

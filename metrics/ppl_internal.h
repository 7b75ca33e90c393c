/* ppl_internal.h — private to metrics/: the window driver (windows.c) that perplexity (ppl.c) and
 * agreement (agreement.c) share: plan the windows, run the models over each, per-window callback. */
#ifndef QBENCH_PPL_INTERNAL_H
#define QBENCH_PPL_INTERNAL_H

#include "metrics/ppl.h"
#include "model/model.h"

#define PPL_MAX_MODELS 2

/* ppl_plan plus the token and BOS checks against the vocabulary V (`what` names the caller in the
 * message). On error *w is NULL. */
int ppl_plan_checked(const PplOptions *o, const int *tokens, long n, int bos, int V, const char *what,
                     PplWindow **w, long *nw, char err[QB_ERRLEN]);

/* Called once per window i, on whichever thread ran it, after every model ran the window's tokens
 * from position 0: logits[j] = model j's (w->len, vocab) logits. rows = c doubles of scratch owned by
 * the calling thread. rows_parallel: the callback may split its rows over an OpenMP team (windows run
 * one at a time). The callback writes only window i's slot of its outputs; the caller reduces them
 * in window order after ppl_run_windows returns, which keeps the bits independent of the threads. */
typedef void (*PplWindowFn)(void *ctx, long i, const PplWindow *w, const float *const *logits, double *rows,
                            int rows_parallel);

/* Runs models[0 .. nm) (nm <= PPL_MAX_MODELS, sharing a vocabulary) over the windows w[0 .. nw) of
 * tokens (seqlen o->seqlen; BOS written first where w->bos_first), calls fn for each, and reports
 * progress through o->progress as nm × window tokens. 0, or -1 with err (out of memory, or the first
 * model_forward error; `what` names the caller). */
int ppl_run_windows(const Model *const *models, int nm, const int *tokens, int bos, const PplWindow *w, long nw,
                    const PplOptions *o, const char *what, PplWindowFn fn, void *ctx, char err[QB_ERRLEN]);

#endif

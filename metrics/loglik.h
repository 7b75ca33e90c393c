/* loglik.h — zero-shot task scoring with lm-evaluation-harness's loglikelihood rules, the task
 * metrics (acc, acc_norm, perplexity) with lm-eval's standard errors, and paired tests between two
 * models on the same items (McNemar, paired bootstrap).
 *
 * One request (context, continuation), as lm-eval's HFLM encodes and scores it:
 *   - trailing whitespace of the context (Python's str.rstrip()) moves to the continuation;
 *   - whole = enc(context + continuation), ctx = enc(context), cont = whole[len(ctx):]; enc adds
 *     BOS only when the tokenizer adds one (LoglikOptions.bos); an empty context becomes [BOS]
 *     (EOS without one) and cont = enc(continuation) without BOS;
 *   - the model reads (ctx + cont)[-(max_length+1):][:-1] (truncated from the left) and the last
 *     len(cont) positions score cont: ll = Σ log p(token), greedy = every token is the argmax
 *     (first index on ties). A continuation longer than the window (lm-eval fails on it) has only
 *     its last max_length tokens scored; such requests are counted in TaskScores.cont_truncated.
 *     A continuation that gets no tokens (a tokenizer whose pieces span spaces can fold it into the
 *     context's last token) scores as lm-eval's empty sums do: ll 0, greedy; counted in cont_empty.
 * hellaswag-llamacpp requests follow llama.cpp instead: enc(context + continuation) whole, with
 * BOS as above, scored from the end of the common prefix of the item's sequences (tasks.h).
 *
 * Speed: requests of an item that share a token prefix (the context of a multiple-choice item)
 * prefill it once into the KV cache; each continuation then runs from the first position where it
 * differs (pos0 > 0). Items run in parallel, one per thread with its own cache and single-threaded
 * kernels, and every item starts from an empty cache, so the numbers do not depend on the thread
 * count. Log-probabilities are llama.cpp's (float max, double sum of expf; ppl.h's ppl_token_nll).
 *
 * Metrics (lm-eval's process_results and aggregation, all first-index-wins argmax):
 *   multiple choice  acc = [argmax ll == gold]; acc_norm = [argmax ll / len(choice) == gold] with
 *                    len in code points, the delimiter not counted
 *   partial          acc = [argmax ll == gold] (winogrande)
 *   greedy           acc = [every target token greedy]; perplexity = exp(-mean ll) (lambada)
 *   llamacpp hs      acc = [argmax (ll / tokens) == gold], ties to the first (llama.cpp)
 * Standard errors as lm-eval: a mean's is sample_stddev / sqrt(n) (for a 0/1 score sqrt(p(1-p)/(n-1)));
 * perplexity's is lm-eval's bootstrap_stderr (bootstrap_iters resamples, chunks of 1000 drawn by
 * Python's random.Random(chunk).choices: reproduced here with MT19937 as CPython seeds it), so it
 * equals lm-eval's figure for the same per-item log-likelihoods. */
#ifndef QBENCH_LOGLIK_H
#define QBENCH_LOGLIK_H

#include <stdint.h>

#include "model/model.h"
#include "model/tokenizer.h"

/* What a task is to the scorer (datasets/tasks.h builds these; the harness passes them on). */
typedef enum {
    LL_MULTIPLE_CHOICE, /* one context, one continuation per choice: acc, acc_norm */
    LL_PARTIAL,         /* one context per choice, one shared continuation: acc */
    LL_GREEDY,          /* one request: acc = all target tokens greedy, perplexity */
    LL_LLAMACPP_HS      /* llama.cpp hellaswag: argmax of the mean per-token log-probability */
} LoglikKind;

typedef struct {
    int n;                    /* requests */
    const char *const *ctx;   /* n contexts */
    const char *const *cont;  /* n continuations, target delimiter included */
    const long *choice_chars; /* n: len(choice) in code points, for acc_norm */
    int gold;
} LoglikItem;

typedef struct {
    LoglikKind kind;
    int from_divergence; /* continuation = whole[d:] at the first token where enc(context) and
                            enc(context + continuation) differ, instead of whole[len(enc(context)):]
                            (tinystories-cloze: the same wherever enc(context) is a prefix of the
                            whole's tokens; never empty where pieces span spaces) */
    int has_acc_norm;
    const LoglikItem *items;
    int n;
    double chance;
} LoglikTask;

typedef void (*LoglikProgressFn)(void *ctx, long done, long total);

typedef struct {
    int max_length;      /* lm-eval's max_length; 0 = the model's seq_len */
    int bos;             /* 1 / 0: prepend BOS to every encoding; -1 = as the tokenizer does (default) */
    int max_batch;       /* positions per forward call; 0 = 256 */
    int no_prefix_reuse; /* every request from an empty cache (one forward per request; for benchmarks) */
    LoglikProgressFn progress;
    void *progress_ctx;
} LoglikOptions;

/* Per-item results of one task: request r of item i at [i * max_req + r]. */
typedef struct {
    int n_items, max_req;
    double *ll;             /* Σ log p of the continuation tokens */
    int *ntok;              /* continuation tokens scored */
    unsigned char *greedy;  /* every continuation token was the argmax */
    int *n_req;             /* requests of each item */
    int *pred, *pred_norm;  /* chosen request (acc / acc_norm; pred_norm = pred without acc_norm) */
    unsigned char *correct, *correct_norm;
    long tokens_run;        /* positions run through the model (speed accounting) */
    long cont_truncated;    /* requests whose continuation alone exceeded the window (see above) */
    long cont_empty;        /* requests whose continuation got no tokens (see above) */
} TaskScores;

/* The effective BOS rule of o with tokenizer t: 1 if encodings start with BOS. */
int loglik_uses_bos(const LoglikOptions *o, const Tokenizer *t);

/* lm-eval's _encode_pair for one request: *ctx_ids / *cont_ids malloc'd (free both). */
int loglik_encode_pair(const Tokenizer *t, int bos, const char *ctx, const char *cont, int **ctx_ids, int *n_ctx,
                       int **cont_ids, int *n_cont, char err[QB_ERRLEN]);

/* Scores every item of the task. Threads: the OpenMP count (the harness sets it). */
int loglik_eval_task(const Model *m, const Tokenizer *t, const LoglikTask *task, const LoglikOptions *o, TaskScores *sc,
                     char err[QB_ERRLEN]);
void loglik_scores_free(TaskScores *sc);

/* Derives pred/correct from ll/ntok/greedy as the task kind says (called by loglik_eval_task; public
 * so stored per-item log-likelihoods can be re-scored). */
void loglik_decide(const LoglikTask *task, TaskScores *sc);

typedef struct {
    long n;
    double acc, acc_stderr;
    double acc_norm, acc_norm_stderr; /* NAN unless the task has acc_norm */
    double ppl, ppl_stderr;           /* greedy tasks; NAN otherwise (ppl_stderr NAN when iters == 0) */
    double chance;
} TaskSummary;

void loglik_summarize(const LoglikTask *task, const TaskScores *sc, int bootstrap_iters, TaskSummary *s);

/* lm-eval's mean_stderr: sqrt(Σ(x-mean)² / (n-1)) / sqrt(n); NAN for n < 2. */
double loglik_mean_stderr(const double *x, long n);
/* lm-eval's perplexity = exp(-mean(ll)) and its bootstrap_stderr with `iters` resamples. */
double loglik_perplexity(const double *ll, long n);
double loglik_perplexity_stderr(const double *ll, long n, int iters);

/* ---- paired tests between two models on the same items -------------------------------------- */

typedef struct {
    long n;       /* items */
    long b, c;    /* b: right under A and wrong under B; c: wrong under A and right under B */
    double chi2;  /* (|b - c| - 1)² / (b + c), continuity-corrected; 0 when b + c == 0 */
    double p;     /* exact two-sided binomial p-value: min(1, 2 Σ_{k<=min(b,c)} C(b+c,k) / 2^(b+c)) */
} McNemar;
void loglik_mcnemar(const unsigned char *a, const unsigned char *b, long n, McNemar *out);

typedef struct {
    double diff;     /* mean(b) - mean(a) */
    double lo, hi;   /* 95% percentile interval of the resampled differences */
    double p;        /* two-sided: 2 min(P*(d <= 0), P*(d >= 0)), capped at 1 */
    int iters;
} PairedBootstrap;
/* Resamples item indices with replacement (qb_rng seeded with `seed`) iters times. */
int loglik_paired_bootstrap(const double *a, const double *b, long n, int iters, uint64_t seed, PairedBootstrap *out);

#endif

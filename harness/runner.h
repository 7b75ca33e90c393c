/* runner.h — executes an experiment's sweep points into its results database (`qbench run`), and
 * the evaluations each point gets (perplexity, generation metrics, agreement with the baseline).
 *
 * For every point of the shard that is not `done` in the database: load the model afresh (mmap,
 * copy-on-write, so each point starts from the original weights), quantize it on the calibration
 * windows, evaluate, and write the whole point with ONE store_write_point() transaction. A crash at
 * any moment leaves at most a 'running' row, which the next run redoes.
 *
 * Baseline (the unquantized model): its perplexities and its generations (with their scores
 * against the references) are computed once per model + dataset + evaluation signature and stored
 * in the database (store_put_baseline*), so later points and later runs reuse them. Agreement
 * (top-1, KL) needs the baseline's full next-token distributions; instead of storing logits, a
 * second copy of the unquantized model (the same mmapped file, never modified) recomputes them
 * window by window next to the quantized model.
 *
 * Library code: returns 0 / -1 with err; progress goes to the stream given (stderr from the CLI). */
#ifndef QBENCH_RUNNER_H
#define QBENCH_RUNNER_H

#include <stdio.h>

#include "harness/config.h"
#include "metrics/ppl.h"
#include "model/tokenizer.h"

typedef struct {
    const char *db_path;   /* NULL: the experiment's output.db */
    int shard_i, shard_n;  /* shard_n <= 1: every point */
    int threads;           /* 0: leave OpenMP's default */
    int dry_run;           /* list points (with status and an estimate) to `out`, do nothing */
    FILE *out;             /* listing / summary (stdout) */
    FILE *progress;        /* progress lines, NULL = quiet */
} RunOptions;

typedef struct {
    int points;   /* in this shard */
    int skipped;  /* already done */
    int done;     /* finished now */
    int failed;   /* quantization or evaluation failed (recorded as 'failed', retried next run) */
} RunSummary;

int runner_run(const Experiment *e, const RunOptions *o, RunSummary *sum, char err[QB_ERRLEN]);

/* ---- evaluations (runner_eval.c) ----------------------------------------------------------------- */

/* A text dataset tokenized once per run, as ppl_eval_text does it (BOS first; for llamacpp one
 * trailing newline dropped), with each token's byte count for bits per byte. */
typedef struct {
    int *ids;
    long n;
    int bos;
    float *bytes;
} EvalTokens;
int eval_tokenize(const Tokenizer *t, const char *text, size_t len, PplMode mode, EvalTokens *out, char err[QB_ERRLEN]);
void eval_tokens_free(EvalTokens *t);

/* Perplexity in the entry's mode (metrics/ppl.h); *st zeroed first. stats_json (may be NULL)
 * receives the metric's stored statistics, malloc'd: the sums, and every window's Σnll ("win_nll",
 * %.17g) and scored-token count ("win_n") in window order, which paired comparisons need. */
int eval_perplexity(const Model *m, const EvalTokens *tk, const PplEval *pe, PplStats *st, char **stats_json,
                    char err[QB_ERRLEN]);

/* Agreement of `quant` with `base` (top-1, KL(base ‖ quant)) on the first `windows` non-overlapping
 * windows of seqlen, at the positions gptq-mode perplexity scores. */
int eval_agreement(const Model *base, const Model *quant, const EvalTokens *tk, const AgreeEval *ae,
                   AgreementStats *st, char err[QB_ERRLEN]);

/* Greedy continuation of each prompt (BOS + prompt tokens), decoded to text. outs[i] malloc'd. */
int eval_generate(const Model *m, const Tokenizer *t, const char *const *prompts, int n, int max_new_tokens,
                  char **outs, char err[QB_ERRLEN]);

/* The signature (evaluation settings) stored with a metric so a point and its baseline match. */
void eval_ppl_signature(const PplEval *pe, const char *tok_name, int prepend_space, const char *data_sha, char *out,
                        size_t outlen);
void eval_agree_signature(const AgreeEval *ae, const char *tok_name, int prepend_space, const char *data_sha, char *out,
                          size_t outlen);
void eval_gen_signature(const GenEval *ge, const char *data_sha, char *out, size_t outlen);

#endif

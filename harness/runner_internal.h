/* runner_internal.h — what the pieces of `qbench run` share (private to harness/runner*.c):
 * runner.c drives the sweep, runner_data.c prepares what a run computes once (evaluation tokens,
 * tasks, calibration windows, the unquantized baseline), runner_point.c quantizes and evaluates
 * one point into one store transaction. */
#ifndef QBENCH_RUNNER_INTERNAL_H
#define QBENCH_RUNNER_INTERNAL_H

#include <stdint.h>

#include "datasets/calib.h"
#include "datasets/datasets.h"
#include "harness/progress.h"
#include "harness/runner.h"
#include "harness/store.h"
#include "harness/sweep.h"
#include "harness/tasks_eval.h"
#include "metrics/meteor.h"

/* ---- per-run state ----------------------------------------------------------------------------- */

typedef struct {
    EvalTokens tk;
    char sig[400];
    double base_value; long base_count;
} PplData;

typedef struct {
    EvalTokens tk;
    char sig[400];
} AgreeData;

typedef struct {
    TaskSet ts;
    char sig[256];
    char **base_out; /* baseline generations, ts.n */
} GenData;

typedef struct {
    EvalTask et;
    int loaded;
} TaskRunData;

typedef struct {
    const Experiment *e;
    const RunOptions *o;
    Model *base;
    Tokenizer *tok;
    Store *st;
    int64_t experiment_id;
    PplData ppl[CFG_MAX_EVAL];
    AgreeData agree[CFG_MAX_EVAL];
    GenData gen[CFG_MAX_EVAL];
    TaskRunData task[CFG_MAX_EVAL];
    WordNet *wn;
    CalibWindows calib;
    int have_calib;
    Progress bar; /* the overall bar over points (progress.h) */
    char *evals;    /* the metrics this experiment computes (store_set_experiment_evals' format) */
    int reevaluate; /* the point being run is done under other evaluation settings */
} Run;

/* Scores of one generation metric over a task. */
typedef struct {
    const char *kind;    /* chrf, chrf++, meteor */
    double value;
    char sig[256];
    double *sent;        /* per-sample scores (n) */
    char *stats;         /* stored statistics (malloc'd JSON): the bootstrap CI and every segment's
                            statistics (chrF) or score (METEOR), for intervals and paired tests */
    int vs_base;         /* scored against the baseline's generations, not the references */
} GenScore;

double runner_now(void);
/* Invalid UTF-8 (byte-fallback tokens) → U+FFFD; malloc'd copy, NULL when out of memory. */
char *runner_utf8_clean(const char *s);
/* One progress line (nothing when quiet). */
void runner_progress(Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* runner_data.c */
int runner_prepare_data(Run *r, const char *tokpath, char err[QB_ERRLEN]);
/* Calibration windows, sampled once per run; *seconds is the time spent now (0 when cached). */
int runner_calibration(Run *r, double *seconds, char err[QB_ERRLEN]);
/* The baseline's perplexities and generations, from the database or computed and stored now. */
int runner_baselines(Run *r, char err[QB_ERRLEN]);
/* Scores outs[n] against refs (sample i: refs[i][0..nrefs[i])) for every metric in mask (GEN_METRIC_*);
 * sc receives up to 3 entries (*nsc), each with a malloc'd per-sample array. */
int runner_score_generations(Run *r, const char *const *outs, const char *const *const *refs, const int *nrefs,
                             int n, int mask, GenScore *sc, int *nsc, char err[QB_ERRLEN]);
void runner_free_scores(GenScore *sc, int n);
void runner_free(Run *r);

/* runner_tasks.c: zero-shot tasks (eval.tasks) — loaded once, the baseline's results from the database
 * or computed and stored (metrics and per-item rows), each point's into TaskPointResults. */
typedef struct {
    int n;
    TaskScores sc[CFG_MAX_EVAL];
    StoreTaskItem *items[CFG_MAX_EVAL];
    StoreTaskItems sets[CFG_MAX_EVAL];
    StoreMetric metrics[CFG_MAX_EVAL * 3];
    char stats[CFG_MAX_EVAL * 3][512];
    int n_metrics;
} TaskPointResults;
int runner_tasks_prepare(Run *r, const char *tokpath, char err[QB_ERRLEN]);
int runner_tasks_baselines(Run *r, char err[QB_ERRLEN]);
/* Evaluates every task on m into *out (free with runner_tasks_point_free); appends to summary. */
int runner_tasks_point(Run *r, const Model *m, TaskPointResults *out, char *summary, size_t sumlen, char err[QB_ERRLEN]);
void runner_tasks_point_free(TaskPointResults *out);
void runner_tasks_free(Run *r);

/* runner_point.c: quantizes and evaluates one point; on success it is in the database as 'done' and
 * summary holds a one-line digest for the progress line. */
int runner_point(Run *r, const SweepPoint *p, StoreRun *run, char *summary, size_t sumlen, char err[QB_ERRLEN]);
/* A `models:` entry, before any work: loads it, checks it shares the experiment model's vocabulary,
 * sets p->model_sha256 and method[96] to "FORMAT:LABEL", FORMAT what it is stored as (gguf, autogptq, qbq
 * or model): the method column of its results row (bits 0: a model entry). */
int runner_model_entry(Run *r, SweepPoint *p, char method[96], char err[QB_ERRLEN]);

#endif

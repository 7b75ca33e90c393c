/* tasks_eval.h — zero-shot tasks in the harness (used by `qbench tasks` and `qbench run`): a loaded
 * task seen by the scorer, its signature, and its results as metrics and per-item rows. */
#ifndef QBENCH_TASKS_EVAL_H
#define QBENCH_TASKS_EVAL_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "datasets/tasks.h"
#include "harness/store.h"
#include "metrics/loglik.h"

/* lm-eval's default bootstrap_iters (the perplexity's standard error) */
#define TASK_BOOTSTRAP_ITERS 100000

typedef struct {
    TaskData data;
    LoglikItem *items;
    LoglikTask view;
    int limit;           /* as asked (0 = all) */
    char sig[512];       /* "task:piqa|version:1.0|limit:500|num_fewshot:0|normalization:chars|..." */
} EvalTask;

int eval_task_load(const char *name_or_path, int limit, EvalTask *et, char err[QB_ERRLEN]);
void eval_task_free(EvalTask *et);

/* The signature of the settings behind a task's numbers: task, version, limit, num_fewshot:0,
 * normalization (acc_norm's divisor: chars, tokens for hellaswag-llamacpp, none), bos, max_length,
 * tokenizer file name and its leading-space setting, and the task file's sha256 prefix. */
void eval_task_signature(EvalTask *et, const char *tok_path, int bos, int max_length, int prepend_space);

/* The task's metrics (acc, acc_norm when defined, perplexity for greedy tasks) into out[0..3),
 * with their stats JSON in stats[k] (sizes 512); returns how many. Value = the metric (accuracy as
 * a fraction), count = items. dataset = the task's name, signature = et->sig. */
int eval_task_metrics(const EvalTask *et, const TaskSummary *s, StoreMetric out[3], char stats[3][512]);

/* Per-item rows pointing into sc (valid while sc lives); malloc'd array of sc->n_items. */
StoreTaskItem *eval_task_store_items(const EvalTask *et, const TaskScores *sc);

/* "acc = 0.5930 ± 0.0115, acc_norm = ... (n = 1838, chance 0.5000)" */
void eval_task_summary_line(const EvalTask *et, const TaskSummary *s, char *out, size_t n);

/* Two points' stored items of one task compared (harness/cmd_tasks.c; `qbench tasks compare` and
 * `qbench compare`): McNemar on acc, paired bootstrap (iters resamples, seed) of the difference
 * B − A in acc, acc_norm and the gold choice's log-likelihood. -1 (err) when the item sets differ. */
typedef struct {
    int n, have_norm;
    long iters, seed;
    McNemar mc;
    PairedBootstrap acc, acc_norm, gold_ll;
} TaskPaired;
int tasks_paired(const StoreTaskItemRow *a, int na, const StoreTaskItemRow *b, int nb, long iters, long seed,
                 TaskPaired *out, char err[QB_ERRLEN]);
cJSON *tasks_paired_json(const TaskPaired *t);
void tasks_paired_print(FILE *f, const TaskPaired *t, const char *label_a, const char *label_b);

#endif

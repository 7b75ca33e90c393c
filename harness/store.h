/* store.h — the results database (SQLite): one file per experiment (or shard) holding every
 * finished sweep point, its metrics, per-layer quantization stats and generations, plus the
 * unquantized baselines that every point is compared against. The schema is documented at the top
 * of harness/store.c.
 *
 * Rules the callers can rely on:
 *   - store_write_point() writes a WHOLE point (run row marked 'done' + metrics + layers + samples)
 *     in ONE transaction. Any failure rolls it back: a crash or error leaves at most a 'running'
 *     row (from store_begin_point) or nothing, never a 'done' one.
 *   - The database is opened in WAL mode with a 10 s busy timeout, so two processes (two shards,
 *     or `qbench run` and `qbench report`) can share one file.
 *   - Functions return 0 on success and -1 on error with a one-line message in `err`; predicates
 *     return 1 / 0 and -1 on error. Nothing here prints or exits.
 *   - All strings passed in are copied; NULL strings are stored as SQL NULL (or '' where noted). */
#ifndef QBENCH_STORE_H
#define QBENCH_STORE_H

#include <stdint.h>

#include "base/base.h"

#define STORE_SCHEMA_VERSION 5 /* PRAGMA user_version after store_open() */

typedef struct Store Store;

/* One sweep point's identity, configuration and costs. */
typedef struct {
    const char *key;           /* stable hash of model sha256 + canonical params (sweep code); UNIQUE */
    int64_t experiment_id;     /* from store_upsert_experiment(); 0 = none */
    const char *model_path;
    const char *model_sha256;
    const char *method;        /* "rtn", "gptq", "gptqt", "bcq", ... */
    int bits;
    int group_size;            /* -1 = one group per row */
    int act_order, sym, static_groups; /* 0 / 1 */
    const char *params_json;   /* the full canonical parameters of the point (JSON object) */
    const char *host;          /* NULL = this machine's hostname */
    int threads;
    double seconds_calibration, seconds_quantize, seconds_eval;
    int64_t peak_rss_bytes;
    double bits_per_weight;    /* including scales/zeros/indices overhead */
    int64_t packed_bytes;      /* size of the packed quantized linear layers */
    const char *provenance;    /* the build that computed it; NULL = this one (qb_provenance) */
    /* speed of the quantized model as stored, on this machine (timing: never in a key or a comparison);
     * NAN / 0 = not measured */
    double decode_tps, prefill_tps;
    int speed_threads;
} StoreRun;

/* One number with the settings that produced it. */
typedef struct {
    const char *kind;       /* "ppl", "chrf", "chrf++", "meteor", "top1", "kl", ... (required) */
    const char *dataset;    /* dataset (ppl) or generation task (required) */
    const char *against;    /* "reference", "baseline" or "-" (NULL = "-") */
    double value;
    int64_t count;          /* tokens, sentences, positions: what the value averages over */
    const char *stats_json; /* sufficient statistics (so shards/corpora can be re-summed); may be NULL */
    const char *signature;  /* the EVALUATION settings (seqlen, mode, metric options), not the
                               quantization ones: a point's metric and its baseline share it.
                               NULL = "" */
} StoreMetric;

/* Per linear layer quantization stats. (block, name) is unique within a run. */
typedef struct {
    int block;
    const char *name;       /* "attn.q", ... (required) */
    int rows, cols;
    double error;           /* ‖WXᵀ − QXᵀ‖²/n over the calibration inputs (QuantResult.error) */
    double gptq_loss;       /* the solver's own loss; NAN if not applicable */
    double damp_used;
    int retries;            /* Cholesky retries with more damping */
    double seconds;
} StoreLayer;

/* One generation. (task, idx) is unique within a run / a baseline's generations. */
typedef struct {
    const char *task;       /* required */
    int idx;
    const char *prompt, *output, *reference;
    const char *scores_json; /* per-sample scores, e.g. {"chrf":51.2,"meteor":0.43}; may be NULL */
} StoreSample;

/* Per-item results of a zero-shot task (harness/store_tasks.c): what a paired test between two
 * points (McNemar on correct, paired bootstrap) needs. Arrays have n_req entries. */
typedef struct {
    int idx, gold, pred, pred_norm, correct, correct_norm, n_req;
    const double *ll;            /* log-likelihood of each request */
    const int *ntok;             /* continuation tokens of each request */
    const unsigned char *greedy; /* each request's continuation was greedy */
} StoreTaskItem;

typedef struct {
    const char *task, *signature; /* as in the task's metrics */
    const StoreTaskItem *items;
    int n;
} StoreTaskItems;

/* Everything store_write_point() writes in one transaction. */
typedef struct {
    StoreRun run;
    const StoreMetric *metrics; int n_metrics;
    const StoreLayer *layers;   int n_layers;
    const StoreSample *samples; int n_samples;
    const StoreTaskItems *task_items; int n_task_items; /* zero-shot tasks' per-item rows */
    int reevaluated; /* 1: the key may already be done (its evaluation settings changed): the new row
                        replaces it, keeping its metrics and samples under other signatures */
} StorePoint;

/* Opens (creating if needed) a results database, applies forward migrations up to
 * STORE_SCHEMA_VERSION, turns on WAL, foreign keys and the busy timeout. Refuses a database
 * written by a newer qbench. NULL with `err` set on failure. */
Store *store_open(const char *path, char err[QB_ERRLEN]);
/* Opens an existing results database for reading only: nothing is created, migrated or written
 * (an older schema is read as it is). Refuses a file that is not a qbench database (an empty one
 * included) or one written by a newer qbench. For report, plot, check and merge's inputs. */
Store *store_open_readonly(const char *path, char err[QB_ERRLEN]);
void store_close(Store *s);
/* The underlying handle, for read-only queries by report/plot/check/merge. */
struct sqlite3 *store_db(Store *s);

/* Inserts the experiment (name, file path, file sha256) if this (name, sha256) pair is new, and
 * returns its id either way. */
int store_upsert_experiment(Store *s, const char *name, const char *file_path, const char *file_sha256,
                            int64_t *id, char err[QB_ERRLEN]);

/* 1 if a run with this key has status 'done', 0 if not (absent, 'running' or 'failed'), -1 on error. */
int store_point_is_done(Store *s, const char *key, char err[QB_ERRLEN]);

/* Records that a point has started: inserts (or resets) its run row with status 'running' and
 * started = now. Does nothing and returns 0 if the point is already 'done'. Optional: a point
 * written without it simply appears as 'done' at once. */
int store_begin_point(Store *s, const StoreRun *run, char err[QB_ERRLEN]);

/* Writes the whole point in one transaction (BEGIN IMMEDIATE ... COMMIT): the run row with status
 * 'done' and finished = now (replacing a 'running'/'failed' row of the same key and its children),
 * then every metric, layer and sample. On any failure: ROLLBACK, -1, nothing changed. Writing a
 * key that is already 'done' is an error (the sweep must skip it). */
int store_write_point(Store *s, const StorePoint *p, char err[QB_ERRLEN]);

/* The evaluations an experiment version computes (one "kind\tdataset\tagainst\tsignature" line
 * each, a signature ending in '|' matching as a prefix) and the hash of its evaluation settings
 * (sweep_eval_key), recorded by `run` so that check, report and plot can tell current metrics from
 * stale ones. */
int store_set_experiment_evals(Store *s, int64_t experiment_id, const char *eval_key, const char *evals,
                               char err[QB_ERRLEN]);
/* The evals of experiment `name` recorded under eval_key (NULL: its latest version that recorded
 * any): 1 found (*evals malloc'd), 0 none, -1 error. */
int store_get_experiment_evals(Store *s, const char *name, const char *eval_key, char **evals,
                               char err[QB_ERRLEN]);
/* 1 if the run with this key has a metric of this identity (signature ending in '|': as a prefix),
 * 0 if not, -1 on error. */
int store_run_has_metric(Store *s, const char *key, const char *kind, const char *dataset, const char *against,
                         const char *signature, char err[QB_ERRLEN]);

/* Marks a point 'failed' with an error message (inserting the row if needed). A later run retries
 * it: failed points are not done. */
int store_fail_point(Store *s, const StoreRun *run, const char *message, char err[QB_ERRLEN]);

/* --- baselines: the unquantized model's numbers and generations, keyed by model sha256, reused
 * across points and runs. A baseline metric is identified by (model_sha256, kind, dataset,
 * against, signature); generations by (model_sha256, task, signature). Putting an existing one
 * replaces it. */
int store_put_baseline(Store *s, const char *model_sha256, const StoreMetric *m, char err[QB_ERRLEN]);
/* 1 found (value/count copied out, stats_json malloc'd into *stats_json if non-NULL; free it),
 * 0 not found, -1 error. */
int store_get_baseline(Store *s, const char *model_sha256, const char *kind, const char *dataset,
                       const char *against, const char *signature, double *value, int64_t *count,
                       char **stats_json, char err[QB_ERRLEN]);

/* A generation set (all samples of one task) in one transaction, replacing any previous one. */
int store_put_baseline_samples(Store *s, const char *model_sha256, const char *task, const char *signature,
                               const StoreSample *samples, int n, char err[QB_ERRLEN]);
/* Loaded samples: every string malloc'd (free with store_free_samples). *n = 0 when none stored
 * (returns 0). Samples come back ordered by idx. */
typedef struct {
    char *task;
    int idx;
    char *prompt, *output, *reference, *scores_json;
} StoreSampleRow;
int store_get_baseline_samples(Store *s, const char *model_sha256, const char *task, const char *signature,
                               StoreSampleRow **out, int *n, char err[QB_ERRLEN]);
void store_free_samples(StoreSampleRow *rows, int n);

/* --- zero-shot task items (harness/store_tasks.c) --------------------------------------------- */
/* Inserts the sets for run_id (inside the caller's transaction; used by store_write_point). */
int store_insert_task_items(Store *s, int64_t run_id, const StoreTaskItems *sets, int n, char err[QB_ERRLEN]);
/* The unquantized model's items of one task/signature, replacing any stored before (own transaction). */
int store_put_baseline_task_items(Store *s, const char *model_sha256, const StoreTaskItems *set, char err[QB_ERRLEN]);
typedef struct {
    int idx, gold, pred, pred_norm, correct, correct_norm, n_req;
    double *ll; int *ntok; unsigned char *greedy; /* malloc'd, n_req each */
} StoreTaskItemRow;
/* Items of a run (run_id > 0) or of a model's baseline (run_id == 0, model_sha256), one task and
 * signature (NULL: the only one stored; more than one is an error), ordered by idx. *sig_out (may be
 * NULL) receives the signature found, malloc'd. */
int store_get_task_items(Store *s, int64_t run_id, const char *model_sha256, const char *task, const char *signature,
                         StoreTaskItemRow **rows, int *n, char **sig_out, char err[QB_ERRLEN]);
void store_free_task_items(StoreTaskItemRow *rows, int n);

/* --- queries for report / plot / check ------------------------------------------------------ */
typedef struct {
    char *kind, *dataset, *against, *signature, *stats_json;
    double value;
    int64_t count;
} StoreMetricRow;

typedef struct {
    int64_t id;
    char *key, *experiment; /* experiment name, "" if none */
    char *model_path, *model_sha256, *method, *params_json, *status, *error, *host;
    char *started, *finished; /* ISO-8601 UTC text, "" if unset */
    char *provenance;         /* the build that wrote it, "" for rows older than schema 4 */
    int bits, group_size, act_order, sym, static_groups, threads;
    double seconds_calibration, seconds_quantize, seconds_eval;
    int64_t peak_rss_bytes, packed_bytes;
    double bits_per_weight;
    double decode_tps, prefill_tps; /* NAN when not measured (and for rows older than schema 5) */
    int speed_threads;              /* the threads they were measured with, 0 when not measured */
    StoreMetricRow *metrics; int n_metrics;
} StoreRunRow;

/* Loads runs (all statuses when status == NULL, else only that status; all experiments when
 * experiment == NULL, else the experiment with that name) with their metrics, ordered by
 * method, group_size, bits, act_order, id. Free with store_free_runs. */
int store_load_runs(Store *s, const char *experiment, const char *status, StoreRunRow **out, int *n,
                    char err[QB_ERRLEN]);
void store_free_runs(StoreRunRow *rows, int n);
/* The fields of one loaded run (with its metrics) / one metric row, for callers that drop rows. */
void store_free_run_row(StoreRunRow *r);
void store_free_metric_row(StoreMetricRow *m);
/* The metric of a loaded run matching kind/dataset/against (NULL = any), or NULL. */
const StoreMetricRow *store_run_metric(const StoreRunRow *r, const char *kind, const char *dataset,
                                       const char *against);

/* Every baseline metric, ordered by model, kind, dataset, against, signature. Free with
 * store_free_baselines. */
typedef struct {
    char *model_sha256;
    StoreMetricRow m;
} StoreBaselineRow;
int store_load_baselines(Store *s, StoreBaselineRow **out, int *n, char err[QB_ERRLEN]);
void store_free_baselines(StoreBaselineRow *rows, int n);

/* --- merge ------------------------------------------------------------------------------------- */
/* Copies every experiment, done run (with its metrics, layers, samples) and baseline of the
 * database at `src_path` into `dst`, deduplicating by run key / baseline identity. An identical
 * duplicate is skipped; a conflicting one (same key, different values) keeps dst's and is counted
 * in *conflicts with a one-line description of the first in `warn` (may be NULL). One transaction
 * per source. */
int store_merge_from(Store *dst, const char *src_path, int *runs_added, int *conflicts,
                     char warn[QB_ERRLEN], char err[QB_ERRLEN]);

#endif

/* results.h — turning a results database into something people read: the table of every point
 * (report.c), accuracy-vs-size plots drawn by gnuplot (plot.c) and the CI regression gate with
 * its JUnit XML (check.c). All of them only read the database. Private to harness/. */
#ifndef QBENCH_RESULTS_H
#define QBENCH_RESULTS_H

#include <stdio.h>

#include "harness/config.h"
#include "harness/store.h"

/* "gptq w4 g32 act" / "rtn w8 row": method, bits, group, flags of a point. */
void results_point_label(const StoreRunRow *r, char *out, size_t outlen);

/* The baseline a point's metric is compared against: same model, kind, dataset and against, and
 * the same signature (evaluation settings). Where either signature is empty, the single candidate
 * is used; NULL when there is none, or several and none with the same signature (ambiguous). */
const StoreBaselineRow *results_find_baseline(const StoreBaselineRow *b, int nb, const char *model_sha256,
                                              const char *kind, const char *dataset, const char *against,
                                              const char *signature);

/* The standard error a metric carries (perplexity: from its stored NLL sums, as ppl_stderr; acc and
 * acc_norm: their stored "stderr"; top1 and kl: llama.cpp's same_top_se and kl_se); NAN when it
 * carries none. */
double results_metric_se(const StoreMetricRow *m);
/* ---- paired comparisons (harness/paired.c) ----------------------------------------------------- */
/* Two numbers of the same identity (kind, dataset, against, signature) compared unit by unit, from
 * the statistics stored with them: ppl by windows (Δppl and ln(PPL_A/PPL_B) with the ratio
 * estimator's standard error, metrics/stats.h), top1 and kl by positions (mean paired difference ±
 * sd/sqrt(n)), chrF/chrF++/METEOR by segments (sacrebleu's paired bootstrap: 1,000 resamples, seed
 * 12345, p-value; lo/hi = 2.5/97.5 percentiles of the resampled differences). For SE-based kinds
 * lo/hi = diff ∓ 1.96 SE and p the two-sided normal p-value. */
typedef struct {
    const char *unit;             /* "window", "position", "segment" */
    long units;
    double a, b;                  /* the stored values */
    double diff, diff_se;         /* A − B (ppl: PPL_A − PPL_B); diff_se NAN for bootstrap kinds */
    double ln_ratio, ln_ratio_se; /* ppl only: ln(PPL_A / PPL_B) */
    double lo, hi, p;
    int n_samples;                /* bootstrap resamples (0: SE-based) */
} PairedResult;
/* 1 for the kinds results_paired compares. */
int results_paired_kind(const char *kind);
/* 0, or -1 with err saying why they cannot be compared (other settings, other windows/segments, no
 * per-unit statistics stored). */
int results_paired(const StoreMetricRow *a, const StoreMetricRow *b, PairedResult *out, char err[QB_ERRLEN]);
/* One-sided bounds at confidence c of the relative change 100·(A/B − 1) in percent: ppl from
 * ln(PPL_A/PPL_B) ± Φ⁻¹(c)·SE, chrF/METEOR from the paired bootstrap's resampled ratios
 * (stats_bootstrap_bounds). *lo is the bound an increase check judges, *hi a decrease check. */
int results_change_bounds(const StoreMetricRow *a, const StoreMetricRow *b, double c, double *lo, double *hi,
                          char err[QB_ERRLEN]);
/* One-sided bounds at confidence c of a metric's own value: value ± Φ⁻¹(c)·SE (results_metric_se),
 * or for chrF/METEOR the bootstrap of its segments. */
int results_value_bounds(const StoreMetricRow *m, double c, double *lo, double *hi, char err[QB_ERRLEN]);
/* The stored 95% bootstrap interval (percentiles) of a chrF/METEOR metric: 1 found, 0 none. */
int results_metric_ci(const StoreMetricRow *m, double *lo, double *hi);

/* GPTQT/RTNT's high bit count n of a point (its high_bits parameter, else bits+1 capped at 8);
 * 0 for other methods. */
int results_high_bits(const StoreRunRow *r);
/* Rows a report, plot or check must not use, counted. */
typedef struct {
    int stale_runs;    /* computed with another algorithm version of their quantizer */
    int stale_metrics; /* of those runs, plus metrics under evaluation settings the experiment no longer has */
    int unverified;    /* metrics of experiments that recorded no evaluation signatures (older databases) */
} ResultsStale;
/* Keeps, in place, only the current rows of runs[0..*nr) (loaded by store_load_runs, grouped by
 * any order): runs whose quantizer version is this build's,
 * and of those only the metrics whose (kind, dataset, against, signature) the experiment's
 * recorded evaluations list — those recorded under eval_key (sweep_eval_key), or its latest when NULL. Dropped
 * rows are freed; *nr becomes the count kept (store_free_runs(runs, *nr) frees the rest). */
int results_select_current(Store *s, const char *eval_key, StoreRunRow *runs, int *nr, ResultsStale *st,
                           char err[QB_ERRLEN]);
/* One stderr-style line per kind of ignored row (nothing when none). */
void results_print_stale(FILE *f, const char *cmd, const ResultsStale *st);

typedef enum { REPORT_MARKDOWN, REPORT_CSV, REPORT_JSON } ReportFormat;
/* Every run (the unquantized baselines first) as a table: method, bits, group, act_order, bits per
 * weight, bytes, one column per (metric, dataset, against), status. columns: NULL for the default
 * (markdown: narrow), else a comma-separated list of column names ("help" prints them). JSON
 * ignores columns and writes everything. Perplexity shows as value ± SE (csv: a :se column). */
int report_write(Store *s, FILE *out, ReportFormat fmt, const char *columns, char err[QB_ERRLEN]);

enum { PLOT_PNG = 1, PLOT_SVG = 2, PLOT_PDF = 4 };
typedef struct {
    char **paths; /* every file written (.dat, .gp, .png, .svg), in order */
    int n;
} PlotFiles;
/* Draws every figure the database supports into dir (created if needed); *files lists what was
 * written. Needs the gnuplot program on PATH. */
int plot_all(Store *s, const char *dir, int formats, PlotFiles *files, char err[QB_ERRLEN]);
void plot_files_free(PlotFiles *f);

typedef struct {
    int n_pass, n_fail, n_error; /* testcases: threshold met / crossed / could not be evaluated */
} CheckSummary;
/* Evaluates every `check:` entry of e on each finished point of the experiment that its `where`
 * matches, printing one PASS/FAIL/ERROR line per (check, point) to out, and writes JUnit XML to
 * junit_path (unless NULL or ""). -1 (err set) when it could not run at all: no checks, no
 * finished points of the experiment, or the JUnit file cannot be written. */
int check_run(const Experiment *e, Store *s, FILE *out, const char *junit_path, CheckSummary *sum,
              char err[QB_ERRLEN]);

#endif

/* config.h — experiment files (YAML): the complete schema, parsed and validated before any work.
 *
 * An experiment file names one model, how to calibrate, the sweep axes (cartesian product minus
 * `exclude`), fixed settings, what to evaluate, the regression checks and where output goes:
 *
 *   name: stories260k-sweep
 *   model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}
 *   calibration: {dataset: tinystories-calib, samples: 128, seqlen: 256, seed: 0}
 *   sweep:
 *     method: [rtn, gptq, gptqt]
 *     bits: [2, 3, 4, 8]
 *     group_size: [-1, 32]
 *     act_order: [false, true]
 *     exclude: [{method: rtn, act_order: true}]
 *   fixed: {sym: false, damp: 0.01, true_sequential: true, gptqt: {high_bits: +1}}
 *   eval:
 *     perplexity: [{dataset: tinystories-valid, seqlen: 256, mode: gptq, max_windows: 8}]
 *     generation: [{task: tinystories-continuation, prompts: 8, max_new_tokens: 32,
 *                   metrics: [chrf, chrf++, meteor], against: [reference, baseline]}]
 *     agreement:  [{dataset: tinystories-valid, seqlen: 128, windows: 4}]     # top-1 and KL vs baseline
 *     tasks:      [{task: piqa, limit: 500}, {task: tinystories-cloze}]      # zero-shot accuracy
 *   check:
 *     - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10, where: {bits: 4}}
 *     - {metric: chrf, task: tinystories-continuation, against: baseline, min: 40}
 *     - {metric: top1, dataset: tinystories-valid, min: 0.8}
 *   output: {db: results/stories260k.db, plots: results/plots, junit: results/check.xml}
 *   models:                                  # quantized models evaluated as they are, beside the sweep
 *     - assets/gguf/s260k-Q4_K_M.gguf
 *     - {path: assets/autogptq/b4-g32-asym, label: autogptq-b4}
 *
 * Parameters (sweep axes or fixed; a name may appear in only one of the two). `gptqt: {...}` in either
 * section is the same as writing its keys flat:
 *   method (rtn|gptq|gptqt|rtnt|bcq)  bits (2..8)  group_size (-1 = per row, or >= 1 and no larger
 *   than the smallest linear input width, see config_validate_model)  act_order sym static_groups mse
 *   true_sequential (bool) damp (> 0, < 1: GPTQ percdamp) blocksize (>= 1)
 *   high_bits (3..8 and above bits, or 8 at bits 8; or "+k" relative to bits, capped at 8; unset = +1)
 *   reexplore_lo reexplore_hi (> 0)
 *   reexplore_steps (>= 1) bcq_iters (>= 1) objective (weight|hdiag|output) variant (merged|twopass)
 *   bcq_solver (greedy|refined|alternating) bcq_rounds (>= 1)
 *
 * Every error names the file, the line and the key: "exp.yaml:7: sweep.bits: 0 is not in 2..8".
 * Errors follow model.h: 0 / -1 and a message in err[QB_ERRLEN]. Nothing here prints. */
#ifndef QBENCH_CONFIG_H
#define QBENCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "metrics/ppl.h" /* PplMode: the perplexity window schemes */
#include "model/model.h"

#define CFG_PATH 1024
#define CFG_NAME 128
#define CFG_MAX_VALUES 32   /* values per sweep axis */
#define CFG_MAX_PARAMS 32   /* distinct parameter names */
#define CFG_MAX_EXCLUDE 32
#define CFG_MAX_EVAL 8      /* entries per eval kind */
#define CFG_MAX_CHECKS 32
#define CFG_MAX_MODELS 32   /* `models:` entries */

/* ---- parameter values ------------------------------------------------------------------------- */

typedef enum { PV_INT, PV_FLOAT, PV_BOOL, PV_STR } ParamType;

typedef struct {
    ParamType type;
    long i;       /* PV_INT, PV_BOOL (0/1); for high_bits relative: the offset, with `relative` set */
    double f;     /* PV_FLOAT */
    char s[32];   /* PV_STR */
    int relative; /* high_bits "+k" */
} ParamValue;

/* Canonical text of a value: ints "%ld", bools "true"/"false", floats "%.17g", strings verbatim,
 * relative "+k". Stable across runs and machines: it is part of each point's key. */
void param_value_str(const ParamValue *v, char *out, size_t outlen);
int param_value_equal(const ParamValue *a, const ParamValue *b);

/* Known parameter names in canonical order (the order they appear in a point's canonical string). */
int param_count(void);
const char *param_name(int idx);
int param_index(const char *name); /* -1 if unknown */

typedef struct {
    char name[32];
    int n_values;
    ParamValue values[CFG_MAX_VALUES];
    int line;
} SweepAxis;

typedef struct {
    char name[32];
    ParamValue value;
    int line;
} ParamSetting;

/* One `exclude` entry (or one `where` filter): a point matches when every listed parameter equals
 * the point's value. */
typedef struct {
    int n;
    ParamSetting p[CFG_MAX_PARAMS];
    int line;
} ParamMatch;

/* ---- evaluations ------------------------------------------------------------------------------ */

typedef struct {
    char dataset[CFG_PATH]; /* a named dataset (datasets.h) or a path */
    PplMode mode;           /* PPL_GPTQ (default), PPL_LLAMACPP, PPL_STRIDE: see metrics/ppl.h */
    int seqlen;             /* default 256 (capped at the model's seq_len) */
    int stride;             /* stride mode only; default seqlen/2 */
    int max_windows;        /* 0 = all */
    int line;
} PplEval;

enum { GEN_METRIC_CHRF = 1, GEN_METRIC_CHRFPP = 2, GEN_METRIC_METEOR = 4 };
enum { AGAINST_REFERENCE = 1, AGAINST_BASELINE = 2 };

typedef struct {
    char task[CFG_PATH];  /* tinystories-continuation, c4-continuation, or a jsonl path */
    int prompts;          /* how many pairs (first N); default 16 */
    int max_new_tokens;   /* default 64 */
    int metrics;          /* GEN_METRIC_* bits; default chrf */
    int against;          /* AGAINST_* bits; default reference|baseline */
    int line;
} GenEval;

typedef struct {
    char dataset[CFG_PATH];
    int seqlen;   /* default 128 */
    int windows;  /* default 4 */
    int line;
} AgreeEval;

/* eval.tasks: a zero-shot task (datasets/tasks.h), scored with lm-eval's rules (metrics/loglik.h) */
typedef struct {
    char task[CFG_PATH];  /* a named task or a .jsonl user task */
    int limit;            /* first N items; 0 = all */
    int max_length;       /* window; 0 = the model's context */
    int bootstrap_iters;  /* resamples for the perplexity's standard error; default 100000 (lm-eval's) */
    int line;
} TaskEvalCfg;

/* ---- checks ----------------------------------------------------------------------------------- */

/* Metric names as written in checks and as logged in the results database:
 *   "ppl"                       per perplexity dataset
 *   "chrf", "chrf++", "meteor"  per generation task, against reference or baseline
 *   "top1", "kl"                per agreement dataset (against the baseline by definition)
 *   "acc", "acc_norm", "perplexity"  per zero-shot task (eval.tasks; acc_norm and perplexity where the
 *                               task has them; accuracies as fractions)
 *   "bits_per_weight"           per point (no dataset) */
typedef enum { CHECK_MAX_INCREASE_PCT, CHECK_MAX_DECREASE_PCT, CHECK_MIN, CHECK_MAX } CheckKind;

typedef struct {
    char metric[16];
    char dataset[CFG_PATH]; /* dataset or task ("" for bits_per_weight) */
    int against;            /* AGAINST_REFERENCE or AGAINST_BASELINE (generation metrics); 0 otherwise */
    int has[4];             /* indexed by CheckKind: which thresholds are set (at least one) */
    double limit[4];        /* indexed by CheckKind */
    double confidence;      /* 0 < c < 1: fail only when the limit is crossed with this one-sided
                               confidence (harness/check.c); 0 = judge the number itself */
    ParamMatch where;       /* n == 0: every point */
    int line;
} CheckSpec;

/* One `models:` entry: a model (GGUF file, AutoGPTQ directory, any loadable model) evaluated as it is,
 * as one more point of the sweep. It must share the experiment model's vocabulary. */
typedef struct {
    char path[CFG_PATH];
    char label[64]; /* default: the file or directory name */
    int line;
} ModelEntry;

/* ---- the experiment --------------------------------------------------------------------------- */

typedef struct {
    char file[CFG_PATH]; /* the YAML file it came from */
    char name[CFG_NAME];
    char model_path[CFG_PATH];
    char tokenizer_path[CFG_PATH]; /* "" = tokenizer_find_for_model */

    struct {
        char dataset[CFG_PATH]; /* default tinystories-calib */
        int samples;            /* default 128 */
        int seqlen;             /* default 256 */
        uint64_t seed;          /* default 0 */
    } calibration;

    int n_axes;
    SweepAxis axes[CFG_MAX_PARAMS];
    int n_exclude;
    ParamMatch exclude[CFG_MAX_EXCLUDE];
    int n_fixed;
    ParamSetting fixed[CFG_MAX_PARAMS];

    int n_ppl;   PplEval ppl[CFG_MAX_EVAL];
    int n_gen;   GenEval gen[CFG_MAX_EVAL];
    int n_agree; AgreeEval agree[CFG_MAX_EVAL];
    int n_task;  TaskEvalCfg task[CFG_MAX_EVAL];
    uint64_t eval_seed; /* eval.seed: sampling seed for anything random in evaluation; default 0 */

    int n_checks;
    CheckSpec checks[CFG_MAX_CHECKS];

    int n_models;
    ModelEntry models[CFG_MAX_MODELS];

    struct {
        char db[CFG_PATH];    /* default results/<name>.db */
        char plots[CFG_PATH]; /* default results/plots */
        char junit[CFG_PATH]; /* default "" (check writes <db without .db>.junit.xml) */
    } output;
} Experiment;

/* Parses and validates everything that needs no model: schema, types, ranges, parameter
 * combinations every point would hit (e.g. act_order with rtn unless excluded), datasets exist.
 * Relative paths in the file stay relative to the current directory (run from the repo root). */
int config_load(const char *path, Experiment *e, char err[QB_ERRLEN]);
/* Same, from a YAML string; `file` is the name used in messages. */
int config_parse(const char *yaml, size_t len, const char *file, Experiment *e, char err[QB_ERRLEN]);

/* Checks the parts that depend on the model: every point's options against every linear layer's
 * input width (group sizes), sequence lengths against cfg->seq_len. */
int config_validate_model(const Experiment *e, const ModelConfig *cfg, char err[QB_ERRLEN]);

/* Finds a setting by name: the fixed value, or NULL (sweep axes are per point, see sweep.h). */
const ParamSetting *config_fixed(const Experiment *e, const char *name);

#endif

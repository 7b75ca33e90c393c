/* sweep.h — an experiment's sweep as a list of points: the cartesian product of the sweep axes
 * (first axis varies slowest, in file order) minus every point matching an `exclude` entry, each
 * point carrying its fixed settings too; canonical parameters per point (stable JSON), the point
 * key (sha256 of model hash + canonical JSON) and the deterministic `--shard i/n` share.
 *
 * Canonical JSON: {"experiment":NAME,"params":{...},"quantizer_version":V,"calibration":{...}}: the
 * experiment's name (points of two experiments never share a key, so a merge keeps them apart), V
 * the method's quant_algorithm_version (a point computed before a change to its quantizer is not
 * reused), and params lists, in param_name() order,
 * method, bits, group_size, act_order, sym, static_groups, true_sequential (always, defaults filled
 * in: group_size -1, booleans false except true_sequential true) and every other parameter the
 * file sets; calibration is {dataset, samples, seqlen, seed}, or absent for points that need no
 * calibration (rtn, rtnt, bcq). Evaluation settings are not part of the key: every metric carries
 * its own signature, and `run` evaluates a done point again when one of the experiment's current
 * signatures is missing (see runner.h). */
#ifndef QBENCH_SWEEP_H
#define QBENCH_SWEEP_H

#include <stddef.h>

#include "harness/config.h"
#include "quant/quant.h"

typedef struct {
    int index;                       /* position in expansion order (after exclusion) */
    ParamValue v[CFG_MAX_PARAMS];    /* indexed by param_index(); meaningful where has[] */
    unsigned char has[CFG_MAX_PARAMS];
    int line[CFG_MAX_PARAMS];        /* the file line each value came from (for messages) */
    int model_entry;                 /* -1, or the `models:` entry this point evaluates as it is */
    char model_label[64];            /* that entry's label */
    char model_sha256[65];           /* that entry's weight hash, set by the runner once it is loaded */
} SweepPoint;

/* Expands e into *pts (malloc'd, free()): the sweep's points, then one point per `models:` entry
 * (model_entry >= 0, no parameters: the model is evaluated as it is); *n may be 0 if everything is
 * excluded and there are no entries. A model entry's canonical form is
 * {"model":{"path":...,"label":...,"sha256":...}}; its label is "model <label>". */
int sweep_expand(const Experiment *e, SweepPoint **pts, int *n, char err[QB_ERRLEN]);

/* The value of a parameter for this point with the defaults above; 0 found, -1 if neither set nor
 * defaulted (e.g. method or bits missing, or an optional GPTQT knob left to the quantizer). */
int sweep_get(const SweepPoint *p, const char *name, ParamValue *out);
long sweep_get_int(const SweepPoint *p, const char *name, long dflt);   /* ints and bools */
double sweep_get_float(const SweepPoint *p, const char *name, double dflt);
const char *sweep_get_str(const SweepPoint *p, const char *name, const char *dflt);

/* 1 if every parameter of m equals the point's value (parameters the point lacks take their
 * defaults; a parameter with neither never matches). */
int sweep_matches(const SweepPoint *p, const ParamMatch *m);

/* Whether this point's method uses calibration data (gptq, gptqt). */
int sweep_needs_calibration(const SweepPoint *p);

/* GPTQT/RTNT's linear-step bits for this point: an absolute high_bits as written, otherwise bits+k
 * (a relative "+k", or +1 when unset) capped at 8 — so at 8 bits the linear step is 8-bit and the
 * binary code keeps all 256 levels. 0 for a method without a two-step grid. */
long sweep_high_bits(const SweepPoint *p);

/* The quantization pipeline's options for this point: quant_options_default(method, bits), then
 * every parameter the point sets (high_bits always resolved by sweep_high_bits for gptqt/rtnt).
 * Does not validate (quant_options_validate does). */
int sweep_pipeline_options(const SweepPoint *p, PipelineOptions *po, char err[QB_ERRLEN]);

/* Canonical JSON (see above) into out; -1 if it does not fit. */
int sweep_canonical(const Experiment *e, const SweepPoint *p, char *out, size_t outlen);
/* key = sha256_hex(model_sha256 + "\n" + canonical). */
void sweep_key(const char *model_sha256, const char *canonical, char key[65]);
/* A hash of everything in the experiment that decides its evaluation settings (model and tokenizer
 * paths, every eval entry): `run` records it with the signatures it computes, and `check` judges a
 * file only against the signatures recorded under its own eval key (thresholds may change freely;
 * changing an evaluation needs a run first). */
void sweep_eval_key(const Experiment *e, char key[65]);
/* A short human label: "gptq w4 g32 act" (method, bits, group, flags). */
void sweep_label(const SweepPoint *p, char *out, size_t outlen);

/* "--shard i/n": 0 <= i < n (i is Slurm's $SLURM_ARRAY_TASK_ID for --array=0-(n-1)). Point k of the
 * expansion belongs to shard k mod n, so shards are balanced and disjoint and their union is the
 * whole sweep. */
int sweep_parse_shard(const char *s, int *i, int *n, char err[QB_ERRLEN]);
int sweep_in_shard(const SweepPoint *p, int shard_i, int shard_n);

#endif

/* bootstrap.h — confidence intervals and paired significance by bootstrap resampling of segments,
 * exactly as sacrebleu 2.x computes them (sacrebleu/significance.py): numpy's
 * default_rng(seed) (SeedSequence → PCG64) draws `rng.choice(n, size=(n_samples, n), replace=True)`
 * (1,000 resamples and seed 12345 by default, like SACREBLEU_SEED), each resample's corpus score is
 * recomputed from its segments, and the interval is sacrebleu's estimate_ci: the mean of the
 * resampled scores ± half the distance between the 2.5th and 97.5th percentiles (sorted scores
 * n/40 and n − n/40 − 1). The paired test is sacrebleu's paired bootstrap (`--paired-bs`): the same
 * resamples for both systems, p = (c + 1) / (n_samples + 1) where c counts resamples whose centred
 * absolute difference exceeds the observed one. */
#ifndef QBENCH_BOOTSTRAP_H
#define QBENCH_BOOTSTRAP_H

#include <stdint.h>

#include "base/base.h" /* QB_ERRLEN */

#define BOOTSTRAP_SAMPLES 1000
#define BOOTSTRAP_SEED 12345

/* numpy's PCG64 bit generator seeded as np.random.default_rng(seed) seeds it. */
typedef struct {
    unsigned __int128 state, inc;
    int has_uint32;
    uint32_t uinteger;
} QbPcg64;
void qb_pcg64_seed(QbPcg64 *g, uint64_t seed);
uint64_t qb_pcg64_next64(QbPcg64 *g);
uint32_t qb_pcg64_next32(QbPcg64 *g);
/* rng.integers(0, n) for 1 <= n <= 2^32 (numpy's buffered Lemire method on 32-bit draws). */
uint64_t qb_pcg64_below(QbPcg64 *g, uint64_t n);

/* The resample indices: idx[s * n + j] is segment j of resample s (n_samples × n ints, malloc'd). */
int *bootstrap_indices(uint64_t seed, int n_samples, int n, char err[QB_ERRLEN]);

/* The score of one resample: the corpus score of segments idx[0..n). */
typedef double (*BootstrapScoreFn)(const int *idx, int n, void *ctx);

typedef struct {
    double mean, ci;      /* sacrebleu's μ and ± (half-width of the 95% percentile interval) */
    double lower, upper;  /* the 2.5th and 97.5th percentile scores */
    int n_samples;
} BootstrapCI;

/* scores[0..n_samples) → estimate_ci (sorts a copy). */
void bootstrap_estimate(const double *scores, int n_samples, BootstrapCI *out);

/* The CI of one system's corpus score over n segments. */
int bootstrap_ci(BootstrapScoreFn fn, void *ctx, int n, int n_samples, uint64_t seed, BootstrapCI *out,
                 char err[QB_ERRLEN]);

/* Paired bootstrap of system `sys` against `base` on the same n segments: the system's CI and the
 * p-value of the difference of their corpus scores (score_sys, score_base: the full-corpus ones). */
int bootstrap_paired(BootstrapScoreFn sys, void *sys_ctx, BootstrapScoreFn base, void *base_ctx, int n,
                     double score_sys, double score_base, int n_samples, uint64_t seed, BootstrapCI *sys_ci,
                     double *p_value, char err[QB_ERRLEN]);

/* The resampled corpus scores of two systems on the same resamples (the paired bootstrap's draws):
 * sys_s[0..n_samples), base_s[0..n_samples) (the caller's arrays). */
int bootstrap_paired_scores(BootstrapScoreFn sys, void *sys_ctx, BootstrapScoreFn base, void *base_ctx, int n,
                            int n_samples, uint64_t seed, double *sys_s, double *base_s, char err[QB_ERRLEN]);
/* sacrebleu's paired-bs p-value from those resampled scores and the full-corpus scores. */
double bootstrap_paired_p(const double *sys_s, const double *base_s, int n_samples, double score_sys,
                          double score_base);

/* A corpus score that is the mean of segment scores (NLTK's corpus METEOR): ctx is the
 * `const double *` of segment scores; the resample's mean is summed in resample order. */
double bootstrap_mean_score(const int *idx, int n, void *ctx);

#endif

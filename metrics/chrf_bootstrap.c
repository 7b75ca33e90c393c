/* chrf_bootstrap.c — chrF/chrF++ confidence intervals and paired tests by bootstrap resampling
 * (metrics/bootstrap.h): a resample's score is chrf_score_from_stats of its segments' summed
 * statistics, as sacrebleu's _compute_score_from_stats(stats[idx].sum(0)). The statistics are
 * integer counts, so the sums are exact in any order (sacrebleu holds them as float32, exact below
 * 2^24 per order). */
#include <stdio.h>

#include "metrics/chrf.h"

double chrf_resample_score(const int *idx, int n, void *ctx) {
    const ChrfResample *b = ctx;
    chrf_stats sum;
    chrf_stats_zero(&sum, b->o);
    for (int j = 0; j < n; j++) chrf_stats_add(&sum, &b->seg[idx[j]]);
    return chrf_score_from_stats(&sum, b->o);
}

double chrf_corpus_score_from_segments(const chrf_stats *seg, size_t n, const chrf_opts *o) {
    chrf_stats sum;
    chrf_stats_zero(&sum, o);
    for (size_t j = 0; j < n; j++) chrf_stats_add(&sum, &seg[j]);
    return chrf_score_from_stats(&sum, o);
}

int chrf_bootstrap_ci(const chrf_stats *seg, size_t n, const chrf_opts *o, int n_samples, uint64_t seed,
                      BootstrapCI *out, char err[QB_ERRLEN]) {
    if (n > (size_t)1 << 30) {
        snprintf(err, QB_ERRLEN, "chrf bootstrap: %zu segments is too many", n);
        return -1;
    }
    ChrfResample b = {seg, o};
    return bootstrap_ci(chrf_resample_score, &b, (int)n, n_samples, seed, out, err);
}

int chrf_paired_bootstrap(const chrf_stats *sys, const chrf_stats *base, size_t n, const chrf_opts *o, int n_samples,
                          uint64_t seed, BootstrapCI *sys_ci, double *p_value, char err[QB_ERRLEN]) {
    if (n > (size_t)1 << 30) {
        snprintf(err, QB_ERRLEN, "chrf bootstrap: %zu segments is too many", n);
        return -1;
    }
    ChrfResample a = {sys, o}, b = {base, o};
    return bootstrap_paired(chrf_resample_score, &a, chrf_resample_score, &b, (int)n, chrf_corpus_score_from_segments(sys, n, o),
                            chrf_corpus_score_from_segments(base, n, o), n_samples, seed, sys_ci, p_value, err);
}

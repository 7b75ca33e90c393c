/* chrf.h — chrF and chrF++ (character / word n-gram F-scores) as sacrebleu 2.x's CHRF computes
 * them, bit for bit (docs/metrics.md §1), plus a compatibility mode for Popović's
 * chrF++.py, the metric author's script (§1.9).
 *
 * Everything works on Unicode code points of UTF-8 input (invalid UTF-8 is an error). A score
 * always comes with its sufficient statistics: per order, the hypothesis n-gram count, the
 * reference n-gram count and the clipped matches. Statistics add, so shards merge by
 * chrf_stats_add() and one chrf_score_from_stats() of the sum is the corpus score.
 *
 * Functions return 0 / -1 and write a one-line message into err; nothing here prints.
 */
#ifndef QBENCH_CHRF_H
#define QBENCH_CHRF_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"
#include "metrics/bootstrap.h"

#define CHRF_MAX_CHAR_ORDER 32
#define CHRF_MAX_WORD_ORDER 32
#define CHRF_MAX_ORDER (CHRF_MAX_CHAR_ORDER + CHRF_MAX_WORD_ORDER)
/* The sacrebleu release whose CHRF this reproduces; it ends the signature string. */
#define CHRF_SACREBLEU_VERSION "2.6.0"

typedef struct {
    int char_order;    /* character n-grams 1..char_order (6) */
    int word_order;    /* word n-grams 1..word_order: 0 = chrF, 2 = chrF++ */
    double beta;       /* recall weighted beta² times precision (2) */
    int lowercase;     /* Python str.lower() on hyp and refs first (full mapping, final sigma) */
    int whitespace;    /* keep whitespace inside character n-grams (sacrebleu whitespace=True) */
    int eps_smoothing; /* average the per-order F over all orders (sacrebleu eps_smoothing=True)
                        * instead of one F of the effective-order averages of P and R */
    int popovic;       /* chrF++.py compatibility: per-order F averaged over all orders with its
                        * operation order, characters = line.strip() minus U+0020 only (tabs, NBSP
                        * stay). Implies eps-style averaging. Reproduces the published numbers. */
} chrf_opts;

/* sacrebleu defaults: chrF (word_order 0) or chrF++ (word_order 2). */
chrf_opts chrf_defaults(int word_order);
/* Rejects orders outside 0..32 (and both 0), a negative / non-finite beta. */
int chrf_opts_check(const chrf_opts *o, char err[QB_ERRLEN]);

/* Sufficient statistics: v[3k .. 3k+2] = hyp n-grams, ref n-grams, matches of order k, char
 * orders first, then word orders (sacrebleu's layout). norder = char_order + word_order. As in
 * sacrebleu, the hyp count of an order is 0 when the reference has no n-gram of that order. */
typedef struct {
    int norder;
    int64_t v[3 * CHRF_MAX_ORDER];
} chrf_stats;

void chrf_stats_zero(chrf_stats *s, const chrf_opts *o);
void chrf_stats_add(chrf_stats *acc, const chrf_stats *s);
/* Score 0..100 from (summed) statistics. */
double chrf_score_from_stats(const chrf_stats *s, const chrf_opts *o);

/* Scratch buffers for scoring; one per thread. Reusing one across calls avoids reallocation. */
typedef struct chrf_ws chrf_ws;
chrf_ws *chrf_ws_new(void);
void chrf_ws_free(chrf_ws *ws);

/* One segment: hyp (NUL-terminated UTF-8) against refs[0..nrefs) (NULL entries are skipped, as
 * sacrebleu skips None). The reference with the strictly greatest sentence score wins, the
 * earliest on ties; its statistics go to *st and its score to *score (either may be NULL).
 * ws may be NULL (allocated for this call). */
int chrf_segment_stats(chrf_ws *ws, const char *hyp, const char *const *refs, int nrefs,
                       const chrf_opts *o, chrf_stats *st, double *score, char err[QB_ERRLEN]);

typedef struct {
    chrf_stats total;     /* sum of the segments' statistics */
    double score;         /* corpus score: chrf_score_from_stats(total) */
    double mean_sentence; /* arithmetic mean of the sentence scores (chrF++.py's "avgF") */
    size_t nseg;
} chrf_result;

/* Corpus: hyps[i] against refs[r * nseg + i] for r < nrefs (one reference "stream" after the
 * other, as sacrebleu takes them; NULL entries skipped, but each segment needs one). sent may be
 * NULL or receive nseg sentence scores. nseg == 0 gives score 0 and mean 0. Segments run in
 * parallel (OpenMP); the result does not depend on the thread count. */
int chrf_corpus(const char *const *hyps, size_t nseg, const char *const *refs, int nrefs,
                const chrf_opts *o, chrf_result *res, double *sent, char err[QB_ERRLEN]);

/* sacrebleu's --confidence for chrF/chrF++: the bootstrap CI (metrics/bootstrap.h) of the corpus
 * score from per-segment statistics seg[0..n). */
int chrf_bootstrap_ci(const chrf_stats *seg, size_t n, const chrf_opts *o, int n_samples, uint64_t seed,
                      BootstrapCI *out, char err[QB_ERRLEN]);
/* sacrebleu's --paired-bs: system `sys` against `base` on the same segments; the system's CI and
 * the p-value of the difference. */
int chrf_paired_bootstrap(const chrf_stats *sys, const chrf_stats *base, size_t n, const chrf_opts *o, int n_samples,
                          uint64_t seed, BootstrapCI *sys_ci, double *p_value, char err[QB_ERRLEN]);

/* A bootstrap resample's chrF (BootstrapScoreFn): ctx is a ChrfResample over per-segment statistics. */
typedef struct {
    const chrf_stats *seg;
    const chrf_opts *o;
} ChrfResample;
double chrf_resample_score(const int *idx, int n, void *ctx);
/* The corpus score of segments seg[0..n): their summed statistics scored once. */
double chrf_corpus_score_from_segments(const chrf_stats *seg, size_t n, const chrf_opts *o);

/* "chrF2", "chrF2++" (sacrebleu's name: beta, then one '+' per word order). */
void chrf_name(const chrf_opts *o, char *buf, size_t cap);
/* sacrebleu's signature, e.g. "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0".
 * nrefs < 0 prints "var" (the count varies by segment). Popović mode adds "|popovic:yes" before
 * the version. */
void chrf_signature(const chrf_opts *o, int nrefs, char *buf, size_t cap);

#endif

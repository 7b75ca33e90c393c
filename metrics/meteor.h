/* meteor.h — METEOR scores for generated text against references.
 *
 * Two definitions:
 *   - NLTK mode: nltk.translate.meteor_score 3.8 (what Hugging Face `evaluate` wraps), bit for bit:
 *     exact, NLTK-Porter-stem and WordNet-synonym stages, each greedy from the right; alpha 0.9,
 *     beta 3, gamma 0.5; max over references; corpus = mean of segment scores.
 *     (docs/metrics.md §2.)
 *   - Meteor 1.5 mode (Denkowski & Lavie 2014; metrics/meteor15.h): Snowball stems, Meteor's own
 *     synonym and function word files, an optional paraphrase table, weighted matches, beam-searched
 *     alignment; corpus = score of the summed statistics.
 * The lexical resources of NLTK mode (Porter stemmer, WordNet) are in metrics/wordnet.h.
 *
 * Input lines are UTF-8 strings; invalid UTF-8 is an error. Functions return 0 / -1 and write a
 * one-line message into err; nothing here prints. The loaded resources are read-only after
 * opening, so one handle may be shared by many threads.
 *
 * Empty input is defined, never an error: an empty hypothesis or reference scores 0 in both modes
 * (NLTK's ZeroDivisionError -> 0.0, Meteor's NaN -> 0), and a corpus of 0 segments scores 0.0.
 */
#ifndef QBENCH_METEOR_H
#define QBENCH_METEOR_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"
#include "metrics/wordnet.h"

/* ---- tokenisation ---------------------------------------------------------------------------- */
typedef enum {
    METEOR_TOK_WHITESPACE = 0, /* Python str.split(): the default, as in NLTK's pre-tokenised API */
    METEOR_TOK_TREEBANK = 1,   /* nltk.word_tokenize(text, preserve_line=True) (HF evaluate) */
} MeteorTokenize;

/* ---- NLTK METEOR ------------------------------------------------------------------------------ */
typedef struct {
    int hyp_len, ref_len;      /* tokens */
    int matches;               /* m = exact + stem + synonym */
    int exact, stem, synonym;  /* matches found by each stage */
    int chunks;                /* runs of adjacent matches, in hypothesis order (0 when m = 0) */
    int ref_index;             /* which reference gave the maximum (first wins ties) */
    double score;
} MeteorStats;

/* Score of one hypothesis against one reference from its statistics (NLTK's formula; 0 when m,
 * hyp_len or ref_len is 0). */
double meteor_nltk_score(const MeteorStats *s);
/* One segment: hyp against refs[0..nrefs-1], the maximum over references (first wins ties).
 * wn may be NULL only if the caller wants no synonym stage (not NLTK's default). */
int meteor_nltk_sentence(const WordNet *wn, const char *hyp, const char *const *refs, int nrefs,
                         MeteorTokenize tok, MeteorStats *out, char err[QB_ERRLEN]);

/* Corpus = arithmetic mean of segment scores, summed left to right in segment order. Shards merge
 * by adding sums and counts (the merged mean can then differ from one pass in the last bits). */
typedef struct { double sum; long n; } MeteorCorpus;
static inline double meteor_corpus_mean(const MeteorCorpus *c) { return c->n ? c->sum / c->n : 0.0; }

/* Corpus: hyps[i] against refs[r * nseg + i] for r < nrefs (one reference stream after the other,
 * as chrf_corpus takes them). sent (optional) receives the nseg segment scores. Segments run in
 * parallel (OpenMP) and are summed afterwards in segment order, so the result does not depend on
 * the thread count. nseg == 0 gives sum 0, n 0 (mean 0.0). An error names the segment (1-based). */
int meteor_nltk_corpus(const WordNet *wn, const char *const *hyps, size_t nseg, const char *const *refs,
                       int nrefs, MeteorTokenize tok, MeteorCorpus *out, double *sent, char err[QB_ERRLEN]);

/* The signature printed next to a score, like sacrebleu's. */
void meteor_nltk_signature(MeteorTokenize tok, int nrefs, char *out, size_t cap);

#endif

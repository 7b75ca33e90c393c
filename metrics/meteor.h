/* meteor.h — METEOR scores for generated text against references.
 *
 * Two definitions:
 *   - NLTK mode: nltk.translate.meteor_score 3.8 (what Hugging Face `evaluate` wraps), bit for bit:
 *     exact, NLTK-Porter-stem and WordNet-synonym stages, each greedy from the right; alpha 0.9,
 *     beta 3, gamma 0.5; max over references; corpus = mean of segment scores.
 *     (docs/metrics.md §2.)
 *   - Meteor 1.5 mode (Denkowski & Lavie 2014): Snowball stems, Meteor's own synonym and function
 *     word files, an optional paraphrase table, weighted matches, beam-searched alignment; corpus =
 *     score of the summed statistics.
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

/* ---- tokenisation ---------------------------------------------------------------------------- */
typedef enum {
    METEOR_TOK_WHITESPACE = 0, /* Python str.split(): the default, as in NLTK's pre-tokenised API */
    METEOR_TOK_TREEBANK = 1,   /* nltk.word_tokenize(text, preserve_line=True) (HF evaluate) */
} MeteorTokenize;

/* ---- NLTK's Porter stemmer (NLTK_EXTENSIONS mode) --------------------------------------------- */
/* Stems one word of n code points into out and returns the stem's length. Lowercases first, as
 * PorterStemmer.stem() does; out needs room for 2n code points (str.lower() turns 'İ' into two). */
size_t porter_stem(const uint32_t *word, size_t n, uint32_t *out);
/* UTF-8 convenience: stems word (len bytes) into out (cap bytes, NUL-terminated). -1 on invalid
 * UTF-8 or when out is too small. */
int porter_stem_utf8(const char *word, size_t len, char *out, size_t cap);

/* ---- WordNet 3.0 (Debian wordnet-base files) -------------------------------------------------- */
typedef struct WordNet WordNet;
/* dir: folder holding index.*, data.*, *.exc; NULL means $QBENCH_WORDNET or /usr/share/wordnet. */
WordNet *wordnet_open(const char *dir, char err[QB_ERRLEN]);
void wordnet_free(WordNet *wn);
/* Lemma names, pointing into the loaded WordNet data (valid until wordnet_free). Reusable: a call
 * overwrites the previous contents; free with wordnet_names_free. */
typedef struct { const char **name; int *len; int n, cap; } WordNetNames;
void wordnet_names_free(WordNetNames *names);
/* NLTK's `{l.name() for s in wordnet.synsets(word) for l in s.lemmas()}` without names holding
 * '_' (what METEOR's synonym stage uses), in first-seen order. With dedupe = 0 repeated names are
 * kept (cheaper; membership tests do not care). -1 only when out of memory. */
int wordnet_synonyms(const WordNet *wn, const char *word, size_t len, int dedupe,
                     WordNetNames *out);

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

/* ---- Meteor 1.5 -------------------------------------------------------------------------------- */
typedef struct Meteor15 Meteor15;
enum { METEOR15_EXACT, METEOR15_STEM, METEOR15_SYNONYM, METEOR15_PARAPHRASE, METEOR15_MODULES };
typedef struct {
    double alpha, beta, gamma, delta;
    double weights[METEOR15_MODULES]; /* exact, stem, synonym, paraphrase */
    int beam;                         /* alignment beam size (Meteor: 40) */
    int normalize;                    /* Meteor's -norm: tokenise punctuation and lowercase */
} Meteor15Params;
/* English 'rank' task defaults: 0.85 0.20 0.60 0.75, weights 1.0 0.6 0.8 0.6, beam 40, -norm on. */
Meteor15Params meteor15_default_params(void);
/* resources: folder with english.synsets, english.exceptions and english.function-words (Meteor's
 * files); NULL means assets/meteor-examples/resources-en. paraphrase: optional table, one pair
 * per line, "phrase ||| paraphrase" or "prob ||| phrase ||| paraphrase" (matched both ways);
 * NULL for none (Meteor's paraphrase-en.gz is not distributed with qbench). */
Meteor15 *meteor15_open(const char *resources, const char *paraphrase, const Meteor15Params *p,
                        char err[QB_ERRLEN]);
void meteor15_free(Meteor15 *m);

/* Meteor's sufficient statistics (MeteorStats), "test" = hypothesis. Word counts as doubles, so
 * they sum exactly; the corpus score is meteor15_score() of the sum over segments. */
typedef struct {
    double test_len, ref_len;        /* words after normalisation */
    double test_fn, ref_fn;          /* of which function words */
    double test_content[METEOR15_MODULES], test_function[METEOR15_MODULES]; /* matched words */
    double ref_content[METEOR15_MODULES], ref_function[METEOR15_MODULES];
    double test_matches, ref_matches; /* all matched words */
    double chunks;
    double score;                     /* this segment's score (not summed) */
    int ref_index;                    /* best reference (first on ties) */
} Meteor15Stats;

int meteor15_sentence(const Meteor15 *m, const char *hyp, const char *const *refs, int nrefs,
                      Meteor15Stats *out, char err[QB_ERRLEN]);
/* Score from (summed) statistics: Meteor's computeMetrics(). */
double meteor15_score(const Meteor15 *m, const Meteor15Stats *s);
void meteor15_add(Meteor15Stats *acc, const Meteor15Stats *s);
/* Corpus: as meteor_nltk_corpus; *total receives the summed statistics (score it with
 * meteor15_score) and sent (optional) the segment scores. */
int meteor15_corpus(const Meteor15 *m, const char *const *hyps, size_t nseg, const char *const *refs,
                    int nrefs, Meteor15Stats *total, double *sent, char err[QB_ERRLEN]);
void meteor15_signature(const Meteor15 *m, int nrefs, char *out, size_t cap);

#endif

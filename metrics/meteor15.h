/* meteor15.h — the original Meteor 1.5 (Denkowski & Lavie 2014) for English: Snowball stems,
 * Meteor's synonym, exception and function-word files, an optional paraphrase table, weighted
 * matches, beam-searched alignment; corpus = score of the summed statistics. Input rules, empty
 * input and errors as in metrics/meteor.h. */
#ifndef QBENCH_METEOR15_H
#define QBENCH_METEOR15_H

#include <stddef.h>
#include "base/base.h"

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

/* Words per segment (either side, after normalisation) the alignment accepts: its beam search
 * keeps 40 paths of O(words) state per reference word, so time grows with the square of the
 * length (1,000 repetitive words: about 1.5 s); a longer segment is an error, not a hang. */
#define METEOR15_MAX_WORDS 1000
/* Words of one segment after Meteor's normalisation, or -1 (err) on invalid UTF-8 / no memory:
 * lets a caller name the file and line of a segment over METEOR15_MAX_WORDS before scoring. */
long meteor15_words(const Meteor15 *m, const char *line, char err[QB_ERRLEN]);
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

/* wordnet.h — the lexical resources of NLTK-mode METEOR: NLTK's Porter stemmer and WordNet 3.0
 * read from Debian's wordnet-base files. Errors as in base/base.h. */
#ifndef QBENCH_WORDNET_H
#define QBENCH_WORDNET_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"

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
typedef struct { const char **name; int *len; int n; size_t cap; } WordNetNames;
void wordnet_names_free(WordNetNames *names);
/* NLTK's `{l.name() for s in wordnet.synsets(word) for l in s.lemmas()}` without names holding
 * '_' (what METEOR's synonym stage uses), in first-seen order. With dedupe = 0 repeated names are
 * kept (cheaper; membership tests do not care). -1 only when out of memory. */
int wordnet_synonyms(const WordNet *wn, const char *word, size_t len, int dedupe,
                     WordNetNames *out);

#endif

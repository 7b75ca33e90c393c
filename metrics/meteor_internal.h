/* meteor_internal.h — private helpers shared by the METEOR files (meteor*.c, porter.c,
 * wordnet.c): token lists, a string-interning hash table.
 * Not part of the metrics API. */
#ifndef QBENCH_METEOR_INTERNAL_H
#define QBENCH_METEOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "metrics/meteor.h"
#include "metrics/meteor15.h"
#include "metrics/pystr.h" /* utf8_decode, utf8_encode, py_isspace, py_lower */

/* ---- token lists ---------------------------------------------------------------------------------- */
/* Tokens stored as UTF-8 strings in one buffer: token i is buf[off[i] .. off[i]+len[i]), then a
 * NUL. At least MT_TOKENS_PAD bytes follow the last token's NUL in buf, so that 8 bytes can be
 * read from any token start (what they hold past the token is unspecified). */
#define MT_TOKENS_PAD 8
typedef struct {
    char *buf;
    size_t cap, used;
    int *off, *len;
    int n;
    size_t ncap; /* of off and len */
} MtTokens;
void mt_tokens_free(MtTokens *t);
/* *(T **)pp resized to n elements of elem bytes; -1 (and *pp unchanged) when out of memory */
int mt_resize(void *pp, size_t elem, size_t n);
int mt_tokens_push(MtTokens *t, const char *s, size_t len);
/* Splits a UTF-8 line (validated here) on Python's whitespace (str.split()) and lowercases every
 * token with Python's str.lower(); out is emptied first. what names the text in error messages
 * (e.g. "hypothesis"). */
int mt_tokenize_lower(const char *line, MtTokens *out, const char *what, char err[QB_ERRLEN]);

/* ---- treebank tokens (meteor_treebank.c) ------------------------------------------------------------ */
/* nltk.word_tokenize(text, preserve_line=True) on code points, every regex pass in NLTK's order
 * (the reference form); pushes tokens (not lowercased). */
int mt_treebank_tokenize(const uint32_t *cps, size_t n, MtTokens *out);
/* A growable code-point buffer: the treebank cascade's text. */
typedef struct { uint32_t *a; size_t n, cap; int oom; } MtCpBuf;
/* What the treebank tokenizer keeps from line to line (buffers, and the tokens of recent spans);
 * zero-initialise, mt_treebank_free. One per thread. */
typedef struct {
    MtCpBuf text, tmp;     /* the cascade's text, and the buffer each pass writes (then they swap) */
    uint32_t *low;         /* one token lowercased (2 per code point) */
    char *u8;              /* one token as UTF-8 */
    char *lc;              /* the line with ASCII lowercased */
    size_t low_cap, u8_cap, lc_cap;
    struct MtTbMemo *memo; /* recent spans and their tokens (meteor_treebank.c) */
} MtTreebank;
void mt_treebank_free(MtTreebank *tb);
/* word_tokenize(line, preserve_line=True) with every token lowercased by str.lower(), on a UTF-8
 * line of n bytes (validated: "<what>: invalid UTF-8 at byte N"); out is emptied first. The same
 * tokens as mt_treebank_tokenize followed by py_lower of each, but the passes run only on the
 * runs of chunks they can change (a chunk of ASCII word characters is a token as it stands). */
int mt_treebank_tokenize_lower(MtTreebank *tb, const char *line, size_t n, MtTokens *out, const char *what,
                               char err[QB_ERRLEN]);

/* Meteor 1.5 words of a line: with normalize, Meteor's -norm (tokenise, lowercase); without it the
 * line is only split on Java StringTokenizer whitespace. Appends UTF-8 tokens to out. */
int mt_meteor15_words(const uint32_t *cps, size_t n, int normalize, MtTokens *out);

/* ---- interning: string -> small int id ---------------------------------------------------------- */
typedef struct {
    const char **key;
    int *klen;
    uint64_t *hash;  /* of each key: growing the table hashes no key again */
    uint64_t *slot; /* hash slot -> (high 32 hash bits << 32) | (id + 1); 0 = empty. The hash
                     * bits let most probes skip the key comparison (one cache line per probe) */
    int n, nslot;
    size_t cap; /* of key, klen and hash */
} MtIntern;
void mt_intern_free(MtIntern *h);
/* Empties the table but keeps its memory (for reuse in a loop). */
void mt_intern_clear(MtIntern *h);
/* Returns the id of s (adding it when add is set), or -1 when absent / out of memory. The table
 * keeps the pointer: s must outlive it. */
int mt_intern(MtIntern *h, const char *s, int len, int add);
uint64_t mt_hash(const char *s, size_t len);
/* The same with the hash of s already computed (mt_hash(s, len)). */
int mt_intern_hashed(MtIntern *h, const char *s, int len, uint64_t hash, int add);

/* ---- WordNet by synset (wordnet.c): what METEOR's synonym stage needs, without listing names -------- */
/* A synset as one sortable number: POS index (noun, verb, adj, adv) and byte offset. */
#define MT_WN_KEY(pos, off) (((uint64_t)(pos) << 32) | (uint64_t)(off))
/* The synsets of NLTK's wordnet.synsets(word) (morphy per POS), sorted, unique; malloc'd. */
int mt_wn_synset_keys(const WordNet *wn, const char *word, size_t len, uint64_t **keys, int *n);
/* The synsets listing `lemma` in index.* (exactly that lowercase lemma), sorted; malloc'd. */
int mt_wn_lemma_keys(const WordNet *wn, const char *lemma, size_t len, uint64_t **keys, int *n);
/* Whether the synset's lemma names (marker stripped, case kept) include name exactly. */
int mt_wn_synset_has_name(const WordNet *wn, uint64_t key, const char *name, int len);

/* ---- the per-thread vocabulary (meteor_cache.c) ---------------------------------------------------- */
/* Token -> id (tid), its Porter stem -> id (sid), a stem's synset lists; computed once per thread
 * and kept, so that the aligner works on ids. Only the speed depends on it. The stem marks/heads
 * are stage 2's per-stem stacks, valid while the mark holds the stage's generation. (Sharing one
 * table between the threads was measured: the cache-line traffic of its lock cost more than the
 * stems and synsets each thread computes again.) */
typedef struct {
    MtIntern tok;                         /* token string -> tid */
    int *tok_stem;                        /* tid -> sid, -1 until stemmed */
    int tok_cap;
    MtIntern stem;                        /* stem string -> sid */
    const char **stem_str; int *stem_len;
    int *stem_mark, *stem_head;           /* stage-2 stacks */
    const uint64_t **syn_keys, **lem_keys; /* sid -> synsets(stem) / synsets listing stem */
    int *syn_n, *lem_n;                   /* their lengths, -1 until looked up */
    int stem_cap;
    int gen;
    char **blocks; int nblocks; size_t used, cap; /* storage that never moves */
} MtVocab;
void mt_vocab_free(MtVocab *v);
/* tid of the token s (hash = mt_hash(s, len)), added when new; -1 when out of memory */
int mt_vocab_token(MtVocab *v, const char *s, int len, uint64_t hash);
/* sid of token tid's Porter stem (porter_stem_utf8, computed once); -1 when out of memory */
int mt_vocab_stem(MtVocab *v, int tid);
/* lemma = 0: NLTK's synsets(stem) (hyp side); 1: the synsets whose index lists the stem (ref
 * side). Sorted keys, valid until mt_vocab_free; *bits (if not NULL) gets their 256-bit filter
 * (bit mt_key_bit(key) set for each key): two lists with disjoint filters share no key.
 * -1 when out of memory. */
int mt_vocab_keys(const WordNet *wn, MtVocab *v, int sid, int lemma, const uint64_t **keys, int *n,
                  const uint64_t **bits);
unsigned mt_key_bit(uint64_t key);
/* a new generation for the stem marks (a new stage 2) */
int mt_vocab_next_gen(MtVocab *v);
/* The vocabularies a WordNet handle keeps between METEOR calls (thread-safe): take one (a new one
 * when none is free; NULL when out of memory), give it back when done (it is freed instead when it
 * holds more than MT_POOL_MAX_TOKENS tokens, or p is NULL). */
typedef struct MtVocabPool MtVocabPool;
#define MT_POOL_MAX_TOKENS (1 << 21)
MtVocabPool *mt_pool_new(void);
void mt_pool_free(MtVocabPool *p);
MtVocab *mt_pool_take(MtVocabPool *p);
void mt_pool_give(MtVocabPool *p, MtVocab *v);
/* the pool of a WordNet handle (wordnet.c) */
MtVocabPool *mt_wn_pool(const WordNet *wn);

/* ---- Meteor 1.5 resources (meteor_res15.c) --------------------------------------------------------- */
struct Meteor15 {
    Meteor15Params p;
    char *syn_buf, *exc_buf, *fw_buf, *para_buf, *para_keys;
    MtIntern syn;        /* english.synsets: word -> id */
    int *syn_start, *syn_count, *syn_ids; /* id -> sorted synset numbers */
    MtIntern exc;        /* english.exceptions: inflected form -> id */
    int *exc_start, *exc_count;           /* id -> bases in exc_base */
    const char **exc_base;
    int *exc_base_len;
    MtIntern fw;         /* function words */
    MtIntern para;       /* "phrase\tparaphrase" keys, both directions */
    int para_maxlen;     /* longest phrase in words (0: no table) */
    char resources[1024], paraphrase[1024];
};
/* Meteor's synonym classes of a word: its synsets plus those of its base forms (exceptions file,
 * else WordNet's morph() suffix rules as Meteor ports them). Sorted, unique; *ids is malloc'd. */
int m15_synsets(const Meteor15 *m, const char *w, int len, int **ids, int *n);
int m15_is_function_word(const Meteor15 *m, const char *w, int len);
int m15_is_paraphrase(const Meteor15 *m, const char *a, int alen, const char *b, int blen);
int m15_load(Meteor15 *m, const char *resources, const char *paraphrase, char err[QB_ERRLEN]);
void m15_unload(Meteor15 *m);

#endif

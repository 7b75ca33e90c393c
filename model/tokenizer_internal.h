/* tokenizer_internal.h — private to the tokenizer files of model/: the Tokenizer struct shared by the
 * llama2.c loader (tokenizer.c) and the Hugging Face loader (tokenizer_hf.c), the string and pair
 * hash maps, the heap-based BPE merge loop (tokenizer_bpe.c) and the byte-level splitter
 * (tokenizer_split.c). */
#ifndef QBENCH_TOKENIZER_INTERNAL_H
#define QBENCH_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "model/tokenizer.h"

typedef enum { TOK_LLAMA2C, TOK_HF } TokKind;

/* Growable int array (token ids). */
typedef struct { int *v; int n; size_t cap; } IntVec;
int intvec_push(IntVec *a, int x);

/* String -> id map, open addressing; the strings live in the Tokenizer's pieces. */
typedef struct { int *slot; size_t cap; } StrMap; /* slot: id+1, 0 = empty */

/* (left id, right id) -> merge index, open addressing. */
typedef struct { uint64_t *key; int *val; size_t cap; } PairMap;

/* HF normalizer steps, applied in order to each text segment. */
typedef enum { NORM_PREPEND, NORM_REPLACE, NORM_NFC, NORM_NFKC, NORM_NFD, NORM_NFKD, NORM_LOWERCASE } NormKind;
typedef struct { NormKind kind; char *a, *b; } NormStep; /* PREPEND a; REPLACE a -> b */

/* Byte-level pre-tokenizer regexes we implement by hand (tokenizer_split.c). */
typedef enum { SPLIT_NONE, SPLIT_GPT2, SPLIT_LLAMA3, SPLIT_QWEN2 } SplitKind;

typedef struct { char *s; int len; int id; int special; } AddedToken;

struct Tokenizer {
    TokKind kind;
    int vocab_size;       /* number of ids (max id + 1) */
    char **piece;         /* id -> vocabulary string (as stored: "▁the", "Ġthe", "<0x0A>"), NULL for gaps */
    int *piece_len;
    float *score;         /* llama2.c merge scores */
    int max_token_length; /* llama2.c header */
    StrMap vocab;
    int byte_id[256];     /* id of the <0xNN> token, -1 if the vocabulary has none */
    int bos, eos, unk;
    int prepend_space;    /* llama2.c dummy prefix / HF Prepend and Metaspace prepend; see tokenizer_set_prepend_space */

    /* Hugging Face BPE */
    PairMap pairs;
    int *merge_rank_new;  /* merge i -> new id (rank = i) */
    int n_merges;
    int byte_fallback, fuse_unk, ignore_merges;
    NormStep *norm; int n_norm;
    int metaspace;        /* Metaspace pre-tokenizer present */
    char metaspace_rep[8];
    int metaspace_first_only, metaspace_prepend, metaspace_split;
    int bytelevel;        /* ByteLevel pre-tokenizer: bytes are mapped to printable code points */
    int bytelevel_prefix_space;
    SplitKind split;
    int byte_sym[256];    /* bytelevel: id of the mapped character of each byte, -1 if missing */
    AddedToken *added; int n_added;
    int decode_strip;     /* decoder removes one leading space (Strip / Metaspace decoder) */
    int decode_meta;      /* decoder turns "▁" into " " */

    unsigned char *flags; /* id -> TOKF_* */

    /* tokenizer_piece scratch (pieces are returned through it) */
    char *scratch; size_t scratch_cap;
};

enum { TOKF_BYTE = 1, TOKF_ADDED = 2, TOKF_CONTROL = 4 };

/* After a loader filled pieces and added tokens: builds the vocabulary map, byte_id[] and flags. */
int tokenizer_index(Tokenizer *t);

/* ---- maps (tokenizer_bpe.c) ---- */
uint64_t tok_hash2(const char *a, size_t la, const char *b, size_t lb);
int strmap_build(StrMap *m, const Tokenizer *t);
/* id of the string a ‖ b, -1 if absent */
int strmap_find2(const StrMap *m, const Tokenizer *t, const char *a, size_t la, const char *b, size_t lb);
void strmap_free(StrMap *m);
int pairmap_init(PairMap *m, size_t n);
int pairmap_put(PairMap *m, int a, int b, int v); /* keeps the first value for a repeated pair */
int pairmap_get(const PairMap *m, int a, int b);  /* -1 if absent */
void pairmap_free(PairMap *m);

/* ---- BPE merge loop (tokenizer_bpe.c) ----
 * Repeatedly merges the adjacent pair with the best priority (lowest `prio`; ties -> leftmost), as
 * both run.c encode() (prio = -score) and HF tokenizers' Word::merge_all (prio = rank) do, in
 * O(n log n) with a heap instead of run.c's O(n²) rescans. ids[n] is rewritten in place; returns the
 * new length, -1 on out of memory. */
typedef int (*BpePairFn)(const Tokenizer *t, int a, int b, int *new_id, double *prio);
int bpe_merge(const Tokenizer *t, BpePairFn fn, int *ids, int n);

/* ---- UTF-8 and byte-level helpers (tokenizer_split.c) ---- */
/* Length of the UTF-8 sequence starting at s[0] (1 for an invalid byte), decoding into *cp. */
int utf8_next(const unsigned char *s, size_t len, int32_t *cp);
/* GPT-2 bytes_to_unicode: the code point standing for byte b. */
int32_t bytelevel_cp(int b);
/* Inverse: byte for code point cp, -1 if cp is not one of the 256. */
int bytelevel_byte(int32_t cp);
/* Splits s[len] into pre-tokens by the byte-level regex `kind`; calls fn(ctx, start, n) in order.
 * Returns 0, or what fn returned if non-zero. */
int split_pretokens(SplitKind kind, const char *s, size_t len, int (*fn)(void *ctx, size_t start, size_t n), void *ctx);

/* ---- loaders ---- */
Tokenizer *tokenizer_load_hf(const char *path, int vocab_size, char err[QB_ERRLEN]);
/* The same from a parsed tokenizer.json (root is a cJSON *; `path` names it in errors); no_sidecar: do
 * not look for a tokenizer_config.json beside path. */
Tokenizer *tokenizer_from_hf_json(const struct cJSON *root, const char *path, int vocab_size, int no_sidecar,
                                  char err[QB_ERRLEN]);
Tokenizer *tokenizer_load_gguf(const char *path, int vocab_size, char err[QB_ERRLEN]); /* tokenizer_gguf.c */
int tokenizer_encode_hf(const Tokenizer *t, const char *text, size_t len, IntVec *out, char err[QB_ERRLEN]);

#endif

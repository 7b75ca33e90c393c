/* meteor_cache.c — the per-thread vocabulary of NLTK-mode METEOR: token -> id, token -> Porter
 * stem id, stem -> NLTK's synsets(stem) (hyp side) and -> the synsets listing it (ref side).
 * Words repeat across segments, so after the first segments a token costs one hash probe and the
 * aligner compares ids. It changes only the speed: every value is what porter_stem_utf8 and the
 * WordNet functions return. Strings and key lists live in blocks that never move, so pointers
 * handed out stay valid until mt_vocab_free. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"

void mt_vocab_free(MtVocab *v) {
    mt_intern_free(&v->tok);
    mt_intern_free(&v->stem);
    free(v->tok_stem);
    free(v->stem_str); free(v->stem_len); free(v->stem_mark); free(v->stem_head);
    free(v->syn_keys); free(v->syn_n); free(v->lem_keys); free(v->lem_n);
    for (int i = 0; i < v->nblocks; i++) free(v->blocks[i]);
    free(v->blocks);
    memset(v, 0, sizeof *v);
}

/* n bytes (8-aligned) in the never-moving blocks */
static void *vocab_alloc(MtVocab *v, size_t n) {
    n = (n + 7) & ~(size_t)7;
    if (v->used + n > v->cap || !v->nblocks) {
        size_t sz = n > 65536 ? n : 65536;
        char **b = realloc(v->blocks, sizeof *b * (size_t)(v->nblocks + 1));
        if (!b) return NULL;
        v->blocks = b;
        if (!(b[v->nblocks] = malloc(sz))) return NULL;
        v->nblocks++;
        v->used = 0;
        v->cap = sz;
    }
    void *p = v->blocks[v->nblocks - 1] + v->used;
    v->used += n;
    return p;
}

static char *vocab_strdup(MtVocab *v, const char *s, int len) {
    char *d = vocab_alloc(v, (size_t)len + 1);
    if (d) { memcpy(d, s, (size_t)len); d[len] = 0; }
    return d;
}

int mt_vocab_token(MtVocab *v, const char *s, int len, uint64_t hash) {
    int id = mt_intern_hashed(&v->tok, s, len, hash, 0);
    if (id >= 0) return id;
    if (v->tok.n >= v->tok_cap) { /* room first: a failed allocation leaves no half-made entry */
        size_t nc = v->tok_cap ? 2 * (size_t)v->tok_cap : 4096;
        if (mt_resize(&v->tok_stem, sizeof(int), nc)) return -1;
        v->tok_cap = (int)nc;
    }
    char *k = vocab_strdup(v, s, len);
    if (!k) return -1;
    id = mt_intern_hashed(&v->tok, k, len, hash, 1);
    if (id < 0) return -1;
    v->tok_stem[id] = -1;
    return id;
}

int mt_vocab_stem(MtVocab *v, int tid) {
    if (v->tok_stem[tid] >= 0) return v->tok_stem[tid];
    const char *t = v->tok.key[tid];
    size_t len = (size_t)v->tok.klen[tid], cap = 8 * len + 8;
    char small[512], *out = cap <= sizeof small ? small : malloc(cap);
    int sid = -1;
    if (!out || porter_stem_utf8(t, len, out, cap) != 0) goto done;
    int sl = (int)strlen(out);
    uint64_t hs = mt_hash(out, (size_t)sl);
    sid = mt_intern_hashed(&v->stem, out, sl, hs, 0);
    if (sid < 0) {
        if (v->stem.n >= v->stem_cap) {
            size_t nc = v->stem_cap ? 2 * (size_t)v->stem_cap : 4096;
            if (mt_resize(&v->stem_str, sizeof *v->stem_str, nc) || mt_resize(&v->syn_keys, sizeof *v->syn_keys, nc) ||
                mt_resize(&v->lem_keys, sizeof *v->lem_keys, nc) || mt_resize(&v->stem_len, sizeof(int), nc) ||
                mt_resize(&v->stem_mark, sizeof(int), nc) || mt_resize(&v->stem_head, sizeof(int), nc) ||
                mt_resize(&v->syn_n, sizeof(int), nc) || mt_resize(&v->lem_n, sizeof(int), nc))
                goto done;
            v->stem_cap = (int)nc;
        }
        char *k = vocab_strdup(v, out, sl);
        if (!k || (sid = mt_intern_hashed(&v->stem, k, sl, hs, 1)) < 0) { sid = -1; goto done; }
        v->stem_str[sid] = k;
        v->stem_len[sid] = sl;
        v->stem_mark[sid] = 0;
        v->syn_n[sid] = v->lem_n[sid] = -1;
    }
    v->tok_stem[tid] = sid;
done:
    if (out != small) free(out);
    return sid;
}

unsigned mt_key_bit(uint64_t k) { return (unsigned)((k * 0x9E3779B97F4A7C15ULL) >> 56); }

int mt_vocab_keys(const WordNet *wn, MtVocab *v, int sid, int lemma, const uint64_t **keys, int *n,
                  const uint64_t **bits) {
    int *cnt = lemma ? &v->lem_n[sid] : &v->syn_n[sid];
    const uint64_t **slot = lemma ? &v->lem_keys[sid] : &v->syn_keys[sid];
    if (*cnt < 0) {
        uint64_t *tmp = NULL;
        int m = 0, rc = lemma ? mt_wn_lemma_keys(wn, v->stem_str[sid], (size_t)v->stem_len[sid], &tmp, &m)
                              : mt_wn_synset_keys(wn, v->stem_str[sid], (size_t)v->stem_len[sid], &tmp, &m);
        /* stored as the 256-bit filter, then the keys */
        uint64_t *stored = rc == 0 ? vocab_alloc(v, sizeof(uint64_t) * (size_t)(4 + m)) : NULL;
        if (stored) {
            memset(stored, 0, 4 * sizeof(uint64_t));
            for (int k = 0; k < m; k++) {
                unsigned b = mt_key_bit(tmp[k]);
                stored[b >> 6] |= 1ULL << (b & 63);
            }
            if (m) memcpy(stored + 4, tmp, sizeof(uint64_t) * (size_t)m);
        }
        free(tmp);
        if (!stored) return -1;
        *slot = stored + 4;
        *cnt = m;
    }
    *keys = *slot;
    *n = *cnt;
    if (bits) *bits = *slot - 4;
    return 0;
}

int mt_vocab_next_gen(MtVocab *v) {
    if (v->gen == INT_MAX) { /* wrap: every mark back to "not this stage" */
        if (v->stem_mark) memset(v->stem_mark, 0, sizeof(int) * (size_t)v->stem_cap);
        v->gen = 0;
    }
    return ++v->gen;
}

/* ---- vocabularies kept between calls ----------------------------------------------------------- */
/* A WordNet handle keeps the vocabularies its METEOR calls built, so that a later call (the next
 * system of a sweep, the next batch) starts with every stem and synset list it has seen: a corpus
 * call's threads each take one and give it back. The pool only holds them; any thread may use any
 * (their contents are pure functions of the strings). */
struct MtVocabPool {
    pthread_mutex_t lock;
    MtVocab **free_list;
    int n;
    size_t cap;
};

MtVocabPool *mt_pool_new(void) {
    MtVocabPool *p = calloc(1, sizeof *p);
    if (p && pthread_mutex_init(&p->lock, NULL) != 0) { free(p); p = NULL; }
    return p;
}

void mt_pool_free(MtVocabPool *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) { mt_vocab_free(p->free_list[i]); free(p->free_list[i]); }
    free(p->free_list);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

MtVocab *mt_pool_take(MtVocabPool *p) {
    MtVocab *v = NULL;
    if (p) {
        pthread_mutex_lock(&p->lock);
        if (p->n) v = p->free_list[--p->n];
        pthread_mutex_unlock(&p->lock);
    }
    return v ? v : calloc(1, sizeof(MtVocab));
}

void mt_pool_give(MtVocabPool *p, MtVocab *v) {
    if (!v) return;
    /* a vocabulary past MT_POOL_MAX_TOKENS is dropped, not kept: memory stays bounded */
    int keep = p && v->tok.n <= MT_POOL_MAX_TOKENS;
    if (keep) {
        pthread_mutex_lock(&p->lock);
        /* out of memory for the list: the vocabulary is dropped instead */
        keep = !qb_grow((void **)&p->free_list, &p->cap, (size_t)p->n + 1, sizeof *p->free_list);
        if (keep) p->free_list[p->n++] = v;
        pthread_mutex_unlock(&p->lock);
    }
    if (!keep) { mt_vocab_free(v); free(v); }
}

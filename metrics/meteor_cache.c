/* meteor_cache.c — the per-thread memo that meteor_nltk_corpus keeps while it scores a corpus:
 * token -> NLTK Porter stem, hyp stem -> its WordNet synsets, ref stem -> the synsets listing it.
 * Words repeat across segments and these lookups are most of METEOR's work; the memo changes only
 * the speed (its values are what the functions return). Keys and values live in blocks that never
 * move, so pointers handed out stay valid until mt_cache_free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"

void mt_cache_free(MtCache *c) {
    mt_intern_free(&c->stem_of); mt_intern_free(&c->syn_of); mt_intern_free(&c->lem_of);
    free(c->stem); free(c->stem_len); free(c->tok_syn); free(c->tok_lem); free(c->syn_keys); free(c->syn_count);
    free(c->lem_keys); free(c->lem_count);
    for (int i = 0; i < c->nkblocks; i++) free(c->kblocks[i]);
    free(c->kblocks);
    for (int i = 0; i < c->nblocks; i++) free(c->blocks[i]);
    free(c->blocks);
    memset(c, 0, sizeof *c);
}

static char *cache_store(MtCache *c, const char *s, size_t n) {
    if (c->used + n + 1 > c->cap) {
        size_t sz = n + 1 > 65536 ? n + 1 : 65536;
        char **b = realloc(c->blocks, sizeof *b * (size_t)(c->nblocks + 1));
        if (!b) return NULL;
        c->blocks = b;
        if (!(b[c->nblocks] = malloc(sz))) return NULL;
        c->nblocks++;
        c->used = 0;
        c->cap = sz;
    }
    char *d = c->blocks[c->nblocks - 1] + c->used;
    memcpy(d, s, n);
    d[n] = 0;
    c->used += n + 1;
    return d;
}

/* copies n keys into the never-moving key blocks */
static uint64_t *cache_store_keys(MtCache *c, const uint64_t *k, int n) {
    if (c->kused + (size_t)n > c->kcap || !c->nkblocks) {
        size_t sz = (size_t)n > 8192 ? (size_t)n : 8192;
        uint64_t **b = realloc(c->kblocks, sizeof *b * (size_t)(c->nkblocks + 1));
        if (!b) return NULL;
        c->kblocks = b;
        if (!(b[c->nkblocks] = malloc(sizeof(uint64_t) * sz))) return NULL;
        c->nkblocks++;
        c->kused = 0;
        c->kcap = sz;
    }
    uint64_t *d = c->kblocks[c->nkblocks - 1] + c->kused;
    if (n) memcpy(d, k, sizeof *d * (size_t)n);
    c->kused += (size_t)n;
    c->nkeys += (size_t)n;
    return d;
}

/* grows a (keys pointer, count) pair of arrays to hold index need - 1 */
static int grow_keys(const uint64_t ***a, int **b, int *cap, int need) {
    if (need <= *cap) return 0;
    int nc = *cap ? 2 * *cap : 1024;
    while (nc < need) nc *= 2;
    const uint64_t **x = realloc(*a, sizeof *x * (size_t)nc);
    if (!x) return -1;
    *a = x;
    int *y = realloc(*b, sizeof *y * (size_t)nc);
    if (!y) return -1;
    *b = y;
    *cap = nc;
    return 0;
}

/* Porter stem of a token into out (cap bytes), through the cache when there is one */
int mt_stem_cached(MtCache *c, const char *tok, size_t len, char *out, size_t cap, int *tid) {
    int dummy;
    if (!tid) tid = &dummy;
    *tid = -1;
    if (c) {
        int id = mt_intern(&c->stem_of, tok, (int)len, 0);
        if (id >= 0 && (size_t)c->stem_len[id] < cap) {
            memcpy(out, c->stem[id], (size_t)c->stem_len[id] + 1);
            *tid = id;
            return 0;
        }
    }
    if (porter_stem_utf8(tok, len, out, cap) != 0) return -1;
    if (c && len < 256) { /* memoise (long tokens are rare; keep the arena small) */
        /* room first, so that a failed allocation leaves no half-made entry (out of memory only
         * loses the memo) */
        if (c->stem_of.n >= c->stem_cap) {
            int nc = c->stem_cap ? 2 * c->stem_cap : 1024;
            const char **a = realloc(c->stem, sizeof *a * (size_t)nc);
            if (a) c->stem = a;
            int *l = realloc(c->stem_len, sizeof *l * (size_t)nc);
            if (l) c->stem_len = l;
            int *ts = realloc(c->tok_syn, sizeof *ts * (size_t)nc);
            if (ts) c->tok_syn = ts;
            int *tl = realloc(c->tok_lem, sizeof *tl * (size_t)nc);
            if (tl) c->tok_lem = tl;
            if (!a || !l || !ts || !tl) return 0;
            c->stem_cap = nc;
        }
        int before = c->stem_of.n;
        size_t sl = strlen(out);
        char *k = cache_store(c, tok, len), *v = k ? cache_store(c, out, sl) : NULL;
        if (!v) return 0;
        int id = mt_intern(&c->stem_of, k, (int)len, 1);
        if (id < 0 || id < before) return 0;
        c->stem[id] = v;
        c->stem_len[id] = (int)sl;
        c->tok_syn[id] = c->tok_lem[id] = -1;
        *tid = id;
    }
    return 0;
}

/* Synset keys of a string: lemma = 0, NLTK's synsets(s) (hyp side); lemma = 1, the synsets that
 * list s in the index (ref side). *keys points into the cache or into *tmp (caller frees). */
int mt_keys_cached(const WordNet *wn, MtCache *c, int lemma, const char *s, int len, int tid, uint64_t **tmp,
                   const uint64_t **keys, int *n) {
    MtIntern *map = c ? (lemma ? &c->lem_of : &c->syn_of) : NULL;
    int *memo = c && tid >= 0 && tid < c->stem_of.n ? (lemma ? &c->tok_lem[tid] : &c->tok_syn[tid]) : NULL;
    if (c) {
        int id = memo && *memo >= 0 ? *memo : mt_intern(map, s, len, 0);
        if (id >= 0) {
            if (memo) *memo = id;
            *keys = lemma ? c->lem_keys[id] : c->syn_keys[id];
            *n = lemma ? c->lem_count[id] : c->syn_count[id];
            return 0;
        }
    }
    free(*tmp);
    *tmp = NULL;
    int rc = lemma ? mt_wn_lemma_keys(wn, s, (size_t)len, tmp, n) : mt_wn_synset_keys(wn, s, (size_t)len, tmp, n);
    if (rc) return -1;
    *keys = *tmp;
    if (c && len < 256 && c->nkeys + (size_t)*n < ((size_t)1 << 26)) {
        /* room first, so that a failed allocation leaves no half-made entry */
        if (lemma ? grow_keys(&c->lem_keys, &c->lem_count, &c->lem_cap, map->n + 1)
                  : grow_keys(&c->syn_keys, &c->syn_count, &c->syn_cap, map->n + 1))
            return 0;
        uint64_t *stored = cache_store_keys(c, *tmp, *n);
        char *k = stored ? cache_store(c, s, (size_t)len) : NULL;
        if (!k) return 0;
        int before = map->n, id = mt_intern(map, k, len, 1);
        if (id < 0 || id < before) return 0;
        if (lemma) { c->lem_keys[id] = stored; c->lem_count[id] = *n; }
        else { c->syn_keys[id] = stored; c->syn_count[id] = *n; }
        *keys = stored;
        if (memo) *memo = id;
    }
    return 0;
}


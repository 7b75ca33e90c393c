/* tokenizer_bpe.c — the BPE machinery shared by both tokenizer formats: a string -> id hash map over
 * the vocabulary (looked up with a two-part key so pair concatenations need no buffer), a pair -> merge
 * map for HF merges, and the merge loop itself. The loop keeps the symbols in a linked list and the
 * candidate pairs in a binary heap ordered by (priority, position), so the pair it merges at every
 * step is the one run.c / HF would pick by rescanning, in O(n log n). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

int intvec_push(IntVec *a, int x) {
    if ((size_t)a->n == a->cap && (a->n == INT_MAX || qb_grow((void **)&a->v, &a->cap, (size_t)a->n + 1, sizeof *a->v)))
        return -1;
    a->v[a->n++] = x;
    return 0;
}

/* FNV-1a over a ‖ b */
uint64_t tok_hash2(const char *a, size_t la, const char *b, size_t lb) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < la; i++) h = (h ^ (unsigned char)a[i]) * 1099511628211ull;
    for (size_t i = 0; i < lb; i++) h = (h ^ (unsigned char)b[i]) * 1099511628211ull;
    return h;
}

int strmap_build(StrMap *m, const Tokenizer *t) {
    size_t cap = 16;
    while (cap < (size_t)t->vocab_size * 2 + 16) cap *= 2;
    m->slot = calloc(cap, sizeof *m->slot);
    if (!m->slot) return -1;
    m->cap = cap;
    for (int id = 0; id < t->vocab_size; id++) {
        if (!t->piece[id]) continue;
        size_t i = tok_hash2(t->piece[id], (size_t)t->piece_len[id], "", 0) & (cap - 1);
        int dup = 0;
        while (m->slot[i]) {
            int o = m->slot[i] - 1;
            if (t->piece_len[o] == t->piece_len[id] && memcmp(t->piece[o], t->piece[id], (size_t)t->piece_len[id]) == 0) {
                dup = 1; /* a repeated string keeps its lowest id */
                break;
            }
            i = (i + 1) & (cap - 1);
        }
        if (!dup) m->slot[i] = id + 1;
    }
    return 0;
}

int strmap_find2(const StrMap *m, const Tokenizer *t, const char *a, size_t la, const char *b, size_t lb) {
    if (!m->slot) return -1;
    size_t i = tok_hash2(a, la, b, lb) & (m->cap - 1);
    while (m->slot[i]) {
        int id = m->slot[i] - 1;
        if ((size_t)t->piece_len[id] == la + lb && memcmp(t->piece[id], a, la) == 0 &&
            memcmp(t->piece[id] + la, b, lb) == 0)
            return id;
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

void strmap_free(StrMap *m) { free(m->slot); m->slot = NULL; m->cap = 0; }

static uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; /* 0 = empty */ }

static size_t pair_slot(uint64_t k, size_t cap) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

int pairmap_init(PairMap *m, size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 16) cap *= 2;
    m->key = calloc(cap, sizeof *m->key);
    m->val = calloc(cap, sizeof *m->val);
    m->cap = cap;
    if (!m->key || !m->val) { pairmap_free(m); return -1; }
    return 0;
}

int pairmap_put(PairMap *m, int a, int b, int v) {
    uint64_t k = pair_key(a, b);
    size_t i = pair_slot(k, m->cap);
    while (m->key[i]) {
        if (m->key[i] == k) return 0; /* first (best-ranked) merge wins, as in HF */
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = k;
    m->val[i] = v;
    return 0;
}

int pairmap_get(const PairMap *m, int a, int b) {
    if (!m->key) return -1;
    uint64_t k = pair_key(a, b);
    size_t i = pair_slot(k, m->cap);
    while (m->key[i]) {
        if (m->key[i] == k) return m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

void pairmap_free(PairMap *m) {
    free(m->key); free(m->val);
    m->key = NULL; m->val = NULL; m->cap = 0;
}

/* ---- merge loop -------------------------------------------------------------------------------- */

typedef struct { int id, prev, next; unsigned ver; } Sym;
typedef struct { double prio; int left, right, new_id; unsigned lver, rver; } Cand;

static int cand_less(const Cand *x, const Cand *y) {
    if (x->prio != y->prio) return x->prio < y->prio;
    return x->left < y->left; /* symbols keep their original index, so smaller = further left */
}

typedef struct { Cand *v; size_t n, cap; } Heap;

static int heap_push(Heap *h, Cand c) {
    if (h->n == h->cap && qb_grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v)) return -1;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return 0;
}

static Cand heap_pop(Heap *h) {
    Cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const Cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best)) { m = l; best = &h->v[l]; }
        if (r < h->n && cand_less(&h->v[r], best)) { m = r; }
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int push_pair(Heap *h, const Tokenizer *t, BpePairFn fn, const Sym *s, int left) {
    int right = s[left].next;
    if (right < 0) return 0;
    Cand c = {0};
    if (!fn(t, s[left].id, s[right].id, &c.new_id, &c.prio)) return 0;
    c.left = left; c.right = right;
    c.lver = s[left].ver; c.rver = s[right].ver;
    return heap_push(h, c);
}

int bpe_merge(const Tokenizer *t, BpePairFn fn, int *ids, int n) {
    if (n < 2) return n;
    Sym *s = malloc((size_t)n * sizeof *s);
    Heap h = {0};
    if (!s) return -1;
    for (int i = 0; i < n; i++) s[i] = (Sym){ids[i], i - 1, i + 1 < n ? i + 1 : -1, 0};
    int rc = 0;
    for (int i = 0; i + 1 < n && rc == 0; i++) rc = push_pair(&h, t, fn, s, i);
    while (rc == 0 && h.n) {
        Cand c = heap_pop(&h);
        /* stale: one side changed (merged into another symbol, or grew) since this pair was seen */
        if (s[c.left].ver != c.lver || s[c.left].next != c.right || s[c.right].ver != c.rver) continue;
        s[c.left].id = c.new_id;
        s[c.left].ver++;
        s[c.right].ver++;
        s[c.right].id = -1;
        int nx = s[c.right].next;
        s[c.left].next = nx;
        if (nx >= 0) s[nx].prev = c.left;
        if (s[c.left].prev >= 0) rc = push_pair(&h, t, fn, s, s[c.left].prev);
        if (rc == 0) rc = push_pair(&h, t, fn, s, c.left);
    }
    int m = 0;
    if (rc == 0)
        for (int i = 0; i >= 0; i = s[i].next) ids[m++] = s[i].id;
    free(s);
    free(h.v);
    return rc == 0 ? m : -1;
}

/* chrf.c — chrF / chrF++ statistics and scores (sacrebleu 2.x CHRF; docs/metrics.md §1).
 *
 * A segment is decoded to code points once, optionally lowercased (Python str.lower), then split
 * two ways: the character stream (whitespace removed unless kept) and the word tokens (str.split()
 * plus the one-character punctuation rule of §1.4). For each order the reference n-grams go into
 * an open-addressing hash table; hypothesis n-grams then probe it and count a match while their
 * count is below the reference count, which sums min(H[g], R[g]) in one pass.
 *   - keys: character 1..3-grams are packed exactly (21 bits per code point); longer n-grams and
 *     word n-grams use a 64-bit rolling hash whose equal values are confirmed by comparing the
 *     code points, so a collision can never change a count;
 *   - an n-gram whose (n-1)-gram prefix has no partner on the other side cannot match, so such
 *     start positions are dropped from the higher orders;
 *   - the table is cleared by bumping a stamp, not by memset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "metrics/chrf.h"
#include "metrics/pystr.h" /* utf8_decode, py_isspace, py_lower (Python str semantics) */

#define HASH_SEED 0x243F6A8885A308D3ULL
#define HASH_MUL 0x9E3779B97F4A7C15ULL

/* One prepared text: code points, the character stream, the word tokens. */
typedef struct {
    uint32_t *raw, *cp; /* decoded; cp = lowercased copy or raw */
    size_t ncp, cap_raw, cap_cp;
    uint32_t *ch;       /* characters that form the char n-grams */
    size_t nch, cap_ch;
    uint32_t *toff, *tlen; /* token i = cp[toff[i] .. toff[i]+tlen[i]) */
    uint64_t *th;          /* token hashes */
    size_t ntok, cap_tok;
} Prep;

typedef struct {
    uint64_t h;
    uint32_t stamp;
    uint32_t pos_src; /* start index in the source's characters / tokens << 1 | source (1 = hyp) */
    int32_t cr, ch;   /* reference / hypothesis counts */
} Slot;

struct chrf_ws {
    Prep hyp, ref;
    uint64_t *hh, *rh; /* rolling hashes per start position */
    size_t cap_hh, cap_rh;
    uint32_t *live_h, *live_r; /* ascending start positions whose previous-order n-gram occurs
                                * on the other side (the only ones that can still match) */
    size_t nlive_h, nlive_r, cap_lh, cap_lr;
    uint32_t *rslot;           /* table slot of live_r[q] at the current order */
    size_t cap_rs;
    Slot *tab;
    size_t cap_tab, size; /* allocated slots; slots in use for this pair (a power of 2) */
    int bits;
    uint32_t stamp;
};


chrf_opts chrf_defaults(int word_order) {
    chrf_opts o = {6, word_order, 2.0, 0, 0, 0, 0};
    return o;
}

int chrf_opts_check(const chrf_opts *o, char err[QB_ERRLEN]) {
    if (o->char_order < 0 || o->char_order > CHRF_MAX_CHAR_ORDER) {
        snprintf(err, QB_ERRLEN, "chrF: char order %d out of range 0..%d", o->char_order, CHRF_MAX_CHAR_ORDER);
        return -1;
    }
    if (o->word_order < 0 || o->word_order > CHRF_MAX_WORD_ORDER) {
        snprintf(err, QB_ERRLEN, "chrF: word order %d out of range 0..%d", o->word_order, CHRF_MAX_WORD_ORDER);
        return -1;
    }
    if (o->char_order + o->word_order == 0) {
        snprintf(err, QB_ERRLEN, "chrF: char order and word order are both 0");
        return -1;
    }
    if (!isfinite(o->beta) || o->beta < 0) {
        snprintf(err, QB_ERRLEN, "chrF: beta %g must be a finite number >= 0", o->beta);
        return -1;
    }
    return 0;
}

chrf_ws *chrf_ws_new(void) { return calloc(1, sizeof(chrf_ws)); }

static void prep_free(Prep *p) {
    free(p->raw); free(p->cp); free(p->ch); free(p->toff); free(p->tlen); free(p->th);
}

void chrf_ws_free(chrf_ws *ws) {
    if (!ws) return;
    prep_free(&ws->hyp);
    prep_free(&ws->ref);
    free(ws->hh); free(ws->rh); free(ws->tab);
    free(ws->live_h); free(ws->live_r); free(ws->rslot);
    free(ws);
}

/* string.punctuation: the 32 ASCII punctuation characters. */
static int is_punct(uint32_t c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static uint64_t hash_cps(const uint32_t *c, size_t n) {
    uint64_t h = HASH_SEED;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * HASH_MUL;
    return h ^ (h >> 29);
}

static int push_token(Prep *p, size_t off, size_t len) {
    if (p->ntok == p->cap_tok) { /* toff, tlen and th share one capacity */
        size_t co = p->cap_tok, cl = p->cap_tok, ch = p->cap_tok;
        if (qb_grow((void **)&p->toff, &co, p->ntok + 1, sizeof *p->toff) ||
            qb_grow((void **)&p->tlen, &cl, p->ntok + 1, sizeof *p->tlen) ||
            qb_grow((void **)&p->th, &ch, p->ntok + 1, sizeof *p->th))
            return -1;
        p->cap_tok = co;
    }
    p->toff[p->ntok] = (uint32_t)off;
    p->tlen[p->ntok] = (uint32_t)len;
    p->th[p->ntok] = hash_cps(p->cp + off, len);
    p->ntok++;
    return 0;
}

/* Decode, lowercase, and split one text. what names it in errors ("hypothesis", "reference 2"). */
static int prep_text(Prep *p, const char *s, const chrf_opts *o, const char *what, char err[QB_ERRLEN]) {
    size_t n = strlen(s), bad = 0;
    if (n > (size_t)1 << 30) { /* keeps positions and counts well inside 31 bits */
        snprintf(err, QB_ERRLEN, "%s: %zu bytes is too long", what, n);
        return -1;
    }
    if (qb_grow((void **)&p->raw, &p->cap_raw, n + 1, sizeof(uint32_t))) goto oom;
    long ncp = utf8_decode(s, n, p->raw, &bad);
    if (ncp < 0) {
        snprintf(err, QB_ERRLEN, "%s: invalid UTF-8 at byte %zu", what, bad);
        return -1;
    }
    if (o->lowercase) {
        if (qb_grow((void **)&p->cp, &p->cap_cp, 2 * (size_t)ncp + 1, sizeof(uint32_t))) goto oom;
        p->ncp = py_lower(p->raw, (size_t)ncp, p->cp);
    } else {
        if (qb_grow((void **)&p->cp, &p->cap_cp, (size_t)ncp + 1, sizeof(uint32_t))) goto oom;
        memcpy(p->cp, p->raw, (size_t)ncp * sizeof(uint32_t));
        p->ncp = (size_t)ncp;
    }
    const uint32_t *cp = p->cp;
    size_t N = p->ncp;

    /* characters */
    if (qb_grow((void **)&p->ch, &p->cap_ch, N + 1, sizeof(uint32_t))) goto oom;
    p->nch = 0;
    if (o->popovic) {
        /* chrF++.py: line.strip().replace(" ", "") */
        size_t a = 0, b = N;
        while (a < b && py_isspace(cp[a])) a++;
        while (b > a && py_isspace(cp[b - 1])) b--;
        for (size_t i = a; i < b; i++)
            if (cp[i] != 0x20) p->ch[p->nch++] = cp[i];
    } else if (o->whitespace) {
        memcpy(p->ch, cp, N * sizeof(uint32_t));
        p->nch = N;
    } else {
        /* ''.join(line.split()) */
        for (size_t i = 0; i < N; i++)
            if (!py_isspace(cp[i])) p->ch[p->nch++] = cp[i];
    }

    /* words: str.split(), then split one punctuation character off each token (§1.4) */
    p->ntok = 0;
    if (o->word_order > 0) {
        size_t i = 0;
        while (i < N) {
            while (i < N && py_isspace(cp[i])) i++;
            if (i == N) break;
            size_t j = i;
            while (j < N && !py_isspace(cp[j])) j++;
            size_t len = j - i;
            int rc;
            if (len == 1) rc = push_token(p, i, 1);
            else if (is_punct(cp[j - 1])) rc = push_token(p, i, len - 1) || push_token(p, j - 1, 1);
            else if (is_punct(cp[i])) rc = push_token(p, i, 1) || push_token(p, i + 1, len - 1);
            else rc = push_token(p, i, len);
            if (rc) goto oom;
            i = j;
        }
    }
    return 0;
oom:
    snprintf(err, QB_ERRLEN, "%s: out of memory", what);
    return -1;
}

/* Makes the table hold at least `items` distinct keys at load <= 1/2 and starts a new stamp. */
static int table_reset(chrf_ws *ws, size_t items) {
    size_t need = 16;
    int bits = 4;
    while (need < 4 * items) { need *= 2; bits++; }
    if (need > ws->cap_tab) {
        Slot *t = calloc(need, sizeof(Slot));
        if (!t) return -1;
        free(ws->tab);
        ws->tab = t;
        ws->cap_tab = need;
        ws->stamp = 0;
    }
    /* only the first `need` slots: a long line earlier must not spread short ones over a huge,
     * cache-cold table */
    ws->size = need;
    ws->bits = bits;
    if (++ws->stamp == 0) {
        memset(ws->tab, 0, ws->cap_tab * sizeof(Slot));
        ws->stamp = 1;
    }
    return 0;
}

/* Equality of two n-grams, each given by (source, start). kind 0: characters, 1: tokens,
 * 2: characters whose key is the n-gram itself (n <= 3), so equal keys are equal n-grams. */
static inline int ngram_equal(const chrf_ws *ws, int kind, int n, int sa, uint32_t pa, int sb, uint32_t pb) {
    if (kind == 2) return 1;
    const Prep *A = sa ? &ws->hyp : &ws->ref, *B = sb ? &ws->hyp : &ws->ref;
    if (kind == 0) {
        const uint32_t *a = A->ch + pa, *b = B->ch + pb;
        for (int k = 0; k < n; k++)
            if (a[k] != b[k]) return 0;
        return 1;
    }
    for (int k = 0; k < n; k++) {
        uint32_t la = A->tlen[pa + k], lb = B->tlen[pb + k];
        if (la != lb || A->th[pa + k] != B->th[pb + k] ||
            memcmp(A->cp + A->toff[pa + k], B->cp + B->toff[pb + k], la * sizeof(uint32_t)))
            return 0;
    }
    return 1;
}

/* Finds (src, pos)'s n-gram with hash h; inserts it with zero counts when absent, unless
 * insert is 0 (then returns NULL). */
static inline __attribute__((always_inline)) Slot *table_find(chrf_ws *ws, int kind, int n, uint64_t h, int src, uint32_t pos, int insert) {
    size_t mask = ws->size - 1;
    size_t i = (size_t)((h * HASH_MUL) >> (64 - ws->bits)) & mask;
    for (;;) {
        Slot *s = &ws->tab[i];
        if (s->stamp != ws->stamp) {
            if (!insert) return NULL;
            s->stamp = ws->stamp;
            s->h = h;
            s->pos_src = pos << 1 | (uint32_t)src;
            s->cr = s->ch = 0;
            return s;
        }
        if (s->h == h && ngram_equal(ws, kind, n, s->pos_src & 1, s->pos_src >> 1, src, pos)) return s;
        i = (i + 1) & mask;
    }
}

/* One order: counts the live reference n-grams, then matches the live hypothesis n-grams
 * against them (clipped: a hypothesis occurrence matches while its count is below the
 * reference count), then keeps the positions whose n-gram found a partner. Returns the matches.
 * Walking lists of live positions (not flags over every position) keeps the loops free of
 * unpredictable skips once most positions are dead. */
static inline __attribute__((always_inline)) int64_t order_pass(chrf_ws *ws, int k, int n) {
    uint32_t *lr = ws->live_r, *lh = ws->live_h;
    size_t nr = ws->nlive_r, nh = ws->nlive_h;
    for (size_t q = 0; q < nr; q++) {
        Slot *s = table_find(ws, k, n, ws->rh[lr[q]], 0, lr[q], 1);
        s->cr++;
        ws->rslot[q] = (uint32_t)(s - ws->tab);
    }
    int64_t match = 0;
    size_t keep = 0;
    Slot none = {0, 0, 0, 0, 0}; /* stands in for an absent n-gram, so the loops below do not branch */
    for (size_t q = 0; q < nh; q++) {
        Slot *s = table_find(ws, k, n, ws->hh[lh[q]], 1, lh[q], 0); /* only reference n-grams matter */
        int found = s != NULL;
        s = found ? s : &none;
        match += s->ch < s->cr; /* (0 < 0 is false for the stand-in) */
        s->ch += found;
        lh[keep] = lh[q];
        keep += (size_t)found;
    }
    ws->nlive_h = keep;
    keep = 0;
    for (size_t q = 0; q < nr; q++) {
        lr[keep] = lr[q];
        keep += ws->tab[ws->rslot[q]].ch > 0;
    }
    ws->nlive_r = keep;
    return match;
}

/* Statistics of every order of one kind (0 chars, 1 words) into v[0..3*norder).
 * Pruning: an n-gram can occur on both sides only if its (n-1)-gram prefix does, so positions
 * whose prefix found no partner are dropped from higher orders. Every reference occurrence of an
 * n-gram the hypothesis has shares that prefix, so the counts that matter stay complete. */
static int kind_stats(chrf_ws *ws, int kind, int norder, int64_t *v) {
    const Prep *H = &ws->hyp, *R = &ws->ref;
    size_t lh = kind ? H->ntok : H->nch, lr = kind ? R->ntok : R->nch;
    const uint32_t *xh = H->ch, *xr = R->ch;
    if (norder == 0) return 0;
    if (qb_grow((void **)&ws->hh, &ws->cap_hh, lh + 1, sizeof(uint64_t)) ||
        qb_grow((void **)&ws->rh, &ws->cap_rh, lr + 1, sizeof(uint64_t)) ||
        qb_grow((void **)&ws->live_h, &ws->cap_lh, lh + 1, sizeof(uint32_t)) ||
        qb_grow((void **)&ws->live_r, &ws->cap_lr, lr + 1, sizeof(uint32_t)) ||
        qb_grow((void **)&ws->rslot, &ws->cap_rs, lr + 1, sizeof(uint32_t)))
        return -1;
    for (size_t i = 0; i < lh; i++) ws->live_h[i] = (uint32_t)i;
    for (size_t i = 0; i < lr; i++) ws->live_r[i] = (uint32_t)i;
    ws->nlive_h = lh;
    ws->nlive_r = lr;
    /* Character keys start as the exact n-gram packed 21 bits per code point (orders 1..3);
     * from order 4 on they continue as a hash. Word keys are hashes from the start. */
    uint64_t seed = kind ? HASH_SEED : 0;
    for (size_t i = 0; i < lh; i++) ws->hh[i] = seed;
    for (size_t i = 0; i < lr; i++) ws->rh[i] = seed;
    for (int n = 1; n <= norder; n++) {
        int64_t *st = v + 3 * (n - 1);
        size_t ch = lh >= (size_t)n ? lh - (size_t)n + 1 : 0;
        size_t cr = lr >= (size_t)n ? lr - (size_t)n + 1 : 0;
        st[0] = st[1] = st[2] = 0;
        if (cr == 0) continue; /* sacrebleu: no reference n-grams -> hyp count 0 as well */
        st[0] = (int64_t)ch;
        st[1] = (int64_t)cr;
        if (ch == 0) continue;
        /* positions too close to the end have no n-gram of this order (the lists ascend) */
        while (ws->nlive_r && ws->live_r[ws->nlive_r - 1] >= cr) ws->nlive_r--;
        while (ws->nlive_h && ws->live_h[ws->nlive_h - 1] >= ch) ws->nlive_h--;
        const uint32_t *Lr = ws->live_r, *Lh = ws->live_h;
        size_t nr = ws->nlive_r, nh = ws->nlive_h;
        /* extend each live start position's key by its n-th element (dead ones are never used
         * again) */
        int k = kind;
        if (kind) {
            for (size_t q = 0; q < nr; q++) ws->rh[Lr[q]] = (ws->rh[Lr[q]] ^ R->th[Lr[q] + n - 1]) * HASH_MUL;
            for (size_t q = 0; q < nh; q++) ws->hh[Lh[q]] = (ws->hh[Lh[q]] ^ H->th[Lh[q] + n - 1]) * HASH_MUL;
        } else if (n <= 3) {
            k = 2;
            for (size_t q = 0; q < nr; q++) ws->rh[Lr[q]] = (ws->rh[Lr[q]] << 21) | xr[Lr[q] + n - 1];
            for (size_t q = 0; q < nh; q++) ws->hh[Lh[q]] = (ws->hh[Lh[q]] << 21) | xh[Lh[q] + n - 1];
        } else {
            for (size_t q = 0; q < nr; q++) ws->rh[Lr[q]] = (ws->rh[Lr[q]] ^ xr[Lr[q] + n - 1]) * HASH_MUL;
            for (size_t q = 0; q < nh; q++) ws->hh[Lh[q]] = (ws->hh[Lh[q]] ^ xh[Lh[q] + n - 1]) * HASH_MUL;
        }
        if (nr == 0 || nh == 0) continue; /* nothing can match at this order or above */
        /* only live reference n-grams are inserted: size the table for them */
        if (table_reset(ws, nr)) return -1;
        /* one instance per kind, so the key comparison is resolved at compile time */
        st[2] = k == 2 ? order_pass(ws, 2, n) : k == 0 ? order_pass(ws, 0, n) : order_pass(ws, 1, n);
    }
    return 0;
}

void chrf_stats_zero(chrf_stats *s, const chrf_opts *o) {
    memset(s, 0, sizeof *s);
    s->norder = o->char_order + o->word_order;
}

void chrf_stats_add(chrf_stats *acc, const chrf_stats *s) {
    for (int k = 0; k < 3 * s->norder; k++) acc->v[k] += s->v[k];
}

/* sacrebleu default: one F-beta of the precision and recall averaged over effective orders. */
static double score_effective(const int64_t *v, int norder, double beta) {
    double factor = beta * beta, avg_p = 0.0, avg_r = 0.0;
    int eff = 0;
    for (int k = 0; k < norder; k++) {
        int64_t h = v[3 * k], r = v[3 * k + 1], m = v[3 * k + 2];
        if (h > 0 && r > 0) {
            avg_p += (double)m / (double)h;
            avg_r += (double)m / (double)r;
            eff++;
        }
    }
    if (eff == 0) return 0.0;
    avg_p /= eff;
    avg_r /= eff;
    if (avg_p + avg_r == 0.0) return 0.0;
    double score = (1 + factor) * avg_p * avg_r; /* keep sacrebleu's operation order */
    score /= (factor * avg_p) + avg_r;
    return 100 * score;
}

/* Per-order F with the 1e-16 fallbacks of sacrebleu's eps mode and chrF++.py. */
static double order_f(int64_t h, int64_t r, int64_t m, double factor) {
    double p = h > 0 ? (double)m / (double)h : 1e-16;
    double rc = r > 0 ? (double)m / (double)r : 1e-16;
    double denom = factor * p + rc;
    return denom > 0 ? (1 + factor) * p * rc / denom : 1e-16;
}

/* sacrebleu eps_smoothing=True: 100 * sum(F_k) / order. */
static double score_eps(const int64_t *v, int norder, double beta) {
    double factor = beta * beta, score = 0.0;
    for (int k = 0; k < norder; k++) score += order_f(v[3 * k], v[3 * k + 1], v[3 * k + 2], factor);
    return 100 * score / norder;
}

/* chrF++.py, unscaled: (sum of char F + sum of word F) / norder. For a sentence only orders with
 * a match are in its dictionaries; at document level every order is. */
static double popovic_f(const int64_t *v, int nc, int nw, double beta, int sentence) {
    double factor = beta * beta, sc = 0.0, sw = 0.0;
    for (int k = 0; k < nc + nw; k++) {
        if (sentence && v[3 * k + 2] == 0) continue;
        double f = order_f(v[3 * k], v[3 * k + 1], v[3 * k + 2], factor);
        if (k < nc) sc += f; else sw += f;
    }
    return (sc + sw) / (double)(nc + nw);
}

double chrf_score_from_stats(const chrf_stats *s, const chrf_opts *o) {
    int norder = o->char_order + o->word_order;
    if (o->popovic) return 100 * popovic_f(s->v, o->char_order, o->word_order, o->beta, 0);
    if (o->eps_smoothing) return score_eps(s->v, norder, o->beta);
    return score_effective(s->v, norder, o->beta);
}

/* The value references are ranked by: the sentence score, or chrF++.py's unscaled sentence F. */
static double sentence_raw(const chrf_stats *s, const chrf_opts *o) {
    if (o->popovic) return popovic_f(s->v, o->char_order, o->word_order, o->beta, 1);
    return chrf_score_from_stats(s, o);
}

static int segment(chrf_ws *ws, const char *hyp, const char *const *refs, int nrefs,
                   const chrf_opts *o, chrf_stats *st, double *raw, char err[QB_ERRLEN]) {
    if (!hyp) {
        snprintf(err, QB_ERRLEN, "hypothesis is missing (NULL)");
        return -1;
    }
    if (prep_text(&ws->hyp, hyp, o, "hypothesis", err)) return -1;
    double best = -1.0;
    int found = 0;
    chrf_stats cur;
    chrf_stats_zero(&cur, o);
    for (int r = 0; r < nrefs; r++) {
        if (!refs[r]) continue;
        char what[32];
        snprintf(what, sizeof what, "reference %d", r + 1);
        if (prep_text(&ws->ref, refs[r], o, what, err)) return -1;
        if (kind_stats(ws, 0, o->char_order, cur.v) ||
            kind_stats(ws, 1, o->word_order, cur.v + 3 * o->char_order)) {
            snprintf(err, QB_ERRLEN, "chrF: out of memory");
            return -1;
        }
        double f = sentence_raw(&cur, o);
        if (f > best) { /* strict: the earliest reference wins ties */
            best = f;
            *st = cur;
            found = 1;
        }
    }
    if (!found) {
        snprintf(err, QB_ERRLEN, "segment has no reference");
        return -1;
    }
    *raw = best;
    return 0;
}

int chrf_segment_stats(chrf_ws *ws, const char *hyp, const char *const *refs, int nrefs,
                       const chrf_opts *o, chrf_stats *st, double *score, char err[QB_ERRLEN]) {
    if (chrf_opts_check(o, err)) return -1;
    chrf_ws *own = NULL;
    if (!ws && !(ws = own = chrf_ws_new())) {
        snprintf(err, QB_ERRLEN, "chrF: out of memory");
        return -1;
    }
    chrf_stats tmp;
    double raw = 0.0;
    int rc = segment(ws, hyp, refs, nrefs, o, &tmp, &raw, err);
    if (rc == 0) {
        if (st) *st = tmp;
        if (score) *score = o->popovic ? 100 * raw : raw;
    }
    chrf_ws_free(own);
    return rc;
}

int chrf_corpus(const char *const *hyps, size_t nseg, const char *const *refs, int nrefs,
                const chrf_opts *o, chrf_result *res, double *sent, char err[QB_ERRLEN]) {
    if (chrf_opts_check(o, err)) return -1;
    if (nrefs < 1 || nrefs > 4096) {
        snprintf(err, QB_ERRLEN, "chrF: %d reference streams (need 1..4096)", nrefs);
        return -1;
    }
    memset(res, 0, sizeof *res);
    chrf_stats_zero(&res->total, o);
    res->nseg = nseg;
    if (nseg == 0) return 0;
    /* Each segment's statistics go to its own row (3 * norder counts), summed afterwards in
     * segment order: the result cannot depend on how segments were spread over threads. */
    size_t row = 3 * (size_t)res->total.norder;
    double *raw = malloc(nseg * sizeof(double));
    int64_t *seg_v = malloc(nseg * row * sizeof(int64_t));
    if (!raw || !seg_v) {
        free(raw);
        free(seg_v);
        snprintf(err, QB_ERRLEN, "chrF: out of memory");
        return -1;
    }
    size_t bad_seg = (size_t)-1; /* lowest failing segment, so the message does not depend on threads */
    char bad_msg[QB_ERRLEN] = "";

#pragma omp parallel if (nseg > 64) /* (a few segments are not worth waking threads for) */
    {
        chrf_ws *ws = chrf_ws_new(); /* one per thread, reused across its segments */
        const char **rr = malloc((size_t)nrefs * sizeof(char *));
        chrf_stats st;
        char e[QB_ERRLEN];
        size_t my_bad = (size_t)-1;
        int ok = ws && rr;
        if (!ok) snprintf(e, QB_ERRLEN, "chrF: out of memory");
#pragma omp for schedule(dynamic, 8) nowait
        for (size_t i = 0; i < nseg; i++) {
            if (!ok) {
                if (my_bad == (size_t)-1) my_bad = i;
                continue;
            }
            for (int r = 0; r < nrefs; r++) rr[r] = refs[(size_t)r * nseg + i];
            char m[QB_ERRLEN];
            if (segment(ws, hyps[i], rr, nrefs, o, &st, &raw[i], m)) {
                if (i < my_bad) {
                    my_bad = i;
                    snprintf(e, sizeof e, "segment %zu: %.*s", i + 1, QB_ERRLEN - 40, m);
                }
                continue;
            }
            memcpy(seg_v + i * row, st.v, row * sizeof(int64_t));
        }
#pragma omp critical(chrf_corpus_err)
        if (my_bad < bad_seg) {
            bad_seg = my_bad;
            memcpy(bad_msg, e, sizeof bad_msg);
        }
        free(rr);
        chrf_ws_free(ws);
    }

    if (bad_seg != (size_t)-1) {
        snprintf(err, QB_ERRLEN, "%s", bad_msg);
        free(raw);
        free(seg_v);
        return -1;
    }
    for (size_t i = 0; i < nseg; i++)
        for (size_t k = 0; k < row; k++) res->total.v[k] += seg_v[i * row + k];
    res->score = chrf_score_from_stats(&res->total, o);
    double sum = 0.0; /* in segment order, like Python's left-to-right sum */
    for (size_t i = 0; i < nseg; i++) sum += raw[i];
    res->mean_sentence = o->popovic ? 100 * (sum / (double)nseg) : sum / (double)nseg;
    if (sent)
        for (size_t i = 0; i < nseg; i++) sent[i] = o->popovic ? 100 * raw[i] : raw[i];
    free(raw);
    free(seg_v);
    return 0;
}

void chrf_name(const chrf_opts *o, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "chrF%g", o->beta);
    for (int i = 0; i < o->word_order && k >= 0 && (size_t)k + 1 < cap; i++) buf[k++] = '+', buf[k] = 0;
}

void chrf_signature(const chrf_opts *o, int nrefs, char *buf, size_t cap) {
    char nr[16];
    if (nrefs < 0) snprintf(nr, sizeof nr, "var");
    else snprintf(nr, sizeof nr, "%d", nrefs);
    snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|nc:%d|nw:%d|space:%s%s|version:%s", nr,
             o->lowercase ? "lc" : "mixed", (o->eps_smoothing || o->popovic) ? "no" : "yes",
             o->char_order, o->word_order, o->whitespace ? "yes" : "no",
             o->popovic ? "|popovic:yes" : "", CHRF_SACREBLEU_VERSION);
}

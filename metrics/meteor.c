/* meteor.c — METEOR exactly as NLTK 3.8's nltk.translate.meteor_score computes it (docs/metrics.md §2).
 *
 * Per reference: lowercase the tokens; stage 1 matches equal tokens, stage 2 equal Porter stems of
 * what is left, stage 3 a remaining hyp stem's WordNet synonyms against the remaining ref stems.
 * Each stage walks the hypothesis from the right and gives each word the right-most free equal
 * reference word. NLTK does this with nested loops (O(H·R)); here each stage keeps, per distinct
 * string, a stack of the free reference positions (largest on top), which picks the same word in
 * O(H + R) — so very long lines stay cheap. Stems are computed only for what stage 1 leaves, as in
 * NLTK; stage 3 intersects synset lists instead of listing every lemma name (same answer, see
 * align). Each thread works on ids from its vocabulary of tokens, stems and synset lists, which the
 * WordNet handle keeps between calls (meteor_cache.c). Then
 *   P = m/H, R = m/R, Fmean = P·R / (α·P + (1−α)·R), frag = chunks/m,
 *   score = (1 − γ·frag^β)·Fmean     (0 when m, H or R is 0; no perfect-match special case).
 * Multiple references: the maximum, the first reference on ties (Python's max()). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"

static const double ALPHA = 0.9, BETA = 3.0, GAMMA = 0.5;

double meteor_nltk_score(const MeteorStats *s) {
    if (s->matches == 0 || s->hyp_len == 0 || s->ref_len == 0) return 0.0;
    /* operation order as in NLTK; (1 - ALPHA) is 0.09999999999999998 in binary64, as there */
    double precision = (double)s->matches / s->hyp_len;
    double recall = (double)s->matches / s->ref_len;
    double fmean = (precision * recall) / (ALPHA * precision + (1 - ALPHA) * recall);
    double frag = (double)s->chunks / s->matches;
    double penalty = GAMMA * pow(frag, BETA);
    return (1 - penalty) * fmean;
}

/* One side of a pair: its lowercased tokens; per token its first 8 bytes (zero-extended: with the
 * length, a whole token of up to 8 bytes, compared without memcmp) and a hash of them for stage
 * 1's table; its id in the thread's vocabulary, looked up only for the tokens stage 1 leaves
 * (-1 until then). */
typedef struct {
    MtTokens tok;
    uint64_t *head8, *hash;
    int *tid;
    int cap;
} Side;

static int side_build(Side *s, const char *line, MeteorTokenize tok, MtTreebank *tb, const char *what,
                      char err[QB_ERRLEN]) {
    int rc = tok == METEOR_TOK_TREEBANK ? mt_treebank_tokenize_lower(tb, line, strlen(line), &s->tok, what, err)
                                        : mt_tokenize_lower(line, &s->tok, what, err);
    if (rc != 0) return -1;
    if (s->tok.n > s->cap) {
        size_t nc = (size_t)(s->tok.n > 2 * s->cap ? s->tok.n : 2 * s->cap);
        if (mt_resize(&s->tid, sizeof(int), nc) || mt_resize(&s->hash, sizeof(uint64_t), nc) ||
            mt_resize(&s->head8, sizeof(uint64_t), nc))
            goto oom;
        s->cap = (int)nc;
    }
    for (int i = 0; i < s->tok.n; i++) {
        uint64_t w, len = (uint64_t)s->tok.len[i];
        memcpy(&w, s->tok.buf + s->tok.off[i], 8); /* (MT_TOKENS_PAD makes the 8 bytes readable) */
        if (len < 8) w &= (1ULL << (8 * len)) - 1;
        s->head8[i] = w;
        s->hash[i] = (w ^ (len << 59)) * 0x9E3779B97F4A7C15ULL; /* the table uses the top bits */
        s->tid[i] = -1;
    }
    return 0;
oom:
    snprintf(err, QB_ERRLEN, "%s: out of memory", what);
    return -1;
}

/* Scratch for one (hyp, ref) alignment, by position. */
typedef struct {
    int *ref_of_hyp, *hyp_stem; /* hyp position -> matched ref position or -1; -> its stem id */
    int *ref_used, *ref_stem;   /* ref position matched?; -> its stem id */
    int *next;                  /* ref position -> next free one below it with the same id */
    const uint64_t **tk, **tbits; /* ref position -> the synsets listing its stem (stage 3), their filter */
    int *nt;
    int cap_h, cap_r;
    /* stage 1's table, per distinct ref token: a tag (its hash's high 48 bits, and the low 16 bits
     * of the pair's number: a slot whose tag holds another pair is free), its first 8 bytes and
     * length, one position holding it (for longer tokens) and the top of its stack of free
     * positions. Small and per pair: it stays in L1, and the vocabulary is then consulted only for
     * what stage 1 leaves. */
    struct Exact { uint64_t tag, head8; int len, rep, head, pad; } *slot;
    int nslot, nuse; /* allocated; used by this pair (a power of two, at most a quarter full) */
    int shift;       /* 64 - log2(nuse): a hash's slot is its top bits */
    unsigned pair;   /* counts the pairs aligned, from 1 (16 bits); 0 marks a never-used slot */
} Scratch;

/* the slot of token i of side s (hyp or ref) in the table of r's tokens (a free one, where the
 * token would go, when (e->tag & 0xFFFF) != w->pair) */
static inline struct Exact *exact_slot(const Scratch *w, const Side *r, const Side *s, int i) {
    uint64_t hs = s->hash[i], want = (hs & ~0xFFFFULL) | w->pair, h8 = s->head8[i];
    int len = s->tok.len[i];
    for (size_t q = hs >> w->shift;; q = (q + 1) & (size_t)(w->nuse - 1)) {
        struct Exact *e = &w->slot[q];
        if (e->tag == want && e->head8 == h8 && e->len == len &&
            (len <= 8 ||
             memcmp(s->tok.buf + s->tok.off[i] + 8, r->tok.buf + r->tok.off[e->rep] + 8, (size_t)len - 8) == 0))
            return e;
        if ((e->tag & 0xFFFF) != w->pair) return e;
    }
}

static int tid_of(MtVocab *v, const Side *s, int i) {
    if (s->tid[i] < 0) {
        const char *t = s->tok.buf + s->tok.off[i];
        s->tid[i] = mt_vocab_token(v, t, s->tok.len[i], mt_hash(t, (size_t)s->tok.len[i]));
    }
    return s->tid[i];
}

/* Is there a synset in hk (sorted, with its 256-bit filter) and in tk whose lemma names include t
 * exactly? */
static int common_synset_named(const WordNet *wn, const uint64_t *hk, int nh, const uint64_t *hf,
                               const uint64_t *tk, int nt, const char *t, int tl) {
    if (nh == 0 || nt == 0 || hk[0] > tk[nt - 1] || tk[0] > hk[nh - 1]) return 0;
    for (int k = 0; k < nt; k++) {
        unsigned b = mt_key_bit(tk[k]);
        if (!(hf[b >> 6] >> (b & 63) & 1)) continue;
        int lo = 0, hi = nh;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (hk[mid] < tk[k]) lo = mid + 1; else hi = mid;
        }
        if (lo < nh && hk[lo] == tk[k] && mt_wn_synset_has_name(wn, tk[k], t, tl)) return 1;
    }
    return 0;
}

static int align(const WordNet *wn, MtVocab *v, const Side *h, const Side *r, Scratch *w, MeteorStats *st) {
    int H = h->tok.n, R = r->tok.n;
    memset(st, 0, sizeof *st);
    st->hyp_len = H;
    st->ref_len = R;
    for (int i = 0; i < H; i++) w->ref_of_hyp[i] = -1;
    for (int j = 0; j < R; j++) w->ref_used[j] = 0;
    if (H == 0 || R == 0) return 0;
    /* A later stage can match only while both sides have a free word; when one side is used up,
     * its stems and synsets would change nothing, so they are not computed. */
#define ALL_MATCHED() (st->exact + st->stem + st->synonym == (H < R ? H : R))
    /* stage 1, exact (lowercased) tokens: per distinct ref token a stack of its free positions
     * (largest on top); the hyp is walked from the right and pops */
    if (++w->pair > 0xFFFF) { /* wrapped: forget every stamp */
        memset(w->slot, 0, sizeof *w->slot * (size_t)w->nslot);
        w->pair = 1;
    }
    for (int j = 0; j < R; j++) {
        struct Exact *e = exact_slot(w, r, r, j);
        if ((e->tag & 0xFFFF) != w->pair)
            *e = (struct Exact){(r->hash[j] & ~0xFFFFULL) | w->pair, r->head8[j], r->tok.len[j], j, -1, 0};
        w->next[j] = e->head;
        e->head = j;
    }
    for (int i = H - 1; i >= 0; i--) {
        struct Exact *e = exact_slot(w, r, h, i);
        int j = e->head;
        if ((e->tag & 0xFFFF) != w->pair || j < 0) continue;
        e->head = w->next[j];
        w->ref_used[j] = 1;
        w->ref_of_hyp[i] = j;
        st->exact++;
    }
    if (ALL_MATCHED()) goto chunks;
    /* stage 2: the same on the Porter stems of what stage 1 left, by stem id */
    int gen = mt_vocab_next_gen(v);
    for (int j = 0; j < R; j++) {
        if (w->ref_used[j]) continue;
        int t = tid_of(v, r, j);
        int sid = w->ref_stem[j] = t < 0 ? -1 : mt_vocab_stem(v, t);
        if (sid < 0) return -1;
        w->next[j] = v->stem_mark[sid] == gen ? v->stem_head[sid] : -1;
        v->stem_mark[sid] = gen;
        v->stem_head[sid] = j;
    }
    for (int i = H - 1; i >= 0; i--) {
        if (w->ref_of_hyp[i] >= 0) continue;
        int t = tid_of(v, h, i), j;
        int sid = w->hyp_stem[i] = t < 0 ? -1 : mt_vocab_stem(v, t);
        if (sid < 0) return -1;
        if (v->stem_mark[sid] != gen || (j = v->stem_head[sid]) < 0) continue;
        v->stem_head[sid] = w->next[j];
        w->ref_used[j] = 1;
        w->ref_of_hyp[i] = j;
        st->stem++;
    }
    /* stage 3: a remaining ref STEM t matches the hyp STEM h if t is a lemma name of one of NLTK's
     * synsets(h) (t == h was stage 2). Instead of listing every name of every synset of h (what
     * NLTK does), intersect synsets(h) with the synsets whose index entry is t, and check the
     * name's exact case only in the common ones: the same answer, without parsing most data lines. */
    if (wn && !ALL_MATCHED()) {
        int any = 0;
        for (int j = 0; j < R; j++) {
            w->nt[j] = 0;
            if (w->ref_used[j]) continue;
            int sid = w->ref_stem[j];
            if (memchr(v->stem_str[sid], '_', (size_t)v->stem_len[sid])) continue; /* NLTK drops names with '_' */
            if (mt_vocab_keys(wn, v, sid, 1, &w->tk[j], &w->nt[j], &w->tbits[j])) return -1;
            any |= w->nt[j] > 0;
        }
        /* the ref positions stage 3 can still use, right-most first (w->next is free by now) */
        int *cand = w->next, ncand = 0;
        for (int j = R - 1; j >= 0 && any; j--)
            if (!w->ref_used[j] && w->nt[j] > 0) cand[ncand++] = j;
        for (int i = H - 1; i >= 0 && ncand > 0; i--) {
            if (w->ref_of_hyp[i] >= 0) continue;
            int best = -1, nh = 0, have_hk = 0;
            const uint64_t *hk = NULL, *hf = NULL;
            for (int q = 0; q < ncand && best < 0; q++) {
                int j = cand[q];
                if (w->ref_used[j]) continue;
                if (!have_hk) { /* morphy(h) only when some t could match */
                    if (mt_vocab_keys(wn, v, w->hyp_stem[i], 0, &hk, &nh, &hf)) return -1;
                    have_hk = 1;
                }
                if (nh == 0) break;
                const uint64_t *tf = w->tbits[j];
                if (!((hf[0] & tf[0]) | (hf[1] & tf[1]) | (hf[2] & tf[2]) | (hf[3] & tf[3])))
                    continue; /* no key in common */
                int sid = w->ref_stem[j];
                if (common_synset_named(wn, hk, nh, hf, w->tk[j], w->nt[j], v->stem_str[sid], v->stem_len[sid]))
                    best = j;
            }
            if (best < 0) continue;
            w->ref_used[best] = 1;
            w->ref_of_hyp[i] = best;
            st->synonym++;
        }
    }
#undef ALL_MATCHED
chunks:;
    /* chunks: matches in hyp order; a new chunk unless both sides advance by one */
    int prev_h = -2, prev_r = -2;
    for (int i = 0; i < H; i++) {
        int j = w->ref_of_hyp[i];
        if (j < 0) continue;
        st->matches++;
        if (!(i == prev_h + 1 && j == prev_r + 1)) st->chunks++;
        prev_h = i;
        prev_r = j;
    }
    st->score = meteor_nltk_score(st);
    return 0;
}

/* Everything one thread needs, kept across segments so that scoring a corpus does not allocate
 * per segment: the vocabulary (taken from the WordNet handle's pool and given back, so that it
 * also outlives the call), the tokenizer's buffers, both sides, the alignment scratch. */
typedef struct {
    MtVocab *v;
    MtTreebank tb;
    Side h, r;
    Scratch w;
} Work;

static Work work_new(const WordNet *wn) { return (Work){.v = mt_pool_take(mt_wn_pool(wn))}; }

static void work_free(const WordNet *wn, Work *k) {
    mt_pool_give(mt_wn_pool(wn), k->v);
    mt_treebank_free(&k->tb);
    mt_tokens_free(&k->h.tok); free(k->h.tid); free(k->h.hash); free(k->h.head8);
    mt_tokens_free(&k->r.tok); free(k->r.tid); free(k->r.hash); free(k->r.head8);
    Scratch *w = &k->w;
    free(w->ref_of_hyp); free(w->hyp_stem); free(w->ref_used); free(w->ref_stem); free(w->next);
    free(w->tk); free(w->tbits); free(w->nt); free(w->slot);
    memset(k, 0, sizeof *k);
}

static int work_reserve(Scratch *w, int H, int R) {
    if (H + 1 > w->cap_h) {
        size_t nc = (size_t)(H + 1 > 2 * w->cap_h ? H + 1 : 2 * w->cap_h);
        if (mt_resize(&w->ref_of_hyp, sizeof(int), nc) || mt_resize(&w->hyp_stem, sizeof(int), nc)) return -1;
        w->cap_h = (int)nc;
    }
    if (R + 1 > w->cap_r) {
        size_t nc = (size_t)(R + 1 > 2 * w->cap_r ? R + 1 : 2 * w->cap_r);
        if (mt_resize(&w->ref_used, sizeof(int), nc) || mt_resize(&w->ref_stem, sizeof(int), nc) ||
            mt_resize(&w->next, sizeof(int), nc) || mt_resize(&w->nt, sizeof(int), nc) ||
            mt_resize(&w->tk, sizeof(uint64_t *), nc) || mt_resize(&w->tbits, sizeof(uint64_t *), nc))
            return -1;
        w->cap_r = (int)nc;
    }
    int ns = 64;
    w->shift = 58;
    while (ns < 4 * R) ns *= 2, w->shift--;
    if (ns > w->nslot) {
        if (mt_resize(&w->slot, sizeof *w->slot, (size_t)ns)) return -1;
        memset(w->slot + w->nslot, 0, sizeof *w->slot * (size_t)(ns - w->nslot)); /* pair 0: free */
        w->nslot = ns;
    }
    w->nuse = ns;
    return 0;
}

static int sentence(const WordNet *wn, Work *k, const char *hyp, const char *const *refs, int nrefs,
                    MeteorTokenize tok, MeteorStats *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (nrefs < 1) { snprintf(err, QB_ERRLEN, "meteor: no reference given"); return -1; }
    if (!k->v) { snprintf(err, QB_ERRLEN, "meteor: out of memory"); return -1; }
    if (side_build(&k->h, hyp, tok, &k->tb, "hypothesis", err)) return -1;
    for (int r = 0; r < nrefs; r++) {
        char what[32] = "reference ", digits[12];
        int nd = 0; /* "reference <r+1>", without snprintf's cost on every segment */
        for (int v = r + 1; v; v /= 10) digits[nd++] = (char)('0' + v % 10);
        for (int q = 0; q < nd; q++) what[10 + q] = digits[nd - 1 - q];
        what[10 + nd] = 0;
        if (side_build(&k->r, refs[r] ? refs[r] : "", tok, &k->tb, what, err)) return -1;
        MeteorStats st;
        if (work_reserve(&k->w, k->h.tok.n, k->r.tok.n) || align(wn, k->v, &k->h, &k->r, &k->w, &st)) {
            snprintf(err, QB_ERRLEN, "meteor: out of memory");
            return -1;
        }
        st.ref_index = r;
        if (r == 0 || st.score > out->score) *out = st;
    }
    return 0;
}

int meteor_nltk_corpus(const WordNet *wn, const char *const *hyps, size_t nseg, const char *const *refs,
                       int nrefs, MeteorTokenize tok, MeteorCorpus *out, double *sent, char err[QB_ERRLEN]) {
    out->sum = 0;
    out->n = 0;
    if (nrefs < 1) { snprintf(err, QB_ERRLEN, "meteor: no reference given"); return -1; }
    double *sc = malloc(sizeof(double) * (nseg + 1));
    if (!sc) { snprintf(err, QB_ERRLEN, "meteor: out of memory"); return -1; }
    long first_bad = -1;
    char bad_err[QB_ERRLEN] = "";
#pragma omp parallel if (nseg > 16) /* (a few segments are not worth waking threads for) */
    {
        Work work = work_new(wn); /* one per thread */
#pragma omp for schedule(dynamic, 16)
        for (long i = 0; i < (long)nseg; i++) {
            const char *r[64], **rr = r;
            if (nrefs > 64) rr = malloc(sizeof(char *) * (size_t)nrefs);
            MeteorStats st;
            char e[QB_ERRLEN];
            int rc = -1;
            if (rr) {
                for (int k = 0; k < nrefs; k++) rr[k] = refs[(size_t)k * nseg + (size_t)i];
                rc = sentence(wn, &work, hyps[i], rr, nrefs, tok, &st, e);
            } else snprintf(e, sizeof e, "out of memory");
            if (rr != r) free(rr);
            sc[i] = rc ? 0.0 : st.score;
            if (rc) {
#pragma omp critical(meteor_corpus_err)
                if (first_bad < 0 || i < first_bad) { first_bad = i; snprintf(bad_err, sizeof bad_err, "%s", e); }
            }
        }
        work_free(wn, &work);
    }
    if (first_bad >= 0) {
        snprintf(err, QB_ERRLEN, "segment %ld: %.400s", first_bad + 1, bad_err);
        free(sc);
        return -1;
    }
    for (size_t i = 0; i < nseg; i++) out->sum += sc[i]; /* left to right, like Python's sum() */
    out->n = (long)nseg;
    if (sent) memcpy(sent, sc, sizeof(double) * nseg);
    free(sc);
    return 0;
}

int meteor_nltk_sentence(const WordNet *wn, const char *hyp, const char *const *refs, int nrefs,
                         MeteorTokenize tok, MeteorStats *out, char err[QB_ERRLEN]) {
    Work work = work_new(wn);
    int rc = sentence(wn, &work, hyp, refs, nrefs, tok, out, err);
    work_free(wn, &work);
    return rc;
}

void meteor_nltk_signature(MeteorTokenize tok, int nrefs, char *out, size_t cap) {
    snprintf(out, cap,
             "nrefs:%d|tok:%s|case:lc|stem:porter-nltk|syn:wordnet-3.0|alpha:0.9|beta:3.0|gamma:0.5|"
             "avg:mean|version:nltk-3.8",
             nrefs, tok == METEOR_TOK_TREEBANK ? "treebank" : "whitespace");
}

/* meteor.c — METEOR exactly as NLTK 3.8's nltk.translate.meteor_score computes it (metrics.md §2).
 *
 * Per reference: lowercase the tokens; stage 1 matches equal tokens, stage 2 equal Porter stems of
 * what is left, stage 3 a remaining hyp stem's WordNet synonyms against the remaining ref stems.
 * Each stage walks the hypothesis from the right and gives each word the right-most free equal
 * reference word. NLTK does this with nested loops (O(H·R)); here each stage keeps, per distinct
 * string, a stack of the free reference positions (largest on top), which picks the same word in
 * O(H + R) — so very long lines stay cheap. Stems are computed only for what stage 1 leaves, as in
 * NLTK; stage 3 intersects synset lists instead of listing every lemma name (same answer, see
 * align). meteor_nltk_corpus keeps a per-thread memo of stems and synsets (meteor_cache.c). Then
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

/* One side of a pair: its lowercased tokens and, computed only for the tokens that stage 1 leaves
 * unmatched (as NLTK does), their Porter stems. */
typedef struct {
    MtTokens tok;  /* lowercased tokens */
    MtTokens stem; /* stems, in the order they were computed */
    int *sidx;     /* token -> index in stem, or -1 if not stemmed yet */
    int *tid;      /* token -> its id in the corpus memo, or -1 */
    int scap;
} Side;

static void side_free(Side *s) {
    mt_tokens_free(&s->tok);
    mt_tokens_free(&s->stem);
    free(s->sidx);
    free(s->tid);
    memset(s, 0, sizeof *s);
}

static int side_build(Side *s, const char *line, MeteorTokenize tok, MtTreebank *tb, const char *what,
                      char err[QB_ERRLEN]) {
    int rc = tok == METEOR_TOK_TREEBANK ? mt_treebank_tokenize_lower(tb, line, strlen(line), &s->tok, what, err)
                                        : mt_tokenize_lower(line, &s->tok, what, err);
    if (rc != 0) return -1;
    s->stem.n = 0;
    s->stem.used = 0;
    if (s->tok.n + 1 > s->scap) {
        int nc = s->tok.n + 1 > 2 * s->scap ? s->tok.n + 1 : 2 * s->scap;
        int *x = realloc(s->sidx, sizeof(int) * (size_t)nc);
        if (x) s->sidx = x;
        int *y = realloc(s->tid, sizeof(int) * (size_t)nc);
        if (y) s->tid = y;
        if (!x || !y) { snprintf(err, QB_ERRLEN, "%s: out of memory", what); return -1; }
        s->scap = nc;
    }
    for (int i = 0; i < s->tok.n; i++) s->sidx[i] = -1;
    return 0;
}

/* stems token i (once); -1 when out of memory */
static int side_stem(Side *s, int i, MtCache *c) {
    if (s->sidx[i] >= 0) return 0;
    char small[512];
    size_t len = (size_t)s->tok.len[i], cap = 8 * len + 8;
    char *out = cap <= sizeof small ? small : malloc(cap);
    int rc = -1;
    if (out && mt_stem_cached(c, s->tok.buf + s->tok.off[i], len, out, cap, &s->tid[i]) == 0 &&
        mt_tokens_push(&s->stem, out, strlen(out)) == 0) {
        s->sidx[i] = s->stem.n - 1;
        rc = 0;
    }
    if (out != small) free(out);
    return rc;
}

#define SSTR(s, i) ((s)->stem.buf + (s)->stem.off[(s)->sidx[i]])
#define SLEN(s, i) ((s)->stem.len[(s)->sidx[i]])

#define TOK(t, i) ((t)->buf + (t)->off[i])

/* Scratch for one (hyp, ref) alignment. */
typedef struct {
    int *ref_of_hyp;   /* hyp position -> matched ref position or -1 */
    int *ref_used;     /* ref position matched? */
    int *head, *next;  /* per string id: top free ref position; ref position -> next one below */
    MtIntern ids;
    uint64_t *ktmp[2]; /* synset keys when there is no cache (hyp side, ref side) */
    const uint64_t **tk; /* ref position -> its stem's index synsets (stage 3) */
    int *nt;
    uint64_t **tk_own;   /* ... owned copies when there is no cache */
    uint64_t filter[4]; /* 256-bit filter of the hashes of the strings in ids */
} Scratch;

/* Builds the per-string stacks of the free reference positions, keyed by their tokens (stage 1)
 * or stems (stage 2). */
static int build_stacks(Scratch *w, const Side *r, int stage, int R) {
    mt_intern_clear(&w->ids);
    memset(w->filter, 0, sizeof w->filter);
    for (int j = 0; j < R; j++) {
        if (w->ref_used[j]) continue;
        int before = w->ids.n;
        const char *t = stage ? SSTR(r, j) : TOK(&r->tok, j);
        int tl = stage ? SLEN(r, j) : r->tok.len[j];
        uint64_t hs = mt_hash(t, (size_t)tl);
        w->filter[(hs >> 56) & 3] |= 1ULL << ((hs >> 58) & 63);
        int id = mt_intern_hashed(&w->ids, t, tl, hs, 1);
        if (id < 0 || id >= R) return -1; /* (at most R distinct strings) */
        if (w->ids.n > before) w->head[id] = -1; /* a new string: empty stack */
        w->next[j] = w->head[id];
        w->head[id] = j;
    }
    return 0;
}

/* top of the stack for string s (the right-most free ref position holding it), or -1; *id gets
 * the string's id. The filter skips most strings that no reference word has. */
static int stack_top(Scratch *w, const char *s, int len, uint64_t hs, int *id) {
    if (!(w->filter[(hs >> 56) & 3] & (1ULL << ((hs >> 58) & 63)))) return -1;
    *id = mt_intern_hashed(&w->ids, s, len, hs, 0);
    return *id < 0 ? -1 : w->head[*id];
}

static void stack_pop(Scratch *w, int id) { /* (stage 3 marks ref_used itself) */
    int j = w->head[id];
    w->head[id] = w->next[j];
    w->ref_used[j] = 1;
}

/* A 1024-bit filter of a synset key list: most ref synsets are answered "not in hk" from it. */
typedef struct { uint64_t w[16]; } KeyBits;
static unsigned key_bit(uint64_t k) { return (unsigned)((k * 0x9E3779B97F4A7C15ULL) >> 54); }
static void keybits_build(KeyBits *f, const uint64_t *k, int n) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < n; i++) { unsigned b = key_bit(k[i]); f->w[b >> 6] |= 1ULL << (b & 63); }
}

/* Is there a synset in hk (sorted, with its filter) and in tk whose lemma names include t exactly? */
static int common_synset_named(const WordNet *wn, const uint64_t *hk, int nh, const KeyBits *hf,
                               const uint64_t *tk, int nt, const char *t, int tl) {
    if (nh == 0 || nt == 0 || hk[0] > tk[nt - 1] || tk[0] > hk[nh - 1]) return 0;
    for (int k = 0; k < nt; k++) {
        unsigned b = key_bit(tk[k]);
        if (!(hf->w[b >> 6] >> (b & 63) & 1)) continue;
        int lo = 0, hi = nh;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (hk[mid] < tk[k]) lo = mid + 1; else hi = mid;
        }
        if (lo < nh && hk[lo] == tk[k] && mt_wn_synset_has_name(wn, tk[k], t, tl)) return 1;
    }
    return 0;
}

static int align(const WordNet *wn, MtCache *c, Side *h, Side *r, Scratch *w, MeteorStats *st) {
    int H = h->tok.n, R = r->tok.n;
    memset(st, 0, sizeof *st);
    st->hyp_len = H;
    st->ref_len = R;
    for (int i = 0; i < H; i++) w->ref_of_hyp[i] = -1;
    for (int j = 0; j < R; j++) w->ref_used[j] = 0;
    if (H == 0 || R == 0) return 0;
    /* stage 1: exact (lowercased) tokens; stage 2: Porter stems of what is left */
    /* A later stage can match only while both sides have a free word; when one side is used up,
     * its stems and synsets would change nothing, so they are not computed. */
#define ALL_MATCHED() (st->exact + st->stem + st->synonym == (H < R ? H : R))
    for (int stage = 0; stage < 2; stage++) {
        if (ALL_MATCHED()) goto chunks;
        if (stage == 1) { /* stem what stage 1 left (before any pointer into the stems is taken) */
            for (int i = 0; i < H; i++) if (w->ref_of_hyp[i] < 0 && side_stem(h, i, c)) return -1;
            for (int j = 0; j < R; j++) if (!w->ref_used[j] && side_stem(r, j, c)) return -1;
        }
        if (build_stacks(w, r, stage, R)) return -1;
        for (int i = H - 1; i >= 0; i--) {
            if (w->ref_of_hyp[i] >= 0) continue;
            const char *hs = stage ? SSTR(h, i) : TOK(&h->tok, i);
            int hl = stage ? SLEN(h, i) : h->tok.len[i];
            int id, j = stack_top(w, hs, hl, mt_hash(hs, (size_t)hl), &id);
            if (j < 0) continue;
            stack_pop(w, id);
            w->ref_of_hyp[i] = j;
            if (stage) st->stem++; else st->exact++;
        }
    }
    /* stage 3: a remaining ref STEM t matches the hyp STEM h if t == h or t is a lemma name of one
     * of NLTK's synsets(h). Instead of listing every name of every synset of h (what NLTK does),
     * intersect synsets(h) with the synsets whose index entry is t, and check the name's exact
     * case only in the common ones: the same answer, without parsing most data lines. */
    if (wn && !ALL_MATCHED()) {
        /* the index synsets of each remaining ref stem, looked up once per pair */
        int any = 0;
        for (int j = 0; j < R; j++) {
            w->nt[j] = 0;
            w->tk[j] = NULL;
            if (w->ref_used[j]) continue;
            const char *t = SSTR(r, j);
            int tl = SLEN(r, j);
            if (memchr(t, '_', (size_t)tl)) continue; /* NLTK drops names with '_' */
            const uint64_t *tk;
            int nt;
            uint64_t *own = NULL;
            if (mt_keys_cached(wn, c, 1, t, tl, r->tid[j], &own, &tk, &nt)) { free(own); return -1; }
            if (own && tk == own) { /* not in a cache: keep this ref's keys until the pair is done */
                w->tk_own[j] = own;
                own = NULL;
            }
            free(own);
            w->tk[j] = tk;
            w->nt[j] = nt;
            any |= nt > 0;
        }
        /* the ref positions stage 3 can still use, right-most first (w->next is free by now) */
        int *cand = w->next, ncand = 0;
        for (int j = R - 1; j >= 0 && any; j--)
            if (!w->ref_used[j] && w->nt[j] > 0) cand[ncand++] = j;
        for (int i = H - 1; i >= 0 && ncand > 0; i--) {
            if (w->ref_of_hyp[i] >= 0) continue;
            const char *s = SSTR(h, i);
            int sl = SLEN(h, i), best = -1, nh = 0;
            const uint64_t *hk = NULL;
            KeyBits hf;
            int have_hk = 0;
            /* (t == h cannot happen here: stage 2 matched every equal stem) */
            for (int q = 0; q < ncand && best < 0; q++) {
                int j = cand[q];
                if (w->ref_used[j]) continue;
                if (!have_hk) { /* morphy(h) only when some t could match */
                    if (mt_keys_cached(wn, c, 0, s, sl, h->tid[i], &w->ktmp[0], &hk, &nh)) return -1;
                    keybits_build(&hf, hk, nh);
                    have_hk = 1;
                }
                if (nh == 0) break;
                if (common_synset_named(wn, hk, nh, &hf, w->tk[j], w->nt[j], SSTR(r, j), SLEN(r, j))) best = j;
            }
            if (best < 0) continue;
            w->ref_used[best] = 1;
            w->ref_of_hyp[i] = best;
            st->synonym++;
        }
        for (int j = 0; j < R; j++) { free(w->tk_own[j]); w->tk_own[j] = NULL; }
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
 * per segment: the memo (corpus scoring only), both token lists, the alignment scratch. */
typedef struct {
    MtCache cache;
    int use_cache;
    Side h, r;
    MtTreebank tb;
    Scratch w;
    int cap_h, cap_r;
} Work;

static void work_free(Work *k) {
    mt_cache_free(&k->cache);
    side_free(&k->h);
    side_free(&k->r);
    mt_treebank_free(&k->tb);
    Scratch *w = &k->w;
    for (int j = 0; w->tk_own && j < k->cap_r; j++) free(w->tk_own[j]); /* (left over after an error) */
    free(w->ref_of_hyp); free(w->ref_used); free(w->head); free(w->next);
    free(w->tk); free(w->nt); free(w->tk_own);
    mt_intern_free(&w->ids);
    free(w->ktmp[0]);
    free(w->ktmp[1]);
    memset(k, 0, sizeof *k);
}

static int work_reserve(Work *k, int H, int R) {
    Scratch *w = &k->w;
    if (H + 1 > k->cap_h) {
        int nc = H + 1 > 2 * k->cap_h ? H + 1 : 2 * k->cap_h;
        int *x = realloc(w->ref_of_hyp, sizeof(int) * (size_t)nc);
        if (!x) return -1;
        w->ref_of_hyp = x;
        k->cap_h = nc;
    }
    if (R + 1 > k->cap_r) {
        int nc = R + 1 > 2 * k->cap_r ? R + 1 : 2 * k->cap_r;
        int *a = realloc(w->ref_used, sizeof(int) * (size_t)nc);
        if (a) w->ref_used = a;
        int *b = realloc(w->head, sizeof(int) * (size_t)nc);
        if (b) w->head = b;
        int *c = realloc(w->next, sizeof(int) * (size_t)nc);
        if (c) w->next = c;
        const uint64_t **d = realloc(w->tk, sizeof *d * (size_t)nc);
        if (d) w->tk = d;
        int *e = realloc(w->nt, sizeof(int) * (size_t)nc);
        if (e) w->nt = e;
        uint64_t **f = realloc(w->tk_own, sizeof *f * (size_t)nc);
        if (f) w->tk_own = f;
        if (!a || !b || !c || !d || !e || !f) return -1;
        memset(w->tk_own, 0, sizeof *f * (size_t)nc);
        k->cap_r = nc;
    }
    return 0;
}

static int sentence(const WordNet *wn, Work *k, const char *hyp, const char *const *refs, int nrefs,
                    MeteorTokenize tok, MeteorStats *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (nrefs < 1) { snprintf(err, QB_ERRLEN, "meteor: no reference given"); return -1; }
    MtCache *c = k->use_cache ? &k->cache : NULL;
    if (side_build(&k->h, hyp, tok, &k->tb, "hypothesis", err)) return -1;
    for (int r = 0; r < nrefs; r++) {
        char what[32] = "reference ", digits[12];
        int nd = 0; /* "reference <r+1>", without snprintf's cost on every segment */
        for (int v = r + 1; v; v /= 10) digits[nd++] = (char)('0' + v % 10);
        for (int q = 0; q < nd; q++) what[10 + q] = digits[nd - 1 - q];
        what[10 + nd] = 0;
        if (side_build(&k->r, refs[r] ? refs[r] : "", tok, &k->tb, what, err)) return -1;
        MeteorStats st;
        if (work_reserve(k, k->h.tok.n, k->r.tok.n) || align(wn, c, &k->h, &k->r, &k->w, &st)) {
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
        Work work = {.use_cache = 1}; /* one per thread */
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
        work_free(&work);
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
    Work work = {0}; /* no memo: a single call would not reuse it */
    int rc = sentence(wn, &work, hyp, refs, nrefs, tok, out, err);
    work_free(&work);
    return rc;
}

void meteor_nltk_signature(MeteorTokenize tok, int nrefs, char *out, size_t cap) {
    snprintf(out, cap,
             "nrefs:%d|tok:%s|case:lc|stem:porter-nltk|syn:wordnet-3.0|alpha:0.9|beta:3.0|gamma:0.5|"
             "avg:mean|version:nltk-3.8",
             nrefs, tok == METEOR_TOK_TREEBANK ? "treebank" : "whitespace");
}

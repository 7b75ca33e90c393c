/* meteor.c — METEOR exactly as NLTK 3.8's nltk.translate.meteor_score computes it (metrics.md §2).
 *
 * Per reference: lowercase the tokens; stage 1 matches equal tokens, stage 2 equal Porter stems of
 * what is left, stage 3 a remaining hyp stem's WordNet synonyms against the remaining ref stems.
 * Each stage walks the hypothesis from the right and gives each word the right-most free equal
 * reference word. NLTK does this with nested loops (O(H·R)); here each stage keeps, per distinct
 * string, a stack of the free reference positions (largest on top), which picks the same word in
 * O(H + R) — so very long lines stay cheap. Then
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

typedef struct {
    MtTokens tok;  /* lowercased tokens */
    MtTokens stem; /* NLTK Porter stem of each token */
} Side;

static void side_free(Side *s) { mt_tokens_free(&s->tok); mt_tokens_free(&s->stem); }

static int side_build(Side *s, const char *line, MeteorTokenize tok, const char *what,
                      char err[QB_ERRLEN]) {
    if (mt_tokenize_lower(line, tok, &s->tok, what, err) != 0) return -1;
    char small[512];
    for (int i = 0; i < s->tok.n; i++) {
        size_t len = (size_t)s->tok.len[i], cap = 8 * len + 8;
        char *out = cap <= sizeof small ? small : malloc(cap);
        if (!out || porter_stem_utf8(s->tok.buf + s->tok.off[i], len, out, cap) != 0 ||
            mt_tokens_push(&s->stem, out, strlen(out)) != 0) {
            if (out != small) free(out);
            snprintf(err, QB_ERRLEN, "%s: out of memory while stemming", what);
            return -1;
        }
        if (out != small) free(out);
    }
    return 0;
}

#define TOK(t, i) ((t)->buf + (t)->off[i])

/* Scratch for one (hyp, ref) alignment. */
typedef struct {
    int *ref_of_hyp;   /* hyp position -> matched ref position or -1 */
    int *ref_used;     /* ref position matched? */
    int *head, *next;  /* per string id: top free ref position; ref position -> next one below */
    MtIntern ids;
    WordNetNames syn;
} Scratch;

/* Builds the per-string stacks of the free reference positions, keyed by strings of t. */
static int build_stacks(Scratch *w, const MtTokens *t, int R) {
    mt_intern_free(&w->ids);
    for (int j = 0; j < R; j++) {
        if (w->ref_used[j]) continue;
        int before = w->ids.n;
        int id = mt_intern(&w->ids, TOK(t, j), t->len[j], 1);
        if (id < 0 || id >= R) return -1; /* (at most R distinct strings) */
        if (w->ids.n > before) w->head[id] = -1; /* a new string: empty stack */
        w->next[j] = w->head[id];
        w->head[id] = j;
    }
    return 0;
}

/* top of the stack for string s (the right-most free ref position holding it), or -1 */
static int stack_top(Scratch *w, const char *s, int len) {
    int id = mt_intern(&w->ids, s, len, 0);
    return id < 0 ? -1 : w->head[id];
}

static void stack_pop(Scratch *w, const char *s, int len) {
    int id = mt_intern(&w->ids, s, len, 0);
    int j = w->head[id];
    w->head[id] = w->next[j];
    w->ref_used[j] = 1;
}

static int align(const WordNet *wn, const Side *h, const Side *r, Scratch *w, MeteorStats *st) {
    int H = h->tok.n, R = r->tok.n;
    memset(st, 0, sizeof *st);
    st->hyp_len = H;
    st->ref_len = R;
    for (int i = 0; i < H; i++) w->ref_of_hyp[i] = -1;
    for (int j = 0; j < R; j++) w->ref_used[j] = 0;
    if (H == 0 || R == 0) return 0;
    /* stage 1: exact (lowercased) tokens; stage 2: Porter stems of what is left */
    for (int stage = 0; stage < 2; stage++) {
        const MtTokens *ht = stage ? &h->stem : &h->tok, *rt = stage ? &r->stem : &r->tok;
        if (build_stacks(w, rt, R)) return -1;
        for (int i = H - 1; i >= 0; i--) {
            if (w->ref_of_hyp[i] >= 0) continue;
            int j = stack_top(w, TOK(ht, i), ht->len[i]);
            if (j < 0) continue;
            stack_pop(w, TOK(ht, i), ht->len[i]);
            w->ref_of_hyp[i] = j;
            if (stage) st->stem++; else st->exact++;
        }
    }
    /* stage 3: WordNet synonyms of the hyp STEM against the ref STEMS (the stacks of stage 2) */
    if (wn) {
        for (int i = H - 1; i >= 0; i--) {
            if (w->ref_of_hyp[i] >= 0) continue;
            const char *s = TOK(&h->stem, i);
            int sl = h->stem.len[i];
            if (wordnet_synonyms(wn, s, (size_t)sl, 0, &w->syn) != 0) return -1;
            int best = stack_top(w, s, sl), bn = -1; /* the stem itself is in the set too */
            for (int k = 0; k < w->syn.n; k++) {
                int j = stack_top(w, w->syn.name[k], w->syn.len[k]);
                if (j > best) { best = j; bn = k; }
            }
            if (best < 0) continue;
            if (bn < 0) stack_pop(w, s, sl); else stack_pop(w, w->syn.name[bn], w->syn.len[bn]);
            w->ref_of_hyp[i] = best;
            st->synonym++;
        }
    }
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

int meteor_nltk_sentence(const WordNet *wn, const char *hyp, const char *const *refs, int nrefs,
                         MeteorTokenize tok, MeteorStats *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (nrefs < 1) { snprintf(err, QB_ERRLEN, "meteor: no reference given"); return -1; }
    Side h = {0}, r = {0};
    Scratch w = {0};
    int rc = -1;
    if (side_build(&h, hyp, tok, "hypothesis", err)) goto done;
    for (int k = 0; k < nrefs; k++) {
        char what[32];
        snprintf(what, sizeof what, "reference %d", k + 1);
        mt_tokens_free(&r.tok);
        mt_tokens_free(&r.stem);
        if (side_build(&r, refs[k] ? refs[k] : "", tok, what, err)) goto done;
        int H = h.tok.n, R = r.tok.n;
        free(w.ref_of_hyp); free(w.ref_used); free(w.head); free(w.next);
        w.ref_of_hyp = malloc(sizeof(int) * (size_t)(H + 1));
        w.ref_used = malloc(sizeof(int) * (size_t)(R + 1));
        w.head = malloc(sizeof(int) * (size_t)(R + 1));
        w.next = malloc(sizeof(int) * (size_t)(R + 1));
        MeteorStats st;
        if (!w.ref_of_hyp || !w.ref_used || !w.head || !w.next || align(wn, &h, &r, &w, &st)) {
            snprintf(err, QB_ERRLEN, "meteor: out of memory");
            goto done;
        }
        st.ref_index = k;
        if (k == 0 || st.score > out->score) *out = st;
    }
    rc = 0;
done:
    side_free(&h); side_free(&r);
    free(w.ref_of_hyp); free(w.ref_used); free(w.head); free(w.next);
    mt_intern_free(&w.ids);
    wordnet_names_free(&w.syn);
    return rc;
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
#pragma omp parallel for schedule(dynamic, 16)
    for (long i = 0; i < (long)nseg; i++) {
        const char *r[64], **rr = r;
        if (nrefs > 64) rr = malloc(sizeof(char *) * (size_t)nrefs);
        MeteorStats st;
        char e[QB_ERRLEN];
        int rc = -1;
        if (rr) {
            for (int k = 0; k < nrefs; k++) rr[k] = refs[(size_t)k * nseg + (size_t)i];
            rc = meteor_nltk_sentence(wn, hyps[i], rr, nrefs, tok, &st, e);
        } else snprintf(e, sizeof e, "out of memory");
        if (rr != r) free(rr);
        sc[i] = rc ? 0.0 : st.score;
        if (rc) {
#pragma omp critical(meteor_corpus_err)
            if (first_bad < 0 || i < first_bad) { first_bad = i; snprintf(bad_err, sizeof bad_err, "%s", e); }
        }
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

void meteor_nltk_signature(MeteorTokenize tok, int nrefs, char *out, size_t cap) {
    snprintf(out, cap,
             "nrefs:%d|tok:%s|case:lc|stem:porter-nltk|syn:wordnet-3.0|alpha:0.9|beta:3.0|gamma:0.5|"
             "avg:mean|version:nltk-3.8",
             nrefs, tok == METEOR_TOK_TREEBANK ? "treebank" : "whitespace");
}

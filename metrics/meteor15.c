/* meteor15.c — Meteor 1.5 (Denkowski & Lavie 2014), following its Java source (Aligner.java,
 * MeteorScorer.java): candidate matches from every module first (exact; Snowball stems of
 * different words; shared synonym classes of different words; paraphrase phrases), matches that
 * are the only candidate for both of their words fixed, the rest resolved by a beam search over
 * the reference positions left to right, then
 *   P = Σ_module w_m·(δ·content_m + (1−δ)·function_m) / (δ·content_len + (1−δ)·function_len)
 *   (R likewise on the reference side), Fmean = 1 / ((1−α)/P + α/R),
 *   frag = chunks / ((test_matches + ref_matches)/2), 0 when everything matches in one chunk,
 *   score = max(0, Fmean·(1 − γ·frag^β)), NaN -> 0.
 * Faithful details that change numbers: the beam ranks paths with Meteor's evaluation weights
 * 1, 0.5, 0.5, 0.5 added into *int* counters (Java's `int += double` truncates, so only exact
 * matches — and paraphrases of >= 2 words — raise a path's rank); ties go to fewer chunks, then
 * smaller summed |ref − hyp| distance (which Meteor adds to the path it branches from); Java's
 * stable sort keeps insertion order on ties. Identical sentences use the exact module only. */
#include <libstemmer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"
#include "metrics/meteor15.h"

Meteor15Params meteor15_default_params(void) {
    Meteor15Params p = {.alpha = 0.85, .beta = 0.20, .gamma = 0.60, .delta = 0.75,
                        .weights = {1.0, 0.6, 0.8, 0.6}, .beam = 40, .normalize = 1};
    return p;
}

Meteor15 *meteor15_open(const char *resources, const char *paraphrase, const Meteor15Params *p,
                        char err[QB_ERRLEN]) {
    Meteor15 *m = calloc(1, sizeof *m);
    if (!m) { snprintf(err, QB_ERRLEN, "meteor15: out of memory"); return NULL; }
    m->p = p ? *p : meteor15_default_params();
    if (m->p.beam < 1) { snprintf(err, QB_ERRLEN, "meteor15: beam size %d must be >= 1", m->p.beam); free(m); return NULL; }
    if (m15_load(m, resources, paraphrase, err)) { meteor15_free(m); return NULL; }
    return m;
}

void meteor15_free(Meteor15 *m) {
    if (!m) return;
    m15_unload(m);
    free(m);
}

/* ---- candidate matches ------------------------------------------------------------------------ */
/* start/len on the reference ("line 2"), mstart/mlen on the hypothesis ("line 1") */
typedef struct { int module, start, len, mstart, mlen; } Match;

typedef struct {
    Match *m;
    int n, cap;
    int *first, *count;  /* candidates of ref start j: m[first[j] .. first[j]+count[j]) */
    int *cov1, *cov2;    /* candidates covering each hyp / ref word */
} Stage;

static int add_match(Stage *s, int module, int j, int len, int i, int mlen) {
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 64;
        Match *x = realloc(s->m, sizeof *x * (size_t)nc);
        if (!x) return -1;
        s->m = x;
        s->cap = nc;
    }
    s->m[s->n++] = (Match){module, j, len, i, mlen};
    return 0;
}

#define W(t, i) ((t)->buf + (t)->off[i])
static int same(const MtTokens *a, int i, const MtTokens *b, int j) {
    return a->len[i] == b->len[j] && memcmp(W(a, i), W(b, j), (size_t)a->len[i]) == 0;
}

static int intersects(const int *a, int na, const int *b, int nb) {
    int i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) return 1;
        if (a[i] < b[j]) i++; else j++;
    }
    return 0;
}

/* words of t[i .. i+n) joined by spaces into out */
static int join(const MtTokens *t, int i, int n, char *out) {
    int k = 0;
    for (int w = i; w < i + n; w++) {
        if (w > i) out[k++] = ' ';
        memcpy(out + k, W(t, w), (size_t)t->len[w]);
        k += t->len[w];
    }
    return k;
}

/* All candidates, module by module; within a module ref-major, hyp-minor (as Meteor's loops). */
static int collect(const Meteor15 *m, const MtTokens *h, const MtTokens *r, int modules, Stage *s) {
    int H = h->n, R = r->n, rc = -1;
    char **stem1 = NULL, **stem2 = NULL;
    int **syn1 = NULL, **syn2 = NULL, *nsyn1 = NULL, *nsyn2 = NULL;
    char *pa = NULL, *pb = NULL;
    struct sb_stemmer *st = NULL;
    if (modules > 0) /* exact */
        for (int j = 0; j < R; j++)
            for (int i = 0; i < H; i++)
                if (same(h, i, r, j) && add_match(s, METEOR15_EXACT, j, 1, i, 1)) goto done;
    if (modules > 1) { /* stem: Snowball English, different words only */
        st = sb_stemmer_new("english", NULL);
        stem1 = calloc((size_t)H + 1, sizeof(char *));
        stem2 = calloc((size_t)R + 1, sizeof(char *));
        if (!st || !stem1 || !stem2) goto done;
        for (int k = 0; k < H + R; k++) {
            const MtTokens *t = k < H ? h : r;
            int w = k < H ? k : k - H;
            const sb_symbol *o = sb_stemmer_stem(st, (const sb_symbol *)W(t, w), t->len[w]);
            char *c = o ? strndup((const char *)o, (size_t)sb_stemmer_length(st)) : NULL;
            if (!c) goto done;
            if (k < H) stem1[w] = c; else stem2[w] = c;
        }
        for (int j = 0; j < R; j++)
            for (int i = 0; i < H; i++)
                if (strcmp(stem1[i], stem2[j]) == 0 && !same(h, i, r, j) &&
                    add_match(s, METEOR15_STEM, j, 1, i, 1))
                    goto done;
    }
    if (modules > 2) { /* synonym: shared synonym class, different words only (stems not excluded) */
        syn1 = calloc((size_t)H + 1, sizeof(int *));
        syn2 = calloc((size_t)R + 1, sizeof(int *));
        nsyn1 = calloc((size_t)H + 1, sizeof(int));
        nsyn2 = calloc((size_t)R + 1, sizeof(int));
        if (!syn1 || !syn2 || !nsyn1 || !nsyn2) goto done;
        for (int i = 0; i < H; i++) if (m15_synsets(m, W(h, i), h->len[i], &syn1[i], &nsyn1[i])) goto done;
        for (int j = 0; j < R; j++) if (m15_synsets(m, W(r, j), r->len[j], &syn2[j], &nsyn2[j])) goto done;
        for (int j = 0; j < R; j++)
            for (int i = 0; i < H; i++)
                if (intersects(syn1[i], nsyn1[i], syn2[j], nsyn2[j]) && !same(h, i, r, j) &&
                    add_match(s, METEOR15_SYNONYM, j, 1, i, 1))
                    goto done;
    }
    if (modules > 3 && m->para_maxlen > 0) { /* paraphrase: table phrase pairs, not identical */
        size_t hb = h->used + 16, rb = r->used + 16;
        pa = malloc(hb);
        pb = malloc(rb);
        if (!pa || !pb) goto done;
        int L = m->para_maxlen;
        for (int j = 0; j < R; j++)
            for (int lr = 1; lr <= L && j + lr <= R; lr++) {
                int nb = join(r, j, lr, pb);
                for (int i = 0; i < H; i++)
                    for (int lh = 1; lh <= L && i + lh <= H; lh++) {
                        int na = join(h, i, lh, pa);
                        if ((na != nb || memcmp(pa, pb, (size_t)na) != 0) && m15_is_paraphrase(m, pa, na, pb, nb) &&
                            add_match(s, METEOR15_PARAPHRASE, j, lr, i, lh))
                            goto done;
                    }
            }
    }
    /* group by ref start, keeping the order above (a stable counting sort) */
    s->first = calloc((size_t)R + 1, sizeof(int));
    s->count = calloc((size_t)R + 1, sizeof(int));
    s->cov1 = calloc((size_t)H + 1, sizeof(int));
    s->cov2 = calloc((size_t)R + 1, sizeof(int));
    Match *sorted = malloc(sizeof(Match) * (size_t)(s->n + 1));
    if (!s->first || !s->count || !s->cov1 || !s->cov2 || !sorted) { free(sorted); goto done; }
    for (int k = 0; k < s->n; k++) {
        Match *x = &s->m[k];
        s->count[x->start]++;
        for (int d = 0; d < x->len; d++) s->cov2[x->start + d]++;
        for (int d = 0; d < x->mlen; d++) s->cov1[x->mstart + d]++;
    }
    for (int j = 1; j < R; j++) s->first[j] = s->first[j - 1] + s->count[j - 1];
    int *fill = calloc((size_t)R + 1, sizeof(int));
    if (!fill) { free(sorted); goto done; }
    for (int k = 0; k < s->n; k++) {
        int j = s->m[k].start;
        sorted[s->first[j] + fill[j]++] = s->m[k];
    }
    free(fill);
    free(s->m);
    s->m = sorted;
    rc = 0;
done:
    if (st) sb_stemmer_delete(st);
    for (int i = 0; stem1 && i < H; i++) free(stem1[i]);
    for (int j = 0; stem2 && j < R; j++) free(stem2[j]);
    for (int i = 0; syn1 && i < H; i++) free(syn1[i]);
    for (int j = 0; syn2 && j < R; j++) free(syn2[j]);
    free(stem1); free(stem2); free(syn1); free(syn2); free(nsyn1); free(nsyn2); free(pa); free(pb);
    return rc;
}

/* ---- beam search (Aligner.resolve) ------------------------------------------------------------- */
typedef struct {
    int *match;              /* ref start -> candidate index or -1 */
    unsigned char *u1, *u2;  /* hyp / ref words in use */
    int m1, m2, chunks, idx, last_end, distance;
} Path;

static Path *path_new(int H, int R) {
    Path *p = calloc(1, sizeof *p + sizeof(int) * (size_t)(R + 1) + (size_t)H + (size_t)R + 2);
    if (!p) return NULL;
    p->match = (int *)(p + 1);
    p->u1 = (unsigned char *)(p->match + R + 1);
    p->u2 = p->u1 + H + 1;
    for (int j = 0; j < R; j++) p->match[j] = -1;
    p->last_end = -1;
    return p;
}

static Path *path_copy(const Path *q, int H, int R) {
    size_t sz = sizeof *q + sizeof(int) * (size_t)(R + 1) + (size_t)H + (size_t)R + 2;
    Path *p = malloc(sz);
    if (!p) return NULL;
    memcpy(p, q, sz);
    p->match = (int *)(p + 1);
    p->u1 = (unsigned char *)(p->match + R + 1);
    p->u2 = p->u1 + H + 1;
    return p;
}

/* A path of the next beam step, kept lazily: a branch is (parent, candidate) plus the scalars it
 * would have, and is copied into a Path of its own only when it survives the beam cut. Branching
 * every path on every candidate of a word copied O(words) bytes per branch, cubic in the segment
 * length on repetitive text; now the work per step is O(beam x candidates) small records plus
 * `beam` copies. Ranking and order are those of the eager version. */
typedef struct {
    Path *p;   /* the path itself (mi < 0), or the parent a branch copies */
    int mi;    /* candidate taken by the branch, -1 for a path */
    int m1, m2, chunks, idx, last_end, distance;
} Entry;

/* PARTIAL_COMPARE_TOTAL: more (truncated) weighted matches, then fewer chunks, then less distance */
static int entry_cmp(const Entry *x, const Entry *y) {
    int md = (y->m1 + y->m2) - (x->m1 + x->m2);
    if (md > 0) return 1;
    if (md < 0) return -1;
    if (x->chunks != y->chunks) return x->chunks - y->chunks;
    return x->distance - y->distance;
}

/* Meteor's search-time weights: "best weights for evaluation" */
static const double BEAM_W[METEOR15_MODULES] = {1.0, 0.5, 0.5, 0.5};

static void take(Entry *e, const Match *m) {
    double w = BEAM_W[m->module];
    e->m1 = (int)(e->m1 + m->mlen * w); /* Java: int += double */
    e->m2 = (int)(e->m2 + m->len * w);
    if (e->last_end != -1 && m->mstart != e->last_end) e->chunks++;
    e->idx = m->start + m->len;
    e->last_end = m->mstart + m->mlen;
}

static Entry entry_of(Path *p) {
    return (Entry){p, -1, p->m1, p->m2, p->chunks, p->idx, p->last_end, p->distance};
}
static void entry_store(Path *p, const Entry *e) {
    p->m1 = e->m1; p->m2 = e->m2; p->chunks = e->chunks;
    p->idx = e->idx; p->last_end = e->last_end; p->distance = e->distance;
}

typedef struct { Entry *a; int n, cap; } EntryList;
static int elist_add(EntryList *l, Entry e) {
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        Entry *x = realloc(l->a, sizeof *x * (size_t)nc);
        if (!x) return -1;
        l->a = x;
        l->cap = nc;
    }
    l->a[l->n++] = e;
    return 0;
}

/* The first `keep` entries of l in stable-sorted order (Java's Collections.sort is stable), by
 * insertion into a sorted window: ties stay in list order. Returns how many went into top. */
static int select_top(const EntryList *l, int keep, int *top) {
    int k = 0;
    for (int i = 0; i < l->n; i++) {
        const Entry *e = &l->a[i];
        if (k == keep && entry_cmp(e, &l->a[top[k - 1]]) >= 0) continue;
        int lo = 0, hi = k; /* first position whose entry ranks strictly after e */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (entry_cmp(&l->a[top[mid]], e) <= 0) lo = mid + 1; else hi = mid;
        }
        if (k < keep) k++;
        memmove(top + lo + 1, top + lo, sizeof *top * (size_t)(k - 1 - lo));
        top[lo] = i;
    }
    return k;
}

/* Frees the paths an entry list owns (branches own nothing). */
static void elist_free_paths(EntryList *l) {
    for (int k = 0; k < l->n; k++)
        if (l->a[k].mi < 0) free(l->a[k].p);
    l->n = 0;
}

static Path *resolve(const Stage *s, Path *start, int H, int R, int beam) {
    EntryList cur = {0}, next = {0};
    Path **kept = malloc(sizeof *kept * (size_t)beam);
    int *top = malloc(sizeof *top * (size_t)beam);
    Path *best = NULL;
    if (!kept || !top || elist_add(&next, entry_of(start))) { free(start); goto fail; }
    for (int current = 0; current <= R; current++) {
        EntryList t = cur; cur = next; next = t; next.n = 0;
        int keep = select_top(&cur, beam, top);
        /* materialise the survivors, then free every path of the step that did not survive */
        int nk = 0;
        for (int r = 0; r < keep; r++) {
            Entry *e = &cur.a[top[r]];
            Path *p = e->mi < 0 ? e->p : path_copy(e->p, H, R);
            if (!p) goto fail_kept;
            if (e->mi >= 0) {
                const Match *m = &s->m[e->mi];
                for (int d = 0; d < m->len; d++) p->u2[m->start + d] = 1;
                for (int d = 0; d < m->mlen; d++) p->u1[m->mstart + d] = 1;
                p->match[m->start] = e->mi;
            }
            entry_store(p, e);
            kept[nk++] = p;
        }
        for (int k = 0; k < cur.n; k++) { /* a kept path is marked by clearing its entry */
            Entry *e = &cur.a[k];
            if (e->mi >= 0) continue;
            int is_kept = 0;
            for (int r = 0; r < nk && !is_kept; r++) is_kept = kept[r] == e->p;
            if (!is_kept) free(e->p);
        }
        cur.n = 0;
        for (int rank = 0; rank < nk; rank++) {
            Path *p = kept[rank];
            kept[rank] = NULL;
            Entry pe = entry_of(p);
            if (current == R) { /* complete: close the last chunk */
                if (pe.last_end != -1) pe.chunks++;
                if (elist_add(&next, pe)) { free(p); goto fail_rest; }
                continue;
            }
            if (p->u2[current]) {
                if (current < pe.idx) { if (elist_add(&next, pe)) { free(p); goto fail_rest; } }
                else if (pe.idx < R && p->match[pe.idx] >= 0) { /* a fixed match */
                    const Match *m = &s->m[p->match[pe.idx]];
                    take(&pe, m);
                    pe.distance += abs(m->start - m->mstart);
                    if (elist_add(&next, pe)) { free(p); goto fail_rest; }
                } else free(p);
                continue;
            }
            for (int c = 0; c < s->count[current]; c++) {
                int mi = s->first[current] + c;
                const Match *m = &s->m[mi];
                int used = 0;
                for (int d = 0; d < m->len && !used; d++) used = p->u2[m->start + d];
                for (int d = 0; d < m->mlen && !used; d++) used = p->u1[m->mstart + d];
                if (used) continue;
                Entry ne = pe;
                ne.mi = mi;
                take(&ne, m);
                pe.distance += abs(m->start - m->mstart); /* sic: Meteor adds it to the parent */
                if (elist_add(&next, ne)) { free(p); goto fail_rest; }
            }
            if (pe.last_end != -1) { pe.chunks++; pe.last_end = -1; } /* skip this word */
            pe.idx++;
            if (elist_add(&next, pe)) { free(p); goto fail_rest; }
            continue;
        fail_rest:
            for (int r = rank + 1; r < nk; r++) free(kept[r]);
            goto fail;
        }
        if (next.n == 0) goto fail; /* cannot happen with single-word matches */
        continue;
    fail_kept:
        /* the survivors copied so far are owned by kept[]; the list still owns the rest */
        for (int r = 0; r < nk; r++)
            if (cur.a[top[r]].mi >= 0) free(kept[r]);
        goto fail;
    }
    {
        int k = select_top(&next, 1, top);
        if (k == 1) {
            best = next.a[top[0]].p;
            entry_store(best, &next.a[top[0]]);
            next.a[top[0]].p = NULL;
        }
    }
fail:
    elist_free_paths(&cur);
    elist_free_paths(&next);
    free(cur.a); free(next.a); free(kept); free(top);
    return best;
}

/* ---- one (hyp, ref) pair ----------------------------------------------------------------------- */
static int align_pair(const Meteor15 *m, const MtTokens *h, const MtTokens *r, Meteor15Stats *st) {
    int H = h->n, R = r->n;
    memset(st, 0, sizeof *st);
    st->test_len = H;
    st->ref_len = R;
    for (int i = 0; i < H; i++) st->test_fn += m15_is_function_word(m, W(h, i), h->len[i]);
    for (int j = 0; j < R; j++) st->ref_fn += m15_is_function_word(m, W(r, j), r->len[j]);
    int modules = METEOR15_MODULES;
    if (H == R) { /* identical sentences: exact matches only */
        int ident = 1;
        for (int i = 0; i < H && ident; i++) ident = same(h, i, r, i);
        if (ident) modules = 1;
    }
    Stage s = {0};
    int rc = -1;
    Path *best = NULL;
    if (collect(m, h, r, modules, &s)) goto done;
    Path *start = path_new(H, R);
    if (!start) goto done;
    for (int j = 0; j < R; j++) { /* a word's only candidate, whose words have no other: definite */
        if (s.count[j] != 1) continue;
        const Match *x = &s.m[s.first[j]];
        int overlap = 0;
        for (int d = 0; d < x->len; d++) overlap |= s.cov2[j + d] != 1;
        for (int d = 0; d < x->mlen; d++) overlap |= s.cov1[x->mstart + d] != 1;
        if (overlap) continue;
        start->match[j] = s.first[j];
        for (int d = 0; d < x->len; d++) start->u2[j + d] = 1;
        for (int d = 0; d < x->mlen; d++) start->u1[x->mstart + d] = 1;
    }
    if (!(best = resolve(&s, start, H, R, m->p.beam))) goto done;
    /* totals by module and word class, and chunks (getCountAndChunks) */
    int last_end = -1;
    double chunks = 0;
    for (int j = 0; j < R;) {
        int mi = best->match[j];
        if (mi < 0) {
            if (last_end != -1) { chunks++; last_end = -1; }
            j++;
            continue;
        }
        const Match *x = &s.m[mi];
        for (int d = 0; d < x->mlen; d++) {
            int i = x->mstart + d;
            if (m15_is_function_word(m, W(h, i), h->len[i])) st->test_function[x->module]++;
            else st->test_content[x->module]++;
        }
        for (int d = 0; d < x->len; d++) {
            int k = x->start + d;
            if (m15_is_function_word(m, W(r, k), r->len[k])) st->ref_function[x->module]++;
            else st->ref_content[x->module]++;
        }
        st->test_matches += x->mlen;
        st->ref_matches += x->len;
        if (last_end != -1 && x->mstart != last_end) chunks++;
        j = x->start + x->len;
        last_end = x->mstart + x->mlen;
    }
    if (last_end != -1) chunks++;
    st->chunks = chunks;
    st->score = meteor15_score(m, st);
    rc = 0;
done:
    free(best);
    free(s.m); free(s.first); free(s.count); free(s.cov1); free(s.cov2);
    return rc;
}

double meteor15_score(const Meteor15 *m, const Meteor15Stats *s) {
    const Meteor15Params *p = &m->p;
    double delta = p->delta, alpha = p->alpha;
    double tw = 0, rw = 0;
    double tl = (delta * (s->test_len - s->test_fn)) + ((1.0 - delta) * s->test_fn);
    double rl = (delta * (s->ref_len - s->ref_fn)) + ((1.0 - delta) * s->ref_fn);
    for (int i = 0; i < METEOR15_MODULES; i++) tw += s->test_content[i] * p->weights[i] * delta;
    for (int i = 0; i < METEOR15_MODULES; i++) rw += s->ref_content[i] * p->weights[i] * delta;
    for (int i = 0; i < METEOR15_MODULES; i++) tw += s->test_function[i] * p->weights[i] * (1.0 - delta);
    for (int i = 0; i < METEOR15_MODULES; i++) rw += s->ref_function[i] * p->weights[i] * (1.0 - delta);
    double precision = tw / tl, recall = rw / rl;
    double fmean = 1.0 / (((1.0 - alpha) / precision) + (alpha / recall));
    double frag;
    if (s->test_matches == s->test_len && s->ref_matches == s->ref_len && s->chunks == 1) frag = 0;
    else frag = s->chunks / ((s->test_matches + s->ref_matches) / 2);
    double penalty = p->gamma * pow(frag, p->beta);
    double score = fmean * (1.0 - penalty);
    if (isnan(score)) return 0;
    return score > 0.0 ? score : 0.0;
}

void meteor15_add(Meteor15Stats *a, const Meteor15Stats *s) {
    a->test_len += s->test_len; a->ref_len += s->ref_len;
    a->test_fn += s->test_fn; a->ref_fn += s->ref_fn;
    for (int i = 0; i < METEOR15_MODULES; i++) {
        a->test_content[i] += s->test_content[i]; a->test_function[i] += s->test_function[i];
        a->ref_content[i] += s->ref_content[i]; a->ref_function[i] += s->ref_function[i];
    }
    a->test_matches += s->test_matches; a->ref_matches += s->ref_matches;
    a->chunks += s->chunks;
}

static int words(const Meteor15 *m, const char *line, MtTokens *t, const char *what, char err[QB_ERRLEN]) {
    size_t n = strlen(line), bad = 0;
    uint32_t *cps = malloc(sizeof(uint32_t) * (n + 1));
    if (!cps) { snprintf(err, QB_ERRLEN, "%s: out of memory", what); return -1; }
    long k = utf8_decode(line, n, cps, &bad);
    int rc = -1;
    if (k < 0) snprintf(err, QB_ERRLEN, "%s: invalid UTF-8 at byte %zu", what, bad);
    else if (mt_meteor15_words(cps, (size_t)k, m->p.normalize, t)) snprintf(err, QB_ERRLEN, "%s: out of memory", what);
    else if (t->n > METEOR15_MAX_WORDS)
        snprintf(err, QB_ERRLEN, "%s: %d words; meteor15 aligns at most %d words per segment", what, t->n,
                 METEOR15_MAX_WORDS);
    else rc = 0;
    free(cps);
    return rc;
}

long meteor15_words(const Meteor15 *m, const char *line, char err[QB_ERRLEN]) {
    MtTokens t = {0};
    int rc = words(m, line, &t, "segment", err);
    long n = t.n;
    mt_tokens_free(&t);
    return rc && n <= METEOR15_MAX_WORDS ? -1 : n;
}

int meteor15_sentence(const Meteor15 *m, const char *hyp, const char *const *refs, int nrefs,
                      Meteor15Stats *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (nrefs < 1) { snprintf(err, QB_ERRLEN, "meteor15: no reference given"); return -1; }
    MtTokens h = {0}, r = {0};
    int rc = -1;
    double best = -1;
    if (words(m, hyp, &h, "hypothesis", err)) goto done;
    for (int k = 0; k < nrefs; k++) {
        char what[32];
        snprintf(what, sizeof what, "reference %d", k + 1);
        r.n = 0;
        r.used = 0;
        if (words(m, refs[k] ? refs[k] : "", &r, what, err)) goto done;
        Meteor15Stats st;
        if (align_pair(m, &h, &r, &st)) { snprintf(err, QB_ERRLEN, "meteor15: out of memory"); goto done; }
        st.ref_index = k;
        if (st.score > best) { best = st.score; *out = st; } /* first wins ties, as in Meteor */
    }
    rc = 0;
done:
    mt_tokens_free(&h);
    mt_tokens_free(&r);
    return rc;
}

int meteor15_corpus(const Meteor15 *m, const char *const *hyps, size_t nseg, const char *const *refs,
                    int nrefs, Meteor15Stats *total, double *sent, char err[QB_ERRLEN]) {
    memset(total, 0, sizeof *total);
    if (nrefs < 1) { snprintf(err, QB_ERRLEN, "meteor15: no reference given"); return -1; }
    Meteor15Stats *st = calloc(nseg + 1, sizeof *st);
    if (!st) { snprintf(err, QB_ERRLEN, "meteor15: out of memory"); return -1; }
    long first_bad = -1;
    char bad_err[QB_ERRLEN] = "";
#pragma omp parallel for schedule(dynamic, 16) if (nseg > 16)
    for (long i = 0; i < (long)nseg; i++) {
        const char *r[64], **rr = r;
        if (nrefs > 64) rr = malloc(sizeof(char *) * (size_t)nrefs);
        char e[QB_ERRLEN];
        int rc = -1;
        if (rr) {
            for (int k = 0; k < nrefs; k++) rr[k] = refs[(size_t)k * nseg + (size_t)i];
            rc = meteor15_sentence(m, hyps[i], rr, nrefs, &st[i], e);
        } else snprintf(e, sizeof e, "out of memory");
        if (rr != r) free(rr);
        if (rc) {
#pragma omp critical(meteor15_corpus_err)
            if (first_bad < 0 || i < first_bad) { first_bad = i; snprintf(bad_err, sizeof bad_err, "%s", e); }
        }
    }
    if (first_bad >= 0) {
        snprintf(err, QB_ERRLEN, "segment %ld: %.400s", first_bad + 1, bad_err);
        free(st);
        return -1;
    }
    for (size_t i = 0; i < nseg; i++) {
        meteor15_add(total, &st[i]);
        if (sent) sent[i] = st[i].score;
    }
    total->score = meteor15_score(m, total);
    free(st);
    return 0;
}

void meteor15_signature(const Meteor15 *m, int nrefs, char *out, size_t cap) {
    const Meteor15Params *p = &m->p;
    snprintf(out, cap,
             "nrefs:%d|norm:%s|modules:exact-stem-synonym%s|weights:%g_%g_%g_%g|alpha:%g|beta:%g|"
             "gamma:%g|delta:%g|beam:%d|stem:snowball-english|avg:corpus-stats|version:meteor-1.5",
             nrefs, p->normalize ? "yes" : "no", m->para_maxlen ? "-paraphrase" : "", p->weights[0],
             p->weights[1], p->weights[2], p->weights[3], p->alpha, p->beta, p->gamma, p->delta, p->beam);
}

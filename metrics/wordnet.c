/* wordnet.c — WordNet 3.0 read straight from Debian's wordnet-base files (index.*, data.*, *.exc)
 * and NLTK 3.8's synsets()/_morphy() rules, as far as METEOR needs them: the lemma names of every
 * synset of a word (docs/metrics.md §2.2, §2.6). index.* and *.exc are parsed at open time into hash
 * tables; data.* is read whole and a synset line is parsed when asked for (by byte offset, as
 * NLTK does). After wordnet_open nothing is written, so lookups are thread-safe. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"

enum { N_POS = 4, BLOOM_BITS = 21 };

static void bloom_add(uint64_t *b, uint64_t h) {
    uint64_t m = (1ULL << BLOOM_BITS) - 1, x = h & m, y = (h >> 32) & m;
    b[x >> 6] |= 1ULL << (x & 63);
    b[y >> 6] |= 1ULL << (y & 63);
}
static int bloom_has(const uint64_t *b, uint64_t h) {
    uint64_t m = (1ULL << BLOOM_BITS) - 1, x = h & m, y = (h >> 32) & m;
    return (b[x >> 6] >> (x & 63) & 1) && (b[y >> 6] >> (y & 63) & 1);
}
static const char *const POS_FILE[N_POS] = {"noun", "verb", "adj", "adv"}; /* NLTK's POS_LIST order */

typedef struct { int start, count; } Span;

struct WordNet {
    MtVocabPool *pool;     /* METEOR's vocabularies, kept between calls (meteor_cache.c) */
    char *index[N_POS], *data[N_POS], *exc[N_POS];
    size_t data_len[N_POS];
    MtIntern lemma;        /* index lemma -> id */
    uint64_t *bloom;       /* 2^BLOOM_BITS-bit Bloom filter of the index lemmas: most of morphy's
                            * candidate forms are not lemmas, and this answers that from cache */
    Span (*lemma_pos)[N_POS]; /* id -> offsets per POS in `offs` */
    uint32_t *offs;
    int noffs;
    size_t capoffs, caplemma;
    MtIntern excmap[N_POS]; /* exception word -> id */
    Span *exc_forms[N_POS]; /* id -> forms in exc_str */
    size_t exc_cap[N_POS];
    const char **exc_str;   /* forms (pointers into exc buffers) */
    int *exc_len;
    int nexc;
    size_t capexc; /* of exc_str and exc_len */
};

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

/* next whitespace-separated field of [*p, end); 0 when none is left on the line */
static int next_field(const char **p, const char *end, const char **f, int *flen) {
    const char *s = *p;
    while (s < end && is_ws(*s) && *s != '\n') s++;
    if (s >= end || *s == '\n') { *p = s; return 0; }
    const char *e = s;
    while (e < end && !is_ws(*e)) e++;
    *f = s;
    *flen = (int)(e - s);
    *p = e;
    return 1;
}

static int parse_uint(const char *f, int len, int base, long *out) {
    if (len <= 0 || len > 12) return -1;
    long v = 0;
    for (int i = 0; i < len; i++) {
        int d;
        if (f[i] >= '0' && f[i] <= '9') d = f[i] - '0';
        else if (base == 16 && f[i] >= 'a' && f[i] <= 'f') d = f[i] - 'a' + 10;
        else if (base == 16 && f[i] >= 'A' && f[i] <= 'F') d = f[i] - 'A' + 10;
        else return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}

static char *read_wn_file(const char *dir, const char *name, size_t *len, char err[QB_ERRLEN]) {
    char path[4096];
    snprintf(path, sizeof path, "%.3000s/%.60s", dir, name);
    char e2[QB_ERRLEN];
    char *b = qb_read_file(path, len, e2);
    if (!b)
        snprintf(err, QB_ERRLEN,
                 "WordNet 3.0 not found: cannot read %.200s (install it with `apt-get install "
                 "wordnet-base`, or point QBENCH_WORDNET at a WordNet dict folder)", path);
    return b;
}

/* index.<pos>: "lemma pos n_synsets n_pointers ptr... n_senses n_tagged offset..." (NLTK's
 * _load_lemma_pos_offset_map; lines starting with a space are the licence header). */
static int load_index(WordNet *wn, int pos, const char *path, char err[QB_ERRLEN]) {
    const char *p = wn->index[pos], *end = p + strlen(p);
    int line = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if (*p != ' ' && p < eol) {
            const char *q = p, *f, *lem;
            int fl, lemlen;
            long nsyn, nptr, nsense, v;
            if (!next_field(&q, eol, &lem, &lemlen) || !next_field(&q, eol, &f, &fl) ||
                !next_field(&q, eol, &f, &fl) || parse_uint(f, fl, 10, &nsyn) || nsyn <= 0 ||
                !next_field(&q, eol, &f, &fl) || parse_uint(f, fl, 10, &nptr))
                goto bad;
            for (long k = 0; k < nptr; k++)
                if (!next_field(&q, eol, &f, &fl)) goto bad;
            if (!next_field(&q, eol, &f, &fl) || parse_uint(f, fl, 10, &nsense) || nsense != nsyn ||
                !next_field(&q, eol, &f, &fl))
                goto bad;
            uint64_t hs = mt_hash(lem, (size_t)lemlen);
            int id = mt_intern_hashed(&wn->lemma, lem, lemlen, hs, 1);
            if (id < 0) goto oom;
            bloom_add(wn->bloom, hs);
            if ((size_t)id >= wn->caplemma) {
                size_t old = wn->caplemma;
                if (qb_grow((void **)&wn->lemma_pos, &wn->caplemma, (size_t)id + 1, sizeof *wn->lemma_pos)) goto oom;
                memset(wn->lemma_pos + old, 0, sizeof *wn->lemma_pos * (wn->caplemma - old)); /* no senses yet */
            }
            if (nsyn > INT_MAX - wn->noffs ||
                qb_grow((void **)&wn->offs, &wn->capoffs, (size_t)wn->noffs + (size_t)nsyn, sizeof *wn->offs))
                goto oom;
            Span sp = {wn->noffs, (int)nsyn};
            for (long k = 0; k < nsyn; k++) {
                if (!next_field(&q, eol, &f, &fl) || parse_uint(f, fl, 10, &v) || v > UINT32_MAX) goto bad;
                wn->offs[wn->noffs++] = (uint32_t)v;
            }
            wn->lemma_pos[id][pos] = sp; /* a repeated lemma: the later line wins, as in NLTK */
        }
        p = eol + 1;
        continue;
    bad:
        snprintf(err, QB_ERRLEN, "%.300s line %d: malformed WordNet index entry", path, line);
        return -1;
    oom:
        snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
        return -1;
    }
    return 0;
}

/* <pos>.exc: "inflected base..." per line; NLTK keeps the last line for a repeated word. */
static int load_exc(WordNet *wn, int pos, const char *path, char err[QB_ERRLEN]) {
    const char *p = wn->exc[pos], *end = p + strlen(p);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *q = p, *f, *w;
        int fl, wl;
        if (next_field(&q, eol, &w, &wl)) {
            int id = mt_intern(&wn->excmap[pos], w, wl, 1);
            if (id < 0) goto oom;
            if (qb_grow((void **)&wn->exc_forms[pos], &wn->exc_cap[pos], (size_t)id + 1, sizeof *wn->exc_forms[pos])) goto oom;
            Span sp = {wn->nexc, 0};
            while (next_field(&q, eol, &f, &fl)) {
                if ((size_t)wn->nexc == wn->capexc) {
                    size_t cs = wn->capexc, cl = wn->capexc, need = (size_t)wn->nexc + 1;
                    if (wn->nexc == INT_MAX || qb_grow((void **)&wn->exc_str, &cs, need, sizeof *wn->exc_str) ||
                        qb_grow((void **)&wn->exc_len, &cl, need, sizeof *wn->exc_len))
                        goto oom;
                    wn->capexc = cs;
                }
                wn->exc_str[wn->nexc] = f;
                wn->exc_len[wn->nexc++] = fl;
                sp.count++;
            }
            wn->exc_forms[pos][id] = sp;
        }
        p = eol + 1;
    }
    return 0;
oom:
    snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
    return -1;
}

WordNet *wordnet_open(const char *dir, char err[QB_ERRLEN]) {
    if (!dir) dir = getenv("QBENCH_WORDNET");
    if (!dir || !*dir) dir = "/usr/share/wordnet";
    WordNet *wn = calloc(1, sizeof *wn);
    if (wn && (!(wn->bloom = calloc((size_t)1 << (BLOOM_BITS - 6), sizeof(uint64_t))) || !(wn->pool = mt_pool_new()))) {
        free(wn->bloom);
        free(wn);
        wn = NULL;
    }
    if (!wn) { snprintf(err, QB_ERRLEN, "wordnet: out of memory"); return NULL; }
    char name[64], path[4096];
    for (int p = 0; p < N_POS; p++) {
        size_t len;
        snprintf(name, sizeof name, "index.%s", POS_FILE[p]);
        if (!(wn->index[p] = read_wn_file(dir, name, &len, err))) goto fail;
        snprintf(path, sizeof path, "%.3000s/%.60s", dir, name);
        if (load_index(wn, p, path, err) != 0) goto fail;
        snprintf(name, sizeof name, "data.%s", POS_FILE[p]);
        if (!(wn->data[p] = read_wn_file(dir, name, &wn->data_len[p], err))) goto fail;
        snprintf(name, sizeof name, "%s.exc", POS_FILE[p]);
        if (!(wn->exc[p] = read_wn_file(dir, name, &len, err))) goto fail;
        snprintf(path, sizeof path, "%.3000s/%.60s", dir, name);
        if (load_exc(wn, p, path, err) != 0) goto fail;
    }
    return wn;
fail:
    wordnet_free(wn);
    return NULL;
}

MtVocabPool *mt_wn_pool(const WordNet *wn) { return wn ? wn->pool : NULL; }

void wordnet_free(WordNet *wn) {
    if (!wn) return;
    mt_pool_free(wn->pool);
    for (int p = 0; p < N_POS; p++) {
        free(wn->index[p]); free(wn->data[p]); free(wn->exc[p]);
        mt_intern_free(&wn->excmap[p]);
        free(wn->exc_forms[p]);
    }
    mt_intern_free(&wn->lemma);
    free(wn->lemma_pos); free(wn->offs); free(wn->exc_str); free(wn->exc_len); free(wn->bloom);
    free(wn);
}

void wordnet_names_free(WordNetNames *n) {
    free(n->name); free(n->len);
    memset(n, 0, sizeof *n);
}

static int names_push(WordNetNames *o, const char *s, int len) {
    if ((size_t)o->n == o->cap) { /* name and len share one capacity */
        size_t ca = o->cap, cl = o->cap, need = (size_t)o->n + 1;
        if (o->n == INT_MAX || qb_grow((void **)&o->name, &ca, need, sizeof *o->name) ||
            qb_grow((void **)&o->len, &cl, need, sizeof *o->len))
            return -1;
        o->cap = ca;
    }
    o->name[o->n] = s;
    o->len[o->n++] = len;
    return 0;
}

/* ---- morphy --------------------------------------------------------------------------------- */
typedef struct { const char *old, *new_; int olen, nlen; } Subst;
static const Subst SUB_NOUN[] = {{"s", "", 1, 0},      {"ses", "s", 3, 1},   {"ves", "f", 3, 1},
                                 {"xes", "x", 3, 1},   {"zes", "z", 3, 1},   {"ches", "ch", 4, 2},
                                 {"shes", "sh", 4, 2}, {"men", "man", 3, 3}, {"ies", "y", 3, 1}};
static const Subst SUB_VERB[] = {{"s", "", 1, 0},  {"ies", "y", 3, 1}, {"es", "e", 2, 1},  {"es", "", 2, 0},
                                 {"ed", "e", 2, 1}, {"ed", "", 2, 0},   {"ing", "e", 3, 1}, {"ing", "", 3, 0}};
static const Subst SUB_ADJ[] = {{"er", "", 2, 0}, {"est", "", 3, 0}, {"er", "e", 2, 1}, {"est", "e", 3, 1}};
static const Subst *const SUBS[N_POS] = {SUB_NOUN, SUB_VERB, SUB_ADJ, NULL};
static const int NSUBS[N_POS] = {9, 8, 4, 0};

/* a list of candidate forms, stored back to back; small lists live in the struct itself (the
 * struct must then not be copied: morphy swaps pointers to it) */
typedef struct {
    char *buf;
    size_t used, cap;
    int *off, *len;
    int n, ncap;
    char sbuf[256];
    int soff[16], slen[16];
} Forms;

static void forms_init(Forms *f) {
    f->buf = f->sbuf;
    f->cap = sizeof f->sbuf;
    f->off = f->soff;
    f->len = f->slen;
    f->ncap = 16;
    f->used = 0;
    f->n = 0;
}

static void forms_free(Forms *f) {
    if (f->buf != f->sbuf) free(f->buf);
    if (f->off != f->soff) free(f->off);
    if (f->len != f->slen) free(f->len);
    forms_init(f);
}

static int forms_push2(Forms *f, const char *a, int alen, const char *b, int blen) {
    if (f->n == f->ncap) {
        int nc = 2 * f->ncap;
        int *o = malloc(sizeof *o * (size_t)nc), *l = malloc(sizeof *l * (size_t)nc);
        if (!o || !l) { free(o); free(l); return -1; }
        memcpy(o, f->off, sizeof *o * (size_t)f->n);
        memcpy(l, f->len, sizeof *l * (size_t)f->n);
        if (f->off != f->soff) free(f->off);
        if (f->len != f->slen) free(f->len);
        f->off = o;
        f->len = l;
        f->ncap = nc;
    }
    size_t need = f->used + (size_t)alen + (size_t)blen;
    if (need > f->cap) {
        size_t nc = 2 * f->cap;
        while (nc < need) nc *= 2;
        char *b2 = malloc(nc);
        if (!b2) return -1;
        memcpy(b2, f->buf, f->used);
        if (f->buf != f->sbuf) free(f->buf);
        f->buf = b2;
        f->cap = nc;
    }
    memcpy(f->buf + f->used, a, (size_t)alen);
    memcpy(f->buf + f->used + alen, b, (size_t)blen);
    f->off[f->n] = (int)f->used;
    f->len[f->n++] = alen + blen;
    f->used = need;
    return 0;
}

/* Guard against hostile inputs: NLTK's rule rounds always shorten a form, but keep the work
 * bounded anyway. */
enum { MAX_FORMS = 100000 };

static int apply_rules(int pos, const Forms *in, Forms *out) {
    out->n = 0;
    out->used = 0;
    for (int i = 0; i < in->n; i++) {
        const char *w = in->buf + in->off[i];
        int wl = in->len[i];
        for (int r = 0; r < NSUBS[pos]; r++) {
            int ol = SUBS[pos][r].olen;
            if (wl >= ol && memcmp(w + wl - ol, SUBS[pos][r].old, (size_t)ol) == 0) {
                if (out->n >= MAX_FORMS) return 0;
                if (forms_push2(out, w, wl - ol, SUBS[pos][r].new_, SUBS[pos][r].nlen))
                    return -1;
            }
        }
    }
    return 0;
}

/* lemma id of s if it is in index.<pos>, else -1 */
static int index_id(const WordNet *wn, int pos, const char *s, int len) {
    uint64_t hs = mt_hash(s, (size_t)len);
    if (!bloom_has(wn->bloom, hs)) return -1;
    int id = mt_intern_hashed((MtIntern *)&wn->lemma, s, len, hs, 0); /* add = 0 never writes */
    return id >= 0 && wn->lemma_pos[id][pos].count > 0 ? id : -1;
}

/* filter_forms: the forms in the index for pos, first occurrence kept; appends lemma ids */
static int filter_forms(const WordNet *wn, int pos, const char *const *s, const int *len, int n,
                        int *ids, int *nids, int maxids) {
    int found = 0;
    for (int i = 0; i < n; i++) {
        int id = index_id(wn, pos, s[i], len[i]);
        if (id < 0) continue;
        int dup = 0;
        for (int k = *nids - found; k < *nids; k++) dup |= ids[k] == id;
        if (dup || *nids >= maxids) continue;
        ids[(*nids)++] = id;
        found++;
    }
    return found;
}

static int filter_list(const WordNet *wn, int pos, const Forms *f, int *ids, int *nids, int maxids) {
    int found = 0;
    for (int i = 0; i < f->n; i++) {
        const char *s = f->buf + f->off[i];
        found += filter_forms(wn, pos, &s, &f->len[i], 1, ids, nids, maxids) ? 1 : 0;
        /* duplicates across the list: filter_forms dedups against this round's finds */
        if (found > 1) {
            int last = ids[*nids - 1], dup = 0;
            for (int k = *nids - found; k < *nids - 1; k++) dup |= ids[k] == last;
            if (dup) { (*nids)--; found--; }
        }
    }
    return found;
}

/* NLTK 3.8 _morphy(form, pos): appends the lemma ids of the base forms to ids */
static int morphy(const WordNet *wn, int pos, const char *w, int wl, int *ids, int *nids, int maxids) {
    int eid = mt_intern((MtIntern *)&wn->excmap[pos], w, wl, 0);
    if (eid >= 0) {
        int before = *nids;
        filter_forms(wn, pos, &w, &wl, 1, ids, nids, maxids);
        Span sp = wn->exc_forms[pos][eid];
        for (int k = 0; k < sp.count; k++) {
            int id = index_id(wn, pos, wn->exc_str[sp.start + k], wn->exc_len[sp.start + k]);
            if (id < 0 || *nids >= maxids) continue;
            int dup = 0;
            for (int j = before; j < *nids; j++) dup |= ids[j] == id;
            if (!dup) ids[(*nids)++] = id;
        }
        return 0;
    }
    Forms fa, fb, fs, *a = &fa, *b = &fb, *start = &fs;
    forms_init(a);
    forms_init(b);
    forms_init(start);
    int rc = -1;
    if (forms_push2(start, w, wl, "", 0)) goto done;
    if (apply_rules(pos, start, a)) goto done;
    /* the word itself, then the once-rewritten forms */
    int before = *nids;
    filter_list(wn, pos, start, ids, nids, maxids);
    for (int i = 0; i < a->n; i++) {
        int id = index_id(wn, pos, a->buf + a->off[i], a->len[i]);
        if (id < 0 || *nids >= maxids) continue;
        int dup = 0;
        for (int j = before; j < *nids; j++) dup |= ids[j] == id;
        if (!dup) ids[(*nids)++] = id;
    }
    if (*nids > before) { rc = 0; goto done; }
    /* NLTK 3.8 keeps rewriting until some form is in the index (removed in 3.9) */
    while (a->n) {
        if (apply_rules(pos, a, b)) goto done;
        Forms *t = a; a = b; b = t;
        if (filter_list(wn, pos, a, ids, nids, maxids)) break;
    }
    rc = 0;
done:
    forms_free(a); forms_free(b); forms_free(start);
    return rc;
}

/* lemma names of the synset at byte offset off of data.<pos>, appended to out */
static int synset_names(const WordNet *wn, int pos, uint32_t off, int dedupe, WordNetNames *out) {
    const char *d = wn->data[pos];
    size_t n = wn->data_len[pos];
    if (off + 8 > n) return 0; /* NLTK warns and skips an offset with no synset */
    long lineoff;
    if (parse_uint(d + off, 8, 10, &lineoff) || lineoff != (long)off) return 0;
    const char *end = memchr(d + off, '\n', n - off);
    if (!end) end = d + n;
    const char *q = d + off, *f;
    int fl;
    long wcnt;
    if (!next_field(&q, end, &f, &fl) || !next_field(&q, end, &f, &fl) || !next_field(&q, end, &f, &fl) ||
        !next_field(&q, end, &f, &fl) || parse_uint(f, fl, 16, &wcnt))
        return 0;
    for (long k = 0; k < wcnt; k++) {
        const char *nm;
        int nl;
        if (!next_field(&q, end, &nm, &nl) || !next_field(&q, end, &f, &fl)) return 0;
        /* NLTK: re.match(r"(.*?)(\(.*\))?$") drops a trailing "(...)" from the first '(' */
        if (nl > 0 && nm[nl - 1] == ')') {
            const char *lp = memchr(nm, '(', (size_t)nl);
            if (lp) nl = (int)(lp - nm);
        }
        if (memchr(nm, '_', (size_t)nl)) continue;
        if (dedupe) {
            int dup = 0;
            for (int i = 0; i < out->n && !dup; i++)
                dup = out->len[i] == nl && memcmp(out->name[i], nm, (size_t)nl) == 0;
            if (dup) continue;
        }
        if (names_push(out, nm, nl)) return -1;
    }
    return 0;
}

/* synsets() lowercases its argument (Python str.lower); *w is small or malloc'd */
static int lower_word(const char *word, size_t len, char small[256], char **w, int *wl) {
    int ascii = len < 256;
    *w = small;
    for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)word[i] < 0x80;
    if (ascii) { /* the common case: ASCII lowercase is enough */
        for (size_t i = 0; i < len; i++) small[i] = (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] + 32 : word[i]);
        *wl = (int)len;
        return 0;
    }
    uint32_t *cps = malloc(sizeof(uint32_t) * (3 * len + 2));
    if (!cps) return -1;
    long ncp = utf8_decode(word, len, cps, NULL);
    if (ncp < 0) { free(cps); *wl = 0; return 0; } /* invalid UTF-8: no synsets */
    size_t nl = py_lower(cps, (size_t)ncp, cps + len + 1);
    if (4 * nl + 1 > 256 && !(*w = malloc(4 * nl + 1))) { free(cps); return -1; }
    *wl = (int)utf8_encode(cps + len + 1, nl, *w);
    free(cps);
    return 0;
}

int wordnet_synonyms(const WordNet *wn, const char *word, size_t len, int dedupe, WordNetNames *out) {
    out->n = 0;
    if (len == 0 || len > 4096) return 0; /* no WordNet lemma is that long (and "" has none) */
    char small[256], *w;
    int wl;
    if (lower_word(word, len, small, &w, &wl)) return -1;
    int rc = 0;
    for (int pos = 0; pos < N_POS && rc == 0 && wl > 0; pos++) {
        int ids[256], nids = 0;
        if (morphy(wn, pos, w, wl, ids, &nids, 256)) { rc = -1; break; }
        for (int i = 0; i < nids && rc == 0; i++) {
            Span sp = wn->lemma_pos[ids[i]][pos];
            for (int k = 0; k < sp.count && rc == 0; k++)
                rc = synset_names(wn, pos, wn->offs[sp.start + k], dedupe, out);
        }
    }
    if (w != small) free(w);
    return rc;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int push_key(uint64_t **k, int *n, size_t *cap, uint64_t v) {
    if (*n == INT_MAX || qb_grow((void **)k, cap, (size_t)*n + 1, sizeof **k)) return -1;
    (*k)[(*n)++] = v;
    return 0;
}

static void sort_unique(uint64_t *k, int *n) {
    if (*n < 2) return;
    if (*n <= 32) { /* the usual size: insertion sort beats qsort's set-up (glibc's allocates) */
        for (int i = 1; i < *n; i++) {
            uint64_t v = k[i];
            int j = i;
            for (; j > 0 && k[j - 1] > v; j--) k[j] = k[j - 1];
            k[j] = v;
        }
    } else qsort(k, (size_t)*n, sizeof *k, cmp_u64);
    int m = 1;
    for (int i = 1; i < *n; i++) if (k[i] != k[m - 1]) k[m++] = k[i];
    *n = m;
}

int mt_wn_synset_keys(const WordNet *wn, const char *word, size_t len, uint64_t **keys, int *n) {
    *keys = NULL;
    *n = 0;
    if (len == 0 || len > 4096) return 0;
    char small[256], *w;
    int wl, rc = 0;
    size_t cap = 0;
    if (lower_word(word, len, small, &w, &wl)) return -1;
    for (int pos = 0; pos < N_POS && rc == 0 && wl > 0; pos++) {
        int ids[256], nids = 0;
        if (morphy(wn, pos, w, wl, ids, &nids, 256)) { rc = -1; break; }
        for (int i = 0; i < nids && rc == 0; i++) {
            Span sp = wn->lemma_pos[ids[i]][pos];
            for (int k = 0; k < sp.count && rc == 0; k++)
                rc = push_key(keys, n, &cap, MT_WN_KEY(pos, wn->offs[sp.start + k]));
        }
    }
    if (w != small) free(w);
    if (rc) { free(*keys); *keys = NULL; *n = 0; return -1; }
    sort_unique(*keys, n);
    return 0;
}

int mt_wn_lemma_keys(const WordNet *wn, const char *lemma, size_t len, uint64_t **keys, int *n) {
    *keys = NULL;
    *n = 0;
    if (len == 0 || len > 4096) return 0;
    uint64_t hs = mt_hash(lemma, len);
    if (!bloom_has(wn->bloom, hs)) return 0;
    int id = mt_intern_hashed((MtIntern *)&wn->lemma, lemma, (int)len, hs, 0);
    if (id < 0) return 0;
    size_t cap = 0;
    for (int pos = 0; pos < N_POS; pos++) {
        Span sp = wn->lemma_pos[id][pos];
        for (int k = 0; k < sp.count; k++)
            if (push_key(keys, n, &cap, MT_WN_KEY(pos, wn->offs[sp.start + k]))) { free(*keys); *keys = NULL; *n = 0; return -1; }
    }
    sort_unique(*keys, n);
    return 0;
}

int mt_wn_synset_has_name(const WordNet *wn, uint64_t key, const char *name, int len) {
    WordNetNames nm = {0};
    int pos = (int)(key >> 32), hit = 0;
    if (synset_names(wn, pos, (uint32_t)key, 0, &nm) == 0)
        for (int i = 0; i < nm.n && !hit; i++) hit = nm.len[i] == len && memcmp(nm.name[i], name, (size_t)len) == 0;
    wordnet_names_free(&nm);
    return hit;
}

/* porter.c — NLTK's PorterStemmer in its default NLTK_EXTENSIONS mode (nltk/stem/porter.py,
 * NLTK 3.8), ported rule for rule on Unicode code points. METEOR's stem stage depends on its exact
 * output, including NLTK's departures from Porter (1980): the irregular-word pool, 'ies'/'ied'
 * on 4-letter words, the y->i condition, 'alli' first, 'bli' for 'abli', 'fulli', 'logi', the
 * two-letter *o case. Only a e i o u are vowels; every other code point is a consonant (y
 * depending on its left neighbour), non-ASCII letters included. */
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"

typedef struct { uint32_t *w; size_t n; } Word;

static int is_vowel(uint32_t c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* _is_consonant(word, i): y is a consonant at the start or after a vowel. */
static int is_cons(const uint32_t *w, size_t i) {
    /* walk left over the run of y's: y alternates with its neighbour */
    int flip = 0;
    while (1) {
        uint32_t c = w[i];
        if (is_vowel(c)) return flip ? 1 : 0;
        if (c != 'y') return flip ? 0 : 1;
        if (i == 0) return flip ? 0 : 1;
        flip ^= 1;
        i--;
    }
}

/* _measure: the number of "vc" pairs in the c/v pattern of w[0..n). The pattern is built left to
 * right (y's class depends on its left neighbour), so this is linear even for runs of y. */
static int measure(const uint32_t *w, size_t n) {
    int m = 0, prev_c = 1, prev_v = 0;
    for (size_t i = 0; i < n; i++) {
        int c = is_vowel(w[i]) ? 0 : w[i] == 'y' ? (i == 0 ? 1 : !prev_c) : 1;
        if (c && prev_v) m++;
        prev_v = !c;
        prev_c = c;
    }
    return m;
}

static int contains_vowel(const uint32_t *w, size_t n) {
    int prev_c = 1;
    for (size_t i = 0; i < n; i++) {
        int c = is_vowel(w[i]) ? 0 : w[i] == 'y' ? (i == 0 ? 1 : !prev_c) : 1;
        if (!c) return 1;
        prev_c = c;
    }
    return 0;
}

static int ends_double_cons(const uint32_t *w, size_t n) {
    return n >= 2 && w[n - 1] == w[n - 2] && is_cons(w, n - 1);
}

/* *o: consonant-vowel-consonant, the last not w/x/y; NLTK also accepts a 2-letter vowel-consonant. */
static int ends_cvc(const uint32_t *w, size_t n) {
    if (n >= 3 && is_cons(w, n - 3) && !is_cons(w, n - 2) && is_cons(w, n - 1) && w[n - 1] != 'w' &&
        w[n - 1] != 'x' && w[n - 1] != 'y')
        return 1;
    return n == 2 && !is_cons(w, 0) && is_cons(w, 1);
}

static int ends_with_n(const Word *x, const char *suf, size_t k) {
    if (k > x->n) return 0;
    /* the last letter first: it rejects most rules of a list in one comparison */
    if (k && x->w[x->n - 1] != (uint32_t)(unsigned char)suf[k - 1]) return 0;
    for (size_t i = 0; i < k; i++)
        if (x->w[x->n - k + i] != (uint32_t)(unsigned char)suf[i]) return 0;
    return 1;
}
/* string literals only: the length is a compile-time constant */
#define ends_with(x, lit) ends_with_n((x), (lit), sizeof(lit) - 1)

static void append(Word *x, const char *s) {
    for (; *s; s++) x->w[x->n++] = (uint32_t)(unsigned char)*s;
}

enum cond { C_NONE, C_M0, C_M1, C_M1_CVC, C_NOT_LSZ, C_Y, C_ION, C_LOGI, C_LL };
/* one suffix rule; slen = strlen(suffix), filled in by R_ at compile time */
typedef struct { const char *suffix, *repl; enum cond cond; size_t slen; } Rule;
#define R_(suf, rep, c) {suf, rep, c, sizeof(suf) - 1}

/* condition(stem) of the rule; word is the whole word the rule list was applied to */
static int cond_ok(enum cond c, const uint32_t *w, size_t stem_n, size_t word_n) {
    switch (c) {
    case C_NONE: return 1;
    case C_M0: return measure(w, stem_n) > 0;
    case C_M1: return measure(w, stem_n) > 1;
    case C_M1_CVC: return measure(w, stem_n) == 1 && ends_cvc(w, stem_n);
    case C_NOT_LSZ: { uint32_t l = w[word_n - 1]; return l != 'l' && l != 's' && l != 'z'; }
    case C_Y: return stem_n > 1 && is_cons(w, stem_n - 1);
    case C_ION: return measure(w, stem_n) > 1 && (w[stem_n - 1] == 's' || w[stem_n - 1] == 't');
    case C_LOGI: return word_n >= 3 && measure(w, word_n - 3) > 0;
    case C_LL: return measure(w, word_n - 1) > 1;
    }
    return 0;
}

/* _apply_rule_list: the first rule whose suffix matches decides; if its condition fails the word
 * is returned unchanged. "*d" means "ends in a double consonant" (and, as in NLTK, is also
 * tried as the literal suffix "*d"). A replacement of NULL means "the last letter of the word". */
static void apply_rules(Word *x, const Rule *rules, int nrules) {
    for (int r = 0; r < nrules; r++) {
        const Rule *R = &rules[r];
        const char *repl = R->repl;
        uint32_t last = x->n ? x->w[x->n - 1] : 0;
        size_t slen = R->slen;
        if (slen == 2 && R->suffix[0] == '*' && R->suffix[1] == 'd' && ends_double_cons(x->w, x->n)) {
            size_t stem_n = x->n - 2;
            if (cond_ok(R->cond, x->w, stem_n, x->n)) {
                x->n = stem_n;
                if (repl) append(x, repl); else x->w[x->n++] = last;
            }
            return;
        }
        if (ends_with_n(x, R->suffix, slen)) {
            size_t stem_n = x->n - slen;
            if (cond_ok(R->cond, x->w, stem_n, x->n)) {
                x->n = stem_n;
                if (repl) append(x, repl); else x->w[x->n++] = last;
            }
            return;
        }
    }
}

static void step1a(Word *x) {
    if (ends_with(x, "ies") && x->n == 4) { x->n -= 3; append(x, "ie"); return; }
    static const Rule r[] = {R_("sses", "ss", C_NONE), R_("ies", "i", C_NONE), R_("ss", "ss", C_NONE),
                             R_("s", "", C_NONE)};
    apply_rules(x, r, 4);
}

static void step1b(Word *x) {
    if (ends_with(x, "ied")) {
        int four = x->n == 4;
        x->n -= 3;
        append(x, four ? "ie" : "i");
        return;
    }
    if (ends_with(x, "eed")) {
        if (measure(x->w, x->n - 3) > 0) { x->n -= 3; append(x, "ee"); }
        return;
    }
    size_t stem_n = 0;
    int ok = 0;
    if (ends_with(x, "ed") && contains_vowel(x->w, x->n - 2)) { stem_n = x->n - 2; ok = 1; }
    else if (ends_with(x, "ing") && contains_vowel(x->w, x->n - 3)) { stem_n = x->n - 3; ok = 1; }
    if (!ok) return;
    x->n = stem_n; /* the intermediate stem, non-empty since it holds a vowel */
    /* the *d rule's replacement is the intermediate stem's last letter (NULL below) */
    static const Rule r[] = {R_("at", "ate", C_NONE), R_("bl", "ble", C_NONE), R_("iz", "ize", C_NONE),
                             R_("*d", NULL, C_NOT_LSZ), R_("", "e", C_M1_CVC)};
    apply_rules(x, r, 5);
}

static void step1c(Word *x) {
    static const Rule r[] = {R_("y", "i", C_Y)};
    apply_rules(x, r, 1);
}

static void step2(Word *x) {
    if (ends_with(x, "alli") && measure(x->w, x->n - 4) > 0) {
        x->n -= 4;
        append(x, "al");
        step2(x);
        return;
    }
    static const Rule r[] = {
        R_("ational", "ate", C_M0), R_("tional", "tion", C_M0), R_("enci", "ence", C_M0),
        R_("anci", "ance", C_M0),   R_("izer", "ize", C_M0),    R_("bli", "ble", C_M0),
        R_("alli", "al", C_M0),     R_("entli", "ent", C_M0),   R_("eli", "e", C_M0),
        R_("ousli", "ous", C_M0),   R_("ization", "ize", C_M0), R_("ation", "ate", C_M0),
        R_("ator", "ate", C_M0),    R_("alism", "al", C_M0),    R_("iveness", "ive", C_M0),
        R_("fulness", "ful", C_M0), R_("ousness", "ous", C_M0), R_("aliti", "al", C_M0),
        R_("iviti", "ive", C_M0),   R_("biliti", "ble", C_M0),  R_("fulli", "ful", C_M0),
        R_("logi", "log", C_LOGI)};
    apply_rules(x, r, (int)(sizeof r / sizeof r[0]));
}

static void step3(Word *x) {
    static const Rule r[] = {R_("icate", "ic", C_M0), R_("ative", "", C_M0), R_("alize", "al", C_M0),
                             R_("iciti", "ic", C_M0), R_("ical", "ic", C_M0), R_("ful", "", C_M0),
                             R_("ness", "", C_M0)};
    apply_rules(x, r, 7);
}

static void step4(Word *x) {
    static const Rule r[] = {
        R_("al", "", C_M1),   R_("ance", "", C_M1), R_("ence", "", C_M1), R_("er", "", C_M1),
        R_("ic", "", C_M1),   R_("able", "", C_M1), R_("ible", "", C_M1), R_("ant", "", C_M1),
        R_("ement", "", C_M1), R_("ment", "", C_M1), R_("ent", "", C_M1), R_("ion", "", C_ION),
        R_("ou", "", C_M1),   R_("ism", "", C_M1),  R_("ate", "", C_M1),  R_("iti", "", C_M1),
        R_("ous", "", C_M1),  R_("ive", "", C_M1),  R_("ize", "", C_M1)};
    apply_rules(x, r, (int)(sizeof r / sizeof r[0]));
}

static void step5a(Word *x) {
    if (!ends_with(x, "e")) return;
    size_t s = x->n - 1;
    int m = measure(x->w, s);
    if (m > 1 || (m == 1 && !ends_cvc(x->w, s))) x->n = s;
}

static void step5b(Word *x) {
    static const Rule r[] = {R_("ll", "l", C_LL)};
    apply_rules(x, r, 1);
}

/* the irregular pool: word -> stem */
static const char *const POOL[][2] = {
    {"sky", "sky"},       {"skies", "sky"},     {"dying", "die"},       {"lying", "lie"},
    {"tying", "tie"},     {"news", "news"},     {"innings", "inning"},  {"inning", "inning"},
    {"outings", "outing"}, {"outing", "outing"}, {"cannings", "canning"}, {"canning", "canning"},
    {"howe", "howe"},     {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"}};

size_t porter_stem(const uint32_t *word, size_t n, uint32_t *out) {
    /* the pool is checked on the word as given (before lowercasing), as NLTK does */
    for (size_t p = 0; p < sizeof POOL / sizeof POOL[0] && n >= 3 && n <= 8; p++) { /* pool words: 3..8 letters */
        const char *k = POOL[p][0];
        if ((uint32_t)(unsigned char)k[0] != word[0]) continue;
        size_t kl = strlen(k);
        if (kl != n) continue;
        size_t i = 0;
        while (i < n && word[i] == (uint32_t)(unsigned char)k[i]) i++;
        if (i == n) {
            Word x = {out, 0};
            append(&x, POOL[p][1]);
            return x.n;
        }
    }
    /* lowercase into a private buffer: the steps may append a letter after removing two */
    uint32_t small[64];
    uint32_t *buf = 2 * n + 8 <= 64 ? small : malloc(sizeof(uint32_t) * (2 * n + 8));
    if (!buf) { memcpy(out, word, n * sizeof *word); return n; }
    Word x = {buf, py_lower(word, n, buf)};
    /* NLTK tests len(word) of the original word */
    if (n > 2) {
        step1a(&x); step1b(&x); step1c(&x); step2(&x); step3(&x); step4(&x); step5a(&x); step5b(&x);
    }
    size_t len = x.n; /* <= 2n: only lowercasing can lengthen a word */
    memcpy(out, x.w, len * sizeof *out);
    if (buf != small) free(buf);
    return len;
}

int porter_stem_utf8(const char *word, size_t len, char *out, size_t cap) {
    uint32_t small[64];
    uint32_t *cps = len <= 20 ? small : malloc(sizeof(uint32_t) * (3 * len + 4));
    if (!cps) return -1;
    uint32_t *st = cps + len + 1;
    long n = utf8_decode(word, len, cps, NULL);
    int rc = -1;
    if (n >= 0) {
        size_t sn = porter_stem(cps, (size_t)n, st);
        if (4 * sn < cap) {
            size_t b = utf8_encode(st, sn, out);
            out[b] = 0;
            rc = 0;
        }
    }
    if (cps != small) free(cps);
    return rc;
}

/* meteor_treebank.c — nltk.word_tokenize(text, preserve_line=True), i.e. NLTKWordTokenizer
 * .tokenize() of NLTK 3.8 (nltk/tokenize/destructive.py), which Hugging Face `evaluate`'s METEOR
 * uses for one-sentence segments. Each of NLTK's regex substitutions is one pass below, in NLTK's
 * order, scanning left to right with non-overlapping matches as re.sub does. Python's Unicode
 * classes: \w = letters, numbers and '_'; \d = decimal digits (Nd); \s = str.isspace(). The
 * (?i) contractions compare case-insensitively as Python's re does (lc below).
 * mt_treebank_tokenize runs every pass (the reference form). mt_treebank_tokenize_lower, which
 * METEOR calls per line, runs them only on the parts of the line they can change and skips the
 * passes that cannot match; tests/test_treebank.c checks the two against each other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "metrics/meteor_internal.h"

typedef MtCpBuf Buf;

static __attribute__((noinline)) void put_grow(Buf *b, uint32_t c) {
    if (qb_grow((void **)&b->a, &b->cap, b->n + 1, sizeof *b->a)) { b->oom = 1; return; }
    b->a[b->n++] = c;
}
/* every pass copies the text through here: the common case must stay a store */
static inline void put(Buf *b, uint32_t c) {
    if (__builtin_expect(b->n < b->cap, 1)) b->a[b->n++] = c;
    else put_grow(b, c);
}
static void puts_(Buf *b, const char *s) { for (; *s; s++) put(b, (uint32_t)(unsigned char)*s); }

static int is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}
static int is_digit(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND;
}
/* A character as the (?i) patterns compare it: Python's re folds A-Z, and also lets U+0130 'İ' and
 * U+0131 'ı' match i, U+017F 'ſ' match s and U+212A (Kelvin) match k: NLTK splits "gİmme". */
static inline uint32_t lc(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    return c == 0x130 || c == 0x131 ? 'i' : c == 0x17F ? 's' : c == 0x212A ? 'k' : c;
}

/* text[i..] starts with the ASCII string s, case-insensitively when ci */
static int at(const Buf *t, size_t i, const char *s, int ci) {
    for (; *s; s++, i++) {
        if (i >= t->n) return 0;
        uint32_t c = ci ? lc(t->a[i]) : t->a[i];
        if (c != (uint32_t)(unsigned char)*s) return 0;
    }
    return 1;
}
static int in_set(uint32_t c, const uint32_t *set) { for (; *set; set++) if (c == *set) return 1; return 0; }
/* \b at position i (between i-1 and i) */
static int boundary(const Buf *t, size_t i) {
    int l = i > 0 && is_word(t->a[i - 1]), r = i < t->n && is_word(t->a[i]);
    return l != r;
}

/* every code point of set gets spaces around it: re.sub("[set]", r" \g<0> ") */
static void pad_chars(const Buf *in, Buf *out, const uint32_t *set) {
    for (size_t i = 0; i < in->n; i++) {
        if (in_set(in->a[i], set)) { put(out, ' '); put(out, in->a[i]); put(out, ' '); }
        else put(out, in->a[i]);
    }
}

/* ([^\.])(\.)([closers]*)\s*$  ->  "\1 \2<sep>\3 "  (the final period) */
static void final_period(const Buf *in, Buf *out, const uint32_t *closers, const char *sep) {
    size_t n = in->n;
    /* in[q..] matches closers* \s* exactly when q >= cl_from: the trailing whitespace starts at
     * ws_from, and a run of closers (which may include ' ') ends there. */
    size_t ws_from = n;
    while (ws_from > 0 && py_isspace(in->a[ws_from - 1])) ws_from--;
    size_t cl_from = ws_from;
    while (cl_from > 0 && in_set(in->a[cl_from - 1], closers)) cl_from--;
    /* the leftmost p with in[p] != '.', in[p+1] == '.' and p + 2 >= cl_from */
    for (size_t p = cl_from >= 2 ? cl_from - 2 : 0; p + 1 < n; p++) {
        if (in->a[p] == '.' || in->a[p + 1] != '.') continue;
        size_t q = p + 2, e = q;
        /* group 3 is greedy: the whole closer run from q (it reaches ws_from, since q >= cl_from) */
        while (e < n && in_set(in->a[e], closers)) e++;
        for (size_t i = 0; i <= p; i++) put(out, in->a[i]);
        put(out, ' ');
        put(out, '.');
        puts_(out, sep);
        for (size_t i = q; i < e; i++) put(out, in->a[i]);
        put(out, ' ');
        return;
    }
    for (size_t i = 0; i < n; i++) put(out, in->a[i]);
}

typedef void (*Pass)(const Buf *in, Buf *out);

static void sq_quotes(const Buf *in, Buf *out) { /* ([«“‘„]|[`]+) -> " \1 " */
    static const uint32_t q[] = {0xAB, 0x201C, 0x2018, 0x201E, 0};
    for (size_t i = 0; i < in->n;) {
        if (in_set(in->a[i], q)) { put(out, ' '); put(out, in->a[i]); put(out, ' '); i++; }
        else if (in->a[i] == '`') {
            put(out, ' ');
            while (i < in->n && in->a[i] == '`') put(out, in->a[i++]);
            put(out, ' ');
        } else put(out, in->a[i++]);
    }
}
static void sq_start_dq(const Buf *in, Buf *out) { /* ^\" -> `` */
    size_t i = 0;
    if (in->n && in->a[0] == '"') { puts_(out, "``"); i = 1; }
    for (; i < in->n; i++) put(out, in->a[i]);
}
static void sq_backticks(const Buf *in, Buf *out) { /* (``) -> " \1 " */
    for (size_t i = 0; i < in->n;) {
        if (at(in, i, "``", 0)) { puts_(out, " `` "); i += 2; }
        else put(out, in->a[i++]);
    }
}
static void sq_open_dq(const Buf *in, Buf *out) { /* ([ \(\[{<])(\"|\'{2}) -> "\1 `` " */
    static const uint32_t open[] = {' ', '(', '[', '{', '<', 0};
    for (size_t i = 0; i < in->n;) {
        if (in_set(in->a[i], open) && i + 1 < in->n && (in->a[i + 1] == '"' || at(in, i + 1, "''", 0))) {
            put(out, in->a[i]);
            puts_(out, " `` ");
            i += in->a[i + 1] == '"' ? 2 : 3;
        } else put(out, in->a[i++]);
    }
}
static void sq_apos_letter(const Buf *in, Buf *out) { /* (?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b -> "\1 \2" */
    static const char *const no[] = {"re", "ve", "ll", "m", "t", "s", "d", "n"};
    for (size_t i = 0; i < in->n;) {
        if (in->a[i] == '\'' && i + 1 < in->n && is_word(in->a[i + 1]) && boundary(in, i + 2)) {
            int blocked = 0;
            for (int k = 0; k < 8 && !blocked; k++) blocked = at(in, i + 1, no[k], 1);
            if (!blocked) { put(out, '\''); put(out, ' '); put(out, in->a[i + 1]); i += 2; continue; }
        }
        put(out, in->a[i++]);
    }
}
static void p_final1(const Buf *in, Buf *out) {
    static const uint32_t cl[] = {']', ')', '}', '>', '"', '\'', 0xBB, 0x201D, 0x2019, ' ', 0};
    final_period(in, out, cl, " ");
}
static void p_colon_comma(const Buf *in, Buf *out) { /* ([:,])([^\d]) -> " \1 \2" */
    for (size_t i = 0; i < in->n;) {
        uint32_t c = in->a[i];
        if ((c == ':' || c == ',') && i + 1 < in->n && !is_digit(in->a[i + 1])) {
            put(out, ' '); put(out, c); put(out, ' '); put(out, in->a[i + 1]);
            i += 2;
        } else { put(out, c); i++; }
    }
}
static void p_colon_comma_end(const Buf *in, Buf *out) { /* ([:,])$ -> " \1 " */
    size_t n = in->n, last = n;
    if (n && (in->a[n - 1] == ':' || in->a[n - 1] == ',')) last = n - 1;
    else if (n >= 2 && in->a[n - 1] == '\n' && (in->a[n - 2] == ':' || in->a[n - 2] == ',')) last = n - 2;
    for (size_t i = 0; i < n; i++) {
        if (i == last) { put(out, ' '); put(out, in->a[i]); put(out, ' '); }
        else put(out, in->a[i]);
    }
}
static void p_dots(const Buf *in, Buf *out) { /* \.{2,} -> " \g<0> " */
    for (size_t i = 0; i < in->n;) {
        if (at(in, i, "..", 0)) {
            put(out, ' ');
            while (i < in->n && in->a[i] == '.') put(out, in->a[i++]);
            put(out, ' ');
        } else put(out, in->a[i++]);
    }
}
static void p_symbols(const Buf *in, Buf *out) {
    static const uint32_t s[] = {';', '@', '#', '$', '%', '&', 0};
    pad_chars(in, out, s);
}
static void p_final2(const Buf *in, Buf *out) {
    static const uint32_t cl[] = {']', ')', '}', '>', '"', '\'', 0};
    final_period(in, out, cl, "");
}
static void p_qmark(const Buf *in, Buf *out) { static const uint32_t s[] = {'?', '!', 0}; pad_chars(in, out, s); }
static void p_apos_space(const Buf *in, Buf *out) { /* ([^'])' -> "\1 ' " */
    for (size_t i = 0; i < in->n;) {
        if (in->a[i] != '\'' && at(in, i + 1, "' ", 0)) {
            put(out, in->a[i]); puts_(out, " ' ");
            i += 3;
        } else put(out, in->a[i++]);
    }
}
static void p_star(const Buf *in, Buf *out) { static const uint32_t s[] = {'*', 0}; pad_chars(in, out, s); }
static void p_parens(const Buf *in, Buf *out) {
    static const uint32_t s[] = {']', '[', '(', ')', '{', '}', '<', '>', 0};
    pad_chars(in, out, s);
}
static void p_dashes(const Buf *in, Buf *out) { /* -- -> " -- " */
    for (size_t i = 0; i < in->n;) {
        if (at(in, i, "--", 0)) { puts_(out, " -- "); i += 2; }
        else put(out, in->a[i++]);
    }
}
static void p_pad_ends(const Buf *in, Buf *out) {
    put(out, ' ');
    for (size_t i = 0; i < in->n; i++) put(out, in->a[i]);
    put(out, ' ');
}
static void eq_quotes(const Buf *in, Buf *out) { static const uint32_t s[] = {0xBB, 0x201D, 0x2019, 0}; pad_chars(in, out, s); }
static void eq_two_apos(const Buf *in, Buf *out) { /* '' -> " '' " */
    for (size_t i = 0; i < in->n;) {
        if (at(in, i, "''", 0)) { puts_(out, " '' "); i += 2; }
        else put(out, in->a[i++]);
    }
}
static void eq_dq(const Buf *in, Buf *out) { /* " -> " '' " */
    for (size_t i = 0; i < in->n; i++) {
        if (in->a[i] == '"') puts_(out, " '' ");
        else put(out, in->a[i]);
    }
}
/* ([^' ])(alternatives) -> "\1 \2 " where each alternative is followed by a space */
static void eq_clitics(const Buf *in, Buf *out, const char *const *alts, int nalts) {
    for (size_t i = 0; i < in->n;) {
        uint32_t c = in->a[i];
        /* every alternative starts with an apostrophe or n/N: most positions are rejected here */
        uint32_t d = i + 1 < in->n ? in->a[i + 1] : 0, d2 = i + 2 < in->n ? in->a[i + 2] : 0;
        if (c != '\'' && c != ' ' && (d == '\'' || ((d == 'n' || d == 'N') && d2 == '\''))) {
            int hit = -1;
            for (int k = 0; k < nalts && hit < 0; k++) {
                size_t l = strlen(alts[k]);
                if (at(in, i + 1, alts[k], 0) && i + 1 + l < in->n && in->a[i + 1 + l] == ' ') hit = k;
            }
            if (hit >= 0) {
                size_t l = strlen(alts[hit]);
                put(out, c); put(out, ' ');
                for (size_t k = 0; k < l; k++) put(out, in->a[i + 1 + k]);
                put(out, ' ');
                i += l + 2;
                continue;
            }
        }
        put(out, c);
        i++;
    }
}
static void eq_clitic1(const Buf *in, Buf *out) {
    static const char *const a[] = {"'s", "'S", "'m", "'M", "'d", "'D", "'"};
    eq_clitics(in, out, a, 7);
}
static void eq_clitic2(const Buf *in, Buf *out) {
    static const char *const a[] = {"'ll", "'LL", "'re", "'RE", "'ve", "'VE", "n't", "N'T"};
    eq_clitics(in, out, a, 8);
}
/* (?i)\b(A)(B)\b -> " \1 \2 "; end = 1: \b after, 2: (?=\s) after; lead_space: the pattern
 * starts with a literal space instead of \b (CONTRACTIONS3). Writes out and returns 1 when some
 * match was found; returns 0 and writes nothing when the text would pass unchanged (the usual
 * case: these contractions are rare). */
static inline int contraction_at(const Buf *in, size_t i, const char *a, size_t la, const char *b, size_t lb,
                                 int end, int lead_space, size_t *e) {
    size_t f = i + (size_t)lead_space; /* where A starts: reject on its first letter, inline */
    if (f >= in->n || lc(in->a[f]) != (uint32_t)(unsigned char)a[0]) return 0;
    int ok;
    if (lead_space) ok = in->a[i] == ' ' && at(in, i + 1, a, 1) && at(in, i + 1 + la, b, 1);
    else ok = at(in, i, a, 1) && boundary(in, i) && at(in, i + la, b, 1); /* cheapest test first */
    *e = i + (size_t)lead_space + la + lb;
    if (ok) ok = end == 1 ? boundary(in, *e) : (*e < in->n && py_isspace(in->a[*e]));
    return ok;
}
static int contraction(const Buf *in, Buf *out, const char *a, const char *b, int end, int lead_space) {
    size_t la = strlen(a), lb = strlen(b), e, first = 0, off = (size_t)lead_space;
    uint32_t a0 = (uint32_t)(unsigned char)a[0];
    /* (the first-letter test inline: this scan runs over every segment for every contraction) */
    while (first < in->n && (first + off >= in->n || lc(in->a[first + off]) != a0 ||
                             !contraction_at(in, first, a, la, b, lb, end, lead_space, &e)))
        first++;
    if (first == in->n) return 0;
    for (size_t k = 0; k < first; k++) put(out, in->a[k]);
    for (size_t i = first; i < in->n;) {
        if (contraction_at(in, i, a, la, b, lb, end, lead_space, &e)) {
            size_t s = i + (size_t)lead_space;
            put(out, ' ');
            for (size_t k = s; k < s + la; k++) put(out, in->a[k]);
            put(out, ' ');
            for (size_t k = s + la; k < e; k++) put(out, in->a[k]);
            put(out, ' ');
            i = e;
        } else put(out, in->a[i++]);
    }
    return 1;
}
/* a 1024-bit filter of the text's adjacent pairs of characters that lc() makes ASCII */
static unsigned pair_bit(uint32_t c0, uint32_t c1) { return (lc(c0) * 131u + lc(c1)) & 1023u; }
static void pair_filter(const Buf *t, uint64_t bits[16]) {
    memset(bits, 0, 16 * sizeof *bits);
    for (size_t i = 0; i + 1 < t->n; i++)
        if (lc(t->a[i]) < 128 && lc(t->a[i + 1]) < 128) {
            unsigned h = pair_bit(t->a[i], t->a[i + 1]);
            bits[h >> 6] |= 1ULL << (h & 63);
        }
}
static int pair_maybe(const uint64_t bits[16], uint32_t c0, uint32_t c1) {
    unsigned h = pair_bit(c0, c1);
    return (int)(bits[h >> 6] >> (h & 63) & 1);
}
static void swap_bufs(Buf **x, Buf **y) { Buf *t = *x; *x = *y; *y = t; }
/* CONTRACTIONS2 then CONTRACTIONS3, one after the other as NLTK loops over them: a contraction
 * that matches rewrites **t into **tmp, and the two swap (the result is in **t). */
static void contractions(Buf **t, Buf **tmp) {
    static const char *const ab[][2] = {{"can", "not"}, {"d", "'ye"}, {"gim", "me"}, {"gon", "na"},
                                        {"got", "ta"},  {"lem", "me"}, {"more", "'n"}, {"wan", "na"},
                                        {"'t", "is"},   {"'t", "was"}};
    /* A contraction can match only where the text has its first two characters (lowercased)
     * side by side; a filter of the text's character pairs skips most of the ten scans. */
    uint64_t pairs[16];
    pair_filter(*t, pairs);
    for (int k = 0; k < 10; k++) {
        const char *a = ab[k][0], *b = ab[k][1];
        uint32_t p0 = k >= 8 ? ' ' : (uint32_t)(unsigned char)a[0];
        uint32_t p1 = k >= 8 ? '\'' : a[1] ? (uint32_t)(unsigned char)a[1] : (uint32_t)(unsigned char)b[0];
        if (!pair_maybe(pairs, p0, p1)) continue;
        (*tmp)->n = 0;
        if (contraction(*t, *tmp, a, b, k == 7 ? 2 : 1, k >= 8)) {
            swap_bufs(t, tmp);
            pair_filter(*t, pairs);
        }
    }
}

/* ---- which passes can match: the cascade skips the others ---------------------------------------- */
/* The trigger characters of the passes, in classes: a text's classes are one bitmask, and a pass
 * that needs none of its classes cannot match (it would copy the text unchanged). */
enum {
    K_DOT = 1 << 0,
    K_BACKTICK = 1 << 1,
    K_DASH = 1 << 2, /* (no pass needs a lone -) */
    K_APOS = 1 << 3,
    K_OPENQ = 1 << 4, /* « “ ‘ „ */
    K_DQ = 1 << 5,
    K_COLON = 1 << 6, /* : , */
    K_SYM = 1 << 7,   /* ; @ # $ % & */
    /* the same character twice: its class << 8 */
    K_DOTS = K_DOT << 8,     /* .. */
    K_BT2 = K_BACKTICK << 8, /* `` */
    K_DASHES = K_DASH << 8,  /* -- */
    K_APOS2 = K_APOS << 8,   /* '' */
    K_QMARK = 1 << 12,  /* ? ! */
    K_STAR = 1 << 13,
    K_PAREN = 1 << 14,  /* ] [ ( ) { } < > */
    K_CLOSEQ = 1 << 15, /* » ” ’ */
    K_CLET = 1 << 16,   /* where a CONTRACTIONS2 word can start: after no ASCII word character
                         * (\b), the first three letters of one (can, d'y, gim...), either case */
    /* ' followed by */
    K_APOST = 1 << 17, /* t or T: CONTRACTIONS3 */
    K_APOSL = 1 << 18, /* l r v t, either case: 'll 're 've n't */
    K_APOSW = 1 << 19, /* a word character but m t s d n, either case: (\')(?!re|...|n)(\w) */
    NCLASSES = 20
};
static const uint32_t TRIG[128] = {
    ['`'] = K_BACKTICK, ['"'] = K_DQ,    ['\''] = K_APOS, ['.'] = K_DOT,   [':'] = K_COLON, [','] = K_COLON,
    [';'] = K_SYM,      ['@'] = K_SYM,   ['#'] = K_SYM,   ['$'] = K_SYM,   ['%'] = K_SYM,   ['&'] = K_SYM,
    ['?'] = K_QMARK,    ['!'] = K_QMARK, ['*'] = K_STAR,  ['['] = K_PAREN, [']'] = K_PAREN, ['('] = K_PAREN,
    [')'] = K_PAREN,    ['{'] = K_PAREN, ['}'] = K_PAREN, ['<'] = K_PAREN, ['>'] = K_PAREN, ['-'] = K_DASH,
    ['c'] = K_CLET,     ['d'] = K_CLET,  ['g'] = K_CLET,  ['l'] = K_CLET,  ['m'] = K_CLET,  ['w'] = K_CLET,
    ['C'] = K_CLET,     ['D'] = K_CLET,  ['G'] = K_CLET,  ['L'] = K_CLET,  ['M'] = K_CLET,  ['W'] = K_CLET,
};
static unsigned trig(uint32_t c) {
    if (c < 128) return TRIG[c];
    switch (c) {
    case 0xAB: case 0x201C: case 0x2018: case 0x201E: return K_OPENQ;
    case 0xBB: case 0x201D: case 0x2019: return K_CLOSEQ;
    default: return 0;
    }
}
/* Tables of 256 or 128 entries, written as an expression of the byte c */
#define BYTES4(F, c) F(c), F((c) + 1), F((c) + 2), F((c) + 3)
#define BYTES16(F, c) BYTES4(F, c), BYTES4(F, (c) + 4), BYTES4(F, (c) + 8), BYTES4(F, (c) + 12)
#define BYTES64(F, c) BYTES16(F, c), BYTES16(F, (c) + 16), BYTES16(F, (c) + 32), BYTES16(F, (c) + 48)
#define IS_ASCII_WORD(c) (((c) >= '0' && (c) <= '9') || (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z') || (c) == '_')
#define LOWER_IS(c, x) (((c) | 0x20) == (x))
/* The classes of an apostrophe and the character c after it (any non-ASCII c may be \w). */
#define AFTER_APOS_OF(c)                                                                                    \
    (LOWER_IS(c, 't')                                        ? K_APOST | K_APOSL                            \
     : LOWER_IS(c, 'l') || LOWER_IS(c, 'r') || LOWER_IS(c, 'v') ? K_APOSL | K_APOSW                          \
     : LOWER_IS(c, 'm') || LOWER_IS(c, 's') || LOWER_IS(c, 'd') || LOWER_IS(c, 'n') ? 0                      \
     : IS_ASCII_WORD(c)                                      ? K_APOSW                                      \
                                                             : 0)
static const uint32_t AFTER_APOS[129] = {BYTES64(AFTER_APOS_OF, 0), BYTES64(AFTER_APOS_OF, 64), K_APOSW};
/* Byte classes (the fast path's): ASCII \w, ASCII whitespace (str.isspace), other ASCII, and the
 * bytes of non-ASCII characters. */
enum { B_OTHER, B_WORD, B_SPACE, B_HIGH };
#define BCLASS_OF(c)                                                                                        \
    ((c) >= 0x80                                                     ? B_HIGH                               \
     : ((c) >= 0x09 && (c) <= 0x0D) || ((c) >= 0x1C && (c) <= 0x20) ? B_SPACE                              \
     : IS_ASCII_WORD(c)                                              ? B_WORD                               \
                                                                     : B_OTHER)
static const unsigned char BCLASS[256] = {BYTES64(BCLASS_OF, 0), BYTES64(BCLASS_OF, 64), BYTES64(BCLASS_OF, 128),
                                          BYTES64(BCLASS_OF, 192)};

/* t[i..] starts like a CONTRACTIONS2 word (ASCII case-insensitively, as contraction_at) */
static int contraction_prefix(const Buf *t, size_t i) {
    static const char p[][4] = {"can", "d'y", "gim", "gon", "got", "lem", "mor", "wan"};
    if (i + 3 > t->n) return 0;
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++)
        if (lc(t->a[i]) == (uint32_t)p[k][0] && lc(t->a[i + 1]) == (uint32_t)p[k][1] &&
            lc(t->a[i + 2]) == (uint32_t)p[k][2])
            return 1;
    return 0;
}
/* The trigger classes of a text, with few branches (they mispredict on every other character). */
static unsigned classes_of(const Buf *t) {
    unsigned have = 0, prevk = 0;
    uint32_t prev = ' ';
    for (size_t i = 0; i < t->n; prev = t->a[i++]) {
        uint32_t c = t->a[i];
        unsigned k = trig(c);
        /* \b before a CONTRACTIONS2 word: not after an ASCII word character (a non-ASCII one may
         * be a boundary) */
        k &= ~(K_CLET & -(unsigned)((prev < 0x80) & (BCLASS[prev & 0x7F] == B_WORD)));
        if ((k & K_CLET) && !contraction_prefix(t, i)) k &= ~(unsigned)K_CLET;
        k |= (k & prevk & (K_DOT | K_BACKTICK | K_DASH | K_APOS)) << 8;
        k |= AFTER_APOS[c < 128 ? c : 128] & -(unsigned)(prev == '\'');
        have |= k;
        prevk = k;
    }
    return have;
}

/* The passes in NLTK's order, with the trigger classes each needs, the classes it may add to the
 * text and the end of the line its pattern is anchored at (^ or $: see cascade). An X-macro, so
 * that the sets of passes below are constants. */
enum { AT_START = 1, AT_END = 2 };
#define TB_PASSES(X, arg)                                                                                   \
    X(arg, sq_quotes, K_OPENQ | K_BACKTICK, 0, 0)                                                           \
    X(arg, sq_start_dq, K_DQ, K_BACKTICK | K_BT2, AT_START)                                                 \
    X(arg, sq_backticks, K_BT2, 0, 0)                                                                       \
    X(arg, sq_open_dq, K_DQ | K_APOS2, K_BACKTICK | K_BT2, 0)                                               \
    X(arg, sq_apos_letter, K_APOSW, 0, 0)                                                                   \
    X(arg, p_final1, K_DOT, 0, AT_END)                                                                      \
    X(arg, p_colon_comma, K_COLON, 0, 0)                                                                    \
    X(arg, p_colon_comma_end, K_COLON, 0, AT_END)                                                           \
    X(arg, p_dots, K_DOTS, 0, 0)                                                                            \
    X(arg, p_symbols, K_SYM, 0, 0)                                                                          \
    X(arg, p_final2, K_DOT, 0, AT_END)                                                                      \
    X(arg, p_qmark, K_QMARK, 0, 0)                                                                          \
    X(arg, p_apos_space, K_APOS, 0, 0)                                                                      \
    X(arg, p_star, K_STAR, 0, 0)                                                                            \
    X(arg, p_parens, K_PAREN, 0, 0)                                                                         \
    X(arg, p_dashes, K_DASHES, 0, 0)                                                                        \
    /* padding matters only to the passes after it: without their triggers it would only add       \
     * whitespace at the ends, which text.split() drops */                                                  \
    X(arg, p_pad_ends, K_CLOSEQ | K_APOS | K_DQ | K_CLET, 0, 0)                                             \
    X(arg, eq_quotes, K_CLOSEQ, 0, 0)                                                                       \
    X(arg, eq_two_apos, K_APOS2, 0, 0)                                                                      \
    X(arg, eq_dq, K_DQ, K_APOS | K_APOS2, 0)                                                                \
    X(arg, eq_clitic1, K_APOS, 0, 0)                                                                        \
    X(arg, eq_clitic2, K_APOSL, 0, 0)
#define PASS_INDEX(arg, f, need, adds, anchor) PASS_##f,
enum { TB_PASSES(PASS_INDEX, _) NPASSES };
#define PASS_ROW(arg, f, need, adds, anchor) {f, adds},
static const struct { Pass f; unsigned adds; } PASSES[] = {TB_PASSES(PASS_ROW, _)};
/* the passes that need class bit c; those that the anchors a allow */
#define PASS_IF_NEEDS(c, f, need, adds, anchor) | ((need) & (1u << (c)) ? 1u << PASS_##f : 0u)
#define PASS_IF_ALLOWED(a, f, need, adds, anchor) | ((anchor) & ~(a) ? 0u : 1u << PASS_##f)
#define NEEDING(c) (0u TB_PASSES(PASS_IF_NEEDS, c))
#define ALLOWING(a) (0u TB_PASSES(PASS_IF_ALLOWED, a))
static const uint32_t BY_CLASS[NCLASSES] = {
    NEEDING(0),  NEEDING(1),  NEEDING(2),  NEEDING(3),  NEEDING(4),  NEEDING(5),  NEEDING(6),
    NEEDING(7),  NEEDING(8),  NEEDING(9),  NEEDING(10), NEEDING(11), NEEDING(12), NEEDING(13),
    NEEDING(14), NEEDING(15), NEEDING(16), NEEDING(17), NEEDING(18), NEEDING(19)};
static const uint32_t ALLOWED[4] = {ALLOWING(0), ALLOWING(1), ALLOWING(2), ALLOWING(3)};
_Static_assert(NCLASSES == 20 && NPASSES <= 32, "BY_CLASS lists every class; a pass set fits 32 bits");

/* The passes that can match a text with the trigger classes have, under the anchors, as bits. */
static uint32_t runnable(unsigned have, int anchors) {
    uint32_t m = 0;
    for (; have; have &= have - 1) m |= BY_CLASS[__builtin_ctz(have)];
    return m & ALLOWED[anchors];
}
/* The passes on the text in *text (*scratch: their other buffer), the result in *text. anchors
 * says which ends of the text are the ends of the line: the passes anchored by ^ (or $) run only
 * when the text starts (or ends) the line. every: run every pass, as if the text had every
 * trigger (the reference form); otherwise only those that can match. Returns -1 when out of
 * memory. */
static int cascade(Buf *text, Buf *scratch, int anchors, int every) {
    Buf *t = text, *tmp = scratch; /* swapped by pointer: the passes read them right after */
    t->oom = tmp->oom = 0;
    unsigned have = every ? (1u << NCLASSES) - 1 : classes_of(t);
    for (uint32_t todo = runnable(have, anchors); todo;) {
        int k = __builtin_ctz(todo);
        todo &= todo - 1;
        tmp->n = 0;
        PASSES[k].f(t, tmp);
        swap_bufs(&t, &tmp);
        /* Besides spaces, a pass adds only the classes in its adds (a character it removes may
         * stay in have, which costs at most a pass that changes nothing). No pass puts two
         * characters of the text side by side that were not (it inserts spaces, never removes a
         * character between two others), so the pairs above only get lost. A space goes only
         * next to a character that is not a word character or before a clitic (' or n): it
         * starts no CONTRACTIONS2 word. */
        if (PASSES[k].adds & ~have) {
            have |= PASSES[k].adds;
            todo = runnable(have, anchors) & ~((2u << k) - 1);
        }
    }
    if (have & (K_CLET | K_APOST)) contractions(&t, &tmp);
    if (t != text) { Buf x = *text; *text = *scratch; *scratch = x; }
    return text->oom || scratch->oom ? -1 : 0;
}

static int buf_reserve(Buf *b, size_t n) { return qb_grow((void **)&b->a, &b->cap, n, sizeof *b->a); }

/* text.split() of the cascade's result: pushes every token as UTF-8, lowercased by str.lower()
 * when lower is set (each token on its own: the final-sigma rule looks only inside it). */
static int push_split(MtTreebank *tb, int lower, MtTokens *out) {
    const Buf *t = &tb->text;
    for (size_t i = 0; i < t->n;) {
        while (i < t->n && py_isspace(t->a[i])) i++;
        size_t j = i;
        uint32_t any = 0;
        while (j < t->n && !py_isspace(t->a[j])) any |= t->a[j++];
        if (j == i) break;
        size_t len = j - i, nb = 0;
        const uint32_t *cp = t->a + i;
        if (qb_grow((void **)&tb->low, &tb->low_cap, 2 * len, sizeof *tb->low) || qb_grow((void **)&tb->u8, &tb->u8_cap, 8 * len, 1))
            return -1;
        if (lower && any < 0x80) /* ASCII: str.lower() is A-Z only */
            for (; nb < len; nb++) tb->u8[nb] = (char)(cp[nb] + (cp[nb] - 'A' < 26u ? 32 : 0));
        else if (lower)
            nb = utf8_encode(tb->low, py_lower(cp, len, tb->low), tb->u8);
        else
            nb = utf8_encode(cp, len, tb->u8);
        if (mt_tokens_push(out, tb->u8, nb) != 0) return -1;
        i = j;
    }
    return 0;
}

int mt_treebank_tokenize(const uint32_t *cps, size_t n, MtTokens *out) {
    MtTreebank w = {0};
    int rc = -1;
    if (buf_reserve(&w.text, n) == 0) {
        if (n) memcpy(w.text.a, cps, n * sizeof *cps);
        w.text.n = n;
        if (cascade(&w.text, &w.tmp, AT_START | AT_END, 1) == 0) rc = push_split(&w, 0, out);
    }
    mt_treebank_free(&w);
    return rc;
}

void mt_treebank_free(MtTreebank *tb) {
    free(tb->text.a); free(tb->tmp.a);
    free(tb->low); free(tb->u8); free(tb->lc); free(tb->memo);
    memset(tb, 0, sizeof *tb);
}

/* ---- the fast path: only the spans that NLTK's passes can change go through them ----------------
 * The line is split on whitespace into chunks. A chunk of ASCII word characters [A-Za-z0-9_] is
 * inert: every pass needs a trigger character (quote, punctuation, bracket...) in the same chunk,
 * starts its match at most one (whitespace) character before such a chunk and ends it at most one
 * after; so no pass looks at an inert chunk's characters. The contractions can match inside a
 * chunk of word characters only as the whole chunk (\b holds only at its ends), hence the list of
 * words below. An inert chunk is one token as it stands. A maximal run of other chunks (a span)
 * goes through the cascade with the whitespace character on each side of it, verbatim (a tab is
 * not a space to the passes); a span that does not start (end) the line runs without the passes
 * anchored at ^ ($). The first span takes all the line's leading whitespace and the last all its
 * trailing whitespace, so that those passes see what they see in the line. */

/* The length in bytes of the character that starts with byte b (valid UTF-8). */
static inline size_t char_len(unsigned char b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }
static __attribute__((noinline)) size_t high_space(const unsigned char *s, size_t i) {
    uint32_t c;
    size_t len = char_len(s[i]);
    utf8_decode((const char *)s + i, len, &c, NULL);
    return py_isspace(c) ? len : 0;
}
/* The length of the whitespace character at s[i] (valid UTF-8), 0 when it is not whitespace. */
static inline size_t space_at(const unsigned char *s, size_t i) {
    unsigned k = BCLASS[s[i]];
    return k == B_HIGH ? high_space(s, i) : k == B_SPACE;
}
/* The chunks of word characters that CONTRACTIONS2 split: (?i)cannot, gimme, gonna, gotta, lemme,
 * wanna (followed by \s, which the padded text always has). */
static int contraction_word(const char *lc, size_t len) {
    static const char w[][7] = {"cannot", "gimme", "gonna", "gotta", "lemme", "wanna"};
    /* one branch, almost never taken: 5 or 6 letters, the first c, g, l or w */
    unsigned f = (unsigned char)lc[0] - 'a';
    if (!((len - 5 < 2) & (f < 26) & (0x400844u >> (f & 31)))) return 0;
    for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
        size_t i = 0;
        while (i < len && lc[i] == w[k][i]) i++;
        if (i == len && !w[k][i]) return 1;
    }
    return 0;
}
static int all_ascii(const unsigned char *s, size_t n) {
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= s[i];
    return !(acc & 0x8080808080808080ULL);
}
static const uint64_t ONES = 0x0101010101010101ULL, HIGH = 0x8080808080808080ULL;
/* per byte of x (bytes < 0x80), its high bit set when the byte is >= c: no carries cross bytes */
#define GE(x, c) ((x) + (0x80 - (c)) * ONES)
/* s[0..n) with ASCII A-Z lowercased into out, 8 bytes at a time, then 8 NUL bytes (for
 * word_end). Other bytes are copied unchanged; the inert chunks are pushed from there. */
static void lower_ascii(const unsigned char *s, size_t n, char *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, x;
        memcpy(&w, s + i, 8);
        x = w & ~HIGH;
        w ^= (GE(x, 'A') & ~GE(x, 'Z' + 1) & ~w & HIGH) >> 2; /* 0x80 >> 2 = 0x20 */
        memcpy(out + i, &w, 8);
    }
    for (; i < n; i++) out[i] = (char)(s[i] + ((unsigned)(s[i] - 'A') < 26u ? 32 : 0));
    memset(out + n, 0, 8);
}
/* The end of the run of ASCII word characters at lc[i..] (lower_ascii's output), 8 bytes at a
 * time: a branch per byte would mispredict at the end of every word. */
static inline size_t word_end(const char *lc, size_t i) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (;; i += 8) {
        uint64_t w, x;
        memcpy(&w, lc + i, 8);
        x = w & ~HIGH;
        uint64_t word = (GE(x, 'a') & ~GE(x, 'z' + 1)) | (GE(x, '0') & ~GE(x, '9' + 1)) | (GE(x, '_') & ~GE(x, '_' + 1));
        uint64_t stop = (~word | w) & HIGH; /* bytes that are not ASCII word characters */
        if (stop) return i + (size_t)(__builtin_ctzll(stop) >> 3);
    }
#else
    while (BCLASS[(unsigned char)lc[i]] == B_WORD) i++;
    return i;
#endif
}
#undef GE
/* A memo of spans: the same span (its bytes and anchors) gives the same tokens, and spans repeat
 * (" , " " . " " &quot; " " year, " ...): a direct-mapped table of the short ones, 256 KB. */
enum { MEMO_SLOTS = 4096, MEMO_KEY = 21, MEMO_OUT = 32 };
struct MtTbMemo {
    uint64_t hash; /* of the key and anchors; 0: empty */
    uint8_t klen, olen, anchors;
    char key[MEMO_KEY];
    unsigned char out[MEMO_OUT]; /* per token: its length, then its bytes */
};
_Static_assert(sizeof(struct MtTbMemo) == 64, "an entry is a cache line");
static int memo_push(const struct MtTbMemo *e, MtTokens *out) {
    for (size_t i = 0; i < e->olen; i += 1 + (size_t)e->out[i])
        if (mt_tokens_push(out, (const char *)e->out + i + 1, e->out[i]) != 0) return -1;
    return 0;
}
/* records the tokens out[first..] as the entry's, when they fit */
static void memo_store(struct MtTbMemo *e, uint64_t h, const unsigned char *key, size_t klen, int anchors,
                       const MtTokens *out, int first) {
    size_t o = 0;
    for (int t = first; t < out->n; t++) {
        size_t len = (size_t)out->len[t];
        if (o + 1 + len > MEMO_OUT) { e->hash = 0; return; }
        e->out[o] = (unsigned char)len;
        memcpy(e->out + o + 1, out->buf + out->off[t], len);
        o += 1 + len;
    }
    e->hash = h;
    e->klen = (uint8_t)klen;
    e->olen = (uint8_t)o;
    e->anchors = (uint8_t)anchors;
    memcpy(e->key, key, klen);
}
/* The span line[from..to) (valid UTF-8) through the cascade, its tokens lowercased and pushed. */
static int push_span(MtTreebank *tb, const unsigned char *line, size_t from, size_t to, int anchors,
                     MtTokens *out) {
    const unsigned char *key = line + from;
    size_t klen = to - from;
    struct MtTbMemo *e = NULL;
    uint64_t h = 0;
    if (klen <= MEMO_KEY && (tb->memo || (tb->memo = calloc(MEMO_SLOTS, sizeof *tb->memo)) != NULL)) {
        h = (mt_hash((const char *)key, klen) ^ (uint64_t)anchors) | 1; /* never 0 */
        e = &tb->memo[h >> 32 & (MEMO_SLOTS - 1)];
        if (e->hash == h && e->klen == klen && e->anchors == anchors && memcmp(e->key, key, klen) == 0)
            return memo_push(e, out);
    }
    int first = out->n;
    if (buf_reserve(&tb->text, klen) != 0) return -1;
    long m = utf8_decode((const char *)key, klen, tb->text.a, NULL);
    tb->text.n = m < 0 ? 0 : (size_t)m;
    if (cascade(&tb->text, &tb->tmp, anchors, 0) != 0 || push_split(tb, 1, out) != 0) return -1;
    if (e) memo_store(e, h, key, klen, anchors, out, first);
    return 0;
}

int mt_treebank_tokenize_lower(MtTreebank *tb, const char *line, size_t n, MtTokens *out, const char *what,
                               char err[QB_ERRLEN]) {
    const unsigned char *s = (const unsigned char *)line;
    out->n = 0;
    out->used = 0;
    if (qb_grow((void **)&tb->lc, &tb->lc_cap, n + 8, 1) != 0) goto oom;
    if (!all_ascii(s, n)) { /* validate once; from here on the line is valid UTF-8 */
        size_t bad = 0;
        if (buf_reserve(&tb->text, n) != 0) goto oom;
        if (utf8_decode(line, n, tb->text.a, &bad) < 0) {
            snprintf(err, QB_ERRLEN, "%s: invalid UTF-8 at byte %zu", what, bad);
            return -1;
        }
    }
    lower_ascii(s, n, tb->lc);
    /* the open span: from where its text starts, to the end of the whitespace character after its
     * last chunk so far; first: it holds the line's first chunk */
    int open = 0, first = 0;
    size_t from = 0, to = 0;
    for (size_t i = 0, nchunk = 0;; nchunk++) {
        size_t last_space = 0, space_end = 0, len; /* the last whitespace character before the chunk */
        while (i < n && (len = space_at(s, i)) != 0) {
            if (!space_end) space_end = i + len;
            last_space = i;
            i += len;
        }
        if (i == n) break;
        if (open) to = space_end; /* the whitespace just after the span's last chunk */
        size_t cs = i;
        i = word_end(tb->lc, i);
        int inert = i == n || space_at(s, i);
        if (!inert)
            while (i < n && !space_at(s, i)) i += char_len(s[i]);
        else if (contraction_word(tb->lc + cs, i - cs))
            inert = 0;
        if (!inert && !open) {
            open = 1;
            first = nchunk == 0;
            from = first ? 0 : last_space;
        } else if (inert) {
            if (open && push_span(tb, s, from, to, first ? AT_START : 0, out) != 0) goto oom;
            open = 0;
            if (mt_tokens_push(out, tb->lc + cs, i - cs) != 0) goto oom;
        }
    }
    if (open && push_span(tb, s, from, n, (first ? AT_START : 0) | AT_END, out) != 0) goto oom;
    return 0;
oom:
    snprintf(err, QB_ERRLEN, "%s: out of memory", what);
    return -1;
}

/* meteor_treebank.c — nltk.word_tokenize(text, preserve_line=True), i.e. NLTKWordTokenizer
 * .tokenize() of NLTK 3.8 (nltk/tokenize/destructive.py), which Hugging Face `evaluate`'s METEOR
 * uses for one-sentence segments. Each of NLTK's regex substitutions is one pass below, in NLTK's
 * order, scanning left to right with non-overlapping matches as re.sub does. Python's Unicode
 * classes: \w = letters, numbers and '_'; \d = decimal digits (Nd); \s = str.isspace(). The
 * (?i) contractions compare ASCII case-insensitively. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "metrics/meteor_internal.h"

typedef struct { uint32_t *a; size_t n, cap; int oom; } Buf;

static __attribute__((noinline)) void put_grow(Buf *b, uint32_t c) {
    size_t nc = b->cap ? 2 * b->cap : 256;
    uint32_t *a = realloc(b->a, nc * sizeof *a);
    if (!a) { b->oom = 1; return; }
    b->a = a;
    b->cap = nc;
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
static inline uint32_t lc(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

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
/* Which trigger characters a text holds: ASCII as a 128-bit mask, plus one bit per non-ASCII
 * quote that a pass looks for. Passes that cannot match are skipped by testing this mask. */
typedef struct { uint64_t lo, hi; uint32_t wide; } Mask;
static const uint32_t WIDE[] = {0xAB, 0x201C, 0x2018, 0x201E, 0xBB, 0x201D, 0x2019};
static void mask_add(Mask *m, uint32_t c) {
    if (c < 64) m->lo |= 1ULL << c;
    else if (c < 128) m->hi |= 1ULL << (c - 64);
    else
        for (int k = 0; k < 7; k++)
            if (c == WIDE[k]) m->wide |= 1u << k;
}
static Mask mask_of_set(const uint32_t *set) {
    Mask m = {0, 0, 0};
    for (; *set; set++) mask_add(&m, *set);
    return m;
}
static Mask mask_of_text(const Buf *t) {
    Mask m = {0, 0, 0};
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->a[i];
        if (c < 64) m.lo |= 1ULL << c;
        else if (c < 128) m.hi |= 1ULL << (c - 64);
        else if (c == 0xAB || (c >= 0x2018 && c <= 0x201E) || c == 0xBB) mask_add(&m, c);
    }
    return m;
}
static int mask_meets(const Mask *text, const Mask *need) {
    return (text->lo & need->lo) || (text->hi & need->hi) || (text->wide & need->wide);
}
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
/* a 1024-bit filter of the text's adjacent pairs of ASCII characters, lowercased */
static unsigned pair_bit(uint32_t c0, uint32_t c1) { return (lc(c0) * 131u + lc(c1)) & 1023u; }
static void pair_filter(const Buf *t, uint64_t bits[16]) {
    memset(bits, 0, 16 * sizeof *bits);
    for (size_t i = 0; i + 1 < t->n; i++)
        if (t->a[i] < 128 && t->a[i + 1] < 128) {
            unsigned h = pair_bit(t->a[i], t->a[i + 1]);
            bits[h >> 6] |= 1ULL << (h & 63);
        }
}
static int pair_maybe(const uint64_t bits[16], uint32_t c0, uint32_t c1) {
    unsigned h = pair_bit(c0, c1);
    return (int)(bits[h >> 6] >> (h & 63) & 1);
}
static void c2(const Buf *in, Buf *out) {
    /* applied one after the other, as NLTK loops over CONTRACTIONS2 (then CONTRACTIONS3); the
     * text is in x, a pass that matches writes y and the two swap */
    static const char *const ab[][2] = {{"can", "not"}, {"d", "'ye"}, {"gim", "me"}, {"gon", "na"},
                                        {"got", "ta"},  {"lem", "me"}, {"more", "'n"}, {"wan", "na"},
                                        {"'t", "is"},   {"'t", "was"}};
    Buf x = {0}, y = {0};
    for (size_t i = 0; i < in->n; i++) put(&x, in->a[i]);
    /* A contraction can match only where the text has its first two characters (lowercased)
     * side by side; a filter of the text's character pairs skips most of the ten scans. */
    uint64_t pairs[16];
    pair_filter(&x, pairs);
    for (int k = 0; k < 10; k++) {
        const char *a = ab[k][0], *b = ab[k][1];
        uint32_t p0 = k >= 8 ? ' ' : (uint32_t)(unsigned char)a[0];
        uint32_t p1 = k >= 8 ? '\'' : a[1] ? (uint32_t)(unsigned char)a[1] : (uint32_t)(unsigned char)b[0];
        if (!pair_maybe(pairs, p0, p1)) continue;
        y.n = 0;
        if (contraction(&x, &y, a, b, k == 7 ? 2 : 1, k >= 8)) {
            Buf t = x; x = y; y = t;
            pair_filter(&x, pairs);
        }
    }
    for (size_t i = 0; i < x.n; i++) put(out, x.a[i]);
    if (x.oom || y.oom) out->oom = 1;
    free(x.a);
    free(y.a);
}

/* The passes in NLTK's order, each with the characters without which it cannot match (and so
 * would copy the text unchanged): most segments have few of them, and skipping saves a copy. */
static const uint32_t T_QUOTES[] = {0xAB, 0x201C, 0x2018, 0x201E, '`', 0}, T_DQ[] = {'"', 0},
                      T_BACKTICK[] = {'`', 0}, T_QUOTE[] = {'"', '\'', 0}, T_APOS[] = {'\'', 0},
                      T_DOT[] = {'.', 0}, T_COLON[] = {':', ',', 0}, T_SYM[] = {';', '@', '#', '$', '%', '&', 0},
                      T_QMARK[] = {'?', '!', 0}, T_STAR[] = {'*', 0},
                      T_PARENS[] = {']', '[', '(', ')', '{', '}', '<', '>', 0}, T_DASH[] = {'-', 0},
                      T_EQUOTES[] = {0xBB, 0x201D, 0x2019, 0};
static const struct { Pass f; const uint32_t *need; } PASSES[] = {
    {sq_quotes, T_QUOTES},   {sq_start_dq, T_DQ},        {sq_backticks, T_BACKTICK},
    {sq_open_dq, T_QUOTE},   {sq_apos_letter, T_APOS},   {p_final1, T_DOT},
    {p_colon_comma, T_COLON}, {p_colon_comma_end, T_COLON}, {p_dots, T_DOT},
    {p_symbols, T_SYM},      {p_final2, T_DOT},          {p_qmark, T_QMARK},
    {p_apos_space, T_APOS},  {p_star, T_STAR},           {p_parens, T_PARENS},
    {p_dashes, T_DASH},      {p_pad_ends, NULL},         {eq_quotes, T_EQUOTES},
    {eq_two_apos, T_APOS},   {eq_dq, T_DQ},              {eq_clitic1, T_APOS},
    {eq_clitic2, T_APOS},    {c2, NULL}};

int mt_treebank_tokenize(const uint32_t *cps, size_t n, MtTokens *out) {
    Buf a = {0}, b = {0};
    int rc = -1;
    for (size_t i = 0; i < n; i++) put(&a, cps[i]);
    Mask have = mask_of_text(&a);
    for (size_t k = 0; k < sizeof PASSES / sizeof PASSES[0]; k++) {
        if (PASSES[k].need) {
            Mask need = mask_of_set(PASSES[k].need);
            if (!mask_meets(&have, &need)) continue;
        }
        Pass pass = PASSES[k].f;
        b.n = 0;
        pass(&a, &b);
        if (a.oom || b.oom) goto done;
        Buf t = a; a = b; b = t;
        /* a pass only adds ' ', '`', '\'' and copies of what was there (a character it removes
         * may stay in the mask, which costs at most a pass that changes nothing) */
        mask_add(&have, ' ');
        mask_add(&have, '`');
        mask_add(&have, '\'');
    }
    /* text.split() */
    char *u8 = malloc(4 * a.n + 1);
    if (!u8) goto done;
    for (size_t i = 0; i < a.n;) {
        while (i < a.n && py_isspace(a.a[i])) i++;
        size_t j = i;
        while (j < a.n && !py_isspace(a.a[j])) j++;
        if (j > i && mt_tokens_push(out, u8, utf8_encode(a.a + i, j - i, u8)) != 0) { free(u8); goto done; }
        i = j;
    }
    free(u8);
    rc = 0;
done:
    free(a.a);
    free(b.a);
    return rc;
}

void mt_treebank_free(MtTreebank *tb) {
    free(tb->cps); free(tb->low); free(tb->u8);
    mt_tokens_free(&tb->raw);
    memset(tb, 0, sizeof *tb);
}

int mt_treebank_tokenize_lower(MtTreebank *tb, const char *line, size_t n, MtTokens *out, const char *what,
                               char err[QB_ERRLEN]) {
    out->n = 0;
    out->used = 0;
    if (n + 1 > tb->cap) {
        uint32_t *c = realloc(tb->cps, sizeof(uint32_t) * (n + 1));
        if (c) tb->cps = c;
        uint32_t *l = realloc(tb->low, sizeof(uint32_t) * (2 * n + 1));
        if (l) tb->low = l;
        char *u = realloc(tb->u8, 8 * n + 1);
        if (u) tb->u8 = u;
        if (!c || !l || !u) { snprintf(err, QB_ERRLEN, "%s: out of memory", what); return -1; }
        tb->cap = n + 1;
    }
    size_t bad = 0;
    long ncp = utf8_decode(line, n, tb->cps, &bad);
    if (ncp < 0) { snprintf(err, QB_ERRLEN, "%s: invalid UTF-8 at byte %zu", what, bad); return -1; }
    tb->raw.n = 0;
    tb->raw.used = 0;
    if (mt_treebank_tokenize(tb->cps, (size_t)ncp, &tb->raw) != 0) {
        snprintf(err, QB_ERRLEN, "%s: out of memory", what);
        return -1;
    }
    for (int t = 0; t < tb->raw.n; t++) {
        long m = utf8_decode(tb->raw.buf + tb->raw.off[t], (size_t)tb->raw.len[t], tb->cps, NULL);
        size_t ln = py_lower(tb->cps, (size_t)(m < 0 ? 0 : m), tb->low);
        if (mt_tokens_push(out, tb->u8, utf8_encode(tb->low, ln, tb->u8)) != 0) {
            snprintf(err, QB_ERRLEN, "%s: out of memory", what);
            return -1;
        }
    }
    return 0;
}

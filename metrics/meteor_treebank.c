/* meteor_treebank.c — nltk.word_tokenize(text, preserve_line=True), i.e. NLTKWordTokenizer
 * .tokenize() of NLTK 3.8 (nltk/tokenize/destructive.py), which Hugging Face `evaluate`'s METEOR
 * uses for one-sentence segments. Each of NLTK's regex substitutions is one pass below, in NLTK's
 * order, scanning left to right with non-overlapping matches as re.sub does. Python's Unicode
 * classes: \w = letters, numbers and '_'; \d = decimal digits (Nd); \s = str.isspace(). The
 * (?i) contractions compare ASCII case-insensitively. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "metrics/meteor_internal.h"

typedef struct { uint32_t *a; size_t n, cap; int oom; } Buf;

static void put(Buf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 256;
        uint32_t *a = realloc(b->a, nc * sizeof *a);
        if (!a) { b->oom = 1; return; }
        b->a = a;
        b->cap = nc;
    }
    b->a[b->n++] = c;
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
static uint32_t lc(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

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
        if (c != '\'' && c != ' ') {
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
 * starts with a literal space instead of \b (CONTRACTIONS3) */
static void contraction(const Buf *in, Buf *out, const char *a, const char *b, int end, int lead_space) {
    size_t la = strlen(a), lb = strlen(b);
    for (size_t i = 0; i < in->n;) {
        int ok;
        if (lead_space) ok = in->a[i] == ' ' && at(in, i + 1, a, 1) && at(in, i + 1 + la, b, 1);
        else ok = boundary(in, i) && at(in, i, a, 1) && at(in, i + la, b, 1);
        size_t s = i + (size_t)lead_space, e = s + la + lb;
        if (ok) ok = end == 1 ? boundary(in, e) : (e < in->n && py_isspace(in->a[e]));
        if (ok) {
            put(out, ' ');
            for (size_t k = s; k < s + la; k++) put(out, in->a[k]);
            put(out, ' ');
            for (size_t k = s + la; k < e; k++) put(out, in->a[k]);
            put(out, ' ');
            i = e;
        } else put(out, in->a[i++]);
    }
}
static void c2(const Buf *in, Buf *out) {
    /* applied one after the other, as NLTK loops over CONTRACTIONS2; done via a temp buffer */
    static const char *const ab[][2] = {{"can", "not"}, {"d", "'ye"}, {"gim", "me"}, {"gon", "na"},
                                        {"got", "ta"},  {"lem", "me"}, {"more", "'n"}, {"wan", "na"}};
    Buf x = {0}, y = {0};
    for (size_t i = 0; i < in->n; i++) put(&x, in->a[i]);
    for (int k = 0; k < 8; k++) {
        y.n = 0;
        contraction(&x, &y, ab[k][0], ab[k][1], k == 7 ? 2 : 1, 0);
        Buf t = x; x = y; y = t;
    }
    y.n = 0;
    contraction(&x, &y, "'t", "is", 1, 1);
    Buf t = x; x = y; y = t;
    y.n = 0;
    contraction(&x, &y, "'t", "was", 1, 1);
    for (size_t i = 0; i < y.n; i++) put(out, y.a[i]);
    if (x.oom || y.oom) out->oom = 1;
    free(x.a);
    free(y.a);
}

int mt_treebank_tokenize(const uint32_t *cps, size_t n, MtTokens *out) {
    static const Pass passes[] = {sq_quotes,  sq_start_dq, sq_backticks, sq_open_dq, sq_apos_letter,
                                  p_final1,   p_colon_comma, p_colon_comma_end, p_dots, p_symbols,
                                  p_final2,   p_qmark,    p_apos_space, p_star,     p_parens,
                                  p_dashes,   p_pad_ends, eq_quotes,    eq_two_apos, eq_dq,
                                  eq_clitic1, eq_clitic2, c2};
    Buf a = {0}, b = {0};
    int rc = -1;
    for (size_t i = 0; i < n; i++) put(&a, cps[i]);
    for (size_t k = 0; k < sizeof passes / sizeof passes[0]; k++) {
        b.n = 0;
        passes[k](&a, &b);
        if (a.oom || b.oom) goto done;
        Buf t = a; a = b; b = t;
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

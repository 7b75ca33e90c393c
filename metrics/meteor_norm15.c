/* meteor_norm15.c — Meteor 1.5's `-norm` text normalisation for English (Normalizer.java with
 * NORMALIZE_KEEP_PUNCT: a Moses-tokenizer variant, then Java toLowerCase()), and the split into
 * words. Each regex replaceAll of the original is one pass below, with Java's semantics: matches
 * are found left to right and do not overlap, and the character classes are Meteor's own (its
 * "alnum" is ASCII, Latin-1/Latin Extended-A and Cyrillic; \s and \p{Digit} are ASCII).
 * The Moses English non-breaking-prefix list (Moses rev. 3881) is built in. */
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"
#include "metrics/meteor15.h"

typedef MtCpBuf Buf;

static void put(Buf *b, uint32_t c) {
    if (b->n == b->cap && qb_grow((void **)&b->a, &b->cap, b->n + 1, sizeof *b->a)) { b->oom = 1; return; }
    b->a[b->n++] = c;
}
static void puts_(Buf *b, const char *s) { for (; *s; s++) put(b, (uint32_t)(unsigned char)*s); }
static void swap(Buf *a, Buf *b) { Buf t = *a; *a = *b; *b = t; b->n = 0; }

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_alpha(uint32_t c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0xD6) ||
           (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x17E) || (c >= 0x400 && c <= 0x527) ||
           (c >= 0xA640 && c <= 0xA66E) || (c >= 0xA67E && c <= 0xA697) || (c >= 0x1D00 && c <= 0x1D7F);
}
static int is_alnum(uint32_t c) { return is_digit(c) || is_alpha(c); }
static int is_jspace(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r'; }
static int is_tokdelim(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
/* r_white: ASCII space and the Unicode space separators */
static int is_white(uint32_t c) {
    return c == ' ' || c == 0xA0 || c == 0x1680 || c == 0x180E || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ([^alnum\s.'`,\-‘’]) -> " $1 " */
static void sep_other(const Buf *in, Buf *out) {
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->a[i];
        if (is_alnum(c) || is_jspace(c) || c == '.' || c == '\'' || c == '`' || c == ',' || c == '-' ||
            c == 0x2018 || c == 0x2019)
            put(out, c);
        else { put(out, ' '); put(out, c); put(out, ' '); }
    }
}

/* Runs of two or more dots: Meteor escapes them as " DOT…DOTMULTI " (one DOT per dot) so that
 * the later steps leave them alone, then turns them back into dots. The net effect of its
 * r_multi_dot / r_multi_dot2 loop is this single pass. */
static void multi_dot(const Buf *in, Buf *out) {
    for (size_t i = 0; i < in->n;) {
        if (in->a[i] == '.' && i + 1 < in->n && in->a[i + 1] == '.') {
            size_t k = 0;
            while (i < in->n && in->a[i] == '.') { k++; i++; }
            put(out, ' ');
            for (size_t d = 0; d < k; d++) puts_(out, "DOT");
            puts_(out, "MULTI");
            if (i < in->n) put(out, ' '); /* "DOTMULTI\.([^\.])" -> "DOTDOTMULTI $1" */
        } else put(out, in->a[i++]);
    }
}

/* (A)[,](B) -> "$1 , $2" for the three digit / non-digit combinations, one pass each */
static void comma(const Buf *in, Buf *out, int left_digit, int right_digit) {
    for (size_t i = 0; i < in->n;) {
        if (i + 2 < in->n && in->a[i + 1] == ',' && is_digit(in->a[i]) == left_digit &&
            is_digit(in->a[i + 2]) == right_digit) {
            put(out, in->a[i]); puts_(out, " , "); put(out, in->a[i + 2]);
            i += 3;
        } else put(out, in->a[i++]);
    }
}

static void quotes(const Buf *in, Buf *out) {
    Buf t = {0};
    for (size_t i = 0; i < in->n; i++) { /* ([`‘’]) -> ' */
        uint32_t c = in->a[i];
        put(&t, (c == '`' || c == 0x2018 || c == 0x2019) ? '\'' : c);
    }
    for (size_t i = 0; i < t.n;) { /* ([“”]|'') -> " \" " */
        if (t.a[i] == 0x201C || t.a[i] == 0x201D) { puts_(out, " \" "); i++; }
        else if (t.a[i] == '\'' && i + 1 < t.n && t.a[i + 1] == '\'') { puts_(out, " \" "); i += 2; }
        else put(out, t.a[i++]);
    }
    if (t.oom) out->oom = 1;
    free(t.a);
}

static void dashes(const Buf *in, Buf *out) {
    Buf t = {0};
    for (size_t i = 0; i < in->n; i++) put(&t, in->a[i] == 0x2013 ? '-' : in->a[i]); /* – -> - */
    for (size_t i = 0; i < t.n;) {                                                  /* -- -> - */
        if (t.a[i] == '-' && i + 1 < t.n && t.a[i + 1] == '-') { put(out, '-'); i += 2; }
        else put(out, t.a[i++]);
    }
    if (t.oom) out->oom = 1;
    free(t.a);
}

/* ([alnum.])[-]([alnum]) -> "$1 $2": a dash inside a word becomes a space */
static void rm_dash(const Buf *in, Buf *out) {
    for (size_t i = 0; i < in->n;) {
        if (i + 2 < in->n && in->a[i + 1] == '-' && (is_alnum(in->a[i]) || in->a[i] == '.') &&
            is_alnum(in->a[i + 2])) {
            put(out, in->a[i]); put(out, ' '); put(out, in->a[i + 2]);
            i += 3;
        } else put(out, in->a[i++]);
    }
}

/* English apostrophes: X'Y -> "X ' Y" or "X 'Y" depending on the classes of X and Y */
enum { C_NOT_ALPHA, C_NOT_ALPHA_DIGIT, C_ALPHA, C_DIGIT, C_S };
static int cls(uint32_t c, int k) {
    switch (k) {
    case C_NOT_ALPHA: return !is_alpha(c);
    case C_NOT_ALPHA_DIGIT: return !is_alpha(c) && !is_digit(c);
    case C_ALPHA: return is_alpha(c);
    case C_DIGIT: return is_digit(c);
    default: return c == 's';
    }
}
static void apostrophe(const Buf *in, Buf *out, int left, int right, int attach) {
    for (size_t i = 0; i < in->n;) {
        if (i + 2 < in->n && in->a[i + 1] == '\'' && cls(in->a[i], left) && cls(in->a[i + 2], right)) {
            put(out, in->a[i]);
            puts_(out, attach ? " '" : " ' ");
            put(out, in->a[i + 2]);
            i += 3;
        } else put(out, in->a[i++]);
    }
}

/* Moses nonbreaking_prefix.en: 1 = always non-breaking, 2 = only before a number */
static const char *const NBP_ANY[] = {
    "Adj", "Adm", "Adv", "Asst", "Bart", "Bldg", "Brig", "Bros", "Capt", "Cmdr", "Col", "Comdr", "Con",
    "Corp", "Cpl", "DR", "Dr", "Drs", "Ens", "Gen", "Gov", "Hon", "Hr", "Hosp", "Insp", "Lt", "MM", "MR",
    "MRS", "MS", "Maj", "Messrs", "Mlle", "Mme", "Mr", "Mrs", "Ms", "Msgr", "Op", "Ord", "Pfc", "Ph",
    "Prof", "Pvt", "Rep", "Reps", "Res", "Rev", "Rt", "Sen", "Sens", "Sfc", "Sgt", "Sr", "St", "Supt",
    "Surg", "v", "vs", "i.e", "rev", "e.g", "Nos", "Nr"};
static const char *const NBP_NUM[] = {"No", "Art", "pp"};

static int eq_ascii(const uint32_t *w, size_t n, const char *s) {
    size_t k = strlen(s);
    if (k != n) return 0;
    for (size_t i = 0; i < n; i++) if (w[i] != (uint32_t)(unsigned char)s[i]) return 0;
    return 1;
}
static int nbp_type(const uint32_t *w, size_t n) {
    if (n == 1 && w[0] >= 'A' && w[0] <= 'Z') return 1;
    for (size_t k = 0; k < sizeof NBP_ANY / sizeof NBP_ANY[0]; k++) if (eq_ascii(w, n, NBP_ANY[k])) return 1;
    for (size_t k = 0; k < sizeof NBP_NUM / sizeof NBP_NUM[0]; k++) if (eq_ascii(w, n, NBP_NUM[k])) return 2;
    return 0;
}

/* Rebuild the line word by word, splitting a final '.' off unless it belongs to the word */
static void split_dots(const Buf *in, Buf *out) {
    size_t nw = 0, cap_s = 0, cap_e = 0;
    size_t *ws = NULL, *we = NULL; /* each word's start and end */
    for (size_t i = 0; i < in->n;) {
        while (i < in->n && is_tokdelim(in->a[i])) i++;
        if (i == in->n) break;
        size_t j = i;
        while (j < in->n && !is_tokdelim(in->a[j])) j++;
        if (qb_grow((void **)&ws, &cap_s, nw + 1, sizeof *ws) || qb_grow((void **)&we, &cap_e, nw + 1, sizeof *we)) {
            out->oom = 1;
            free(ws);
            free(we);
            return;
        }
        ws[nw] = i;
        we[nw++] = j;
        i = j;
    }
    for (size_t k = 0; k < nw; k++) {
        const uint32_t *w = in->a + ws[k];
        size_t n = we[k] - ws[k];
        if (n > 1 && w[n - 1] == '.') {
            size_t pn = n - 1;
            int has_dot = 0, has_alpha = 0;
            for (size_t i = 0; i < pn; i++) { has_dot |= w[i] == '.'; has_alpha |= is_alpha(w[i]); }
            int type = nbp_type(w, pn);
            const uint32_t *next = k + 1 < nw ? in->a + ws[k + 1] : NULL;
            if (has_dot && has_alpha) { /* U.S. -> US */
                for (size_t i = 0; i < n; i++) if (w[i] != '.') put(out, w[i]);
            } else if (type == 1 || (next && next[0] >= 'a' && next[0] <= 'z')) {
                for (size_t i = 0; i < n; i++) put(out, w[i]);
            } else if (type == 2 && next && is_digit(next[0])) {
                for (size_t i = 0; i < n; i++) put(out, w[i]);
            } else {
                for (size_t i = 0; i < pn; i++) put(out, w[i]);
                puts_(out, " .");
            }
        } else {
            for (size_t i = 0; i < n; i++) put(out, w[i]);
        }
        put(out, ' ');
    }
    free(ws);
    free(we);
}

/* DOT…DOTMULTI -> the dots again */
static void unescape_dots(const Buf *in, Buf *out) {
    static const char *const DOT = "DOT", *const MULTI = "MULTI";
    for (size_t i = 0; i < in->n;) {
        size_t j = i, k = 0;
        while (j + 3 <= in->n && eq_ascii(in->a + j, 3, DOT)) { j += 3; k++; }
        if (k > 0 && j + 5 <= in->n && eq_ascii(in->a + j, 5, MULTI)) {
            for (size_t d = 0; d < k; d++) put(out, '.');
            i = j + 5;
        } else put(out, in->a[i++]);
    }
}

/* whitespace runs -> one space, then Java trim() */
static void white(const Buf *in, Buf *out) {
    size_t s = 0, e = in->n;
    Buf t = {0};
    for (size_t i = 0; i < in->n;) {
        if (is_white(in->a[i])) {
            put(&t, ' ');
            while (i < in->n && is_white(in->a[i])) i++;
        } else put(&t, in->a[i++]);
    }
    s = 0;
    e = t.n;
    while (s < e && t.a[s] <= ' ') s++;
    while (e > s && t.a[e - 1] <= ' ') e--;
    for (size_t i = s; i < e; i++) put(out, t.a[i]);
    if (t.oom) out->oom = 1;
    free(t.a);
}

int mt_meteor15_words(const uint32_t *cps, size_t n, int normalize, MtTokens *out) {
    Buf a = {0}, b = {0};
    int rc = -1;
    if (normalize) {
        put(&a, ' ');
        for (size_t i = 0; i < n; i++) put(&a, cps[i]);
        put(&a, ' ');
        sep_other(&a, &b); swap(&a, &b);
        multi_dot(&a, &b); swap(&a, &b);
        comma(&a, &b, 0, 0); swap(&a, &b);
        comma(&a, &b, 1, 0); swap(&a, &b);
        comma(&a, &b, 0, 1); swap(&a, &b);
        quotes(&a, &b); swap(&a, &b);
        dashes(&a, &b); swap(&a, &b);
        rm_dash(&a, &b); swap(&a, &b);
        apostrophe(&a, &b, C_NOT_ALPHA, C_NOT_ALPHA, 0); swap(&a, &b);
        apostrophe(&a, &b, C_NOT_ALPHA_DIGIT, C_ALPHA, 0); swap(&a, &b);
        apostrophe(&a, &b, C_ALPHA, C_NOT_ALPHA, 0); swap(&a, &b);
        apostrophe(&a, &b, C_ALPHA, C_ALPHA, 1); swap(&a, &b);
        apostrophe(&a, &b, C_DIGIT, C_S, 1); swap(&a, &b);
        split_dots(&a, &b); swap(&a, &b);
        unescape_dots(&a, &b); swap(&a, &b);
        white(&a, &b); swap(&a, &b);
    } else {
        for (size_t i = 0; i < n; i++) put(&a, cps[i]);
    }
    if (a.oom || b.oom) goto done;
    /* lowercase (Java toLowerCase; Python's mapping is the same for everything but a few
     * context-dependent letters) and split on StringTokenizer's delimiters */
    uint32_t *low = malloc(sizeof(uint32_t) * (2 * a.n + 1));
    char *u8 = malloc(8 * a.n + 1);
    if (!low || !u8) { free(low); free(u8); goto done; }
    for (size_t i = 0; i < a.n;) {
        while (i < a.n && is_tokdelim(a.a[i])) i++;
        size_t j = i;
        while (j < a.n && !is_tokdelim(a.a[j])) j++;
        if (j > i) {
            size_t ln = normalize ? py_lower(a.a + i, j - i, low) : j - i;
            if (!normalize) memcpy(low, a.a + i, (j - i) * sizeof *low);
            if (mt_tokens_push(out, u8, utf8_encode(low, ln, u8)) != 0) { free(low); free(u8); goto done; }
        }
        i = j;
    }
    free(low);
    free(u8);
    rc = 0;
done:
    free(a.a);
    free(b.a);
    return rc;
}

/* tokenizer_split.c — UTF-8 decoding, GPT-2's byte -> printable-character map, and the byte-level
 * pre-tokenizer regexes, matched by hand (leftmost-first alternation, as Oniguruma does for HF
 * tokenizers) so that no regex engine is needed:
 *   GPT-2  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama-3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2  the same with \p{N} (one digit) instead of \p{N}{1,3}. */
#include <stdlib.h>
#include <utf8proc.h>

#include "model/tokenizer_internal.h"

int utf8_next(const unsigned char *s, size_t len, int32_t *cp) {
    unsigned char c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > len) { *cp = -1; return 1; }
    int32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = -1; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const int32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < minv[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = -1; return 1; }
    *cp = v;
    return n;
}

static int printable_byte(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

int32_t bytelevel_cp(int b) {
    if (printable_byte(b)) return b;
    int n = 0;
    for (int x = 0; x < b; x++) n += !printable_byte(x);
    return 256 + n;
}

int bytelevel_byte(int32_t cp) {
    if (cp >= 0 && cp < 256 && printable_byte(cp)) return cp;
    if (cp < 256 || cp >= 256 + 68) return -1; /* 68 bytes are not printable */
    int n = cp - 256;
    for (int b = 0; b < 256; b++)
        if (!printable_byte(b) && n-- == 0) return b;
    return -1;
}

/* Character classes over decoded code points (-1 = an invalid byte, which is none of them). */
static int is_L(int32_t c) {
    if (c < 0) return 0;
    if (c < 128) return (c | 32) >= 'a' && (c | 32) <= 'z';
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int is_N(int32_t c) {
    if (c < 0) return 0;
    if (c < 128) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}
/* Unicode White_Space, which is what \s means in Oniguruma's Unicode mode */
static int is_S(int32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
static int is_NL(int32_t c) { return c == '\r' || c == '\n'; }
static int lower(int32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Length in code points of the match at cps[i], 0 if none. */
static size_t match_contraction(const int32_t *c, size_t i, size_t n, int icase) {
    if (c[i] != '\'' || i + 1 >= n) return 0;
    int32_t a = icase ? lower(c[i + 1]) : c[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= n) return 0;
    int32_t b = icase ? lower(c[i + 2]) : c[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t run_of(const int32_t *c, size_t i, size_t n, int (*pred)(int32_t)) {
    size_t j = i;
    while (j < n && pred(c[j])) j++;
    return j - i;
}

static int is_other(int32_t c) { return !is_S(c) && !is_L(c) && !is_N(c); }

/* \s+(?!\S) then \s+ */
static size_t match_spaces(const int32_t *c, size_t i, size_t n) {
    size_t k = run_of(c, i, n, is_S);
    if (k == 0) return 0;
    if (i + k == n || k == 1) return k; /* at the end, or a single space that \s+ takes anyway */
    return k - 1;                       /* leave the last space to prefix the next word */
}

static size_t match_gpt2(const int32_t *c, size_t i, size_t n) {
    size_t k;
    if ((k = match_contraction(c, i, n, 0))) return k;
    size_t sp = c[i] == ' ' && i + 1 < n ? 1 : 0;
    if ((k = run_of(c, i + sp, n, is_L))) return sp + k;
    if ((k = run_of(c, i + sp, n, is_N))) return sp + k;
    if ((k = run_of(c, i + sp, n, is_other))) return sp + k;
    return match_spaces(c, i, n);
}

static size_t match_llama3(const int32_t *c, size_t i, size_t n, size_t max_digits) {
    size_t k;
    if ((k = match_contraction(c, i, n, 1))) return k;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!is_NL(c[i]) && !is_L(c[i]) && !is_N(c[i]) && i + 1 < n && is_L(c[i + 1])) return 1 + run_of(c, i + 1, n, is_L);
    if ((k = run_of(c, i, n, is_L))) return k;
    /* \p{N}{1,max} */
    if ((k = run_of(c, i, n, is_N))) return k < max_digits ? k : max_digits;
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t sp = c[i] == ' ' && i + 1 < n ? 1 : 0;
    if ((k = run_of(c, i + sp, n, is_other))) return sp + k + run_of(c, i + sp + k, n, is_NL);
    /* \s*[\r\n]+ : through the last newline of the whitespace run */
    size_t ws = run_of(c, i, n, is_S), last = 0;
    for (size_t j = 0; j < ws; j++)
        if (is_NL(c[i + j])) last = j + 1;
    if (last) return last;
    return match_spaces(c, i, n);
}

int split_pretokens(SplitKind kind, const char *s, size_t len, int (*fn)(void *ctx, size_t start, size_t n), void *ctx) {
    if (kind == SPLIT_NONE || len == 0) return len ? fn(ctx, 0, len) : 0;
    int32_t *cp = malloc((len + 1) * sizeof *cp);
    size_t *off = malloc((len + 1) * sizeof *off);
    if (!cp || !off) { free(cp); free(off); return -1; }
    size_t n = 0;
    for (size_t b = 0; b < len;) {
        off[n] = b;
        b += (size_t)utf8_next((const unsigned char *)s + b, len - b, &cp[n]);
        n++;
    }
    off[n] = len;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t k = kind == SPLIT_GPT2 ? match_gpt2(cp, i, n) : match_llama3(cp, i, n, kind == SPLIT_LLAMA3 ? 3 : 1);
        if (k == 0) k = 1; /* cannot happen with these patterns; never loop forever */
        rc = fn(ctx, off[i], off[i + k] - off[i]);
        i += k;
    }
    free(cp);
    free(off);
    return rc;
}

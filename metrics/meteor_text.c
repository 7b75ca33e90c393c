/* meteor_text.c — the string semantics METEOR inherits from Python: UTF-8 decoding (strict),
 * str.split() whitespace, str.lower() (full mapping with final sigma), token lists, and a small
 * string-interning table used to make the greedy matching linear. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <utf8proc.h>
#include "metrics/meteor_internal.h"

long mt_utf8_decode(const char *s, size_t n, uint32_t *cps, size_t *bad) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    long k = 0;
    while (i < n) {
        uint32_t c = p[i];
        int need;
        uint32_t min;
        if (c < 0x80) { cps[k++] = c; i++; continue; }
        else if ((c & 0xE0) == 0xC0) { need = 1; c &= 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { need = 2; c &= 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { need = 3; c &= 0x07; min = 0x10000; }
        else goto fail;
        for (int j = 1; j <= need; j++) {
            if (i + j >= n || (p[i + j] & 0xC0) != 0x80) goto fail;
            c = (c << 6) | (p[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) goto fail;
        cps[k++] = c;
        i += (size_t)need + 1;
    }
    return k;
fail:
    if (bad) *bad = i;
    return -1;
}

size_t mt_utf8_encode(const uint32_t *cps, size_t n, char *out) {
    unsigned char *o = (unsigned char *)out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        if (c < 0x80) o[k++] = (unsigned char)c;
        else if (c < 0x800) { o[k++] = 0xC0 | (c >> 6); o[k++] = 0x80 | (c & 0x3F); }
        else if (c < 0x10000) {
            o[k++] = 0xE0 | (c >> 12); o[k++] = 0x80 | ((c >> 6) & 0x3F); o[k++] = 0x80 | (c & 0x3F);
        } else {
            o[k++] = 0xF0 | (c >> 18); o[k++] = 0x80 | ((c >> 12) & 0x3F);
            o[k++] = 0x80 | ((c >> 6) & 0x3F); o[k++] = 0x80 | (c & 0x3F);
        }
    }
    return k;
}

int mt_py_isspace(uint32_t c) {
    if (c <= 0x20) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000: return 1;
    default: return c >= 0x2000 && c <= 0x200A;
    }
}

/* Python's _PyUnicode_IsCased: letters with case (Lu, Ll, Lt) or any code point that changes
 * under a case mapping (approximates Other_Lowercase/Other_Uppercase). */
static int py_is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
    return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

/* Case_Ignorable: Mn, Me, Cf, Lm, Sk and the Word_Break MidLetter/MidNumLet/Single_Quote set. */
static int py_is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default: break;
    }
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* CPython's handle_capital_sigma: Σ becomes ς at the end of a word. */
static uint32_t lower_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    uint32_t c = 0;
    int found = 0;
    while (j > 0) {
        c = s[--j];
        if (!py_is_case_ignorable(c)) { found = 1; break; }
    }
    int final = found && py_is_cased(c);
    if (final && i + 1 < n) {
        size_t k = i + 1;
        for (; k < n; k++) { c = s[k]; if (!py_is_case_ignorable(c)) break; }
        final = k == n || !py_is_cased(c);
    }
    return final ? 0x3C2 : 0x3C3;
}

size_t mt_py_lower(const uint32_t *cps, size_t n, uint32_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        if (c < 0x80) { out[k++] = (c >= 'A' && c <= 'Z') ? c + 32 : c; continue; }
        if (c == 0x130) { out[k++] = 'i'; out[k++] = 0x307; continue; } /* SpecialCasing */
        if (c == 0x3A3) { out[k++] = lower_sigma(cps, n, i); continue; }
        out[k++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    }
    return k;
}

/* ---- token lists ------------------------------------------------------------------------------- */
void mt_tokens_free(MtTokens *t) {
    free(t->buf); free(t->off); free(t->len);
    memset(t, 0, sizeof *t);
}

int mt_tokens_push(MtTokens *t, const char *s, size_t len) {
    if (len > (size_t)1 << 30) return -1;
    if (t->n == t->ncap) {
        int nc = t->ncap ? 2 * t->ncap : 32;
        int *o = realloc(t->off, sizeof(int) * (size_t)nc);
        if (!o) return -1;
        t->off = o;
        int *l = realloc(t->len, sizeof(int) * (size_t)nc);
        if (!l) return -1;
        t->len = l;
        t->ncap = nc;
    }
    if (t->used + len + 1 > t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 256;
        while (nc < t->used + len + 1) nc *= 2;
        char *b = realloc(t->buf, nc);
        if (!b) return -1;
        t->buf = b;
        t->cap = nc;
    }
    memcpy(t->buf + t->used, s, len);
    t->buf[t->used + len] = 0;
    t->off[t->n] = (int)t->used;
    t->len[t->n] = (int)len;
    t->used += len + 1;
    if (t->used > (size_t)INT32_MAX) return -1;
    t->n++;
    return 0;
}

/* the common case: an ASCII line split on whitespace needs no decoding */
static int ascii_space(unsigned char c) { return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20); }

static int tokenize_ascii(const char *line, size_t n, MtTokens *out) {
    char small[256];
    out->n = 0;
    out->used = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && ascii_space((unsigned char)line[i])) i++;
        size_t j = i;
        while (j < n && !ascii_space((unsigned char)line[j])) j++;
        if (j > i) {
            size_t len = j - i;
            char *t = len <= sizeof small ? small : malloc(len);
            if (!t) return -1;
            for (size_t k = 0; k < len; k++) {
                char c = line[i + k];
                t[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            int rc = mt_tokens_push(out, t, len);
            if (t != small) free(t);
            if (rc) return -1;
        }
        i = j;
    }
    return 0;
}

int mt_tokenize_lower(const char *line, MeteorTokenize tok, MtTokens *out, const char *what,
                      char err[QB_ERRLEN]) {
    size_t n = strlen(line), bad = 0;
    if (tok == METEOR_TOK_WHITESPACE) {
        size_t i = 0;
        while (i < n && (unsigned char)line[i] < 0x80) i++;
        if (i == n) {
            if (tokenize_ascii(line, n, out) == 0) return 0;
            snprintf(err, QB_ERRLEN, "%s: out of memory", what);
            return -1;
        }
    }
    uint32_t *cps = malloc(sizeof(uint32_t) * (n + 1));
    uint32_t *low = malloc(sizeof(uint32_t) * (2 * n + 1));
    char *u8 = malloc(8 * n + 1);
    MtTokens raw = {0};
    int rc = -1;
    if (!cps || !low || !u8) { snprintf(err, QB_ERRLEN, "%s: out of memory", what); goto done; }
    long ncp = mt_utf8_decode(line, n, cps, &bad);
    if (ncp < 0) {
        snprintf(err, QB_ERRLEN, "%s: invalid UTF-8 at byte %zu", what, bad);
        goto done;
    }
    out->n = 0;
    out->used = 0;
    if (tok == METEOR_TOK_TREEBANK) {
        if (mt_treebank_tokenize(cps, (size_t)ncp, &raw) != 0) {
            snprintf(err, QB_ERRLEN, "%s: out of memory", what);
            goto done;
        }
        for (int t = 0; t < raw.n; t++) {
            long m = mt_utf8_decode(raw.buf + raw.off[t], (size_t)raw.len[t], cps, NULL);
            size_t ln = mt_py_lower(cps, (size_t)(m < 0 ? 0 : m), low);
            size_t nb = mt_utf8_encode(low, ln, u8);
            if (mt_tokens_push(out, u8, nb) != 0) {
                snprintf(err, QB_ERRLEN, "%s: out of memory", what);
                goto done;
            }
        }
    } else {
        size_t i = 0, N = (size_t)ncp;
        while (i < N) {
            while (i < N && mt_py_isspace(cps[i])) i++;
            if (i == N) break;
            size_t j = i;
            while (j < N && !mt_py_isspace(cps[j])) j++;
            size_t ln = mt_py_lower(cps + i, j - i, low);
            size_t nb = mt_utf8_encode(low, ln, u8);
            if (mt_tokens_push(out, u8, nb) != 0) {
                snprintf(err, QB_ERRLEN, "%s: out of memory", what);
                goto done;
            }
            i = j;
        }
    }
    rc = 0;
done:
    mt_tokens_free(&raw);
    free(cps); free(low); free(u8);
    return rc;
}

/* ---- interning ----------------------------------------------------------------------------------- */
uint64_t mt_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}

void mt_intern_free(MtIntern *h) {
    free(h->key); free(h->klen); free(h->slot);
    memset(h, 0, sizeof *h);
}

void mt_intern_clear(MtIntern *h) {
    if (h->slot) memset(h->slot, 0, sizeof *h->slot * (size_t)h->nslot);
    h->n = 0;
}

static int intern_grow(MtIntern *h) {
    int ns = h->nslot ? 2 * h->nslot : 64;
    uint64_t *slot = calloc((size_t)ns, sizeof *slot);
    if (!slot) return -1;
    for (int id = 0; id < h->n; id++) {
        uint64_t hs = mt_hash(h->key[id], (size_t)h->klen[id]);
        size_t s = hs & (size_t)(ns - 1);
        while (slot[s]) s = (s + 1) & (size_t)(ns - 1);
        slot[s] = (hs & 0xFFFFFFFF00000000ULL) | (uint64_t)(id + 1);
    }
    free(h->slot);
    h->slot = slot;
    h->nslot = ns;
    return 0;
}

int mt_intern(MtIntern *h, const char *s, int len, int add) {
    return mt_intern_hashed(h, s, len, mt_hash(s, (size_t)len), add);
}

int mt_intern_hashed(MtIntern *h, const char *s, int len, uint64_t hash, int add) {
    uint64_t tag = hash & 0xFFFFFFFF00000000ULL;
    if (h->nslot) {
        size_t i = hash & (size_t)(h->nslot - 1);
        for (uint64_t e; (e = h->slot[i]) != 0; i = (i + 1) & (size_t)(h->nslot - 1)) {
            if ((e & 0xFFFFFFFF00000000ULL) != tag) continue;
            int id = (int)(uint32_t)e - 1;
            if (h->klen[id] == len && memcmp(h->key[id], s, (size_t)len) == 0) return id;
        }
    }
    if (!add) return -1;
    if (2 * (h->n + 1) > h->nslot && intern_grow(h) != 0) return -1;
    if (h->n == h->cap) {
        int nc = h->cap ? 2 * h->cap : 32;
        const char **k = realloc(h->key, sizeof(char *) * (size_t)nc);
        if (!k) return -1;
        h->key = k;
        int *l = realloc(h->klen, sizeof(int) * (size_t)nc);
        if (!l) return -1;
        h->klen = l;
        h->cap = nc;
    }
    int id = h->n++;
    h->key[id] = s;
    h->klen[id] = len;
    size_t i = hash & (size_t)(h->nslot - 1);
    while (h->slot[i]) i = (i + 1) & (size_t)(h->nslot - 1);
    h->slot[i] = tag | (uint64_t)(id + 1);
    return id;
}

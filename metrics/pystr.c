/* pystr.c — Python string semantics for the metrics (see pystr.h): strict UTF-8 decoding and
 * encoding, and str.lower() as CPython implements it (utf8proc for the simple case mappings and
 * the categories; CPython's own rules for 'İ' and the final sigma). */
#include <utf8proc.h>
#include "metrics/pystr.h"

long utf8_decode(const char *s, size_t n, uint32_t *cps, size_t *bad) {
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

size_t utf8_encode(const uint32_t *cps, size_t n, char *out) {
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

size_t py_lower(const uint32_t *cps, size_t n, uint32_t *out) {
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

/* pystr.h — the Python string semantics that chrF (sacrebleu) and METEOR (NLTK) inherit: strict
 * UTF-8 decoding as Python's bytes.decode('utf-8') does it, the whitespace set of str.split() and
 * str.isspace(), and str.lower() with the full mapping (SpecialCasing 'İ', final sigma).
 * Private to metrics/; everything works on Unicode code points (uint32_t). */
#ifndef QBENCH_PYSTR_H
#define QBENCH_PYSTR_H

#include <stddef.h>
#include <stdint.h>

/* Decodes s[0..n) into code points (cps has room for n). Returns the count, or -1 on invalid
 * UTF-8 (overlong, surrogate, > U+10FFFF, truncated) with *bad (if not NULL) = the byte offset of
 * the error. */
long utf8_decode(const char *s, size_t n, uint32_t *cps, size_t *bad);
/* Encodes code points; out needs 4*n bytes. Returns the bytes written (no NUL added). */
size_t utf8_encode(const uint32_t *cps, size_t n, char *out);

/* Python's str.isspace() / str.split() whitespace: 29 code points. Inline because tokenisers call
 * it once per character and almost all text is ASCII. */
static inline int py_isspace(uint32_t c) {
    if (c <= 0x20) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    if (c < 0x85) return 0;
    switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000: return 1;
    default: return c >= 0x2000 && c <= 0x200A;
    }
}

/* Python str.lower() of cps[0..n) into out (room for 2*n: 'İ' becomes two code points).
 * Returns the new length. Full mapping including the final-sigma rule (which looks at the
 * neighbours inside cps[0..n), so pass the whole string, not one character at a time). */
size_t py_lower(const uint32_t *cps, size_t n, uint32_t *out);

#endif

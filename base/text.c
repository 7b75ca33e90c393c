/* text.c — the one check every text input gets (hypotheses, references, perplexity and calibration
 * text, jsonl prompts and tasks): strict UTF-8 and no NUL byte, with the line and column at fault. */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is invalid or truncated. */
static size_t utf8_seq(const unsigned char *p, size_t left) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) { need = 1; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { need = 2; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { need = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (need >= left) return 0;
    for (size_t j = 1; j <= need; j++) {
        if ((p[j] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need + 1;
}

int qb_text_validate(const char *data, size_t len, const char *what, char err[QB_ERRLEN]) {
    const unsigned char *p = (const unsigned char *)data;
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] == '\n') { line++; i++; line_start = i; continue; }
        if (p[i] == 0) {
            snprintf(err, QB_ERRLEN, "%.400s:%zu: NUL byte at column %zu", what, line, i - line_start + 1);
            return -1;
        }
        if (p[i] < 0x80) { i++; continue; }
        size_t k = utf8_seq(p + i, len - i);
        if (!k) {
            snprintf(err, QB_ERRLEN, "%.400s:%zu: invalid UTF-8 at byte column %zu (byte 0x%02X)", what, line,
                     i - line_start + 1, p[i]);
            return -1;
        }
        i += k;
    }
    return 0;
}

char *qb_read_text_file(const char *path, size_t *len, char err[QB_ERRLEN]) {
    size_t n = 0;
    char *buf = qb_read_file(path, &n, err);
    if (!buf) return NULL;
    if (qb_text_validate(buf, n, path, err)) {
        free(buf);
        return NULL;
    }
    if (len) *len = n;
    return buf;
}

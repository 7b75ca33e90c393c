/* textfile.c — one segment per line, strictly validated (rules in textfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/textfile.h"

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

void textfile_free(TextFile *tf) {
    free(tf->buf);
    free(tf->lines);
    memset(tf, 0, sizeof *tf);
}

int textfile_parse(const char *data, size_t len, const char *what, TextFile *tf, char err[QB_ERRLEN]) {
    memset(tf, 0, sizeof *tf);
    /* validate first, counting lines, so errors name the line */
    const unsigned char *p = (const unsigned char *)data;
    size_t nlines = 0, line_start = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] == '\n') { nlines++; i++; line_start = i; continue; }
        if (p[i] == 0) {
            snprintf(err, QB_ERRLEN, "%s:%zu: NUL byte at column %zu", what, nlines + 1, i - line_start + 1);
            return -1;
        }
        size_t k = utf8_seq(p + i, len - i);
        if (!k) {
            snprintf(err, QB_ERRLEN, "%s:%zu: invalid UTF-8 at byte column %zu (byte 0x%02X)", what,
                     nlines + 1, i - line_start + 1, p[i]);
            return -1;
        }
        i += k;
    }
    if (len > 0 && p[len - 1] != '\n') nlines++; /* last line without its newline */
    tf->buf = malloc(len + 1);
    tf->lines = malloc((nlines ? nlines : 1) * sizeof(char *));
    if (!tf->buf || !tf->lines) {
        textfile_free(tf);
        snprintf(err, QB_ERRLEN, "%s: out of memory (%zu bytes)", what, len);
        return -1;
    }
    memcpy(tf->buf, data, len);
    tf->buf[len] = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len && tf->n < nlines; i++) {
        if (i == len || tf->buf[i] == '\n') {
            size_t end = i;
            if (end > start && tf->buf[end - 1] == '\r') end--; /* CRLF */
            tf->buf[end] = 0;
            tf->lines[tf->n++] = tf->buf + start;
            start = i + 1;
        }
    }
    return 0;
}

int textfile_read(const char *path, TextFile *tf, char err[QB_ERRLEN]) {
    memset(tf, 0, sizeof *tf);
    size_t len;
    char *data = qb_read_file(path, &len, err);
    if (!data) return -1;
    int rc = textfile_parse(data, len, path, tf, err);
    free(data);
    return rc;
}

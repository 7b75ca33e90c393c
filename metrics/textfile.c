/* textfile.c — one segment per line, strictly validated (rules in textfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/textfile.h"

void textfile_free(TextFile *tf) {
    free(tf->buf);
    free(tf->lines);
    memset(tf, 0, sizeof *tf);
}

int textfile_parse(const char *data, size_t len, const char *what, TextFile *tf, char err[QB_ERRLEN]) {
    memset(tf, 0, sizeof *tf);
    if (qb_text_validate(data, len, what, err)) return -1;
    const unsigned char *p = (const unsigned char *)data;
    size_t nlines = 0;
    for (const char *q = data; len && (q = memchr(q, '\n', len - (size_t)(q - data))); q++) nlines++;
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

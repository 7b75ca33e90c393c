/* file.c — whole-file reads with errors that name the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"

/* ---- files --------------------------------------------------------------------------------------- */

char *qb_read_file(const char *path, size_t *len, char err[QB_ERRLEN]) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, QB_ERRLEN, "%s: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); snprintf(err, QB_ERRLEN, "%s: out of memory", path); return NULL; }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); fclose(f); snprintf(err, QB_ERRLEN, "%s: out of memory", path); return NULL; }
        buf = nb; cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); snprintf(err, QB_ERRLEN, "%s: read error", path); return NULL; }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}


int qb_write_text_file(const char *path, const char *text, char err[QB_ERRLEN]) {
    if (!text) { snprintf(err, QB_ERRLEN, "%.400s: out of memory", path); return -1; }
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) { snprintf(err, QB_ERRLEN, "%.400s: cannot write: %s", path, strerror(errno)); return -1; }
    return 0;
}

void qb_drop_pages(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + page - 1) / page * page,
                    e = ((uintptr_t)p + n) / page * page;
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

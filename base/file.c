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
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) { /* room for 64 KiB more and the NUL, until a read comes back short */
        if (qb_grow((void **)&buf, &cap, n + (1 << 16) + 1, 1)) {
            free(buf);
            fclose(f);
            snprintf(err, QB_ERRLEN, "%s: out of memory", path);
            return NULL;
        }
        size_t want = cap - 1 - n, got = fread(buf + n, 1, want, f);
        n += got;
        if (got < want) break;
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

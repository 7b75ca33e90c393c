/* textfile.h — reads a hypothesis / reference file as one segment per line, for the text metrics
 * (chrF, METEOR) and their CLI.
 *
 * Rules (so bad input never crashes and never silently scores):
 *   - lines are split on '\n' only (U+2028, U+0085, lone '\r' stay inside the segment);
 *   - one '\r' right before a '\n' (or at the very end) is dropped: CRLF files read like LF files;
 *   - a '\n' at the end of the file ends the last line, it does not start an empty segment;
 *     an empty file has 0 lines; a file holding just "\n" has one empty line;
 *   - the bytes must be valid UTF-8 (strict: no overlongs, surrogates, > U+10FFFF) and hold no
 *     NUL byte; otherwise the error names the file, the line and the byte column;
 *   - a UTF-8 byte-order mark is kept as U+FEFF, as Python's 'utf-8' codec keeps it;
 *   - lines may be of any length (the whole file is read into memory).
 */
#ifndef QBENCH_TEXTFILE_H
#define QBENCH_TEXTFILE_H

#include <stddef.h>
#include "base/base.h"

typedef struct {
    char *buf;    /* the file's bytes, each line NUL-terminated in place */
    char **lines; /* lines[i] points into buf */
    size_t n;
} TextFile;

/* Reads path; on error returns -1 with the message in err and leaves *tf empty. */
int textfile_read(const char *path, TextFile *tf, char err[QB_ERRLEN]);
/* The same rules on bytes already in memory (what names them in errors). Copies data. */
int textfile_parse(const char *data, size_t len, const char *what, TextFile *tf, char err[QB_ERRLEN]);
void textfile_free(TextFile *tf);

#endif

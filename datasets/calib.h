/* calib.h — calibration windows for the quantization pipeline, sampled GPTQ-style from a text file:
 * n_samples windows of seqlen token ids, drawn with a seeded QbRng, so a seed always gives the same
 * windows.
 *
 * What a "document" is:
 *   - a .jsonl file (name ends in ".jsonl"): one JSON object per line, its "text" string field
 *     (C4 style). Blank lines are skipped; any other line that is not such an object is an error
 *     naming the file and line.
 *   - any other file is plain UTF-8 text: if it contains "<|endoftext|>" the documents are the pieces
 *     between those markers (TinyStoriesV2 style), otherwise the blank-line-separated paragraphs
 *     (a line that is empty or only whitespace ends a paragraph). Leading/trailing whitespace of a
 *     document is dropped; empty documents are skipped.
 * Each document is tokenized on its own with BOS prepended (GPTQ's HF tokenizer adds BOS; llama2.c
 * training data starts every story with BOS).
 *
 * How windows are drawn (per sample, in order, all from one QbRng seeded with `seed`):
 *   CALIB_DOCUMENTS — GPTQ's rule: a uniformly random document among those with >= seqlen+1 tokens
 *     (the same distribution as GPTQ's "pick a random document, retry while too short"), then a
 *     uniformly random start in [0, len-seqlen-1]. Error if no document is long enough.
 *   CALIB_JOINED — GPTQ's WikiText2/PTB rule: all documents' tokens concatenated in file order
 *     (each still starting with BOS) and a random start in [0, total-seqlen-1]. Error if the whole
 *     text has fewer than seqlen+1 tokens.
 *   CALIB_AUTO — DOCUMENTS when at least n_samples documents are long enough (so windows can come
 *     from distinct documents), otherwise JOINED. For .jsonl files AUTO is DOCUMENTS (C4 style).
 *     TinyStories paragraphs (~180 characters) are short, so with seqlen 256 AUTO takes JOINED.
 */
#ifndef QBENCH_CALIB_H
#define QBENCH_CALIB_H

#include <stdint.h>

#include "model/model.h"
#include "model/tokenizer.h"

typedef enum { CALIB_AUTO, CALIB_DOCUMENTS, CALIB_JOINED } CalibMode;

typedef struct {
    int n_samples, seqlen;
    int *windows;   /* n_samples x seqlen token ids */
    int *doc;       /* n_samples: document each window came from (-1 when joined) */
    int *start;     /* n_samples: start offset inside that document (or inside the joined stream) */
    CalibMode mode; /* the mode actually used: CALIB_DOCUMENTS or CALIB_JOINED */
    int n_docs;     /* documents found in the file */
    int n_long;     /* documents with >= seqlen+1 tokens */
    long n_tokens;  /* tokens in all documents together */
} CalibWindows;

/* Samples from tokenized documents: docs[i] has lens[i] tokens. The core of calib_sample, exposed
 * so it can be tested without a tokenizer. `what` names the source in error messages. */
int calib_sample_docs(const int *const *docs, const int *lens, int n_docs, int n_samples, int seqlen,
                      uint64_t seed, CalibMode mode, const char *what, CalibWindows *out,
                      char err[QB_ERRLEN]);

/* Splits text[len] into documents (jsonl rules when is_jsonl), tokenizes each and samples. `what`
 * names the source in errors (e.g. a named dataset from datasets.h whose text is already loaded). */
int calib_sample_text(const Tokenizer *tok, const char *text, size_t len, int is_jsonl, const char *what,
                      int n_samples, int seqlen, uint64_t seed, CalibMode mode, CalibWindows *out,
                      char err[QB_ERRLEN]);

/* Reads `path` (jsonl when its name ends in ".jsonl"), then calib_sample_text. */
int calib_sample(const Tokenizer *tok, const char *path, int n_samples, int seqlen, uint64_t seed,
                 CalibMode mode, CalibWindows *out, char err[QB_ERRLEN]);

/* Splits text into documents as described above (jsonl when is_jsonl). Returns the number of
 * documents (>= 0) with *starts and *lens malloc'd byte ranges into text — for jsonl, *owned holds the
 * decoded strings and starts point into it — or -1 with err naming `what` and the line. */
int calib_split_documents(const char *text, size_t len, int is_jsonl, const char *what, char **owned,
                          size_t **starts, size_t **lens, char err[QB_ERRLEN]);

void calib_free(CalibWindows *c);

const char *calib_mode_name(CalibMode m); /* "auto", "documents", "joined" */
int calib_mode_parse(const char *s, CalibMode *m);

#endif

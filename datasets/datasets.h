/* datasets.h — named evaluation/calibration datasets resolved from assets/ (each verified against
 * its sha256 from datasets/assets.tsv), plain text or jsonl paths, and generation tasks as
 * prompt/reference pairs.
 *
 * Text datasets (dataset_load_text):
 *   tinystories-valid   assets/tinystories/tinystories_v1_validation_head.txt, bytes [0, cut)
 *   tinystories-calib   the same file, bytes [cut, end) — disjoint from tinystories-valid.
 *                       cut = the start of the first paragraph that begins "Once upon a time" at or
 *                       after 75% of the file's bytes (a story start, so no story straddles it).
 *   wikitext2-test      assets/wikitext2/wiki.test.raw (raw, untokenized)
 *   ptb-test            assets/ptb/ptb.test.txt
 *   c4-calib            assets/c4/c4-en-train.00000-of-01024.first1000.jsonl: "text" fields joined by "\n\n"
 *   wmt14-ende          the English side of newstest2014 (filtered); as a task, en→de pairs
 *   any other string    a file path: *.jsonl → "text" fields joined by "\n\n", else the bytes as is
 *
 * Generation tasks (dataset_load_task):
 *   tinystories-continuation  from the tinystories-valid split: every paragraph that begins
 *                             "Once upon a time" (a story opening) and has a second sentence;
 *                             prompt = its first sentence (through the first '.', '!' or '?' that
 *                             is followed by a space), reference = the rest of that paragraph.
 *   c4-continuation           assets/c4/c4-realnewslike-validation.prompt-response.200.jsonl
 *                             {prompt, response}
 *   wmt14-ende                newstest2014 en (prompt) / de (reference), one pair per line
 *   any *.jsonl path          {"prompt": ..., "reference": "..."} or {"prompt": ..., "references": [...]}
 *                             ("response" is accepted for "reference")
 *
 * Errors follow model.h: 0 / -1 with a message naming the dataset, file and line. Nothing prints. */
#ifndef QBENCH_DATASETS_H
#define QBENCH_DATASETS_H

#include <stddef.h>

#include "model/model.h"

typedef struct {
    char *text;        /* NUL-terminated, malloc'd */
    size_t len;
    char source[1024]; /* the file it came from */
    char sha256[65];   /* of the source file (verified against the manifest for named datasets) */
} TextDataset;

typedef struct {
    char *prompt;
    char **refs;       /* n_refs references */
    int n_refs;
} PromptPair;

typedef struct {
    PromptPair *pairs;
    int n;
    char source[1024];
    char sha256[65];
} TaskSet;

/* 1 if `name` is a known dataset name (text) / task name, else 0. */
int dataset_is_named(const char *name);
int dataset_task_is_named(const char *name);

/* 0 if name_or_path can be loaded as text / as a task (named, or an existing readable file), -1
 * with a message otherwise. Cheap: does not read or hash the file. */
int dataset_check(const char *name_or_path, char err[QB_ERRLEN]);
int dataset_task_check(const char *name_or_path, char err[QB_ERRLEN]);

/* Where named assets live; default "assets". Not thread-safe; tests may point it elsewhere. */
void dataset_set_assets_dir(const char *dir);

int dataset_load_text(const char *name_or_path, TextDataset *d, char err[QB_ERRLEN]);
void dataset_text_free(TextDataset *d);

/* max_pairs <= 0: all pairs. Pairs come in file order (the first max_pairs). */
int dataset_load_task(const char *name_or_path, int max_pairs, TaskSet *t, char err[QB_ERRLEN]);
void dataset_task_free(TaskSet *t);

/* Reads assets/<file> (under the assets dir) and checks it against sha256 (hex); NULL with err
 * naming the file (and `make assets`) otherwise. source receives the path read. */
char *dataset_read_asset(const char *file, const char *sha256, size_t *len, char source[1024], char err[QB_ERRLEN]);

/* The tinystories split point (exposed for tests): byte offset `cut` in text[len]. */
size_t dataset_tinystories_cut(const char *text, size_t len);

#endif

/* datasets_internal.h — helpers the dataset loaders share (private to datasets/). */
#ifndef QBENCH_DATASETS_INTERNAL_H
#define QBENCH_DATASETS_INTERNAL_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "base/base.h"

typedef int (*JsonlLine)(void *ctx, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]);

/* Calls fn for each non-blank line of buf parsed as a JSON object (a line that is not one is an
 * error naming file:line); stops early when fn returns 1, fails when it returns -1. */
int dataset_jsonl_each(const char *buf, size_t len, const char *file, JsonlLine fn, void *ctx, char err[QB_ERRLEN]);

#endif

/* common.h — what the test suites share: running the qbench binary, reading and writing files,
 * temporary directories. Every helper asserts through cmocka, so a test reads as its checks. */
#ifndef QBENCH_TESTS_COMMON_H
#define QBENCH_TESTS_COMMON_H

#include <stddef.h>

#include "model/model.h"

/* $QBENCH_BIN, or bin/qbench when it is unset or empty. */
const char *t_qbench_bin(void);

/* Runs `qbench ARGS` through the shell. Its stdout goes to *out and its stderr to *err (malloc'd,
 * NUL-terminated); with err NULL, stderr is merged into *out; with out NULL too, both are dropped.
 * Returns the exit status (-1 when it did not exit normally). */
int t_run_qbench(const char *args, char **out, char **err);

/* The whole file, NUL-terminated (*len excludes the NUL; len may be NULL). Fails the test when the
 * file cannot be read. */
char *t_slurp(const char *path, size_t *len);
/* Writes exactly len bytes to path, failing the test on any error. */
void t_write_file(const char *path, const void *data, size_t len);
/* The same for a NUL-terminated text. */
void t_write_text(const char *path, const char *text);

/* A fresh directory /tmp/PREFIX_XXXXXX into buf; 0 or -1. */
int t_mkdtemp(char *buf, size_t n, const char *prefix);
/* Removes dir and everything below it; 0 or -1. */
int t_rm_rf(const char *dir);

/* model_load(path), failing the test with the loader's message when it cannot. */
Model *t_load_model(const char *path);
/* Logits (n, vocab) of tok[0..n-1] at positions 0..n-1 in one prefill (malloc'd). */
float *t_prefill_logits(const Model *m, const int *tok, int n);
/* The same one token at a time through the KV cache (decode). */
float *t_decode_logits(const Model *m, const int *tok, int n);
/* A quantized checkpoint kept packed against the same file made float32 at load (QBENCH_DEQUANTIZE=1):
 * prefill logits identical, decode logits within 1e-5·(1 + |logit|) (float32 summation order only); n
 * tokens of ids below the vocabulary. Returns the largest decode difference. */
double t_packed_vs_dequantized(const char *path, int n);

#endif

/* model_internal.h — private to model/: how a Model owns its memory (mmaps and heap buffers), the
 * loaders model_load dispatches to, the RoPE row permutation shared by the HF loader and writer, and
 * the threaded linear-layer and attention kernels of the forward pass. */
#ifndef QBENCH_MODEL_INTERNAL_H
#define QBENCH_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

/* Everything a Model points into: private (copy-on-write) file mappings and owned heap buffers. */
struct ModelStorage {
    struct { void *addr; size_t len; } *maps;
    int n_maps, cap_maps;
    void **bufs;
    int n_bufs, cap_bufs;
};


Model *model_load_llama2c(const char *path, char err[QB_ERRLEN]);
Model *model_load_hf(const char *path, char err[QB_ERRLEN]);
Model *model_load_gguf(const char *path, char err[QB_ERRLEN]);
/* config.json → cfg (hf_config.c); *attn_bias: Llama's attention_bias (biases on q, k, v and o). */
int hf_config_parse(const char *path, ModelConfig *c, int *attn_bias, char err[QB_ERRLEN]);

/* RoPE inverse frequencies of the head_dim/2 pairs, with c->rope_scaling applied (forward.c). */
void model_rope_inv_freq(const ModelConfig *c, double *inv_freq);

/* RoPE layouts of the rows of q/k (and of their biases): `heads` heads of `head_dim` rows, each row
 * `cols` wide (cols = 1 for a bias). HF rotate-half pairs row i with row i + head_dim/2 of a head;
 * the interleaved layout pairs rows 2i and 2i+1:  inter[h*hd + 2i + c] = hf[h*hd + c*hd/2 + i]. */
void rope_rows_hf_to_interleaved(const float *src, float *dst, int heads, int head_dim, int cols);
void rope_rows_interleaved_to_hf(const float *src, float *dst, int heads, int head_dim, int cols);
/* The same map for rows of row_bytes bytes (half-precision weights kept as stored). */
void rope_rows_hf_to_interleaved_bytes(const void *src, void *dst, int heads, int head_dim, size_t row_bytes);


/* sha256 of the file at path, mapped at map (size bytes), as 64 hex chars: from the hash cache when
 * the file's device, inode, size, mtime and ctime match a cached entry, else hashed and cached
 * (hash_cache.c). */
void model_file_sha256(const char *path, const void *map, size_t size, char out[65]);

/* a*b with size_t overflow check: returns 0 and stores the product, -1 on overflow. */
int mul_size(size_t a, size_t b, size_t *out);

/* Work (multiply-adds, or element operations for the element-wise kernels) below which the forward
 * pass stays on one thread. */
#define PARALLEL_MIN_MACS 3.2e7
#define PARALLEL_MIN_ELEMS (1L << 18)

/* gemm.c: the forward pass runs OpenBLAS single-threaded inside its own OpenMP slices. */
typedef struct { int saved; } BlasSingle;
void blas_single_begin(BlasSingle *b);
void blas_single_end(BlasSingle *b);
/* One linear layer applied to a window: y (n, lin->rows), rows ldy apart, = beta*y + x (n, lin->cols) @ Wᵀ + b. */
typedef struct { const Linear *lin; const float *x; float *y; int ldy; float beta; } GemmJob;
/* Called by the thread that computed columns [c0, c1) of job `job`, for all n rows. */
typedef void (*GemmPost)(void *ctx, int job, int c0, int c1);
/* Runs the jobs (which must share n) split over OpenMP threads by output column; every thread takes the
 * same slice of jobs with equal row counts. post may be NULL. */
void gemm_jobs(const GemmJob *jobs, int njobs, int n, GemmPost post, void *ctx);

/* Columns [c0, c1) of y (n, ldy) = beta*y + x (n, l->cols) @ W[c0:c1]ᵀ for a packed layer (no bias):
 * decode (n = 1) through the fused kernels, prefill by dequantizing tiles of rows into a float32 panel
 * for sgemm (qgemm.c). */
void qgemm_slice(const Linear *l, const float *x, int n, int c0, int c1, float beta, float *y, int ldy);

/* Causal attention for n query rows at positions pos0 .. pos0+n-1 (attention.c).
 *   q (n, n_heads*hd) already rotated; K, V (pos0+n, n_kv_heads*hd) hold every position up to the
 *   last query; out (n, n_heads*hd). scratch: attention_scratch_floats(...) floats. Runs OpenMP
 *   tasks of single-threaded sgemms (call inside blas_single_begin/end). */
size_t attention_scratch_floats(int max_seq, int n_heads, int threads);
#define ATTN_SMALL_N 8
void attention_causal(const float *q, const float *K, const float *V, float *out, int n, int pos0,
                      int n_heads, int n_kv_heads, int hd, float *scratch, int scratch_threads);

#endif

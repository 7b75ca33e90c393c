/* model_internal.h — private to model/: how a Model owns its memory (mmaps and heap buffers), the
 * loaders model_load dispatches to, the RoPE row permutation shared by the HF loader and writer, and
 * the threaded linear-layer and attention kernels of the forward pass. */
#ifndef QBENCH_MODEL_INTERNAL_H
#define QBENCH_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "model/model.h"

/* Everything a Model points into: private (copy-on-write) file mappings and owned heap buffers. */
struct ModelStorage {
    struct { void *addr; size_t len; } *maps;
    int n_maps;
    size_t cap_maps;
    void **bufs;
    int n_bufs;
    size_t cap_bufs;
};


/* QBENCH_DEQUANTIZE set (and not "0"): GGUF and AutoGPTQ loaders make their quantized linear layers
 * float32 at load instead of keeping them as stored (the reference path packed kernels are compared with). */
static inline int model_dequantize_requested(void) {
    const char *e = getenv("QBENCH_DEQUANTIZE");
    return e && *e && !(e[0] == '0' && e[1] == 0);
}

Model *model_load_llama2c(const char *path, char err[QB_ERRLEN]);
Model *model_load_hf(const char *path, char err[QB_ERRLEN]);
Model *model_load_gguf(const char *path, char err[QB_ERRLEN]);
/* config.json → cfg (hf_config.c); *attn_bias: Llama's attention_bias (biases on q, k, v and o). */
int hf_config_parse(const char *path, ModelConfig *c, int *attn_bias, char err[QB_ERRLEN]);

/* ---- non-Llama families (arch.c, arch_block.c) ---- */
/* Family-specific config checks (called by model_check_config). */
int arch_check_config(const ModelConfig *c, const char *what, char err[QB_ERRLEN]);
/* Shapes of the family's linear layers; returns 1 when it set them (0 x 0 for an absent kind). */
int arch_linear_shape(const ModelConfig *c, LinearKind k, int *rows, int *cols);
/* config.json of OPT, BLOOM, GPT-2, GPT-NeoX (hf_config.c): root is the parsed object. */
typedef struct cJSON cJSON;
int hf_config_parse_family(const cJSON *root, const char *path, ArchFamily f, ModelConfig *c,
                           char err[QB_ERRLEN]);
/* A loader's view of the checkpoint's tensors (loader_hf.c): tensor `name` as float32 (rows, cols)
 * (cols 0: a vector). transpose: the file stores (cols, rows) (GPT-2's Conv1D). Missing and !required:
 * NULL with *missing = 1. */
typedef struct HfSource HfSource;
float *hf_source_tensor(HfSource *s, const char *name, int rows, int cols, int transpose, int required,
                        int *missing, char err[QB_ERRLEN]);
/* Loads every tensor of a non-Llama model from its Hugging Face names (arch.c). */
int arch_load_hf(Model *m, HfSource *s, char err[QB_ERRLEN]);
/* A tensor to write into a safetensors file under its HF name: p holds rows x cols (cols 0: a vector), or
 * is NULL for a Llama linear layer kept packed (lin, decoded at write time);
 * heads > 0: Llama q/k rows to permute back to rotate-half; owned (freed after writing) when p is a copy
 * made in the file's layout. */
typedef struct { char name[128]; const float *p; const Linear *lin; int rows, cols, heads; float *owned; } OutTensor;
/* Non-Llama families (arch_hf.c): the HF tensors in the family's names and layouts, and config.json as
 * transformers writes it (NULL on out of memory). */
int arch_hf_tensors(const Model *m, OutTensor **out, int *n, int with_linears);
cJSON *arch_hf_config(const Model *m);
/* Seeded random non-Llama model (arch_hf.c): matrices, embeddings, positions and biases normal(0, 0.02),
 * LayerNorm weights 1 and biases 0. */
Model *arch_synth(const ModelConfig *c, uint64_t seed, char err[QB_ERRLEN]);

/* Forward pieces of the non-Llama families (arch_block.c). Scratch comes from the ModelState. */
typedef struct {
    float *xb, *q, *att, *hb, *scores;
    int scratch_threads;
} ArchScratch;
void arch_block(const Model *m, const ArchScratch *sc, int layer, float *x, int n, int pos0, float *K, float *V,
                LinearTap tap, void *ctx);
/* One part of arch_block on positions 0..n-1 (model_block_part); K, V (n, dim) scratch. */
void arch_block_part(const Model *m, const ArchScratch *sc, int layer, BlockPart part, float *x, float *y, int n,
                     float *K, float *V);
/* x (n, dim) ← embeddings of tokens at positions pos0.. (learned positions, projections, BLOOM's norm). */
void arch_embed(const Model *m, const int *tokens, int n, int pos0, float *x);
/* logits (n, vocab) ← classifier(project_out(final_norm(x))); xb (n, dim) scratch. */
void arch_head(const Model *m, const float *x, int n, float *xb, float *logits);
/* out (n, emb_dim) ← the classifier's input project_out(final_norm(x)); xb (n, dim) scratch (may be out
 * without project_out). */
void arch_head_input(const Model *m, const float *x, int n, float *xb, float *out);

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

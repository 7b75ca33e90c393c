/* qweights.h — private to model/: the packed form of a linear layer (QWeights) and the per-format table
 * of kernels that read it. A format needs two functions: decode rows into float32 (prefill tiles, the
 * float accessor) and dot rows with one vector (decode). New formats (GGUF blocks, AutoGPTQ int32) add
 * an entry to qw_ops and a constructor; nothing else in the forward pass changes.
 *
 * Layouts of codes (uniform and binary formats). "Kernel column" j is original column perm[j] (perm NULL:
 * the identity); when gsize > 0 kernel columns are sorted by group and group g is columns
 * [g·gsize, (g+1)·gsize), so a kernel multiplies a group with one scale; else g_idx[j] says the group.
 *   QL_NIB4   uniform codes of 1 to 4 bits, gsize % 32 == 0: each 32 columns are 16 bytes,
 *             byte i = code i | code (i+16) << 4
 *   QL_BYTE8  8 bits, gsize > 0: one byte per code
 *   QL_PLANES gsize % 8 == 0: `bits` bit planes per row, plane b = cols/8 bytes, bit k of byte c is bit b
 *             of the code of column 8c + k (binary codes: the sign planes the lookup-table kernel reads).
 *             Binary codes are stored in tiles of 16 rows (tiled = 1): byte (r, b, c) sits at
 *             ((r/16·bits + b)·cols/8 + c)·16 + r%16, so one 16-byte load gives the byte of 16 rows, the
 *             lanes of the AVX-512 lookup kernel; rows are padded to a multiple of 16 with zero bytes.
 *   QL_STREAM anything else: a little-endian bit stream per row (code j at bits [j·bits, (j+1)·bits)),
 *             original column order, g_idx per column. */
#ifndef QBENCH_MODEL_QWEIGHTS_H
#define QBENCH_MODEL_QWEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

enum { QL_STREAM = 0, QL_NIB4, QL_BYTE8, QL_PLANES };

struct QWeights {
    QWeightFormat fmt;
    int rows, cols;
    int bits, n_groups, gsize, layout, tiled;
    size_t row_bytes;    /* bytes of one row of data */
    const uint8_t *data; /* rows x row_bytes (halves: rows x cols x 2) */
    const float *scales; /* uniform: [rows][n_groups]; binary: alphas [rows][n_groups][bits] */
    const float *zeros;  /* uniform: zero points [rows][n_groups]; binary: offsets [rows][n_groups] */
    const float *levels; /* binary: [rows][n_groups][2^bits] */
    const int32_t *g_idx; /* [cols], original order (QL_STREAM) */
    const int32_t *perm;  /* kernel column → original column, or NULL */
    uint32_t gtype;       /* QW_GGUF: the ggml block type; row r is the file's blocks at data + r·row_bytes */
    size_t bytes;         /* everything above in memory */
};

typedef struct {
    void (*rows_f32)(const QWeights *q, int r0, int r1, float *out);
    void (*dot_rows)(const QWeights *q, const float *x, int r0, int r1, float *y);
} QWeightOps;

/* Per format (qkernels.c); entries with NULL functions have no constructor yet. */
extern const QWeightOps qw_ops[QW_FORMAT_COUNT];
/* QW_GGUF (qkernels_gguf.c) */
void qk_gguf_rows_f32(const QWeights *q, int r0, int r1, float *out);
void qk_gguf_dot_rows(const QWeights *q, const float *x, int r0, int r1, float *y);

/* Offset of byte c of bit plane b of row r (QL_PLANES). */
static inline size_t qw_plane_at(const QWeights *q, int r, int b, int c) {
    size_t plane = (size_t)q->cols / 8;
    if (q->tiled) return (((size_t)(r >> 4) * q->bits + b) * plane + c) * 16 + (r & 15);
    return (size_t)r * q->row_bytes + b * plane + c;
}

/* Code of kernel column j of row r. */
static inline unsigned qw_code(const QWeights *q, int r, int j) {
    const uint8_t *p = q->data + (size_t)r * q->row_bytes;
    switch (q->layout) {
    case QL_NIB4: {
        unsigned b = p[(j >> 5) * 16 + (j & 15)];
        return (j & 16) ? b >> 4 : b & 15u;
    }
    case QL_BYTE8: return p[j];
    case QL_PLANES: {
        unsigned v = 0;
        for (int b = 0; b < q->bits; b++) v |= (unsigned)(q->data[qw_plane_at(q, r, b, j >> 3)] >> (j & 7) & 1u) << b;
        return v;
    }
    default: {
        size_t bit = (size_t)j * q->bits;
        unsigned v = p[bit / 8] | (unsigned)p[bit / 8 + 1] << 8;
        return v >> (bit % 8) & ((1u << q->bits) - 1u);
    }
    }
}

static inline int qw_group(const QWeights *q, int j) { return q->gsize > 0 ? j / q->gsize : q->g_idx[j]; }

/* The weight of kernel column j of row r, exactly as the checkpoint defines it. */
static inline float qw_value(const QWeights *q, int r, int j) {
    size_t rg = (size_t)r * q->n_groups + qw_group(q, j);
    unsigned c = qw_code(q, r, j);
    if (q->fmt == QW_BINARY) return q->levels[(rg << q->bits) + c];
    return q->scales[rg] * ((float)c - q->zeros[rg]);
}

/* Kernel selection: the best level the CPU has by default (unless QBENCH_NO_SIMD is set): 0 portable C,
 * 1 AVX2/FMA/F16C, 2 AVX-512 where a kernel has it; qk_set_simd clamps to what the CPU has. Every level
 * gives every row's sum in its own fixed order; tests run all of them. */
void qk_set_simd(int level);
int qk_simd(void);
/* Σ a[i]·b[i], i < n */
float qk_dot_f32(const float *a, const float *b, int n);

#endif

/* qgemm.c — a linear layer kept packed, applied to a window of activations: one token (decode) goes
 * through the fused dequantize-and-dot kernels; several tokens (prefill) reuse each decoded weight n
 * times, so tiles of rows are decoded into a float32 panel small enough to stay in cache and multiplied
 * by sgemm, and decoding costs a fraction of the multiply-adds. */
#include <cblas.h>
#include <stdlib.h>

#include "model/model_internal.h"
#include "model/qweights.h"

#define PANEL_BYTES (1024 * 1024) /* half of a 2 MiB L2 */
#define DOT_ROWS 64

/* y[c0 .. c1) of one row = beta*y + W[c0 .. c1) · x, in one kernel call for the whole slice: kernels
 * prepare per call what every row shares (the lookup tables of binary codes, activations gathered into
 * group order), so cutting the slice into chunks would redo that per chunk. Rows are independent, so the
 * sums are the same however the slice is cut. */
static void dot_slice(const Linear *l, const float *x, int c0, int c1, float beta, float *y) {
    if (beta == 0.0f) {
        linear_dot_rows(l, x, c0, c1, y + c0);
        return;
    }
    float d[DOT_ROWS], *buf = c1 - c0 > DOT_ROWS ? malloc((size_t)(c1 - c0) * sizeof *buf) : d;
    if (!buf) { /* no memory: chunk by chunk */
        for (int r = c0; r < c1; r += DOT_ROWS) {
            int e = c1 - r < DOT_ROWS ? c1 : r + DOT_ROWS;
            linear_dot_rows(l, x, r, e, d);
            for (int i = r; i < e; i++) y[i] = beta * y[i] + d[i - r];
        }
        return;
    }
    linear_dot_rows(l, x, c0, c1, buf);
    for (int i = c0; i < c1; i++) y[i] = beta * y[i] + buf[i - c0];
    if (buf != d) free(buf);
}

void qgemm_slice(const Linear *l, const float *x, int n, int c0, int c1, float beta, float *y, int ldy) {
    const int cols = l->cols;
    int tile = PANEL_BYTES / (int)sizeof(float) / cols;
    tile = tile < 16 ? 16 : tile / 16 * 16;
    if (tile > c1 - c0) tile = c1 - c0;
    float *panel = n > 1 ? malloc((size_t)tile * cols * sizeof *panel) : NULL;
    if (!panel) { /* decode, or no memory for a panel: one row of x at a time through the dot kernels */
        for (int i = 0; i < n; i++) dot_slice(l, x + (size_t)i * cols, c0, c1, beta, y + (size_t)i * ldy);
        return;
    }
    for (int r = c0; r < c1; r += tile) {
        int t = c1 - r < tile ? c1 - r : tile;
        linear_rows_f32(l, r, r + t, panel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, t, cols, 1.0f, x, cols, panel, cols, beta, y + r,
                    ldy);
    }
    free(panel);
}

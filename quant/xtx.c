/* xtx.c — the two XᵀX products of quant/, split into 128x128 tiles of the (cols, cols) result that
 * OpenMP threads take one at a time, each tile one single-threaded sgemm (blas_threads.c says why
 * not OpenBLAS's threads). A tile's bits do not depend on which thread computed it, and the
 * reductions add per-tile partial sums in tile order: same inputs, same bits, for any thread count.
 *   xtx_update: the Hessian's C ← β·C + α·XᵀX (C full symmetric, kept exactly symmetric);
 *   xtx_dot:    Σ_ij H_ij (DᵀD)_ij in double (the layer error tr(D H Dᵀ), H symmetric). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "quant/quant_internal.h"

enum { TILE = 128 };

/* Upper-triangle tiles (ti <= tj) of an nt x nt grid, numbered row by row. */
static void tile_of(int idx, int nt, int *ti, int *tj) {
    int i = 0;
    while (idx >= nt - i) {
        idx -= nt - i;
        i++;
    }
    *ti = i;
    *tj = i + idx;
}

// C (cols, cols) ← beta·C + alpha·X (n, cols; rows ldx apart)ᵀ @ X
void xtx_update(float *C, const float *X, int n, int cols, size_t ldx, float alpha, float beta) {
    const int nt = (cols + TILE - 1) / TILE, ntiles = nt * (nt + 1) / 2;
    QBlasSingle bs;
    qblas_single_begin(&bs);
    #pragma omp parallel for schedule(dynamic, 1) if (ntiles > 1 && (double)n * cols * cols > 1e6)
    for (int t = 0; t < ntiles; t++) {
        int ti, tj;
        tile_of(t, nt, &ti, &tj);
        const int i0 = ti * TILE, j0 = tj * TILE;
        const int ni = cols - i0 < TILE ? cols - i0 : TILE, nj = cols - j0 < TILE ? cols - j0 : TILE;
        float *c = C + (size_t)i0 * cols + j0;
        // C[i0:i0+ni, j0:j0+nj] = alpha · X[:, i0:]ᵀ @ X[:, j0:] + beta · C[...]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ni, nj, n, alpha, X + i0, (int)ldx,
                    X + j0, (int)ldx, beta, c, cols);
        /* the mirror tile below the diagonal (or the tile's own lower half on the diagonal) */
        for (int a = 0; a < ni; a++)
            for (int b = ti == tj ? a + 1 : 0; b < nj; b++)
                C[(size_t)(j0 + b) * cols + i0 + a] = c[(size_t)a * cols + b];
    }
    qblas_single_end(&bs);
}

// Σ_ij H_ij (DᵀD)_ij with D (n, cols) row-major, H (cols, cols) symmetric. NaN if out of memory.
double xtx_dot(const float *D, int n, int cols, const float *H) {
    const int nt = (cols + TILE - 1) / TILE, ntiles = nt * (nt + 1) / 2;
    double *part = malloc((size_t)ntiles * sizeof(double));
    if (!part) return NAN;
    int oom = 0;
    QBlasSingle bs;
    qblas_single_begin(&bs);
    #pragma omp parallel if (ntiles > 1 && (double)n * cols * cols > 1e6)
    {
        float *c = malloc((size_t)TILE * TILE * sizeof(float));
        if (!c) {
            #pragma omp atomic write
            oom = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < ntiles; t++) {
            if (!c) continue;
            int ti, tj;
            tile_of(t, nt, &ti, &tj);
            const int i0 = ti * TILE, j0 = tj * TILE;
            const int ni = cols - i0 < TILE ? cols - i0 : TILE, nj = cols - j0 < TILE ? cols - j0 : TILE;
            // c (ni, nj) = D[:, i0:]ᵀ @ D[:, j0:]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ni, nj, n, 1.0f, D + i0, cols,
                        D + j0, cols, 0.0f, c, nj);
            double acc = 0;
            for (int a = 0; a < ni; a++) {
                const float *h = H + (size_t)(i0 + a) * cols + j0, *cr = c + (size_t)a * nj;
                for (int b = 0; b < nj; b++) acc += (double)h[b] * cr[b];
            }
            part[t] = ti == tj ? acc : 2.0 * acc; /* an off-diagonal tile stands for its mirror too */
        }
        free(c);
    }
    qblas_single_end(&bs);
    double tr = 0;
    for (int t = 0; t < ntiles; t++) tr += part[t];
    free(part);
    return oom ? NAN : tr;
}

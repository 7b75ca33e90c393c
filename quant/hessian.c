/* hessian.c — GPTQ's running Hessian proxy (quant.md §1.2): H = (2/n) Σ_samples xᵀx, where n counts
 * samples (sequences), not tokens, accumulated in float32 as `add_batch` does:
 *   H ← H·n/(n+1), n ← n+1, H ← H + (2/n)·xᵀx   — one ssyrk (C = α AᵀA + β C) per sample. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant/quant.h"

int hessian_init(Hessian *h, int cols, char err[QB_ERRLEN]) {
    h->cols = cols;
    h->n = 0;
    h->nonfinite = 0;
    h->H = NULL;
    if (cols <= 0) {
        snprintf(err, QB_ERRLEN, "hessian: bad column count %d", cols);
        return -1;
    }
    h->H = calloc((size_t)cols * cols, sizeof(float));
    if (!h->H) {
        snprintf(err, QB_ERRLEN, "hessian: out of memory for %d x %d", cols, cols);
        return -1;
    }
    return 0;
}

/* x (tokens, cols) of one sample. */
void hessian_add_sample(Hessian *h, const float *x, int tokens) {
    if (!h || !h->H || !x || tokens <= 0) return;
    const int c = h->cols;
    for (size_t i = 0; i < (size_t)tokens * c; i++)
        if (!isfinite(x[i])) {
            h->nonfinite = 1;
            break;
        }
    /* the reference scales by the Python float n/(n+1), rounded to float32 on use */
    const float beta = (float)((double)h->n / (double)(h->n + 1));
    h->n += 1;
    const float alpha = 2.0f / (float)h->n;
    /* upper triangle: H ← α xᵀx + β H */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, c, tokens, alpha, x, c, beta, h->H, c);
    for (int i = 0; i < c; i++) /* keep H a full symmetric matrix for the solvers */
        for (int j = i + 1; j < c; j++) h->H[(size_t)j * c + i] = h->H[(size_t)i * c + j];
}

void hessian_free(Hessian *h) {
    if (!h) return;
    free(h->H);
    h->H = NULL;
}

/* hessian.c — GPTQ's running Hessian proxy (docs/quant.md §1.2): H = (2/n) Σ_samples xᵀx, where n counts
 * samples (sequences), not tokens, accumulated in float32 as `add_batch` does:
 *   H ← H·n/(n+s), n ← n+s, H ← H + (2/n)·xᵀx   — one tiled XᵀX (xtx.c, C = α XᵀX + β C) per batch of
 * s samples. The pipeline stacks several samples per call: one sample of a short window is too small
 * a product to keep two cores busy, and every call rescales all of H. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant/quant_internal.h"

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

void hessian_add_samples(Hessian *h, const float *x, int tokens, int samples) {
    if (!h || !h->H || !x || tokens <= 0 || samples <= 0) return;
    const int c = h->cols;
    for (size_t i = 0; i < (size_t)tokens * c; i++)
        if (!isfinite(x[i])) {
            h->nonfinite = 1;
            break;
        }
    /* the reference scales by the Python float n/(n+s), rounded to float32 on use */
    const float beta = (float)((double)h->n / (double)(h->n + samples));
    h->n += samples;
    const float alpha = 2.0f / (float)h->n;
    xtx_update(h->H, x, tokens, c, (size_t)c, alpha, beta);
}

/* x (tokens, cols) of one sample. */
void hessian_add_sample(Hessian *h, const float *x, int tokens) {
    hessian_add_samples(h, x, tokens, 1);
}

void hessian_free(Hessian *h) {
    if (!h) return;
    free(h->H);
    h->H = NULL;
}

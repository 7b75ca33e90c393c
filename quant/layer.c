/* layer.c — quantize_layer(): checks the inputs, dispatches to the solver of the chosen method,
 * and fills the statistics every method reports (layer error, seconds). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/quant_internal.h"

int quant_result_alloc(QuantResult *r, int rows, int cols, int n_groups, int bits, int alphas,
                       char err[QB_ERRLEN]) {
    memset(r, 0, sizeof *r);
    r->rows = rows;
    r->cols = cols;
    r->n_groups = n_groups;
    r->bits = bits;
    size_t n = (size_t)rows * cols, g = (size_t)rows * n_groups;
    r->q = malloc(n * sizeof(float));
    r->codes = malloc(n);
    r->scales = malloc(g * (alphas ? (size_t)bits : 1) * sizeof(float));
    r->zeros = malloc(g * sizeof(float));
    r->g_idx = malloc((size_t)cols * sizeof(int32_t));
    if (!r->q || !r->codes || !r->scales || !r->zeros || !r->g_idx) {
        quant_result_free(r);
        snprintf(err, QB_ERRLEN, "quantize: out of memory for a %dx%d layer", rows, cols);
        return -1;
    }
    return 0;
}

void quant_result_free(QuantResult *r) {
    if (!r) return;
    free(r->q); free(r->codes); free(r->scales); free(r->zeros); free(r->g_idx); free(r->perm);
    r->q = NULL; r->codes = NULL; r->scales = NULL; r->zeros = NULL; r->g_idx = NULL; r->perm = NULL;
}

/* tr(D H Dᵀ)/2 with D = W − Q, as Σ_ij H_ij (DᵀD)_ij: the upper tiles of DᵀD (half a GEMM's work,
 * rows·cols²/2 multiply-adds) on OpenMP threads, each tile reduced against H in double (xtx.c). */
double layer_error_h(const float *W, const float *Q, const float *H, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    float *D = malloc(n * sizeof(float));
    if (!D) return NAN;
    for (size_t i = 0; i < n; i++) D[i] = W[i] - Q[i];
    double tr = xtx_dot(D, rows, cols, H);
    free(D);
    return tr / 2.0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Hostile inputs: non-finite weights or Hessian entries, or a Hessian without any signal. */
static int check_inputs(const float *W, const float *H, int rows, int cols, char err[QB_ERRLEN]) {
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(W[i])) {
            snprintf(err, QB_ERRLEN, "weights contain %s at row %zu column %zu",
                     isnan(W[i]) ? "NaN" : "Inf", i / cols, i % cols);
            return -1;
        }
    if (!H) return 0;
    int any = 0;
    for (size_t i = 0; i < (size_t)cols * cols; i++) {
        if (!isfinite(H[i])) {
            snprintf(err, QB_ERRLEN, "Hessian contains %s at (%zu, %zu): non-finite layer inputs",
                     isnan(H[i]) ? "NaN" : "Inf", i / cols, i % cols);
            return -1;
        }
        any |= H[i] != 0.0f;
    }
    if (!any) {
        snprintf(err, QB_ERRLEN, "Hessian is all zero: the layer's calibration inputs are all zero");
        return -1;
    }
    return 0;
}

int quantize_layer(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
                   QuantResult *out, char err[QB_ERRLEN]) {
    double t0 = now_seconds();
    memset(out, 0, sizeof *out);
    if (!W || rows <= 0 || cols <= 0) {
        snprintf(err, QB_ERRLEN, "quantize: empty layer (%d x %d)", rows, cols);
        return -1;
    }
    if (quant_options_validate(o, cols, err)) return -1;
    const int uses_h = o->method == QM_GPTQ || o->method == QM_GPTQT;
    if (uses_h && !H) {
        snprintf(err, QB_ERRLEN, "quantize: %s needs a Hessian", quant_method_name(o->method));
        return -1;
    }
    if (check_inputs(W, H, rows, cols, err)) return -1;
    const int G = o->group_size > 0 ? o->group_size : cols;
    const int ng = (cols + G - 1) / G;
    const int binary = o->method == QM_BCQ || o->method == QM_GPTQT || o->method == QM_RTNT;
    if (quant_result_alloc(out, rows, cols, ng, o->bits, binary, err)) return -1;
    GridSpec s;
    grid_spec_from_options(&s, o);
    int rc;
    switch (o->method) {
    case QM_RTN:
        rc = rtn_run(W, NULL, rows, cols, o->group_size, &s, out, NULL, err);
        break;
    case QM_RTNT:
        rc = rtnt_run(W, H, rows, cols, o, out, err);
        break;
    case QM_GPTQ: {
        GptqCfg c = {o->group_size, o->act_order, o->static_groups, o->blocksize, o->percdamp,
                     o->max_damp_retries, NULL, NULL};
        rc = gptq_run(W, H, rows, cols, &s, &c, out, NULL, err);
        break;
    }
    case QM_GPTQT:
        rc = gptqt_run(W, H, rows, cols, o, out, err);
        break;
    case QM_BCQ:
        rc = bcq_run(W, rows, cols, o, out, err);
        break;
    default:
        snprintf(err, QB_ERRLEN, "quantize: unknown method");
        rc = -1;
    }
    if (rc) {
        quant_result_free(out);
        return -1;
    }
    out->error = H ? layer_error_h(W, out->q, H, rows, cols) : NAN;
    out->seconds = now_seconds() - t0;
    return 0;
}

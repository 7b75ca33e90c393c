/* gptqt.c — GPTQT, our reading of arXiv 2407.02891 (docs/quant.md §2.4; the paper's text is not public).
 *
 * MERGED (the main reading): GPTQ's loop unchanged, with find_params = "n-bit linear grid → m-bit
 * binary code with offset fitted to the integer histogram → real levels, scale re-explored over
 * p ∈ linspace(lo, hi, steps)" and quant = nearest level. Objectives: `weight` and `hdiag` pick p per
 * row inside every fit; `output` runs the whole GPTQ once per p (same p for every group) and keeps,
 * per row, the run with the smallest (w−q) H (w−q)ᵀ — exact, because GPTQ's rows are independent.
 *
 * TWOPASS (§2.4 alternative (a), "quantize twice" literally): a full n-bit GPTQ; then per row and
 * group a binary code with offset fitted to the histogram of the n-bit ints it produced; then a
 * second GPTQ pass from the original W onto those fixed levels. No re-explore in this variant. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

static GptqCfg cfg_from(const QuantOptions *o) {
    GptqCfg c = {o->group_size, o->act_order, o->static_groups, o->blocksize, o->percdamp,
                 o->max_damp_retries, NULL, NULL};
    return c;
}

/* err[r] = Σ_j (D H)_rj D_rj in double, D = W − Q (the reference's `output` objective). */
static int row_output_error(const float *W, const float *Q, const double *Hd, int rows, int cols,
                            double *D, double *DH, double *err) {
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i++) D[i] = (double)W[i] - (double)Q[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, cols, 1.0, D, cols, Hd, cols,
                0.0, DH, cols);
    for (size_t i = 0; i < n; i++) DH[i] *= D[i];
    for (int r = 0; r < rows; r++) err[r] = torch_sum_f64(DH + (size_t)r * cols, cols);
    return 0;
}

/* The `output` objective: one full solve per factor p (GPTQ, or plain rounding for RTNT), keeping
 * per row the solve with the smallest output error. */
static int gptqt_output(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
                        GridSpec *s, int compensate, QuantResult *out, char err[QB_ERRLEN]) {
    const int ng = out->n_groups, m = o->bits;
    size_t n = (size_t)rows * cols;
    int rc = -1;
    QuantResult tmp = {0};
    double *Hd = malloc((size_t)cols * cols * sizeof(double));
    double *D = malloc(n * sizeof(double)), *DH = malloc(n * sizeof(double));
    double *best = malloc((size_t)rows * sizeof(double)), *e = malloc((size_t)rows * sizeof(double));
    double *loss = malloc((size_t)rows * sizeof(double)), *best_loss = malloc((size_t)rows * sizeof(double));
    if (!Hd || !D || !DH || !best || !e || !loss || !best_loss) {
        snprintf(err, QB_ERRLEN, "gptqt: out of memory");
        goto done;
    }
    for (size_t i = 0; i < (size_t)cols * cols; i++) Hd[i] = H[i];
    if (quant_result_alloc(&tmp, rows, cols, ng, o->bits, 1, err)) goto done;
    GptqCfg c = cfg_from(o);
    c.row_loss = loss;
    for (int f = 0; f < s->n_factors; f++) {
        s->fixed_factor = s->factors[f];
        QuantResult *dst = f == 0 ? out : &tmp;
        free(dst->perm);
        dst->perm = NULL;
        if (compensate) {
            if (gptq_run(W, H, rows, cols, s, &c, dst, NULL, err)) goto done;
        } else {
            if (rtn_run(W, NULL, rows, cols, o->group_size, s, dst, NULL, err)) goto done;
            for (int r = 0; r < rows; r++) loss[r] = 0;
        }
        row_output_error(W, dst->q, Hd, rows, cols, D, DH, e);
        for (int r = 0; r < rows; r++) {
            if (f > 0 && !(e[r] < best[r])) continue;
            best[r] = e[r];
            best_loss[r] = loss[r];
            if (f == 0) continue;
            memcpy(out->q + (size_t)r * cols, tmp.q + (size_t)r * cols, cols * sizeof(float));
            memcpy(out->codes + (size_t)r * cols, tmp.codes + (size_t)r * cols, cols);
            memcpy(out->scales + (size_t)r * ng * m, tmp.scales + (size_t)r * ng * m,
                   (size_t)ng * m * sizeof(float));
            memcpy(out->zeros + (size_t)r * ng, tmp.zeros + (size_t)r * ng, ng * sizeof(float));
        }
    }
    out->gptq_loss = 0;
    for (int r = 0; r < rows; r++) out->gptq_loss += best_loss[r];
    rc = 0;
done:
    s->fixed_factor = 0;
    quant_result_free(&tmp);
    free(Hd); free(D); free(DH); free(best); free(e); free(loss); free(best_loss);
    return rc;
}

static int gptqt_twopass(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
                         QuantResult *out, char err[QB_ERRLEN]) {
    const int m = o->bits, n_bits = quant_high_bits(o);
    const int K = 1 << n_bits, nl = 1 << m, ng = out->n_groups;
    int rc = -1;
    QuantOptions o1 = *o;
    o1.method = QM_GPTQ;
    o1.bits = n_bits;
    o1.mse = 0;
    GridSpec s1, s2;
    grid_spec_from_options(&s1, &o1);
    grid_spec_from_options(&s2, o);
    QuantResult pass1 = {0};
    GroupParams *g1 = NULL, *g2 = calloc((size_t)ng, sizeof(GroupParams));
    double *hist = malloc((size_t)rows * K * sizeof(double));
    double *lv = malloc((size_t)rows * nl * sizeof(double));
    double *cc = malloc((size_t)rows * sizeof(double)), *aa = malloc((size_t)rows * m * sizeof(double));
    uint8_t *codes = malloc((size_t)rows * nl);
    if (!g2 || !hist || !lv || !cc || !aa || !codes) {
        snprintf(err, QB_ERRLEN, "gptqt two-pass: out of memory");
        goto done;
    }
    if (quant_result_alloc(&pass1, rows, cols, ng, n_bits, 0, err)) goto done;
    GptqCfg c = cfg_from(o);
    if (gptq_run(W, H, rows, cols, &s1, &c, &pass1, &g1, err)) goto done;
    for (int g = 0; g < ng; g++) {
        if (group_params_alloc(&g2[g], &s2, rows)) {
            snprintf(err, QB_ERRLEN, "gptqt two-pass: out of memory");
            goto done;
        }
        for (int r = 0; r < rows; r++) {
            double *h = hist + (size_t)r * K;
            for (int k = 0; k < K; k++) h[k] = 0;
            for (int j = 0; j < cols; j++)
                if (pass1.g_idx[j] == g) h[pass1.codes[(size_t)r * cols + j]] += 1.0;
        }
        if (bcq_fit_step2(hist, rows, K, m, o->bcq_iters, lv, codes, cc, aa, err)) goto done;
        for (int r = 0; r < rows; r++) {
            double sc = g1[g].scale[r], z = g1[g].zero[r];
            for (int j = 0; j < nl; j++) {
                g2[g].levels[(size_t)r * nl + j] = (float)(sc * (lv[(size_t)r * nl + j] - z));
                g2[g].level_code[(size_t)r * nl + j] = codes[(size_t)r * nl + j];
            }
            for (int i = 0; i < m; i++) g2[g].alpha[(size_t)r * m + i] = (float)(sc * aa[(size_t)r * m + i]);
            g2[g].offset[r] = (float)(sc * (cc[r] - z));
        }
    }
    c.preset = g2;
    if (gptq_run(W, H, rows, cols, &s2, &c, out, NULL, err)) goto done;
    rc = 0;
done:
    if (g1) {
        for (int g = 0; g < ng; g++) group_params_free(&g1[g]);
        free(g1);
    }
    if (g2) {
        for (int g = 0; g < ng; g++) group_params_free(&g2[g]);
        free(g2);
    }
    quant_result_free(&pass1);
    free(hist); free(lv); free(cc); free(aa); free(codes);
    return rc;
}

int gptqt_run(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
              QuantResult *out, char err[QB_ERRLEN]) {
    if (o->variant == QT_VARIANT_TWOPASS) return gptqt_twopass(W, H, rows, cols, o, out, err);
    GridSpec s;
    grid_spec_from_options(&s, o);
    if (o->objective == QT_OBJ_OUTPUT) return gptqt_output(W, H, rows, cols, o, &s, 1, out, err);
    GptqCfg c = cfg_from(o);
    return gptq_run(W, H, rows, cols, &s, &c, out, NULL, err);
}

/* The reference's rtnt ignores H (its hdiag/output objectives fall back to `weight`); here, given H,
 * hdiag weighs by diag(H) and output keeps per row the best p by (w−q) H (w−q)ᵀ. Without H both
 * fall back to `weight`, like the reference. */
int rtnt_run(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
             QuantResult *out, char err[QB_ERRLEN]) {
    GridSpec s;
    grid_spec_from_options(&s, o);
    if (H && o->objective == QT_OBJ_OUTPUT) return gptqt_output(W, H, rows, cols, o, &s, 0, out, err);
    return rtn_run(W, H, rows, cols, o->group_size, &s, out, NULL, err);
}

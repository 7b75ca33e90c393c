/* bcq.c — plain binary-coding quantization (docs/quant.md §2.3; Xu et al. 2018, LUT-GEMM's bcq.py):
 * w ≈ Σ_{i<m} α_i b_i with b_i ∈ {−1,+1}, α per row or per (row, group), no offset and no error
 * compensation. Solvers:
 *   greedy      α_i = mean|r|, b_i = sign(r) (sign(0) = +1), r ← r − α_i b_i;
 *   refined     greedy, then one least-squares refit of α for the fixed B;
 *   alternating greedy, then `bcq_rounds` × {least-squares α | B; nearest of the 2^m levels | α}.
 * Each alternating step cannot raise the squared error, so alternating ≤ refined ≤ greedy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

/* Solves the m×m system A α = y in place (Gaussian elimination, partial pivoting, a fixed order of
 * operations: the same bits on every CPU and thread count). -1 if singular. */
int bcq_solve_small(double *A, double *y, int m) {
    for (int c = 0; c < m; c++) {
        int p = c;
        for (int r = c + 1; r < m; r++)
            if (fabs(A[r * m + c]) > fabs(A[p * m + c])) p = r;
        if (fabs(A[p * m + c]) < 1e-300) return -1;
        if (p != c) {
            for (int k = 0; k < m; k++) {
                double t = A[c * m + k]; A[c * m + k] = A[p * m + k]; A[p * m + k] = t;
            }
            double t = y[c]; y[c] = y[p]; y[p] = t;
        }
        for (int r = c + 1; r < m; r++) {
            double f = A[r * m + c] / A[c * m + c];
            for (int k = c; k < m; k++) A[r * m + k] -= f * A[c * m + k];
            y[r] -= f * y[c];
        }
    }
    for (int c = m - 1; c >= 0; c--) {
        double s = y[c];
        for (int k = c + 1; k < m; k++) s -= A[c * m + k] * y[k];
        y[c] = s / A[c * m + c];
    }
    return 0;
}

/* Least-squares α for fixed codes; keeps the old α when BᵀB is singular (e.g. equal planes). */
static void refit_alpha(const float *x, const uint8_t *code, int k, int m, double *alpha) {
    double A[64] = {0}, y[8] = {0};
    for (int j = 0; j < k; j++) {
        double b[8];
        for (int i = 0; i < m; i++) b[i] = (code[j] >> i) & 1 ? 1.0 : -1.0;
        for (int u = 0; u < m; u++) {
            y[u] += b[u] * x[j];
            for (int v = 0; v < m; v++) A[u * m + v] += b[u] * b[v];
        }
    }
    if (bcq_solve_small(A, y, m) == 0)
        for (int i = 0; i < m; i++) alpha[i] = y[i];
}

/* Nearest of the 2^m levels Σ α_i b_i for every weight (binary search over the sorted levels). */
static void assign_codes(const float *x, int k, int m, const double *alpha, uint8_t *code) {
    const int nl = 1 << m;
    double lv[256];
    uint8_t lc[256];
    for (int j = 0; j < nl; j++) {
        double v = 0;
        for (int i = 0; i < m; i++) v += alpha[i] * ((j >> i) & 1 ? 1.0 : -1.0);
        int p = j;
        while (p > 0 && lv[p - 1] > v) { lv[p] = lv[p - 1]; lc[p] = lc[p - 1]; p--; }
        lv[p] = v;
        lc[p] = (uint8_t)j;
    }
    for (int j = 0; j < k; j++) {
        int lo = 0, hi = nl - 1; /* last level <= x, then compare with the next (ties → lower) */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (lv[mid] <= x[j]) lo = mid; else hi = mid - 1;
        }
        int best = lo;
        if (lo + 1 < nl && fabs(lv[lo + 1] - x[j]) < fabs(x[j] - lv[lo])) best = lo + 1;
        code[j] = lc[best];
    }
}

/* One row slice x (k) → alphas (m) and codes (k). */
static void bcq_fit_slice(const float *x, int k, int m, BcqSolver solver, int rounds, double *alpha,
                          uint8_t *code, double *r) {
    for (int j = 0; j < k; j++) { r[j] = x[j]; code[j] = 0; }
    for (int i = 0; i < m; i++) {
        double s = 0;
        for (int j = 0; j < k; j++) s += fabs(r[j]);
        alpha[i] = k > 0 ? s / k : 0;
        for (int j = 0; j < k; j++) {
            int pos = r[j] >= 0;
            if (pos) code[j] |= (uint8_t)(1u << i);
            r[j] -= pos ? alpha[i] : -alpha[i];
        }
    }
    if (solver == BCQ_GREEDY) return;
    refit_alpha(x, code, k, m, alpha);
    if (solver == BCQ_REFINED) return;
    for (int it = 0; it < rounds; it++) {
        assign_codes(x, k, m, alpha, code);
        refit_alpha(x, code, k, m, alpha);
    }
    assign_codes(x, k, m, alpha, code);
}

int bcq_run(const float *W, int rows, int cols, const QuantOptions *o, QuantResult *out,
            char err[QB_ERRLEN]) {
    const int m = o->bits, G = o->group_size > 0 ? o->group_size : cols, ng = out->n_groups;
    int failed = 0;
    #pragma omp parallel if ((long)rows * cols > (1L << 14))
    {
        double *r = malloc((size_t)cols * sizeof(double));
        if (!r) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int row = 0; row < rows; row++) {
            if (!r) continue;
            for (int g = 0; g < ng; g++) {
                const int c0 = g * G, k = cols - c0 < G ? cols - c0 : G;
                const float *x = W + (size_t)row * cols + c0;
                uint8_t *code = out->codes + (size_t)row * cols + c0;
                double alpha[8];
                bcq_fit_slice(x, k, m, o->bcq_solver, o->bcq_rounds, alpha, code, r);
                for (int j = 0; j < k; j++) {
                    double v = 0;
                    for (int i = 0; i < m; i++) v += alpha[i] * ((code[j] >> i) & 1 ? 1.0 : -1.0);
                    out->q[(size_t)row * cols + c0 + j] = (float)v;
                }
                for (int i = 0; i < m; i++) out->scales[((size_t)row * ng + g) * m + i] = (float)alpha[i];
                out->zeros[(size_t)row * ng + g] = 0.0f;
            }
        }
        free(r);
    }
    if (failed) {
        snprintf(err, QB_ERRLEN, "bcq: out of memory");
        return -1;
    }
    for (int j = 0; j < cols; j++) out->g_idx[j] = j / G;
    return 0;
}

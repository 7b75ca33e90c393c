/* gptq.c — the GPTQ core of quant.md §1.4, for any grid (uniform for GPTQ, two-step levels for
 * GPTQT). Steps in the reference's order, because the order decides the last bits:
 * initial params on the untouched rows → dead columns → static groups → act-order permutation →
 * damping λ = percdamp·mean(diag H) → U = chol(chol_inverse(chol(H)), upper) → lazy blocks of B
 * columns with the in-block rank-1 updates and one GEMM per block → inverse permutation.
 *
 * Not positive definite: each retry multiplies the relative damping by 10 (starting at 1e-4 when
 * percdamp is 0), up to max_damp_retries; the result records the λ used and the retry count. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

/* dst (n,n) = srcᵀ, in 32x32 tiles so both sides stay in cache. */
static void transpose(const float *src, float *dst, int n) {
    enum { T = 32 };
    for (int i0 = 0; i0 < n; i0 += T)
        for (int j0 = 0; j0 < n; j0 += T) {
            int i1 = i0 + T < n ? i0 + T : n, j1 = j0 + T < n ? j0 + T : n;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) dst[(size_t)j * n + i] = src[(size_t)i * n + j];
        }
}

/* H (n,n) row-major with diagonal diag + damp → U (n,n) row-major upper with UᵀU = H⁻¹. Returns
 * LAPACK's info (> 0: not positive definite at that minor). `a` is scratch (n,n). */
static int inverse_cholesky_upper(const float *H, const float *diag, float damp, int n, float *a,
                                  float *U) {
    /* column-major copy of H: the reference hands LAPACK H's own lower triangle */
    transpose(H, a, n);
    for (int j = 0; j < n; j++) a[(size_t)j * n + j] = diag[j] + damp;
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', n, a, n);   /* H = L Lᵀ */
    if (info) return (int)info;
    info = LAPACKE_spotri_work(LAPACK_COL_MAJOR, 'L', n, a, n);              /* (L Lᵀ)⁻¹, lower */
    if (info) return (int)info;
    /* cholesky_inverse returns the full symmetric matrix: mirror the lower triangle (column-major
     * a[i + j·n], i > j) onto the upper one, i.e. the row-major view's upper onto its lower */
    transpose(a, U, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) a[(size_t)i * n + j] = U[(size_t)i * n + j];
    info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', n, a, n);              /* H⁻¹ = UᵀU */
    if (info) return (int)info;
    transpose(a, U, n); /* row-major U: U[i][j] = a[i + j·n] */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) U[(size_t)i * n + j] = 0.0f;
    return 0;
}

/* perm = indices sorted by descending key, ties by ascending index (quant.md §1.4 step 5): a stable
 * bottom-up merge sort, so equal keys (dead columns, diag 1) keep their original order. */
static int stable_argsort_desc(const float *key, int n, int *perm) {
    int *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (!tmp) return -1;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = key[perm[b]] > key[perm[a]] ? perm[b++] : perm[a++];
            while (a < mid) tmp[k++] = perm[a++];
            while (b < hi) tmp[k++] = perm[b++];
        }
        memcpy(perm, tmp, (size_t)n * sizeof(int));
    }
    free(tmp);
    return 0;
}

int gptq_run(const float *W, const float *H, int rows, int cols, const GridSpec *s,
             const GptqCfg *c, QuantResult *out, GroupParams **params_out, char err[QB_ERRLEN]) {
    const int G = c->group_size > 0 ? c->group_size : -1;
    const int ng = G > 0 ? (cols + G - 1) / G : 1;
    const int B = c->blocksize > 0 ? c->blocksize : 128;
    const size_t n2 = (size_t)cols * cols;
    int rc = -1;
    float *Wp = malloc((size_t)rows * cols * sizeof(float));
    float *Hp = c->act_order ? malloc(n2 * sizeof(float)) : NULL; /* permuted H */
    float *Hd = malloc(n2 * sizeof(float));
    float *U = malloc(n2 * sizeof(float));
    float *scratch = malloc(n2 * sizeof(float));
    float *Qp = malloc((size_t)rows * cols * sizeof(float));
    uint8_t *Cp = malloc((size_t)rows * cols);
    float *hd = malloc((size_t)cols * sizeof(float)); /* diag after the dead fix (permuted) */
    float *Wb = malloc((size_t)B * ((rows + 63) / 64 * 64) * sizeof(float)); /* (chunk, t, 64) */
    float *E = malloc((size_t)rows * B * sizeof(float));
    double *loss = calloc((size_t)rows, sizeof(double));
    int *perm = malloc((size_t)cols * sizeof(int));
    GroupParams *groups = calloc((size_t)ng, sizeof(GroupParams));
    const GroupParams **cur_of_col = malloc((size_t)B * sizeof(*cur_of_col));
    if (!Wp || (c->act_order && !Hp) || !Hd || !U || !scratch || !Qp || !Cp || !hd || !Wb || !E || !loss || !perm ||
        !groups || !cur_of_col) {
        snprintf(err, QB_ERRLEN, "gptq: out of memory for a %dx%d layer", rows, cols);
        goto done;
    }
    for (int g = 0; g < ng; g++)
        if (group_params_alloc(&groups[g], s, rows)) {
            snprintf(err, QB_ERRLEN, "gptq: out of memory");
            goto done;
        }
    memcpy(Wp, W, (size_t)rows * cols * sizeof(float));
    memcpy(Hd, H, n2 * sizeof(float));

    /* 2. initial params on the untouched rows (used when G = -1) */
    if (G < 0) {
        if (c->preset) {
            group_params_copy(&groups[0], &c->preset[0]);
        } else {
            for (int j = 0; j < cols; j++) hd[j] = H[(size_t)j * cols + j];
            if (grid_fit(s, Wp, rows, cols, (size_t)cols, hd, &groups[0], err)) goto done;
        }
    }
    /* 3. dead columns */
    for (int j = 0; j < cols; j++) {
        if (Hd[(size_t)j * cols + j] == 0.0f) {
            Hd[(size_t)j * cols + j] = 1.0f;
            for (int r = 0; r < rows; r++) Wp[(size_t)r * cols + j] = 0.0f;
        }
        hd[j] = Hd[(size_t)j * cols + j];
    }
    /* 4. static groups: contiguous original columns, after the dead fix, before any update */
    if (G > 0 && (c->static_groups || c->preset)) {
        for (int g = 0; g < ng; g++) {
            if (c->preset) { group_params_copy(&groups[g], &c->preset[g]); continue; }
            int k = cols - g * G < G ? cols - g * G : G;
            if (grid_fit(s, Wp + (size_t)g * G, rows, k, (size_t)cols, hd + (size_t)g * G,
                         &groups[g], err))
                goto done;
        }
    }
    /* 5. act-order */
    for (int j = 0; j < cols; j++) perm[j] = j;
    if (c->act_order) {
        if (stable_argsort_desc(hd, cols, perm)) {
            snprintf(err, QB_ERRLEN, "gptq: out of memory");
            goto done;
        }
        float *tmp = scratch;
        for (int r = 0; r < rows; r++) {
            float *wr = Wp + (size_t)r * cols;
            for (int j = 0; j < cols; j++) tmp[j] = wr[perm[j]];
            memcpy(wr, tmp, (size_t)cols * sizeof(float));
        }
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
                Hp[(size_t)i * cols + j] = Hd[(size_t)perm[i] * cols + perm[j]];
        for (int j = 0; j < cols; j++) hd[j] = Hp[(size_t)j * cols + j];
    }
    const float *Hs = c->act_order ? Hp : Hd; /* dead-fixed, permuted H, undamped */
    /* 6–7. damping and the inverse-Hessian factor; raise the damping while not PD */
    {
        float mean = torch_sum_f32(hd, cols) / (float)cols;
        float pd = c->percdamp;
        int retries = 0;
        for (;;) {
            float damp = pd * mean;
            int info = inverse_cholesky_upper(Hs, hd, damp, cols, scratch, U);
            if (info == 0) {
                out->damp_used = damp;
                out->damp_retries = retries;
                break;
            }
            if (retries >= c->max_damp_retries) {
                snprintf(err, QB_ERRLEN, "gptq: Hessian not positive definite (leading minor %d) "
                         "after %d damping retries (last percdamp %g)", info, retries, (double)pd);
                goto done;
            }
            pd = pd > 0 ? pd * 10.0f : 1e-4f;
            retries++;
        }
    }
    /* 8. lazy blocks */
    int fit_failed = 0;
    for (int b0 = 0; b0 < cols; b0 += B) {
        const int b1 = b0 + B < cols ? b0 + B : cols, bw = b1 - b0;
        /* group params of each column; dynamic refits read the global W, which has every earlier
         * block's update but none of this block's (the stale-group quirk for G < B) */
        for (int t = 0; t < bw; t++) {
            int j = b0 + t;
            if (G < 0) { cur_of_col[t] = &groups[0]; continue; }
            if (c->static_groups || c->preset) {
                int gi = c->static_groups ? perm[j] / G : j / G;
                cur_of_col[t] = &groups[gi];
                continue;
            }
            /* uniform grids fit row by row, inside the parallel loop below (one fork per block) */
            if (j % G == 0 && s->two_step) {
                int k = cols - j < G ? cols - j : G;
                if (grid_fit(s, Wp + j, rows, k, (size_t)cols, hd + j, &groups[j / G], err))
                    goto done;
            }
            cur_of_col[t] = &groups[j / G];
        }
        const int fit_inside = G > 0 && !s->two_step && !c->static_groups && !c->preset;
        /* rows are independent given U: split them over threads (same bits for any count) */
        #pragma omp parallel for schedule(static) if (rows > 64)
        for (int r0 = 0; r0 < rows; r0 += 64) {
            const int r1 = r0 + 64 < rows ? r0 + 64 : rows;
            const int nr = r1 - r0;
            float e[64];
            /* W1 = W[r0:r1, b0:b1] stored transposed (bw, 64) per chunk: each column contiguous */
            float *wc = Wb + (size_t)r0 * bw;
            for (int t = 0; t < bw; t++)
                for (int i = 0; i < nr; i++) wc[(size_t)t * 64 + i] = Wp[(size_t)(r0 + i) * cols + b0 + t];
            for (int t = 0; t < bw; t++) {
                const int j = b0 + t;
                if (fit_inside && j % G == 0) { /* rows r0..r1 of the stale global W[:, j:j+G] */
                    GroupParams view = groups[j / G];
                    view.scale += r0;
                    view.zero += r0;
                    view.rows = nr;
                    int k = cols - j < G ? cols - j : G;
                    char ferr[QB_ERRLEN]; /* only an mse fit can fail (allocation) */
                    if (grid_fit(s, Wp + (size_t)r0 * cols + j, nr, k, (size_t)cols, hd + j, &view, ferr)) {
                        #pragma omp atomic write
                        fit_failed = 1;
                    }
                }
                const float *urow = U + (size_t)j * cols + b0; /* U[j, b0:b1] */
                const float d = urow[t];
                float *wt = wc + (size_t)t * 64 - r0;
                for (int r = r0; r < r1; r++) {
                    uint8_t code;
                    float w = wt[r];
                    float q = grid_quant(s, cur_of_col[t], r, w, &code);
                    Qp[(size_t)r * cols + j] = q;
                    Cp[(size_t)r * cols + j] = code;
                    float ej = (w - q) / d;
                    loss[r] += (double)ej * (double)ej / 2.0;
                    E[(size_t)r * bw + t] = ej;
                    e[r - r0] = ej;
                }
                /* W1[:, t+1:] -= e ⊗ U[j, t+1:b1]  (product rounded, then subtracted) */
                for (int t2 = t + 1; t2 < bw; t2++) {
                    const float u = urow[t2];
                    float *restrict w2 = wc + (size_t)t2 * 64;
                    #pragma omp simd
                    for (int i = 0; i < nr; i++) w2[i] -= e[i] * u;
                }
            }
        }
        if (fit_failed) {
            snprintf(err, QB_ERRLEN, "gptq: out of memory in a group fit");
            goto done;
        }
        /* W[:, b1:] -= E1 (rows,bw) @ U[b0:b1, b1:] (bw, cols-b1) */
        if (b1 < cols)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols - b1, bw, -1.0f, E,
                        bw, U + (size_t)b0 * cols + b1, cols, 1.0f, Wp + b1, cols);
    }
    /* 9. back to the original column order */
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            out->q[(size_t)r * cols + perm[j]] = Qp[(size_t)r * cols + j];
            out->codes[(size_t)r * cols + perm[j]] = Cp[(size_t)r * cols + j];
        }
    /* g_idx: dynamic groups under act-order are numbered in permuted order (pos(c) // G) */
    for (int j = 0; j < cols; j++)
        out->g_idx[perm[j]] = G < 0 ? 0 : (c->act_order && !c->static_groups) ? j / G : perm[j] / G;
    if (c->act_order) {
        out->perm = malloc((size_t)cols * sizeof(int));
        if (!out->perm) {
            snprintf(err, QB_ERRLEN, "gptq: out of memory");
            goto done;
        }
        memcpy(out->perm, perm, (size_t)cols * sizeof(int));
    }
    out->gptq_loss = 0;
    for (int r = 0; r < rows; r++) out->gptq_loss += loss[r];
    if (c->row_loss) memcpy(c->row_loss, loss, (size_t)rows * sizeof(double));
    store_group_params(s, groups, out);
    if (params_out) {
        *params_out = groups;
        groups = NULL;
    }
    rc = 0;
done:
    if (groups) {
        for (int g = 0; g < ng; g++) group_params_free(&groups[g]);
        free(groups);
    }
    free(Wp); free(Hp); free(Hd); free(U); free(scratch); free(Qp); free(Cp); free(hd); free(Wb);
    free(E); free(loss); free(perm); free(cur_of_col);
    return rc;
}

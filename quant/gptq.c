/* gptq.c — the GPTQ core of docs/quant.md §1.4, for any grid (uniform for GPTQ, two-step levels for
 * GPTQT). Steps in the reference's order, because the order decides the last bits:
 * initial params on the untouched rows → dead columns → static groups → act-order permutation →
 * damping λ = percdamp·mean(diag H) → U = chol(chol_inverse(chol(H)), upper) → lazy blocks of B
 * columns with the in-block rank-1 updates and one GEMM per block → inverse permutation.
 *
 * Not positive definite: each retry multiplies the relative damping by 10 (starting at 1e-4 when
 * percdamp is 0), up to max_damp_retries; the result records the λ used and the retry count.
 *
 * Speed (bench/bench_quant.c): the factorization is LAPACK on OpenBLAS's threads (their count
 * decides U's bits, as in the reference); everything after it runs on OpenMP threads, each taking
 * runs of up to four 64-row chunks through all the blocks: the in-block updates, then the block's
 * GEMM on its own rows with a single-threaded sgemm. Rows never interact given U, and a GEMM
 * element's sum does not depend on how the rows are split (see block_rows), so the result has the
 * same bits for any OpenMP thread count, and the reference's given its H and OpenBLAS thread count
 * (tests/test_gptq_oracle.c, tests/test_gptq_wide.c).
 *
 * On a machine where other processes compete for the cores, OpenBLAS's threaded potrf/potri wait on
 * each other at every panel and slow down ~20x (a 768x2048 factorization took 1.8 s instead of 0.08
 * with one busy process beside it); OPENBLAS_NUM_THREADS=1 avoids that (0.3 s) at other bits. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

/* The copies around the LAPACK calls stay serial: an OpenMP region just before a threaded LAPACK call
 * leaves a libgomp worker spinning against OpenBLAS's (the next potrf took 40% longer), and
 * gptq_run parks the OpenMP pool before them anyway (blas_threads.c). */
enum { TT = 32 }; /* transpose tile: both sides stay in cache */

/* a (n,n) column-major, lower triangle and diagonal ← the damped, dead-fixed, permuted H:
 * a(i,j) = H[perm i][perm j] for i > j (H row-major, read through perm so no permuted copy of H is
 * made), a(j,j) = diag[j] + damp. The reference hands LAPACK exactly these entries (its H's lower
 * triangle); the upper triangle of `a` is not read. */
static void load_lower(const float *H, const int *perm, const float *diag, float damp, int n, float *a) {
    for (int j0 = 0; j0 < n; j0 += TT)
        for (int i0 = j0; i0 < n; i0 += TT) {
            const int i1 = i0 + TT < n ? i0 + TT : n, j1 = j0 + TT < n ? j0 + TT : n;
            for (int j = j0; j < j1; j++) {
                const size_t pj = (size_t)perm[j];
                for (int i = i0 > j + 1 ? i0 : j + 1; i < i1; i++)
                    a[(size_t)j * n + i] = H[(size_t)perm[i] * n + pj];
            }
        }
    for (int j = 0; j < n; j++) a[(size_t)j * n + j] = diag[j] + damp;
}

/* a (n,n) column-major: upper triangle ← lower triangle (a(i,j) = a(j,i), i < j), tile by tile. */
static void mirror_lower_to_upper(float *a, int n) {
    for (int j0 = 0; j0 < n; j0 += TT)
        for (int i0 = 0; i0 <= j0; i0 += TT) {
            const int i1 = i0 + TT < n ? i0 + TT : n, j1 = j0 + TT < n ? j0 + TT : n;
            for (int j = j0; j < j1; j++)
                for (int i = i0; i < i1 && i < j; i++) a[(size_t)j * n + i] = a[(size_t)i * n + j];
        }
}

/* H (n,n) → a (n,n) column-major whose upper triangle is U with UᵀU = H⁻¹ (docs/quant.md §1.4 step 7:
 * L = chol(H), Hinv = cholesky_inverse(L), U = chol(Hinv, upper), the reference's three LAPACK calls
 * in its order, so U has its bits). Returns LAPACK's info (> 0: not positive definite). These are the
 * only calls that run on OpenBLAS's threads (blas_threads.c). */
static int inverse_cholesky_upper(const float *H, const int *perm, const float *diag, float damp, int n,
                                  float *a) {
    load_lower(H, perm, diag, damp, n, a);
    /* OpenBLAS's threaded potrf/potri split the work by its thread count, which changes the
     * rounding: one OpenBLAS thread, so the factor has the same bits for any --threads */
    QBlasSingle bs;
    qblas_single_begin(&bs);
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', n, a, n);   /* H = L Lᵀ */
    if (!info) info = LAPACKE_spotri_work(LAPACK_COL_MAJOR, 'L', n, a, n);   /* (L Lᵀ)⁻¹, lower */
    if (!info) {
        /* cholesky_inverse returns the full symmetric matrix: potrf('U') reads its upper triangle */
        mirror_lower_to_upper(a, n);
        info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', n, a, n);          /* H⁻¹ = UᵀU */
    }
    qblas_single_end(&bs);
    return (int)info;
}

/* perm = indices sorted by descending key, ties by ascending index (docs/quant.md §1.4 step 5): a stable
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

enum { RC = 64 }; /* rows per chunk: one column of a chunk is 64 contiguous floats (4 AVX-512 vectors) */
typedef float v16 __attribute__((vector_size(64))); /* GCC vector: 16 floats, one AVX-512 register */

/* What the threads of one lazy block share. */
typedef struct {
    const GridSpec *s;
    int rows, cols, G, fit_inside;
    float *Wp;                       /* (rows, cols) in solve (permuted) order, updated in place */
    const float *hd;                 /* (cols) diag after the dead fix, permuted */
    GroupParams *groups;
    const GroupParams **cur_of_col;  /* (cols) the grid of each column */
    const float *A;                  /* (cols, cols) column-major, U in the upper triangle */
    const float *Ub;                 /* block b's U[b0:b1, b0:b1] row-major (bw, bw) at Ub + b0·B */
    int B;                           /* block size */
    float *Wb;                       /* chunk c's block columns at Wb + c·RC·B, (bw, RC) */
    float *E;                        /* rows r0..r1's scaled errors at E + r0·B, (bw, r1-r0) */
    float *Efull;                    /* or NULL: all rows' errors (rows, bw) for one full-height GEMM */
    float *Q;                        /* (rows, cols) dequantized, solve order */
    uint8_t *C;                      /* (rows, cols) codes, solve order */
    double *loss;                    /* (rows) Σ e²/2 */
    int fit_failed;
} BlockCtx;

/* Block b0..b0+bw-1 for the rows r0..r1-1 of one 64-row chunk: docs/quant.md §1.4 step 8's inner loop.
 * The scaled errors go to E (bw, ldE), columns from 0, and to k->Efull when that is set. */
static void block_chunk(BlockCtx *k, int b0, int bw, int r0, int r1, float *E, int ldE) {
    const int cols = k->cols, nr = r1 - r0, G = k->G;
    float e[RC];
    /* W1 = W[r0:r1, b0:b1] stored transposed (bw, RC): each column of the chunk contiguous */
    float *wc = k->Wb + (size_t)(r0 / RC) * RC * k->B;
    const float *Ub = k->Ub + (size_t)b0 * k->B;
    for (int i = 0; i < nr; i++) {
        const float *src = k->Wp + (size_t)(r0 + i) * cols + b0;
        for (int t = 0; t < bw; t++) wc[(size_t)t * RC + i] = src[t];
    }
    for (int t = 0; t < bw; t++) {
        const int j = b0 + t;
        if (k->fit_inside && j % G == 0) { /* rows r0..r1 of the stale global W[:, j:j+G] */
            GroupParams view = k->groups[j / G];
            view.scale += r0;
            view.zero += r0;
            view.rows = nr;
            int kk = cols - j < G ? cols - j : G;
            char ferr[QB_ERRLEN]; /* only an mse fit can fail (allocation) */
            if (grid_fit(k->s, k->Wp + (size_t)r0 * cols + j, nr, kk, (size_t)cols, k->hd + j, &view, ferr)) {
                #pragma omp atomic write
                k->fit_failed = 1;
            }
        }
        const float *urow = Ub + (size_t)t * bw; /* U[j, b0:b1] */
        const float d = urow[t];
        const GroupParams *gp = k->cur_of_col[j];
        float *wt = wc + (size_t)t * RC;
        float q[RC];
        uint8_t code[RC];
        if (!k->s->two_step) { /* uniform_quant, element by element, vectorized over the rows */
            const float *sc = gp->scale + r0, *zr = gp->zero + r0;
            const float maxq = (float)((1 << k->s->bits) - 1);
            #pragma omp simd
            for (int i = 0; i < nr; i++) {
                float kq = __builtin_rintf(wt[i] / sc[i]) + zr[i];
                kq = kq < 0.0f ? 0.0f : (kq > maxq ? maxq : kq);
                code[i] = (uint8_t)kq;
                q[i] = sc[i] * (kq - zr[i]);
            }
        } else {
            for (int i = 0; i < nr; i++) q[i] = grid_quant(k->s, gp, r0 + i, wt[i], &code[i]);
        }
        #pragma omp simd
        for (int i = 0; i < nr; i++) e[i] = (wt[i] - q[i]) / d;
        double *loss = k->loss + r0;
        #pragma omp simd
        for (int i = 0; i < nr; i++) loss[i] += (double)e[i] * (double)e[i] / 2.0;
        for (int i = 0; i < nr; i++) {
            k->Q[(size_t)(r0 + i) * cols + j] = q[i];
            k->C[(size_t)(r0 + i) * cols + j] = code[i];
        }
        memcpy(E + (size_t)t * ldE, e, (size_t)nr * sizeof(float));
        if (k->Efull)
            for (int i = 0; i < nr; i++) k->Efull[(size_t)(r0 + i) * bw + t] = e[i];
        /* W1[:, t+1:] -= e ⊗ U[j, t+1:b1]  (product rounded, then subtracted: no FMA under -std=c17) */
        if (nr == RC) { /* a full chunk: e stays in four 16-float registers */
            v16 e0, e1, e2, e3;
            memcpy(&e0, e, 64); memcpy(&e1, e + 16, 64); memcpy(&e2, e + 32, 64); memcpy(&e3, e + 48, 64);
            for (int t2 = t + 1; t2 < bw; t2++) {
                const float u = urow[t2];
                float *w2 = wc + (size_t)t2 * RC;
                v16 a0, a1, a2, a3;
                memcpy(&a0, w2, 64); memcpy(&a1, w2 + 16, 64); memcpy(&a2, w2 + 32, 64); memcpy(&a3, w2 + 48, 64);
                a0 -= e0 * u; a1 -= e1 * u; a2 -= e2 * u; a3 -= e3 * u;
                memcpy(w2, &a0, 64); memcpy(w2 + 16, &a1, 64); memcpy(w2 + 32, &a2, 64); memcpy(w2 + 48, &a3, 64);
            }
        } else {
            for (int t2 = t + 1; t2 < bw; t2++) {
                const float u = urow[t2];
                float *restrict w2 = wc + (size_t)t2 * RC;
                #pragma omp simd
                for (int i = 0; i < nr; i++) w2[i] -= e[i] * u;
            }
        }
    }
}

/* Block b0..b0+bw-1 for the rows r0..r1-1 (whole chunks, one thread): every chunk's inner loop, then,
 * unless k->Efull collects the errors for one full-height GEMM, the block's GEMM on these rows. */
static void block_rows(BlockCtx *k, int b0, int bw, int r0, int r1) {
    const int cols = k->cols, b1 = b0 + bw, ldE = r1 - r0;
    float *E = k->E + (size_t)r0 * k->B; /* (bw, ldE): these rows' errors, column by column */
    for (int c0 = r0; c0 < r1; c0 += RC)
        block_chunk(k, b0, bw, c0, c0 + RC < r1 ? c0 + RC : r1, E + (c0 - r0), ldE);
    // W[r0:r1, b1:] -= E1 (ldE, bw) @ U[b0:b1, b1:] (bw, cols-b1), E1 = Eᵀ and U read from A
    // (column-major) as transposes of row-major views. Both operands transposed: OpenBLAS has no
    // "small matrix" kernel for that case, so the call takes the packed-kernel path the reference's
    // full-height GEMM took, and an element's sum does not depend on how many rows the call has (the
    // small kernels add in another order; gptq_run sends the layers whose full-height GEMMs are small
    // enough for them to a full-height GEMM instead)
    if (b1 < cols && !k->Efull)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, ldE, cols - b1, bw, -1.0f, E, ldE,
                    k->A + (size_t)b1 * cols + b0, cols, 1.0f, k->Wp + (size_t)r0 * cols + b1, cols);
}

int gptq_run(const float *W, const float *H, int rows, int cols, const GridSpec *s,
             const GptqCfg *c, QuantResult *out, GroupParams **params_out, char err[QB_ERRLEN]) {
    const int G = c->group_size > 0 ? c->group_size : -1;
    const int ng = G > 0 ? (cols + G - 1) / G : 1;
    const int B = c->blocksize > 0 ? c->blocksize : 128;
    const int nchunks = (rows + RC - 1) / RC;
    const size_t n2 = (size_t)cols * cols, nw = (size_t)rows * cols;
    int rc = -1;
    float *Wp = malloc(nw * sizeof(float));
    float *A = malloc(n2 * sizeof(float)); /* LAPACK's work; ends holding U (column-major, upper) */
    float *Ub = malloc((size_t)cols * B * sizeof(float));
    /* without act-order the solve order is the column order: write the result in place */
    float *Qp = c->act_order ? malloc(nw * sizeof(float)) : out->q;
    uint8_t *Cp = c->act_order ? malloc(nw) : out->codes;
    float *hd = malloc((size_t)cols * sizeof(float)); /* diag after the dead fix (permuted) */
    float *Wb = malloc((size_t)B * nchunks * RC * sizeof(float));
    float *E = malloc((size_t)B * nchunks * RC * sizeof(float));
    /* OpenBLAS (0.3, AVX-512 kernels) multiplies M·N·K <= 100³ with "small matrix" kernels that add in
     * another order. The reference's block GEMM is one (rows, cols-b1, B) product: where any of them
     * is that small, do what it does — one full-height GEMM per block, after all rows' in-block work
     * (Efull: the block's errors, Urow: U[b0:b1, b1:] row-major). */
    int full_gemm = 0;
    for (int b1 = B; b1 < cols; b1 += B)
        if ((double)rows * (cols - b1) * B <= 1e6) full_gemm = 1;
    /* block by block over all rows (a barrier per block) for those GEMMs, and for GPTQT's dynamic
     * groups; otherwise each run of rows goes through every block on its own (gptq_run's step 8) and
     * copies its own rows of W first (`lazy`: in parallel, page faults included), unless static
     * groups need all of the dead-fixed W before the solve */
    const int sync = full_gemm || (G > 0 && s->two_step && !c->static_groups && !c->preset);
    const int lazy = !sync && !c->static_groups;
    unsigned char *dead = malloc((size_t)cols);
    float *Efull = full_gemm ? malloc((size_t)B * rows * sizeof(float)) : NULL;
    float *Urow = full_gemm ? malloc((size_t)B * cols * sizeof(float)) : NULL;
    double *loss = calloc((size_t)rows, sizeof(double));
    int *perm = malloc((size_t)cols * sizeof(int));
    GroupParams *groups = calloc((size_t)ng, sizeof(GroupParams));
    const GroupParams **cur_of_col = malloc((size_t)cols * sizeof(*cur_of_col));
    if (!Wp || !A || !Ub || !Qp || !Cp || !hd || !Wb || !E || (full_gemm && (!Efull || !Urow)) || !dead || !loss || !perm || !groups || !cur_of_col) {
        snprintf(err, QB_ERRLEN, "gptq: out of memory for a %dx%d layer", rows, cols);
        goto done;
    }
    for (int g = 0; g < ng; g++)
        if (group_params_alloc(&groups[g], s, rows)) {
            snprintf(err, QB_ERRLEN, "gptq: out of memory");
            goto done;
        }
    /* 2. initial params on the untouched rows (used when G = -1) */
    if (G < 0) {
        if (c->preset) {
            group_params_copy(&groups[0], &c->preset[0]);
        } else {
            for (int j = 0; j < cols; j++) hd[j] = H[(size_t)j * cols + j];
            if (grid_fit(s, W, rows, cols, (size_t)cols, hd, &groups[0], err)) goto done;
        }
    }
    /* 3. dead columns: H[j][j] = 1 (only hd and the factor's diagonal see it), W[:, j] = 0. When not
     * lazy, the copy is serial like the permutation below: they lead to the LAPACK calls (see TT) */
    int any_dead = 0;
    for (int j = 0; j < cols; j++) {
        hd[j] = H[(size_t)j * cols + j];
        dead[j] = hd[j] == 0.0f;
        if (dead[j]) {
            hd[j] = 1.0f;
            any_dead = 1;
        }
    }
    for (int r = 0; r < rows && !lazy; r++) {
        float *wr = Wp + (size_t)r * cols;
        memcpy(wr, W + (size_t)r * cols, (size_t)cols * sizeof(float));
        for (int j = 0; j < cols && any_dead; j++)
            if (dead[j]) wr[j] = 0.0f;
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
    /* 5. act-order: W's columns and hd permuted here; H is read through perm by the factorization */
    for (int j = 0; j < cols; j++) perm[j] = j;
    if (c->act_order) {
        if (stable_argsort_desc(hd, cols, perm)) {
            snprintf(err, QB_ERRLEN, "gptq: out of memory");
            goto done;
        }
        /* Qp (not yet written) is the scratch of the permutation */
        for (int r = 0; r < rows && !lazy; r++) {
            float *wr = Wp + (size_t)r * cols, *t = Qp + (size_t)r * cols;
            for (int j = 0; j < cols; j++) t[j] = wr[perm[j]];
            memcpy(wr, t, (size_t)cols * sizeof(float));
        }
        float *t = Qp;
        for (int j = 0; j < cols; j++) t[j] = hd[perm[j]];
        memcpy(hd, t, (size_t)cols * sizeof(float));
    }
    /* 6–7. damping and the inverse-Hessian factor; raise the damping while not PD */
    {
        float mean = torch_sum_f32(hd, cols) / (float)cols;
        float pd = c->percdamp;
        int retries = 0;
        qomp_park(); /* LAPACK gets the cores to itself (blas_threads.c) */
        for (;;) {
            float damp = pd * mean;
            int info = inverse_cholesky_upper(H, perm, hd, damp, cols, A);
            if (info == 0) {
                out->damp_used = damp;
                out->damp_retries = retries;
                break;
            }
            if (retries >= c->max_damp_retries) {
                qblas_park();
                snprintf(err, QB_ERRLEN, "gptq: Hessian not positive definite (leading minor %d) "
                         "after %d damping retries (last percdamp %g)", info, retries, (double)pd);
                goto done;
            }
            pd = pd > 0 ? pd * 10.0f : 1e-4f;
            retries++;
        }
        qblas_park(); /* from here on only OpenMP threads compute */
    }
    /* 8. lazy blocks. U's diagonal blocks row-major (U(i,j) = A[i + j·cols], i <= j) for the
     * in-block updates; the grid of every column (dynamic uniform grids are fitted in block_chunk). */
    for (int b0 = 0; b0 < cols; b0 += B) {
        const int bw = cols - b0 < B ? cols - b0 : B;
        float *ub = Ub + (size_t)b0 * B;
        for (int t = 0; t < bw; t++)
            for (int t2 = t; t2 < bw; t2++) ub[(size_t)t * bw + t2] = A[(size_t)(b0 + t2) * cols + b0 + t];
    }
    for (int j = 0; j < cols; j++)
        cur_of_col[j] = G < 0 ? &groups[0] : c->static_groups ? &groups[perm[j] / G] : &groups[j / G];
    BlockCtx k = {s, rows, cols, G, G > 0 && !s->two_step && !c->static_groups && !c->preset,
                  Wp, hd, groups, cur_of_col, A, Ub, B, Wb, E, full_gemm ? Efull : NULL, Qp, Cp, loss, 0};
    QBlasSingle bs;
    qblas_single_begin(&bs);
    if (!sync) {
        /* every grid is per row: each run of rows goes through all the blocks on its own, with no
         * barrier. Runs of up to 4 chunks (a GEMM of 64 rows runs at 70% of one of 256), at least 2
         * runs per thread while there are rows for it */
        const int nth = omp_get_max_threads();
        int per = nchunks / (2 * nth);
        per = per < 1 ? 1 : per > 4 ? 4 : per;
        const int nruns = (nchunks + per - 1) / per;
        #pragma omp parallel for schedule(dynamic, 1) if (nruns > 1)
        for (int ru = 0; ru < nruns; ru++) {
            const int r0 = ru * per * RC, r1 = r0 + per * RC < rows ? r0 + per * RC : rows;
            for (int r = r0; r < r1 && lazy; r++) { /* W[r] in solve order, dead columns zero */
                const float *wr = W + (size_t)r * cols;
                float *dst = Wp + (size_t)r * cols;
                if (c->act_order)
                    for (int j = 0; j < cols; j++) dst[j] = dead[perm[j]] ? 0.0f : wr[perm[j]];
                else
                    for (int j = 0; j < cols; j++) dst[j] = dead[j] ? 0.0f : wr[j];
            }
            for (int b0 = 0; b0 < cols; b0 += B) block_rows(&k, b0, cols - b0 < B ? cols - b0 : B, r0, r1);
        }
    } else {
        /* block by block over all rows. GPTQT's dynamic groups fit all rows at once (its BCQ
         * iterations stop when every row has converged) on the global W at the block's start (the
         * stale-group quirk for G < B) */
        for (int b0 = 0; b0 < cols; b0 += B) {
            const int bw = cols - b0 < B ? cols - b0 : B;
            for (int j = b0; j < b0 + bw && s->two_step && G > 0 && !c->static_groups && !c->preset; j++) {
                if (j % G) continue;
                int kk = cols - j < G ? cols - j : G;
                if (grid_fit(s, Wp + j, rows, kk, (size_t)cols, hd + j, &groups[j / G], err)) {
                    qblas_single_end(&bs);
                    goto done;
                }
            }
            #pragma omp parallel for schedule(dynamic, 1) if (nchunks > 1)
            for (int ch = 0; ch < nchunks; ch++)
                block_rows(&k, b0, bw, ch * RC, ch * RC + RC < rows ? ch * RC + RC : rows);
            // W[:, b1:] -= E1 (rows, bw) @ U[b0:b1, b1:] (bw, cols-b1), as the reference calls it
            if (full_gemm && b0 + bw < cols) {
                const int b1 = b0 + bw;
                for (int t = 0; t < bw; t++)
                    for (int j = b1; j < cols; j++) Urow[(size_t)t * (cols - b1) + j - b1] = A[(size_t)j * cols + b0 + t];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols - b1, bw, -1.0f, Efull, bw,
                            Urow, cols - b1, 1.0f, Wp + b1, cols);
            }
        }
    }
    qblas_single_end(&bs);
    if (k.fit_failed) {
        snprintf(err, QB_ERRLEN, "gptq: out of memory in a group fit");
        goto done;
    }
    /* 9. back to the original column order */
    if (c->act_order) {
        #pragma omp parallel for schedule(static) if (nw > (1u << 16))
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) {
                out->q[(size_t)r * cols + perm[j]] = Qp[(size_t)r * cols + j];
                out->codes[(size_t)r * cols + perm[j]] = Cp[(size_t)r * cols + j];
            }
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
    if (c->act_order) {
        free(Qp);
        free(Cp);
    }
    free(Wp); free(A); free(Ub); free(hd); free(Wb); free(E); free(Efull); free(Urow); free(dead); free(loss); free(perm); free(cur_of_col);
    return rc;
}

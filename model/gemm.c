/* gemm.c — the linear layers of the forward pass: y = x Wᵀ (+ b), several layers that share an input
 * run in one OpenMP region, each thread taking the same column slice of every layer, so an element-wise
 * epilogue on that slice (RoPE on q/k, SwiGLU on gate/up) needs no extra barrier. Each slice is one
 * single-threaded sgemm: one thread pool (OpenMP) runs everything, because OpenBLAS's own pthreads and
 * OpenMP regions spun against each other on a 2-core machine (prefill got 2x slower with 2 threads than
 * with 1). BlasSingle switches OpenBLAS to one thread for the duration of a forward call. */
#include <omp.h>
#include <cblas.h>

#include "model/model_internal.h"

void blas_single_begin(BlasSingle *b) {
    b->saved = openblas_get_num_threads();
    if (b->saved != 1) openblas_set_num_threads(1);
}

void blas_single_end(BlasSingle *b) {
    if (b->saved != 1) openblas_set_num_threads(b->saved);
}

// columns [c0, c1) of y (n, rows) = beta*y + x (n, cols) @ W[c0:c1] (c1-c0, cols)ᵀ + b[c0:c1]
static void job_slice(const GemmJob *j, int n, int c0, int c1) {
    const Linear *l = j->lin;
    if (c0 >= c1) return;
    if (l->q) /* weights kept packed: qgemm.c */
        qgemm_slice(l, j->x, n, c0, c1, j->beta, j->y, j->ldy);
    else if (n == 1) /* decode: a matrix-vector product, memory-bound; gemv streams W once */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, c1 - c0, l->cols, 1.0f, l->w + (size_t)c0 * l->cols, l->cols, j->x, 1,
                    j->beta, j->y + c0, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, c1 - c0, l->cols, 1.0f, j->x, l->cols,
                    l->w + (size_t)c0 * l->cols, l->cols, j->beta, j->y + c0, j->ldy);
    if (l->bias)
        for (int i = 0; i < n; i++)
            for (int c = c0; c < c1; c++) j->y[(size_t)i * j->ldy + c] += l->bias[c];
}

void gemm_jobs(const GemmJob *jobs, int njobs, int n, GemmPost post, void *ctx) {
    double macs = 0;
    int min_rows = jobs[0].lin->rows;
    for (int k = 0; k < njobs; k++) {
        macs += (double)n * jobs[k].lin->rows * jobs[k].lin->cols;
        if (jobs[k].lin->rows < min_rows) min_rows = jobs[k].lin->rows;
    }
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* below the threshold a fork/join costs more than it saves, and on a busy machine a barrier can
     * wait a whole scheduler slice (milliseconds) for a descheduled partner: splitting decode's small
     * gemvs made 110M decode 8x slower with 2 threads than with 1 on the loaded 2-core box */
    if (macs < PARALLEL_MIN_MACS) threads = 1;
    if (threads > min_rows / 16) threads = min_rows / 16 > 1 ? min_rows / 16 : 1;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int k = 0; k < njobs; k++) {
            int rows = jobs[k].lin->rows;
            /* slices in multiples of 16 columns: vector-aligned, and RoPE pairs never straddle two */
            int per = ((rows + nt - 1) / nt + 15) / 16 * 16;
            int c0 = t * per < rows ? t * per : rows, c1 = c0 + per < rows ? c0 + per : rows;
            job_slice(&jobs[k], n, c0, c1);
            if (post && c0 < c1) post(ctx, k, c0, c1);
        }
    }
}

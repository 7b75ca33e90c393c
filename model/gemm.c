/* gemm.c — y = x Wᵀ for the forward pass, split across OpenMP threads by output column, each slice one
 * single-threaded sgemm. One thread pool (OpenMP) then runs everything: mixing OpenBLAS's own pthreads
 * with OpenMP regions on a 2-core machine made the two pools spin against each other (prefill was 2x
 * slower with 2 threads than with 1). BlasSingle switches OpenBLAS to one thread for the duration. */
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

// y (n,out) = beta*y + x (n,in) @ W (out,in)ᵀ ; rows of x, W, y are ldx, ldw, ldy apart
void gemm_nt(int n, int out, int in, const float *x, int ldx, const float *W, int ldw, float *y, int ldy,
             float beta) {
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* tiny products are not worth waking a second thread */
    if ((double)n * out * in < 262144.0) threads = 1;
    if (threads > 1 && out < 16 * threads) threads = out / 16 > 1 ? out / 16 : 1;
    if (threads == 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, ldx, W, ldw, beta, y, ldy);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        /* column slices in multiples of 16 so each thread's panel stays vector-aligned */
        int per = ((out + nt - 1) / nt + 15) / 16 * 16;
        int c0 = t * per, c1 = c0 + per < out ? c0 + per : out;
        if (c0 < c1)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, c1 - c0, in, 1.0f, x, ldx, W + (size_t)c0 * ldw,
                        ldw, beta, y + c0, ldy);
    }
}

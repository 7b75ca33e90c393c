/* blas_threads.c — how quant/ shares the cores between its two thread pools: OpenMP (our loops) and
 * OpenBLAS's own pthreads (this build is openblas-pthread).
 *
 * Both pools spin-wait when idle: an OpenBLAS worker keeps calling sched_yield for ~0.1 s after every
 * threaded call, a libgomp worker spins a few ms after every parallel region. On a 2-core machine a
 * pool that runs while the other spins gets about half the machine (a 768x3072 GPTQ solve took 2.2 s
 * inside the pipeline, 0.1 s alone). The rule in quant/: loops and the GEMMs of the solvers run on
 * OpenMP threads with OpenBLAS pinned to one thread (qblas_single_begin/end); only the LAPACK
 * factorizations use OpenBLAS's threads. Right before them qomp_park() ends libgomp's idle workers
 * (OpenMP 5's omp_pause_resource_all), right after them qblas_park() stops OpenBLAS's, so neither
 * pool spins under the other's work (each re-creates its threads, ~0.1 ms, when next needed). */
#include <cblas.h>
#include <omp.h>

#include "quant/quant_internal.h"

/* OpenBLAS's own "stop the worker threads" entry (exported by the pthreads build, used at fork).
 * Weak: with a BLAS that lacks it, parking is skipped and only the spinning costs time. */
void blas_thread_shutdown_(void) __attribute__((weak));

void qblas_single_begin(QBlasSingle *b) {
    b->saved = openblas_get_num_threads();
    if (b->saved != 1) openblas_set_num_threads(1);
}

void qblas_single_end(QBlasSingle *b) {
    if (b->saved != 1) openblas_set_num_threads(b->saved);
}

void qomp_park(void) {
    if (!omp_in_parallel()) omp_pause_resource_all(omp_pause_soft);
}

void qblas_park(void) {
    /* only from serial code: another thread could be inside a threaded BLAS call */
    if (blas_thread_shutdown_ && !omp_in_parallel() && openblas_get_num_threads() > 1)
        blas_thread_shutdown_();
}

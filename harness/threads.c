/* threads.c — how many threads qbench computes with, and how its OpenMP threads wait. */
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>
#include <cblas.h>

#include "harness/cli.h"

int qb_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}


/* libgomp reads OMP_WAIT_POLICY once, when it is loaded, so setting it later is too late for this
 * process: set PASSIVE and re-execute once (the new image sees it set). Why: qbench runs many short
 * parallel regions; with the default spinning wait a thread that finishes first spins while its
 * partner is descheduled by another process, taking the core that partner needs. On a 2-core
 * machine shared with other jobs, 2-thread sweeps were up to 3x slower spinning than passive
 * (measured in harness/cmd_run.c's history: GPTQT 8-bit point, 157 s spinning, 28 s passive). */
void qb_prefer_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) return;
    execv("/proc/self/exe", argv); /* returns only on failure (no /proc): run on with the default */
}

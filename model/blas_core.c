/* blas_core.c — picks OpenBLAS's kernel when its CPU detection falls short. A DYNAMIC_ARCH OpenBLAS
 * chooses its kernels once, at load, from the CPU model number; a CPU newer than the library (here
 * OpenBLAS 0.3.21 on a family-6 model-207 Xeon with AVX-512) falls back to "Prescott", the SSE3
 * kernels, and sgemm runs at a fifth of its speed (27 against 137 GFLOP/s on one core). The only way
 * in is the OPENBLAS_CORETYPE variable, read before main: so set it from the CPU's own feature bits and
 * re-execute once. A variable set by the user is left alone. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"

char *openblas_get_corename(void);

/* how much of the instruction set a kernel family uses; unknown names count as good enough */
static int core_rank(const char *name) {
    static const struct { const char *name; int rank; } R[] = {
        {"Prescott", 0}, {"Core2", 0}, {"Penryn", 0}, {"Dunnington", 0}, {"Atom", 0}, {"Nehalem", 1},
        {"Sandybridge", 2}, {"Haswell", 3}, {"Zen", 3}, {"SkylakeX", 4}, {"Cooperlake", 4},
        {"SapphireRapids", 4},
    };
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++)
        if (name && !strcasecmp(name, R[i].name)) return R[i].rank;
    return 99;
}

const char *qb_blas_wanted_core(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void qb_blas_select_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *want = qb_blas_wanted_core();
    if (!want || core_rank(openblas_get_corename()) >= core_rank(want)) return;
    if (setenv("OPENBLAS_CORETYPE", want, 1)) return;
    /* the program's own path rather than /proc/self/exe, so that ps still shows its name */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || n >= (ssize_t)sizeof self - 1) return;
    self[n] = '\0';
    execv(self, argv); /* returns only on failure: run on with the slow kernels */
}

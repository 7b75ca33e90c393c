/* provenance.c — see provenance.h. The commit and the numerics flags come from the build
 * (qb_build.h, written by the Makefile only when they change); OpenBLAS is asked at run time,
 * because the core it picks depends on the CPU (and OPENBLAS_CORETYPE), not on the build. */
#include "harness/provenance.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "qb_build.h" /* QB_BUILD_COMMIT, QB_BUILD_FLAGS */

#ifndef QB_BUILD_COMMIT
#define QB_BUILD_COMMIT "unknown"
#endif
#ifndef QB_BUILD_FLAGS
#define QB_BUILD_FLAGS "?"
#endif

const char *qb_commit(void) { return QB_BUILD_COMMIT[0] ? QB_BUILD_COMMIT : "unknown"; }

static void compiler(char *out, size_t n) {
#if defined(__clang__)
    snprintf(out, n, "clang-%d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    snprintf(out, n, "gcc-%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    snprintf(out, n, "unknown");
#endif
}

/* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." → "0.3.21"; '|' never appears in what we keep. */
static void openblas_version(char *out, size_t n) {
    const char *cfg = openblas_get_config();
    char v[64] = "unknown";
    if (cfg && sscanf(cfg, "OpenBLAS %63s", v) != 1) snprintf(v, sizeof v, "unknown");
    for (char *p = v; *p; p++)
        if (*p == '|') *p = '/';
    snprintf(out, n, "%s", v);
}

static const char *core(void) {
    const char *c = openblas_get_corename();
    return c && *c && !strchr(c, '|') ? c : "unknown";
}

void qb_provenance(char *out, size_t outlen) {
    char cc[48], ob[64];
    compiler(cc, sizeof cc);
    openblas_version(ob, sizeof ob);
    snprintf(out, outlen, "qbench:%s|commit:%s|cc:%s|flags:%s|openblas:%s|core:%s", QBENCH_VERSION, qb_commit(), cc,
             QB_BUILD_FLAGS, ob, core());
}

void qb_version_tag(char *out, size_t outlen) { snprintf(out, outlen, "qbench:%s+%s", QBENCH_VERSION, qb_commit()); }

void qb_print_version(FILE *f) {
    char cc[48], ob[64];
    compiler(cc, sizeof cc);
    openblas_version(ob, sizeof ob);
    const char *cfg = openblas_get_config();
    fprintf(f, "qbench %s\ncommit: %s\ncompiler: %s\nnumerics flags: %s\nopenblas: %s (%s)\nopenblas core: %s\n",
            QBENCH_VERSION, qb_commit(), cc, QB_BUILD_FLAGS, ob, cfg ? cfg : "?", core());
}

/* provenance.h — what built this qbench and what it runs on, for `qbench --version`, every run row
 * of the results database and every signature the CLI prints: the qbench version, the git commit
 * it was built from ("unknown" outside a checkout), the compiler and the flags that change
 * numerics, and the OpenBLAS version and the CPU kernel ("core") it picked at run time. */
#ifndef QBENCH_PROVENANCE_H
#define QBENCH_PROVENANCE_H

#include <stddef.h>
#include <stdio.h>

#define QBENCH_VERSION "0.9.0"

/* The git commit (abbreviated, "-dirty" when the tree had changes) or "unknown". */
const char *qb_commit(void);

/* One line of key:value pairs separated by '|', recorded in runs.provenance, e.g.
 * "qbench:0.9.0|commit:81dcbe7a1b2c|cc:gcc-12.2.0|flags:-O2 -march=native|openblas:0.3.21|core:Haswell". */
void qb_provenance(char *out, size_t outlen);

/* The short form printed after a signature: "qbench:0.9.0+81dcbe7a1b2c". */
void qb_version_tag(char *out, size_t outlen);

/* `qbench --version`: several lines, the same facts spelled out. */
void qb_print_version(FILE *f);

#endif

/* cli.h — what the subcommands share: reading option values, and the thread settings. */
#ifndef QBENCH_CLI_H
#define QBENCH_CLI_H

/* Parses s as a base-10 integer in [lo, hi]. On failure prints
 * "qbench CMD: FLAG needs an integer in [lo, hi], got 'S'" to stderr and returns -1. */
int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
/* The same for a number in [lo, hi] ("needs a number in ..."). */
int cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);

/* Sets both the OpenMP and the OpenBLAS thread counts; n <= 0 means all cores. Returns the count. */
int qb_set_threads(int n);
/* Unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set: sets OMP_WAIT_POLICY=PASSIVE and re-executes the
 * program with argv (NULL-terminated, argv[0] the program name), so that waiting OpenMP threads
 * sleep instead of spinning. Returns only when nothing was re-executed. */
void qb_prefer_passive_wait(char **argv);

#endif

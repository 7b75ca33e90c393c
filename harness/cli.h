/* cli.h — small helpers the subcommands share for reading option values. */
#ifndef QBENCH_CLI_H
#define QBENCH_CLI_H

/* Parses s as a base-10 integer in [lo, hi]. On failure prints
 * "qbench CMD: FLAG needs an integer in [lo, hi], got 'S'" to stderr and returns -1. */
int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
/* The same for a number in [lo, hi] ("needs a number in ..."). */
int cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);

#endif

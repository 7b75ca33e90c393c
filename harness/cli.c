/* cli.c — option-value parsing shared by the subcommands (see cli.h). */
#include "harness/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "qbench %s: %s needs an integer in [%ld, %ld], got '%s'\n", cmd, flag, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "qbench %s: %s needs a number in [%g, %g], got '%s'\n", cmd, flag, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

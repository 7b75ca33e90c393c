/* number.c — printing floats for files that people and other tools read. */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

double qb_short_decimal(float f) {
    char t[32];
    for (int p = 6; p < 9; p++) {
        snprintf(t, sizeof t, "%.*g", p, (double)f);
        if ((float)strtod(t, NULL) == f) return strtod(t, NULL);
    }
    snprintf(t, sizeof t, "%.9g", (double)f); /* 9 digits always round-trip a float */
    return strtod(t, NULL);
}

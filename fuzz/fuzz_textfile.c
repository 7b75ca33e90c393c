/* fuzz_textfile.c — libFuzzer harness: any bytes as a hypothesis/reference file are read into lines
 * or refused (invalid UTF-8, NUL) with file, line and column, never crash; what is read scores. */
#include <stdint.h>
#include <stdlib.h>

#include "metrics/chrf.h"
#include "metrics/textfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TextFile tf;
    char err[QB_ERRLEN];
    if (textfile_parse((const char *)data, size, "fuzz", &tf, err)) return 0;
    chrf_opts o = chrf_defaults(2);
    for (size_t i = 0; i < tf.n; i++) {
        const char *ref = tf.lines[tf.n - 1 - i];
        chrf_stats st;
        chrf_segment_stats(NULL, tf.lines[i], &ref, 1, &o, &st, NULL, err);
    }
    textfile_free(&tf);
    return 0;
}

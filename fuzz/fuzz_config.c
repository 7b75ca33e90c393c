/* fuzz_config.c — libFuzzer harness: any bytes as an experiment file (YAML) must parse or be refused
 * with a message, never crash. `make fuzz` builds it; run build-fuzz/fuzz_config fuzz/corpus/config. */
#include <stdint.h>
#include <stdlib.h>

#include "harness/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Experiment *e = calloc(1, sizeof *e);
    char err[QB_ERRLEN];
    if (e) config_parse((const char *)data, size, "fuzz.yaml", e, err);
    free(e);
    return 0;
}

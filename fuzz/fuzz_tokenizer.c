/* fuzz_tokenizer.c — libFuzzer harness: any bytes as a llama2.c tokenizer.bin load or are refused
 * with a message; a loaded one encodes and decodes a fixed text without crashing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/qbench-fuzz-tok-%d.bin", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[QB_ERRLEN];
    Tokenizer *t = tokenizer_load(path, 0, err);
    if (t) {
        int *ids = NULL, n = 0;
        if (tokenizer_encode(t, "Once upon a time", 16, 1, &ids, &n, err) == 0) free(ids);
        tokenizer_free(t);
    }
    unlink(path);
    return 0;
}

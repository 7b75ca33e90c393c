/* fuzz_tokenizer.c — libFuzzer harness: any bytes as a llama2.c tokenizer.bin load or are refused
 * with a message; a loaded one encodes and decodes a fixed text without crashing. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz/fuzz_common.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("tokenizer", "tokenizer.bin", data, size);
    if (!path) return 0;
    char err[QB_ERRLEN];
    Tokenizer *t = tokenizer_load(path, 0, err);
    if (t) {
        int *ids = NULL, n = 0;
        if (tokenizer_encode(t, "Once upon a time", 16, 1, &ids, &n, err) == 0) {
            free(tokenizer_decode(t, ids, n));
            free(ids);
        }
        tokenizer_free(t);
    }
    return 0;
}

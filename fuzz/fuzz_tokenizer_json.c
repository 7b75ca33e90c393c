/* fuzz_tokenizer_json.c — libFuzzer harness: any bytes as a Hugging Face tokenizer.json (BPE or
 * SentencePiece-style, normalizers, pre-tokenizers, added tokens, post-processor). Loaded or refused
 * with a message; a loaded one encodes and decodes fixed texts (ASCII, multi-byte, an added-token-like
 * string, the empty text) without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || (data[0] != '{' && data[0] != ' ')) return 0; /* the .bin form has its own harness */
    const char *path = fuzz_file("tokjson", "tokenizer.json", data, size);
    if (!path) return 0;
    char err[QB_ERRLEN];
    Tokenizer *t = tokenizer_load(path, 0, err);
    if (!t) return 0;
    static const char *const texts[] = {"Once upon a time, there was a cat.", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                        "<s> </s> <unk> <|endoftext|>", "  two  spaces\n\ttab", ""};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        int *ids = NULL, n = 0;
        if (tokenizer_encode(t, texts[k], strlen(texts[k]), k & 1, &ids, &n, err) == 0) {
            char *back = tokenizer_decode(t, ids, n);
            free(back);
            free(ids);
        }
    }
    tokenizer_free(t);
    return 0;
}

/* fuzz_gguf.c — libFuzzer harness: any bytes as a llama.cpp GGUF file. gguf_parse accepts or refuses
 * them with a message; what it accepts must be safe to use: every getter, every string array, every
 * tensor dequantized, and the model and tokenizer loaders on the same bytes as a .gguf file. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz/fuzz_common.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/tokenizer.h"

/* every input is a new file: keep them out of the user's sha256 cache (it would be flushed) */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return setenv("QBENCH_HASH_CACHE", "0", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    GgufFile f;
    char err[QB_ERRLEN];
    if (gguf_parse(data, size, "fuzz.gguf", &f, err)) return 0;
    int64_t iv;
    double dv;
    const char *s;
    size_t sl;
    static const char *const keys[] = {"general.architecture", "general.alignment", "llama.context_length",
                                       "llama.embedding_length", "llama.rope.freq_base", "tokenizer.ggml.model"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        gguf_get_int(&f, keys[k], &iv, err);
        gguf_get_float(&f, keys[k], &dv, err);
        gguf_get_str(&f, keys[k], &s, &sl, err);
    }
    for (size_t i = 0; i < f.n_kv; i++) {
        const GgufKV *kv = &f.kv[i];
        if (kv->type != GGUF_ARRAY) continue;
        if (kv->arr_type == GGUF_STRING) {
            const char **ss = malloc((kv->arr_n + 1) * sizeof *ss);
            size_t *ll = malloc((kv->arr_n + 1) * sizeof *ll);
            if (ss && ll) gguf_array_strings(kv, ss, ll);
            free(ss);
            free(ll);
        } else if (kv->arr_type != GGUF_ARRAY) {
            for (uint64_t j = 0; j < kv->arr_n && j < 64; j++) (void)gguf_array_num(kv, j);
        }
    }
    for (size_t i = 0; i < f.n_t; i++) {
        const GgufTensor *t = &f.t[i];
        if (t->numel > (1u << 22)) continue;
        float *dst = malloc((t->numel + 1) * sizeof *dst);
        if (dst) gguf_tensor_f32(&f, t, dst, err);
        free(dst);
    }
    gguf_close(&f);
    /* the loaders read the metadata they need from what parsed */
    const char *path = fuzz_file("gguf", "m.gguf", data, size);
    if (path) {
        Model *m = model_load(path, err);
        model_free(m);
        Tokenizer *t = tokenizer_load(path, 0, err);
        if (t) {
            int *ids = NULL, n = 0;
            if (tokenizer_encode(t, "Once upon a time", 16, 1, &ids, &n, err) == 0) free(ids);
            tokenizer_free(t);
        }
    }
    return 0;
}

/* fuzz_llama2c.c — libFuzzer harness: any bytes as a llama2.c checkpoint (.bin: the 7-int32 header,
 * a negative vocab size for an untied classifier, then the weights). model_load accepts them only
 * when the header is sane and the file holds exactly the weights it announces, else refuses with a
 * message; an accepted model runs one token forward. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz/fuzz_common.h"
#include "model/model.h"

/* every input is a new file: keep them out of the user's sha256 cache (it would be flushed) */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return setenv("QBENCH_HASH_CACHE", "0", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("llama2c", "model.bin", data, size);
    if (!path) return 0;
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    if (m) {
        int tok = m->cfg.bos_id >= 0 && m->cfg.bos_id < m->cfg.vocab_size ? m->cfg.bos_id : 0;
        ModelState *s = model_state_new(m, 1, 1);
        float *logits = malloc(((size_t)m->cfg.vocab_size + 1) * sizeof *logits);
        if (s && logits) model_forward(m, s, &tok, 1, 0, logits, err);
        free(logits);
        model_state_free(s);
        model_free(m);
    }
    return 0;
}

/* fuzz_safetensors.c — libFuzzer harness: any bytes as a .safetensors file (header length, JSON
 * header, data). st_open accepts or refuses them with a message; every tensor it accepts converts to
 * float32 without reading outside the file. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz/fuzz_common.h"
#include "model/model.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("safetensors", "model.safetensors", data, size);
    if (!path) return 0;
    char err[QB_ERRLEN];
    Model *m = model_alloc();
    if (!m) return 0;
    StFile f;
    if (st_open(m, path, &f, err) == 0) {
        for (int i = 0; i < f.n; i++) {
            const StTensor *t = &f.t[i];
            st_find(&f, t->name);
            if (t->numel > (1u << 22)) continue;
            float *dst = malloc((t->numel + 1) * sizeof *dst);
            if (dst) st_to_f32(&f, t, dst, err);
            free(dst);
        }
        st_close(&f);
    }
    model_free(m);
    return 0;
}

/* fuzz_pickle.c — libFuzzer harness for the restricted unpickler (model/pickle.c): the bytes are the
 * data.pkl of a PyTorch zip checkpoint, wrapped here into a stored (uncompressed) zip beside one
 * 64-byte storage "archive/data/0", so the fuzzer spends its time in the pickle, not the zip. Either
 * pt_open refuses with a message or every tensor it returns lies inside the archive and converts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "model/model.h"
#include "model/safetensors.h"

static size_t put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); return 2; }
static size_t put32(uint8_t *p, uint32_t v) { put16(p, v & 0xFFFF); put16(p + 2, v >> 16); return 4; }

/* A stored zip of n entries: local headers and data, then the central directory and its end. */
static uint8_t *make_zip(const char *const *names, const uint8_t *const *datas, const size_t *sizes, int n,
                         size_t *len) {
    size_t cap = 22;
    for (int i = 0; i < n; i++) cap += 30 + 46 + 2 * strlen(names[i]) + sizes[i];
    uint8_t *z = calloc(1, cap), *p = z;
    if (!z) return NULL;
    uint32_t off[8];
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        off[i] = (uint32_t)(p - z);
        p += put32(p, 0x04034b50u);
        p += put16(p, 20); p += put16(p, 0); p += put16(p, 0); /* version, flags, method 0 (stored) */
        p += put32(p, 0); p += put32(p, 0);                    /* time/date, crc (not checked) */
        p += put32(p, (uint32_t)sizes[i]); p += put32(p, (uint32_t)sizes[i]);
        p += put16(p, (unsigned)nl); p += put16(p, 0);
        memcpy(p, names[i], nl); p += nl;
        if (sizes[i]) memcpy(p, datas[i], sizes[i]);
        p += sizes[i];
    }
    uint8_t *cd = p;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        p += put32(p, 0x02014b50u);
        p += put16(p, 20); p += put16(p, 20); p += put16(p, 0); p += put16(p, 0);
        p += put32(p, 0); p += put32(p, 0);
        p += put32(p, (uint32_t)sizes[i]); p += put32(p, (uint32_t)sizes[i]);
        p += put16(p, (unsigned)nl); p += put16(p, 0); p += put16(p, 0); /* name, extra, comment lengths */
        p += put16(p, 0); p += put16(p, 0); p += put32(p, 0);           /* disk, internal, external attrs */
        p += put32(p, off[i]);
        memcpy(p, names[i], nl); p += nl;
    }
    size_t cds = (size_t)(p - cd);
    p += put32(p, 0x06054b50u);
    p += put16(p, 0); p += put16(p, 0); p += put16(p, (unsigned)n); p += put16(p, (unsigned)n);
    p += put32(p, (uint32_t)cds); p += put32(p, (uint32_t)(cd - z)); p += put16(p, 0);
    *len = (size_t)(p - z);
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    static uint8_t storage[64];
    for (int i = 0; i < 64; i++) storage[i] = (uint8_t)(i * 37 + 11);
    const char *names[] = {"archive/data.pkl", "archive/data/0"};
    const uint8_t *datas[] = {data, storage};
    size_t sizes[] = {size, sizeof storage}, zlen;
    uint8_t *zip = make_zip(names, datas, sizes, 2, &zlen);
    if (!zip) return 0;
    const char *path = fuzz_file("pickle", "pytorch_model.bin", zip, zlen);
    free(zip);
    if (!path) return 0;
    char err[QB_ERRLEN];
    Model *m = model_alloc();
    if (!m) return 0;
    StFile f;
    if (pt_open(m, path, &f, err) == 0) {
        for (int i = 0; i < f.n; i++) {
            const StTensor *t = &f.t[i];
            if (t->numel > (1u << 20)) continue;
            float *dst = malloc((t->numel + 1) * sizeof *dst);
            if (dst) st_to_f32(&f, t, dst, err);
            free(dst);
        }
        st_close(&f);
    }
    model_free(m);
    return 0;
}

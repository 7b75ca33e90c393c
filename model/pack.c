/* pack.c — bit-packing of integer codes into 32-bit words in AutoGPTQ's layout (model.h, "bit
 * packing"): used by qbench's checkpoints and --export gptq, and by the AutoGPTQ loader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

size_t pack_words(size_t n, int bits) { return (n * (size_t)bits + 31) / 32; }

static int check_bits(int bits, char err[QB_ERRLEN]) {
    if (bits < 1 || bits > 8) {
        snprintf(err, QB_ERRLEN, "pack: bits %d outside 1..8", bits);
        return -1;
    }
    return 0;
}

/* One code into the bit stream (words pre-zeroed); it may straddle two words (3, 5, 6, 7 bits). */
static void put_code(uint32_t *words, size_t i, int bits, uint32_t v) {
    size_t bit = i * (size_t)bits;
    size_t w = bit / 32;
    unsigned sh = (unsigned)(bit % 32);
    words[w] |= v << sh;
    if (sh + (unsigned)bits > 32) words[w + 1] |= v >> (32 - sh);
}

static uint32_t get_code(const uint32_t *words, size_t i, int bits) {
    size_t bit = i * (size_t)bits;
    size_t w = bit / 32;
    unsigned sh = (unsigned)(bit % 32);
    uint64_t v = words[w] >> sh;
    if (sh + (unsigned)bits > 32) v |= (uint64_t)words[w + 1] << (32 - sh);
    return (uint32_t)v & ((1u << bits) - 1u);
}

int pack_codes(const uint8_t *codes, size_t n, int bits, uint32_t *words, char err[QB_ERRLEN]) {
    if (check_bits(bits, err)) return -1;
    size_t nw = pack_words(n, bits);
    for (size_t w = 0; w < nw; w++) words[w] = 0;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] >> bits) {
            snprintf(err, QB_ERRLEN, "pack: code %u at index %zu does not fit in %d bits",
                     codes[i], i, bits);
            return -1;
        }
        put_code(words, i, bits, codes[i]);
    }
    return 0;
}

int unpack_codes(const uint32_t *words, size_t n, int bits, uint8_t *codes, char err[QB_ERRLEN]) {
    if (check_bits(bits, err)) return -1;
    for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)get_code(words, i, bits);
    return 0;
}

int pack_qweight(const uint8_t *codes, int rows, int cols, int bits, int32_t *qweight,
                 char err[QB_ERRLEN]) {
    if (check_bits(bits, err)) return -1;
    size_t nw = pack_words((size_t)cols, bits);
    uint32_t *buf = malloc((nw ? nw : 1) * sizeof *buf);
    if (!buf) {
        snprintf(err, QB_ERRLEN, "pack_qweight: out of memory");
        return -1;
    }
    for (int o = 0; o < rows; o++) {
        if (pack_codes(codes + (size_t)o * cols, (size_t)cols, bits, buf, err)) {
            free(buf);
            return -1;
        }
        for (size_t w = 0; w < nw; w++) qweight[w * (size_t)rows + o] = (int32_t)buf[w];
    }
    free(buf);
    return 0;
}

int unpack_qweight(const int32_t *qweight, int rows, int cols, int bits, uint8_t *codes,
                   char err[QB_ERRLEN]) {
    if (check_bits(bits, err)) return -1;
    size_t nw = pack_words((size_t)cols, bits);
    uint32_t *tmp = malloc((nw ? nw : 1) * sizeof *tmp);
    if (!tmp) {
        snprintf(err, QB_ERRLEN, "unpack_qweight: out of memory");
        return -1;
    }
    for (int o = 0; o < rows; o++) {
        for (size_t w = 0; w < nw; w++) tmp[w] = (uint32_t)qweight[w * (size_t)rows + o];
        unpack_codes(tmp, (size_t)cols, bits, codes + (size_t)o * cols, err);
    }
    free(tmp);
    return 0;
}

int pack_qzeros(const float *zeros, int rows, int n_groups, int bits, int zero_offset,
                int32_t *qzeros, char err[QB_ERRLEN]) {
    if (check_bits(bits, err)) return -1;
    size_t nw = pack_words((size_t)rows, bits);
    uint32_t mask = (1u << bits) - 1u;
    for (int g = 0; g < n_groups; g++) {
        uint32_t *out = (uint32_t *)(qzeros + (size_t)g * nw);
        for (size_t w = 0; w < nw; w++) out[w] = 0;
        for (int o = 0; o < rows; o++) {
            float z = zeros[(size_t)o * n_groups + g];
            if (!(z >= 0 && z <= (float)mask) || z != floorf(z)) {
                snprintf(err, QB_ERRLEN, "pack_qzeros: zero %g at row %d group %d is not an integer "
                         "in 0..%u", (double)z, o, g, mask);
                return -1;
            }
            uint32_t v = ((uint32_t)z - (uint32_t)zero_offset) & mask;
            put_code(out, (size_t)o, bits, v);
        }
    }
    return 0;
}

int unpack_qzeros(const int32_t *qzeros, int rows, int n_groups, int bits, int zero_offset,
                  float *zeros, char err[QB_ERRLEN]) {
    if (check_bits(bits, err)) return -1;
    size_t nw = pack_words((size_t)rows, bits);
    uint32_t mask = (1u << bits) - 1u;
    for (int g = 0; g < n_groups; g++) {
        const uint32_t *in = (const uint32_t *)(qzeros + (size_t)g * nw);
        for (int o = 0; o < rows; o++)
            zeros[(size_t)o * n_groups + g] =
                (float)((get_code(in, (size_t)o, bits) + (uint32_t)zero_offset) & mask);
    }
    return 0;
}

/* gguf_quants.c — ggml's tensor types: names, block geometry, and dequantization to float32 of F32,
 * F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K … Q6_K, IQ4_NL and IQ4_XS.
 *
 * Bit-exactness with gguf-py's reference dequantizer: every value is computed in float32 with the same
 * operations in the same order (the super-block scale times the sub-block scale first, then times the
 * quant, then the min subtracted), and the build's ISO C mode keeps the compiler from fusing a
 * multiply and an add into an FMA, which would round differently. */
#include <stdio.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model_internal.h"

#define QK_K 256

const char *gguf_type_name(uint32_t type) {
    static const char *names[] = {
        "F32",     "F16",    "Q4_0",   "Q4_1",  "Q4_2",   "Q4_3",    "Q5_0",    "Q5_1",    "Q8_0",
        "Q8_1",    "Q2_K",   "Q3_K",   "Q4_K",  "Q5_K",   "Q6_K",    "Q8_K",    "IQ2_XXS", "IQ2_XS",
        "IQ3_XXS", "IQ1_S",  "IQ4_NL", "IQ3_S", "IQ2_S",  "IQ4_XS",  "I8",      "I16",     "I32",
        "I64",     "F64",    "IQ1_M",  "BF16",  "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0",
        "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8"};
    if (type < sizeof names / sizeof names[0]) return names[type];
    return "unknown type";
}

int gguf_type_info(uint32_t type, int *block, int *bytes) {
    int b, n;
    switch (type) {
    case GGML_F32: b = 1; n = 4; break;
    case GGML_F16: case GGML_BF16: b = 1; n = 2; break;
    case GGML_Q4_0: b = 32; n = 2 + 16; break;
    case GGML_Q4_1: b = 32; n = 2 + 2 + 16; break;
    case GGML_Q5_0: b = 32; n = 2 + 4 + 16; break;
    case GGML_Q5_1: b = 32; n = 2 + 2 + 4 + 16; break;
    case GGML_Q8_0: b = 32; n = 2 + 32; break;
    case GGML_Q2_K: b = QK_K; n = QK_K / 16 + QK_K / 4 + 2 + 2; break;
    case GGML_Q3_K: b = QK_K; n = QK_K / 8 + QK_K / 4 + 12 + 2; break;
    case GGML_Q4_K: b = QK_K; n = 2 + 2 + 12 + QK_K / 2; break;
    case GGML_Q5_K: b = QK_K; n = 2 + 2 + 12 + QK_K / 8 + QK_K / 2; break;
    case GGML_Q6_K: b = QK_K; n = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2; break;
    case GGML_IQ4_NL: b = 32; n = 2 + 16; break;
    case GGML_IQ4_XS: b = QK_K; n = 2 + 2 + QK_K / 64 + QK_K / 2; break;
    default: return 0;
    }
    if (block) *block = b;
    if (bytes) *bytes = n;
    return 1;
}

static float f16(const uint8_t *p) { return model_half_to_float((uint16_t)(p[0] | p[1] << 8)); }

/* IQ4_NL's non-uniform 4-bit grid (shared by IQ4_XS). */
static const int8_t IQ4NL_VALUES[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Blocks of 32 with a 4-bit low part: element j < 16 is the low nibble of qs[j], element j + 16 the high one. */
static void deq_q4_0(const uint8_t *b, float *y) {
    float d = f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 0x0F) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

static void deq_q4_1(const uint8_t *b, float *y) {
    float d = f16(b), m = f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 0x0F) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

/* Q5: the fifth bit of element i is bit i of the 32-bit qh. */
static void deq_q5(const uint8_t *b, float *y, int has_min) {
    float d = f16(b), m = has_min ? f16(b + 2) : 0.0f;
    const uint8_t *p = b + (has_min ? 4 : 2);
    uint32_t qh;
    memcpy(&qh, p, 4);
    const uint8_t *qs = p + 4;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        if (has_min) {
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        } else {
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

static void deq_q8_0(const uint8_t *b, float *y) {
    float d = f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void deq_iq4_nl(const uint8_t *b, float *y) {
    float d = f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)IQ4NL_VALUES[qs[j] & 0x0F];
        y[j + 16] = d * (float)IQ4NL_VALUES[qs[j] >> 4];
    }
}

/* Q2_K: 16 sub-blocks of 16, each with a 4-bit scale and 4-bit min; the 2-bit quants of element
 * 128h + 32s + l sit at bits 2s of qs[32h + l]. */
static void deq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *qs = b + 16;
    float d = f16(b + 16 + 64), dmin = f16(b + 16 + 64 + 2);
    /* loops by sub-block so the element loop vectorizes; the same operations per element */
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int half = 0; half < 2; half++) {
                int sub = 8 * h + 2 * s + half;
                float dl = d * (float)(sc[sub] & 0x0F), ml = dmin * (float)(sc[sub] >> 4);
                const uint8_t *q = qs + 32 * h + 16 * half;
                float *o = y + 128 * h + 32 * s + 16 * half;
                for (int l = 0; l < 16; l++) o[l] = dl * (float)((q[l] >> (2 * s)) & 3) - ml;
            }
}

/* Q3_K: 16 sub-blocks of 16 with 6-bit signed scales (low 4 bits in bytes 0..7, nibble by nibble; high
 * 2 bits in bytes 8..11); the quant is 2 low bits as in Q2_K minus 4 unless the element's hmask bit is set. */
static void deq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *qs = b + 32, *sc = b + 32 + 64;
    float d = f16(b + 32 + 64 + 12);
    float dl[16];
    for (int k = 0; k < 16; k++) {
        int lo = (sc[k % 8] >> (4 * (k / 8))) & 0x0F, hi = (sc[8 + k % 4] >> (2 * (k / 4))) & 3;
        dl[k] = d * (float)((lo | hi << 4) - 32);
    }
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int half = 0; half < 2; half++) {
                float dk = dl[8 * h + 2 * s + half];
                const uint8_t *q = qs + 32 * h + 16 * half, *hq = hm + 16 * half;
                float *o = y + 128 * h + 32 * s + 16 * half;
                for (int l = 0; l < 16; l++)
                    o[l] = dk * (float)(((q[l] >> (2 * s)) & 3) - (((hq[l] >> (4 * h + s)) & 1) ? 0 : 4));
            }
}

/* Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes. */
static void k4_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Element 64c + 32t + l (t = 0 low nibble, 1 high nibble) comes from qs[32c + l]; Q5_K's fifth bit of
 * element 32k + l is bit k of qh[l]. */
static void deq_q45_k(const uint8_t *b, float *y, int five) {
    float d = f16(b), dmin = f16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 16 + (five ? 32 : 0);
    for (int k = 0; k < 8; k++) {
        int sc, mn;
        k4_scale_min(scales, k, &sc, &mn);
        float dk = d * (float)sc, mk = dmin * (float)mn;
        int c = k / 2, t = k % 2;
        for (int l = 0; l < 32; l++) {
            int q = (qs[32 * c + l] >> (4 * t)) & 0x0F;
            if (five) q |= ((qh[l] >> k) & 1) << 4;
            y[32 * k + l] = dk * (float)q - mk;
        }
    }
}

/* Q6_K: 16 sub-blocks of 16 with int8 scales; element 128h + 64t + l (l < 64) has its low nibble in
 * ql[64h + l] (t selects the nibble), and element 128h + 32s + l its 2 high bits at bits 2s of qh[32h + l]. */
static void deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 128 + 64);
    float d = f16(b + 128 + 64 + 16);
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int half = 0; half < 2; half++) {
                float ds = d * (float)sc[8 * h + 2 * s + half];
                const uint8_t *lq = ql + 64 * h + 32 * (s % 2) + 16 * half, *hq = qh + 32 * h + 16 * half;
                float *o = y + 128 * h + 32 * s + 16 * half;
                for (int l = 0; l < 16; l++) {
                    int lo = (lq[l] >> (4 * (s / 2))) & 0x0F, hi = (hq[l] >> (2 * s)) & 3;
                    o[l] = ds * (float)((lo | hi << 4) - 32);
                }
            }
}

/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l nibbles, high 2 in scales_h). */
static void deq_iq4_xs(const uint8_t *b, float *y) {
    float d = f16(b);
    uint16_t sh = (uint16_t)(b[2] | b[3] << 8);
    const uint8_t *sl = b + 4, *qs = b + 8;
    for (int k = 0; k < 8; k++) {
        int ls = ((sl[k / 2] >> (4 * (k % 2))) & 0x0F) | ((sh >> (2 * k)) & 3) << 4;
        float dl = d * (float)(ls - 32);
        for (int j = 0; j < 16; j++) {
            y[32 * k + j] = dl * (float)IQ4NL_VALUES[qs[16 * k + j] & 0x0F];
            y[32 * k + j + 16] = dl * (float)IQ4NL_VALUES[qs[16 * k + j] >> 4];
        }
    }
}

void gguf_dequantize(uint32_t type, const uint8_t *src, float *dst, size_t n) {
    int block, bytes;
    if (!gguf_type_info(type, &block, &bytes)) return;
    if (type == GGML_F32) { memcpy(dst, src, n * sizeof(float)); return; }
    if (type == GGML_F16) {
        for (size_t i = 0; i < n; i++) dst[i] = f16(src + 2 * i);
        return;
    }
    if (type == GGML_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return;
    }
    size_t nb = n / (size_t)block;
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *b = src + i * (size_t)bytes;
        float *y = dst + i * (size_t)block;
        switch (type) {
        case GGML_Q4_0: deq_q4_0(b, y); break;
        case GGML_Q4_1: deq_q4_1(b, y); break;
        case GGML_Q5_0: deq_q5(b, y, 0); break;
        case GGML_Q5_1: deq_q5(b, y, 1); break;
        case GGML_Q8_0: deq_q8_0(b, y); break;
        case GGML_Q2_K: deq_q2_k(b, y); break;
        case GGML_Q3_K: deq_q3_k(b, y); break;
        case GGML_Q4_K: deq_q45_k(b, y, 0); break;
        case GGML_Q5_K: deq_q45_k(b, y, 1); break;
        case GGML_Q6_K: deq_q6_k(b, y); break;
        case GGML_IQ4_NL: deq_iq4_nl(b, y); break;
        case GGML_IQ4_XS: deq_iq4_xs(b, y); break;
        default: break;
        }
    }
}

int gguf_tensor_f32(const GgufFile *f, const GgufTensor *t, float *dst, char err[QB_ERRLEN]) {
    if (!gguf_type_info(t->type, NULL, NULL) || !t->data) {
        snprintf(err, QB_ERRLEN, "%.200s: tensor '%.*s' has type %s (%u), which qbench does not read (F32, F16, BF16, "
                 "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS are supported)",
                 f->path, (int)(t->name_len > 200 ? 200 : t->name_len), t->name, gguf_type_name(t->type), t->type);
        return -1;
    }
    gguf_dequantize(t->type, t->data, dst, (size_t)t->numel);
    return 0;
}

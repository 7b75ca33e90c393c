/* qkernels_gguf.c — GGUF's quantized tensors kept as the file stores them (QW_GGUF): the layer points at
 * the file's blocks in the mapping (row r is cols/block blocks at data + r·row_bytes), nothing is copied.
 *
 *   rows_f32 (prefill tiles, the float accessor) is gguf_dequantize itself, so a packed model's weights
 *     are bit for bit those of the dequantize-at-load path and prefill logits are identical.
 *   dot_rows (decode): for Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS an AVX2 and an AVX-512 kernel that reads
 *     each block once and rebuilds its weights in registers with the dequantizer's own float32
 *     operations (the scale products are computed per sub-block exactly as there; then one multiply,
 *     and for Q4_K/Q5_K one subtraction), then multiply-adds them with x. Each weight is exactly the
 *     dequantized one; only the order of the sum differs from a float dot product. Every other type,
 *     and every type in the portable build, decodes 256 weights at a time into a buffer on the stack
 *     and takes their dot product with qk_dot_f32 (the same exact weights).
 * Each row is one call's work with a fixed summation order, whatever the thread split. */
#include <immintrin.h>
#include <stdio.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model_internal.h"
#include "model/qweights.h"

#define QK_K 256

int linear_keep_gguf(Model *m, Linear *l, uint32_t type, const uint8_t *data, size_t nbytes, char err[QB_ERRLEN]) {
    int block, bytes;
    if (!gguf_type_info(type, &block, &bytes) || block == 1 || l->rows < 1 || l->cols < 1 || l->cols % block) {
        snprintf(err, QB_ERRLEN, "gguf weights: type %s cannot be kept packed for a %d x %d layer", gguf_type_name(type),
                 l->rows, l->cols);
        return -1;
    }
    size_t row_bytes = (size_t)(l->cols / block) * (size_t)bytes;
    if (nbytes != row_bytes * (size_t)l->rows) {
        snprintf(err, QB_ERRLEN, "gguf weights: %zu bytes for a %d x %d %s layer (%zu expected)", nbytes, l->rows,
                 l->cols, gguf_type_name(type), row_bytes * (size_t)l->rows);
        return -1;
    }
    QWeights *q = (QWeights *)model_own_floats(m, (sizeof *q + sizeof(float) - 1) / sizeof(float));
    if (!q) { snprintf(err, QB_ERRLEN, "gguf weights: out of memory"); return -1; }
    memset(q, 0, sizeof *q);
    q->fmt = QW_GGUF;
    q->gtype = type;
    q->rows = l->rows;
    q->cols = l->cols;
    q->row_bytes = row_bytes;
    q->data = data;
    q->bytes = nbytes;
    l->q = q;
    l->w = NULL;
    return 0;
}

void qk_gguf_rows_f32(const QWeights *q, int r0, int r1, float *out) {
    for (int r = r0; r < r1; r++)
        gguf_dequantize(q->gtype, q->data + (size_t)r * q->row_bytes, out + (size_t)(r - r0) * q->cols, (size_t)q->cols);
}

/* ---- portable: 256 exact weights at a time, then a dot product ----------------------------------- */

static float dot_row_chunked(const QWeights *q, const uint8_t *p, const float *x) {
    int block, bytes;
    gguf_type_info(q->gtype, &block, &bytes);
    float buf[QK_K], s = 0.0f;
    for (int j0 = 0; j0 < q->cols; j0 += QK_K) {
        int n = q->cols - j0 < QK_K ? q->cols - j0 : QK_K; /* a multiple of the block: cols is */
        gguf_dequantize(q->gtype, p + (size_t)(j0 / block) * bytes, buf, (size_t)n);
        s += qk_dot_f32(buf, x + j0, n);
    }
    return s;
}

/* ---- AVX2 -------------------------------------------------------------------------------------- */

/* an fp16 scale, widened exactly by the F16C instruction (the per-block cost of a call to
 * model_half_to_float was as large as the block's arithmetic) */
__attribute__((target("avx2,fma,f16c"))) static inline float f16(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8));
}

__attribute__((target("avx2,fma,f16c"))) static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 signed bytes (the low 8 of v) as floats, exactly */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 i8x8(__m128i v) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

/* acc += (d · q[i]) · x[i] for 16 signed quants in v: the weights are d·q as the dequantizer computes them */
__attribute__((target("avx2,fma,f16c"))) static inline void fma16(__m128i v, __m256 d, const float *x, __m256 *a0,
                                                              __m256 *a1) {
    *a0 = _mm256_fmadd_ps(_mm256_mul_ps(d, i8x8(v)), _mm256_loadu_ps(x), *a0);
    *a1 = _mm256_fmadd_ps(_mm256_mul_ps(d, i8x8(_mm_srli_si128(v, 8))), _mm256_loadu_ps(x + 8), *a1);
}

/* Q4_0: w = d·(q − 8); element j < 16 is the low nibble of qs[j], j + 16 the high one */
__attribute__((target("avx2,fma,f16c"))) static float dot_q4_0(const uint8_t *p, const float *x, int nb) {
    const __m128i m4 = _mm_set1_epi8(15), k8 = _mm_set1_epi8(8);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int b = 0; b < nb; b++, p += 18, x += 32) {
        __m256 d = _mm256_set1_ps(f16(p));
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        fma16(_mm_sub_epi8(_mm_and_si128(v, m4), k8), d, x, &a0, &a1);
        fma16(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), k8), d, x + 16, &a2, &a3);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* Q8_0: w = q·d */
__attribute__((target("avx2,fma,f16c"))) static float dot_q8_0(const uint8_t *p, const float *x, int nb) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int b = 0; b < nb; b++, p += 34, x += 32) {
        __m256 d = _mm256_set1_ps(f16(p));
        fma16(_mm_loadu_si128((const __m128i *)(p + 2)), d, x, &a0, &a1);
        fma16(_mm_loadu_si128((const __m128i *)(p + 18)), d, x + 16, &a2, &a3);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* IQ4_NL / IQ4_XS: the 4-bit index looked up in the 16 grid values with one byte shuffle */
static const int8_t IQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

__attribute__((target("avx2,fma,f16c"))) static float dot_iq4_nl(const uint8_t *p, const float *x, int nb) {
    const __m128i m4 = _mm_set1_epi8(15), grid = _mm_loadu_si128((const __m128i *)IQ4NL);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int b = 0; b < nb; b++, p += 18, x += 32) {
        __m256 d = _mm256_set1_ps(f16(p));
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        fma16(_mm_shuffle_epi8(grid, _mm_and_si128(v, m4)), d, x, &a0, &a1);
        fma16(_mm_shuffle_epi8(grid, _mm_and_si128(_mm_srli_epi16(v, 4), m4)), d, x + 16, &a2, &a3);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* IQ4_XS: 8 sub-blocks of 32, dl = d·(ls − 32) with a 6-bit ls */
__attribute__((target("avx2,fma,f16c"))) static float dot_iq4_xs(const uint8_t *p, const float *x, int nb) {
    const __m128i m4 = _mm_set1_epi8(15), grid = _mm_loadu_si128((const __m128i *)IQ4NL);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int b = 0; b < nb; b++, p += 136) {
        float d = f16(p);
        unsigned sh = (unsigned)(p[2] | p[3] << 8);
        const uint8_t *sl = p + 4, *qs = p + 8;
        for (int k = 0; k < 8; k++, x += 32) {
            int ls = ((sl[k / 2] >> (4 * (k % 2))) & 0x0F) | (int)((sh >> (2 * k)) & 3) << 4;
            __m256 dl = _mm256_set1_ps(d * (float)(ls - 32));
            __m128i v = _mm_loadu_si128((const __m128i *)(qs + 16 * k));
            fma16(_mm_shuffle_epi8(grid, _mm_and_si128(v, m4)), dl, x, &a0, &a1);
            fma16(_mm_shuffle_epi8(grid, _mm_and_si128(_mm_srli_epi16(v, 4), m4)), dl, x + 16, &a2, &a3);
        }
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* 6-bit scale and min of sub-block j of Q4_K / Q5_K (as gguf_quants.c unpacks them) */
static inline void k4_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* acc += (dk·q − mk)·x for 32 unsigned quants (bytes of v, values < 32) */
__attribute__((target("avx2,fma,f16c"))) static inline void fma32_min(__m256i v, __m256 dk, __m256 mk, const float *x,
                                                                  __m256 *a) {
    __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    /* written out: a loop over an array of parts kept the accumulators in memory */
    a[0] = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_mul_ps(dk, i8x8(lo)), mk), _mm256_loadu_ps(x), a[0]);
    a[1] = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_mul_ps(dk, i8x8(_mm_srli_si128(lo, 8))), mk), _mm256_loadu_ps(x + 8), a[1]);
    a[2] = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_mul_ps(dk, i8x8(hi)), mk), _mm256_loadu_ps(x + 16), a[2]);
    a[3] = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_mul_ps(dk, i8x8(_mm_srli_si128(hi, 8))), mk), _mm256_loadu_ps(x + 24), a[3]);
}

/* Q4_K / Q5_K: 8 sub-blocks of 32, w = (d·sc)·q − dmin·mn; sub-block 2c + t takes nibble t of qs[32c + l],
 * Q5_K's fifth bit of element 32k + l is bit k of qh[l] */
__attribute__((target("avx2,fma,f16c"))) static float dot_q45_k(const uint8_t *p, const float *x, int nb, int five) {
    const __m256i m4 = _mm256_set1_epi8(15), k16 = _mm256_set1_epi8(16);
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int bytes = five ? 176 : 144;
    for (int b = 0; b < nb; b++, p += bytes) {
        float d = f16(p), dmin = f16(p + 2);
        const uint8_t *scales = p + 4, *qs = p + 16 + (five ? 32 : 0);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            for (int t = 0; t < 2; t++, x += 32) {
                int k = 2 * c + t, sc, mn;
                k4_scale_min(scales, k, &sc, &mn);
                __m256 dk = _mm256_set1_ps(d * (float)sc), mk = _mm256_set1_ps(dmin * (float)mn);
                __m256i qv = _mm256_and_si256(t ? _mm256_srli_epi16(v, 4) : v, m4);
                if (five) {
                    __m256i bit = _mm256_set1_epi8((char)(1 << k));
                    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
                    qv = _mm256_or_si256(qv, _mm256_and_si256(set, k16));
                }
                fma32_min(qv, dk, mk, x, a);
            }
        }
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
}

/* Q6_K: 16 sub-blocks of 16 with int8 scales, w = (d·sc)·(q − 32). Element 128h + 32s + l (l < 32) has
 * its low 4 bits in nibble s/2 of ql[64h + 32(s%2) + l] and its high 2 bits at bits 2s of qh[32h + l]. */
__attribute__((target("avx2,fma,f16c"))) static float dot_q6_k(const uint8_t *p, const float *x, int nb) {
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int b = 0; b < nb; b++, p += 210) {
        const uint8_t *ql = p, *qhp = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        float d = f16(p + 208);
        for (int h = 0; h < 2; h++) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(qhp + 32 * h));
            for (int s = 0; s < 4; s++, x += 32) {
                __m256i lo = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32 * (s % 2)));
                lo = _mm256_and_si256(s / 2 ? _mm256_srli_epi16(lo, 4) : lo, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), m3);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), k32);
                int sub = (128 * h + 32 * s) / 16;
                __m256 d0 = _mm256_set1_ps(d * (float)sc[sub]), d1 = _mm256_set1_ps(d * (float)sc[sub + 1]);
                fma16(_mm256_castsi256_si128(q), d0, x, &a0, &a1);
                fma16(_mm256_extracti128_si256(q, 1), d1, x + 16, &a2, &a3);
            }
        }
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* ---- AVX-512: the same weights, 16 lanes (two accumulators per 32 weights) ----------------------- */

#define T512 __attribute__((target("avx512f,avx512bw,avx2,fma,f16c")))

/* acc += (d · q[i]) · x[i] for 16 signed quants in v */
T512 static inline __m512 fma16_512(__m128i v, __m512 d, const float *x, __m512 acc) {
    return _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))), _mm512_loadu_ps(x), acc);
}

T512 static float dot_q4_0_512(const uint8_t *p, const float *x, int nb) {
    const __m128i m4 = _mm_set1_epi8(15), k8 = _mm_set1_epi8(8);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (int b = 0; b < nb; b++, p += 18, x += 32) {
        __m512 d = _mm512_set1_ps(f16(p));
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        a0 = fma16_512(_mm_sub_epi8(_mm_and_si128(v, m4), k8), d, x, a0);
        a1 = fma16_512(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), k8), d, x + 16, a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

T512 static float dot_q8_0_512(const uint8_t *p, const float *x, int nb) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (int b = 0; b < nb; b++, p += 34, x += 32) {
        __m512 d = _mm512_set1_ps(f16(p));
        a0 = fma16_512(_mm_loadu_si128((const __m128i *)(p + 2)), d, x, a0);
        a1 = fma16_512(_mm_loadu_si128((const __m128i *)(p + 18)), d, x + 16, a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

T512 static float dot_iq4_nl_512(const uint8_t *p, const float *x, int nb) {
    const __m128i m4 = _mm_set1_epi8(15), grid = _mm_loadu_si128((const __m128i *)IQ4NL);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (int b = 0; b < nb; b++, p += 18, x += 32) {
        __m512 d = _mm512_set1_ps(f16(p));
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 2));
        a0 = fma16_512(_mm_shuffle_epi8(grid, _mm_and_si128(v, m4)), d, x, a0);
        a1 = fma16_512(_mm_shuffle_epi8(grid, _mm_and_si128(_mm_srli_epi16(v, 4), m4)), d, x + 16, a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

T512 static float dot_iq4_xs_512(const uint8_t *p, const float *x, int nb) {
    const __m128i m4 = _mm_set1_epi8(15), grid = _mm_loadu_si128((const __m128i *)IQ4NL);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (int b = 0; b < nb; b++, p += 136) {
        float d = f16(p);
        unsigned sh = (unsigned)(p[2] | p[3] << 8);
        const uint8_t *sl = p + 4, *qs = p + 8;
        for (int k = 0; k < 8; k++, x += 32) {
            int ls = ((sl[k / 2] >> (4 * (k % 2))) & 0x0F) | (int)((sh >> (2 * k)) & 3) << 4;
            __m512 dl = _mm512_set1_ps(d * (float)(ls - 32));
            __m128i v = _mm_loadu_si128((const __m128i *)(qs + 16 * k));
            a0 = fma16_512(_mm_shuffle_epi8(grid, _mm_and_si128(v, m4)), dl, x, a0);
            a1 = fma16_512(_mm_shuffle_epi8(grid, _mm_and_si128(_mm_srli_epi16(v, 4), m4)), dl, x + 16, a1);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

T512 static float dot_q45_k_512(const uint8_t *p, const float *x, int nb, int five) {
    const __m256i m4 = _mm256_set1_epi8(15), k16 = _mm256_set1_epi8(16);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    const int bytes = five ? 176 : 144;
    for (int b = 0; b < nb; b++, p += bytes) {
        float d = f16(p), dmin = f16(p + 2);
        const uint8_t *scales = p + 4, *qs = p + 16 + (five ? 32 : 0);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            for (int t = 0; t < 2; t++, x += 32) {
                int k = 2 * c + t, sc, mn;
                k4_scale_min(scales, k, &sc, &mn);
                __m512 dk = _mm512_set1_ps(d * (float)sc), mk = _mm512_set1_ps(dmin * (float)mn);
                __m256i qv = _mm256_and_si256(t ? _mm256_srli_epi16(v, 4) : v, m4);
                if (five) {
                    __m256i bit = _mm256_set1_epi8((char)(1 << k));
                    qv = _mm256_or_si256(qv, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), k16));
                }
                __m512 w0 = _mm512_sub_ps(_mm512_mul_ps(dk, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(qv)))), mk);
                __m512 w1 = _mm512_sub_ps(_mm512_mul_ps(dk, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(qv, 1)))), mk);
                a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x), a0);
                a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + 16), a1);
            }
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

T512 static float dot_q6_k_512(const uint8_t *p, const float *x, int nb) {
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (int b = 0; b < nb; b++, p += 210) {
        const uint8_t *ql = p, *qhp = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        float d = f16(p + 208);
        for (int h = 0; h < 2; h++) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(qhp + 32 * h));
            for (int s = 0; s < 4; s++, x += 32) {
                __m256i lo = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32 * (s % 2)));
                lo = _mm256_and_si256(s / 2 ? _mm256_srli_epi16(lo, 4) : lo, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), m3);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), k32);
                int sub = (128 * h + 32 * s) / 16;
                a0 = fma16_512(_mm256_castsi256_si128(q), _mm512_set1_ps(d * (float)sc[sub]), x, a0);
                a1 = fma16_512(_mm256_extracti128_si256(q, 1), _mm512_set1_ps(d * (float)sc[sub + 1]), x + 16, a1);
            }
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static float dot_q4_k_512(const uint8_t *p, const float *x, int nb) { return dot_q45_k_512(p, x, nb, 0); }
static float dot_q5_k_512(const uint8_t *p, const float *x, int nb) { return dot_q45_k_512(p, x, nb, 1); }

/* ---- Q4_1, Q5_0, Q5_1, Q2_K, Q3_K at both widths ------------------------------------------------ */

/* One body per type, instantiated for AVX2 (an accumulator pair of 8 lanes) and AVX-512 (16 lanes):
 *   ACC16(acc, v, d, x)     acc += (d·q)·x for 16 signed quants q in the bytes of v
 *   ACC16M(acc, v, d, m, x) acc += (d·q + m)·x (a − b is a + (−b) exactly, so Q2_K passes −ml) */
typedef struct { __m256 a, b; } Acc2;

__attribute__((target("avx2,fma,f16c"))) static inline void acc16_2(Acc2 *c, __m128i v, float d, const float *x) {
    fma16(v, _mm256_set1_ps(d), x, &c->a, &c->b);
}
__attribute__((target("avx2,fma,f16c"))) static inline void acc16m_2(Acc2 *c, __m128i v, float d, float m, const float *x) {
    __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    c->a = _mm256_fmadd_ps(_mm256_add_ps(_mm256_mul_ps(dv, i8x8(v)), mv), _mm256_loadu_ps(x), c->a);
    c->b = _mm256_fmadd_ps(_mm256_add_ps(_mm256_mul_ps(dv, i8x8(_mm_srli_si128(v, 8))), mv), _mm256_loadu_ps(x + 8), c->b);
}
__attribute__((target("avx2,fma,f16c"))) static inline float hsum_2(Acc2 c) { return hsum(_mm256_add_ps(c.a, c.b)); }
#define ZERO_2 {_mm256_setzero_ps(), _mm256_setzero_ps()}

T512 static inline void acc16_5(__m512 *c, __m128i v, float d, const float *x) { *c = fma16_512(v, _mm512_set1_ps(d), x, *c); }
T512 static inline void acc16m_5(__m512 *c, __m128i v, float d, float m, const float *x) {
    __m512 w = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))), _mm512_set1_ps(m));
    *c = _mm512_fmadd_ps(w, _mm512_loadu_ps(x), *c);
}
T512 static inline float hsum_5(__m512 c) { return _mm512_reduce_add_ps(c); }
#define ZERO_5 _mm512_setzero_ps()

/* Q5's fifth bits: byte j of the result is 16 when bit (j + off) of qh is set (off 0 or 16) */
__attribute__((target("avx2,fma,f16c"))) static inline __m128i q5_high(uint32_t qh, int off) {
    const __m128i sel = _mm_set_epi8(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                  bit = _mm_set_epi8((char)128, 64, 32, 16, 8, 4, 2, 1, (char)128, 64, 32, 16, 8, 4, 2, 1);
    __m128i b = _mm_shuffle_epi8(_mm_cvtsi32_si128((int)(qh >> off)), sel);
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(b, bit), bit), _mm_set1_epi8(16));
}

#define DEFINE_REST(W, ATTR, ACC_T, ZERO)                                                                      \
    ATTR static float dot_q4_1_##W(const uint8_t *p, const float *x, int nb) {                               \
        const __m128i m4 = _mm_set1_epi8(15);                                                                  \
        ACC_T c = ZERO;                                                                                        \
        for (int b = 0; b < nb; b++, p += 20, x += 32) {                                                       \
            float d = f16(p), m = f16(p + 2);                                                                  \
            __m128i v = _mm_loadu_si128((const __m128i *)(p + 4));                                             \
            acc16m_##W(&c, _mm_and_si128(v, m4), d, m, x);                                                     \
            acc16m_##W(&c, _mm_and_si128(_mm_srli_epi16(v, 4), m4), d, m, x + 16);                             \
        }                                                                                                      \
        return hsum_##W(c);                                                                                    \
    }                                                                                                          \
    /* Q5_0: w = d·(q − 16); Q5_1: w = d·q + m */                                                             \
    ATTR static float dot_q5_##W(const uint8_t *p, const float *x, int nb, int has_min) {                      \
        const __m128i m4 = _mm_set1_epi8(15), k16 = _mm_set1_epi8(16);                                        \
        const int bytes = has_min ? 24 : 22;                                                                   \
        ACC_T c = ZERO;                                                                                        \
        for (int b = 0; b < nb; b++, p += bytes, x += 32) {                                                    \
            float d = f16(p), m = has_min ? f16(p + 2) : 0.0f;                                                 \
            const uint8_t *q = p + (has_min ? 4 : 2);                                                          \
            uint32_t qh;                                                                                       \
            memcpy(&qh, q, 4);                                                                                 \
            __m128i v = _mm_loadu_si128((const __m128i *)(q + 4));                                             \
            __m128i lo = _mm_or_si128(_mm_and_si128(v, m4), q5_high(qh, 0));                                   \
            __m128i hi = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(v, 4), m4), q5_high(qh, 16));               \
            if (has_min) {                                                                                     \
                acc16m_##W(&c, lo, d, m, x);                                                                   \
                acc16m_##W(&c, hi, d, m, x + 16);                                                              \
            } else {                                                                                           \
                acc16_##W(&c, _mm_sub_epi8(lo, k16), d, x);                                                    \
                acc16_##W(&c, _mm_sub_epi8(hi, k16), d, x + 16);                                               \
            }                                                                                                  \
        }                                                                                                      \
        return hsum_##W(c);                                                                                    \
    }                                                                                                          \
    /* Q2_K: w = dl·q − ml per sub-block of 16; element 128h + 32s + l has bits 2s of qs[32h + l] */        \
    ATTR static float dot_q2_k_##W(const uint8_t *p, const float *x, int nb) {                               \
        const __m256i m3 = _mm256_set1_epi8(3);                                                                \
        ACC_T c = ZERO;                                                                                        \
        for (int b = 0; b < nb; b++, p += 84) {                                                                \
            const uint8_t *sc = p;                                                                             \
            float d = f16(p + 80), dmin = f16(p + 82);                                                         \
            for (int h = 0; h < 2; h++) {                                                                      \
                __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * h));                            \
                for (int s = 0; s < 4; s++, x += 32) {                                                         \
                    __m256i q = _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m3);                             \
                    int sub = 8 * h + 2 * s;                                                                   \
                    acc16m_##W(&c, _mm256_castsi256_si128(q), d * (float)(sc[sub] & 0x0F),                     \
                               -(dmin * (float)(sc[sub] >> 4)), x);                                            \
                    acc16m_##W(&c, _mm256_extracti128_si256(q, 1), d * (float)(sc[sub + 1] & 0x0F),            \
                               -(dmin * (float)(sc[sub + 1] >> 4)), x + 16);                                   \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        return hsum_##W(c);                                                                                    \
    }                                                                                                          \
    /* Q3_K: w = dl·(q − 4·!hbit), hbit = bit (4h + s) of hmask[l] */                                          \
    ATTR static float dot_q3_k_##W(const uint8_t *p, const float *x, int nb) {                               \
        const __m256i m3 = _mm256_set1_epi8(3), k4 = _mm256_set1_epi8(4);                                      \
        ACC_T c = ZERO;                                                                                        \
        for (int b = 0; b < nb; b++, p += 110) {                                                               \
            const uint8_t *sc = p + 96;                                                                        \
            float d = f16(p + 108), dl[16];                                                                    \
            for (int k = 0; k < 16; k++) {                                                                     \
                int lo = (sc[k % 8] >> (4 * (k / 8))) & 0x0F, hi = (sc[8 + k % 4] >> (2 * (k / 4))) & 3;       \
                dl[k] = d * (float)((lo | hi << 4) - 32);                                                      \
            }                                                                                                  \
            __m256i hm = _mm256_loadu_si256((const __m256i *)p);                                               \
            for (int h = 0; h < 2; h++) {                                                                      \
                __m256i v = _mm256_loadu_si256((const __m256i *)(p + 32 + 32 * h));                            \
                for (int s = 0; s < 4; s++, x += 32) {                                                         \
                    __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + s)));                                  \
                    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);                           \
                    __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m3),             \
                                                _mm256_andnot_si256(set, k4));                                 \
                    int sub = 8 * h + 2 * s;                                                                   \
                    acc16_##W(&c, _mm256_castsi256_si128(q), dl[sub], x);                                      \
                    acc16_##W(&c, _mm256_extracti128_si256(q, 1), dl[sub + 1], x + 16);                        \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        return hsum_##W(c);                                                                                    \
    }                                                                                                          \
    static float dot_q5_0_##W(const uint8_t *p, const float *x, int nb) { return dot_q5_##W(p, x, nb, 0); }  \
    static float dot_q5_1_##W(const uint8_t *p, const float *x, int nb) { return dot_q5_##W(p, x, nb, 1); }

DEFINE_REST(2, __attribute__((target("avx2,fma,f16c"))), Acc2, ZERO_2)
DEFINE_REST(5, T512, __m512, ZERO_5)

/* The kernel for q's type at each level, or NULL */
typedef float (*RowDot)(const uint8_t *p, const float *x, int nb);
static float dot_q4_k(const uint8_t *p, const float *x, int nb) { return dot_q45_k(p, x, nb, 0); }
static float dot_q5_k(const uint8_t *p, const float *x, int nb) { return dot_q45_k(p, x, nb, 1); }

static RowDot avx512_kernel(uint32_t type) {
    switch (type) {
    case GGML_Q4_0: return dot_q4_0_512;
    case GGML_Q8_0: return dot_q8_0_512;
    case GGML_IQ4_NL: return dot_iq4_nl_512;
    case GGML_IQ4_XS: return dot_iq4_xs_512;
    case GGML_Q4_K: return dot_q4_k_512;
    case GGML_Q5_K: return dot_q5_k_512;
    case GGML_Q6_K: return dot_q6_k_512;
    case GGML_Q4_1: return dot_q4_1_5;
    case GGML_Q5_0: return dot_q5_0_5;
    case GGML_Q5_1: return dot_q5_1_5;
    case GGML_Q2_K: return dot_q2_k_5;
    case GGML_Q3_K: return dot_q3_k_5;
    default: return NULL;
    }
}

static RowDot avx2_kernel(uint32_t type) {
    switch (type) {
    case GGML_Q4_0: return dot_q4_0;
    case GGML_Q8_0: return dot_q8_0;
    case GGML_IQ4_NL: return dot_iq4_nl;
    case GGML_IQ4_XS: return dot_iq4_xs;
    case GGML_Q4_K: return dot_q4_k;
    case GGML_Q5_K: return dot_q5_k;
    case GGML_Q6_K: return dot_q6_k;
    case GGML_Q4_1: return dot_q4_1_2;
    case GGML_Q5_0: return dot_q5_0_2;
    case GGML_Q5_1: return dot_q5_1_2;
    case GGML_Q2_K: return dot_q2_k_2;
    case GGML_Q3_K: return dot_q3_k_2;
    default: return NULL;
    }
}

void qk_gguf_dot_rows(const QWeights *q, const float *x, int r0, int r1, float *y) {
    int block, bytes;
    gguf_type_info(q->gtype, &block, &bytes);
    int level = qk_simd();
    RowDot k = level >= 2 ? avx512_kernel(q->gtype) : level == 1 ? avx2_kernel(q->gtype) : NULL;
    for (int r = r0; r < r1; r++) {
        const uint8_t *p = q->data + (size_t)r * q->row_bytes;
        y[r - r0] = k ? k(p, x, q->cols / block) : dot_row_chunked(q, p, x);
    }
}

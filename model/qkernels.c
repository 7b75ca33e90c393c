/* qkernels.c — the kernels behind qw_ops: decoding packed rows into float32 (prefill panels, the float
 * accessor) and fused dequantize-and-dot for decode, which reads each packed byte once.
 *   F16/BF16: widened in registers (F16C / a 16-bit shift) and multiplied.
 *   uniform 4-bit (QL_NIB4): 32 codes per 16 bytes; per group Σ (code − zero)·x, then one multiply by
 *     the scale. code − zero is exact in float32 for integer zeros, so the only roundings are the sums.
 *   binary codes (QL_PLANES): a lookup table per 8 activations holds the 256 signed sums ±x0 ± … ± x7;
 *     each sign byte of each bit plane is then one table load (LUT-GEMM / T-MAC style), and a row is
 *     Σ_groups (offset·Σx + Σ_b alpha_b · Σ_chunks T[byte_b]).
 *   everything else: a chunk of the row decoded into a small buffer and a float dot product.
 * AVX2 (and for 4-bit codes AVX-512) paths are compiled with target attributes and chosen at run time; the portable C paths compute
 * the same sums in their own fixed order. Each row is one call's work, independent of how rows are split
 * among threads. */
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "model/qweights.h"

static int simd_state = -1; /* -1 unknown, else the level in use */

/* F16C from CPUID leaf 1 (ECX bit 29): clang before 16 has no "f16c" for __builtin_cpu_supports */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/* 0 portable C, 1 AVX2 + FMA + F16C, 2 AVX-512 (F, BW) as well */
static int cpu_level(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())) return 0;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? 2 : 1;
}

void qk_set_simd(int level) {
    int max = cpu_level();
    __atomic_store_n(&simd_state, level < 0 ? 0 : level > max ? max : level, __ATOMIC_RELAXED);
}

/* QBENCH_NO_SIMD=1 in the environment selects the portable code (benchmarks compare the two). Threads
 * may race to the first detection; they all store the same value. */
int qk_simd(void) {
    int s = __atomic_load_n(&simd_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = getenv("QBENCH_NO_SIMD") ? 0 : cpu_level();
        __atomic_store_n(&simd_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

/* ---- float dot ---------------------------------------------------------------------------------- */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float dot_f32_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static float dot_f32_c(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

float qk_dot_f32(const float *a, const float *b, int n) {
    return qk_simd() ? dot_f32_avx2(a, b, n) : dot_f32_c(a, b, n);
}

/* ---- halves --------------------------------------------------------------------------------------- */

static inline float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t half_at(const uint8_t *p, size_t i) { return (uint16_t)(p[2 * i] | p[2 * i + 1] << 8); }

static void rows_half(const QWeights *q, int r0, int r1, float *out) {
    size_t n = (size_t)(r1 - r0) * q->cols;
    const uint8_t *p = q->data + (size_t)r0 * q->row_bytes;
    if (q->fmt == QW_BF16)
        for (size_t i = 0; i < n; i++) out[i] = bf16_to_float(half_at(p, i));
    else
        for (size_t i = 0; i < n; i++) out[i] = model_half_to_float(half_at(p, i));
}

__attribute__((target("avx2,fma,f16c"))) static inline __m256 load8_half(const uint8_t *p, int bf) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (!bf) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma,f16c"))) static float dot_half_avx2(const uint8_t *w, const float *x, int n, int bf) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load8_half(w + 2 * i, bf), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(load8_half(w + 2 * i + 16, bf), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(load8_half(w + 2 * i + 32, bf), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(load8_half(w + 2 * i + 48, bf), _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8_half(w + 2 * i, bf), _mm256_loadu_ps(x + i), s0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += (bf ? bf16_to_float(half_at(w, (size_t)i)) : model_half_to_float(half_at(w, (size_t)i))) * x[i];
    return s;
}

static void dot_half(const QWeights *q, const float *x, int r0, int r1, float *y) {
    int bf = q->fmt == QW_BF16, simd = qk_simd();
    for (int r = r0; r < r1; r++) {
        const uint8_t *w = q->data + (size_t)r * q->row_bytes;
        if (simd) { y[r - r0] = dot_half_avx2(w, x, q->cols, bf); continue; }
        float s = 0.0f;
        for (int i = 0; i < q->cols; i++)
            s += (bf ? bf16_to_float(half_at(w, (size_t)i)) : model_half_to_float(half_at(w, (size_t)i))) * x[i];
        y[r - r0] = s;
    }
}

/* ---- codes: decoding, and the generic decode-a-chunk-then-dot kernel ------------------------------ */

#define CHUNK 256

/* Fast row decoders into kernel column order (o has cols floats); same values as qw_value. */
static void row_nib4_c(const QWeights *q, int r, float *o) {
    const uint8_t *p = q->data + (size_t)r * q->row_bytes;
    const float *sc = q->scales + (size_t)r * q->n_groups, *zr = q->zeros + (size_t)r * q->n_groups;
    for (int j = 0; j < q->cols; j += 32) {
        int g = j / q->gsize;
        float s = sc[g], z = zr[g];
        for (int i = 0; i < 16; i++) {
            o[j + i] = s * ((float)(p[j / 2 + i] & 15) - z);
            o[j + 16 + i] = s * ((float)(p[j / 2 + i] >> 4) - z);
        }
    }
}

__attribute__((target("avx2,fma"))) static void row_nib4_avx2(const QWeights *q, int r, float *o) {
    const uint8_t *p = q->data + (size_t)r * q->row_bytes;
    const float *sc = q->scales + (size_t)r * q->n_groups, *zr = q->zeros + (size_t)r * q->n_groups;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int j = 0; j < q->cols; j += 32) {
        int g = j / q->gsize;
        __m256 s = _mm256_set1_ps(sc[g]), z = _mm256_set1_ps(zr[g]);
        __m128i v = _mm_loadu_si128((const __m128i *)(p + j / 2));
        __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
        /* s·(c − z) as two roundings-free steps and one multiply: the same value as the scalar form */
        _mm256_storeu_ps(o + j, _mm256_mul_ps(s, _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), z)));
        _mm256_storeu_ps(o + j + 8, _mm256_mul_ps(s, _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), z)));
        _mm256_storeu_ps(o + j + 16, _mm256_mul_ps(s, _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), z)));
        _mm256_storeu_ps(o + j + 24, _mm256_mul_ps(s, _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), z)));
    }
}

static void row_planes_binary(const QWeights *q, int r, float *o) {
    const int plane = q->cols / 8, bits = q->bits;
    for (int c = 0; c < plane; c++) {
        const float *lev = q->levels + (((size_t)r * q->n_groups + (size_t)(8 * c) / q->gsize) << bits);
        unsigned b[8];
        for (int k = 0; k < bits; k++) b[k] = q->data[qw_plane_at(q, r, k, c)];
        for (int i = 0; i < 8; i++) {
            unsigned code = 0;
            for (int k = 0; k < bits; k++) code |= (b[k] >> i & 1u) << k;
            o[8 * c + i] = lev[code];
        }
    }
}

/* The same with BMI2: pdep spreads the 8 bits of a plane byte into 8 bytes, so the codes of 8 columns are
 * built with one pdep and one shift per plane instead of 8 bit extractions each. */
__attribute__((target("bmi2"))) static void row_planes_binary_bmi2(const QWeights *q, int r, float *o) {
    const int plane = q->cols / 8, bits = q->bits;
    for (int c = 0; c < plane; c++) {
        const float *lev = q->levels + (((size_t)r * q->n_groups + (size_t)(8 * c) / q->gsize) << bits);
        uint64_t codes = 0;
        for (int k = 0; k < bits; k++) codes |= _pdep_u64(q->data[qw_plane_at(q, r, k, c)], 0x0101010101010101ull) << k;
        for (int i = 0; i < 8; i++) o[8 * c + i] = lev[codes >> (8 * i) & 0xff];
    }
}

static void row_planes_uniform(const QWeights *q, int r, float *o) {
    const int plane = q->cols / 8, bits = q->bits;
    const uint8_t *p = q->data + (size_t)r * q->row_bytes;
    const float *sc = q->scales + (size_t)r * q->n_groups, *zr = q->zeros + (size_t)r * q->n_groups;
    for (int c = 0; c < plane; c++) {
        int g = 8 * c / q->gsize;
        unsigned b[8];
        for (int k = 0; k < bits; k++) b[k] = p[(size_t)k * plane + c];
        for (int i = 0; i < 8; i++) {
            unsigned code = 0;
            for (int k = 0; k < bits; k++) code |= (b[k] >> i & 1u) << k;
            o[8 * c + i] = sc[g] * ((float)code - zr[g]);
        }
    }
}

static void row_generic(const QWeights *q, int r, float *o) {
    for (int j = 0; j < q->cols; j++) o[j] = qw_value(q, r, j);
}

/* Row r in kernel column order into o (cols floats), by the fastest decoder for q's layout. */
static void decode_row(const QWeights *q, int r, float *o) {
    if (q->layout == QL_NIB4) (qk_simd() ? row_nib4_avx2 : row_nib4_c)(q, r, o);
    else if (q->layout == QL_PLANES && q->fmt == QW_BINARY)
        (qk_simd() && __builtin_cpu_supports("bmi2") ? row_planes_binary_bmi2 : row_planes_binary)(q, r, o);
    else if (q->layout == QL_PLANES) row_planes_uniform(q, r, o);
    else row_generic(q, r, o);
}

static void rows_codes(const QWeights *q, int r0, int r1, float *out) {
    float *buf = q->perm ? malloc((size_t)q->cols * sizeof *buf) : NULL;
    for (int r = r0; r < r1; r++) {
        float *o = out + (size_t)(r - r0) * q->cols;
        if (!q->perm) { decode_row(q, r, o); continue; }
        if (buf) { /* decode in kernel order, then scatter */
            decode_row(q, r, buf);
            for (int j = 0; j < q->cols; j++) o[q->perm[j]] = buf[j];
            continue;
        }
        for (int j = 0; j < q->cols; j++) o[q->perm[j]] = qw_value(q, r, j);
    }
    free(buf);
}

static void dot_generic(const QWeights *q, const float *x, int r0, int r1, float *y) {
    float *buf = malloc(2 * (size_t)q->cols * sizeof *buf);
    if (buf) { /* each row decoded once into a buffer, then one dot product with x in kernel order */
        float *xk = buf + q->cols;
        for (int j = 0; j < q->cols; j++) xk[j] = x[q->perm ? q->perm[j] : j];
        for (int r = r0; r < r1; r++) {
            decode_row(q, r, buf);
            float s = 0.0f; /* chunk by chunk, the order of the fallback below */
            for (int j0 = 0; j0 < q->cols; j0 += CHUNK)
                s += qk_dot_f32(buf + j0, xk + j0, q->cols - j0 < CHUNK ? q->cols - j0 : CHUNK);
            y[r - r0] = s;
        }
        free(buf);
        return;
    }
    float wb[CHUNK], xb[CHUNK]; /* no memory: the same sums chunk by chunk */
    for (int r = r0; r < r1; r++) {
        float s = 0.0f;
        for (int j0 = 0; j0 < q->cols; j0 += CHUNK) {
            int n = q->cols - j0 < CHUNK ? q->cols - j0 : CHUNK;
            for (int j = 0; j < n; j++) {
                wb[j] = qw_value(q, r, j0 + j);
                xb[j] = x[q->perm ? q->perm[j0 + j] : j0 + j];
            }
            s += qk_dot_f32(wb, xb, n);
        }
        y[r - r0] = s;
    }
}

/* x in kernel column order: x itself, or gathered into buf (cols floats). */
static const float *kernel_x(const QWeights *q, const float *x, float *buf) {
    if (!q->perm) return x;
    for (int j = 0; j < q->cols; j++) buf[j] = x[q->perm[j]];
    return buf;
}

/* ---- uniform 4-bit ------------------------------------------------------------------------------ */

static void dot_nib4_c(const QWeights *q, const float *xk, int r0, int r1, float *y) {
    const int G = q->gsize, ng = q->n_groups;
    for (int r = r0; r < r1; r++) {
        const uint8_t *p = q->data + (size_t)r * q->row_bytes;
        const float *sc = q->scales + (size_t)r * ng, *zr = q->zeros + (size_t)r * ng;
        float s = 0.0f;
        for (int g = 0; g < ng; g++) {
            float a = 0.0f, z = zr[g];
            for (int j = g * G; j < (g + 1) * G; j += 32) {
                const uint8_t *b = p + j / 2;
                for (int i = 0; i < 16; i++) a += ((float)(b[i] & 15) - z) * xk[j + i];
                for (int i = 0; i < 16; i++) a += ((float)(b[i] >> 4) - z) * xk[j + 16 + i];
            }
            s += sc[g] * a;
        }
        y[r - r0] = s;
    }
}

__attribute__((target("avx2,fma"))) static void dot_nib4_avx2(const QWeights *q, const float *xk, int r0, int r1,
                                                              float *y) {
    const int G = q->gsize, ng = q->n_groups;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int r = r0; r < r1; r++) {
        const uint8_t *p = q->data + (size_t)r * q->row_bytes;
        const float *sc = q->scales + (size_t)r * ng, *zr = q->zeros + (size_t)r * ng;
        __m256 tot = _mm256_setzero_ps();
        for (int g = 0; g < ng; g++) {
            __m256 z = _mm256_set1_ps(zr[g]);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int j = g * G; j < (g + 1) * G; j += 32) {
                __m128i v = _mm_loadu_si128((const __m128i *)(p + j / 2));
                __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
                __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
                __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
                __m256 c2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
                __m256 c3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
                a0 = _mm256_fmadd_ps(_mm256_sub_ps(c0, z), _mm256_loadu_ps(xk + j), a0);
                a1 = _mm256_fmadd_ps(_mm256_sub_ps(c1, z), _mm256_loadu_ps(xk + j + 8), a1);
                a2 = _mm256_fmadd_ps(_mm256_sub_ps(c2, z), _mm256_loadu_ps(xk + j + 16), a2);
                a3 = _mm256_fmadd_ps(_mm256_sub_ps(c3, z), _mm256_loadu_ps(xk + j + 24), a3);
            }
            __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
            tot = _mm256_fmadd_ps(a, _mm256_set1_ps(sc[g]), tot);
        }
        y[r - r0] = hsum256(tot);
    }
}

__attribute__((target("avx512f,avx512bw"))) static void dot_nib4_avx512(const QWeights *q, const float *xk, int r0,
                                                                       int r1, float *y) {
    const int G = q->gsize, ng = q->n_groups;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int r = r0; r < r1; r++) {
        const uint8_t *p = q->data + (size_t)r * q->row_bytes;
        const float *sc = q->scales + (size_t)r * ng, *zr = q->zeros + (size_t)r * ng;
        __m512 tot = _mm512_setzero_ps();
        for (int g = 0; g < ng; g++) {
            __m512 z = _mm512_set1_ps(zr[g]);
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;
            for (int j = g * G; j < (g + 1) * G; j += 32) {
                __m128i v = _mm_loadu_si128((const __m128i *)(p + j / 2));
                __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
                __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi));
                a0 = _mm512_fmadd_ps(_mm512_sub_ps(c0, z), _mm512_loadu_ps(xk + j), a0);
                a1 = _mm512_fmadd_ps(_mm512_sub_ps(c1, z), _mm512_loadu_ps(xk + j + 16), a1);
            }
            tot = _mm512_fmadd_ps(_mm512_add_ps(a0, a1), _mm512_set1_ps(sc[g]), tot);
        }
        y[r - r0] = _mm512_reduce_add_ps(tot);
    }
}

/* ---- binary codes: lookup tables ------------------------------------------------------------------ */

/* T[c][s] = Σ_k (bit k of s ? +1 : −1)·x[8c + k], for the 8-column chunks c of x (kernel order). */
static void build_lut(const float *xk, int cols, float *lut) {
    for (int c = 0; c < cols / 8; c++) {
        const float *x = xk + 8 * c;
        float *T = lut + 256 * c;
        T[0] = -(((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7])));
        for (int s = 1; s < 256; s++) {
            int k = __builtin_ctz((unsigned)s);
            T[s] = T[s & (s - 1)] + 2.0f * x[k];
        }
    }
}

static inline void lut_row(const QWeights *q, const float *lut, const float *sx, int r, int bits, float *y) {
    const int ng = q->n_groups, cpg = q->gsize / 8;
    /* byte c of plane b is at p + b·bstride + c·cstride in either arrangement of the planes */
    const uint8_t *p = q->data + qw_plane_at(q, r, 0, 0);
    const size_t cstride = qw_plane_at(q, r, 0, 1) - qw_plane_at(q, r, 0, 0),
                 bstride = q->bits > 1 ? qw_plane_at(q, r, 1, 0) - qw_plane_at(q, r, 0, 0) : 0;
    const float *al = q->scales + (size_t)r * ng * bits, *of = q->zeros + (size_t)r * ng;
    float s = 0.0f;
    for (int g = 0; g < ng; g++) {
        float acc[8] = {0};
        for (int c = g * cpg; c < (g + 1) * cpg; c++) {
            const float *T = lut + 256 * (size_t)c;
            for (int b = 0; b < bits; b++) acc[b] += T[p[b * bstride + c * cstride]];
        }
        float v = of[g] * sx[g];
        for (int b = 0; b < bits; b++) v += al[(size_t)g * bits + b] * acc[b];
        s += v;
    }
    *y = s;
}

/* T4[c][s] = Σ_k (bit k of s ? +1 : −1)·x[4c + k]: one 16-float table (one zmm) per 4 columns. */
static void build_lut4(const float *xk, int cols, float *lut) {
    for (int c = 0; c < cols / 4; c++) {
        const float *x = xk + 4 * c;
        float *T = lut + 16 * c;
        T[0] = -((x[0] + x[1]) + (x[2] + x[3]));
        for (int s = 1; s < 16; s++) T[s] = T[s & (s - 1)] + 2.0f * x[__builtin_ctz((unsigned)s)];
    }
}

/* 16 rows at once, one per lane: the sign byte of 8 columns for 16 rows is one 16-byte load; its low
 * nibble indexes the table of columns 0..3 and its high nibble that of columns 4..7 through vpermps
 * (which reads only the low 4 bits of each index). Per group: Σ_b alpha_b·acc_b + offset·Σx. */
__attribute__((target("avx512f,avx512bw"))) static void dot_binary_avx512(const QWeights *q, const float *lut4, const float *sx, int r0,
                                                                         int r1, float *y) {
    const int bits = q->bits, ng = q->n_groups, cpg = q->gsize / 8, plane = q->cols / 8;
    for (int t = r0 >> 4; t <= (r1 - 1) >> 4; t++) {
        const uint8_t *base = q->data + (size_t)t * bits * plane * 16;
        int row0 = t * 16, valid = q->rows - row0 < 16 ? q->rows - row0 : 16;
        __mmask16 mk = (__mmask16)((1u << valid) - 1u);
        __m512i lane = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32(ng));
        __m512 tot = _mm512_setzero_ps();
        for (int g = 0; g < ng; g++) {
            __m512 acc[8];
            for (int b = 0; b < bits; b++) acc[b] = _mm512_setzero_ps();
            for (int c = g * cpg; c < (g + 1) * cpg; c++) {
                __m512 tlo = _mm512_loadu_ps(lut4 + 32 * (size_t)c), thi = _mm512_loadu_ps(lut4 + 32 * (size_t)c + 16);
                for (int b = 0; b < bits; b++) {
                    __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(base + ((size_t)b * plane + c) * 16)));
                    acc[b] = _mm512_add_ps(acc[b], _mm512_permutexvar_ps(e, tlo));
                    acc[b] = _mm512_add_ps(acc[b], _mm512_permutexvar_ps(_mm512_srli_epi32(e, 4), thi));
                }
            }
            /* per-lane metadata of rows row0..row0+15, group g (lanes past the last row masked off) */
            __m512i rg = _mm512_add_epi32(lane, _mm512_set1_epi32(row0 * ng + g));
            __m512 of = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, rg, q->zeros, 4);
            __m512 v = _mm512_mul_ps(of, _mm512_set1_ps(sx[g]));
            __m512i ra = _mm512_mullo_epi32(rg, _mm512_set1_epi32(bits));
            for (int b = 0; b < bits; b++) {
                __m512 al = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, _mm512_add_epi32(ra, _mm512_set1_epi32(b)),
                                                     q->scales, 4);
                v = _mm512_fmadd_ps(al, acc[b], v);
            }
            tot = _mm512_add_ps(tot, v);
        }
        float out[16];
        _mm512_storeu_ps(out, tot);
        for (int i = 0; i < 16; i++)
            if (row0 + i >= r0 && row0 + i < r1) y[row0 + i - r0] = out[i];
    }
}

static void dot_binary(const QWeights *q, const float *x, int r0, int r1, float *y) {
    if (q->layout != QL_PLANES) { dot_generic(q, x, r0, r1, y); return; }
    if (qk_simd() >= 2 && q->tiled) {
        const int cols = q->cols, ng = q->n_groups;
        float *buf = malloc(((size_t)cols * 4 + (size_t)cols + (size_t)ng) * sizeof *buf);
        if (buf) {
            float *lut = buf, *xb = lut + (size_t)cols * 4, *sx = xb + cols;
            const float *xk = kernel_x(q, x, xb);
            build_lut4(xk, cols, lut);
            for (int g = 0; g < ng; g++) {
                float s = 0.0f;
                for (int j = g * q->gsize; j < (g + 1) * q->gsize; j++) s += xk[j];
                sx[g] = s;
            }
            dot_binary_avx512(q, lut, sx, r0, r1, y);
            free(buf);
            return;
        }
    }
    const int cols = q->cols, ng = q->n_groups;
    float *buf = malloc(((size_t)cols * 32 + (size_t)cols + (size_t)ng) * sizeof *buf);
    if (!buf) { dot_generic(q, x, r0, r1, y); return; }
    float *lut = buf, *xb = lut + (size_t)cols * 32, *sx = xb + cols;
    const float *xk = kernel_x(q, x, xb);
    build_lut(xk, cols, lut);
    for (int g = 0; g < ng; g++) {
        float s = 0.0f;
        for (int j = g * q->gsize; j < (g + 1) * q->gsize; j++) s += xk[j];
        sx[g] = s;
    }
    /* constant bit counts let the compiler unroll the plane loop */
    for (int r = r0; r < r1; r++) switch (q->bits) {
        case 1: lut_row(q, lut, sx, r, 1, &y[r - r0]); break;
        case 2: lut_row(q, lut, sx, r, 2, &y[r - r0]); break;
        case 3: lut_row(q, lut, sx, r, 3, &y[r - r0]); break;
        case 4: lut_row(q, lut, sx, r, 4, &y[r - r0]); break;
        default: lut_row(q, lut, sx, r, q->bits, &y[r - r0]); break;
        }
    free(buf);
}

static void dot_uniform(const QWeights *q, const float *x, int r0, int r1, float *y) {
    if (q->layout != QL_NIB4) { dot_generic(q, x, r0, r1, y); return; }
    float *xb = q->perm ? malloc((size_t)q->cols * sizeof *xb) : NULL;
    if (q->perm && !xb) { dot_generic(q, x, r0, r1, y); return; }
    const float *xk = kernel_x(q, x, xb);
    switch (qk_simd()) {
    case 2: dot_nib4_avx512(q, xk, r0, r1, y); break;
    case 1: dot_nib4_avx2(q, xk, r0, r1, y); break;
    default: dot_nib4_c(q, xk, r0, r1, y);
    }
    free(xb);
}

const QWeightOps qw_ops[QW_FORMAT_COUNT] = {
    [QW_F16] = {rows_half, dot_half},
    [QW_BF16] = {rows_half, dot_half},
    [QW_UNIFORM] = {rows_codes, dot_uniform},
    [QW_BINARY] = {rows_codes, dot_binary},
    [QW_GGUF] = {qk_gguf_rows_f32, qk_gguf_dot_rows},
};

/* kernels.h — the element-wise pieces of the forward pass (RMSNorm, SwiGLU, softmax) as small
 * inline functions, shared by forward.c and attention.c. Loops carry `omp simd` so they vectorize at
 * -O2; fast_expf keeps exp inside the vector loop (glibc expf would not vectorize). */
#ifndef QBENCH_MODEL_KERNELS_H
#define QBENCH_MODEL_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for x in float range, Cephes polynomial: max relative error ~2e-7 (a few ulp). */
static inline float fast_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* n = round(x / ln2) by the 1.5*2^23 trick: floorf would keep this loop from vectorizing */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n from the bits of n + 127 + 1.5*2^23 (its mantissa holds the integer): unsigned arithmetic,
     * so a NaN input gives a NaN result instead of the undefined float->int conversion */
    union { float f; uint32_t u; } biased = {.f = n + (12582912.0f + 127.0f)}, magic = {.f = 12582912.0f};
    union { uint32_t u; float f; } scale = {.u = (biased.u - magic.u) << 23};
    return p * scale.f;
}

// out (dim) = x (dim) / rms(x) * w (dim)
static inline void rmsnorm_row(float *out, const float *x, const float *w, int dim, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < dim; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)dim + eps);
#pragma omp simd
    for (int i = 0; i < dim; i++) out[i] = x[i] * inv * w[i];
}

// x (n) ← softmax(x); returns nothing, n >= 1
static inline void softmax_row(float *x, int n) {
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        float e = fast_expf(x[i] - mx);
        x[i] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int i = 0; i < n; i++) x[i] *= inv;
}

// g (n) ← silu(g) * u   (SwiGLU: silu(x W_gateᵀ) ⊙ (x W_upᵀ))
static inline void swiglu_row(float *g, const float *u, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + fast_expf(-g[i])) * u[i];
}

#endif

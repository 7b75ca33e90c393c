/* attention.c — causal grouped-query attention over a KV buffer. Prefill windows go through sgemm per
 * head (QKᵀ and PV), cut into row blocks so the masked upper triangle is mostly never computed;
 * decode (a few rows) uses a direct loop parallel over heads, where BLAS call overhead would dominate. */
#include <math.h>
#include <cblas.h>

#include "model/kernels.h"
#include "model/model_internal.h"

#define ROW_BLOCK 128

static void attention_small(const float *q, const float *K, const float *V, float *out, int n, int pos0,
                            int n_heads, int n_kv_heads, int hd, float *scratch) {
    int qd = n_heads * hd, kvd = n_kv_heads * hd, group = n_heads / n_kv_heads;
    int T = pos0 + n;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static) if (n_heads * T > 4096)
    for (int h = 0; h < n_heads; h++) {
        float *att = scratch + (size_t)h * T;
        int g = h / group;
        for (int i = 0; i < n; i++) {
            const float *qi = q + (size_t)i * qd + (size_t)h * hd;
            int len = pos0 + i + 1; /* causal: keys 0 .. pos0+i */
            // att (len) = K_g (len, hd) @ q_i (hd) * scale
            for (int t = 0; t < len; t++) {
                const float *kt = K + (size_t)t * kvd + (size_t)g * hd;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int d = 0; d < hd; d++) s += qi[d] * kt[d];
                att[t] = s * scale;
            }
            softmax_row(att, len);
            // out_i (hd) = att (len) @ V_g (len, hd)
            float *oi = out + (size_t)i * qd + (size_t)h * hd;
            for (int d = 0; d < hd; d++) oi[d] = 0.0f;
            for (int t = 0; t < len; t++) {
                const float *vt = V + (size_t)t * kvd + (size_t)g * hd;
                float a = att[t];
#pragma omp simd
                for (int d = 0; d < hd; d++) oi[d] += a * vt[d];
            }
        }
    }
}

void attention_causal(const float *q, const float *K, const float *V, float *out, int n, int pos0,
                      int n_heads, int n_kv_heads, int hd, float *scratch) {
    if (n <= ATTN_SMALL_N) {
        attention_small(q, K, V, out, n, pos0, n_heads, n_kv_heads, hd, scratch);
        return;
    }
    int qd = n_heads * hd, kvd = n_kv_heads * hd, group = n_heads / n_kv_heads;
    int T = pos0 + n; /* leading dimension of the score matrix S (n, T) */
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < n_heads; h++) {
        int g = h / group;
        const float *Kg = K + (size_t)g * hd, *Vg = V + (size_t)g * hd;
        // S[r0:r1, 0:Tb] = scale * Q_h[r0:r1] (rb, hd) @ K_g[0:Tb] (Tb, hd)ᵀ, Tb = last key the block sees
        for (int r0 = 0; r0 < n; r0 += ROW_BLOCK) {
            int r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n, Tb = pos0 + r1;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, Tb, hd, scale,
                        q + (size_t)r0 * qd + (size_t)h * hd, qd, Kg, kvd, 0.0f, scratch + (size_t)r0 * T, T);
        }
        // row i: softmax over keys 0..pos0+i, zeros for the masked keys its block's PV product reads
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            float *row = scratch + (size_t)i * T;
            int len = pos0 + i + 1, r1 = (i / ROW_BLOCK + 1) * ROW_BLOCK;
            int Tb = pos0 + (r1 < n ? r1 : n);
            softmax_row(row, len);
            for (int t = len; t < Tb; t++) row[t] = 0.0f;
        }
        // out_h[r0:r1] (rb, hd) = P[r0:r1, 0:Tb] (rb, Tb) @ V_g[0:Tb] (Tb, hd)
        for (int r0 = 0; r0 < n; r0 += ROW_BLOCK) {
            int r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n, Tb = pos0 + r1;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hd, Tb, 1.0f,
                        scratch + (size_t)r0 * T, T, Vg, kvd, 0.0f, out + (size_t)r0 * qd + (size_t)h * hd, qd);
        }
    }
}

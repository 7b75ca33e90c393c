/* attention.c — causal grouped-query attention over a KV buffer. Prefill windows are cut into
 * (head, block of 64 query rows) tasks run on OpenMP threads; each task is two single-threaded sgemms
 * (QKᵀ over only the keys its rows can see, then PV) around a masked softmax, so the upper triangle is
 * mostly never computed. Decode (a few rows) uses a direct loop parallel over heads, where BLAS call
 * overhead would dominate. */
#include <math.h>
#include <omp.h>
#include <cblas.h>

#include "model/kernels.h"
#include "model/model_internal.h"

#define ROW_BLOCK 64

size_t attention_scratch_floats(int max_seq, int n_heads, int threads) {
    size_t prefill = (size_t)threads * ROW_BLOCK * (size_t)max_seq; /* one score block per thread */
    size_t decode = (size_t)n_heads * (size_t)max_seq;             /* one score row per head */
    return prefill > decode ? prefill : decode;
}

static void attention_small(const float *q, const float *K, const float *V, float *out, int n, int pos0,
                            int n_heads, int n_kv_heads, int hd, float *scratch) {
    int qd = n_heads * hd, kvd = n_kv_heads * hd, group = n_heads / n_kv_heads;
    int T = pos0 + n;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static) if ((double)n * n_heads * T * hd > PARALLEL_MIN_MACS)
    for (int h = 0; h < n_heads; h++) {
        float *att = scratch + (size_t)h * T;
        int g = h / group;
        const float *Kg = K + (size_t)g * hd, *Vg = V + (size_t)g * hd;
        for (int i = 0; i < n; i++) {
            int len = pos0 + i + 1; /* causal: keys 0 .. pos0+i */
            // att (len) = scale * K_g[0:len] (len, hd) @ q_i (hd)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, len, hd, scale, Kg, kvd, q + (size_t)i * qd + (size_t)h * hd, 1,
                        0.0f, att, 1);
            softmax_row(att, len);
            // out_i (hd) = V_g[0:len] (len, hd)ᵀ @ att (len)
            cblas_sgemv(CblasRowMajor, CblasTrans, len, hd, 1.0f, Vg, kvd, att, 1, 0.0f,
                        out + (size_t)i * qd + (size_t)h * hd, 1);
        }
    }
}

void attention_causal(const float *q, const float *K, const float *V, float *out, int n, int pos0,
                      int n_heads, int n_kv_heads, int hd, float *scratch, int scratch_threads) {
    if (n <= ATTN_SMALL_N) {
        attention_small(q, K, V, out, n, pos0, n_heads, n_kv_heads, hd, scratch);
        return;
    }
    int qd = n_heads * hd, kvd = n_kv_heads * hd, group = n_heads / n_kv_heads;
    int T = pos0 + n, nblk = (n + ROW_BLOCK - 1) / ROW_BLOCK, tasks = n_heads * nblk;
    float scale = 1.0f / sqrtf((float)hd);
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads > scratch_threads) threads = scratch_threads;
    if ((double)n * T * hd * n_heads < PARALLEL_MIN_MACS) threads = 1;
    /* the last row blocks see the most keys: hand them out first so the threads finish together */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int task = 0; task < tasks; task++) {
        int b = nblk - 1 - task / n_heads, h = task % n_heads, g = h / group;
        int r0 = b * ROW_BLOCK, r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n, Tb = pos0 + r1;
        float *S = scratch + (size_t)omp_get_thread_num() * ROW_BLOCK * T;
        const float *Kg = K + (size_t)g * hd, *Vg = V + (size_t)g * hd;
        // S (rb, Tb) = scale * Q_h[r0:r1] (rb, hd) @ K_g[0:Tb] (Tb, hd)ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, Tb, hd, scale,
                    q + (size_t)r0 * qd + (size_t)h * hd, qd, Kg, kvd, 0.0f, S, Tb);
        // row i: softmax over keys 0..pos0+i; the masked keys up to Tb become 0 for the PV product
        for (int i = r0; i < r1; i++) {
            float *row = S + (size_t)(i - r0) * Tb;
            int len = pos0 + i + 1;
            softmax_row(row, len);
            for (int t = len; t < Tb; t++) row[t] = 0.0f;
        }
        // out_h[r0:r1] (rb, hd) = P (rb, Tb) @ V_g[0:Tb] (Tb, hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hd, Tb, 1.0f, S, Tb, Vg, kvd, 0.0f,
                    out + (size_t)r0 * qd + (size_t)h * hd, qd);
    }
}

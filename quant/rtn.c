/* rtn.c — round to nearest (docs/quant.md §1.3 step 7): per row or per group, params fitted on the
 * untouched weights, every weight rounded to its grid. Works with any grid, so the same loop is
 * RTN (uniform) and RTNT (GPTQT's two-step grid without error compensation, §2.4 step 6). */
#include <stdio.h>
#include <stdlib.h>

#include "quant/quant_internal.h"

int rtn_run(const float *W, const float *H, int rows, int cols, int group_size, const GridSpec *s,
            QuantResult *out, GroupParams **params_out, char err[QB_ERRLEN]) {
    const int G = group_size > 0 ? group_size : cols;
    const int ng = (cols + G - 1) / G;
    GroupParams *groups = calloc((size_t)ng, sizeof(GroupParams));
    if (!groups) {
        snprintf(err, QB_ERRLEN, "rtn: out of memory");
        return -1;
    }
    int rc = -1;
    float *hd = NULL;
    if (H && s->two_step && s->use_hdiag) {
        hd = malloc((size_t)cols * sizeof(float));
        if (!hd) {
            snprintf(err, QB_ERRLEN, "rtn: out of memory");
            goto done;
        }
        for (int j = 0; j < cols; j++) hd[j] = H[(size_t)j * cols + j];
    }
    for (int g = 0; g < ng; g++) {
        const int c0 = g * G, k = cols - c0 < G ? cols - c0 : G;
        if (group_params_alloc(&groups[g], s, rows)) {
            snprintf(err, QB_ERRLEN, "rtn: out of memory");
            goto done;
        }
        if (grid_fit(s, W + c0, rows, k, (size_t)cols, hd ? hd + c0 : NULL, &groups[g], err))
            goto done;
        for (int j = c0; j < c0 + k; j++) out->g_idx[j] = g;
    }
    #pragma omp parallel for schedule(static) if ((long)rows * cols > (1L << 15))
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            size_t i = (size_t)r * cols + j;
            out->q[i] = grid_quant(s, &groups[j / G], r, W[i], &out->codes[i]);
        }
    store_group_params(s, groups, out);
    if (params_out) {
        *params_out = groups;
        groups = NULL;
    }
    rc = 0;
done:
    free(hd);
    if (groups) {
        for (int g = 0; g < ng; g++) group_params_free(&groups[g]);
        free(groups);
    }
    return rc;
}

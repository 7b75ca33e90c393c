/* loader_autogptq.c — the quantized linear layers of AutoGPTQ / GPTQModel directories (and of qbench's
 * own --export gptq), unpacked for the HF loader, which keeps them as qbench's uniform codes (the same
 * formula, so the same weights) or dequantizes them to float32 under QBENCH_DEQUANTIZE.
 *
 * The format (quantize_config.json, or "quantization_config" in config.json): quant_method "gptq",
 * bits 2/3/4/8, group_size (-1 = one group per row), desc_act, sym, checkpoint_format "gptq" (v1:
 * qzeros holds zero − 1) or "gptq_v2" (GPTQModel: the zero itself). Per layer: qweight int32
 * [in·bits/32, out], qzeros int32 [groups, out·bits/32], scales (F16) [groups, out], g_idx int32 [in]
 * (model.h, "bit packing"). W[o][i] = float(scales[g][o]) · (q[o][i] − zero[g][o]) with g = g_idx[i],
 * one float32 multiply of an exact integer, so the result equals AutoGPTQ's own dequantization. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cJSON.h>

#include "model/model_internal.h"
#include "model/safetensors.h"

static int read_obj(const char *path, cJSON **root, char err[QB_ERRLEN]) {
    size_t len;
    char *text = qb_read_file(path, &len, err);
    if (!text) return -1;
    *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        snprintf(err, QB_ERRLEN, "%.300s: not a JSON object", path);
        return -1;
    }
    return 0;
}

static int parse_format(const cJSON *q, const char *path, GptqFormat *f, char err[QB_ERRLEN]) {
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
    if (qm && (!cJSON_IsString(qm) || strcmp(qm->valuestring, "gptq") != 0)) {
        snprintf(err, QB_ERRLEN, "%.300s: quant_method '%.40s' is not supported (only gptq)", path,
                 cJSON_IsString(qm) ? qm->valuestring : "?");
        return -1;
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(q, "bits"), *g = cJSON_GetObjectItemCaseSensitive(q, "group_size");
    if (!cJSON_IsNumber(b) || !(b->valuedouble == 2 || b->valuedouble == 3 || b->valuedouble == 4 || b->valuedouble == 8)) {
        snprintf(err, QB_ERRLEN, "%.300s: bits must be 2, 3, 4 or 8", path);
        return -1;
    }
    if (!cJSON_IsNumber(g) || g->valuedouble != (int)g->valuedouble || !(g->valuedouble == -1 || (g->valuedouble >= 1 && g->valuedouble <= (1 << 20)))) {
        snprintf(err, QB_ERRLEN, "%.300s: group_size must be -1 or a positive integer", path);
        return -1;
    }
    f->bits = (int)b->valuedouble;
    f->group_size = (int)g->valuedouble;
    f->desc_act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "desc_act"));
    f->sym = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(q, "sym")); /* AutoGPTQ's default is sym */
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(q, "checkpoint_format");
    if (!cf) cf = cJSON_GetObjectItemCaseSensitive(q, "format");
    const char *fmt = cJSON_IsString(cf) ? cf->valuestring : "gptq";
    if (!strcmp(fmt, "gptq")) f->zero_offset = 1;
    else if (!strcmp(fmt, "gptq_v2")) f->zero_offset = 0;
    else {
        snprintf(err, QB_ERRLEN, "%.300s: checkpoint_format '%.40s' is not supported (gptq, gptq_v2)", path, fmt);
        return -1;
    }
    snprintf(f->checkpoint_format, sizeof f->checkpoint_format, "%s", fmt);
    f->present = 1;
    return 0;
}

int autogptq_format(const char *dir, GptqFormat *f, char err[QB_ERRLEN]) {
    memset(f, 0, sizeof *f);
    char path[1200];
    struct stat st;
    cJSON *root = NULL;
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    if (stat(path, &st) == 0) {
        if (read_obj(path, &root, err)) return -1;
        int rc = parse_format(root, path, f, err);
        cJSON_Delete(root);
        return rc;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (stat(path, &st) != 0) return 0; /* the HF loader reports the missing config */
    if (read_obj(path, &root, err)) return -1;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    int rc = 0;
    if (cJSON_IsObject(q)) {
        const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
        if (cJSON_IsString(qm) && strcmp(qm->valuestring, "gptq") != 0) {
            snprintf(err, QB_ERRLEN, "%.300s: quantization_config.quant_method '%.40s' is not supported (only gptq)", path,
                     qm->valuestring);
            rc = -1;
        } else {
            rc = parse_format(q, path, f, err);
        }
    }
    cJSON_Delete(root);
    return rc;
}

static int check_tensor(const StFile *sf, const StTensor *t, const char *name, const char *dtype, int ndim, long d0,
                        long d1, char err[QB_ERRLEN]) {
    if (!t) { snprintf(err, QB_ERRLEN, "%.300s: missing tensor '%.120s'", sf ? sf->path : "?", name); return -1; }
    int dt_ok = dtype ? strcmp(t->dtype_name, dtype) == 0
                      : (t->dtype == ST_F16 || t->dtype == ST_F32 || t->dtype == ST_BF16);
    if (!dt_ok || t->ndim != ndim || t->shape[0] != d0 || (ndim > 1 && t->shape[1] != d1)) {
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.120s' is %s with %d dims [%lld, %lld]; AutoGPTQ needs %s [%ld%s%.0ld]",
                 sf->path, name, t->dtype_name, t->ndim, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0),
                 dtype ? dtype : "F16/F32/BF16", d0, ndim > 1 ? ", " : "", ndim > 1 ? d1 : 0);
        return -1;
    }
    return 0;
}

int autogptq_unpack(const GptqFormat *f, const char *base, const GptqTensors *in, int rows, int cols, GptqLayer *L,
                    char err[QB_ERRLEN]) {
    memset(L, 0, sizeof *L);
    const int bits = f->bits;
    const int gs = f->group_size < 0 ? cols : f->group_size;
    const int ng = (cols + gs - 1) / gs;
    char name[200];
    snprintf(name, sizeof name, "%s.qweight", base);
    if (check_tensor(in->qweight_f, in->qweight, name, "I32", 2, (long)pack_words((size_t)cols, bits), rows, err)) return -1;
    snprintf(name, sizeof name, "%s.qzeros", base);
    if (check_tensor(in->qzeros_f, in->qzeros, name, "I32", 2, ng, (long)pack_words((size_t)rows, bits), err)) return -1;
    snprintf(name, sizeof name, "%s.scales", base);
    if (check_tensor(in->scales_f, in->scales, name, NULL, 2, ng, rows, err)) return -1;
    if (in->g_idx) {
        snprintf(name, sizeof name, "%s.g_idx", base);
        if (check_tensor(in->g_idx_f, in->g_idx, name, "I32", 1, cols, 0, err)) return -1;
    }
    L->bits = bits;
    L->n_groups = ng;
    L->codes = malloc((size_t)rows * cols);
    L->zeros = malloc((size_t)rows * ng * sizeof *L->zeros);
    L->scales = malloc((size_t)rows * ng * sizeof *L->scales);
    L->g_idx = malloc((size_t)cols * sizeof *L->g_idx);
    /* the mapping may not be 4-byte aligned for every tensor: copy the int32 tensors out */
    int32_t *qw = malloc(in->qweight->nbytes), *qz = malloc(in->qzeros->nbytes);
    float *sg = malloc((size_t)rows * ng * sizeof *sg);
    int rc = -1;
    if (!L->codes || !L->zeros || !L->scales || !L->g_idx || !qw || !qz || !sg) {
        snprintf(err, QB_ERRLEN, "%s: out of memory", base);
        goto out;
    }
    memcpy(qw, in->qweight->data, in->qweight->nbytes);
    memcpy(qz, in->qzeros->data, in->qzeros->nbytes);
    if (unpack_qweight(qw, rows, cols, bits, L->codes, err) ||
        unpack_qzeros(qz, rows, ng, bits, f->zero_offset, L->zeros, err))
        goto out;
    /* scales [ng][rows] → [rows][ng] */
    if (st_to_f32(in->scales_f, in->scales, sg, err)) goto out;
    for (int g = 0; g < ng; g++)
        for (int o = 0; o < rows; o++) L->scales[(size_t)o * ng + g] = sg[(size_t)g * rows + o];
    for (int i = 0; i < cols; i++) {
        if (in->g_idx) memcpy(&L->g_idx[i], in->g_idx->data + 4 * (size_t)i, 4);
        else L->g_idx[i] = i / gs;
        if (L->g_idx[i] < 0 || L->g_idx[i] >= ng) {
            snprintf(err, QB_ERRLEN, "%.300s: tensor '%s.g_idx'[%d] = %d is not a group (0..%d)", in->g_idx_f->path, base,
                     i, L->g_idx[i], ng - 1);
            goto out;
        }
    }
    L->stored_bytes = in->qweight->nbytes + in->qzeros->nbytes + in->scales->nbytes + (in->g_idx ? in->g_idx->nbytes : 0);
    rc = 0;
out:
    free(qw);
    free(qz);
    free(sg);
    if (rc) autogptq_layer_free(L);
    return rc;
}

void autogptq_layer_free(GptqLayer *L) {
    free(L->codes);
    free(L->scales);
    free(L->zeros);
    free(L->g_idx);
    memset(L, 0, sizeof *L);
}

int autogptq_dequant(const GptqFormat *f, const char *base, const GptqTensors *in, int rows, int cols, float *w,
                     size_t *stored_bytes, char err[QB_ERRLEN]) {
    GptqLayer L;
    if (autogptq_unpack(f, base, in, rows, cols, &L, err)) return -1;
    for (int o = 0; o < rows; o++)
        for (int i = 0; i < cols; i++) {
            size_t k = (size_t)o * L.n_groups + (size_t)L.g_idx[i];
            w[(size_t)o * cols + i] = L.scales[k] * ((float)L.codes[(size_t)o * cols + i] - L.zeros[k]);
        }
    *stored_bytes = L.stored_bytes;
    autogptq_layer_free(&L);
    return 0;
}

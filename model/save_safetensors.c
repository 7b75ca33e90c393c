/* save_safetensors.c — writes any loaded Model as a Hugging Face directory: config.json and one F32
 * model.safetensors, q/k rows (and biases) permuted back from the interleaved to the rotate-half RoPE
 * layout. Files are written under a temporary name and renamed, so a failure leaves no partial model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cJSON.h>

#include "model/model_internal.h"


static int write_config(const Model *m, const char *path, char err[QB_ERRLEN]) {
    cJSON *j = model_hf_config_json(m, "float32");
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    int rc = qb_write_text_file(path, text, err);
    free(text);
    return rc;
}

static int collect(const Model *m, OutTensor **out, int *n) {
    const ModelConfig *c = &m->cfg;
    if (c->family != ARCH_LLAMA) return arch_hf_tensors(m, out, n, 1);
    static const char *lin_names[LIN_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                               "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    OutTensor *t = calloc((size_t)c->n_layers * 16 + 4, sizeof *t);
    if (!t) return -1;
    int k = 0;
    snprintf(t[k].name, sizeof t[k].name, "model.embed_tokens.weight");
    t[k].p = m->tok_emb; t[k].rows = c->vocab_size; t[k].cols = c->dim; k++;
    for (int l = 0; l < c->n_layers; l++) {
        const Block *b = &m->blocks[l];
        snprintf(t[k].name, sizeof t[k].name, "model.layers.%d.input_layernorm.weight", l);
        t[k].p = b->attn_norm; t[k].rows = c->dim; k++;
        snprintf(t[k].name, sizeof t[k].name, "model.layers.%d.post_attention_layernorm.weight", l);
        t[k].p = b->ffn_norm; t[k].rows = c->dim; k++;
        for (int j = 0; j < LIN_COUNT; j++) {
            const Linear *lin = &b->lin[j];
            int heads = j == LIN_Q ? c->n_heads : j == LIN_K ? c->n_kv_heads : 0;
            snprintf(t[k].name, sizeof t[k].name, "model.layers.%d.%s.weight", l, lin_names[j]);
            t[k].p = lin->w; t[k].lin = lin; t[k].rows = lin->rows; t[k].cols = lin->cols; t[k].heads = heads; k++;
            if (lin->bias) {
                snprintf(t[k].name, sizeof t[k].name, "model.layers.%d.%s.bias", l, lin_names[j]);
                t[k].p = lin->bias; t[k].rows = lin->rows; t[k].heads = heads; k++;
            }
        }
    }
    snprintf(t[k].name, sizeof t[k].name, "model.norm.weight");
    t[k].p = m->final_norm; t[k].rows = c->dim; k++;
    if (!c->tied_embeddings) {
        snprintf(t[k].name, sizeof t[k].name, "lm_head.weight");
        t[k].p = m->classifier; t[k].rows = c->vocab_size; t[k].cols = c->dim; k++;
    }
    *out = t; *n = k;
    return 0;
}

static size_t numel(const OutTensor *t) { return (size_t)t->rows * (size_t)(t->cols ? t->cols : 1); }

static int write_weights(const Model *m, const char *path, char err[QB_ERRLEN]) {
    OutTensor *t; int n;
    if (collect(m, &t, &n)) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); return -1; }
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name), *shape = cJSON_AddArrayToObject(e, "shape");
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(t[i].rows));
        if (t[i].cols) cJSON_AddItemToArray(shape, cJSON_CreateNumber(t[i].cols));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += numel(&t[i]) * sizeof(float);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!json) { free(t); snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); return -1; }
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8; /* keep the data 8-byte aligned */
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    ok = ok && fwrite(len8, 1, 8, f) == 8 && fwrite(json, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        size_t k = numel(&t[i]);
        const float *src = t[i].p;
        float *dec = NULL;
        if (!src) {
            ok = (dec = malloc(k * sizeof(float))) != NULL;
            if (!ok) break;
            linear_rows_f32(t[i].lin, 0, t[i].rows, dec);
            src = dec;
        }
        if (t[i].heads) { /* back to rotate-half: the inverse of the loader's permutation */
            float *tmp = malloc(k * sizeof(float));
            ok = tmp != NULL;
            if (ok) {
                rope_rows_interleaved_to_hf(src, tmp, t[i].heads, t[i].rows / t[i].heads, t[i].cols ? t[i].cols : 1);
                ok = fwrite(tmp, sizeof(float), k, f) == k;
            }
            free(tmp);
        } else {
            ok = fwrite(src, sizeof(float), k, f) == k;
        }
        free(dec);
    }
    if (f && fclose(f) != 0) ok = 0;
    free(json);
    for (int i = 0; i < n; i++) free(t[i].owned);
    free(t);
    if (!ok) { snprintf(err, QB_ERRLEN, "%.300s: cannot write: %s", path, strerror(errno)); return -1; }
    return 0;
}

int model_save_safetensors(const Model *m, const char *dir, char err[QB_ERRLEN]) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, QB_ERRLEN, "%.300s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    char tmp[1200], final[1200];
    snprintf(tmp, sizeof tmp, "%s/model.safetensors.tmp", dir);
    snprintf(final, sizeof final, "%s/model.safetensors", dir);
    if (write_weights(m, tmp, err)) { remove(tmp); return -1; }
    if (rename(tmp, final) != 0) {
        snprintf(err, QB_ERRLEN, "%.300s: rename: %s", final, strerror(errno));
        remove(tmp);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/config.json.tmp", dir);
    snprintf(final, sizeof final, "%s/config.json", dir);
    if (write_config(m, tmp, err)) { remove(tmp); return -1; }
    if (rename(tmp, final) != 0) {
        snprintf(err, QB_ERRLEN, "%.300s: rename: %s", final, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* export_gptq.c — writes a quantized Llama model the way AutoGPTQ / GPTQModel checkpoints store it,
 * so the result loads in the Python ecosystem: a directory with model.safetensors, config.json and
 * quantize_config.json.
 *
 * Per linear layer (HF name, e.g. model.layers.3.self_attn.q_proj):
 *   qweight I32 [cols·bits/32, rows]  codes packed along the input dimension (pack.h)
 *   qzeros  I32 [n_groups, rows·bits/32]  zero − 1 per (group, row), packed along the output dimension:
 *           the v1 format, "checkpoint_format": "gptq" (AutoGPTQ adds 1 back when dequantizing; a zero
 *           of 0 is stored as 2^bits − 1, which readers that mask after adding 1 decode correctly)
 *   scales  F16 [n_groups, rows],  g_idx I32 [cols],  bias F32 [rows] where the model has one
 * Dequantization (AutoGPTQ): W[r][c] = scales[g][r] · (q[r][c] − (qzeros[g][r] + 1)), g = g_idx[c].
 * Float tensors (embeddings, norms, lm_head when untied) are written as F32, unchanged. The model
 * holds q/k rows in llama2.c's interleaved RoPE layout; HF expects rotate-half, so the rows of q and
 * k (codes, scales, zeros, bias) are permuted back here, exactly as model_save_safetensors does.
 * Only uniform grids (rtn, gptq) have this layout; AutoGPTQ kernels take bits 2, 3, 4, 8 and need
 * in_features·bits and out_features·bits to be multiples of 32.
 * OPT, BLOOM, GPT-2 and GPT-NeoX are written with their own module names (model_hf_linear_name) and
 * float tensors (model_hf_float_tensors): a fused query_key_value is one quantized layer, its rows put
 * back in BLOOM's/NeoX's head-interleaved order; GPT-2's Conv1D layers are packed as AutoGPTQ packs
 * them, from the transposed (out, in) weight, exactly like a Linear. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "model/model.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

static const char *HF_NAMES[LIN_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                          "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                          "mlp.down_proj"};

/* float32 → IEEE half, round to nearest even (what torch's .half() does). */
static uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0)); /* inf/nan */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                                    /* overflow */
    if (ax < 0x38800000u) { /* subnormal half (or zero): scale into the 2^-24 grid with RNE */
        float a;
        uint32_t ua = ax;
        memcpy(&a, &ua, 4);
        return (uint16_t)(sign | (uint32_t)rintf(a * 16777216.0f));
    }
    uint32_t mant = ax & 0x7fffffu, e = (ax >> 23) - 112; /* rebias 127 → 15 */
    uint32_t h = e << 10 | mant >> 13, rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* carries into the exponent correctly */
    return (uint16_t)(sign | h);
}

/* hf row r of a q/k layer holds the model's (interleaved) row map[r] */
static void rope_row_map(int heads, int hd, int *map) {
    int half = hd / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++)
            for (int c = 0; c < 2; c++) map[h * hd + c * half + i] = h * hd + 2 * i + c;
}

typedef enum { T_FLOAT, T_QWEIGHT, T_QZEROS, T_SCALES, T_GIDX, T_BIAS } TKind;

typedef struct {
    char name[128];
    const char *dtype;
    long shape[2];
    int ndim;
    size_t bytes;
    TKind kind;
    const float *src; /* T_FLOAT */
    int layer, lin;
    int idx; /* the layer's index in rep->results */
} Entry;

typedef struct {
    Entry *e;
    int n;
    size_t cap;
} Entries;

static Entry *entry_add(Entries *es, const char *name, const char *dtype, int ndim, long d0, long d1,
                        size_t elsize, TKind kind) {
    if (qb_grow((void **)&es->e, &es->cap, (size_t)es->n + 1, sizeof *es->e)) return NULL;
    Entry *e = &es->e[es->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->ndim = ndim;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->bytes = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * elsize;
    e->kind = kind;
    return e;
}

/* Materializes one quantized-layer tensor (HF row order) into buf. */
static int produce(const Model *m, const PipelineReport *rep, const Entry *e, void *buf, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    const Linear *lin = &m->blocks[e->layer].lin[e->lin];
    const QuantResult *r = &rep->results[e->idx];
    const int rows = r->rows, cols = r->cols, ng = r->n_groups, bits = r->bits;
    int *map = malloc((size_t)rows * sizeof *map);
    if (!map) goto oom;
    if (c->family != ARCH_LLAMA)
        model_hf_row_map(c, (LinearKind)e->lin, rows, map);
    else if (e->lin == LIN_Q || e->lin == LIN_K)
        rope_row_map(e->lin == LIN_Q ? c->n_heads : c->n_kv_heads, c->head_dim, map);
    else
        for (int i = 0; i < rows; i++) map[i] = i;
    int rc = 0;
    switch (e->kind) {
    case T_QWEIGHT: {
        uint8_t *codes = malloc((size_t)rows * cols);
        if (!codes) { free(map); goto oom; }
        for (int i = 0; i < rows; i++) memcpy(codes + (size_t)i * cols, r->codes + (size_t)map[i] * cols, (size_t)cols);
        rc = pack_qweight(codes, rows, cols, bits, buf, err);
        free(codes);
        break;
    }
    case T_QZEROS: {
        float *z = malloc((size_t)rows * ng * sizeof *z);
        if (!z) { free(map); goto oom; }
        for (int i = 0; i < rows; i++) memcpy(z + (size_t)i * ng, r->zeros + (size_t)map[i] * ng, (size_t)ng * sizeof *z);
        rc = pack_qzeros(z, rows, ng, bits, 1, buf, err);
        free(z);
        break;
    }
    case T_SCALES: {
        uint16_t *h = buf;
        for (int g = 0; g < ng; g++)
            for (int i = 0; i < rows; i++) h[(size_t)g * rows + i] = float_to_half(r->scales[(size_t)map[i] * ng + g]);
        break;
    }
    case T_GIDX: memcpy(buf, r->g_idx, (size_t)cols * sizeof(int32_t)); break;
    case T_BIAS: {
        float *b = buf;
        for (int i = 0; i < rows; i++) b[i] = lin->bias[map[i]];
        break;
    }
    default: break;
    }
    free(map);
    return rc;
oom:
    snprintf(err, QB_ERRLEN, "%.400s: out of memory", e->name);
    return -1;
}

/* a float option as the short decimal people wrote (0.01, not 0.00999999977648258) */
static cJSON *quantize_config(const PipelineOptions *po) {
    const QuantOptions *o = &po->opt;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "bits", o->bits);
    cJSON_AddNumberToObject(j, "group_size", o->group_size);
    cJSON_AddNumberToObject(j, "damp_percent", qb_short_decimal(o->percdamp));
    cJSON_AddBoolToObject(j, "desc_act", o->act_order);
    cJSON_AddBoolToObject(j, "static_groups", o->static_groups);
    cJSON_AddBoolToObject(j, "sym", o->sym);
    cJSON_AddBoolToObject(j, "true_sequential", po->true_sequential);
    cJSON_AddNullToObject(j, "model_name_or_path");
    cJSON_AddStringToObject(j, "model_file_base_name", "model");
    cJSON_AddStringToObject(j, "quant_method", "gptq");
    cJSON_AddStringToObject(j, "checkpoint_format", "gptq");
    cJSON_AddStringToObject(j, "pack_dtype", "int32");
    cJSON_AddBoolToObject(j, "lm_head", 0);
    /* GPTQModel's provenance block: the tool that quantized, then the settings it keeps there */
    cJSON *meta = cJSON_AddObjectToObject(j, "meta");
    cJSON *qz = cJSON_AddArrayToObject(meta, "quantizer");
    char who[64];
    snprintf(who, sizeof who, "qbench:%s", quant_method_name(o->method));
    cJSON_AddItemToArray(qz, cJSON_CreateString(who));
    cJSON_AddNumberToObject(meta, "damp_percent", qb_short_decimal(o->percdamp));
    cJSON_AddBoolToObject(meta, "static_groups", o->static_groups);
    cJSON_AddBoolToObject(meta, "true_sequential", po->true_sequential);
    cJSON_AddNumberToObject(meta, "mse", o->mse ? qb_short_decimal(o->mse_norm) : 0.0);
    return j;
}

static int write_json(const char *dir, const char *file, cJSON *j, char err[QB_ERRLEN]) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *s = j ? cJSON_Print(j) : NULL;
    int rc = qb_write_text_file(path, s, err);
    free(s);
    return rc;
}

static cJSON *hf_config(const Model *m, const PipelineOptions *po) {
    cJSON *j = model_hf_config_json(m, "float16"), *q = quantize_config(po);
    if (!j || !q || !cJSON_AddItemToObject(j, "quantization_config", q)) {
        cJSON_Delete(j);
        cJSON_Delete(q);
        return NULL;
    }
    return j;
}

int quant_export_gptq_check(const ModelConfig *c, const PipelineOptions *po, char err[QB_ERRLEN]) {
    const QuantOptions *o = &po->opt;
    if (o->method != QM_RTN && o->method != QM_GPTQ) {
        snprintf(err, QB_ERRLEN, "--export gptq: method %s stores binary codes; only rtn and gptq (uniform grids) "
                 "have the AutoGPTQ layout", quant_method_name(o->method));
        return -1;
    }
    if (po->quantize_head) {
        /* the AutoGPTQ layout has no quantized lm_head / embedding tensors */
        snprintf(err, QB_ERRLEN, "--export gptq: --quantize-head is not supported (AutoGPTQ keeps lm_head and "
                 "embeddings in float); quantize without it to export");
        return -1;
    }
    if (o->bits != 2 && o->bits != 3 && o->bits != 4 && o->bits != 8) {
        snprintf(err, QB_ERRLEN, "--export gptq: AutoGPTQ supports bits 2, 3, 4, 8 (got %d)", o->bits);
        return -1;
    }
    LinearKind kinds[LIN_COUNT];
    const int nk = model_block_linears(c, kinds);
    for (int ki = 0; ki < nk; ki++) { /* every block has the same shapes */
        const int k = kinds[ki];
        int rows, cols;
        model_linear_shape(c, (LinearKind)k, &rows, &cols);
        if (((long)cols * o->bits) % 32 || ((long)rows * o->bits) % 32) {
            snprintf(err, QB_ERRLEN, "--export gptq: %s is %dx%d; AutoGPTQ needs in and out features x %d bits to be "
                     "multiples of 32 (%ld and %ld are not all)", model_linear_name(c, (LinearKind)k), rows, cols, o->bits,
                     (long)cols * o->bits, (long)rows * o->bits);
            return -1;
        }
    }
    return 0;
}

/* Copies src to dst byte for byte. */
static int copy_file(const char *src, const char *dst, char err[QB_ERRLEN]) {
    size_t len;
    char *b = qb_read_file(src, &len, err);
    if (!b) return -1;
    FILE *f = fopen(dst, "wb");
    int ok = f && fwrite(b, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(b);
    if (!ok) snprintf(err, QB_ERRLEN, "%.400s: cannot write: %s", dst, strerror(errno));
    return ok ? 0 : -1;
}

/* The tokenizer and generation config beside the source model travel with the export, as
 * GPTQModel's save copies them, so the directory loads with AutoTokenizer alone. Without a
 * generation_config.json next to the source, one is written from the model's BOS/EOS. */
static int copy_side_files(const Model *m, const char *dir, char err[QB_ERRLEN]) {
    static const char *FILES[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                  "tokenizer.model", "generation_config.json"};
    char src_dir[1100], src[1200], dst[1200];
    struct stat st;
    if (!stat(m->path, &st) && S_ISDIR(st.st_mode)) snprintf(src_dir, sizeof src_dir, "%s", m->path);
    else {
        const char *slash = strrchr(m->path, '/');
        if (slash) snprintf(src_dir, sizeof src_dir, "%.*s", (int)(slash - m->path), m->path);
        else snprintf(src_dir, sizeof src_dir, ".");
    }
    int have_gen = 0;
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        snprintf(src, sizeof src, "%s/%s", src_dir, FILES[i]);
        if (stat(src, &st) || !S_ISREG(st.st_mode)) continue;
        snprintf(dst, sizeof dst, "%s/%s", dir, FILES[i]);
        if (copy_file(src, dst, err)) return -1;
        if (i == 4) have_gen = 1;
    }
    if (have_gen) return 0;
    cJSON *g = cJSON_CreateObject();
    if (!g) { snprintf(err, QB_ERRLEN, "%.400s: out of memory", dir); return -1; }
    if (m->cfg.bos_id >= 0) cJSON_AddNumberToObject(g, "bos_token_id", m->cfg.bos_id);
    if (m->cfg.eos_id >= 0) cJSON_AddNumberToObject(g, "eos_token_id", m->cfg.eos_id);
    cJSON_AddBoolToObject(g, "_from_model_config", 1);
    int rc = write_json(dir, "generation_config.json", g, err);
    cJSON_Delete(g);
    return rc;
}

int quant_export_gptq(const Model *m, const PipelineReport *rep, const PipelineOptions *po,
                      const char *dir, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    const QuantOptions *o = &po->opt;
    if (quant_export_gptq_check(c, po, err)) return -1;
    LinearKind kinds[LIN_COUNT];
    const int nk = model_block_linears(c, kinds);
    if (!rep || !rep->results || rep->n_layers != c->n_layers * nk) {
        snprintf(err, QB_ERRLEN, "--export gptq: no per-layer results (run quant_model with keep_results)");
        return -1;
    }
    for (int l = 0; l < c->n_layers; l++)
        for (int ki = 0; ki < nk; ki++) {
            const int k = kinds[ki];
            const QuantResult *r = &rep->results[l * nk + ki];
            const Linear *lin = &m->blocks[l].lin[k];
            if (!r->codes || !r->scales || !r->zeros || !r->g_idx || r->rows != lin->rows || r->cols != lin->cols ||
                r->bits != o->bits || r->n_groups < 1) {
                snprintf(err, QB_ERRLEN, "--export gptq: blk.%d.%s: result missing or does not match the layer", l,
                         model_linear_name(c, (LinearKind)k));
                return -1;
            }
            if (((long)r->cols * r->bits) % 32 || ((long)r->rows * r->bits) % 32) {
                snprintf(err, QB_ERRLEN, "--export gptq: blk.%d.%s is %dx%d; AutoGPTQ needs in and out features x %d "
                         "bits to be multiples of 32", l, model_linear_name(c, (LinearKind)k), r->rows, r->cols, r->bits);
                return -1;
            }
        }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, QB_ERRLEN, "%.400s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    Entries es = {0};
    cJSON *hdr = NULL;
    char *hjson = NULL;
    FILE *f = NULL;
    void *buf = NULL;
    int rc = -1;
    char name[128], path[1200];
    const long V = c->vocab_size, D = c->dim;
    Entry *e;
#define ADD(...) do { if (!(e = entry_add(&es, __VA_ARGS__))) goto oom; } while (0)
    if (c->family != ARCH_LLAMA) {
        HfFloatTensor *ft;
        int nf;
        if (model_hf_float_tensors(m, &ft, &nf)) goto oom;
        for (int i = 0; i < nf; i++) {
            if (!(e = entry_add(&es, ft[i].name, "F32", ft[i].cols ? 2 : 1, ft[i].rows, ft[i].cols, 4, T_FLOAT))) {
                free(ft);
                goto oom;
            }
            e->src = ft[i].p;
        }
        free(ft);
        for (int l = 0; l < c->n_layers; l++)
            for (int ki = 0; ki < nk; ki++) {
                const QuantResult *r = &rep->results[l * nk + ki];
                char hn[112];
                if (model_hf_linear_name(c, l, kinds[ki], hn, sizeof hn)) goto oom;
                long rows = r->rows, cols = r->cols, ng = r->n_groups;
                static const char *SUF[] = {"qweight", "qzeros", "scales", "g_idx", "bias"};
                for (int s = 0; s < 5; s++) {
                    snprintf(name, sizeof name, "%s.%s", hn, SUF[s]);
                    if (s == 0) ADD(name, "I32", 2, (long)pack_words((size_t)cols, r->bits), rows, 4, T_QWEIGHT);
                    else if (s == 1) ADD(name, "I32", 2, ng, (long)pack_words((size_t)rows, r->bits), 4, T_QZEROS);
                    else if (s == 2) ADD(name, "F16", 2, ng, rows, 2, T_SCALES);
                    else if (s == 3) ADD(name, "I32", 1, cols, 0, 4, T_GIDX);
                    else if (m->blocks[l].lin[kinds[ki]].bias) ADD(name, "F32", 1, rows, 0, 4, T_BIAS);
                    else continue;
                    e->layer = l; e->lin = kinds[ki]; e->idx = l * nk + ki;
                }
            }
        goto entries_done;
    }
    ADD("model.embed_tokens.weight", "F32", 2, V, D, 4, T_FLOAT);
    e->src = m->tok_emb;
    for (int l = 0; l < c->n_layers; l++) {
        const Block *b = &m->blocks[l];
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        ADD(name, "F32", 1, D, 0, 4, T_FLOAT);
        e->src = b->attn_norm;
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(name, "F32", 1, D, 0, 4, T_FLOAT);
        e->src = b->ffn_norm;
        for (int k = 0; k < LIN_COUNT; k++) {
            const QuantResult *r = &rep->results[l * LIN_COUNT + k];
            const char *hn = HF_NAMES[k];
            long rows = r->rows, cols = r->cols, ng = r->n_groups;
            snprintf(name, sizeof name, "model.layers.%d.%s.qweight", l, hn);
            ADD(name, "I32", 2, (long)pack_words((size_t)cols, r->bits), rows, 4, T_QWEIGHT);
            e->layer = l; e->lin = k; e->idx = l * LIN_COUNT + k;
            snprintf(name, sizeof name, "model.layers.%d.%s.qzeros", l, hn);
            ADD(name, "I32", 2, ng, (long)pack_words((size_t)rows, r->bits), 4, T_QZEROS);
            e->layer = l; e->lin = k; e->idx = l * LIN_COUNT + k;
            snprintf(name, sizeof name, "model.layers.%d.%s.scales", l, hn);
            ADD(name, "F16", 2, ng, rows, 2, T_SCALES);
            e->layer = l; e->lin = k; e->idx = l * LIN_COUNT + k;
            snprintf(name, sizeof name, "model.layers.%d.%s.g_idx", l, hn);
            ADD(name, "I32", 1, cols, 0, 4, T_GIDX);
            e->layer = l; e->lin = k; e->idx = l * LIN_COUNT + k;
            if (b->lin[k].bias) {
                snprintf(name, sizeof name, "model.layers.%d.%s.bias", l, hn);
                ADD(name, "F32", 1, rows, 0, 4, T_BIAS);
                e->layer = l; e->lin = k; e->idx = l * LIN_COUNT + k;
            }
        }
    }
    ADD("model.norm.weight", "F32", 1, D, 0, 4, T_FLOAT);
    e->src = m->final_norm;
    if (!c->tied_embeddings) {
        ADD("lm_head.weight", "F32", 2, V, D, 4, T_FLOAT);
        e->src = m->classifier;
    }
entries_done:
#undef ADD
    /* safetensors header: u64 length, JSON, space-padded to 8 bytes */
    hdr = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(hdr, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0, maxb = 0;
    for (int i = 0; i < es.n; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "dtype", es.e[i].dtype);
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < es.e[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)es.e[i].shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + es.e[i].bytes)));
        cJSON_AddItemToObject(hdr, es.e[i].name, t);
        off += es.e[i].bytes;
        if (es.e[i].bytes > maxb) maxb = es.e[i].bytes;
    }
    hjson = cJSON_PrintUnformatted(hdr);
    buf = malloc(maxb ? maxb : 1);
    if (!hjson || !buf) goto oom;
    size_t hlen = strlen(hjson), padded = (hlen + 7) / 8 * 8;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    if (!f) {
        snprintf(err, QB_ERRLEN, "%.400s: %s", path, strerror(errno));
        goto done;
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(hjson, 1, hlen, f) == hlen;
    for (size_t i = hlen; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; i < es.n && ok; i++) {
        const Entry *t = &es.e[i];
        const void *src = t->src;
        if (t->kind != T_FLOAT) {
            if (produce(m, rep, t, buf, err)) goto done;
            src = buf;
        }
        ok = fwrite(src, 1, t->bytes, f) == t->bytes;
    }
    if (fclose(f) != 0) ok = 0;
    f = NULL;
    if (!ok) {
        snprintf(err, QB_ERRLEN, "%.400s: write failed: %s", path, strerror(errno));
        goto done;
    }
    cJSON *qc = quantize_config(po), *cfg = hf_config(m, po);
    int wrc = write_json(dir, "quantize_config.json", qc, err) || write_json(dir, "config.json", cfg, err);
    cJSON_Delete(qc);
    cJSON_Delete(cfg);
    if (wrc || copy_side_files(m, dir, err)) goto done;
    rc = 0;
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "%.400s: out of memory", dir);
done:
    if (f) fclose(f);
    free(buf);
    free(hjson);
    cJSON_Delete(hdr);
    free(es.e);
    return rc;
}

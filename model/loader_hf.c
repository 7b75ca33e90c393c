/* loader_hf.c — Hugging Face Llama-family checkpoints: config.json plus model.safetensors or a sharded
 * model.safetensors.index.json. F32 tensors point into the private mapping; F16/BF16 linear layers stay
 * F16/BF16 (in the mapping), other F16/BF16 tensors are converted once into owned buffers; q/k rows (and biases) are permuted from rotate-half to the interleaved RoPE
 * layout, so those two are always copies. Every tensor's presence, dtype and shape is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cJSON.h>

#include "model/model_internal.h"
#include "model/safetensors.h"

#define MAX_SHARDS 1024

typedef struct HfSource {
    Model *m;
    GptqFormat gptq;          /* AutoGPTQ directory: linear layers are qweight/qzeros/scales/g_idx */
    size_t gptq_bytes, gptq_weights;
    StFile *files;
    int n_files;
    cJSON *index;             /* parsed index JSON, NULL for a single file */
    const cJSON *weight_map;  /* name → shard file name */
    char index_path[1200];
} Source;

static float *load_tensor(Source *s, const char *name, int rows, int cols, int permute_heads, int required,
                          int *missing, char err[QB_ERRLEN]);

float *hf_source_tensor(HfSource *s, const char *name, int rows, int cols, int transpose, int required,
                        int *missing, char err[QB_ERRLEN]) {
    if (!transpose || !cols) return load_tensor(s, name, rows, cols, 0, required, missing, err);
    float *t = load_tensor(s, name, cols, rows, 0, required, missing, err); /* stored (in, out) */
    if (!t) return NULL;
    float *out = model_own_floats(s->m, (size_t)rows * cols);
    if (!out) {
        snprintf(err, QB_ERRLEN, "%.300s: out of memory for tensor '%.120s'", s->index_path, name);
        return NULL;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) out[(size_t)i * cols + j] = t[(size_t)j * rows + i];
    return out;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds `name`; *file is the file it is in, or (when missing) the file it should have been in. */
static const StTensor *source_find(const Source *s, const char *name, const StFile **file) {
    if (!s->index) { *file = &s->files[0]; return st_find(&s->files[0], name); }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(s->weight_map, name);
    *file = NULL;
    if (!cJSON_IsString(fn)) return NULL;
    for (int i = 0; i < s->n_files; i++) {
        const char *b = strrchr(s->files[i].path, '/');
        if (strcmp(b ? b + 1 : s->files[i].path, fn->valuestring) == 0) {
            *file = &s->files[i];
            return st_find(&s->files[i], name);
        }
    }
    return NULL;
}

/* Loads tensor `name` of shape (rows, cols) (cols 0: a vector of rows). permute_heads > 0 converts
 * rows from rotate-half to interleaved. Missing and !required: returns NULL with *missing = 1. */
static float *load_tensor(Source *s, const char *name, int rows, int cols, int permute_heads, int required,
                          int *missing, char err[QB_ERRLEN]) {
    const StFile *f;
    const StTensor *t = source_find(s, name, &f);
    if (missing) *missing = 0;
    if (!t) {
        if (!required && missing) { *missing = 1; return NULL; }
        snprintf(err, QB_ERRLEN, "%.300s: missing tensor '%.120s'", f ? f->path : s->index_path, name);
        return NULL;
    }
    int want_nd = cols ? 2 : 1;
    if (t->ndim != want_nd || t->shape[0] != rows || (cols && t->shape[1] != cols)) {
        char got[128] = "";
        for (int i = 0; i < t->ndim && strlen(got) < 100; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        snprintf(err, QB_ERRLEN, "%.200s: tensor '%.120s' has shape [%.60s], the config needs [%d%s%.0d]", f->path,
                 name, got, rows, cols ? "," : "", cols);
        return NULL;
    }
    int cols1 = cols ? cols : 1;
    if (t->dtype == ST_F32 && !permute_heads && ((uintptr_t)t->data % sizeof(float)) == 0)
        return (float *)t->data; /* zero-copy: the mapping is private, writes stay in memory */
    float *out = model_own_floats(s->m, t->numel);
    float *tmp = permute_heads ? malloc(t->numel * sizeof(float)) : out;
    if (!out || !tmp) {
        if (tmp != out) free(tmp);
        snprintf(err, QB_ERRLEN, "%.300s: out of memory for tensor '%.120s'", f->path, name);
        return NULL;
    }
    if (st_to_f32(f, t, tmp, err)) { if (tmp != out) free(tmp); return NULL; }
    if (permute_heads) {
        rope_rows_hf_to_interleaved(tmp, out, permute_heads, rows / permute_heads, cols1);
        free(tmp);
    }
    return out;
}

/* An AutoGPTQ layer `base` into lin (rows, cols set), q/k rows permuted to interleaved when heads > 0:
 * kept as uniform codes (exactly the weights AutoGPTQ's dequantization gives), or float32 under
 * QBENCH_DEQUANTIZE. */
static int load_gptq_linear(Source *s, const char *base, Linear *lin, int permute_heads, char err[QB_ERRLEN]) {
    GptqTensors in;
    char name[200];
    const int rows = lin->rows, cols = lin->cols;
    const char *suffix[4] = {"qweight", "qzeros", "scales", "g_idx"};
    const StFile **fs[4] = {&in.qweight_f, &in.qzeros_f, &in.scales_f, &in.g_idx_f};
    const StTensor **ts[4] = {&in.qweight, &in.qzeros, &in.scales, &in.g_idx};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", base, suffix[i]);
        *ts[i] = source_find(s, name, fs[i]);
        if (!*ts[i] && i < 3) {
            snprintf(err, QB_ERRLEN, "%.250s: missing tensor '%.120s' (AutoGPTQ: qweight, qzeros, scales per layer)",
                     *fs[i] ? (*fs[i])->path : s->index_path, name);
            return -1;
        }
    }
    size_t n = (size_t)rows * cols;
    lin->q = NULL;
    if (!model_dequantize_requested()) {
        GptqLayer L;
        if (autogptq_unpack(&s->gptq, base, &in, rows, cols, &L, err)) return -1;
        int rc = 0;
        if (permute_heads) {
            size_t ng = (size_t)L.n_groups;
            uint8_t *c = malloc(n);
            float *sc = malloc((size_t)rows * ng * sizeof *sc), *zr = malloc((size_t)rows * ng * sizeof *zr);
            if (!c || !sc || !zr) {
                snprintf(err, QB_ERRLEN, "%.300s: out of memory for '%.120s'", in.qweight_f->path, base);
                rc = -1;
            } else {
                int hd = rows / permute_heads;
                rope_rows_hf_to_interleaved_bytes(L.codes, c, permute_heads, hd, (size_t)cols);
                rope_rows_hf_to_interleaved_bytes(L.scales, sc, permute_heads, hd, ng * sizeof(float));
                rope_rows_hf_to_interleaved_bytes(L.zeros, zr, permute_heads, hd, ng * sizeof(float));
                free(L.codes), free(L.scales), free(L.zeros);
                L.codes = c, L.scales = sc, L.zeros = zr;
                c = NULL, sc = zr = NULL;
            }
            free(c), free(sc), free(zr);
        }
        if (!rc) rc = linear_keep_uniform(s->m, lin, L.bits, L.n_groups, L.codes, L.scales, L.zeros, L.g_idx, err);
        s->gptq_bytes += L.stored_bytes;
        s->gptq_weights += n;
        autogptq_layer_free(&L);
        return rc;
    }
    size_t bytes;
    float *out = model_own_floats(s->m, n);
    float *tmp = permute_heads ? malloc(n * sizeof(float)) : out;
    if (!out || !tmp) {
        if (tmp != out) free(tmp);
        snprintf(err, QB_ERRLEN, "%.300s: out of memory for '%.120s'", in.qweight_f->path, base);
        return -1;
    }
    if (autogptq_dequant(&s->gptq, base, &in, rows, cols, tmp, &bytes, err)) {
        if (tmp != out) free(tmp);
        return -1;
    }
    if (permute_heads) {
        rope_rows_hf_to_interleaved(tmp, out, permute_heads, rows / permute_heads, cols);
        free(tmp);
    }
    s->gptq_bytes += bytes;
    s->gptq_weights += n;
    lin->w = out;
    return 0;
}

/* A linear layer's weight: F16/BF16 stay as stored (pointing into the mapping, or permuted into a copy for
 * q/k); anything else goes through load_tensor (float32, with its checks and messages). */
static int load_linear(Source *s, const char *name, Linear *lin, int heads, char err[QB_ERRLEN]) {
    const StFile *f;
    const StTensor *t = source_find(s, name, &f);
    if (t && (t->dtype == ST_F16 || t->dtype == ST_BF16) && t->ndim == 2 && t->shape[0] == lin->rows &&
        t->shape[1] == lin->cols && (uintptr_t)t->data % 2 == 0) {
        const uint16_t *d = (const uint16_t *)t->data;
        if (heads) {
            uint16_t *p = (uint16_t *)model_own_floats(s->m, (t->numel + 1) / 2);
            if (!p) {
                snprintf(err, QB_ERRLEN, "%.300s: out of memory for tensor '%.120s'", f->path, name);
                return -1;
            }
            rope_rows_hf_to_interleaved_bytes(d, p, heads, lin->rows / heads, (size_t)lin->cols * 2);
            d = p;
        }
        return linear_keep_half(s->m, lin, t->dtype == ST_F16 ? QW_F16 : QW_BF16, d, err);
    }
    lin->q = NULL;
    return (lin->w = load_tensor(s, name, lin->rows, lin->cols, heads, 1, NULL, err)) ? 0 : -1;
}

/* safetensors, or a PyTorch zip (.bin) through the restricted unpickler */
static int open_one(Model *m, const char *path, StFile *f, char err[QB_ERRLEN]) {
    return ends_with(path, ".bin") ? pt_open(m, path, f, err) : st_open(m, path, f, err);
}

static int open_sources(Source *s, const char *weights, int sharded, char err[QB_ERRLEN]) {
    if (!sharded) {
        s->files = calloc(1, sizeof *s->files);
        if (!s->files) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", weights); return -1; }
        if (open_one(s->m, weights, &s->files[0], err)) return -1;
        s->n_files = 1;
        return 0;
    }
    snprintf(s->index_path, sizeof s->index_path, "%s", weights);
    size_t len;
    char *text = qb_read_file(weights, &len, err);
    if (!text) return -1;
    s->index = cJSON_ParseWithLength(text, len);
    free(text);
    s->weight_map = cJSON_GetObjectItemCaseSensitive(s->index, "weight_map");
    if (!cJSON_IsObject(s->weight_map)) {
        snprintf(err, QB_ERRLEN, "%.300s: no 'weight_map' object", weights);
        return -1;
    }
    s->files = calloc(MAX_SHARDS, sizeof *s->files);
    if (!s->files) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", weights); return -1; }
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", weights);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else snprintf(dir, sizeof dir, ".");
    const cJSON *e;
    cJSON_ArrayForEach(e, s->weight_map) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !strcmp(e->valuestring, "..") ||
            strlen(e->valuestring) > 200) {
            snprintf(err, QB_ERRLEN, "%.300s: weight_map entry '%.100s' is not a plain file name", weights,
                     e->string);
            return -1;
        }
        char path[1500];
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        int seen = 0;
        for (int i = 0; i < s->n_files && !seen; i++) seen = !strcmp(s->files[i].path, path);
        if (seen) continue;
        if (s->n_files == MAX_SHARDS) { snprintf(err, QB_ERRLEN, "%.300s: more than %d shards", weights, MAX_SHARDS); return -1; }
        if (open_one(s->m, path, &s->files[s->n_files], err)) return -1;
        s->n_files++;
    }
    if (s->n_files == 0) { snprintf(err, QB_ERRLEN, "%.300s: empty weight_map", weights); return -1; }
    return 0;
}

/* A tensor for a layer the config does not have means config and weights disagree. */
static int check_layer_names(const Source *s, int n_layers, char err[QB_ERRLEN]) {
    for (int i = 0; i < s->n_files; i++)
        for (int j = 0; j < s->files[i].n; j++) {
            const char *name = s->files[i].t[j].name;
            if (strncmp(name, "model.layers.", 13) != 0) continue;
            long k = strtol(name + 13, NULL, 10);
            if (k < 0 || k >= n_layers) {
                snprintf(err, QB_ERRLEN, "%.300s: tensor '%.120s' is for a layer the config (%d layers) does "
                         "not have", s->files[i].path, name, n_layers);
                return -1;
            }
        }
    return 0;
}

static int load_weights(Source *s, int attn_bias, char err[QB_ERRLEN]) {
    Model *m = s->m;
    const ModelConfig *c = &m->cfg;
    if (c->family != ARCH_LLAMA) return arch_load_hf(m, s, err);
    int miss_emb, miss_head;
    m->tok_emb = load_tensor(s, "model.embed_tokens.weight", c->vocab_size, c->dim, 0, 0, &miss_emb, err);
    if (!m->tok_emb && !miss_emb) return -1;
    m->classifier = load_tensor(s, "lm_head.weight", c->vocab_size, c->dim, 0, 0, &miss_head, err);
    if (!m->classifier && !miss_head) return -1;
    if (c->tied_embeddings) { /* either name may be the one stored */
        if (!m->tok_emb) m->tok_emb = m->classifier;
        m->classifier = m->tok_emb;
    }
    if (!m->tok_emb || !m->classifier) {
        const StFile *f;
        const char *name = !m->tok_emb ? "model.embed_tokens.weight" : "lm_head.weight";
        source_find(s, name, &f);
        snprintf(err, QB_ERRLEN, "%.300s: missing tensor '%s'", f ? f->path : s->index_path, name);
        return -1;
    }
    m->final_norm = load_tensor(s, "model.norm.weight", c->dim, 0, 0, 1, NULL, err);
    if (!m->final_norm) return -1;
    { /* a BF16/F16 classifier is read from the mapping by the forward (the floats serve everything else) */
        const StFile *f;
        const StTensor *t = source_find(s, miss_head ? "model.embed_tokens.weight" : "lm_head.weight", &f);
        if (t && (t->dtype == ST_BF16 || t->dtype == ST_F16) && (uintptr_t)t->data % 2 == 0 &&
            model_keep_classifier_half(m, t->dtype == ST_F16 ? QW_F16 : QW_BF16, (const uint16_t *)t->data, err))
            return -1;
    }
    static const char *lin_names[LIN_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                               "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    for (int l = 0; l < c->n_layers; l++) {
        Block *b = &m->blocks[l];
        char name[160];
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        if (!(b->attn_norm = load_tensor(s, name, c->dim, 0, 0, 1, NULL, err))) return -1;
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        if (!(b->ffn_norm = load_tensor(s, name, c->dim, 0, 0, 1, NULL, err))) return -1;
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear *lin = &b->lin[k];
            model_linear_shape(c, (LinearKind)k, &lin->rows, &lin->cols);
            int heads = k == LIN_Q ? c->n_heads : k == LIN_K ? c->n_kv_heads : 0;
            if (s->gptq.present) {
                snprintf(name, sizeof name, "model.layers.%d.%s", l, lin_names[k]);
                if (load_gptq_linear(s, name, lin, heads, err)) return -1;
            } else {
                snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, lin_names[k]);
                if (load_linear(s, name, lin, heads, err)) return -1;
            }
            int has_bias = (k <= LIN_V && c->qkv_bias) || (k == LIN_O && attn_bias);
            lin->bias = NULL;
            if (has_bias) {
                snprintf(name, sizeof name, "model.layers.%d.%s.bias", l, lin_names[k]);
                if (!(lin->bias = load_tensor(s, name, lin->rows, 0, heads, 1, NULL, err))) return -1;
            }
        }
    }
    return 0;
}

static void source_sha256(const Source *s, char out[65]) {
    /* each file's hash comes from the hash cache when the file is unchanged (hash_cache.c) */
    if (s->n_files == 1) { model_file_sha256(s->files[0].path, s->files[0].map, s->files[0].size, out); return; }
    /* several shards: hash of the shards' hashes, in weight_map order of first appearance */
    char *cat = malloc((size_t)s->n_files * 64 + 1);
    if (!cat) { snprintf(out, 65, "%064d", 0); return; }
    for (int i = 0; i < s->n_files; i++) {
        char h[65];
        model_file_sha256(s->files[i].path, s->files[i].map, s->files[i].size, h);
        memcpy(cat + 64 * i, h, 64);
    }
    qb_sha256_hex(cat, (size_t)s->n_files * 64, out);
    free(cat);
}

Model *model_load_hf(const char *path, char err[QB_ERRLEN]) {
    char dir[1024], config[1200], weights[1200];
    struct stat st;
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    snprintf(dir, sizeof dir, "%s", path);
    if (!is_dir) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0'; else snprintf(dir, sizeof dir, ".");
    }
    snprintf(config, sizeof config, "%s/config.json", dir);
    int sharded = 0;
    if (!is_dir && (ends_with(path, ".safetensors") || ends_with(path, ".bin"))) snprintf(weights, sizeof weights, "%s", path);
    else if (!is_dir && ends_with(path, ".index.json")) { snprintf(weights, sizeof weights, "%s", path); sharded = 1; }
    else { /* what the hub ships, safetensors first */
        static const struct { const char *name; int sharded; } CANDIDATES[] = {
            {"model.safetensors", 0}, {"model.safetensors.index.json", 1}, {"pytorch_model.bin", 0},
            {"pytorch_model.bin.index.json", 1}};
        int found = 0;
        for (size_t i = 0; i < sizeof CANDIDATES / sizeof CANDIDATES[0] && !found; i++) {
            snprintf(weights, sizeof weights, "%s/%s", dir, CANDIDATES[i].name);
            sharded = CANDIDATES[i].sharded;
            found = is_file(weights);
        }
        if (!found) {
            snprintf(err, QB_ERRLEN, "%.300s: no model.safetensors, pytorch_model.bin or their .index.json", dir);
            return NULL;
        }
    }
    Model *m = model_alloc();
    if (!m) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); return NULL; }
    Source s = {.m = m};
    int attn_bias = 0;
    if (hf_config_parse(config, &m->cfg, &attn_bias, err)) goto fail;
    if (autogptq_format(dir, &s.gptq, err)) goto fail;
    m->blocks = calloc((size_t)m->cfg.n_layers, sizeof *m->blocks);
    if (!m->blocks) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); goto fail; }
    if (open_sources(&s, weights, sharded, err)) goto fail;
    if (m->cfg.family == ARCH_LLAMA && check_layer_names(&s, m->cfg.n_layers, err)) goto fail;
    snprintf(m->path, sizeof m->path, "%s", path);
    if (load_weights(&s, attn_bias, err)) goto fail;
    source_sha256(&s, m->sha256);
    if (s.gptq.present) {
        ModelStoredAs *sa = &m->stored;
        snprintf(sa->format, sizeof sa->format, "autogptq");
        sa->linear_bytes = s.gptq_bytes;
        sa->linear_bits = s.gptq_weights ? 8.0 * (double)s.gptq_bytes / (double)s.gptq_weights : 0;
        for (int i = 0; i < s.n_files; i++) sa->file_bytes += s.files[i].size;
        snprintf(sa->types, sizeof sa->types, "%s %d-bit g%d%s%s %d", s.gptq.checkpoint_format, s.gptq.bits,
                 s.gptq.group_size, s.gptq.desc_act ? " desc_act" : "", s.gptq.sym ? " sym" : "",
                 m->cfg.n_layers * LIN_COUNT);
    }
    for (int i = 0; i < s.n_files; i++) st_close(&s.files[i]);
    free(s.files);
    cJSON_Delete(s.index);
    return m;
fail:
    for (int i = 0; i < s.n_files; i++) st_close(&s.files[i]);
    free(s.files);
    cJSON_Delete(s.index);
    model_free(m);
    return NULL;
}

/* arch_hf.c — the non-Llama families written back as Hugging Face checkpoints (the inverse of
 * arch_load_hf: names, GPT-2's transposed Conv1D weights, BLOOM's and GPT-NeoX's head-interleaved
 * query_key_value, config.json with transformers' keys), and seeded random models of any size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "model/model_internal.h"

typedef struct {
    const char *pre, *blocks, *emb, *fnorm, *head, *n1, *n2;
    const char *lin[LIN_COUNT];
} Names;

static const Names *names_of(ArchFamily f) {
    static const Names OPT = {"model.decoder.", "layers.", "embed_tokens.weight", "final_layer_norm", "lm_head.weight",
        "self_attn_layer_norm", "final_layer_norm",
        {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", NULL, "fc1", "fc2"}};
    static const Names BLOOM = {"transformer.", "h.", "word_embeddings.weight", "ln_f", "lm_head.weight",
        "input_layernorm", "post_attention_layernorm",
        {"self_attention.query_key_value", NULL, NULL, "self_attention.dense", NULL, "mlp.dense_h_to_4h",
         "mlp.dense_4h_to_h"}};
    static const Names GPT2 = {"transformer.", "h.", "wte.weight", "ln_f", "lm_head.weight", "ln_1", "ln_2",
        {"attn.c_attn", NULL, NULL, "attn.c_proj", NULL, "mlp.c_fc", "mlp.c_proj"}};
    static const Names NEOX = {"gpt_neox.", "layers.", "embed_in.weight", "final_layer_norm", "embed_out.weight",
        "input_layernorm", "post_attention_layernorm",
        {"attention.query_key_value", NULL, NULL, "attention.dense", NULL, "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"}};
    switch (f) {
    case ARCH_OPT: return &OPT;
    case ARCH_BLOOM: return &BLOOM;
    case ARCH_GPT2: return &GPT2;
    case ARCH_NEOX: return &NEOX;
    default: return NULL;
    }
}

typedef struct { OutTensor *t; int n; size_t cap; int oom; } List;

static OutTensor *push(List *l, const float *p, int rows, int cols, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#include <stdarg.h>
static OutTensor *push(List *l, const float *p, int rows, int cols, const char *fmt, ...) {
    if (qb_grow((void **)&l->t, &l->cap, (size_t)l->n + 1, sizeof *l->t)) { l->oom = 1; return NULL; }
    OutTensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->p = p; t->rows = rows; t->cols = cols;
    return t;
}

/* [q,k,v][head][hd] rows → BLOOM/NeoX [head][q,k,v][hd]; a copy (cols 1 for the bias) */
static float *interleave(const float *w, int heads, int hd, int cols) {
    size_t row = (size_t)cols, n = (size_t)3 * heads * hd * row;
    float *o = malloc(n * sizeof *o);
    if (!o) return NULL;
    for (int h = 0; h < heads; h++)
        for (int j = 0; j < 3; j++)
            memcpy(o + ((size_t)h * 3 * hd + (size_t)j * hd) * row, w + ((size_t)j * heads * hd + (size_t)h * hd) * row,
                   (size_t)hd * row * sizeof *o);
    return o;
}

static float *transposed(const float *w, int rows, int cols) {
    float *o = malloc((size_t)rows * cols * sizeof *o);
    if (!o) return NULL;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) o[(size_t)j * rows + i] = w[(size_t)i * cols + j];
    return o;
}

int arch_hf_tensors(const Model *m, OutTensor **out, int *n, int with_linears) {
    const ModelConfig *c = &m->cfg;
    const Names *nm = names_of(c->family);
    if (!nm) return -1;
    List l = {0};
    int D = c->dim, V = c->vocab_size, E = model_emb_dim(c);
    const char *pre = nm->pre;
    push(&l, m->tok_emb, V, E, "%s%s", pre, nm->emb);
    if (m->pos_emb) {
        if (c->family == ARCH_OPT) push(&l, m->pos_emb, c->seq_len + 2, D, "%sembed_positions.weight", pre);
        else push(&l, m->pos_emb, c->seq_len, D, "%swpe.weight", pre);
    }
    if (m->proj_in) {
        push(&l, m->proj_in, D, E, "%sproject_in.weight", pre);
        push(&l, m->proj_out, E, D, "%sproject_out.weight", pre);
    }
    if (m->emb_norm) {
        push(&l, m->emb_norm, D, 0, "%sword_embeddings_layernorm.weight", pre);
        push(&l, m->emb_norm_b, D, 0, "%sword_embeddings_layernorm.bias", pre);
    }
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(c, kinds);
    for (int b = 0; b < c->n_layers && !l.oom; b++) {
        const Block *bl = &m->blocks[b];
        push(&l, bl->attn_norm, D, 0, "%s%s%d.%s.weight", pre, nm->blocks, b, nm->n1);
        push(&l, bl->attn_norm_b, D, 0, "%s%s%d.%s.bias", pre, nm->blocks, b, nm->n1);
        push(&l, bl->ffn_norm, D, 0, "%s%s%d.%s.weight", pre, nm->blocks, b, nm->n2);
        push(&l, bl->ffn_norm_b, D, 0, "%s%s%d.%s.bias", pre, nm->blocks, b, nm->n2);
        for (int i = 0; i < nk && !l.oom && with_linears; i++) {
            const Linear *lin = &bl->lin[kinds[i]];
            OutTensor *w = push(&l, lin->w, lin->rows, lin->cols, "%s%s%d.%s.weight", pre, nm->blocks, b, nm->lin[kinds[i]]);
            OutTensor *bi = push(&l, lin->bias, lin->rows, 0, "%s%s%d.%s.bias", pre, nm->blocks, b, nm->lin[kinds[i]]);
            if (!w || !bi) break;
            if (kinds[i] == LIN_Q && (c->family == ARCH_BLOOM || c->family == ARCH_NEOX)) {
                w->p = w->owned = interleave(lin->w, c->n_heads, c->head_dim, lin->cols);
                bi->p = bi->owned = interleave(lin->bias, c->n_heads, c->head_dim, 1);
                if (!w->owned || !bi->owned) l.oom = 1;
            } else if (c->family == ARCH_GPT2) { /* Conv1D: stored (in, out) */
                w->p = w->owned = transposed(lin->w, lin->rows, lin->cols);
                w->rows = lin->cols; w->cols = lin->rows;
                if (!w->owned) l.oom = 1;
            }
        }
    }
    if (m->final_norm) {
        push(&l, m->final_norm, D, 0, "%s%s.weight", pre, nm->fnorm);
        push(&l, m->final_norm_b, D, 0, "%s%s.bias", pre, nm->fnorm);
    }
    if (!c->tied_embeddings) push(&l, m->classifier, V, E, "%s", nm->head);
    if (l.oom) {
        for (int i = 0; i < l.n; i++) free(l.t[i].owned);
        free(l.t);
        return -1;
    }
    *out = l.t;
    *n = l.n;
    return 0;
}

cJSON *arch_hf_config(const Model *m) {
    const ModelConfig *c = &m->cfg;
    static const char *ARCH[ARCH_COUNT] = {NULL, "OPTForCausalLM", "BloomForCausalLM", "GPT2LMHeadModel",
                                           "GPTNeoXForCausalLM"};
    static const char *TYPE[ARCH_COUNT] = {NULL, "opt", "bloom", "gpt2", "gpt_neox"};
    if (c->family <= ARCH_LLAMA || c->family >= ARCH_COUNT) return NULL;
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(ARCH[c->family]));
    cJSON_AddStringToObject(j, "model_type", TYPE[c->family]);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    switch (c->family) {
    case ARCH_OPT:
        cJSON_AddNumberToObject(j, "hidden_size", c->dim);
        cJSON_AddNumberToObject(j, "ffn_dim", c->hidden_dim);
        cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
        cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
        cJSON_AddNumberToObject(j, "max_position_embeddings", c->seq_len);
        cJSON_AddNumberToObject(j, "word_embed_proj_dim", model_emb_dim(c));
        cJSON_AddBoolToObject(j, "do_layer_norm_before", !c->post_norm);
        cJSON_AddStringToObject(j, "activation_function", "relu");
        cJSON_AddBoolToObject(j, "enable_bias", 1);
        cJSON_AddBoolToObject(j, "layer_norm_elementwise_affine", 1);
        break;
    case ARCH_BLOOM:
        cJSON_AddNumberToObject(j, "hidden_size", c->dim);
        cJSON_AddNumberToObject(j, "n_layer", c->n_layers);
        cJSON_AddNumberToObject(j, "n_head", c->n_heads);
        cJSON_AddNumberToObject(j, "seq_length", c->seq_len);
        cJSON_AddNumberToObject(j, "layer_norm_epsilon", c->norm_eps);
        cJSON_AddBoolToObject(j, "apply_residual_connection_post_layernorm", 0);
        break;
    case ARCH_GPT2:
        cJSON_AddNumberToObject(j, "n_embd", c->dim);
        cJSON_AddNumberToObject(j, "n_inner", c->hidden_dim);
        cJSON_AddNumberToObject(j, "n_layer", c->n_layers);
        cJSON_AddNumberToObject(j, "n_head", c->n_heads);
        cJSON_AddNumberToObject(j, "n_positions", c->seq_len);
        cJSON_AddNumberToObject(j, "layer_norm_epsilon", c->norm_eps);
        cJSON_AddStringToObject(j, "activation_function", c->act == ACT_GELU ? "gelu" : "gelu_new");
        break;
    default: /* ARCH_NEOX */
        cJSON_AddNumberToObject(j, "hidden_size", c->dim);
        cJSON_AddNumberToObject(j, "intermediate_size", c->hidden_dim);
        cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
        cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
        cJSON_AddNumberToObject(j, "max_position_embeddings", c->seq_len);
        cJSON_AddNumberToObject(j, "rotary_pct", (double)c->rotary_dims / c->head_dim);
        cJSON_AddNumberToObject(j, "rotary_emb_base", c->rope_theta);
        cJSON_AddNumberToObject(j, "layer_norm_eps", c->norm_eps);
        cJSON_AddBoolToObject(j, "use_parallel_residual", c->parallel_residual);
        cJSON_AddStringToObject(j, "hidden_act", c->act == ACT_GELU ? "gelu" : "gelu_new");
        break;
    }
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied_embeddings);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    if (c->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) cJSON_AddNumberToObject(j, "eos_token_id", c->eos_id);
    return j;
}

Model *arch_synth(const ModelConfig *cfg, uint64_t seed, char err[QB_ERRLEN]) {
    Model *m = model_alloc();
    if (!m) { snprintf(err, QB_ERRLEN, "synth: out of memory"); return NULL; }
    ModelConfig *c = &m->cfg;
    *c = *cfg;
    c->n_kv_heads = c->n_heads;
    if (c->n_heads > 0) c->head_dim = c->dim / c->n_heads;
    if (c->rope_theta <= 0) c->rope_theta = 10000.0f;
    if (c->norm_eps <= 0) c->norm_eps = 1e-5f;
    if (model_check_config(c, "synth", err)) { model_free(m); return NULL; }
    m->blocks = calloc((size_t)c->n_layers, sizeof *m->blocks);
    int n = m->blocks ? model_float_tensors(m, NULL, 0) : 0;
    ModelTensorRef *t = n > 0 ? malloc((size_t)n * sizeof *t) : NULL;
    if (!t) { snprintf(err, QB_ERRLEN, "synth: out of memory"); model_free(m); return NULL; }
    model_float_tensors(m, t, n);
    QbRng rng;
    qb_rng_seed(&rng, seed);
    int fail = 0;
    for (int i = 0; i < n && !fail; i++) {
        size_t k = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        float *p = *t[i].slot = model_own_floats(m, k);
        if (!p) { fail = 1; break; }
        const char *nm = t[i].name;
        size_t len = strlen(nm);
        int is_norm = strstr(nm, "norm") != NULL, is_bias = len > 5 && !strcmp(nm + len - 5, ".bias");
        for (size_t e = 0; e < k; e++)
            p[e] = is_norm ? (is_bias ? 0.0f : 1.0f) : 0.02f * qb_rng_normal(&rng);
    }
    free(t);
    if (!fail && c->tied_embeddings) m->classifier = m->tok_emb;
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(c, kinds);
    for (int l = 0; l < c->n_layers && !fail; l++)
        for (int i = 0; i < nk && !fail; i++) {
            Linear *lin = &m->blocks[l].lin[kinds[i]];
            model_linear_shape(c, kinds[i], &lin->rows, &lin->cols);
            size_t k = (size_t)lin->rows * lin->cols;
            if (!(lin->w = model_own_floats(m, k))) fail = 1;
            for (size_t e = 0; !fail && e < k; e++) lin->w[e] = 0.02f * qb_rng_normal(&rng);
        }
    if (fail) { snprintf(err, QB_ERRLEN, "synth: out of memory"); model_free(m); return NULL; }
    snprintf(m->path, sizeof m->path, "synth(%s, seed %llu)", arch_family_name(c->family), (unsigned long long)seed);
    return m;
}

/* ---- the public HF view (export) -------------------------------------------------------------------- */

int model_hf_linear_name(const ModelConfig *c, int layer, LinearKind k, char *buf, size_t n) {
    const Names *nm = names_of(c->family);
    if (!nm || k < 0 || k >= LIN_COUNT || !nm->lin[k]) return -1;
    snprintf(buf, n, "%s%s%d.%s", nm->pre, nm->blocks, layer, nm->lin[k]);
    return 0;
}

void model_hf_row_map(const ModelConfig *c, LinearKind k, int rows, int *map) {
    int H = c->n_heads, hd = c->head_dim;
    if (k == LIN_Q && (c->family == ARCH_BLOOM || c->family == ARCH_NEOX) && rows == 3 * H * hd) {
        for (int h = 0; h < H; h++)
            for (int j = 0; j < 3; j++)
                for (int i = 0; i < hd; i++) map[h * 3 * hd + j * hd + i] = j * H * hd + h * hd + i;
        return;
    }
    for (int i = 0; i < rows; i++) map[i] = i;
}

int model_hf_float_tensors(const Model *m, HfFloatTensor **out, int *n) {
    OutTensor *t;
    int k;
    if (arch_hf_tensors(m, &t, &k, 0)) return -1;
    HfFloatTensor *o = malloc((size_t)(k ? k : 1) * sizeof *o);
    if (!o) { free(t); return -1; }
    for (int i = 0; i < k; i++) {
        snprintf(o[i].name, sizeof o[i].name, "%s", t[i].name);
        o[i].p = t[i].p; o[i].rows = t[i].rows; o[i].cols = t[i].cols;
    }
    free(t); /* without linears nothing is owned */
    *out = o;
    *n = k;
    return 0;
}


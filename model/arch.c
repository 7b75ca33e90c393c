/* arch.c — the model description: for each family, which linear layers a block has (in GPTQ's
 * true-sequential order), their shapes and names, the float tensors beside them, the config checks,
 * and how the Hugging Face checkpoint names and layouts map onto the Model.
 *
 * Layouts held in memory, whatever the file stores:
 *   - every linear weight is (out, in) row-major: GPT-2's Conv1D (in, out) weights are transposed once;
 *   - a fused query_key_value is held as [q rows | k rows | v rows], each head's hd rows in head order.
 *     BLOOM and GPT-NeoX store it head-interleaved ([head][q,k,v][hd]); their rows (and biases) are
 *     permuted once at load. GPTQ treats rows independently, so a row permutation changes nothing in
 *     the quantization of the matrix (the references quantize it as one matrix, as here).
 *   - GPT-NeoX's rotary dims stay in the rotate-half layout; its block rotates them that way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

static const char *FAMILY_NAMES[ARCH_COUNT] = {"llama", "opt", "bloom", "gpt2", "neox"};

const char *arch_family_name(ArchFamily f) { return f >= 0 && f < ARCH_COUNT ? FAMILY_NAMES[f] : "?"; }

ArchFamily arch_family_from_name(const char *name) {
    for (int f = 0; f < ARCH_COUNT; f++)
        if (name && !strcmp(name, FAMILY_NAMES[f])) return (ArchFamily)f;
    return ARCH_COUNT;
}

static int fused_qkv(const ModelConfig *c) {
    return c->family == ARCH_BLOOM || c->family == ARCH_GPT2 || c->family == ARCH_NEOX;
}

int model_block_linears(const ModelConfig *c, LinearKind kinds[LIN_COUNT]) {
    static const LinearKind LLAMA[] = {LIN_Q, LIN_K, LIN_V, LIN_O, LIN_GATE, LIN_UP, LIN_DOWN};
    static const LinearKind OPT[] = {LIN_Q, LIN_K, LIN_V, LIN_O, LIN_UP, LIN_DOWN};
    static const LinearKind FUSED[] = {LIN_Q, LIN_O, LIN_UP, LIN_DOWN};
    const LinearKind *k = LLAMA;
    int n = 7;
    if (c->family == ARCH_OPT) { k = OPT; n = 6; }
    else if (fused_qkv(c)) { k = FUSED; n = 4; }
    memcpy(kinds, k, (size_t)n * sizeof *k);
    return n;
}

const char *model_linear_name(const ModelConfig *c, LinearKind k) {
    if (c->family == ARCH_LLAMA) return linear_kind_name(k);
    if (k == LIN_Q && fused_qkv(c)) return "attn.qkv";
    if (k == LIN_UP) return "mlp.fc1";
    if (k == LIN_DOWN) return "mlp.fc2";
    return linear_kind_name(k);
}

int model_emb_dim(const ModelConfig *c) { return c->proj_dim > 0 ? c->proj_dim : c->dim; }

int arch_linear_shape(const ModelConfig *c, LinearKind k, int *rows, int *cols) {
    if (c->family == ARCH_LLAMA) return 0;
    int d = c->dim, h = c->hidden_dim;
    *rows = *cols = 0;
    switch (k) {
    case LIN_Q: *rows = fused_qkv(c) ? 3 * d : d; *cols = d; break;
    case LIN_K: case LIN_V: if (!fused_qkv(c)) { *rows = d; *cols = d; } break;
    case LIN_O: *rows = d; *cols = d; break;
    case LIN_UP: *rows = h; *cols = d; break;
    case LIN_DOWN: *rows = d; *cols = h; break;
    default: break;
    }
    return 1;
}

int arch_check_config(const ModelConfig *c, const char *what, char err[QB_ERRLEN]) {
    if (c->family <= ARCH_LLAMA || c->family >= ARCH_COUNT) {
        snprintf(err, QB_ERRLEN, "%s: unknown model family %d", what, (int)c->family);
        return -1;
    }
    if (c->n_kv_heads != c->n_heads || (long)c->n_heads * c->head_dim != c->dim) {
        snprintf(err, QB_ERRLEN, "%s: %s needs n_kv_heads = n_heads (%d, %d) and n_heads * head_dim = dim (%d * %d, %d)",
                 what, arch_family_name(c->family), c->n_kv_heads, c->n_heads, c->n_heads, c->head_dim, c->dim);
        return -1;
    }
    if (c->rotary_dims < 0 || c->rotary_dims > c->head_dim || c->rotary_dims % 2 ||
        (c->rotary_dims && c->family != ARCH_NEOX)) {
        snprintf(err, QB_ERRLEN, "%s: rotary dims %d must be even and at most head_dim %d (GPT-NeoX only)", what,
                 c->rotary_dims, c->head_dim);
        return -1;
    }
    if (c->proj_dim < 0 || c->proj_dim > (1 << 16) || (c->proj_dim && c->family != ARCH_OPT)) {
        snprintf(err, QB_ERRLEN, "%s: word_embed_proj_dim %d out of range (OPT only)", what, c->proj_dim);
        return -1;
    }
    if ((c->post_norm && c->family != ARCH_OPT) || (c->parallel_residual && c->family != ARCH_NEOX) ||
        c->act == ACT_SWIGLU || c->act > ACT_GELU) {
        snprintf(err, QB_ERRLEN, "%s: block options do not fit the %s family", what, arch_family_name(c->family));
        return -1;
    }
    return 0;
}

/* ---- the float tensors --------------------------------------------------------------------------- */

static void add(ModelTensorRef *out, int cap, int *n, float **slot, int rows, int cols, const char *fmt, int l) {
    if (*n < cap) {
        ModelTensorRef *t = &out[*n];
        snprintf(t->name, sizeof t->name, fmt, l);
        t->slot = slot; t->rows = rows; t->cols = cols;
    }
    (*n)++;
}

int model_float_tensors(Model *m, ModelTensorRef *out, int cap) {
    const ModelConfig *c = &m->cfg;
    if (c->family == ARCH_LLAMA) return -1;
    int n = 0, D = c->dim, V = c->vocab_size, E = model_emb_dim(c);
    add(out, cap, &n, &m->tok_emb, V, E, "tok_emb", 0);
    if (!c->tied_embeddings) add(out, cap, &n, &m->classifier, V, E, "classifier", 0);
    if (c->family == ARCH_OPT) add(out, cap, &n, &m->pos_emb, c->seq_len + 2, D, "pos_emb", 0);
    if (c->family == ARCH_GPT2) add(out, cap, &n, &m->pos_emb, c->seq_len, D, "pos_emb", 0);
    if (c->proj_dim) {
        add(out, cap, &n, &m->proj_in, D, E, "proj_in", 0);
        add(out, cap, &n, &m->proj_out, E, D, "proj_out", 0);
    }
    if (c->family == ARCH_BLOOM) {
        add(out, cap, &n, &m->emb_norm, D, 0, "emb_norm", 0);
        add(out, cap, &n, &m->emb_norm_b, D, 0, "emb_norm.bias", 0);
    }
    if (!(c->family == ARCH_OPT && c->post_norm)) {
        add(out, cap, &n, &m->final_norm, D, 0, "final_norm", 0);
        add(out, cap, &n, &m->final_norm_b, D, 0, "final_norm.bias", 0);
    }
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(c, kinds);
    for (int l = 0; l < c->n_layers; l++) {
        Block *b = &m->blocks[l];
        add(out, cap, &n, &b->attn_norm, D, 0, "blk.%d.attn_norm", l);
        add(out, cap, &n, &b->attn_norm_b, D, 0, "blk.%d.attn_norm.bias", l);
        add(out, cap, &n, &b->ffn_norm, D, 0, "blk.%d.ffn_norm", l);
        add(out, cap, &n, &b->ffn_norm_b, D, 0, "blk.%d.ffn_norm.bias", l);
        for (int i = 0; i < nk; i++) {
            int rows, cols;
            model_linear_shape(c, kinds[i], &rows, &cols);
            char fmt[48];
            snprintf(fmt, sizeof fmt, "blk.%%d.%s.bias", model_linear_name(c, kinds[i]));
            add(out, cap, &n, &b->lin[kinds[i]].bias, rows, 0, fmt, l);
        }
    }
    return n;
}

size_t model_float_params(const Model *m) {
    Model *mm = (Model *)m; /* only reads the shapes */
    int n = model_float_tensors(mm, NULL, 0);
    if (n <= 0) return 0;
    ModelTensorRef *t = malloc((size_t)n * sizeof *t);
    if (!t) return 0;
    model_float_tensors(mm, t, n);
    size_t sum = 0;
    for (int i = 0; i < n; i++) sum += (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
    free(t);
    return sum;
}

/* ---- Hugging Face names ---------------------------------------------------------------------------- */

/* rows [h][3][hd] (cols wide) → [3][h][hd] */
static int qkv_deinterleave(float *w, int heads, int hd, int cols) {
    size_t row = (size_t)cols, n = (size_t)3 * heads * hd * row;
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return -1;
    for (int h = 0; h < heads; h++)
        for (int j = 0; j < 3; j++)
            memcpy(tmp + ((size_t)j * heads * hd + (size_t)h * hd) * row, w + ((size_t)h * 3 * hd + (size_t)j * hd) * row,
                   (size_t)hd * row * sizeof *tmp);
    memcpy(w, tmp, n * sizeof *tmp);
    free(tmp);
    return 0;
}

typedef struct {
    const char *norm1, *norm2; /* block LayerNorms (weight/bias appended) */
    const char *lin[LIN_COUNT]; /* per kind, NULL when absent */
} HfBlockNames;

static const HfBlockNames OPT_NAMES = {"self_attn_layer_norm", "final_layer_norm",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", NULL, "fc1", "fc2"}};
static const HfBlockNames BLOOM_NAMES = {"input_layernorm", "post_attention_layernorm",
    {"self_attention.query_key_value", NULL, NULL, "self_attention.dense", NULL, "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"}};
static const HfBlockNames GPT2_NAMES = {"ln_1", "ln_2",
    {"attn.c_attn", NULL, NULL, "attn.c_proj", NULL, "mlp.c_fc", "mlp.c_proj"}};
static const HfBlockNames NEOX_NAMES = {"input_layernorm", "post_attention_layernorm",
    {"attention.query_key_value", NULL, NULL, "attention.dense", NULL, "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"}};

/* Finds the prefix the checkpoint uses: BLOOM and GPT-2 files exist with and without "transformer.". */
static const char *pick_prefix(HfSource *s, const char *with, const char *probe) {
    char name[160], err[QB_ERRLEN];
    int missing = 0;
    snprintf(name, sizeof name, "%s%s", with, probe);
    /* a 0-row request fails on shape, not on absence: only `missing` is looked at */
    hf_source_tensor(s, name, 0, 0, 0, 0, &missing, err);
    return missing ? "" : with;
}

static int load_ln(HfSource *s, const char *name, int D, float **w, float **b, char err[QB_ERRLEN]) {
    char n[200];
    snprintf(n, sizeof n, "%s.weight", name);
    if (!(*w = hf_source_tensor(s, n, D, 0, 0, 1, NULL, err))) return -1;
    snprintf(n, sizeof n, "%s.bias", name);
    if (!(*b = hf_source_tensor(s, n, D, 0, 0, 1, NULL, err))) return -1;
    return 0;
}

int arch_load_hf(Model *m, HfSource *s, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    int D = c->dim, V = c->vocab_size, E = model_emb_dim(c), T = c->seq_len;
    const HfBlockNames *bn = NULL;
    const char *pre = "", *blocks = "", *emb = NULL, *fnorm = NULL, *head = NULL;
    char buf[200], blk[120];
    int transpose = c->family == ARCH_GPT2;
    switch (c->family) {
    case ARCH_OPT:
        bn = &OPT_NAMES; pre = "model.decoder."; blocks = "layers."; emb = "embed_tokens.weight";
        fnorm = "final_layer_norm"; head = "lm_head.weight";
        break;
    case ARCH_BLOOM:
        bn = &BLOOM_NAMES; pre = pick_prefix(s, "transformer.", "word_embeddings.weight"); blocks = "h.";
        emb = "word_embeddings.weight"; fnorm = "ln_f"; head = "lm_head.weight";
        break;
    case ARCH_GPT2:
        bn = &GPT2_NAMES; pre = pick_prefix(s, "transformer.", "wte.weight"); blocks = "h.";
        emb = "wte.weight"; fnorm = "ln_f"; head = "lm_head.weight";
        break;
    case ARCH_NEOX:
        bn = &NEOX_NAMES; pre = "gpt_neox."; blocks = "layers."; emb = "embed_in.weight";
        fnorm = "final_layer_norm"; head = "embed_out.weight";
        break;
    default:
        snprintf(err, QB_ERRLEN, "%.300s: not a non-Llama family", m->path);
        return -1;
    }
    int miss_emb = 0, miss_head = 0;
    snprintf(buf, sizeof buf, "%s%s", pre, emb);
    m->tok_emb = hf_source_tensor(s, buf, V, E, 0, 0, &miss_emb, err);
    if (!m->tok_emb && !miss_emb) return -1;
    m->classifier = hf_source_tensor(s, head, V, E, 0, 0, &miss_head, err);
    if (!m->classifier && !miss_head) return -1;
    if (c->tied_embeddings) {
        if (!m->tok_emb) m->tok_emb = m->classifier;
        m->classifier = m->tok_emb;
    }
    if (!m->tok_emb || !m->classifier) {
        if (!m->tok_emb) hf_source_tensor(s, buf, V, E, 0, 1, NULL, err);
        else hf_source_tensor(s, head, V, E, 0, 1, NULL, err);
        return -1;
    }
    if (c->family == ARCH_OPT) {
        snprintf(buf, sizeof buf, "%sembed_positions.weight", pre);
        if (!(m->pos_emb = hf_source_tensor(s, buf, T + 2, D, 0, 1, NULL, err))) return -1;
        if (c->proj_dim) {
            snprintf(buf, sizeof buf, "%sproject_in.weight", pre);
            if (!(m->proj_in = hf_source_tensor(s, buf, D, E, 0, 1, NULL, err))) return -1;
            snprintf(buf, sizeof buf, "%sproject_out.weight", pre);
            if (!(m->proj_out = hf_source_tensor(s, buf, E, D, 0, 1, NULL, err))) return -1;
        }
    }
    if (c->family == ARCH_GPT2) {
        snprintf(buf, sizeof buf, "%swpe.weight", pre);
        if (!(m->pos_emb = hf_source_tensor(s, buf, T, D, 0, 1, NULL, err))) return -1;
    }
    if (c->family == ARCH_BLOOM) {
        snprintf(buf, sizeof buf, "%sword_embeddings_layernorm", pre);
        if (load_ln(s, buf, D, &m->emb_norm, &m->emb_norm_b, err)) return -1;
    }
    if (!(c->family == ARCH_OPT && c->post_norm)) {
        snprintf(buf, sizeof buf, "%s%s", pre, fnorm);
        if (load_ln(s, buf, D, &m->final_norm, &m->final_norm_b, err)) return -1;
    }
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(c, kinds);
    for (int l = 0; l < c->n_layers; l++) {
        Block *b = &m->blocks[l];
        snprintf(blk, sizeof blk, "%s%s%d.", pre, blocks, l);
        snprintf(buf, sizeof buf, "%s%s", blk, bn->norm1);
        if (load_ln(s, buf, D, &b->attn_norm, &b->attn_norm_b, err)) return -1;
        snprintf(buf, sizeof buf, "%s%s", blk, bn->norm2);
        if (load_ln(s, buf, D, &b->ffn_norm, &b->ffn_norm_b, err)) return -1;
        for (int i = 0; i < nk; i++) {
            LinearKind k = kinds[i];
            Linear *lin = &b->lin[k];
            model_linear_shape(c, k, &lin->rows, &lin->cols);
            snprintf(buf, sizeof buf, "%s%s.weight", blk, bn->lin[k]);
            if (!(lin->w = hf_source_tensor(s, buf, lin->rows, lin->cols, transpose, 1, NULL, err))) return -1;
            snprintf(buf, sizeof buf, "%s%s.bias", blk, bn->lin[k]);
            if (!(lin->bias = hf_source_tensor(s, buf, lin->rows, 0, 0, 1, NULL, err))) return -1;
            if (k == LIN_Q && (c->family == ARCH_BLOOM || c->family == ARCH_NEOX)) {
                /* the tensors are owned copies or private mappings: permuting in place is safe */
                if (qkv_deinterleave(lin->w, c->n_heads, c->head_dim, lin->cols) ||
                    qkv_deinterleave(lin->bias, c->n_heads, c->head_dim, 1)) {
                    snprintf(err, QB_ERRLEN, "%.300s: out of memory for '%.120s'", m->path, buf);
                    return -1;
                }
            }
        }
    }
    return 0;
}

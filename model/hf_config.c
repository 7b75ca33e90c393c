/* hf_config.c — model configs as JSON. Reads a Hugging Face config.json into a ModelConfig: only the
 * Llama family is accepted (same block, same RoPE, SiLU MLP); RoPE scaling "linear" and "llama3"
 * (Llama 3.1+) are read from "rope_scaling" or transformers 5's "rope_parameters"; every field is type-
 * and range-checked and named in errors. Writes the one config.json every exporter uses, and qbench's
 * own config object (checkpoints, `info --json`). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "model/model_internal.h"


static const char *KNOWN_ARCHS[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};

/* Integer field: -1 with err if present but not an integer in [lo, hi]; *out = def when absent and
 * def_ok, else an error naming the missing key. */
static int get_int(const cJSON *root, const char *path, const char *key, int def, int def_ok, long lo,
                   long hi, int *out, char err[QB_ERRLEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        if (def_ok) { *out = def; return 0; }
        snprintf(err, QB_ERRLEN, "%.300s: missing key '%s'", path, key);
        return -1;
    }
    if (cJSON_IsArray(j) && cJSON_GetArraySize(j) > 0) j = cJSON_GetArrayItem(j, 0); /* eos lists */
    double d = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s' must be an integer in [%ld, %ld]", path, key, lo, hi);
        return -1;
    }
    *out = (int)d;
    return 0;
}

static int get_float(const cJSON *root, const char *path, const char *key, double def, float *out,
                     char err[QB_ERRLEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) { *out = (float)def; return 0; }
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0) || !isfinite(j->valuedouble)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s' must be a positive number", path, key);
        return -1;
    }
    *out = (float)j->valuedouble;
    return 0;
}

static int get_bool(const cJSON *root, const char *path, const char *key, int def, int *out,
                    char err[QB_ERRLEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) { *out = def; return 0; }
    if (!cJSON_IsBool(j)) { snprintf(err, QB_ERRLEN, "%.300s: key '%s' must be true or false", path, key); return -1; }
    *out = cJSON_IsTrue(j);
    return 0;
}

/* ---- RoPE scaling --------------------------------------------------------------------------------- */

/* rope dict member `key` (named dict.key in errors): a positive finite number that stays so as a float. */
static int rope_float(const cJSON *d, const char *path, const char *dict, const char *key, float *out,
                      char err[QB_ERRLEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!j || cJSON_IsNull(j)) {
        snprintf(err, QB_ERRLEN, "%.300s: missing key '%s.%s'", path, dict, key);
        return -1;
    }
    float v = cJSON_IsNumber(j) ? (float)j->valuedouble : NAN;
    if (!(v > 0) || !isfinite(v)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s.%s' must be a positive finite number", path, dict, key);
        return -1;
    }
    *out = v;
    return 0;
}

/* "rope_scaling" (or transformers 5's "rope_parameters", which also carries rope_theta) → rs. The type
 * is "rope_type", or "type" in older configs; a rope_scaling without either is refused (transformers
 * fails on it too), a rope_parameters without either is "default". */
static int parse_rope_dict(const cJSON *d, const char *path, const char *dict, int is_parameters, RopeScaling *rs,
                           float *theta, char err[QB_ERRLEN]) {
    memset(rs, 0, sizeof *rs);
    if (!cJSON_IsObject(d)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s' must be an object or null", path, dict);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, d)
        if (cJSON_IsObject(e)) { /* {"full_attention": {...}, "sliding_attention": {...}} */
            snprintf(err, QB_ERRLEN, "%.300s: key '%s.%.60s': per-layer-type RoPE parameters are not supported", path,
                     dict, e->string);
            return -1;
        }
    const char *tkey = cJSON_HasObjectItem(d, "rope_type") ? "rope_type" : "type";
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, tkey);
    if ((t && !cJSON_IsString(t)) || (!t && !is_parameters)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s.rope_type' must name the RoPE type (\"linear\", \"llama3\", ...)",
                 path, dict);
        return -1;
    }
    if (is_parameters) {
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(d, "rope_theta");
        if (th && !cJSON_IsNull(th) && rope_float(d, path, dict, "rope_theta", theta, err)) return -1;
        const cJSON *prf = cJSON_GetObjectItemCaseSensitive(d, "partial_rotary_factor");
        if (prf && !cJSON_IsNull(prf) && !(cJSON_IsNumber(prf) && prf->valuedouble == 1.0)) {
            snprintf(err, QB_ERRLEN, "%.300s: key '%s.partial_rotary_factor' other than 1 is not supported", path, dict);
            return -1;
        }
    }
    const char *type = t ? t->valuestring : "default";
    if (!strcmp(type, "default")) return 0;
    if (!strcmp(type, "linear")) rs->type = ROPE_SCALING_LINEAR;
    else if (!strcmp(type, "llama3")) rs->type = ROPE_SCALING_LLAMA3;
    else {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s.%s': RoPE scaling type '%.60s' is not supported (supported: linear, "
                 "llama3, default)", path, dict, tkey, type);
        return -1;
    }
    if (rope_float(d, path, dict, "factor", &rs->factor, err)) return -1;
    if (rs->type == ROPE_SCALING_LINEAR) return 0;
    if (rope_float(d, path, dict, "low_freq_factor", &rs->low_freq_factor, err) ||
        rope_float(d, path, dict, "high_freq_factor", &rs->high_freq_factor, err))
        return -1;
    if (!(rs->low_freq_factor < rs->high_freq_factor)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s.low_freq_factor' (%g) must be less than '%s.high_freq_factor' (%g)",
                 path, dict, (double)rs->low_freq_factor, dict, (double)rs->high_freq_factor);
        return -1;
    }
    const char *ok = "original_max_position_embeddings";
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(d, ok);
    if (!o || cJSON_IsNull(o)) {
        snprintf(err, QB_ERRLEN, "%.300s: missing key '%s.%s'", path, dict, ok);
        return -1;
    }
    double v = cJSON_IsNumber(o) ? o->valuedouble : NAN;
    if (!(v >= 1 && v <= (1 << 24)) || v != floor(v)) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s.%s' must be an integer in [1, %d]", path, dict, ok, 1 << 24);
        return -1;
    }
    rs->original_max_position_embeddings = (int)v;
    return 0;
}

/* Reads whichever of rope_scaling / rope_parameters is set (null or absent: no scaling); when both are,
 * they must agree. */
static int parse_rope(const cJSON *root, const char *path, ModelConfig *c, char err[QB_ERRLEN]) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling"),
                *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    int has_rs = rs && !cJSON_IsNull(rs), has_rp = rp && !cJSON_IsNull(rp);
    RopeScaling a = {0}, b = {0};
    float theta = c->rope_theta;
    if ((has_rs && parse_rope_dict(rs, path, "rope_scaling", 0, &a, &theta, err)) ||
        (has_rp && parse_rope_dict(rp, path, "rope_parameters", 1, &b, &theta, err)))
        return -1;
    if (has_rs && has_rp && memcmp(&a, &b, sizeof a) != 0) {
        snprintf(err, QB_ERRLEN, "%.300s: keys 'rope_scaling' and 'rope_parameters' describe different RoPE scalings",
                 path);
        return -1;
    }
    c->rope_scaling = has_rp ? b : a;
    c->rope_theta = theta;
    return 0;
}

/* First of several keys that is present (transformers' attribute_map aliases: BLOOM's n_layer and
 * num_hidden_layers, ...); the last one when none is. */
static const char *key_of(const cJSON *root, const char *a, const char *b) {
    return cJSON_GetObjectItemCaseSensitive(root, a) ? a : b;
}

static int get_string_is(const cJSON *root, const char *path, const char *key, const char *const *ok, int n_ok,
                         int *which, char err[QB_ERRLEN]) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    *which = 0;
    if (!j || cJSON_IsNull(j)) return 0;
    for (int i = 0; cJSON_IsString(j) && i < n_ok; i++)
        if (!strcmp(j->valuestring, ok[i])) { *which = i; return 0; }
    char list[200] = "";
    for (int i = 0; i < n_ok; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", ok[i]);
    snprintf(err, QB_ERRLEN, "%.200s: key '%.60s' must be one of %.200s", path, key, list);
    return -1;
}

/* A bool key that must have one value (a variant qbench does not implement otherwise). */
static int require_bool(const cJSON *root, const char *path, const char *key, int def, int want, char err[QB_ERRLEN]) {
    int v;
    if (get_bool(root, path, key, def, &v, err)) return -1;
    if (v != want) {
        snprintf(err, QB_ERRLEN, "%.300s: key '%s' = %s is not supported", path, key, v ? "true" : "false");
        return -1;
    }
    return 0;
}

int hf_config_parse_family(const cJSON *root, const char *path, ArchFamily f, ModelConfig *c, char err[QB_ERRLEN]) {
    c->family = f;
    c->rope_theta = 10000.0f;
    int D = 0, F = -1, wpd = 0;
    switch (f) {
    case ARCH_OPT: {
        static const char *const acts[] = {"relu"};
        int a, pre = 1;
        c->act = ACT_RELU;
        if (get_int(root, path, "hidden_size", 0, 0, 1, 1 << 16, &D, err) ||
            get_int(root, path, "ffn_dim", 0, 0, 1, 1 << 18, &F, err) ||
            get_int(root, path, "num_hidden_layers", 0, 0, 1, 1024, &c->n_layers, err) ||
            get_int(root, path, "num_attention_heads", 0, 0, 1, 1024, &c->n_heads, err) ||
            get_int(root, path, "max_position_embeddings", 2048, 1, 1, 1 << 22, &c->seq_len, err) ||
            get_int(root, path, "word_embed_proj_dim", D, 1, 1, 1 << 16, &wpd, err) ||
            get_bool(root, path, "do_layer_norm_before", 1, &pre, err) ||
            get_bool(root, path, "tie_word_embeddings", 1, &c->tied_embeddings, err) ||
            get_string_is(root, path, "activation_function", acts, 1, &a, err) ||
            require_bool(root, path, "enable_bias", 1, 1, err) ||
            require_bool(root, path, "layer_norm_elementwise_affine", 1, 1, err) ||
            require_bool(root, path, "_remove_final_layer_norm", 0, 0, err))
            return -1;
        c->post_norm = !pre;
        c->proj_dim = wpd != D ? wpd : 0;
        c->norm_eps = 1e-5f; /* nn.LayerNorm's default: OPT's config has no eps */
        break;
    }
    case ARCH_BLOOM:
        c->act = ACT_GELU_TANH;
        if (get_int(root, path, key_of(root, "n_embed", "hidden_size"), 0, 0, 1, 1 << 16, &D, err) ||
            get_int(root, path, key_of(root, "n_layer", "num_hidden_layers"), 0, 0, 1, 1024, &c->n_layers, err) ||
            get_int(root, path, key_of(root, "n_head", "num_attention_heads"), 0, 0, 1, 1024, &c->n_heads, err) ||
            get_int(root, path, "seq_length", 2048, 1, 1, 1 << 22, &c->seq_len, err) ||
            get_float(root, path, "layer_norm_epsilon", 1e-5, &c->norm_eps, err) ||
            get_bool(root, path, "tie_word_embeddings", 1, &c->tied_embeddings, err) ||
            require_bool(root, path, "apply_residual_connection_post_layernorm", 0, 0, err))
            return -1;
        F = 4 * D;
        break;
    case ARCH_GPT2: {
        static const char *const acts[] = {"gelu_new", "gelu_pytorch_tanh", "gelu"};
        int a;
        if (get_int(root, path, key_of(root, "n_embd", "hidden_size"), 0, 0, 1, 1 << 16, &D, err) ||
            get_int(root, path, key_of(root, "n_layer", "num_hidden_layers"), 0, 0, 1, 1024, &c->n_layers, err) ||
            get_int(root, path, key_of(root, "n_head", "num_attention_heads"), 0, 0, 1, 1024, &c->n_heads, err) ||
            get_int(root, path, key_of(root, "n_positions", "max_position_embeddings"), 1024, 1, 1, 1 << 22, &c->seq_len, err) ||
            get_int(root, path, "n_inner", 4 * D, 1, 1, 1 << 18, &F, err) ||
            get_float(root, path, "layer_norm_epsilon", 1e-5, &c->norm_eps, err) ||
            get_bool(root, path, "tie_word_embeddings", 1, &c->tied_embeddings, err) ||
            get_string_is(root, path, "activation_function", acts, 3, &a, err) ||
            require_bool(root, path, "scale_attn_weights", 1, 1, err) ||
            require_bool(root, path, "scale_attn_by_inverse_layer_idx", 0, 0, err))
            return -1;
        c->act = a == 2 ? ACT_GELU : ACT_GELU_TANH;
        break;
    }
    case ARCH_NEOX: {
        static const char *const acts[] = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast"};
        int a, bias = 1;
        float pct = 0.25f;
        if (get_int(root, path, "hidden_size", 0, 0, 1, 1 << 16, &D, err) ||
            get_int(root, path, "intermediate_size", 0, 0, 1, 1 << 18, &F, err) ||
            get_int(root, path, "num_hidden_layers", 0, 0, 1, 1024, &c->n_layers, err) ||
            get_int(root, path, "num_attention_heads", 0, 0, 1, 1024, &c->n_heads, err) ||
            get_int(root, path, "max_position_embeddings", 2048, 1, 1, 1 << 22, &c->seq_len, err) ||
            get_float(root, path, key_of(root, "rotary_pct", "partial_rotary_factor"), 0.25, &pct, err) ||
            get_float(root, path, key_of(root, "rotary_emb_base", "rope_theta"), 10000.0, &c->rope_theta, err) ||
            get_float(root, path, "layer_norm_eps", 1e-5, &c->norm_eps, err) ||
            get_bool(root, path, "use_parallel_residual", 1, &c->parallel_residual, err) ||
            get_bool(root, path, "tie_word_embeddings", 0, &c->tied_embeddings, err) ||
            get_bool(root, path, "attention_bias", 1, &bias, err) ||
            get_string_is(root, path, "hidden_act", acts, 4, &a, err))
            return -1;
        if (!bias) { snprintf(err, QB_ERRLEN, "%.300s: key 'attention_bias' false is not supported", path); return -1; }
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
        if (rs && !cJSON_IsNull(rs)) { snprintf(err, QB_ERRLEN, "%.300s: GPT-NeoX rope_scaling is not supported", path); return -1; }
        c->act = a == 0 ? ACT_GELU : ACT_GELU_TANH;
        if (pct > 1) { snprintf(err, QB_ERRLEN, "%.300s: key 'rotary_pct' must be in (0, 1]", path); return -1; }
        if (c->n_heads > 0 && D % c->n_heads == 0) c->rotary_dims = (int)((float)(D / c->n_heads) * pct);
        if (c->rotary_dims % 2) {
            snprintf(err, QB_ERRLEN, "%.300s: rotary_pct %g gives an odd number of rotary dims (%d)", path, (double)pct,
                     c->rotary_dims);
            return -1;
        }
        break;
    }
    default:
        snprintf(err, QB_ERRLEN, "%.300s: unknown family", path);
        return -1;
    }
    if (c->n_heads < 1 || D % c->n_heads) {
        snprintf(err, QB_ERRLEN, "%.300s: hidden size %d is not a multiple of the %d heads", path, D, c->n_heads);
        return -1;
    }
    c->dim = D;
    c->hidden_dim = F;
    c->n_kv_heads = c->n_heads;
    c->head_dim = D / c->n_heads;
    if (get_int(root, path, "vocab_size", 0, 0, 1, 1 << 22, &c->vocab_size, err) ||
        get_int(root, path, "bos_token_id", -1, 1, -1, 1 << 22, &c->bos_id, err) ||
        get_int(root, path, "eos_token_id", -1, 1, -1, 1 << 22, &c->eos_id, err))
        return -1;
    return model_check_config(c, path, err);
}

int hf_config_parse(const char *path, ModelConfig *c, int *attn_bias, char err[QB_ERRLEN]) {
    size_t len;
    char *text = qb_read_file(path, &len, err);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    if (!cJSON_IsObject(root)) { snprintf(err, QB_ERRLEN, "%.300s: not a JSON object", path); goto out; }
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(a0)) {
        snprintf(err, QB_ERRLEN, "%.300s: key 'architectures' must be a list of names", path);
        goto out;
    }
    static const struct { const char *name; ArchFamily f; } FAMILIES[] = {
        {"OPTForCausalLM", ARCH_OPT}, {"BloomForCausalLM", ARCH_BLOOM}, {"GPT2LMHeadModel", ARCH_GPT2},
        {"GPTNeoXForCausalLM", ARCH_NEOX}};
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        if (!strcmp(a0->valuestring, FAMILIES[i].name)) {
            snprintf(c->arch, sizeof c->arch, "%s", a0->valuestring);
            rc = hf_config_parse_family(root, path, FAMILIES[i].f, c, err);
            goto out;
        }
    int known = 0;
    for (size_t i = 0; i < sizeof KNOWN_ARCHS / sizeof KNOWN_ARCHS[0]; i++) known |= !strcmp(a0->valuestring, KNOWN_ARCHS[i]);
    if (!known) {
        snprintf(err, QB_ERRLEN, "%.300s: architecture '%.60s' is not supported (Llama, Mistral, Qwen2, OPT, BLOOM, GPT-2, GPT-NeoX only)",
                 path, a0->valuestring);
        goto out;
    }
    snprintf(c->arch, sizeof c->arch, "%s", a0->valuestring);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "silu"))) {
        snprintf(err, QB_ERRLEN, "%.300s: key 'hidden_act' must be \"silu\"", path);
        goto out;
    }
    int mlp_bias = 0;
    if (get_int(root, path, "hidden_size", 0, 0, 1, 1 << 16, &c->dim, err) ||
        get_int(root, path, "intermediate_size", 0, 0, 1, 1 << 18, &c->hidden_dim, err) ||
        get_int(root, path, "num_hidden_layers", 0, 0, 1, 1024, &c->n_layers, err) ||
        get_int(root, path, "num_attention_heads", 0, 0, 1, 1024, &c->n_heads, err) ||
        get_int(root, path, "num_key_value_heads", c->n_heads, 1, 1, 1024, &c->n_kv_heads, err) ||
        get_int(root, path, "head_dim", c->dim / c->n_heads, 1, 2, 1 << 12, &c->head_dim, err) ||
        get_int(root, path, "vocab_size", 0, 0, 1, 1 << 22, &c->vocab_size, err) ||
        get_int(root, path, "max_position_embeddings", 2048, 1, 1, 1 << 22, &c->seq_len, err) ||
        get_int(root, path, "bos_token_id", -1, 1, -1, 1 << 22, &c->bos_id, err) ||
        get_int(root, path, "eos_token_id", -1, 1, -1, 1 << 22, &c->eos_id, err) ||
        get_float(root, path, "rope_theta", 10000.0, &c->rope_theta, err) ||
        get_float(root, path, "rms_norm_eps", 1e-6, &c->norm_eps, err) ||
        get_bool(root, path, "tie_word_embeddings", 0, &c->tied_embeddings, err) ||
        get_bool(root, path, "attention_bias", 0, attn_bias, err) ||
        get_bool(root, path, "mlp_bias", 0, &mlp_bias, err) ||
        parse_rope(root, path, c, err))
        goto out;
    if (mlp_bias) { snprintf(err, QB_ERRLEN, "%.300s: key 'mlp_bias' true is not supported", path); goto out; }
    /* Mistral-style sliding-window attention equals full attention while the context fits the window,
     * so the usable context is capped at the window instead of implementing the band mask. */
    int window = 0, use_window = 1;
    if (get_int(root, path, "sliding_window", 0, 1, 0, 1 << 30, &window, err) ||
        get_bool(root, path, "use_sliding_window", 1, &use_window, err))
        goto out;
    if (use_window && window > 0 && window < c->seq_len) c->seq_len = window;
    c->qkv_bias = !strcmp(c->arch, "Qwen2ForCausalLM") || *attn_bias;
    if (model_check_config(c, path, err)) goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------------ */

cJSON *model_config_json(const ModelConfig *c) {
    QbJson o = qb_json_object();
    if (!o.j) return NULL;
    qb_json_num(&o, "dim", c->dim);
    qb_json_num(&o, "hidden_dim", c->hidden_dim);
    qb_json_num(&o, "n_layers", c->n_layers);
    qb_json_num(&o, "n_heads", c->n_heads);
    qb_json_num(&o, "n_kv_heads", c->n_kv_heads);
    qb_json_num(&o, "head_dim", c->head_dim);
    qb_json_num(&o, "vocab_size", c->vocab_size);
    qb_json_num(&o, "seq_len", c->seq_len);
    qb_json_num(&o, "rope_theta", qb_short_decimal(c->rope_theta));
    qb_json_num(&o, "norm_eps", qb_short_decimal(c->norm_eps));
    qb_json_bool(&o, "tied_embeddings", c->tied_embeddings);
    qb_json_bool(&o, "qkv_bias", c->qkv_bias);
    qb_json_num(&o, "bos_id", c->bos_id);
    qb_json_num(&o, "eos_id", c->eos_id);
    qb_json_str(&o, "arch", c->arch);
    if (c->family != ARCH_LLAMA) { /* the non-Llama families' block options (checkpoint version 3) */
        qb_json_str(&o, "family", arch_family_name(c->family));
        qb_json_num(&o, "act", c->act);
        qb_json_num(&o, "post_norm", c->post_norm);
        qb_json_num(&o, "parallel_residual", c->parallel_residual);
        qb_json_num(&o, "rotary_dims", c->rotary_dims);
        qb_json_num(&o, "proj_dim", c->proj_dim);
    }
    const RopeScaling *rs = &c->rope_scaling;
    if (rs->type != ROPE_SCALING_NONE) {
        QbJson r = {cJSON_AddObjectToObject(o.j, "rope_scaling"), 1};
        if (!r.j) return qb_json_finish(&(QbJson){o.j, 0});
        qb_json_str(&r, "type", rope_scaling_name(rs->type));
        qb_json_num(&r, "factor", qb_short_decimal(rs->factor));
        if (rs->type == ROPE_SCALING_LLAMA3) {
            qb_json_num(&r, "low_freq_factor", qb_short_decimal(rs->low_freq_factor));
            qb_json_num(&r, "high_freq_factor", qb_short_decimal(rs->high_freq_factor));
            qb_json_num(&r, "original_max_position_embeddings", rs->original_max_position_embeddings);
        }
        o.ok &= r.ok;
    }
    return qb_json_finish(&o);
}

cJSON *model_hf_config_json(const Model *m, const char *torch_dtype) {
    const ModelConfig *c = &m->cfg;
    if (c->family != ARCH_LLAMA) { /* the family's own keys (arch_hf.c) */
        cJSON *j = arch_hf_config(m);
        if (j && !cJSON_ReplaceItemInObject(j, "torch_dtype", cJSON_CreateString(torch_dtype))) {
            cJSON_Delete(j);
            return NULL;
        }
        return j;
    }
    const char *arch = "LlamaForCausalLM"; /* llama2.c checkpoints are Llama models */
    for (size_t i = 0; i < sizeof KNOWN_ARCHS / sizeof KNOWN_ARCHS[0]; i++)
        if (!strcmp(c->arch, KNOWN_ARCHS[i])) arch = KNOWN_ARCHS[i];
    const char *type = !strcmp(arch, "Qwen2ForCausalLM") ? "qwen2" : !strcmp(arch, "MistralForCausalLM") ? "mistral" : "llama";
    QbJson o = qb_json_object();
    if (!o.j) return NULL;
    cJSON *a = cJSON_AddArrayToObject(o.j, "architectures"), *s = cJSON_CreateString(arch);
    o.ok &= a && s && cJSON_AddItemToArray(a, s);
    if (!a || !o.ok) cJSON_Delete(s);
    qb_json_str(&o, "model_type", type);
    qb_json_num(&o, "hidden_size", c->dim);
    qb_json_num(&o, "intermediate_size", c->hidden_dim);
    qb_json_num(&o, "num_hidden_layers", c->n_layers);
    qb_json_num(&o, "num_attention_heads", c->n_heads);
    qb_json_num(&o, "num_key_value_heads", c->n_kv_heads);
    qb_json_num(&o, "head_dim", c->head_dim);
    qb_json_num(&o, "vocab_size", c->vocab_size);
    qb_json_num(&o, "max_position_embeddings", c->seq_len);
    qb_json_num(&o, "rms_norm_eps", qb_short_decimal(c->norm_eps));
    qb_json_num(&o, "rope_theta", qb_short_decimal(c->rope_theta));
    if (c->rope_scaling.type != ROPE_SCALING_NONE) {
        char rs[512]; /* raw JSON: keeps "8.0" a float for transformers */
        cJSON *r = model_rope_scaling_json(&c->rope_scaling, rs, sizeof rs) ? NULL : cJSON_CreateRaw(rs);
        o.ok &= r && cJSON_AddItemToObject(o.j, "rope_scaling", r);
    }
    qb_json_bool(&o, "tie_word_embeddings", c->tied_embeddings);
    /* transformers' Llama puts a bias on q, k, v and o together; Qwen2's q/k/v biases are implied by
     * its model_type */
    qb_json_bool(&o, "attention_bias", c->n_layers > 0 && m->blocks[0].lin[LIN_O].bias != NULL);
    qb_json_str(&o, "hidden_act", "silu");
    if (c->bos_id >= 0) qb_json_num(&o, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) qb_json_num(&o, "eos_token_id", c->eos_id);
    qb_json_str(&o, "torch_dtype", torch_dtype);
    return qb_json_finish(&o);
}

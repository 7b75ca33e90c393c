/* hf_config.c — reads a Hugging Face config.json into a ModelConfig. Only the Llama family is accepted
 * (same block, same RoPE, SiLU MLP); every field is type- and range-checked and named in errors. */
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
    int known = 0;
    for (size_t i = 0; i < sizeof KNOWN_ARCHS / sizeof KNOWN_ARCHS[0]; i++) known |= !strcmp(a0->valuestring, KNOWN_ARCHS[i]);
    if (!known) {
        snprintf(err, QB_ERRLEN, "%.300s: architecture '%.60s' is not supported (Llama, Mistral, Qwen2 only)",
                 path, a0->valuestring);
        goto out;
    }
    snprintf(c->arch, sizeof c->arch, "%s", a0->valuestring);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "silu"))) {
        snprintf(err, QB_ERRLEN, "%.300s: key 'hidden_act' must be \"silu\"", path);
        goto out;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        snprintf(err, QB_ERRLEN, "%.300s: key 'rope_scaling' is set; RoPE scaling is not supported", path);
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
        get_bool(root, path, "mlp_bias", 0, &mlp_bias, err))
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

/* test_loader_errors.c — hostile checkpoints: every malformed llama2.c / safetensors / config.json case
 * the loaders check must fail cleanly (NULL, no crash, no leak under ASan) with a message naming the
 * file and, where there is one, the tensor or key. Files are built in a mkdtemp directory from a small
 * synthetic model and from stories260K. Also the positive paths those cases sit beside: sharded
 * checkpoints and F16/BF16 weights. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cJSON.h>

#include "model/model.h"
#include "tests/common.h"

static char tmp[64];
static char base[128]; /* a valid synthetic HF directory every HF case starts from */

/* Loading `path` must fail with an error containing every one of the given substrings. */
static void expect_fail(const char *path, const char *s1, const char *s2) {
    char err[QB_ERRLEN] = "";
    Model *m = model_load(path, err);
    if (m) { model_free(m); fail_msg("%s loaded but should not have", path); }
    if (s1 && !strstr(err, s1)) fail_msg("error '%s' lacks '%s'", err, s1);
    if (s2 && !strstr(err, s2)) fail_msg("error '%s' lacks '%s'", err, s2);
}

static const char *path_in(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* ---- llama2.c ----------------------------------------------------------------------------------- */

static void write_header_file(const char *name, const int32_t h[7], size_t n_floats) {
    size_t len = 28 + 4 * n_floats;
    char *buf = calloc(1, len);
    memcpy(buf, h, 28);
    t_write_file(path_in(name), buf, len);
    free(buf);
}

static void test_llama2c_bad_headers(void **state) {
    (void)state;
    expect_fail(path_in("does_not_exist.bin"), "does_not_exist.bin", "No such file");
    t_write_file(path_in("empty.bin"), "", 0);
    expect_fail(path_in("empty.bin"), "empty.bin", "truncated header");
    t_write_file(path_in("short.bin"), "0123456789", 10);
    expect_fail(path_in("short.bin"), "short.bin", "truncated header");
    int32_t magic[7] = {0x616b3432, 1, 0, 0, 0, 0, 0};
    write_header_file("v1.bin", magic, 64);
    expect_fail(path_in("v1.bin"), "v1.bin", "ak42");
    int32_t zero_heads[7] = {64, 172, 5, 0, 0, 512, 512};
    write_header_file("zero_heads.bin", zero_heads, 16);
    expect_fail(path_in("zero_heads.bin"), "zero_heads.bin", "n_heads");
    int32_t odd_heads[7] = {64, 172, 5, 3, 3, 512, 512};
    write_header_file("odd_heads.bin", odd_heads, 16);
    expect_fail(path_in("odd_heads.bin"), "odd_heads.bin", "multiple of n_heads");
    int32_t bad_kv[7] = {64, 172, 5, 8, 3, 512, 512};
    write_header_file("bad_kv.bin", bad_kv, 16);
    expect_fail(path_in("bad_kv.bin"), "bad_kv.bin", "n_kv_heads");
    int32_t huge_vocab[7] = {64, 172, 5, 8, 4, 1 << 30, 512};
    write_header_file("huge_vocab.bin", huge_vocab, 16);
    expect_fail(path_in("huge_vocab.bin"), "huge_vocab.bin", "vocab_size");
    int32_t neg_dim[7] = {-64, 172, 5, 8, 4, 512, 512};
    write_header_file("neg_dim.bin", neg_dim, 16);
    expect_fail(path_in("neg_dim.bin"), "neg_dim.bin", "dim");
    int32_t min_vocab[7] = {64, 172, 5, 8, 4, INT32_MIN, 512};
    write_header_file("min_vocab.bin", min_vocab, 16);
    expect_fail(path_in("min_vocab.bin"), "min_vocab.bin", "vocab_size");
}

static void test_llama2c_truncated_and_lying(void **state) {
    (void)state;
    size_t len;
    char *orig = t_slurp("assets/stories260K/stories260K.bin", &len);
    assert_int_equal(len, 1056540);
    /* floats: tok_emb 32768, rms_att 320, wq 20480 → byte 28 + 4*40000 falls inside wq */
    t_write_file(path_in("trunc_wq.bin"), orig, 28 + 4 * 40000);
    expect_fail(path_in("trunc_wq.bin"), "trunc_wq.bin", "'wq'");
    t_write_file(path_in("trunc_last.bin"), orig, len - 4);
    expect_fail(path_in("trunc_last.bin"), "trunc_last.bin", "'freq_cis_imag'");
    char *longer = calloc(1, len + 8);
    memcpy(longer, orig, len);
    t_write_file(path_in("longer.bin"), longer, len + 8);
    expect_fail(path_in("longer.bin"), "longer.bin", "after the last tensor");
    /* a header that lies about dim: the weights no longer fit */
    int32_t dim128 = 128;
    memcpy(longer, &dim128, 4);
    t_write_file(path_in("lying_dim.bin"), longer, len);
    expect_fail(path_in("lying_dim.bin"), "lying_dim.bin", "truncated");
    /* a negative vocab promises a separate classifier the file does not have */
    memcpy(longer, orig, len);
    int32_t negv = -512;
    memcpy(longer + 20, &negv, 4);
    t_write_file(path_in("untied_missing.bin"), longer, len);
    expect_fail(path_in("untied_missing.bin"), "untied_missing.bin", "'wcls'");
    free(longer);
    free(orig);
}

/* ---- safetensors ---------------------------------------------------------------------------------- */

typedef void (*HeaderEdit)(cJSON *h);

/* dst dir ← base with config.json copied (or replaced by `config` when non-NULL) and model.safetensors
 * rewritten through `edit` (header only; data bytes unchanged), cut to `keep` bytes when keep > 0. */
static const char *make_variant(const char *name, HeaderEdit edit, const char *config, size_t keep) {
    const char *dir = path_in(name);
    mkdir(dir, 0777);
    char p[300];
    size_t len;
    snprintf(p, sizeof p, "%s/config.json", base);
    char *cfg = t_slurp(p, &len);
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (config) t_write_file(p, config, strlen(config));
    else t_write_file(p, cfg, len);
    free(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", base);
    char *st = t_slurp(p, &len);
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    cJSON *h = cJSON_ParseWithLength(st + 8, hlen);
    assert_non_null(h);
    if (edit) edit(h);
    char *hs = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t nh = strlen(hs), data = len - 8 - hlen, total = 8 + nh + data;
    char *out = malloc(total);
    uint64_t nh64 = nh;
    memcpy(out, &nh64, 8);
    memcpy(out + 8, hs, nh);
    memcpy(out + 8 + nh, st + 8 + hlen, data);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    t_write_file(p, out, keep ? keep : total);
    free(out); free(hs); free(st);
    return dir;
}

#define Q0 "model.layers.0.self_attn.q_proj.weight"
#define K1 "model.layers.1.self_attn.k_proj.weight"
#define V1 "model.layers.1.self_attn.v_proj.weight"
#define UP1 "model.layers.1.mlp.up_proj.weight"

static cJSON *entry(cJSON *h, const char *name) { return cJSON_GetObjectItem(h, name); }
static void set_pair(cJSON *arr, double a, double b) {
    cJSON_ReplaceItemInArray(arr, 0, cJSON_CreateNumber(a));
    cJSON_ReplaceItemInArray(arr, 1, cJSON_CreateNumber(b));
}

static void edit_rename_up(cJSON *h) {
    cJSON *e = cJSON_DetachItemFromObject(h, UP1);
    cJSON_AddItemToObject(h, "model.layers.1.mlp.upp_proj.weight", e);
}
static void edit_reshape_q(cJSON *h) { /* same numel, wrong shape: [16,16] → [8,32] */
    set_pair(cJSON_GetObjectItem(entry(h, Q0), "shape"), 8, 32);
}
static void edit_offsets_past_end(cJSON *h) {
    cJSON *o = cJSON_GetObjectItem(entry(h, K1), "data_offsets");
    set_pair(o, cJSON_GetArrayItem(o, 0)->valuedouble, 1e9);
}
static void edit_size_mismatch(cJSON *h) {
    set_pair(cJSON_GetObjectItem(entry(h, Q0), "shape"), 16, 15);
}
static void edit_overlap(cJSON *h) { /* v1 claims k1's bytes (same size) */
    cJSON *ko = cJSON_GetObjectItem(entry(h, K1), "data_offsets");
    set_pair(cJSON_GetObjectItem(entry(h, V1), "data_offsets"), cJSON_GetArrayItem(ko, 0)->valuedouble,
             cJSON_GetArrayItem(ko, 1)->valuedouble);
}
static void edit_dtype_i32(cJSON *h) {
    cJSON_ReplaceItemInObject(entry(h, UP1), "dtype", cJSON_CreateString("I32"));
}
static void edit_dtype_unknown(cJSON *h) {
    cJSON_ReplaceItemInObject(entry(h, UP1), "dtype", cJSON_CreateString("Q4_K"));
}
static void edit_negative_offset(cJSON *h) {
    set_pair(cJSON_GetObjectItem(entry(h, K1), "data_offsets"), -4, 0);
}
static void edit_fraction_shape(cJSON *h) {
    set_pair(cJSON_GetObjectItem(entry(h, Q0), "shape"), 16.5, 16);
}
static void edit_no_dtype(cJSON *h) { cJSON_DeleteItemFromObject(entry(h, K1), "dtype"); }

static void test_safetensors_bad_headers(void **state) {
    (void)state;
    expect_fail(make_variant("missing", edit_rename_up, NULL, 0), "model.safetensors", "missing tensor '" UP1 "'");
    expect_fail(make_variant("shape", edit_reshape_q, NULL, 0), "'" Q0 "' has shape [8,32]", "[16,16]");
    expect_fail(make_variant("pastend", edit_offsets_past_end, NULL, 0), "'" K1 "'", "data_offsets");
    expect_fail(make_variant("sizemis", edit_size_mismatch, NULL, 0), "'" Q0 "'", "bytes");
    expect_fail(make_variant("overlap", edit_overlap, NULL, 0), "overlap", K1);
    expect_fail(make_variant("i32", edit_dtype_i32, NULL, 0), "'" UP1 "'", "I32");
    expect_fail(make_variant("q4", edit_dtype_unknown, NULL, 0), "unknown dtype", "Q4_K");
    expect_fail(make_variant("negoff", edit_negative_offset, NULL, 0), "'" K1 "'", "data_offsets");
    expect_fail(make_variant("fracshape", edit_fraction_shape, NULL, 0), "'" Q0 "'", "shape");
    expect_fail(make_variant("nodtype", edit_no_dtype, NULL, 0), "'" K1 "'", "dtype");
}

static void test_safetensors_truncated_and_garbage(void **state) {
    (void)state;
    char p[300];
    snprintf(p, sizeof p, "%s/model.safetensors", base);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    /* cut the data in half: some tensor's data_offsets now run past the end */
    expect_fail(make_variant("trunc", NULL, NULL, (size_t)st.st_size / 2), "trunc/model.safetensors", "data_offsets");
    expect_fail(make_variant("trunc4", NULL, NULL, 4), "trunc4/model.safetensors", "truncated");
    /* header length larger than the file */
    const char *d = make_variant("biglen", NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    FILE *f = fopen(p, "r+b");
    uint64_t big = (uint64_t)1 << 40;
    fwrite(&big, 8, 1, f);
    fclose(f);
    expect_fail(d, "biglen/model.safetensors", "header length");
    /* header that is not JSON */
    d = make_variant("garbage", NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    f = fopen(p, "r+b");
    fseek(f, 8, SEEK_SET);
    fwrite("#!garbage", 1, 9, f);
    fclose(f);
    expect_fail(d, "garbage/model.safetensors", "not a JSON object");
}

/* ---- config.json ----------------------------------------------------------------------------------- */

static char *base_config_with(const char *key, const char *json_value) {
    char p[300];
    size_t len;
    snprintf(p, sizeof p, "%s/config.json", base);
    char *text = t_slurp(p, &len);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (json_value && cJSON_HasObjectItem(j, key)) cJSON_ReplaceItemInObject(j, key, cJSON_Parse(json_value));
    else if (json_value) cJSON_AddItemToObject(j, key, cJSON_Parse(json_value));
    else cJSON_DeleteItemFromObject(j, key);
    char *out = cJSON_Print(j);
    cJSON_Delete(j);
    return out;
}

static void config_case(const char *name, const char *key, const char *value, const char *s1, const char *s2) {
    char *cfg = base_config_with(key, value);
    expect_fail(make_variant(name, NULL, cfg, 0), s1, s2);
    free(cfg);
}

static void test_config_errors(void **state) {
    (void)state;
    config_case("arch", "architectures", "[\"FalconForCausalLM\"]", "config.json", "'FalconForCausalLM' is not supported");
    config_case("noarch", "architectures", NULL, "config.json", "architectures");
    config_case("hs", "hidden_size", "\"abc\"", "config.json", "'hidden_size'");
    config_case("nohs", "hidden_size", NULL, "config.json", "missing key 'hidden_size'");
    config_case("frac", "num_hidden_layers", "1.5", "config.json", "'num_hidden_layers'");
    config_case("heads5", "num_attention_heads", "5", "config.json", "multiple");
    config_case("theta", "rope_theta", "-1", "config.json", "'rope_theta'");
    config_case("act", "hidden_act", "\"gelu\"", "config.json", "hidden_act");
    config_case("tie", "tie_word_embeddings", "\"yes\"", "config.json", "tie_word_embeddings");
    config_case("window", "sliding_window", "\"wide\"", "config.json", "sliding_window");
    /* a sliding window shorter than the context caps the context (full attention is exact within it) */
    char *cfg = base_config_with("sliding_window", "20");
    char err[QB_ERRLEN];
    Model *m = model_load(make_variant("window20", NULL, cfg, 0), err);
    free(cfg);
    assert_non_null(m);
    assert_int_equal(m->cfg.seq_len, 20);
    model_free(m);
    /* config and weights disagree */
    config_case("layers1", "num_hidden_layers", "1", "model.safetensors", "layer");
    config_case("layers3", "num_hidden_layers", "3", "model.safetensors", "model.layers.2.input_layernorm.weight");
    config_case("untied", "tie_word_embeddings", "false", "model.safetensors", "lm_head.weight");
    config_case("vocab", "vocab_size", "21", "model.embed_tokens.weight", "shape");
    /* no config at all, and a config that is not JSON */
    const char *d = make_variant("noconfig", NULL, NULL, 0);
    char p[300];
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    expect_fail(d, "noconfig/config.json", NULL);
    expect_fail(make_variant("badjson", NULL, "{\"architectures\": [", 0), "badjson/config.json", "not a JSON object");
    mkdir(path_in("emptydir"), 0777);
    expect_fail(path_in("emptydir"), "emptydir", "model.safetensors");
}

static void logits_of(const Model *m, float *out) {
    int tok[12] = {1, 5, 7, 19, 3, 3, 0, 11, 2, 9, 14, 8};
    char err[QB_ERRLEN];
    ModelState *s = model_state_new(m, 12, 12);
    assert_int_equal(model_forward(m, s, tok, 12, 0, out, err), 0);
    model_state_free(s);
}

/* ---- RoPE scaling ------------------------------------------------------------------------------------ */

/* config.json with `key` set to `value` must be refused with a message naming config.json, `what` (the
 * key) and `also`. */
static void rope_refused(const char *name, const char *key, const char *value, const char *what, const char *also) {
    char *cfg = base_config_with(key, value);
    char err[QB_ERRLEN] = "";
    Model *m = model_load(make_variant(name, NULL, cfg, 0), err);
    free(cfg);
    if (m) { model_free(m); fail_msg("%s: %s = %s loaded but should not have", name, key, value); }
    if (!strstr(err, "config.json")) fail_msg("error '%s' lacks 'config.json'", err);
    if (!strstr(err, what)) fail_msg("error '%s' lacks '%s'", err, what);
    if (also && !strstr(err, also)) fail_msg("error '%s' lacks '%s'", err, also);
}

/* Loads base with `key` set to `value` (NULL: removed); returns the model. */
static Model *rope_loads(const char *name, const char *key, const char *value) {
    char *cfg = base_config_with(key, value);
    char err[QB_ERRLEN] = "";
    Model *m = model_load(make_variant(name, NULL, cfg, 0), err);
    free(cfg);
    if (!m) fail_msg("%s: %s = %s: %s", name, key, value ? value : "(removed)", err);
    return m;
}

#define L3 "\"rope_type\": \"llama3\""
#define L3_ALL L3 ", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, " \
               "\"original_max_position_embeddings\": 8192"

static void test_rope_scaling_errors(void **state) {
    (void)state;
    const char *RS = "rope_scaling";
    /* types qbench does not implement: refused by name, with what is supported */
    rope_refused("yarn", RS, "{\"rope_type\": \"yarn\", \"factor\": 4.0}", "'rope_scaling.rope_type'",
                 "'yarn' is not supported (supported: linear, llama3");
    rope_refused("dynamic", RS, "{\"type\": \"dynamic\", \"factor\": 2.0}", "'rope_scaling.type'", "'dynamic'");
    rope_refused("longrope", RS, "{\"rope_type\": \"longrope\", \"short_factor\": [1], \"long_factor\": [1]}",
                 "'rope_scaling.rope_type'", "'longrope'");
    rope_refused("su", RS, "{\"type\": \"su\"}", "'rope_scaling.type'", "'su'");
    rope_refused("notype", RS, "{\"factor\": 2.0}", "'rope_scaling.rope_type'", NULL);
    rope_refused("numtype", RS, "{\"rope_type\": 3, \"factor\": 2.0}", "'rope_scaling.rope_type'", NULL);
    rope_refused("notobj", RS, "\"linear\"", "'rope_scaling'", "object");
    /* factor: 0, negative, NaN as a string (JSON has no NaN), overflowing a float, missing */
    rope_refused("f0", RS, "{\"type\": \"linear\", \"factor\": 0}", "'rope_scaling.factor'", "positive");
    rope_refused("fneg", RS, "{\"type\": \"linear\", \"factor\": -2}", "'rope_scaling.factor'", "positive");
    rope_refused("fnan", RS, "{\"type\": \"linear\", \"factor\": \"NaN\"}", "'rope_scaling.factor'", "positive");
    rope_refused("fbig", RS, "{\"type\": \"linear\", \"factor\": 1e39}", "'rope_scaling.factor'", "finite");
    rope_refused("fnone", RS, "{\"type\": \"linear\"}", "missing key 'rope_scaling.factor'", NULL);
    rope_refused("l3f0", RS, "{" L3 ", \"factor\": 0.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                 "\"original_max_position_embeddings\": 8192}", "'rope_scaling.factor'", NULL);
    /* llama3: each key missing */
    static const char *keys[4] = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
    for (int k = 0; k < 4; k++) {
        char *cfg = base_config_with(RS, "{" L3_ALL "}");
        cJSON *j = cJSON_Parse(cfg);
        free(cfg);
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(j, RS), keys[k]);
        cfg = cJSON_Print(j);
        cJSON_Delete(j);
        char name[32], want[96], err[QB_ERRLEN];
        snprintf(name, sizeof name, "l3miss%d", k);
        snprintf(want, sizeof want, "missing key 'rope_scaling.%s'", keys[k]);
        Model *m = model_load(make_variant(name, NULL, cfg, 0), err);
        free(cfg);
        assert_null(m);
        if (!strstr(err, want) || !strstr(err, "config.json")) fail_msg("error '%s' lacks '%s'", err, want);
    }
    /* llama3: low_freq_factor must be below high_freq_factor, both positive; the context a positive integer */
    rope_refused("l3eq", RS, "{" L3 ", \"factor\": 8.0, \"low_freq_factor\": 4.0, \"high_freq_factor\": 4.0, "
                 "\"original_max_position_embeddings\": 8192}", "'rope_scaling.low_freq_factor'",
                 "'rope_scaling.high_freq_factor'");
    rope_refused("l3gt", RS, "{" L3 ", \"factor\": 8.0, \"low_freq_factor\": 4.0, \"high_freq_factor\": 1.0, "
                 "\"original_max_position_embeddings\": 8192}", "'rope_scaling.low_freq_factor'", "less than");
    rope_refused("l3low0", RS, "{" L3 ", \"factor\": 8.0, \"low_freq_factor\": 0, \"high_freq_factor\": 4.0, "
                 "\"original_max_position_embeddings\": 8192}", "'rope_scaling.low_freq_factor'", "positive");
    rope_refused("l3ctx0", RS, "{" L3 ", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                 "\"original_max_position_embeddings\": 0}", "'rope_scaling.original_max_position_embeddings'", NULL);
    rope_refused("l3ctxf", RS, "{" L3 ", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                 "\"original_max_position_embeddings\": 8192.5}", "'rope_scaling.original_max_position_embeddings'",
                 "integer");
    rope_refused("l3ctxs", RS, "{" L3 ", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                 "\"original_max_position_embeddings\": \"8192\"}",
                 "'rope_scaling.original_max_position_embeddings'", NULL);
    /* transformers 5's rope_parameters: same checks, its own name; per-layer-type dicts refused */
    const char *RP = "rope_parameters";
    rope_refused("rpyarn", RP, "{\"rope_type\": \"yarn\", \"factor\": 4.0, \"rope_theta\": 10000.0}",
                 "'rope_parameters.rope_type'", "'yarn'");
    rope_refused("rpf0", RP, "{\"rope_type\": \"linear\", \"factor\": 0}", "'rope_parameters.factor'", NULL);
    rope_refused("rptheta", RP, "{\"rope_type\": \"default\", \"rope_theta\": -5}", "'rope_parameters.rope_theta'",
                 NULL);
    rope_refused("rpprf", RP, "{\"rope_type\": \"default\", \"rope_theta\": 1e4, \"partial_rotary_factor\": 0.5}",
                 "'rope_parameters.partial_rotary_factor'", NULL);
    rope_refused("rplayers", RP, "{\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 1e4}}",
                 "'rope_parameters.full_attention'", "per-layer-type");
    /* both set, and they disagree */
    char *cfg = base_config_with(RS, "{\"type\": \"linear\", \"factor\": 2.0}");
    cJSON *j = cJSON_Parse(cfg);
    free(cfg);
    cJSON_AddItemToObject(j, RP, cJSON_Parse("{\"rope_type\": \"linear\", \"factor\": 3.0}"));
    cfg = cJSON_Print(j);
    cJSON_Delete(j);
    expect_fail(make_variant("rpboth", NULL, cfg, 0), "config.json", "'rope_scaling' and 'rope_parameters'");
    free(cfg);
}

static void test_rope_scaling_accepted(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *base_m = model_load(base, err);
    assert_non_null(base_m);
    assert_int_equal(base_m->cfg.rope_scaling.type, ROPE_SCALING_NONE);
    float lb[12 * 20], l[12 * 20];
    logits_of(base_m, lb);
    /* null, "default" and linear factor 1 are the unscaled model, bit for bit */
    const char *same[] = {"null", "{\"rope_type\": \"default\"}", "{\"type\": \"linear\", \"factor\": 1.0}"};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "same%d", i);
        Model *m = rope_loads(name, "rope_scaling", same[i]);
        logits_of(m, l);
        assert_memory_equal(l, lb, sizeof l);
        model_free(m);
    }
    Model *m = rope_loads("lin2", "rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 2}");
    assert_int_equal(m->cfg.rope_scaling.type, ROPE_SCALING_LINEAR);
    assert_true(m->cfg.rope_scaling.factor == 2.0f);
    logits_of(m, l);
    assert_true(memcmp(l, lb, sizeof l) != 0);
    model_free(m);
    /* Llama 3.1's block, with unknown extra keys ignored as transformers does */
    m = rope_loads("l3", "rope_scaling", "{" L3_ALL ", \"attention_factor\": 1.0}");
    const RopeScaling want = {ROPE_SCALING_LLAMA3, 8.0f, 1.0f, 4.0f, 8192};
    assert_memory_equal(&m->cfg.rope_scaling, &want, sizeof want);
    model_free(m);
    /* transformers 5: rope_parameters carries rope_theta (and wins over a top-level one) */
    char *cfg = base_config_with("rope_theta", NULL);
    cJSON *j = cJSON_Parse(cfg);
    free(cfg);
    cJSON_AddItemToObject(j, "rope_parameters", cJSON_Parse("{" L3_ALL ", \"rope_theta\": 500000.0}"));
    cfg = cJSON_Print(j);
    cJSON_Delete(j);
    m = model_load(make_variant("rp", NULL, cfg, 0), err);
    free(cfg);
    if (!m) fail_msg("%s", err);
    assert_memory_equal(&m->cfg.rope_scaling, &want, sizeof want);
    assert_true(m->cfg.rope_theta == 500000.0f);
    model_free(m);
    m = rope_loads("rptheta_only", "rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": 1234.0}");
    assert_int_equal(m->cfg.rope_scaling.type, ROPE_SCALING_NONE);
    assert_true(m->cfg.rope_theta == 1234.0f);
    model_free(m);
    /* both keys, the same scaling: fine */
    cfg = base_config_with("rope_scaling", "{" L3_ALL "}");
    j = cJSON_Parse(cfg);
    free(cfg);
    cJSON_AddItemToObject(j, "rope_parameters", cJSON_Parse("{" L3_ALL ", \"rope_theta\": 10000.0}"));
    cfg = cJSON_Print(j);
    cJSON_Delete(j);
    m = model_load(make_variant("rpboth_same", NULL, cfg, 0), err);
    free(cfg);
    if (!m) fail_msg("%s", err);
    assert_memory_equal(&m->cfg.rope_scaling, &want, sizeof want);
    model_free(m);
    model_free(base_m);
}

/* ---- sharded checkpoints ----------------------------------------------------------------------------- */

/* Splits base/model.safetensors into two shards (layer 1 in the second) plus an index in `name`. */
static const char *make_sharded(const char *name, const char *second_name_in_index) {
    const char *dir = path_in(name);
    mkdir(dir, 0777);
    char p[300];
    size_t len;
    snprintf(p, sizeof p, "%s/config.json", base);
    char *cfg = t_slurp(p, &len);
    snprintf(p, sizeof p, "%s/config.json", dir);
    t_write_file(p, cfg, len);
    free(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", base);
    char *st = t_slurp(p, &len);
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    cJSON *h = cJSON_ParseWithLength(st + 8, hlen);
    const char *data = st + 8 + hlen;
    cJSON *index = cJSON_CreateObject(), *wm = cJSON_AddObjectToObject(index, "weight_map");
    for (int shard = 0; shard < 2; shard++) {
        cJSON *sh = cJSON_CreateObject();
        char *body = malloc(len);
        size_t off = 0;
        cJSON *e;
        cJSON_ArrayForEach(e, h) {
            if (!strcmp(e->string, "__metadata__")) continue;
            int in_second = strstr(e->string, "layers.1.") != NULL;
            if (in_second != shard) continue;
            cJSON *o = cJSON_GetObjectItem(e, "data_offsets");
            size_t a = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(o, 1)->valuedouble;
            memcpy(body + off, data + a, b - a);
            cJSON *c = cJSON_Duplicate(e, 1);
            set_pair(cJSON_GetObjectItem(c, "data_offsets"), (double)off, (double)(off + b - a));
            off += b - a;
            cJSON_AddItemToObject(sh, e->string, c);
            cJSON_AddStringToObject(wm, e->string, shard ? second_name_in_index : "model-00001-of-00002.safetensors");
        }
        char *hs = cJSON_PrintUnformatted(sh);
        size_t nh = strlen(hs);
        uint64_t nh64 = nh;
        snprintf(p, sizeof p, "%s/model-0000%d-of-00002.safetensors", dir, shard + 1);
        FILE *f = fopen(p, "wb");
        fwrite(&nh64, 8, 1, f);
        fwrite(hs, 1, nh, f);
        fwrite(body, 1, off, f);
        fclose(f);
        free(hs); free(body);
        cJSON_Delete(sh);
    }
    char *is = cJSON_Print(index);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    t_write_file(p, is, strlen(is));
    free(is);
    cJSON_Delete(index);
    cJSON_Delete(h);
    free(st);
    return dir;
}

static void test_sharded_loads_and_its_errors(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *a = model_load(base, err), *b = model_load(make_sharded("sharded", "model-00002-of-00002.safetensors"), err);
    assert_non_null(a);
    if (!b) fail_msg("%s", err);
    float la[12 * 20], lb[12 * 20];
    logits_of(a, la);
    logits_of(b, lb);
    assert_memory_equal(la, lb, sizeof la);
    assert_string_not_equal(a->sha256, b->sha256);
    model_free(a); model_free(b);
    /* the index can also be named directly */
    char p[300];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", path_in("sharded"));
    b = model_load(p, err);
    assert_non_null(b);
    model_free(b);
    expect_fail(make_sharded("evil", "../evil.safetensors"), "model.safetensors.index.json", "plain file name");
    expect_fail(make_sharded("noshard", "model-00009-of-00002.safetensors"), "model-00009-of-00002.safetensors", "No such file");
    /* a tensor listed for a shard that does not hold it */
    const char *d = make_sharded("wrongshard", "model-00001-of-00002.safetensors");
    expect_fail(d, "model-00001-of-00002.safetensors", "missing tensor 'model.layers.1.");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", make_sharded("nomap", "x"));
    t_write_file(p, "{\"metadata\": {}}", 16);
    expect_fail(path_in("nomap"), "index.json", "weight_map");
}

/* ---- F16 / BF16 -------------------------------------------------------------------------------------- */

/* rewrites base's weights as F16 (via the compiler's _Float16, an independent conversion) or BF16
 * (top 16 bits); returns the directory */
static const char *make_half(const char *name, int bf16) {
    const char *dir = path_in(name);
    mkdir(dir, 0777);
    char p[300];
    size_t len;
    snprintf(p, sizeof p, "%s/config.json", base);
    char *cfg = t_slurp(p, &len);
    snprintf(p, sizeof p, "%s/config.json", dir);
    t_write_file(p, cfg, len);
    free(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", base);
    char *st = t_slurp(p, &len);
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    cJSON *h = cJSON_ParseWithLength(st + 8, hlen), *e;
    const char *data = st + 8 + hlen;
    uint16_t *body = malloc(len);
    size_t off = 0;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__")) continue;
        cJSON *o = cJSON_GetObjectItem(e, "data_offsets");
        size_t a = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(o, 1)->valuedouble;
        for (size_t i = 0; i < (b - a) / 4; i++) {
            float x;
            memcpy(&x, data + a + 4 * i, 4);
            uint16_t v;
            if (bf16) { uint32_t bits; memcpy(&bits, &x, 4); v = (uint16_t)(bits >> 16); }
            else { _Float16 hx = (_Float16)x; memcpy(&v, &hx, 2); }
            body[off / 2 + i] = v;
        }
        set_pair(o, (double)off, (double)(off + (b - a) / 2));
        off += (b - a) / 2;
        cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString(bf16 ? "BF16" : "F16"));
    }
    char *hs = cJSON_PrintUnformatted(h);
    uint64_t nh = strlen(hs);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "wb");
    fwrite(&nh, 8, 1, f);
    fwrite(hs, 1, nh, f);
    fwrite(body, 1, off, f);
    fclose(f);
    free(hs); free(body); free(st);
    cJSON_Delete(h);
    return dir;
}

static void test_f16_bf16_weights(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *a = model_load(base, err);
    assert_non_null(a);
    for (int bf = 0; bf < 2; bf++) {
        Model *b = model_load(make_half(bf ? "bf16" : "f16", bf), err);
        if (!b) fail_msg("%s", err);
        size_t n = (size_t)a->cfg.vocab_size * a->cfg.dim;
        for (size_t i = 0; i < n; i++) {
            float want;
            if (bf) { uint32_t bits; memcpy(&bits, &a->tok_emb[i], 4); bits &= 0xffff0000u; memcpy(&want, &bits, 4); }
            else want = (float)(_Float16)a->tok_emb[i];
            assert_true(b->tok_emb[i] == want);
        }
        /* linear layers stay as stored; q is permuted after conversion: compare row by row in the
         * interleaved layout, through the float accessor */
        const Linear *qa = &a->blocks[0].lin[LIN_Q], *qb = &b->blocks[0].lin[LIN_Q];
        assert_int_equal(linear_format(qb), bf ? QW_BF16 : QW_F16);
        assert_null(qb->w);
        assert_int_equal(linear_weight_bytes(qb), (size_t)qb->rows * qb->cols * 2);
        assert_non_null(b->classifier_q); /* the forward reads the classifier from the file's halves too */
        assert_null(a->classifier_q);
        float *wb = malloc((size_t)qb->rows * qb->cols * sizeof *wb);
        assert_non_null(wb);
        linear_rows_f32(qb, 0, qb->rows, wb);
        for (int i = 0; i < qa->rows * qa->cols; i++)
            assert_true(fabsf(qa->w[i] - wb[i]) <= (bf ? 1.0f / 128 : 1.0f / 1024) * fabsf(qa->w[i]) + 1e-7f);
        free(wb);
        float la[12 * 20], lb[12 * 20], lc[12 * 20];
        logits_of(a, la);
        logits_of(b, lb);
        for (int i = 0; i < 12 * 20; i++) assert_true(fabsf(la[i] - lb[i]) < 0.05f);
        /* the same weights widened to float32 give the same logits up to float32 summation order: the
         * kernels multiply the identical values, so only rounding of the sums differs (relative 1e-6 per
         * layer; 1e-4 absolute on logits of magnitude <= 10 leaves a wide margin); unpacking drops the
         * half classifier as well */
        assert_int_equal(model_unpack_weights(b, err), 0);
        assert_null(b->classifier_q);
        assert_int_equal(linear_format(qb), QW_F32);
        logits_of(b, lc);
        for (int i = 0; i < 12 * 20; i++) assert_true(fabsf(lb[i] - lc[i]) <= 1e-4f * (1.0f + fabsf(lc[i])));
        model_free(b);
    }
    model_free(a);
}

/* Seeded random byte edits in the safetensors header and in config.json: every load must either fail
 * with a message or give a model whose forward pass runs (ASan checks the memory side). */
static void test_mutation_fuzz(void **state) {
    (void)state;
    char p[300], err[QB_ERRLEN];
    size_t st_len, cfg_len;
    snprintf(p, sizeof p, "%s/model.safetensors", base);
    char *st = t_slurp(p, &st_len);
    snprintf(p, sizeof p, "%s/config.json", base);
    char *cfg = t_slurp(p, &cfg_len);
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    const char *dir = path_in("fuzz");
    mkdir(dir, 0777);
    char st_path[300], cfg_path[300];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    static const char alphabet[] = "0123456789-.,:[]{}\"e ";
    QbRng r;
    qb_rng_seed(&r, 2024);
    int loaded = 0, failed = 0;
    for (int it = 0; it < 300; it++) {
        char *a = malloc(st_len), *b = malloc(cfg_len);
        memcpy(a, st, st_len);
        memcpy(b, cfg, cfg_len);
        int edits = 1 + (int)qb_rng_below(&r, 3);
        for (int e = 0; e < edits; e++) {
            char ch = alphabet[qb_rng_below(&r, sizeof alphabet - 1)];
            if (it % 3 == 2) b[qb_rng_below(&r, cfg_len)] = ch;           /* config.json */
            else if (it % 7 == 0) a[qb_rng_below(&r, 8)] = (char)qb_rng_next(&r); /* header length */
            else a[8 + qb_rng_below(&r, hlen)] = ch;                        /* header JSON */
        }
        t_write_file(st_path, a, st_len);
        t_write_file(cfg_path, b, cfg_len);
        err[0] = '\0';
        Model *m = model_load(dir, err);
        if (m) {
            float lg[4 * 4096];
            int tok[4] = {1, 2, 3, 4};
            ModelState *s = model_state_new(m, 4, 4);
            if (s && m->cfg.vocab_size <= 4096) model_forward(m, s, tok, 4, 0, lg, err);
            model_state_free(s);
            model_free(m);
            loaded++;
        } else {
            assert_true(strlen(err) > 0);
            failed++;
        }
        free(a); free(b);
    }
    assert_true(failed > 100); /* most edits must be caught */
    (void)loaded;
    free(st); free(cfg);
}

/* A header whose length leaves the data at an odd address: F32 tensors cannot be used in place (a float
 * read there is undefined behaviour), so the loader copies them; the logits must not change. */
static void test_unaligned_data_is_copied(void **state) {
    (void)state;
    char p[300], err[QB_ERRLEN];
    size_t len;
    snprintf(p, sizeof p, "%s/model.safetensors", base);
    char *st = t_slurp(p, &len);
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    size_t pad = 1 + (8 - (hlen + 1) % 8) % 8; /* new header length ≡ 1 (mod 8)... */
    if ((8 + hlen + pad) % 4 == 0) pad++;       /* ...and never a multiple of 4 past the length field */
    char *out = malloc(len + pad);
    uint64_t nh = hlen + pad;
    memcpy(out, &nh, 8);
    memcpy(out + 8, st + 8, hlen);
    memset(out + 8 + hlen, ' ', pad); /* JSON allows trailing spaces */
    memcpy(out + 8 + nh, st + 8 + hlen, len - 8 - hlen);
    const char *dir = make_variant("unaligned", NULL, NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    t_write_file(p, out, len + pad);
    Model *a = model_load(base, err), *b = model_load(dir, err);
    assert_non_null(a);
    if (!b) fail_msg("%s", err);
    assert_true(((uintptr_t)b->final_norm % sizeof(float)) == 0);
    float la[12 * 20], lb[12 * 20];
    logits_of(a, la);
    logits_of(b, lb);
    assert_memory_equal(la, lb, sizeof la);
    model_free(a); model_free(b);
    free(out); free(st);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/qbench_test_loader_XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    snprintf(base, sizeof base, "%s/base", tmp);
    /* dim 16, 4 heads (head_dim 4), 2 kv heads, untied=no: q [16,16], k/v [8,16], vocab 20 */
    ModelConfig c = {.dim = 16, .hidden_dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 20,
                     .seq_len = 32, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    char err[QB_ERRLEN];
    return model_synth_write(&c, 3, SYNTH_SAFETENSORS, base, err);
}

static int teardown(void **state) {
    (void)state;
    return t_rm_rf(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama2c_bad_headers),
        cmocka_unit_test(test_llama2c_truncated_and_lying),
        cmocka_unit_test(test_safetensors_bad_headers),
        cmocka_unit_test(test_safetensors_truncated_and_garbage),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_rope_scaling_errors),
        cmocka_unit_test(test_rope_scaling_accepted),
        cmocka_unit_test(test_sharded_loads_and_its_errors),
        cmocka_unit_test(test_f16_bf16_weights),
        cmocka_unit_test(test_mutation_fuzz),
        cmocka_unit_test(test_unaligned_data_is_copied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

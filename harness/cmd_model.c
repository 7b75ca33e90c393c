/* cmd_model.c — the model subcommands: `info` (config, parameter counts, weight hash), `synth` (a
 * seeded random Llama-shaped model in either format) and `convert` (any model → HF safetensors). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "model/model.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

static void print_info_text(const Model *m) {
    const ModelConfig *c = &m->cfg;
    printf("model             %s\n", m->path);
    printf("architecture      %s\n", c->arch);
    printf("family            %s\n", arch_family_name(c->family));
    printf("dim               %d\n", c->dim);
    printf("hidden_dim        %d\n", c->hidden_dim);
    printf("n_layers          %d\n", c->n_layers);
    printf("n_heads           %d\n", c->n_heads);
    printf("n_kv_heads        %d\n", c->n_kv_heads);
    printf("head_dim          %d\n", c->head_dim);
    printf("vocab_size        %d\n", c->vocab_size);
    printf("seq_len           %d\n", c->seq_len);
    printf("rope_theta        %g\n", (double)c->rope_theta);
    const RopeScaling *rs = &c->rope_scaling;
    if (rs->type == ROPE_SCALING_LLAMA3)
        printf("rope_scaling      llama3 (factor %g, low_freq_factor %g, high_freq_factor %g, "
               "original_max_position_embeddings %d)\n", (double)rs->factor, (double)rs->low_freq_factor,
               (double)rs->high_freq_factor, rs->original_max_position_embeddings);
    else if (rs->type == ROPE_SCALING_LINEAR)
        printf("rope_scaling      linear (factor %g)\n", (double)rs->factor);
    else
        printf("rope_scaling      none\n");
    printf("norm_eps          %g\n", (double)c->norm_eps);
    printf("tied_embeddings   %s\n", c->tied_embeddings ? "yes" : "no");
    printf("qkv_bias          %s\n", c->qkv_bias ? "yes" : "no");
    printf("bos_id            %d\n", c->bos_id);
    printf("eos_id            %d\n", c->eos_id);
    printf("linear_params     %zu\n", model_linear_params(m));
    printf("total_params      %zu\n", model_total_params(m));
    printf("sha256            %s\n", m->sha256);
    if (m->stored.format[0]) /* a checkpoint that arrived quantized: what its linear layers really cost */
        printf("stored_as         %s: %s; %.4f bits/weight over the linear layers (%zu bytes); file %zu bytes\n",
               m->stored.format, m->stored.types, m->stored.linear_bits, m->stored.linear_bytes, m->stored.file_bytes);
    /* how the linear layers are held in memory (kept as stored, or float32) */
    size_t count[QW_FORMAT_COUNT] = {0}, bytes = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const Linear *lin = &m->blocks[l].lin[k];
            if (lin->rows < 1) continue;
            count[linear_format(lin)]++;
            bytes += linear_weight_bytes(lin);
        }
    printf("in_memory         ");
    for (int f = 0, first = 1; f < QW_FORMAT_COUNT; f++)
        if (count[f]) printf("%s%s %zu", first ? "" : ", ", qweight_format_name((QWeightFormat)f), count[f]), first = 0;
    printf("; %zu bytes of linear weights\n", bytes);
}

/* checkpoint: the .qbq description to include (owned from here on), or NULL. */
static int print_info_json(const Model *m, cJSON *checkpoint) {
    const ModelConfig *c = &m->cfg;
    cJSON *j = model_config_json(c);
    char rs[256]; /* rope_scaling as config.json has it ("null" when none) */
    if (model_rope_scaling_json(&c->rope_scaling, rs, sizeof rs)) snprintf(rs, sizeof rs, "null");
    cJSON *raw = cJSON_CreateRaw(rs);
    if (j) cJSON_DeleteItemFromObject(j, "rope_scaling");
    int ok = j && raw && cJSON_AddItemToObject(j, "rope_scaling", raw);
    if (!ok) cJSON_Delete(raw); /* not owned by j */
    if (checkpoint && !(ok && cJSON_AddItemToObject(j, "checkpoint", checkpoint))) {
        cJSON_Delete(checkpoint);
        ok = 0;
    }
    ok = ok && cJSON_AddStringToObject(j, "model", m->path) &&
         cJSON_AddNumberToObject(j, "linear_params", (double)model_linear_params(m)) &&
         cJSON_AddNumberToObject(j, "total_params", (double)model_total_params(m)) &&
         cJSON_AddStringToObject(j, "sha256", m->sha256);
    if (!ok) {
        cJSON_Delete(j);
        fprintf(stderr, "qbench info: out of memory\n");
        return 2;
    }
    if (m->stored.format[0]) { /* a checkpoint that arrived quantized: what its linear layers really cost */
        cJSON *sa = cJSON_AddObjectToObject(j, "stored_as");
        if (!sa || !cJSON_AddStringToObject(sa, "format", m->stored.format) ||
            !cJSON_AddStringToObject(sa, "types", m->stored.types) ||
            !cJSON_AddNumberToObject(sa, "linear_bits_per_weight", m->stored.linear_bits) ||
            !cJSON_AddNumberToObject(sa, "linear_bytes", (double)m->stored.linear_bytes) ||
            !cJSON_AddNumberToObject(sa, "file_bytes", (double)m->stored.file_bytes)) {
            cJSON_Delete(j);
            fprintf(stderr, "qbench info: out of memory\n");
            return 2;
        }
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) { fprintf(stderr, "qbench info: out of memory\n"); return 2; }
    printf("%s\n", s);
    free(s);
    return 0;
}

/* The checkpoint half of `info` on a qbench .qbq: what was quantized, how, and from what. */
static int print_checkpoint(const char *path, int json, cJSON *into) {
    char err[QB_ERRLEN];
    char *meta = quant_checkpoint_describe(path, err);
    if (!meta) { fprintf(stderr, "qbench info: %s\n", err); return -1; }
    cJSON *j = cJSON_Parse(meta);
    free(meta);
    if (!j) { fprintf(stderr, "qbench info: %s: unreadable metadata\n", path); return -1; }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "config"); /* printed as the model's configuration */
    if (json) {
        cJSON_AddItemToObject(into, "checkpoint", j);
        return 0;
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "options"), *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version"), *bpw = cJSON_GetObjectItemCaseSensitive(j, "bits_per_weight"),
                *pb = cJSON_GetObjectItemCaseSensitive(j, "packed_bytes");
#define STR(obj, k) (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, k)) ? cJSON_GetObjectItemCaseSensitive(obj, k)->valuestring : "?")
#define NUM(obj, k) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, k)) ? cJSON_GetObjectItemCaseSensitive(obj, k)->valuedouble : NAN)
    printf("checkpoint        qbench quantized, version %g\n", cJSON_IsNumber(ver) ? ver->valuedouble : NAN);
    printf("method            %s\n", STR(o, "method"));
    printf("bits              %g\n", NUM(o, "bits"));
    double g = NUM(o, "group_size");
    if (g <= 0) printf("group_size        %g (one group per row)\n", g);
    else printf("group_size        %g\n", g);
    printf("bits_per_weight   %.4f\n", cJSON_IsNumber(bpw) ? bpw->valuedouble : NAN);
    printf("packed_bytes      %.0f\n", cJSON_IsNumber(pb) ? pb->valuedouble : NAN);
    printf("source_model      %s\n", STR(src, "path"));
    printf("source_sha256     %s\n", STR(src, "sha256"));
    printf("options          ");
    for (const cJSON *it = o ? o->child : NULL; it; it = it->next) {
        if (cJSON_IsString(it)) printf(" %s=%s", it->string, it->valuestring);
        else if (cJSON_IsBool(it)) printf(" %s=%s", it->string, cJSON_IsTrue(it) ? "true" : "false");
        else if (cJSON_IsNumber(it)) printf(" %s=%g", it->string, it->valuedouble);
    }
    printf("\n");
#undef STR
#undef NUM
    cJSON_Delete(j);
    return 0;
}

int cmd_info(int argc, char **argv) {
    const char *pos[1] = {0};
    int n_pos = 0, json = 0;
    const CliOpt opts[] = {
        {"--json", NULL, CLI_FLAG, &json, NULL, "print one JSON object instead of text", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"info", "qbench info MODEL [--json]",
                          "  MODEL: llama2.c .bin, HF directory or .safetensors, or a qbench quantized checkpoint\n"
                          "  (.qbq: method, bits, group size, bits per weight, source model and hash, options first).\n",
                          opts, CLI_N(opts), pos, 1, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!n_pos) { cli_usage(&spec, stderr); return 2; }
    const char *path = pos[0];
    int is_ckpt = quant_checkpoint_detect(path) == 1;
    char err[QB_ERRLEN];
    Model *m = quant_or_model_load(path, err);
    if (!m) { fprintf(stderr, "qbench info: %s\n", err); return 2; }
    int rc = 0;
    if (json) {
        cJSON *holder = cJSON_CreateObject(), *ck = NULL;
        if (!holder || (is_ckpt && print_checkpoint(path, 1, holder))) rc = 2;
        else {
            ck = cJSON_DetachItemFromObject(holder, "checkpoint");
            rc = print_info_json(m, ck);
        }
        cJSON_Delete(holder);
    } else {
        if (is_ckpt && print_checkpoint(path, 0, NULL)) rc = 2;
        else print_info_text(m);
    }
    model_free(m);
    return rc;
}

int cmd_synth(int argc, char **argv) {
    ModelConfig c = {.dim = 64, .hidden_dim = 172, .n_layers = 5, .n_heads = 8, .vocab_size = 512,
                     .seq_len = 512, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    const char *fmt_s = "llama2c", *out = NULL, *arch_s = "llama";
    long seed = 0, dim = 64, hidden = 172, layers = 5, heads = 8, kv_heads = 0, vocab = 512, seq_len = 512;
    int untied = 0, qkv_bias = 0;
    const CliOpt opts[] = {
        {"--arch", NULL, CLI_STR, &arch_s, "A", "model family: opt, bloom, gpt2, neox write that family's HF layout "
         "(bloom: FFN 4 x dim; neox: a quarter of each head rotated, parallel residual, untied head)", "llama", 0, 0,
         "llama|opt|bloom|gpt2|neox", NULL},
        {"--format", NULL, CLI_STR, &fmt_s, "F", "output format: llama2.c .bin or an HF safetensors directory", "llama2c", 0, 0, "llama2c|hf|safetensors", NULL},
        {"--dim", NULL, CLI_INT, &dim, "N", "model width", "64", 1, 1 << 16, NULL, NULL},
        {"--hidden", NULL, CLI_INT, &hidden, "N", "FFN width", "172", 1, 1 << 18, NULL, NULL},
        {"--layers", NULL, CLI_INT, &layers, "N", "transformer blocks", "5", 1, 1024, NULL, NULL},
        {"--heads", NULL, CLI_INT, &heads, "N", "attention heads (must divide --dim)", "8", 1, 1024, NULL, NULL},
        {"--kv-heads", NULL, CLI_INT, &kv_heads, "N", "key/value heads", "= --heads", 1, 1024, NULL, NULL},
        {"--vocab", NULL, CLI_INT, &vocab, "N", "vocabulary size", "512", 1, 1 << 22, NULL, NULL},
        {"--seq-len", NULL, CLI_INT, &seq_len, "N", "context length", "512", 1, 1 << 22, NULL, NULL},
        {"--seed", NULL, CLI_INT, &seed, "S", "weight seed", "0", 0, 1e15, NULL, NULL},
        {"--untied", NULL, CLI_FLAG, &untied, NULL, "a separate classifier matrix", "tied", 0, 0, NULL, NULL},
        {"--qkv-bias", NULL, CLI_FLAG, &qkv_bias, NULL, "biases on q, k and v (Qwen2-style)", "none", 0, 0, NULL, NULL},
        {"-o", "--out", CLI_STR, &out, "PATH", "where to write (required)", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"synth", "qbench synth [options] -o PATH",
                          "  Writes a model with seeded random weights (Llama-shaped unless --arch says otherwise).\n", opts, CLI_N(opts), NULL, 0, NULL, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!out) { fprintf(stderr, "qbench synth: -o PATH is required\n"); cli_usage(&spec, stderr); return 2; }
    SynthFormat fmt = !strcmp(fmt_s, "llama2c") ? SYNTH_LLAMA2C : SYNTH_SAFETENSORS;
    c.dim = (int)dim;
    c.hidden_dim = (int)hidden;
    c.n_layers = (int)layers;
    c.n_heads = (int)heads;
    c.n_kv_heads = (int)(kv_heads ? kv_heads : heads);
    c.vocab_size = (int)vocab;
    c.seq_len = (int)seq_len;
    c.tied_embeddings = !untied;
    c.qkv_bias = qkv_bias;
    c.family = arch_family_from_name(arch_s);
    if (c.family == ARCH_COUNT) {
        fprintf(stderr, "qbench synth: --arch must be llama, opt, bloom, gpt2 or neox, got '%s'\n", arch_s);
        return 2;
    }
    if (c.dim % c.n_heads != 0) {
        fprintf(stderr, "qbench synth: --dim %d is not a multiple of --heads %d\n", c.dim, c.n_heads);
        return 2;
    }
    if (c.family != ARCH_LLAMA) { /* the published defaults of each family */
        if (c.n_kv_heads != c.n_heads || c.qkv_bias) {
            fprintf(stderr, "qbench synth: --kv-heads and --qkv-bias are Llama options\n");
            return 2;
        }
        fmt = SYNTH_SAFETENSORS;
        c.act = c.family == ARCH_OPT ? ACT_RELU : c.family == ARCH_NEOX ? ACT_GELU : ACT_GELU_TANH;
        if (c.family == ARCH_BLOOM) c.hidden_dim = 4 * c.dim;
        if (c.family == ARCH_NEOX) {
            c.parallel_residual = 1;
            c.rotary_dims = c.dim / c.n_heads / 4 / 2 * 2; /* Pythia's rotary_pct 0.25 */
            c.tied_embeddings = 0;
        }
        snprintf(c.arch, sizeof c.arch, "%s", c.family == ARCH_OPT ? "OPTForCausalLM" : c.family == ARCH_BLOOM
                 ? "BloomForCausalLM" : c.family == ARCH_GPT2 ? "GPT2LMHeadModel" : "GPTNeoXForCausalLM");
    }
    char err[QB_ERRLEN];
    if (model_synth_write(&c, (uint64_t)seed, fmt, out, err)) { fprintf(stderr, "qbench synth: %s\n", err); return 2; }
    fprintf(stderr, "qbench synth: wrote %s\n", out);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *pos[1] = {0}, *out = NULL;
    int n_pos = 0;
    const CliOpt opts[] = {
        {"-o", "--out", CLI_STR, &out, "DIR", "output directory: config.json + model.safetensors (required)", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"convert", "qbench convert MODEL -o DIR",
                          "  Converts any model qbench reads (llama2.c .bin, HF, a .qbq dequantized) to a Hugging Face\n"
                          "  safetensors directory.\n", opts, CLI_N(opts), pos, 1, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!n_pos || !out) { cli_usage(&spec, stderr); return 2; }
    const char *in = pos[0];
    char err[QB_ERRLEN];
    Model *m = quant_or_model_load(in, err);
    if (!m) { fprintf(stderr, "qbench convert: %s\n", err); return 2; }
    int rc = model_save_safetensors(m, out, err);
    model_free(m);
    if (rc) { fprintf(stderr, "qbench convert: %s\n", err); return 2; }
    fprintf(stderr, "qbench convert: wrote %s (config.json + model.safetensors)\n", out);
    return 0;
}

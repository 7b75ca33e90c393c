/* cmd_model.c — the model subcommands: `info` (config, parameter counts, weight hash), `synth` (a
 * seeded random Llama-shaped model in either format) and `convert` (any model → HF safetensors). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "model/model.h"

static void print_info_text(const Model *m) {
    const ModelConfig *c = &m->cfg;
    printf("model             %s\n", m->path);
    printf("architecture      %s\n", c->arch);
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
}

static int print_info_json(const Model *m) {
    const ModelConfig *c = &m->cfg;
    cJSON *j = model_config_json(c);
    char rs[256]; /* rope_scaling as config.json has it ("null" when none) */
    if (model_rope_scaling_json(&c->rope_scaling, rs, sizeof rs)) snprintf(rs, sizeof rs, "null");
    cJSON *raw = cJSON_CreateRaw(rs);
    if (j) cJSON_DeleteItemFromObject(j, "rope_scaling");
    int ok = j && raw && cJSON_AddItemToObject(j, "rope_scaling", raw);
    if (!ok) cJSON_Delete(raw); /* not owned by j */
    ok = ok && cJSON_AddStringToObject(j, "model", m->path) &&
         cJSON_AddNumberToObject(j, "linear_params", (double)model_linear_params(m)) &&
         cJSON_AddNumberToObject(j, "total_params", (double)model_total_params(m)) &&
         cJSON_AddStringToObject(j, "sha256", m->sha256);
    if (!ok) {
        cJSON_Delete(j);
        fprintf(stderr, "qbench info: out of memory\n");
        return 2;
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) { fprintf(stderr, "qbench info: out of memory\n"); return 2; }
    printf("%s\n", s);
    free(s);
    return 0;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: qbench info MODEL [--json]\n");
            return 2;
        } else path = argv[i];
    }
    if (!path) { fprintf(stderr, "usage: qbench info MODEL [--json]\n"); return 2; }
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    if (!m) { fprintf(stderr, "qbench info: %s\n", err); return 2; }
    int rc = 0;
    if (json) rc = print_info_json(m);
    else print_info_text(m);
    model_free(m);
    return rc;
}

static const char *SYNTH_USAGE =
    "usage: qbench synth [--format llama2c|hf] [--dim N] [--hidden N] [--layers N] [--heads N]\n"
    "                    [--kv-heads N] [--vocab N] [--seq-len N] [--seed N] [--untied] [--qkv-bias] -o PATH\n"
    "  defaults: llama2c, dim 64, hidden 172, layers 5, heads 8, kv-heads = heads, vocab 512, seq-len 512, seed 0\n";

int cmd_synth(int argc, char **argv) {
    ModelConfig c = {.dim = 64, .hidden_dim = 172, .n_layers = 5, .n_heads = 8, .vocab_size = 512,
                     .seq_len = 512, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    SynthFormat fmt = SYNTH_LLAMA2C;
    const char *out = NULL;
    long seed = 0, v;
    struct { const char *flag; int *dst; long hi; } ints[] = {
        {"--dim", &c.dim, 1 << 16}, {"--hidden", &c.hidden_dim, 1 << 18}, {"--layers", &c.n_layers, 1024},
        {"--heads", &c.n_heads, 1024}, {"--kv-heads", &c.n_kv_heads, 1024},
        {"--vocab", &c.vocab_size, 1 << 22}, {"--seq-len", &c.seq_len, 1 << 22}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int done = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            if (!strcmp(a, ints[k].flag)) {
                if (cli_parse_long("synth", a, val, 1, ints[k].hi, &v)) return 2;
                *ints[k].dst = (int)v;
                i++;
                done = 1;
            }
        if (done) continue;
        if (!strcmp(a, "--seed")) {
            if (cli_parse_long("synth", a, val, 0, LONG_MAX, &seed)) return 2;
            i++;
        } else if (!strcmp(a, "--format") && val) {
            if (!strcmp(val, "llama2c")) fmt = SYNTH_LLAMA2C;
            else if (!strcmp(val, "hf") || !strcmp(val, "safetensors")) fmt = SYNTH_SAFETENSORS;
            else { fprintf(stderr, "qbench synth: --format must be llama2c or hf, got '%s'\n", val); return 2; }
            i++;
        } else if (!strcmp(a, "-o") && val) {
            out = val;
            i++;
        } else if (!strcmp(a, "--untied")) c.tied_embeddings = 0;
        else if (!strcmp(a, "--qkv-bias")) c.qkv_bias = 1;
        else { fprintf(stderr, "qbench synth: unknown argument '%s'\n%s", a, SYNTH_USAGE); return 2; }
    }
    if (!out) { fprintf(stderr, "%s", SYNTH_USAGE); return 2; }
    if (c.n_kv_heads == 0) c.n_kv_heads = c.n_heads;
    if (c.dim % c.n_heads != 0) {
        fprintf(stderr, "qbench synth: --dim %d is not a multiple of --heads %d\n", c.dim, c.n_heads);
        return 2;
    }
    char err[QB_ERRLEN];
    if (model_synth_write(&c, (uint64_t)seed, fmt, out, err)) { fprintf(stderr, "qbench synth: %s\n", err); return 2; }
    fprintf(stderr, "qbench synth: wrote %s\n", out);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] != '-' && !in) in = argv[i];
        else { fprintf(stderr, "usage: qbench convert MODEL -o DIR\n"); return 2; }
    }
    if (!in || !out) { fprintf(stderr, "usage: qbench convert MODEL -o DIR\n"); return 2; }
    char err[QB_ERRLEN];
    Model *m = model_load(in, err);
    if (!m) { fprintf(stderr, "qbench convert: %s\n", err); return 2; }
    int rc = model_save_safetensors(m, out, err);
    model_free(m);
    if (rc) { fprintf(stderr, "qbench convert: %s\n", err); return 2; }
    fprintf(stderr, "qbench convert: wrote %s (config.json + model.safetensors)\n", out);
    return 0;
}

/* cmd_eval.c — `qbench ppl` (perplexity of a model on a text file, in gptq / llamacpp / stride mode)
 * and `qbench generate` (continue a prompt, greedy or sampled). Results go to stdout (text or --json),
 * progress and timings to stderr. Exit status 0 on success, 2 on a usage error or a failure to run. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cJSON.h>

#include "datasets/datasets.h"
#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/progress.h"
#include "harness/provenance.h"
#include "metrics/ppl.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Loads the model and its tokenizer (given, or found beside the model). Prints the error. */
int load_model_and_tokenizer(const char *cmd, const char *model_path, const char *tok_path, int no_prepend,
                             Model **m, Tokenizer **t, char *tok_used, size_t tok_len) {
    char err[QB_ERRLEN];
    *m = quant_or_model_load(model_path, err); /* a qbench quantized checkpoint or any model */
    if (!*m) { fprintf(stderr, "qbench %s: %s\n", cmd, err); return -1; }
    if (tok_path) {
        snprintf(tok_used, tok_len, "%s", tok_path);
    } else if (tokenizer_find_for_model(model_path, tok_used, tok_len)) {
        fprintf(stderr, "qbench %s: no tokenizer found beside %s (looked for tokenizer.json, tokenizer.bin, tok*.bin); "
                        "give one with --tokenizer\n", cmd, model_path);
        model_free(*m);
        return -1;
    }
    *t = tokenizer_load(tok_used, (*m)->cfg.vocab_size, err);
    if (!*t) {
        fprintf(stderr, "qbench %s: %s\n", cmd, err);
        model_free(*m);
        return -1;
    }
    if (no_prepend) tokenizer_set_prepend_space(*t, 0);
    return 0;
}

int cmd_ppl(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *data = NULL, *mode_s = "gptq";
    long seqlen = 0, stride = 0, max_windows = 0, threads = 0;
    int json = 0, quiet = 0, no_prepend = 0, have_stride = 0;
    PplOptions o = {.mode = PPL_GPTQ};
    const CliOpt opts[] = {
        {"--model", NULL, CLI_STR, &model_path, "M", "llama2.c .bin, HF or AutoGPTQ directory, .safetensors, .gguf or .qbq (required)", NULL, 0, 0, NULL, NULL},
        {"--tokenizer", NULL, CLI_STR, &tok_path, "T", "tokenizer.bin / tokenizer.json / .gguf", "found beside the model; a .gguf is its own", 0, 0, NULL, NULL},
        {"--data", NULL, CLI_STR, &data, "DATA", "text to score: a dataset name (wikitext2-test, ptb-test, tinystories-valid, ...) "
         "or a path (.txt as is, .jsonl \"text\" fields) (required)", NULL, 0, 0, NULL, NULL},
        {"--seqlen", NULL, CLI_INT, &seqlen, "N", "window length (the context c of llamacpp mode) (required)", NULL, 2, 1 << 20, NULL, NULL},
        {"--mode", NULL, CLI_STR, &mode_s, "M", "window scheme", "gptq", 0, 0, "gptq|llamacpp|stride", NULL},
        {"--stride", NULL, CLI_INT, &stride, "S", "stride mode: step between windows", "seqlen/2", 1, 1 << 20, NULL, &have_stride},
        {"--max-windows", NULL, CLI_INT, &max_windows, "K", "score only the first K windows", "all", 1, 1L << 30, NULL, NULL},
        {"--no-prepend-space", NULL, CLI_FLAG, &no_prepend, NULL, "do not add the tokenizer's leading space (in the signature)", NULL, 0, 0, NULL, NULL},
        {"--threads", NULL, CLI_INT, &threads, "N", "threads", "all cores", 1, 4096, NULL, NULL},
        {"--json", NULL, CLI_FLAG, &json, NULL, "results as one JSON object", NULL, 0, 0, NULL, NULL},
        {"--quiet", NULL, CLI_FLAG, &quiet, NULL, "no progress on stderr", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"ppl", "qbench ppl --model M --data DATA --seqlen N [options]",
                          "  Perplexity of a model on a text (gptq, llamacpp or stride windows).\n", opts, CLI_N(opts), NULL, 0,
                          NULL, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!model_path || !data || !seqlen) {
        fprintf(stderr, "qbench ppl: --model, --data and --seqlen are required\n");
        cli_usage(&spec, stderr);
        return 2;
    }
    ppl_mode_parse(mode_s, &o.mode); /* the table checked the choice */
    if (have_stride && o.mode != PPL_STRIDE) {
        fprintf(stderr, "qbench ppl: --stride only applies to --mode stride\n");
        return 2;
    }
    o.seqlen = (int)seqlen;
    o.stride = o.mode == PPL_STRIDE ? (int)(have_stride ? stride : (seqlen / 2 > 0 ? seqlen / 2 : 1)) : 0;
    o.max_windows = (int)max_windows;
    int nthreads = qb_set_threads((int)threads);

    char err[QB_ERRLEN], tok_used[2048];
    TextDataset td; /* a dataset name or a path, as --calib takes */
    if (dataset_load_text(data, &td, err)) { fprintf(stderr, "qbench ppl: %s\n", err); return 2; }
    char *text = td.text;
    size_t len = td.len;
    Model *m;
    Tokenizer *t;
    if (load_model_and_tokenizer("ppl", model_path, tok_path, no_prepend, &m, &t, tok_used, sizeof tok_used)) {
        dataset_text_free(&td);
        return 2;
    }
    if (o.seqlen > m->cfg.seq_len) { /* the experiment validator's rule and words */
        fprintf(stderr, "qbench ppl: --seqlen: %d is above the model's context %d (%s)\n", o.seqlen, m->cfg.seq_len,
                model_path);
        tokenizer_free(t);
        model_free(m);
        free(text);
        return 2;
    }
    Progress pr;
    progress_init(&pr, "ppl", 0, "tok", quiet);
    o.progress = progress_callback;
    o.progress_ctx = &pr;
    PplStats st = {0};
    double t0 = now_s();
    int rc = ppl_eval_text(m, t, text, len, &o, &st, err);
    double secs = now_s() - t0;
    if (rc) {
        if (pr.drawn) fputc('\n', stderr);
        fprintf(stderr, "qbench ppl: %s: %s\n", data, err);
    } else {
        progress_finish(&pr);
    }
    char sig[512];
    char vtag[96];
    qb_version_tag(vtag, sizeof vtag);
    /* data: the source file's hash, as a sweep records it, so both print one signature */
    ppl_signature(&o, tok_used, tokenizer_prepend_space(t), td.sha256, sig, sizeof sig - strlen(vtag) - 2);
    snprintf(sig + strlen(sig), sizeof sig - strlen(sig), "|%s", vtag); /* the build, on what prints only */
    long run_tokens = st.n_windows * (long)o.seqlen; /* window tokens through the model (stride: an upper bound) */
    double tps = secs > 0 ? (double)run_tokens / secs : 0;
    if (rc == 0 && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", m->path);
        cJSON_AddStringToObject(j, "model_sha256", m->sha256);
        cJSON_AddStringToObject(j, "tokenizer", tok_used);
        cJSON_AddStringToObject(j, "data", data);
        cJSON_AddStringToObject(j, "data_source", td.source);
        cJSON_AddNumberToObject(j, "data_bytes", (double)len);
        cJSON_AddStringToObject(j, "mode", ppl_mode_name(o.mode));
        cJSON_AddNumberToObject(j, "seqlen", o.seqlen);
        if (o.mode == PPL_STRIDE) cJSON_AddNumberToObject(j, "stride", o.stride);
        cJSON_AddNumberToObject(j, "max_windows", o.max_windows);
        cJSON_AddBoolToObject(j, "prepend_space", tokenizer_prepend_space(t));
        cJSON_AddNumberToObject(j, "text_tokens", (double)st.n_text_tokens);
        cJSON_AddNumberToObject(j, "windows", (double)st.n_windows);
        cJSON_AddNumberToObject(j, "scored_tokens", (double)st.n_scored);
        cJSON_AddNumberToObject(j, "mean_nll", ppl_mean_nll(&st));
        cJSON_AddNumberToObject(j, "ppl", ppl_value(&st));
        cJSON_AddNumberToObject(j, "ppl_stderr", ppl_stderr(&st));
        cJSON_AddNumberToObject(j, "bits_per_byte", ppl_bits_per_byte(&st));
        cJSON_AddNumberToObject(j, "scored_bytes", st.n_bytes);
        cJSON_AddNumberToObject(j, "threads", nthreads);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddNumberToObject(j, "tokens_per_second", tps);
        cJSON_AddStringToObject(j, "signature", sig);
        char *s = cJSON_Print(j);
        cJSON_Delete(j);
        if (s) printf("%s\n", s);
        else rc = -1;
        free(s);
    } else if (rc == 0) {
        printf("model        %s\n", m->path);
        printf("tokenizer    %s\n", tok_used);
        if (strcmp(data, td.source)) printf("data         %s: %s (%zu bytes)\n", data, td.source, len);
        else printf("data         %s (%zu bytes)\n", data, len);
        printf("tokens       %ld (%ld windows, %ld scored)\n", st.n_text_tokens, st.n_windows, st.n_scored);
        printf("mean NLL     %.6f\n", ppl_mean_nll(&st));
        printf("ppl          %.4f +/- %.5f\n", ppl_value(&st), ppl_stderr(&st));
        printf("bits/byte    %.4f\n", ppl_bits_per_byte(&st));
        printf("time         %.2f s (%.0f tok/s, %d threads)\n", secs, tps, nthreads);
        printf("signature    %s\n", sig);
    }
    tokenizer_free(t);
    model_free(m);
    dataset_text_free(&td);
    return rc ? 2 : 0;
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *prompt = "";
    long max_new = 256, top_k = 0, threads = 0, seed = 0;
    double temperature = 0, top_p = 1;
    int json = 0, quiet = 0, no_prepend = 0;
    const CliOpt opts[] = {
        {"--model", NULL, CLI_STR, &model_path, "M", "llama2.c .bin, HF or AutoGPTQ directory, .safetensors, .gguf or .qbq (required)", NULL, 0, 0, NULL, NULL},
        {"--tokenizer", NULL, CLI_STR, &tok_path, "T", "tokenizer.bin / tokenizer.json / .gguf", "found beside the model; a .gguf is its own", 0, 0, NULL, NULL},
        {"--prompt", NULL, CLI_STR, &prompt, "TEXT", "text to continue; empty = start from BOS alone", "empty", 0, 0, NULL, NULL},
        {"--max-new-tokens", NULL, CLI_INT, &max_new, "N", "stops earlier at EOS or the model's context", "256", 0, 1 << 24, NULL, NULL},
        {"--temperature", NULL, CLI_NUM, &temperature, "T", "0 = greedy", "0", 0, 100, NULL, NULL},
        {"--top-k", NULL, CLI_INT, &top_k, "K", "0 = off", "0", 0, 1 << 30, NULL, NULL},
        {"--top-p", NULL, CLI_NUM, &top_p, "P", "1 = off", "1", 1e-9, 1, NULL, NULL},
        {"--seed", NULL, CLI_INT, &seed, "S", "sampling seed", "0", 0, 1e15, NULL, NULL},
        {"--no-prepend-space", NULL, CLI_FLAG, &no_prepend, NULL, "do not add the tokenizer's leading space to the prompt", NULL, 0, 0, NULL, NULL},
        {"--threads", NULL, CLI_INT, &threads, "N", "threads", "all cores", 1, 4096, NULL, NULL},
        {"--json", NULL, CLI_FLAG, &json, NULL, "prompt, text, ids and settings as one JSON object", NULL, 0, 0, NULL, NULL},
        {"--quiet", NULL, CLI_FLAG, &quiet, NULL, "no timing line on stderr", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"generate", "qbench generate --model M [--prompt TEXT] [options]",
                          "  Continues a prompt, greedy or sampled.\n", opts, CLI_N(opts), NULL, 0, NULL, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!model_path) {
        fprintf(stderr, "qbench generate: --model is required\n");
        cli_usage(&spec, stderr);
        return 2;
    }
    qb_set_threads((int)threads);
    Model *m;
    Tokenizer *t;
    char err[QB_ERRLEN], tok_used[2048];
    if (load_model_and_tokenizer("generate", model_path, tok_path, no_prepend, &m, &t, tok_used, sizeof tok_used)) return 2;
    int rc = 2, *ids = NULL, n = 0, *out = NULL, n_out = 0;
    /* The prompt is tokenized with BOS first; an empty prompt is BOS alone (as run.c starts). */
    if (tokenizer_encode(t, prompt, strlen(prompt), 1, &ids, &n, err)) {
        fprintf(stderr, "qbench generate: %s\n", err);
        goto done;
    }
    if (n == 0) {
        fprintf(stderr, "qbench generate: the prompt is empty and %s has no BOS token to start from\n", tok_used);
        goto done;
    }
    out = malloc(((size_t)max_new + 1) * sizeof *out);
    if (!out) { fprintf(stderr, "qbench generate: out of memory\n"); goto done; }
    GenerateOptions go = {.max_new_tokens = (int)max_new, .temperature = (float)temperature, .top_k = (int)top_k,
                          .top_p = (float)top_p, .seed = (uint64_t)seed, .stop_at_eos = 1};
    double t0 = now_s();
    if (max_new > 0 && model_generate(m, ids, n, &go, out, &n_out, err)) {
        fprintf(stderr, "qbench generate: %s\n", err);
        goto done;
    }
    double secs = now_s() - t0;
    /* The continuation, piece by piece after its true predecessor (so the space after BOS goes). */
    size_t cap = 0, len = 0;
    char *text = NULL;
    if (qb_grow((void **)&text, &cap, 256, 1)) { fprintf(stderr, "qbench generate: out of memory\n"); goto done; }
    int prev = ids[n - 1];
    for (int i = 0; i < n_out; i++) {
        size_t pl;
        const char *p = tokenizer_piece(t, prev, out[i], &pl);
        if (qb_grow((void **)&text, &cap, len + pl + 1, 1)) { free(text); fprintf(stderr, "qbench generate: out of memory\n"); goto done; }
        memcpy(text + len, p, pl);
        len += pl;
        prev = out[i];
    }
    text[len] = 0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", m->path);
        cJSON_AddStringToObject(j, "model_sha256", m->sha256);
        cJSON_AddStringToObject(j, "tokenizer", tok_used);
        cJSON_AddStringToObject(j, "prompt", prompt);
        cJSON_AddStringToObject(j, "text", text); /* cJSON escapes; a NUL byte from a <0x00> token ends it */
        cJSON_AddItemToObject(j, "prompt_ids", cJSON_CreateIntArray(ids, n));
        cJSON_AddItemToObject(j, "ids", cJSON_CreateIntArray(out, n_out));
        cJSON_AddNumberToObject(j, "max_new_tokens", (double)max_new);
        cJSON_AddNumberToObject(j, "temperature", temperature);
        cJSON_AddNumberToObject(j, "top_k", (double)top_k);
        cJSON_AddNumberToObject(j, "top_p", top_p);
        cJSON_AddNumberToObject(j, "seed", (double)seed);
        cJSON_AddBoolToObject(j, "prepend_space", tokenizer_prepend_space(t));
        cJSON_AddNumberToObject(j, "seconds", secs);
        char *s = cJSON_Print(j);
        cJSON_Delete(j);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        fwrite(prompt, 1, strlen(prompt), stdout);
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        if (!quiet)
            fprintf(stderr, "[%d prompt + %d new tokens in %.2f s, %.0f tok/s]\n", n, n_out, secs,
                    secs > 0 ? n_out / secs : 0);
    }
    free(text);
    rc = 0;
done:
    free(ids);
    free(out);
    tokenizer_free(t);
    model_free(m);
    return rc;
}

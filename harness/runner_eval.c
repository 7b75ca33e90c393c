/* runner_eval.c — the evaluations a sweep point gets: perplexity and agreement (top-1, KL) through
 * metrics/ppl.h on text tokenized once per run, and greedy generations. Definitions in runner.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/runner.h"

/* ---- tokenizing evaluation text -------------------------------------------------------------- */

int eval_tokenize(const Tokenizer *t, const char *text, size_t len, PplMode mode, EvalTokens *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (mode == PPL_LLAMACPP && len > 0 && text[len - 1] == '\n') len--; /* as ppl_eval_text / llama.cpp */
    int n;
    if (tokenizer_encode(t, text, len, 1, &out->ids, &n, err)) return -1;
    out->n = n;
    out->bos = tokenizer_bos(t);
    out->bytes = malloc(((size_t)n + 1) * sizeof *out->bytes);
    if (!out->bytes) { eval_tokens_free(out); snprintf(err, QB_ERRLEN, "eval: out of memory"); return -1; }
    for (int i = 0; i < n; i++) {
        size_t l;
        tokenizer_piece(t, i ? out->ids[i - 1] : (out->bos >= 0 ? out->bos : -1), out->ids[i], &l);
        out->bytes[i] = (float)l;
    }
    return 0;
}

void eval_tokens_free(EvalTokens *t) {
    free(t->ids);
    free(t->bytes);
    memset(t, 0, sizeof *t);
}

static PplOptions ppl_options(const PplEval *pe) {
    return (PplOptions){.mode = pe->mode, .seqlen = pe->seqlen, .stride = pe->stride, .max_windows = pe->max_windows};
}

int eval_perplexity(const Model *m, const EvalTokens *tk, const PplEval *pe, PplStats *st, char **stats_json,
                    char err[QB_ERRLEN]) {
    memset(st, 0, sizeof *st);
    PplOptions o = ppl_options(pe);
    if (!stats_json) return ppl_eval_tokens(m, tk->ids, tk->n, tk->bos, tk->bytes, &o, st, err);
    *stats_json = NULL;
    PplWindow *w = NULL;
    long nw = 0;
    if (ppl_plan(&o, tk->n, &w, &nw, err)) return -1;
    double *wn = malloc(((size_t)nw + 1) * sizeof *wn);
    size_t cap = 256 + (size_t)nw * 40, len = 0;
    char *out = malloc(cap);
    int rc = -1;
    if (!wn || !out) { snprintf(err, QB_ERRLEN, "ppl: out of memory"); goto done; }
    o.window_nll = wn;
    if (ppl_eval_tokens(m, tk->ids, tk->n, tk->bos, tk->bytes, &o, st, err)) goto done;
    len += (size_t)snprintf(out + len, cap - len,
                            "{\"n_scored\":%ld,\"n_windows\":%ld,\"sum_nll\":%.17g,\"sum_nll2\":%.17g,\"n_bytes\":%.17g,"
                            "\"win_nll\":[", st->n_scored, st->n_windows, st->sum_nll, st->sum_nll2, st->n_bytes);
    for (long i = 0; i < nw; i++) len += (size_t)snprintf(out + len, cap - len, "%s%.17g", i ? "," : "", wn[i]);
    len += (size_t)snprintf(out + len, cap - len, "],\"win_n\":[");
    for (long i = 0; i < nw; i++) len += (size_t)snprintf(out + len, cap - len, "%s%d", i ? "," : "", w[i].len - w[i].first_target);
    snprintf(out + len, cap - len, "]}");
    *stats_json = out;
    out = NULL;
    rc = 0;
done:
    free(out);
    free(wn);
    free(w);
    return rc;
}

/* ---- agreement --------------------------------------------------------------------------------- */

int eval_agreement(const Model *base, const Model *quant, const EvalTokens *tk, const AgreeEval *ae,
                   AgreementStats *st, char err[QB_ERRLEN]) {
    memset(st, 0, sizeof *st);
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = ae->seqlen, .max_windows = ae->windows};
    return agreement_eval_tokens(base, quant, tk->ids, tk->n, tk->bos, &o, st, err);
}

/* ---- generation ------------------------------------------------------------------------------- */

int eval_generate(const Model *m, const Tokenizer *t, const char *const *prompts, int n, int max_new_tokens,
                  char **outs, char err[QB_ERRLEN]) {
    for (int i = 0; i < n; i++) outs[i] = NULL;
    int *gen = malloc((size_t)max_new_tokens * sizeof *gen);
    if (!gen) { snprintf(err, QB_ERRLEN, "generate: out of memory"); return -1; }
    GenerateOptions go = {.max_new_tokens = max_new_tokens, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 0,
                          .stop_at_eos = 1};
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int *ids = NULL, np = 0, nout = 0;
        if (tokenizer_encode(t, prompts[i], strlen(prompts[i]), 1, &ids, &np, err)) { rc = -1; break; }
        /* keep the prompt's end when it would not leave room for the continuation */
        int room = m->cfg.seq_len - max_new_tokens;
        int skip = np > room ? np - room : 0;
        if (room < 1) { free(ids); snprintf(err, QB_ERRLEN, "generate: max_new_tokens %d leaves no room for a prompt", max_new_tokens); rc = -1; break; }
        if (model_generate(m, ids + skip, np - skip, &go, gen, &nout, err)) rc = -1;
        free(ids);
        if (!rc) {
            outs[i] = tokenizer_decode(t, gen, nout);
            if (!outs[i]) { snprintf(err, QB_ERRLEN, "generate: out of memory"); rc = -1; }
        }
    }
    free(gen);
    if (rc)
        for (int i = 0; i < n; i++) { free(outs[i]); outs[i] = NULL; }
    return rc;
}

/* ---- signatures -------------------------------------------------------------------------------- */

void eval_ppl_signature(const PplEval *pe, const char *tok_name, int prepend_space, const char *data_sha, char *out,
                        size_t outlen) {
    PplOptions o = ppl_options(pe);
    ppl_signature(&o, tok_name, prepend_space, data_sha, out, outlen);
}

void eval_agree_signature(const AgreeEval *ae, const char *tok_name, int prepend_space, const char *data_sha, char *out,
                          size_t outlen) {
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = ae->seqlen, .max_windows = ae->windows};
    char ppl[400];
    ppl_signature(&o, tok_name, prepend_space, data_sha, ppl, sizeof ppl);
    /* the same windows and positions as that perplexity, KL(base ‖ quant) */
    snprintf(out, outlen, "metric:agreement|v:%d|kl:base-quant|%s", AGREEMENT_ALGORITHM_VERSION,
             ppl + strlen("metric:ppl|v:1|"));
}

void eval_gen_signature(const GenEval *ge, const char *data_sha, char *out, size_t outlen) {
    snprintf(out, outlen, "gen:greedy|prompts:%d|max_new:%d|stop:eos|data:%.12s", ge->prompts, ge->max_new_tokens, data_sha);
}

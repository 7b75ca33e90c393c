/* ppl.c — perplexity: the window plans of the three modes (gptq, llamacpp, stride; see ppl.h), the
 * per-window work run by the window driver (windows.c), per-token NLL computed the way llama.cpp does
 * (float max, double sum of expf), and the statistics that merge by addition. The per-row NLLs of a
 * window may be computed in parallel but are summed in position order, so the result does not depend
 * on the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/ppl.h"
#include "metrics/ppl_internal.h"

const char *ppl_mode_name(PplMode m) {
    switch (m) {
    case PPL_GPTQ: return "gptq";
    case PPL_LLAMACPP: return "llamacpp";
    case PPL_STRIDE: return "stride";
    }
    return "?";
}

int ppl_mode_parse(const char *s, PplMode *m) {
    if (!s) return -1;
    if (!strcmp(s, "gptq")) *m = PPL_GPTQ;
    else if (!strcmp(s, "llamacpp")) *m = PPL_LLAMACPP;
    else if (!strcmp(s, "stride")) *m = PPL_STRIDE;
    else return -1;
    return 0;
}

int ppl_plan(const PplOptions *o, long n, PplWindow **out, long *nw, char err[QB_ERRLEN]) {
    *out = NULL;
    *nw = 0;
    int c = o->seqlen;
    if (c < 2) { snprintf(err, QB_ERRLEN, "ppl: seqlen %d is too small (need at least 2)", c); return -1; }
    if (o->mode == PPL_LLAMACPP && c < 4) { snprintf(err, QB_ERRLEN, "ppl: llamacpp mode needs a context of at least 4, not %d", c); return -1; }
    if (o->mode == PPL_STRIDE && o->stride < 1) { snprintf(err, QB_ERRLEN, "ppl: stride mode needs --stride >= 1, not %d", o->stride); return -1; }
    if (o->mode != PPL_GPTQ && o->mode != PPL_LLAMACPP && o->mode != PPL_STRIDE) { snprintf(err, QB_ERRLEN, "ppl: unknown mode %d", (int)o->mode); return -1; }
    if (o->max_windows < 0) { snprintf(err, QB_ERRLEN, "ppl: max_windows %d is negative", o->max_windows); return -1; }
    long count;
    if (o->mode == PPL_STRIDE) {
        count = 0;
        for (long b = 0; b < n; b += o->stride) { /* the guide's loop, counted first */
            count++;
            if (b + c >= n) break;
        }
        if (n < 2) count = 0;
    } else {
        count = n / c;
    }
    if (count == 0) {
        snprintf(err, QB_ERRLEN, "ppl: the text has %ld tokens, too few for one %s window of %d", n, ppl_mode_name(o->mode), c);
        return -1;
    }
    if (o->max_windows > 0 && count > o->max_windows) count = o->max_windows;
    PplWindow *w = malloc((size_t)count * sizeof *w);
    if (!w) { snprintf(err, QB_ERRLEN, "ppl: out of memory"); return -1; }
    long prev_end = 0;
    for (long i = 0; i < count; i++) {
        if (o->mode == PPL_GPTQ) {
            w[i] = (PplWindow){i * c, c, 1, 0};
        } else if (o->mode == PPL_LLAMACPP) {
            w[i] = (PplWindow){i * c, c, c / 2 + 1, 1}; /* logits c/2 .. c-2 predict tokens c/2+1 .. c-1 */
        } else {
            long begin = i * (long)o->stride, end = begin + c < n ? begin + c : n;
            long trg = end - prev_end; /* may be more than stride on the first window, less on the last */
            int len = (int)(end - begin);
            int first = len - trg < 1 ? 1 : (int)(len - trg);
            w[i] = (PplWindow){begin, len, first, 0};
            prev_end = end;
        }
    }
    *out = w;
    *nw = count;
    return 0;
}

double ppl_token_nll(const float *logits, int vocab, int target) {
    float mx = logits[0];
    for (int i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) sum += expf(logits[i] - mx);
    return -((double)(logits[target] - mx) - log(sum));
}

/* Perplexity's per-window work: each scored target's NLL from the logits one position before it,
 * summed in position order into the window's slot. */
typedef struct {
    const int *tokens;
    const float *token_bytes;
    int V;
    double *wsum; /* (nw, 3): Σnll, Σnll², bytes */
} PplCtx;

static void ppl_window(void *ctx, long i, const PplWindow *wi, const float *const *logits, double *row,
                       int rows_parallel) {
    const PplCtx *p = ctx;
    const int V = p->V, *tgt = p->tokens + wi->start;
    #pragma omp parallel for schedule(static) if (rows_parallel)
    for (int j = wi->first_target; j < wi->len; j++) row[j] = ppl_token_nll(logits[0] + (size_t)(j - 1) * V, V, tgt[j]);
    double s1 = 0, s2 = 0, b = 0;
    for (int j = wi->first_target; j < wi->len; j++) {
        s1 += row[j];
        s2 += row[j] * row[j];
        if (p->token_bytes) b += p->token_bytes[wi->start + j];
    }
    p->wsum[3 * i] = s1; p->wsum[3 * i + 1] = s2; p->wsum[3 * i + 2] = b;
}

int ppl_eval_tokens(const Model *m, const int *tokens, long n, int bos, const float *token_bytes,
                    const PplOptions *o, PplStats *st, char err[QB_ERRLEN]) {
    PplWindow *w;
    long nw;
    if (ppl_plan_checked(o, tokens, n, bos, m->cfg.vocab_size, "ppl", &w, &nw, err)) return -1;
    PplCtx p = {tokens, token_bytes, m->cfg.vocab_size, calloc((size_t)nw * 3, sizeof *p.wsum)};
    int rc = -1;
    if (!p.wsum) snprintf(err, QB_ERRLEN, "ppl: out of memory");
    else rc = ppl_run_windows(&m, 1, tokens, bos, w, nw, o, "ppl", ppl_window, &p, err);
    if (rc == 0) { /* per-window sums added in window order: the same bits for any thread count */
        PplStats acc = {0};
        for (long i = 0; i < nw; i++) {
            acc.sum_nll += p.wsum[3 * i];
            acc.sum_nll2 += p.wsum[3 * i + 1];
            acc.n_bytes += p.wsum[3 * i + 2];
            acc.n_scored += w[i].len - w[i].first_target;
            if (o->window_nll) o->window_nll[i] = p.wsum[3 * i];
        }
        acc.n_windows = nw;
        acc.n_text_tokens = n;
        ppl_stats_merge(st, &acc);
    }
    free(p.wsum);
    free(w);
    return rc;
}

int ppl_eval_text(const Model *m, const Tokenizer *t, const char *text, size_t len, const PplOptions *o,
                  PplStats *st, char err[QB_ERRLEN]) {
    if (o->mode == PPL_LLAMACPP && len > 0 && text[len - 1] == '\n') len--; /* as llama.cpp's -f does */
    int *ids, n;
    if (tokenizer_encode(t, text, len, 1, &ids, &n, err)) return -1;
    float *bytes = malloc(((size_t)n + 1) * sizeof *bytes);
    if (!bytes) {
        free(ids);
        snprintf(err, QB_ERRLEN, "ppl: out of memory");
        return -1;
    }
    int bos = tokenizer_bos(t);
    for (int i = 0; i < n; i++) {
        size_t l;
        tokenizer_piece(t, i ? ids[i - 1] : (bos >= 0 ? bos : -1), ids[i], &l);
        bytes[i] = (float)l;
    }
    int rc = ppl_eval_tokens(m, ids, n, bos, bytes, o, st, err);
    free(bytes);
    free(ids);
    return rc;
}

void ppl_stats_merge(PplStats *into, const PplStats *from) {
    into->n_text_tokens += from->n_text_tokens;
    into->n_windows += from->n_windows;
    into->n_scored += from->n_scored;
    into->sum_nll += from->sum_nll;
    into->sum_nll2 += from->sum_nll2;
    into->n_bytes += from->n_bytes;
}

double ppl_mean_nll(const PplStats *s) { return s->n_scored ? s->sum_nll / (double)s->n_scored : NAN; }

double ppl_value(const PplStats *s) { return exp(ppl_mean_nll(s)); }

double ppl_stderr(const PplStats *s) {
    if (s->n_scored < 2) return NAN;
    double mean = ppl_mean_nll(s), var = s->sum_nll2 / (double)s->n_scored - mean * mean;
    if (var < 0) var = 0; /* rounding */
    return exp(mean) * sqrt(var / (double)(s->n_scored - 1));
}

double ppl_bits_per_byte(const PplStats *s) { return s->n_bytes > 0 ? s->sum_nll / log(2.0) / s->n_bytes : NAN; }

void ppl_signature(const PplOptions *o, const char *tokenizer_name, int prepend_space, const char *data_sha256,
                   char *out, size_t outlen) {
    char mode[96], win[32] = "", data[32] = "";
    if (o->mode == PPL_LLAMACPP)
        snprintf(mode, sizeof mode, "mode:llamacpp|ctx:%d|scored:%d-%d|bos:overwrite", o->seqlen, o->seqlen / 2, o->seqlen - 2);
    else if (o->mode == PPL_STRIDE)
        snprintf(mode, sizeof mode, "mode:stride|seqlen:%d|stride:%d", o->seqlen, o->stride);
    else
        snprintf(mode, sizeof mode, "mode:gptq|seqlen:%d", o->seqlen);
    if (o->max_windows > 0) snprintf(win, sizeof win, "|windows:%d", o->max_windows);
    if (data_sha256 && *data_sha256) snprintf(data, sizeof data, "|data:%.12s", data_sha256);
    const char *base = tokenizer_name ? strrchr(tokenizer_name, '/') : NULL;
    base = base ? base + 1 : tokenizer_name;
    char tok[128];
    snprintf(tok, sizeof tok, "%.120s", base ? base : "?");
    for (char *c = tok; *c; c++) /* a value never holds the separators */
        if (*c == '|' || *c == ':') *c = '_';
    snprintf(out, outlen, "metric:ppl|v:%d|%s%s|tok:%s|prepend:%s%s", PPL_ALGORITHM_VERSION, mode, win, tok,
             prepend_space ? "yes" : "no", data);
}

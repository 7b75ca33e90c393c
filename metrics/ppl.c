/* ppl.c — perplexity: the window plans of the three modes (gptq, llamacpp, stride; see ppl.h), one
 * batched model_forward per window, per-token NLL computed the way llama.cpp does (float max,
 * double sum of expf), and the statistics that merge by addition. The per-row NLLs of a window are
 * computed in parallel but summed in position order, so the result does not depend on the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>

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

void ppl_worker_free(PplWorker *k) {
    model_state_free(k->s);
    free(k->logits);
    free(k->win);
}

int ppl_worker_init(PplWorker *k, const Model *m, int c) {
    k->s = model_state_new(m, c, c);
    k->logits = malloc((size_t)c * (size_t)m->cfg.vocab_size * sizeof *k->logits);
    k->win = malloc((size_t)c * sizeof *k->win);
    return k->s && k->logits && k->win ? 0 : -1;
}

/* A small model's window is far too little work to split across threads (fork/join per layer costs
 * more than it saves: 2 threads were 2x slower than 1 on stories260K), so whole windows go to
 * threads, each running the model single-threaded. One window at a time, with the model's own
 * threading, when there are few windows or the logits would not fit. */
int ppl_outer_threads(const Model *m, int c, long nw, int copies) {
    int t = omp_get_max_threads();
    if (t > nw) t = (int)nw;
    if ((double)c * m->cfg.vocab_size * sizeof(float) * copies > 256e6) t = 1;
    return t < 1 ? 1 : t;
}

/* ppl_plan, plus the checks every window consumer needs: each token inside the vocabulary [0, V),
 * and a BOS inside it where llamacpp mode overwrites each chunk's first token. */
int ppl_plan_checked(const PplOptions *o, const int *tokens, long n, int bos, int V, const char *what,
                     PplWindow **w, long *nw, char err[QB_ERRLEN]) {
    if (ppl_plan(o, n, w, nw, err)) return -1;
    for (long i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V) {
            snprintf(err, QB_ERRLEN, "%s: token %d at index %ld is outside the model's vocabulary [0, %d)", what, tokens[i], i, V);
            free(*w);
            *w = NULL;
            return -1;
        }
    if (o->mode == PPL_LLAMACPP && (bos < 0 || bos >= V)) {
        snprintf(err, QB_ERRLEN, "%s: llamacpp mode needs a BOS token, and the tokenizer has %s", what,
                 bos < 0 ? "none" : "one outside the vocabulary");
        free(*w);
        *w = NULL;
        return -1;
    }
    return 0;
}

int ppl_eval_tokens(const Model *m, const int *tokens, long n, int bos, const float *token_bytes,
                    const PplOptions *o, PplStats *st, char err[QB_ERRLEN]) {
    const int V = m->cfg.vocab_size;
    PplWindow *w;
    long nw;
    if (ppl_plan_checked(o, tokens, n, bos, V, "ppl", &w, &nw, err)) return -1;
    const int c = o->seqlen, T = ppl_outer_threads(m, c, nw, 1);
    /* per-window sums, added in window order at the end: the same bits for any thread count */
    double *wsum = calloc((size_t)nw * 3, sizeof *wsum);
    PplWorker *wk = calloc((size_t)T, sizeof *wk);
    double *nll = malloc((size_t)c * (size_t)T * sizeof *nll);
    int rc = wsum && wk && nll ? 0 : -1;
    for (int i = 0; i < T && rc == 0; i++) rc = ppl_worker_init(&wk[i], m, c);
    if (rc) snprintf(err, QB_ERRLEN, "ppl: out of memory for %d window(s) of %d", T, c);
    long total = 0, done = 0;
    for (long i = 0; i < nw; i++) total += w[i].len;
    int failed = rc;
    /* OpenBLAS single-threaded for the whole region (set here, before the workers start, so no
     * worker's model_forward changes it under another) */
    int blas_saved = openblas_get_num_threads();
    if (T > 1) openblas_set_num_threads(1);
    #pragma omp parallel num_threads(T) if (T > 1 && rc == 0)
    {
        int id = omp_get_thread_num();
        PplWorker *k = &wk[id];
        double *row = nll + (size_t)c * id;
        #pragma omp for schedule(dynamic, 1)
        for (long i = 0; i < nw; i++) {
            int bad;
            #pragma omp atomic read
            bad = failed;
            if (bad) continue;
            const PplWindow *wi = &w[i];
            memcpy(k->win, tokens + wi->start, (size_t)wi->len * sizeof *k->win);
            if (wi->bos_first) k->win[0] = bos;
            char e2[QB_ERRLEN];
            if (model_forward(m, k->s, k->win, wi->len, 0, k->logits, e2)) {
                #pragma omp critical(ppl_err)
                {
                    if (!failed) memcpy(err, e2, QB_ERRLEN);
                    failed = 1;
                }
                continue;
            }
            const int *tgt = tokens + wi->start;
            /* rows in parallel only when windows are not (T == 1 means no enclosing team) */
            #pragma omp parallel for schedule(static) if (T == 1)
            for (int j = wi->first_target; j < wi->len; j++) row[j] = ppl_token_nll(k->logits + (size_t)(j - 1) * V, V, tgt[j]);
            double s1 = 0, s2 = 0, b = 0;
            for (int j = wi->first_target; j < wi->len; j++) {
                s1 += row[j];
                s2 += row[j] * row[j];
                if (token_bytes) b += token_bytes[wi->start + j];
            }
            wsum[3 * i] = s1; wsum[3 * i + 1] = s2; wsum[3 * i + 2] = b;
            #pragma omp critical(ppl_progress)
            {
                done += wi->len;
                if (o->progress) o->progress(o->progress_ctx, done, total);
            }
        }
    }
    if (T > 1) openblas_set_num_threads(blas_saved);
    rc = failed ? -1 : 0;
    if (rc == 0) {
        PplStats acc = {0};
        for (long i = 0; i < nw; i++) {
            acc.sum_nll += wsum[3 * i];
            acc.sum_nll2 += wsum[3 * i + 1];
            acc.n_bytes += wsum[3 * i + 2];
            acc.n_scored += w[i].len - w[i].first_target;
            if (o->window_nll) o->window_nll[i] = wsum[3 * i];
        }
        acc.n_windows = nw;
        acc.n_text_tokens = n;
        ppl_stats_merge(st, &acc);
    }
    for (int i = 0; wk && i < T; i++) ppl_worker_free(&wk[i]);
    free(wk);
    free(nll);
    free(wsum);
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

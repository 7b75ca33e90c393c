/* loglik.c — lm-eval's loglikelihood requests on qbench's forward pass (see loglik.h): encoding
 * (_encode_pair), left truncation to the window, one prefill of the prefix an item's requests
 * share, per-token log-probabilities and the greedy check, items in parallel. */
#include <math.h>
#include <omp.h>
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/loglik.h"
#include "metrics/ppl.h"
#include "metrics/pystr.h"

int loglik_uses_bos(const LoglikOptions *o, const Tokenizer *t) {
    if (tokenizer_bos(t) < 0) return 0;
    return o->bos < 0 ? 1 : o->bos != 0;
}

/* Bytes of Python whitespace at the end of s[0..n) (str.rstrip()). */
static size_t trailing_space(const char *s, size_t n) {
    size_t k = n;
    while (k > 0) {
        size_t j = k - 1; /* start of the last code point */
        while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80 && k - j < 4) j--;
        uint32_t cp;
        if (utf8_decode(s + j, k - j, &cp, NULL) != 1 || !py_isspace(cp)) break;
        k = j;
    }
    return n - k;
}

int loglik_encode_pair(const Tokenizer *t, int bos, const char *ctx, const char *cont, int **ctx_ids, int *n_ctx,
                       int **cont_ids, int *n_cont, char err[QB_ERRLEN]) {
    *ctx_ids = *cont_ids = NULL;
    *n_ctx = *n_cont = 0;
    size_t lc = strlen(ctx), lt = strlen(cont);
    size_t sp = trailing_space(ctx, lc);
    lc -= sp; /* the context's trailing whitespace starts the continuation; ctx+cont is unchanged */
    if (lc + sp == 0) { /* lm-eval: context "" → context_enc = [prefix_token_id] (BOS, else EOS), continuation alone */
        int pre = tokenizer_bos(t) >= 0 ? tokenizer_bos(t) : tokenizer_eos(t);
        if (pre < 0) { snprintf(err, QB_ERRLEN, "loglik: empty context and the tokenizer has neither BOS nor EOS"); return -1; }
        *ctx_ids = malloc(sizeof(int));
        if (!*ctx_ids) { snprintf(err, QB_ERRLEN, "loglik: out of memory"); return -1; }
        (*ctx_ids)[0] = pre;
        *n_ctx = 1;
        if (tokenizer_encode(t, cont, lt, 0, cont_ids, n_cont, err)) goto fail;
        return 0;
    }
    char *whole = malloc(lc + sp + lt + 1);
    if (!whole) { snprintf(err, QB_ERRLEN, "loglik: out of memory"); return -1; }
    memcpy(whole, ctx, lc + sp);
    memcpy(whole + lc + sp, cont, lt + 1);
    int *w = NULL, nw = 0;
    int rc = tokenizer_encode(t, whole, lc + sp + lt, bos, &w, &nw, err);
    free(whole);
    if (rc) return -1;
    if (tokenizer_encode(t, ctx, lc, bos, ctx_ids, n_ctx, err)) { free(w); return -1; }
    int k = *n_ctx < nw ? *n_ctx : nw; /* whole[len(ctx):] */
    *n_cont = nw - k;
    *cont_ids = malloc((size_t)(*n_cont > 0 ? *n_cont : 1) * sizeof(int));
    if (!*cont_ids) { free(w); snprintf(err, QB_ERRLEN, "loglik: out of memory"); goto fail; }
    memcpy(*cont_ids, w + k, (size_t)*n_cont * sizeof(int));
    free(w);
    return 0;
fail:
    free(*ctx_ids);
    free(*cont_ids);
    *ctx_ids = *cont_ids = NULL;
    return -1;
}

/* The divergence rule (LoglikTask.from_divergence): context = whole[:d], continuation = whole[d:],
 * d = the longest common prefix of enc(context) and enc(context + continuation). */
static int encode_divergent(const Tokenizer *t, int bos, const char *ctx, const char *cont, int **c, int *nc, int **o,
                            int *no, char err[QB_ERRLEN]) {
    size_t lc = strlen(ctx), lt = strlen(cont);
    char *whole = malloc(lc + lt + 1);
    int *w = NULL, *e = NULL, nw = 0, ne = 0;
    if (!whole) { snprintf(err, QB_ERRLEN, "loglik: out of memory"); return -1; }
    memcpy(whole, ctx, lc);
    memcpy(whole + lc, cont, lt + 1);
    size_t sp = trailing_space(ctx, lc);
    int rc = tokenizer_encode(t, whole, lc + lt, bos, &w, &nw, err);
    if (!rc) rc = tokenizer_encode(t, ctx, lc - sp, bos, &e, &ne, err);
    free(whole);
    if (rc) { free(w); return -1; }
    int d = 0;
    while (d < ne && d < nw && e[d] == w[d]) d++;
    free(e);
    *c = malloc((size_t)(d > 0 ? d : 1) * sizeof(int));
    *o = malloc((size_t)(nw - d > 0 ? nw - d : 1) * sizeof(int));
    if (!*c || !*o) { free(*c); free(*o); free(w); snprintf(err, QB_ERRLEN, "loglik: out of memory"); return -1; }
    memcpy(*c, w, (size_t)d * sizeof(int));
    memcpy(*o, w + d, (size_t)(nw - d) * sizeof(int));
    *nc = d;
    *no = nw - d;
    free(w);
    return 0;
}

/* ---- one request as token ids: the model reads full[0..n-1); tokens full[first..n) are scored --- */

typedef struct {
    int *full;
    int n, first;
} Req;

/* Builds an item's requests as token sequences (lm-eval's or llama.cpp's rule). */
static int item_requests(const Tokenizer *t, int bos, int max_len, const LoglikTask *task, const LoglikItem *it, int idx,
                         Req *rq, long *cont_cut, long *cont_empty, char err[QB_ERRLEN]) {
    for (int r = 0; r < it->n; r++) rq[r] = (Req){0};
    if (task->kind == LL_LLAMACPP_HS) {
        for (int r = 0; r < it->n; r++) {
            size_t a = strlen(it->ctx[r]), b = strlen(it->cont[r]);
            char *s = malloc(a + b + 1);
            if (!s) { snprintf(err, QB_ERRLEN, "loglik: out of memory"); return -1; }
            memcpy(s, it->ctx[r], a);
            memcpy(s + a, it->cont[r], b + 1);
            int rc = tokenizer_encode(t, s, a + b, bos, &rq[r].full, &rq[r].n, err);
            free(s);
            if (rc) return -1;
        }
        int cp = 0; /* common prefix of all sequences (llama.cpp's common_prefix) */
        for (;; cp++) {
            int same = cp < rq[0].n;
            for (int r = 1; r < it->n && same; r++) same = cp < rq[r].n && rq[r].full[cp] == rq[0].full[cp];
            if (!same) break;
        }
        for (int r = 0; r < it->n; r++) {
            if (cp < 1 || cp >= rq[r].n) {
                snprintf(err, QB_ERRLEN, "item %d: ending %d has no tokens after the common prefix (or no prefix)", idx, r);
                return -1;
            }
            if (rq[r].n - 1 > max_len) {
                snprintf(err, QB_ERRLEN, "item %d: %d tokens do not fit the window of %d", idx, rq[r].n, max_len);
                return -1;
            }
            rq[r].first = cp;
        }
        return 0;
    }
    for (int r = 0; r < it->n; r++) {
        int *c, *o, nc, no;
        if (task->from_divergence ? encode_divergent(t, bos, it->ctx[r], it->cont[r], &c, &nc, &o, &no, err)
                                  : loglik_encode_pair(t, bos, it->ctx[r], it->cont[r], &c, &nc, &o, &no, err))
            return -1;
        if (no == 0) { /* the context's tokens swallowed it: lm-eval scores ll 0, greedy (empty sums) */
            free(c);
            free(o);
            (*cont_empty)++;
            continue;
        }
        /* (ctx + cont)[-(max_len+1):]; the model reads all but the last token */
        int total = nc + no, start = total > max_len + 1 ? total - (max_len + 1) : 0;
        rq[r].n = total - start;
        rq[r].full = malloc((size_t)rq[r].n * sizeof(int));
        if (!rq[r].full) { free(c); free(o); snprintf(err, QB_ERRLEN, "loglik: out of memory"); return -1; }
        for (int k = start; k < total; k++) rq[r].full[k - start] = k < nc ? c[k] : o[k - nc];
        rq[r].first = rq[r].n - no;
        if (rq[r].first < 1 && nc + no > max_len + 1) { /* lm-eval fails here; we score the last max_len tokens */
            rq[r].first = 1;
            (*cont_cut)++;
        }
        free(c);
        if (rq[r].first < 1) {
            free(o);
            snprintf(err, QB_ERRLEN, "item %d, request %d: no token precedes the continuation", idx, r);
            return -1;
        }
        free(o);
    }
    return 0;
}

/* Scratch of one worker thread. */
typedef struct {
    ModelState *st;
    float *logits;    /* max_batch x vocab */
    int *cached;      /* tokens whose K/V are in the cache at positions 0..n_cached-1 */
    int n_cached;
} Worker;

/* Scores one request, reusing the cached prefix; results into *ll, *greedy, *ntok. */
static int score_request(const Model *m, Worker *w, int max_batch, const Req *q, double *ll, unsigned char *greedy,
                         long *run, char err[QB_ERRLEN]) {
    if (q->n == 0) { /* an empty continuation: nothing to run (the cache is left as it is) */
        *ll = 0;
        *greedy = 1;
        return 0;
    }
    int V = m->cfg.vocab_size, T = q->n - 1, P = q->first - 1; /* inputs 0..T-1; rows P..T-1 score */
    int c = 0;
    while (c < w->n_cached && c < T && w->cached[c] == q->full[c]) c++;
    int s = c < P ? c : P;
    double sum = 0;
    int all = 1;
    for (int a = s; a < T; a += max_batch) {
        int b = a + max_batch < T ? a + max_batch : T;
        int want = b > P;
        if (model_forward(m, w->st, q->full + a, b - a, a, want ? w->logits : NULL, err)) return -1;
        *run += b - a;
        if (!want) continue;
        for (int p = a > P ? a : P; p < b; p++) {
            const float *row = w->logits + (size_t)(p - a) * V;
            int tgt = q->full[p + 1];
            sum -= ppl_token_nll(row, V, tgt);
            int arg = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[arg]) arg = v;
            all &= arg == tgt;
        }
    }
    memcpy(w->cached, q->full, (size_t)T * sizeof(int));
    w->n_cached = T;
    *ll = sum;
    *greedy = (unsigned char)all;
    return 0;
}

void loglik_scores_free(TaskScores *sc) {
    free(sc->ll);
    free(sc->ntok);
    free(sc->greedy);
    free(sc->n_req);
    free(sc->pred);
    free(sc->pred_norm);
    free(sc->correct);
    free(sc->correct_norm);
    memset(sc, 0, sizeof *sc);
}

/* first index of the maximum (numpy's argmax); NaN never wins */
static int argmax_d(const double *v, int n) {
    int a = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[a] || (isnan(v[a]) && !isnan(v[i]))) a = i;
    return a;
}

void loglik_decide(const LoglikTask *task, TaskScores *sc) {
    for (int i = 0; i < sc->n_items; i++) {
        const LoglikItem *it = &task->items[i];
        const double *ll = sc->ll + (size_t)i * sc->max_req;
        const int *nt = sc->ntok + (size_t)i * sc->max_req;
        double v[256];
        int n = it->n < 256 ? it->n : 256;
        int pred, pn;
        switch (task->kind) {
        case LL_GREEDY:
            sc->pred[i] = sc->pred_norm[i] = 0;
            sc->correct[i] = sc->correct_norm[i] = sc->greedy[(size_t)i * sc->max_req];
            continue;
        case LL_LLAMACPP_HS:
            for (int r = 0; r < n; r++) v[r] = nt[r] > 0 ? ll[r] / nt[r] : -INFINITY;
            pred = pn = argmax_d(v, n);
            break;
        default:
            pred = argmax_d(ll, n);
            pn = pred;
            if (task->has_acc_norm) {
                for (int r = 0; r < n; r++) /* numpy: x / 0 = -inf for x < 0 */
                    v[r] = it->choice_chars[r] > 0 ? ll[r] / (double)it->choice_chars[r] : (ll[r] < 0 ? -INFINITY : INFINITY);
                pn = argmax_d(v, n);
            }
        }
        sc->pred[i] = pred;
        sc->pred_norm[i] = pn;
        sc->correct[i] = pred == it->gold;
        sc->correct_norm[i] = pn == it->gold;
    }
}

int loglik_eval_task(const Model *m, const Tokenizer *t, const LoglikTask *task, const LoglikOptions *o, TaskScores *sc,
                     char err[QB_ERRLEN]) {
    memset(sc, 0, sizeof *sc);
    int n = task->n, R = 1;
    for (int i = 0; i < n; i++) {
        if (task->items[i].n < 1 || task->items[i].n > 256) { snprintf(err, QB_ERRLEN, "item %d: %d requests (1..256)", i, task->items[i].n); return -1; }
        if (task->items[i].n > R) R = task->items[i].n;
    }
    int max_len = o->max_length > 0 ? o->max_length : m->cfg.seq_len;
    if (max_len > m->cfg.seq_len) max_len = m->cfg.seq_len;
    int B = o->max_batch > 0 ? o->max_batch : 256;
    if (B > max_len) B = max_len;
    int bos = loglik_uses_bos(o, t);
    size_t nr = (size_t)n * R;
    sc->n_items = n;
    sc->max_req = R;
    sc->ll = calloc(nr + 1, sizeof *sc->ll);
    sc->ntok = calloc(nr + 1, sizeof *sc->ntok);
    sc->greedy = calloc(nr + 1, 1);
    sc->n_req = calloc((size_t)n + 1, sizeof *sc->n_req);
    sc->pred = calloc((size_t)n + 1, sizeof *sc->pred);
    sc->pred_norm = calloc((size_t)n + 1, sizeof *sc->pred_norm);
    sc->correct = calloc((size_t)n + 1, 1);
    sc->correct_norm = calloc((size_t)n + 1, 1);
    if (!sc->ll || !sc->ntok || !sc->greedy || !sc->n_req || !sc->pred || !sc->pred_norm || !sc->correct ||
        !sc->correct_norm) {
        loglik_scores_free(sc);
        snprintf(err, QB_ERRLEN, "loglik: out of memory");
        return -1;
    }
    int failed = 0;
    long done = 0, run_total = 0, cut_total = 0, empty_total = 0;
    char ferr[QB_ERRLEN] = "";
    /* one BLAS thread inside the workers: each item is computed by one thread (thread-count invariance) */
    int saved_blas = openblas_get_num_threads();
    if (saved_blas != 1) openblas_set_num_threads(1);
#pragma omp parallel
    {
        char werr[QB_ERRLEN] = "";
        Worker w = {0};
        Req *rq = calloc((size_t)R, sizeof *rq);
        w.st = model_state_new(m, max_len, B);
        w.logits = malloc((size_t)B * m->cfg.vocab_size * sizeof(float));
        w.cached = malloc((size_t)(max_len + 1) * sizeof(int));
        long run = 0, cut = 0, empty = 0;
        int ok = rq && w.st && w.logits && w.cached;
        if (!ok) {
#pragma omp critical(loglik_err)
            if (!failed) { failed = 1; snprintf(ferr, QB_ERRLEN, "loglik: out of memory for a worker"); }
        }
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (!ok || stop) continue;
            const LoglikItem *it = &task->items[i];
            int rc = item_requests(t, bos, max_len, task, it, i, rq, &cut, &empty, werr);
            w.n_cached = 0; /* every item starts from an empty cache */
            for (int r = 0; rc == 0 && r < it->n; r++) {
                size_t k = (size_t)i * R + r;
                if (o->no_prefix_reuse) w.n_cached = 0;
                rc = score_request(m, &w, B, &rq[r], &sc->ll[k], &sc->greedy[k], &run, werr);
                sc->ntok[k] = rq[r].n ? rq[r].n - rq[r].first : 0;
            }
            for (int r = 0; r < it->n; r++) { free(rq[r].full); rq[r].full = NULL; }
            sc->n_req[i] = it->n;
            if (rc) {
#pragma omp critical(loglik_err)
                if (!failed) { failed = 1; snprintf(ferr, QB_ERRLEN, "%s", werr); }
                continue;
            }
#pragma omp critical(loglik_progress)
            {
                done++;
                if (o->progress) o->progress(o->progress_ctx, done, n);
            }
        }
#pragma omp atomic
        run_total += run;
#pragma omp atomic
        cut_total += cut;
#pragma omp atomic
        empty_total += empty;
        free(rq);
        free(w.logits);
        free(w.cached);
        model_state_free(w.st);
    }
    if (saved_blas != 1) openblas_set_num_threads(saved_blas);
    if (failed) {
        snprintf(err, QB_ERRLEN, "%s", ferr);
        loglik_scores_free(sc);
        return -1;
    }
    sc->tokens_run = run_total;
    sc->cont_truncated = cut_total;
    sc->cont_empty = empty_total;
    loglik_decide(task, sc);
    return 0;
}

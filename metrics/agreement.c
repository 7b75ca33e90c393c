/* agreement.c — how closely a candidate (quantized) model follows a base model on the same token
 * windows: the fraction of positions where their top-1 next tokens agree, and the mean
 * KL(p_base ‖ p_cand) in nats, over the windows perplexity scores (run by the window driver,
 * windows.c). Statistics are sums, so shards merge by addition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/ppl.h"
#include "metrics/ppl_internal.h"

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static double logsumexp(const float *v, int n) {
    double mx = v[argmax(v, n)], s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)v[i] - mx);
    return mx + log(s);
}

double agreement_kl(const float *base, const float *cand, int vocab) {
    double lb = logsumexp(base, vocab), lc = logsumexp(cand, vocab), kl = 0.0;
    for (int i = 0; i < vocab; i++) {
        double lp = (double)base[i] - lb, lq = (double)cand[i] - lc;
        kl += exp(lp) * (lp - lq);
    }
    return kl > 0 ? kl : 0.0; /* exact KL is >= 0; clamp rounding noise */
}

void agreement_add_logits(AgreementStats *st, const float *base, const float *cand, int n, int vocab) {
    for (int r = 0; r < n; r++) {
        const float *b = base + (size_t)r * vocab, *c = cand + (size_t)r * vocab;
        st->top1_agree += argmax(b, vocab) == argmax(c, vocab);
        double kl = agreement_kl(b, c, vocab);
        st->kl_sum += kl;
        st->kl_sum2 += kl * kl;
        st->n++;
    }
}

void agreement_merge(AgreementStats *into, const AgreementStats *from) {
    /* per-position values survive only when both sides have all of theirs */
    if ((into->kl_tok || into->n == 0) && from->kl_tok && from->n > 0) {
        double *g = realloc(into->kl_tok, (size_t)(into->n + from->n) * sizeof *g);
        if (g) memcpy(g + into->n, from->kl_tok, (size_t)from->n * sizeof *g);
        into->kl_tok = g;
    } else if (from->n > 0) {
        free(into->kl_tok);
        into->kl_tok = NULL;
    }
    if ((into->top1_tok || into->n == 0) && from->top1_tok && from->n > 0) {
        unsigned char *g = realloc(into->top1_tok, (size_t)(into->n + from->n));
        if (g) memcpy(g + into->n, from->top1_tok, (size_t)from->n);
        into->top1_tok = g;
    } else if (from->n > 0) {
        free(into->top1_tok);
        into->top1_tok = NULL;
    }
    into->n += from->n;
    into->top1_agree += from->top1_agree;
    into->kl_sum += from->kl_sum;
    into->kl_sum2 += from->kl_sum2;
}

void agreement_stats_free(AgreementStats *st) {
    free(st->kl_tok);
    st->kl_tok = NULL;
    free(st->top1_tok);
    st->top1_tok = NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double fraction) {
    if (fraction <= 0) return sorted[0];
    if (fraction >= 1) return sorted[n - 1];
    double p = fraction * (double)(n - 1);
    long ip = (long)p;
    p -= (double)ip;
    return (1 - p) * sorted[ip] + p * sorted[ip + 1 < n ? ip + 1 : n - 1];
}

void agreement_summary(const AgreementStats *st, AgreementSummary *out) {
    out->n = st->n;
    out->kl_median = out->kl_p90 = out->kl_p95 = out->kl_p99 = out->kl_max = NAN;
    if (st->n < 1) {
        out->kl_mean = out->kl_se = out->same_top = out->same_top_se = NAN;
        return;
    }
    const double n = (double)st->n;
    out->kl_mean = st->kl_sum / n;
    out->kl_se = st->n > 1 ? sqrt(fmax(0.0, st->kl_sum2 / n - out->kl_mean * out->kl_mean) / (n - 1)) : 0.0;
    out->same_top = (double)st->top1_agree / n;
    out->same_top_se = st->n > 1 ? sqrt(out->same_top * (1 - out->same_top) / (n - 1)) : 0.0;
    double *v = st->kl_tok ? malloc((size_t)st->n * sizeof *v) : NULL;
    if (!v) return;
    memcpy(v, st->kl_tok, (size_t)st->n * sizeof *v);
    qsort(v, (size_t)st->n, sizeof *v, cmp_double);
    out->kl_median = percentile(v, st->n, 0.5);
    out->kl_p90 = percentile(v, st->n, 0.90);
    out->kl_p95 = percentile(v, st->n, 0.95);
    out->kl_p99 = percentile(v, st->n, 0.99);
    out->kl_max = v[st->n - 1];
    free(v);
}

double agreement_top1(const AgreementStats *st) { return st->n ? (double)st->top1_agree / (double)st->n : NAN; }
double agreement_kl_mean(const AgreementStats *st) { return st->n ? st->kl_sum / (double)st->n : NAN; }

/* Agreement's per-window work: KL and top-1 at the window's scored positions (logits rows
 * first_target-1 .. len-2), summed into the window's slot; per-position KL at its place among all. */
typedef struct {
    int V;
    const long *off; /* each window's first position among all */
    double *wkl, *tok;
    long *wagree;
    unsigned char *agree_tok; /* per-position top-1 agreement */
} AgreementCtx;

static void agreement_window(void *ctx, long i, const PplWindow *w, const float *const *logits, double *row,
                             int rows_parallel) {
    const AgreementCtx *a = ctx;
    const int V = a->V, f = w->first_target - 1, k = w->len - w->first_target;
    const float *lb = logits[0], *lc = logits[1];
    #pragma omp parallel for schedule(static) if (rows_parallel)
    for (int r = 0; r < k; r++) row[r] = agreement_kl(lb + (size_t)(f + r) * V, lc + (size_t)(f + r) * V, V);
    double s = 0;
    long agree = 0;
    for (int r = 0; r < k; r++) {
        s += row[r];
        a->tok[a->off[i] + r] = row[r];
        int same = argmax(lb + (size_t)(f + r) * V, V) == argmax(lc + (size_t)(f + r) * V, V);
        a->agree_tok[a->off[i] + r] = (unsigned char)same;
        agree += same;
    }
    a->wkl[i] = s;
    a->wagree[i] = agree;
}

int agreement_eval_tokens(const Model *base, const Model *cand, const int *tokens, long n, int bos,
                          const PplOptions *o, AgreementStats *st, char err[QB_ERRLEN]) {
    const int V = base->cfg.vocab_size;
    if (cand->cfg.vocab_size != V) {
        snprintf(err, QB_ERRLEN, "agreement: vocabularies differ (%d vs %d)", V, cand->cfg.vocab_size);
        return -1;
    }
    PplWindow *w;
    long nw;
    if (ppl_plan_checked(o, tokens, n, bos, V, "agreement", &w, &nw, err)) return -1;
    long *off = malloc(((size_t)nw + 1) * sizeof *off);
    if (off) {
        off[0] = 0;
        for (long i = 0; i < nw; i++) off[i + 1] = off[i] + (w[i].len - w[i].first_target);
    }
    AgreementCtx a = {V, off, calloc((size_t)nw, sizeof *a.wkl), off ? malloc(((size_t)off[nw] + 1) * sizeof *a.tok) : NULL,
                      calloc((size_t)nw, sizeof *a.wagree), off ? malloc((size_t)off[nw] + 1) : NULL};
    const Model *models[2] = {base, cand};
    int rc = -1;
    if (!(a.wkl && a.tok && a.wagree && a.agree_tok)) snprintf(err, QB_ERRLEN, "agreement: out of memory");
    else rc = ppl_run_windows(models, 2, tokens, bos, w, nw, o, "agreement", agreement_window, &a, err);
    if (rc == 0) {
        /* sums in position order: the same bits for any thread count */
        AgreementStats acc = {0};
        for (long i = 0; i < nw; i++) {
            acc.kl_sum += a.wkl[i];
            acc.top1_agree += a.wagree[i];
            acc.n += w[i].len - w[i].first_target;
        }
        for (long j = 0; j < acc.n; j++) acc.kl_sum2 += a.tok[j] * a.tok[j];
        acc.kl_tok = a.tok;
        acc.top1_tok = a.agree_tok;
        agreement_merge(st, &acc);
    }
    free(a.wkl); free(a.wagree); free(a.tok); free(a.agree_tok); free(off); free(w);
    return rc;
}

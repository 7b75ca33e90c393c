/* agreement.c — how closely a candidate (quantized) model follows a base model on the same token
 * windows: the fraction of positions where their top-1 next tokens agree, and the mean
 * KL(p_base ‖ p_cand) in nats. Statistics are sums, so shards merge by addition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/ppl.h"

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
        st->kl_sum += agreement_kl(b, c, vocab);
        st->n++;
    }
}

void agreement_merge(AgreementStats *into, const AgreementStats *from) {
    into->n += from->n;
    into->top1_agree += from->top1_agree;
    into->kl_sum += from->kl_sum;
}

double agreement_top1(const AgreementStats *st) { return st->n ? (double)st->top1_agree / (double)st->n : NAN; }
double agreement_kl_mean(const AgreementStats *st) { return st->n ? st->kl_sum / (double)st->n : NAN; }

int agreement_eval_tokens(const Model *base, const Model *cand, const int *tokens, long n, int bos,
                          const PplOptions *o, AgreementStats *st, char err[QB_ERRLEN]) {
    const int V = base->cfg.vocab_size;
    if (cand->cfg.vocab_size != V) {
        snprintf(err, QB_ERRLEN, "agreement: vocabularies differ (%d vs %d)", V, cand->cfg.vocab_size);
        return -1;
    }
    PplWindow *w;
    long nw;
    if (ppl_plan(o, n, &w, &nw, err)) return -1;
    if (o->mode == PPL_LLAMACPP && (bos < 0 || bos >= V)) {
        snprintf(err, QB_ERRLEN, "agreement: llamacpp mode needs a BOS token inside the vocabulary");
        free(w);
        return -1;
    }
    int c = o->seqlen, rc = 0;
    ModelState *sb = model_state_new(base, c, c), *sc = model_state_new(cand, c, c);
    float *lb = malloc((size_t)c * (size_t)V * sizeof *lb), *lc = malloc((size_t)c * (size_t)V * sizeof *lc);
    int *win = malloc((size_t)c * sizeof *win);
    double *kl = malloc((size_t)c * sizeof *kl);
    if (!sb || !sc || !lb || !lc || !win || !kl) {
        snprintf(err, QB_ERRLEN, "agreement: out of memory for a window of %d", c);
        rc = -1;
    }
    long total = 0, done = 0;
    for (long i = 0; i < nw; i++) total += 2L * w[i].len;
    AgreementStats acc = {0};
    for (long i = 0; i < nw && rc == 0; i++) {
        memcpy(win, tokens + w[i].start, (size_t)w[i].len * sizeof *win);
        if (w[i].bos_first) win[0] = bos;
        if (model_forward(base, sb, win, w[i].len, 0, lb, err) || model_forward(cand, sc, win, w[i].len, 0, lc, err)) {
            rc = -1;
            break;
        }
        int f = w[i].first_target - 1, k = w[i].len - w[i].first_target; /* rows f .. len-2 */
        #pragma omp parallel for schedule(static)
        for (int r = 0; r < k; r++) kl[r] = agreement_kl(lb + (size_t)(f + r) * V, lc + (size_t)(f + r) * V, V);
        for (int r = 0; r < k; r++) { /* summed in order: same bits for any thread count */
            acc.kl_sum += kl[r];
            acc.top1_agree += argmax(lb + (size_t)(f + r) * V, V) == argmax(lc + (size_t)(f + r) * V, V);
        }
        acc.n += k;
        done += 2L * w[i].len;
        if (o->progress) o->progress(o->progress_ctx, done, total);
    }
    if (rc == 0) agreement_merge(st, &acc);
    model_state_free(sb);
    model_state_free(sc);
    free(lb); free(lc); free(win); free(kl); free(w);
    return rc;
}

/* generate.c — continues a prompt: one batched prefill, then one-token decode steps from the KV cache.
 * Greedy (temperature 0) or sampling with temperature, top-k and top-p from a seeded QbRng, so the same
 * seed gives the same text. Stops at EOS (not written to out), the token budget or the context end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

typedef struct { float p; int id; } Cand;

/* descending probability; ties by id so the order (and the sample) never depends on qsort */
static int by_prob(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static int sample(const float *logits, int V, const GenerateOptions *o, QbRng *rng, Cand *c) {
    if (o->temperature <= 0.0f) return argmax(logits, V);
    float mx = logits[argmax(logits, V)];
    double total = 0.0;
    for (int i = 0; i < V; i++) {
        c[i].p = expf((logits[i] - mx) / o->temperature);
        c[i].id = i;
        total += c[i].p;
    }
    int keep = V;
    int nucleus = o->top_p > 0.0f && o->top_p < 1.0f; /* 0 (a zeroed struct) and 1 both mean off */
    int filter = (o->top_k > 0 && o->top_k < V) || nucleus;
    if (filter) {
        qsort(c, (size_t)V, sizeof *c, by_prob);
        if (o->top_k > 0 && o->top_k < V) keep = o->top_k;
        double mass = 0.0;
        for (int i = 0; i < keep; i++) mass += c[i].p;
        if (nucleus) { /* smallest prefix whose share of the kept mass reaches top_p */
            double cum = 0.0;
            for (int i = 0; i < keep; i++) {
                cum += c[i].p;
                if (cum >= o->top_p * mass) { keep = i + 1; break; }
            }
        }
        total = 0.0;
        for (int i = 0; i < keep; i++) total += c[i].p;
    }
    double r = qb_rng_uniform(rng) * total, cum = 0.0;
    for (int i = 0; i < keep; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[keep - 1].id; /* rounding: r landed on the upper edge */
}

int model_generate(const Model *m, const int *prompt, int n_prompt, const GenerateOptions *opt, int *out,
                   int *n_out, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    *n_out = 0;
    if (n_prompt < 1 || n_prompt > c->seq_len) {
        snprintf(err, QB_ERRLEN, "%.300s: prompt of %d tokens (need 1 .. seq_len %d)", m->path, n_prompt, c->seq_len);
        return -1;
    }
    if (opt->max_new_tokens < 0 || !(opt->temperature >= 0.0f) || opt->top_k < 0 ||
        !(opt->top_p >= 0.0f && opt->top_p <= 1.0f)) {
        snprintf(err, QB_ERRLEN, "generate: bad options (max_new_tokens %d >= 0, temperature %g >= 0, "
                 "top_k %d >= 0, top_p %g in [0, 1])", opt->max_new_tokens, (double)opt->temperature,
                 opt->top_k, (double)opt->top_p);
        return -1;
    }
    if (opt->max_new_tokens == 0) return 0;
    long want = (long)n_prompt + opt->max_new_tokens;
    int total = want < c->seq_len ? (int)want : c->seq_len; /* positions the cache must hold */
    ModelState *s = model_state_new(m, total, n_prompt);
    float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    Cand *cand = malloc((size_t)c->vocab_size * sizeof *cand);
    int rc = -1;
    if (!s || !logits || !cand) { snprintf(err, QB_ERRLEN, "%.300s: out of memory for generation", m->path); goto out; }
    QbRng rng;
    qb_rng_seed(&rng, opt->seed);
    /* prefill: the prompt minus its last token fills the cache; the last one gives the first logits */
    if (n_prompt > 1 && model_forward(m, s, prompt, n_prompt - 1, 0, NULL, err)) goto out;
    if (model_forward(m, s, prompt + n_prompt - 1, 1, n_prompt - 1, logits, err)) goto out;
    for (int pos = n_prompt;; pos++) {
        int next = sample(logits, c->vocab_size, opt, &rng, cand);
        if (opt->stop_at_eos && c->eos_id >= 0 && next == c->eos_id) break;
        out[(*n_out)++] = next;
        if (*n_out == opt->max_new_tokens || pos >= total) break;
        if (model_forward(m, s, &next, 1, pos, logits, err)) goto out;
    }
    rc = 0;
out:
    model_state_free(s);
    free(logits);
    free(cand);
    return rc;
}

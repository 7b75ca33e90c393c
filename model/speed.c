/* speed.c — how fast a model runs on this machine: decode and prefill tokens per second, measured the
 * way perplexity and generation use the forward pass. Timing only: nothing a result or a key depends on
 * reads these numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/model.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int model_measure_speed(const Model *m, int n_decode, int n_prefill, ModelSpeed *out, char err[QB_ERRLEN]) {
    const int V = m->cfg.vocab_size;
    int max_seq = n_prefill > n_decode + 1 ? n_prefill : n_decode + 1;
    if (n_decode < 1 || n_prefill < 1 || max_seq > m->cfg.seq_len) {
        snprintf(err, QB_ERRLEN, "%.300s: speed of %d decode / %d prefill tokens does not fit its %d positions",
                 m->path, n_decode, n_prefill, m->cfg.seq_len);
        return -1;
    }
    int *toks = malloc((size_t)max_seq * sizeof *toks);
    float *logits = malloc((size_t)n_prefill * V * sizeof *logits);
    ModelState *s = model_state_new(m, max_seq, n_prefill);
    int rc = -1;
    if (!toks || !logits || !s) {
        snprintf(err, QB_ERRLEN, "%.300s: out of memory measuring speed", m->path);
        goto done;
    }
    for (int i = 0; i < max_seq; i++) toks[i] = (int)(((long)i * 7919 + 13) % V); /* fixed, spread over the vocabulary */
    if (model_forward(m, s, toks, 1, 0, logits, err)) goto done;
    double t = now();
    for (int i = 1; i <= n_decode; i++) /* one token per call from the KV cache, logits every time */
        if (model_forward(m, s, &toks[i], 1, i, logits, err)) goto done;
    out->decode_tps = n_decode / (now() - t);
    t = now();
    if (model_forward(m, s, toks, n_prefill, 0, logits, err)) goto done; /* one window with logits, as ppl */
    out->prefill_tps = n_prefill / (now() - t);
    rc = 0;
done:
    model_state_free(s);
    free(logits);
    free(toks);
    return rc;
}

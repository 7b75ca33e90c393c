/* bootstrap.c — see bootstrap.h. The generator reproduces numpy 1.17+'s default_rng bit for bit:
 * SeedSequence (O'Neill's seed_seq hashing, pool of 4 words) → 4 uint64 words → PCG64 (128-bit
 * LCG, XSL-RR output, setseq initialisation), 32-bit draws split from 64-bit ones low half first,
 * and Lemire's bounded integers with numpy's rejection threshold. */
#include "metrics/bootstrap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SeedSequence ---------------------------------------------------------------------------------- */

#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_L 0xca01f9ddu
#define SS_MIX_R 0x4973f715u
#define SS_POOL 4

static uint32_t hashmix(uint32_t value, uint32_t *hash_const) {
    value ^= *hash_const;
    *hash_const *= SS_MULT_A;
    value *= *hash_const;
    value ^= value >> 16;
    return value;
}

static uint32_t mix(uint32_t x, uint32_t y) {
    uint32_t r = SS_MIX_L * x - SS_MIX_R * y;
    return r ^ (r >> 16);
}

/* SeedSequence(seed).generate_state(4, uint64). */
static void seed_sequence(uint64_t seed, uint64_t out[4]) {
    uint32_t entropy[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const int n_ent = seed >> 32 ? 2 : 1;
    uint32_t pool[SS_POOL], hc = SS_INIT_A;
    for (int i = 0; i < SS_POOL; i++) pool[i] = hashmix(i < n_ent ? entropy[i] : 0, &hc);
    for (int s = 0; s < SS_POOL; s++)
        for (int d = 0; d < SS_POOL; d++)
            if (s != d) pool[d] = mix(pool[d], hashmix(pool[s], &hc));
    uint32_t words[8], hb = SS_INIT_B;
    for (int i = 0; i < 8; i++) {
        uint32_t v = pool[i % SS_POOL];
        v ^= hb;
        hb *= SS_MULT_B;
        v *= hb;
        v ^= v >> 16;
        words[i] = v;
    }
    for (int i = 0; i < 4; i++) out[i] = (uint64_t)words[2 * i] | (uint64_t)words[2 * i + 1] << 32;
}

/* ---- PCG64 ----------------------------------------------------------------------------------------- */

#define PCG_MULT (((unsigned __int128)0x2360ED051FC65DA4ULL << 64) | 0x4385DF649FCCF645ULL)

static void pcg_step(QbPcg64 *g) { g->state = g->state * PCG_MULT + g->inc; }

void qb_pcg64_seed(QbPcg64 *g, uint64_t seed) {
    uint64_t v[4];
    seed_sequence(seed, v);
    unsigned __int128 initstate = ((unsigned __int128)v[0] << 64) | v[1];
    unsigned __int128 initseq = ((unsigned __int128)v[2] << 64) | v[3];
    g->state = 0;
    g->inc = (initseq << 1) | 1;
    pcg_step(g);
    g->state += initstate;
    pcg_step(g);
    g->has_uint32 = 0;
    g->uinteger = 0;
}

uint64_t qb_pcg64_next64(QbPcg64 *g) {
    pcg_step(g);
    uint64_t x = (uint64_t)(g->state >> 64) ^ (uint64_t)g->state;
    unsigned rot = (unsigned)(g->state >> 122);
    return (x >> rot) | (x << ((64 - rot) & 63));
}

uint32_t qb_pcg64_next32(QbPcg64 *g) {
    if (g->has_uint32) {
        g->has_uint32 = 0;
        return g->uinteger;
    }
    uint64_t next = qb_pcg64_next64(g);
    g->has_uint32 = 1;
    g->uinteger = (uint32_t)(next >> 32);
    return (uint32_t)next;
}

uint64_t qb_pcg64_below(QbPcg64 *g, uint64_t n) {
    if (n <= 1) return 0;
    const uint32_t rng = (uint32_t)(n - 1), rng_excl = rng + 1;
    if (rng == UINT32_MAX) return qb_pcg64_next32(g);
    uint64_t m = (uint64_t)qb_pcg64_next32(g) * rng_excl;
    uint32_t leftover = (uint32_t)m;
    if (leftover < rng_excl) {
        const uint32_t threshold = (UINT32_MAX - rng) % rng_excl;
        while (leftover < threshold) {
            m = (uint64_t)qb_pcg64_next32(g) * rng_excl;
            leftover = (uint32_t)m;
        }
    }
    return m >> 32;
}

/* ---- resampling ------------------------------------------------------------------------------------ */

int *bootstrap_indices(uint64_t seed, int n_samples, int n, char err[QB_ERRLEN]) {
    if (n < 1 || n_samples < 1) {
        snprintf(err, QB_ERRLEN, "bootstrap: %d segments, %d resamples", n, n_samples);
        return NULL;
    }
    int *idx = malloc((size_t)n_samples * (size_t)n * sizeof *idx);
    if (!idx) {
        snprintf(err, QB_ERRLEN, "bootstrap: out of memory (%d x %d indices)", n_samples, n);
        return NULL;
    }
    QbPcg64 g;
    qb_pcg64_seed(&g, seed);
    for (size_t i = 0; i < (size_t)n_samples * (size_t)n; i++) idx[i] = (int)qb_pcg64_below(&g, (uint64_t)n);
    return idx;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bootstrap_estimate(const double *scores, int n_samples, BootstrapCI *out) {
    memset(out, 0, sizeof *out);
    double *s = malloc((size_t)n_samples * sizeof *s);
    if (!s || n_samples < 1) {
        free(s);
        out->mean = out->ci = out->lower = out->upper = NAN;
        return;
    }
    memcpy(s, scores, (size_t)n_samples * sizeof *s);
    qsort(s, (size_t)n_samples, sizeof *s, cmp_double);
    const int lo = n_samples / 40, hi = n_samples - lo - 1;
    /* (numpy's mean sums pairwise: it can differ from this plain sum in the last bits only) */
    double sum = 0;
    for (int i = 0; i < n_samples; i++) sum += scores[i];
    out->mean = sum / n_samples;
    out->lower = s[lo];
    out->upper = s[hi];
    out->ci = 0.5 * (s[hi] - s[lo]);
    out->n_samples = n_samples;
    free(s);
}

int bootstrap_ci(BootstrapScoreFn fn, void *ctx, int n, int n_samples, uint64_t seed, BootstrapCI *out,
                 char err[QB_ERRLEN]) {
    int *idx = bootstrap_indices(seed, n_samples, n, err);
    double *sc = idx ? malloc((size_t)n_samples * sizeof *sc) : NULL;
    if (!sc) {
        if (idx) snprintf(err, QB_ERRLEN, "bootstrap: out of memory");
        free(idx);
        return -1;
    }
    for (int s = 0; s < n_samples; s++) sc[s] = fn(idx + (size_t)s * n, n, ctx);
    bootstrap_estimate(sc, n_samples, out);
    free(sc);
    free(idx);
    return 0;
}

int bootstrap_paired_scores(BootstrapScoreFn sys, void *sys_ctx, BootstrapScoreFn base, void *base_ctx, int n,
                            int n_samples, uint64_t seed, double *sys_s, double *base_s, char err[QB_ERRLEN]) {
    int *idx = bootstrap_indices(seed, n_samples, n, err);
    if (!idx) return -1;
    for (int s = 0; s < n_samples; s++) {
        sys_s[s] = sys(idx + (size_t)s * n, n, sys_ctx);
        base_s[s] = base(idx + (size_t)s * n, n, base_ctx);
    }
    free(idx);
    return 0;
}

double bootstrap_paired_p(const double *sys_s, const double *base_s, int n_samples, double score_sys,
                          double score_base) {
    double *d = malloc((size_t)n_samples * sizeof *d + 1);
    if (!d || n_samples < 1) {
        free(d);
        return NAN;
    }
    double mean_d = 0;
    for (int s = 0; s < n_samples; s++) {
        d[s] = fabs(sys_s[s] - base_s[s]);
        mean_d += d[s];
    }
    mean_d /= n_samples;
    const double diff = fabs(score_base - score_sys);
    int c = 0;
    for (int s = 0; s < n_samples; s++) c += d[s] - mean_d > diff;
    free(d);
    return (c + 1.0) / (n_samples + 1.0);
}

int bootstrap_paired(BootstrapScoreFn sys, void *sys_ctx, BootstrapScoreFn base, void *base_ctx, int n,
                     double score_sys, double score_base, int n_samples, uint64_t seed, BootstrapCI *sys_ci,
                     double *p_value, char err[QB_ERRLEN]) {
    double *a = malloc((size_t)n_samples * sizeof *a + 1), *b = malloc((size_t)n_samples * sizeof *b + 1);
    if (!a || !b) {
        free(a);
        free(b);
        snprintf(err, QB_ERRLEN, "bootstrap: out of memory");
        return -1;
    }
    int rc = bootstrap_paired_scores(sys, sys_ctx, base, base_ctx, n, n_samples, seed, a, b, err);
    if (!rc) {
        *p_value = bootstrap_paired_p(a, b, n_samples, score_sys, score_base);
        bootstrap_estimate(a, n_samples, sys_ci);
    }
    free(a);
    free(b);
    return rc;
}

double bootstrap_mean_score(const int *idx, int n, void *ctx) {
    const double *seg = ctx;
    double s = 0;
    for (int j = 0; j < n; j++) s += seg[idx[j]];
    return n ? s / n : 0.0;
}

/* rng.c — xoshiro256** seeded through splitmix64: reproducible runs without rand(). */
#include <math.h>
#include <stdint.h>

#include "base/base.h"

/* ---- xoshiro256** seeded through splitmix64 ----------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void qb_rng_seed(QbRng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qb_rng_next(QbRng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl64(s[3], 45);
    return result;
}

double qb_rng_uniform(QbRng *r) { return (double)(qb_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t qb_rng_below(QbRng *r, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t x;
    do x = qb_rng_next(r); while (x >= limit);
    return x % n;
}

float qb_rng_normal(QbRng *r) {
    double u1 = qb_rng_uniform(r), u2 = qb_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}


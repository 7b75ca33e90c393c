/* meteor_text.c — METEOR's text plumbing: token lists, tokenising a line into lowercased tokens
 * (Python semantics from pystr.h), and a small string-interning table used to make the greedy
 * matching linear. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "metrics/meteor_internal.h"

/* ---- token lists ------------------------------------------------------------------------------- */
void mt_tokens_free(MtTokens *t) {
    free(t->buf); free(t->off); free(t->len);
    memset(t, 0, sizeof *t);
}

int mt_resize(void *pp, size_t elem, size_t n) {
    void *x = realloc(*(void **)pp, elem * n);
    if (!x) return -1;
    *(void **)pp = x;
    return 0;
}

/* Room for `ntok` token offsets and lengths (off and len share one capacity). */
static int tokens_reserve(MtTokens *t, size_t ntok) {
    if (ntok <= t->ncap) return 0;
    size_t co = t->ncap, cl = t->ncap;
    if (ntok > INT_MAX || qb_grow((void **)&t->off, &co, ntok, sizeof *t->off) ||
        qb_grow((void **)&t->len, &cl, ntok, sizeof *t->len))
        return -1;
    t->ncap = co;
    return 0;
}

int mt_tokens_push(MtTokens *t, const char *s, size_t len) {
    if (len > (size_t)1 << 30) return -1;
    if (tokens_reserve(t, (size_t)t->n + 1)) return -1;
    if (t->used + len + 1 + MT_TOKENS_PAD > t->cap && qb_grow((void **)&t->buf, &t->cap, t->used + len + 1 + MT_TOKENS_PAD, 1))
        return -1;
    memcpy(t->buf + t->used, s, len);
    t->buf[t->used + len] = 0;
    t->off[t->n] = (int)t->used;
    t->len[t->n] = (int)len;
    t->used += len + 1;
    if (t->used > (size_t)INT32_MAX) return -1;
    t->n++;
    return 0;
}

/* ---- the ASCII fast path: 64 bytes at a time ---------------------------------------------------------- */
/* One 64-byte block of an ASCII line: dst gets it lowercased with every whitespace byte (Python's
 * ASCII whitespace \t-\r, \x1c-\x1f, ' ', and NUL past the line's end) turned into NUL; returns
 * the bit mask of its token bytes and ORs into *wide the bytes >= 0x80 seen (the line is then not
 * ASCII). With SSE2, 16 bytes per step; else 8 per step in a 64-bit word (SWAR). */
#if defined(__SSE2__)
#include <emmintrin.h>
/* 0xFF in the bytes of x within lo..hi (signed compares: every byte that matters is < 0x80) */
static inline __m128i in_range(__m128i x, char lo, char hi) {
    __m128i above = _mm_cmpgt_epi8(x, _mm_set1_epi8((char)(lo - 1)));
    return _mm_and_si128(above, _mm_cmplt_epi8(x, _mm_set1_epi8((char)(hi + 1))));
}
static inline uint64_t ascii_block(const char *src, char *dst, unsigned *wide) {
    uint64_t m = 0;
    for (int k = 0; k < 64; k += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(src + k));
        *wide |= (unsigned)_mm_movemask_epi8(x);
        __m128i upper = in_range(x, 'A', 'Z');
        __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_setzero_si128()), /* (NUL: past the end) */
                                  _mm_or_si128(in_range(x, '\t', '\r'), in_range(x, 0x1C, ' ')));
        x = _mm_andnot_si128(ws, _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20))));
        _mm_storeu_si128((__m128i *)(void *)(dst + k), x);
        m |= (uint64_t)(~(unsigned)_mm_movemask_epi8(ws) & 0xFFFFu) << k;
    }
    return m;
}
#else
#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL
/* per byte of w (every byte < 0x80): 0x80 where the byte is >= c, else 0 (no carry crosses a byte:
 * 0x7f + 0x80 - c <= 0xff) */
static inline uint64_t ge(uint64_t w, unsigned c) { return (w + (0x80 - c) * ONES) & HIGH; }
static inline uint64_t ascii_block(const char *src, char *dst, unsigned *wide) {
    uint64_t m = 0;
    for (int k = 0; k < 64; k += 8) {
        uint64_t w;
        memcpy(&w, src + k, 8);
        if (w & HIGH) { *wide = 1; w &= ~HIGH; }
        uint64_t upper = ge(w, 'A') & ~ge(w, 'Z' + 1);
        uint64_t ws = (~ge(w, 1) | (ge(w, '\t') & ~ge(w, '\r' + 1)) | (ge(w, 0x1C) & ~ge(w, ' ' + 1))) & HIGH;
        w = (w | (upper >> 2)) & ~((ws >> 7) * 0xFF);
        memcpy(dst + k, &w, 8);
        /* 0x80 lanes -> 8 bits, lane j -> bit j */
        m |= (uint64_t)((((~ws & HIGH) >> 7) * 0x0102040810204080ULL) >> 56) << k;
    }
    return m;
}
#endif

/* An ASCII line (the usual case), split on whitespace and lowercased in 64-byte blocks: the copy
 * in out->buf keeps the line's layout with every whitespace byte turned into NUL, so each token
 * ends with one; token starts and ends are read off the blocks' bit masks (no branch per byte).
 * Returns 1, leaving out to the general path, when the line has a byte >= 0x80; -1 when out of
 * memory. */
static int tokenize_ascii(const char *line, size_t n, MtTokens *out) {
    out->n = 0;
    out->used = 0;
    size_t need = (n | 63) + 1 + MT_TOKENS_PAD; /* whole blocks, then the padding mt_tokens_push keeps */
    if (qb_grow((void **)&out->buf, &out->cap, need, 1) || tokens_reserve(out, n / 2 + 1)) return -1;
    char *d = out->buf;
    int *off = out->off, *len = out->len, ns = 0, ne = 0;
    unsigned wide = 0;
    uint64_t carry = 0; /* the byte before this block was a token byte */
    for (size_t base = 0; base < n; base += 64) {
        char tail[64];
        const char *src = line + base;
        if (n - base < 64) { /* the last, partial block: from a zero-filled copy (NUL is whitespace) */
            memset(tail, 0, sizeof tail);
            memcpy(tail, src, n - base);
            src = tail;
        }
        uint64_t m = ascii_block(src, d + base, &wide);
        uint64_t prev = (m << 1) | carry, starts = m & ~prev, ends = ~m & prev;
        carry = m >> 63;
        for (; starts; starts &= starts - 1) off[ns++] = (int)(base + (size_t)__builtin_ctzll(starts));
        for (; ends; ends &= ends - 1, ne++) len[ne] = (int)(base + (size_t)__builtin_ctzll(ends)) - off[ne];
    }
    if (wide) return 1;
    if (carry) { len[ne] = (int)n - off[ne]; ne++; } /* a token running to the end of the last full block */
    d[n] = 0;
    out->n = ns;
    out->used = n + 1;
    return 0;
}

int mt_tokenize_lower(const char *line, MtTokens *out, const char *what, char err[QB_ERRLEN]) {
    size_t n = strlen(line), bad = 0;
    if (n >= (size_t)INT32_MAX) { snprintf(err, QB_ERRLEN, "%s: line too long", what); return -1; }
    int fast = tokenize_ascii(line, n, out);
    if (fast == 0) return 0;
    if (fast < 0) { snprintf(err, QB_ERRLEN, "%s: out of memory", what); return -1; }
    out->n = 0;
    out->used = 0;
    uint32_t *cps = malloc(sizeof(uint32_t) * (n + 1));
    uint32_t *low = malloc(sizeof(uint32_t) * (2 * n + 1));
    char *u8 = malloc(8 * n + 1);
    int rc = -1;
    if (!cps || !low || !u8) { snprintf(err, QB_ERRLEN, "%s: out of memory", what); goto done; }
    long ncp = utf8_decode(line, n, cps, &bad);
    if (ncp < 0) {
        snprintf(err, QB_ERRLEN, "%s: invalid UTF-8 at byte %zu", what, bad);
        goto done;
    }
    for (size_t k = 0, N = (size_t)ncp; k < N;) {
        while (k < N && py_isspace(cps[k])) k++;
        if (k == N) break;
        size_t j = k;
        while (j < N && !py_isspace(cps[j])) j++;
        size_t ln = py_lower(cps + k, j - k, low);
        size_t nb = utf8_encode(low, ln, u8);
        if (mt_tokens_push(out, u8, nb) != 0) {
            snprintf(err, QB_ERRLEN, "%s: out of memory", what);
            goto done;
        }
        k = j;
    }
    rc = 0;
done:
    free(cps); free(low); free(u8);
    return rc;
}

/* ---- interning ----------------------------------------------------------------------------------- */
/* 8 bytes per step (the tokens and lemmas hashed here average 6-8 bytes), every bit mixed: the
 * intern table uses the low bits for the slot and the high 32 as a tag, and the filters in
 * meteor.c and wordnet.c use other bit ranges. */
uint64_t mt_hash(const char *s, size_t len) {
    const uint64_t K = 0x9E3779B97F4A7C15ULL;
    uint64_t h = 0x243F6A8885A308D3ULL ^ (len * K);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * K;
        h ^= h >> 31;
    }
    if (i < len) { /* the last 1..7 bytes, zero-extended little-endian, in at most three loads */
        size_t r = len - i;
        const unsigned char *t = (const unsigned char *)s + i;
        uint64_t w;
        if (len >= 8) memcpy(&w, s + len - 8, 8); /* one overlapping load */
        else if (r >= 4) {
            uint32_t lo, hi;
            memcpy(&lo, t, 4);
            memcpy(&hi, t + r - 4, 4);
            w = (uint64_t)lo | ((uint64_t)hi << (8 * (r - 4)));
        } else w = (uint64_t)t[0] | ((uint64_t)t[r / 2] << (8 * (r / 2))) | ((uint64_t)t[r - 1] << (8 * (r - 1)));
        h = (h ^ w) * K;
        h ^= h >> 31;
    }
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 32);
}

void mt_intern_free(MtIntern *h) {
    free(h->key); free(h->klen); free(h->hash); free(h->slot);
    memset(h, 0, sizeof *h);
}

void mt_intern_clear(MtIntern *h) {
    if (h->slot) memset(h->slot, 0, sizeof *h->slot * (size_t)h->nslot);
    h->n = 0;
}

static int intern_grow(MtIntern *h) {
    int ns = h->nslot ? 2 * h->nslot : 64;
    uint64_t *slot = calloc((size_t)ns, sizeof *slot);
    if (!slot) return -1;
    for (int id = 0; id < h->n; id++) { /* (the kept hashes: no key is hashed again) */
        size_t s = h->hash[id] & (size_t)(ns - 1);
        while (slot[s]) s = (s + 1) & (size_t)(ns - 1);
        slot[s] = (h->hash[id] & 0xFFFFFFFF00000000ULL) | (uint64_t)(id + 1);
    }
    free(h->slot);
    h->slot = slot;
    h->nslot = ns;
    return 0;
}

int mt_intern(MtIntern *h, const char *s, int len, int add) {
    return mt_intern_hashed(h, s, len, mt_hash(s, (size_t)len), add);
}

int mt_intern_hashed(MtIntern *h, const char *s, int len, uint64_t hash, int add) {
    uint64_t tag = hash & 0xFFFFFFFF00000000ULL;
    if (h->nslot) {
        size_t i = hash & (size_t)(h->nslot - 1);
        for (uint64_t e; (e = h->slot[i]) != 0; i = (i + 1) & (size_t)(h->nslot - 1)) {
            if ((e & 0xFFFFFFFF00000000ULL) != tag) continue;
            int id = (int)(uint32_t)e - 1;
            if (h->klen[id] == len && memcmp(h->key[id], s, (size_t)len) == 0) return id;
        }
    }
    if (!add) return -1;
    if (2 * (h->n + 1) > h->nslot && intern_grow(h) != 0) return -1;
    if ((size_t)h->n == h->cap) { /* key, klen and hash share one capacity */
        size_t ck = h->cap, cl = h->cap, ch = h->cap, need = (size_t)h->n + 1;
        if (qb_grow((void **)&h->key, &ck, need, sizeof *h->key) || qb_grow((void **)&h->klen, &cl, need, sizeof *h->klen) ||
            qb_grow((void **)&h->hash, &ch, need, sizeof *h->hash))
            return -1;
        h->cap = ck;
    }
    int id = h->n++;
    h->key[id] = s;
    h->klen[id] = len;
    h->hash[id] = hash;
    size_t i = hash & (size_t)(h->nslot - 1);
    while (h->slot[i]) i = (i + 1) & (size_t)(h->nslot - 1);
    h->slot[i] = tag | (uint64_t)(id + 1);
    return id;
}

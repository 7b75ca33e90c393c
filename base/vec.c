/* vec.c — the one growable-array helper every module uses. */
#include <stdint.h>
#include <stdlib.h>

#include "base/base.h"

int qb_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2) { n = need; break; }
        n *= 2;
    }
    if (elem && n > SIZE_MAX / elem) return -1;
    size_t bytes = n * elem;
    void *q = realloc(*p, bytes ? bytes : 1);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

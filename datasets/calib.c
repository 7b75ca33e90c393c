/* calib.c — GPTQ-style calibration sampling: split a text or jsonl file into documents, tokenize
 * each, and draw seeded random windows (rules in calib.h). */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "datasets/calib.h"

const char *calib_mode_name(CalibMode m) {
    switch (m) {
    case CALIB_AUTO: return "auto";
    case CALIB_DOCUMENTS: return "documents";
    case CALIB_JOINED: return "joined";
    }
    return "?";
}

int calib_mode_parse(const char *s, CalibMode *m) {
    if (!s) return -1;
    if (!strcmp(s, "auto")) *m = CALIB_AUTO;
    else if (!strcmp(s, "documents")) *m = CALIB_DOCUMENTS;
    else if (!strcmp(s, "joined")) *m = CALIB_JOINED;
    else return -1;
    return 0;
}

void calib_free(CalibWindows *c) {
    if (!c) return;
    free(c->windows);
    free(c->doc);
    free(c->start);
    memset(c, 0, sizeof *c);
}

/* ---- splitting ------------------------------------------------------------------------------- */

typedef struct { size_t *starts, *lens; int n; size_t cap_starts, cap_lens; } Ranges;

static int ranges_push(Ranges *r, size_t start, size_t len) {
    if (r->n == INT_MAX || qb_grow((void **)&r->starts, &r->cap_starts, (size_t)r->n + 1, sizeof *r->starts) ||
        qb_grow((void **)&r->lens, &r->cap_lens, (size_t)r->n + 1, sizeof *r->lens))
        return -1;
    r->starts[r->n] = start;
    r->lens[r->n] = len;
    r->n++;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

/* Pushes text[a, b) trimmed of surrounding whitespace, unless it is empty. */
static int push_trimmed(Ranges *r, const char *text, size_t a, size_t b) {
    while (a < b && is_space(text[a])) a++;
    while (b > a && is_space(text[b - 1])) b--;
    return b > a ? ranges_push(r, a, b - a) : 0;
}

static int split_plain(const char *text, size_t len, Ranges *r) {
    static const char marker[] = "<|endoftext|>";
    const size_t mlen = sizeof marker - 1;
    if (memmem(text, len, marker, mlen)) {
        size_t a = 0;
        for (;;) {
            const char *p = memmem(text + a, len - a, marker, mlen);
            size_t b = p ? (size_t)(p - text) : len;
            if (push_trimmed(r, text, a, b)) return -1;
            if (!p) return 0;
            a = b + mlen;
        }
    }
    /* paragraphs: runs of non-blank lines */
    size_t para = 0, i = 0;
    int in_para = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && text[eol] != '\n') eol++;
        int blank = 1;
        for (size_t k = i; k < eol; k++)
            if (!is_space(text[k])) { blank = 0; break; }
        if (blank && in_para) {
            if (push_trimmed(r, text, para, i)) return -1;
            in_para = 0;
        } else if (!blank && !in_para) {
            para = i;
            in_para = 1;
        }
        i = eol < len ? eol + 1 : len;
    }
    if (in_para && push_trimmed(r, text, para, len)) return -1;
    return 0;
}

static int split_jsonl(const char *text, size_t len, const char *what, char **owned, Ranges *r,
                       char err[QB_ERRLEN]) {
    size_t cap = 0, used = 0;
    char *buf = NULL;
    size_t i = 0;
    int line = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && text[eol] != '\n') eol++;
        line++;
        int blank = 1;
        for (size_t k = i; k < eol; k++)
            if (!is_space(text[k])) { blank = 0; break; }
        if (!blank) {
            cJSON *j = cJSON_ParseWithLength(text + i, eol - i);
            const cJSON *t = j && cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
            if (!j || !cJSON_IsString(t) || !t->valuestring) {
                snprintf(err, QB_ERRLEN, "%.400s:%d: %s", what, line,
                         !j ? "not valid JSON" : !cJSON_IsObject(j) ? "not a JSON object"
                                                                     : "no string field \"text\"");
                cJSON_Delete(j);
                free(buf);
                return -1;
            }
            size_t n = strlen(t->valuestring);
            if (qb_grow((void **)&buf, &cap, used + n + 1, 1)) {
                cJSON_Delete(j);
                free(buf);
                snprintf(err, QB_ERRLEN, "%.400s: out of memory", what);
                return -1;
            }
            memcpy(buf + used, t->valuestring, n + 1);
            cJSON_Delete(j);
            if (n > 0 && ranges_push(r, used, n)) {
                free(buf);
                snprintf(err, QB_ERRLEN, "%.400s: out of memory", what);
                return -1;
            }
            used += n + 1;
        }
        i = eol < len ? eol + 1 : len;
    }
    *owned = buf;
    return 0;
}

int calib_split_documents(const char *text, size_t len, int is_jsonl, const char *what, char **owned,
                          size_t **starts, size_t **lens, char err[QB_ERRLEN]) {
    Ranges r = {0};
    *owned = NULL;
    *starts = *lens = NULL;
    int rc = is_jsonl ? split_jsonl(text, len, what, owned, &r, err) : split_plain(text, len, &r);
    if (rc) {
        if (!is_jsonl) snprintf(err, QB_ERRLEN, "%.400s: out of memory", what);
        free(r.starts);
        free(r.lens);
        return -1;
    }
    *starts = r.starts;
    *lens = r.lens;
    return r.n;
}

/* ---- sampling ----------------------------------------------------------------------------------- */

int calib_sample_docs(const int *const *docs, const int *lens, int n_docs, int n_samples, int seqlen,
                      uint64_t seed, CalibMode mode, const char *what, CalibWindows *out,
                      char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (n_samples < 1 || seqlen < 1 || n_docs < 0) {
        snprintf(err, QB_ERRLEN, "%.400s: need n_samples >= 1 and seqlen >= 1 (got %d, %d)", what, n_samples,
                 seqlen);
        return -1;
    }
    if ((size_t)n_samples > ((size_t)1 << 40) / (size_t)seqlen) {
        snprintf(err, QB_ERRLEN, "%.400s: %d samples x %d tokens is too many", what, n_samples, seqlen);
        return -1;
    }
    int n_long = 0, longest = 0;
    long n_tokens = 0;
    for (int i = 0; i < n_docs; i++) {
        if (lens[i] < 0) {
            snprintf(err, QB_ERRLEN, "%.400s: document %d has a negative length", what, i);
            return -1;
        }
        n_tokens += lens[i];
        if (lens[i] > longest) longest = lens[i];
        if (lens[i] >= seqlen + 1) n_long++;
    }
    if (mode == CALIB_AUTO) mode = n_long >= n_samples ? CALIB_DOCUMENTS : CALIB_JOINED;
    if (mode == CALIB_DOCUMENTS && n_long == 0) {
        snprintf(err, QB_ERRLEN,
                 "%s: no document is long enough for calibration: need >= %d tokens (seqlen+1), the "
                 "longest of %d has %d",
                 what, seqlen + 1, n_docs, longest);
        return -1;
    }
    if (mode == CALIB_JOINED && n_tokens < seqlen + 1) {
        snprintf(err, QB_ERRLEN, "%.400s: the whole text has %ld tokens; calibration needs >= %d (seqlen+1)", what,
                 n_tokens, seqlen + 1);
        return -1;
    }
    out->windows = malloc((size_t)n_samples * (size_t)seqlen * sizeof(int));
    out->doc = malloc((size_t)n_samples * sizeof(int));
    out->start = malloc((size_t)n_samples * sizeof(int));
    int *long_idx = mode == CALIB_DOCUMENTS ? malloc((size_t)n_long * sizeof(int)) : NULL;
    long *first = mode == CALIB_JOINED ? malloc(((size_t)n_docs + 1) * sizeof(long)) : NULL;
    if (!out->windows || !out->doc || !out->start || (mode == CALIB_DOCUMENTS && !long_idx) ||
        (mode == CALIB_JOINED && !first)) {
        free(long_idx);
        free(first);
        calib_free(out);
        snprintf(err, QB_ERRLEN, "%.400s: out of memory for %d calibration windows", what, n_samples);
        return -1;
    }
    QbRng rng;
    qb_rng_seed(&rng, seed);
    if (mode == CALIB_DOCUMENTS) {
        for (int i = 0, k = 0; i < n_docs; i++)
            if (lens[i] >= seqlen + 1) long_idx[k++] = i;
        for (int s = 0; s < n_samples; s++) {
            int d = long_idx[qb_rng_below(&rng, (uint64_t)n_long)];
            /* GPTQ: i = randint(0, len - seqlen - 1) inclusive */
            int st = (int)qb_rng_below(&rng, (uint64_t)(lens[d] - seqlen));
            memcpy(out->windows + (size_t)s * seqlen, docs[d] + st, (size_t)seqlen * sizeof(int));
            out->doc[s] = d;
            out->start[s] = st;
        }
    } else {
        first[0] = 0;
        for (int i = 0; i < n_docs; i++) first[i + 1] = first[i] + lens[i];
        for (int s = 0; s < n_samples; s++) {
            long st = (long)qb_rng_below(&rng, (uint64_t)(n_tokens - seqlen));
            /* the last document whose first token is <= st */
            int lo = 0, hi = n_docs - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) / 2;
                if (first[mid] <= st) lo = mid;
                else hi = mid - 1;
            }
            int *w = out->windows + (size_t)s * seqlen;
            long pos = st;
            for (int t = 0, d = lo; t < seqlen; t++, pos++) {
                while (pos >= first[d + 1]) d++;
                w[t] = docs[d][pos - first[d]];
            }
            out->doc[s] = -1;
            out->start[s] = (int)st;
        }
    }
    free(long_idx);
    free(first);
    out->n_samples = n_samples;
    out->seqlen = seqlen;
    out->mode = mode;
    out->n_docs = n_docs;
    out->n_long = n_long;
    out->n_tokens = n_tokens;
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int calib_sample_text(const Tokenizer *tok, const char *text, size_t len, int jsonl, const char *what,
                      int n_samples, int seqlen, uint64_t seed, CalibMode mode, CalibWindows *out,
                      char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    char *owned = NULL;
    size_t *starts = NULL, *dlens = NULL;
    int n = calib_split_documents(text, len, jsonl, what, &owned, &starts, &dlens, err);
    int rc = -1;
    int **docs = NULL, *lens = NULL;
    if (n < 0) goto done;
    docs = calloc((size_t)n + 1, sizeof *docs);
    lens = calloc((size_t)n + 1, sizeof *lens);
    if (!docs || !lens) {
        snprintf(err, QB_ERRLEN, "%.400s: out of memory", what);
        goto done;
    }
    const char *base = jsonl ? owned : text;
    for (int i = 0; i < n; i++) {
        char terr[QB_ERRLEN];
        if (tokenizer_encode(tok, base + starts[i], dlens[i], 1, &docs[i], &lens[i], terr)) {
            snprintf(err, QB_ERRLEN, "%.200s: document %d: %.280s", what, i, terr);
            goto done;
        }
    }
    if (mode == CALIB_AUTO && jsonl) mode = CALIB_DOCUMENTS;
    rc = calib_sample_docs((const int *const *)docs, lens, n, n_samples, seqlen, seed, mode, what, out, err);
done:
    if (docs)
        for (int i = 0; i < n; i++) free(docs[i]);
    free(docs);
    free(lens);
    free(starts);
    free(dlens);
    free(owned);
    return rc;
}

int calib_sample(const Tokenizer *tok, const char *path, int n_samples, int seqlen, uint64_t seed,
                 CalibMode mode, CalibWindows *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *text = qb_read_text_file(path, &len, err);
    if (!text) return -1;
    int rc = calib_sample_text(tok, text, len, ends_with(path, ".jsonl"), path, n_samples, seqlen, seed, mode,
                               out, err);
    free(text);
    return rc;
}

/* datasets.c — named datasets → text or prompt/reference pairs, with checksum verification.
 * The names, files and splits are documented in datasets.h. Inputs are hostile: every jsonl line
 * is parsed with bounds (cJSON on a NUL-terminated copy), bad lines are errors naming file:line. */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "datasets/datasets.h"
#include "datasets/datasets_internal.h"

typedef struct {
    const char *name;
    const char *file;   /* under the assets dir */
    const char *sha256; /* from datasets/assets.tsv */
} NamedFile;

#define TINYSTORIES "tinystories/tinystories_v1_validation_head.txt"
#define TINYSTORIES_SHA "5fc1fb0113df62b567fb271806cd645ce8d75f59c58ca0b764c03d3b6ff34ca6"
#define WMT_EN "wmt14-ende/newstest2014-filtered.en.tok"
#define WMT_EN_SHA "5fde93388f630f7afd3208f24b4c68d3f992ddb15e0bc2491ee3b4f9ea44845b"
#define WMT_DE "wmt14-ende/newstest2014-filtered.de.tok"
#define WMT_DE_SHA "d0de86aa401fea9734095fe694ac16f58371d09bcad7d86aef71776cacc80b1d"

static const NamedFile TEXTS[] = {
    {"tinystories-valid", TINYSTORIES, TINYSTORIES_SHA},
    {"tinystories-calib", TINYSTORIES, TINYSTORIES_SHA},
    {"wikitext2-test", "wikitext2/wiki.test.raw", "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08"},
    {"ptb-test", "ptb/ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"},
    {"c4-calib", "c4/c4-en-train.00000-of-01024.first1000.jsonl",
     "cdd5b754119131d2934e3e799a059a9d64f53a6aac9e7e2ef79b43120bb01a32"},
    {"wmt14-ende", WMT_EN, WMT_EN_SHA},
};
static const NamedFile TASKS[] = {
    {"tinystories-continuation", TINYSTORIES, TINYSTORIES_SHA},
    {"c4-continuation", "c4/c4-realnewslike-validation.prompt-response.200.jsonl",
     "115d5c85898cd2ebc418d7b02a40b9c1d188496692472423d0e553f55de63a99"},
    {"wmt14-ende", WMT_EN, WMT_EN_SHA},
};
#define N_TEXTS (sizeof TEXTS / sizeof TEXTS[0])
#define N_TASKS (sizeof TASKS / sizeof TASKS[0])

static char g_assets[512] = "assets";

void dataset_set_assets_dir(const char *dir) { snprintf(g_assets, sizeof g_assets, "%s", dir ? dir : "assets"); }

static const NamedFile *find_named(const NamedFile *tab, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tab[i].name, name)) return &tab[i];
    return NULL;
}

int dataset_is_named(const char *name) { return find_named(TEXTS, N_TEXTS, name) != NULL; }
int dataset_task_is_named(const char *name) { return find_named(TASKS, N_TASKS, name) != NULL; }

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int check_path(const char *what, const char *name, char err[QB_ERRLEN]) {
    if (!name || !*name) { snprintf(err, QB_ERRLEN, "%.200s: empty dataset name", what); return -1; }
    if (access(name, R_OK) != 0) {
        snprintf(err, QB_ERRLEN, "%.200s '%.200s': not a known dataset name and no readable file at that path", what, name);
        return -1;
    }
    return 0;
}

int dataset_check(const char *name, char err[QB_ERRLEN]) {
    if (name && dataset_is_named(name)) return 0;
    return check_path("dataset", name, err);
}

int dataset_task_check(const char *name, char err[QB_ERRLEN]) {
    if (name && dataset_task_is_named(name)) return 0;
    if (check_path("task", name, err)) return -1;
    if (!ends_with(name, ".jsonl")) {
        snprintf(err, QB_ERRLEN, "task '%.200s': a task file must be jsonl with {prompt, reference|references}", name);
        return -1;
    }
    return 0;
}

/* Reads a named asset and verifies its checksum. */
static char *read_named(const NamedFile *nf, size_t *len, char source[1024], char sha[65], char err[QB_ERRLEN]) {
    snprintf(source, 1024, "%.511s/%.400s", g_assets, nf->file);
    char *buf = qb_read_file(source, len, err);
    if (!buf) return NULL;
    qb_sha256_hex(buf, *len, sha);
    if (strcmp(sha, nf->sha256)) {
        snprintf(err, QB_ERRLEN, "dataset %.200s: %.200s has sha256 %.16s…, expected %.16s… (run `make assets`)", nf->name,
                 source, sha, nf->sha256);
        free(buf);
        return NULL;
    }
    return buf;
}

char *dataset_read_asset(const char *file, const char *sha256, size_t *len, char source[1024], char err[QB_ERRLEN]) {
    NamedFile nf = {file, file, sha256};
    char sha[65];
    return read_named(&nf, len, source, sha, err);
}

/* ---- the tinystories split ------------------------------------------------------------------- */

static int starts_paragraph(const char *text, size_t i) {
    return i == 0 || (i >= 2 && text[i - 1] == '\n' && text[i - 2] == '\n');
}

size_t dataset_tinystories_cut(const char *text, size_t len) {
    static const char OPEN[] = "Once upon a time";
    for (size_t i = len / 4 * 3; i + sizeof OPEN - 1 <= len; i++)
        if (text[i] == 'O' && starts_paragraph(text, i) && !memcmp(text + i, OPEN, sizeof OPEN - 1)) return i;
    return len; /* no story start: everything is validation, calibration is empty */
}

/* ---- jsonl ------------------------------------------------------------------------------------ */

int dataset_jsonl_each(const char *buf, size_t len, const char *file, JsonlLine fn, void *ctx, char err[QB_ERRLEN]) {
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - pos;
        const char *p = buf + pos;
        pos = end + 1;
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r')) k++;
        if (k == n) continue;
        cJSON *obj = cJSON_ParseWithLength(p, n);
        if (!obj || !cJSON_IsObject(obj)) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: not a JSON object", file, line);
            cJSON_Delete(obj);
            return -1;
        }
        int rc = fn(ctx, obj, file, line, err);
        cJSON_Delete(obj);
        if (rc < 0) return -1;
        if (rc > 0) break;
    }
    return 0;
}

typedef struct { char *out; size_t len, cap; } Buf;

static int buf_append(Buf *b, const char *s, size_t n) {
    if (qb_grow((void **)&b->out, &b->cap, b->len + n + 1, 1)) return -1;
    memcpy(b->out + b->len, s, n);
    b->len += n;
    b->out[b->len] = 0;
    return 0;
}

static int text_line(void *ctx, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    Buf *b = ctx;
    cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "text");
    if (!cJSON_IsString(t)) { snprintf(err, QB_ERRLEN, "%.200s:%d: no string \"text\" field", file, line); return -1; }
    if ((b->len && buf_append(b, "\n\n", 2)) || buf_append(b, t->valuestring, strlen(t->valuestring))) {
        snprintf(err, QB_ERRLEN, "%.200s:%d: out of memory", file, line);
        return -1;
    }
    return 0;
}

static char *jsonl_text(const char *buf, size_t len, const char *file, size_t *out_len, char err[QB_ERRLEN]) {
    Buf b = {0};
    if (dataset_jsonl_each(buf, len, file, text_line, &b, err)) { free(b.out); return NULL; }
    if (!b.out && buf_append(&b, "", 0)) { snprintf(err, QB_ERRLEN, "%.200s: out of memory", file); return NULL; }
    *out_len = b.len;
    return b.out;
}

/* ---- text datasets ---------------------------------------------------------------------------- */

int dataset_load_text(const char *name, TextDataset *d, char err[QB_ERRLEN]) {
    memset(d, 0, sizeof *d);
    if (!name || !*name) { snprintf(err, QB_ERRLEN, "dataset: empty name"); return -1; }
    const NamedFile *nf = find_named(TEXTS, N_TEXTS, name);
    size_t len = 0;
    char *buf;
    if (nf) {
        buf = read_named(nf, &len, d->source, d->sha256, err);
        if (!buf) return -1;
    } else {
        snprintf(d->source, sizeof d->source, "%s", name);
        buf = qb_read_text_file(name, &len, err);
        if (!buf) return -1;
        qb_sha256_hex(buf, len, d->sha256);
    }
    if (ends_with(d->source, ".jsonl")) {
        char *t = jsonl_text(buf, len, d->source, &len, err);
        free(buf);
        if (!t) return -1;
        buf = t;
    } else if (nf && !strncmp(name, "tinystories-", 12)) {
        size_t cut = dataset_tinystories_cut(buf, len);
        if (!strcmp(name, "tinystories-calib")) {
            memmove(buf, buf + cut, len - cut);
            len -= cut;
        } else {
            len = cut;
        }
        buf[len] = 0;
    }
    if (strlen(buf) != len) {
        snprintf(err, QB_ERRLEN, "dataset %.200s: %.200s contains a NUL byte", name, d->source);
        free(buf);
        return -1;
    }
    d->text = buf;
    d->len = len;
    return 0;
}

void dataset_text_free(TextDataset *d) {
    if (!d) return;
    free(d->text);
    d->text = NULL;
    d->len = 0;
}

/* ---- tasks ------------------------------------------------------------------------------------ */

typedef struct {
    TaskSet *t;
    size_t cap;
    int max;
} TaskBuild;

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

/* Takes ownership of prompt and refs (even on failure). */
static int task_push(TaskBuild *b, char *prompt, char **refs, int n_refs) {
    TaskSet *t = b->t;
    if (t->n == INT_MAX || qb_grow((void **)&t->pairs, &b->cap, (size_t)t->n + 1, sizeof *t->pairs)) goto fail;
    t->pairs[t->n++] = (PromptPair){prompt, refs, n_refs};
    return 0;
fail:
    free(prompt);
    for (int i = 0; i < n_refs; i++) free(refs[i]);
    free(refs);
    return -1;
}

static int task_line(void *ctx, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    TaskBuild *b = ctx;
    if (b->max > 0 && b->t->n >= b->max) return 1;
    cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "prompt");
    if (!cJSON_IsString(p)) { snprintf(err, QB_ERRLEN, "%.200s:%d: no string \"prompt\" field", file, line); return -1; }
    cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "reference");
    if (!r) r = cJSON_GetObjectItemCaseSensitive(obj, "response");
    cJSON *rs = cJSON_GetObjectItemCaseSensitive(obj, "references");
    int n = 0;
    if (cJSON_IsString(r) && !rs) n = 1;
    else if (cJSON_IsArray(rs) && !r) {
        n = cJSON_GetArraySize(rs);
        cJSON *it;
        cJSON_ArrayForEach(it, rs) if (!cJSON_IsString(it)) n = 0;
    }
    if (n <= 0) {
        snprintf(err, QB_ERRLEN, "%.200s:%d: need a string \"reference\" or a non-empty array of strings \"references\"",
                 file, line);
        return -1;
    }
    char **refs = calloc((size_t)n, sizeof *refs);
    char *prompt = strdup(p->valuestring);
    int ok = refs && prompt;
    if (ok && n == 1 && r) ok = (refs[0] = strdup(r->valuestring)) != NULL;
    else if (ok) {
        int i = 0;
        cJSON *it;
        cJSON_ArrayForEach(it, rs) if (ok) ok = (refs[i++] = strdup(it->valuestring)) != NULL;
    }
    if (!ok || task_push(b, prompt, refs, n)) {
        if (!ok) {
            free(prompt);
            if (refs) for (int i = 0; i < n; i++) free(refs[i]);
            free(refs);
        }
        snprintf(err, QB_ERRLEN, "%.200s:%d: out of memory", file, line);
        return -1;
    }
    return 0;
}

/* Story openings of the validation split → (first sentence, rest of the paragraph). */
static int tinystories_pairs(const char *text, size_t len, TaskBuild *b, char err[QB_ERRLEN]) {
    static const char OPEN[] = "Once upon a time";
    size_t i = 0;
    while (i < len && (b->max <= 0 || b->t->n < b->max)) {
        const char *nl = strstr(text + i, "\n\n");
        size_t end = nl && (size_t)(nl - text) < len ? (size_t)(nl - text) : len;
        if (end - i > sizeof OPEN && !memcmp(text + i, OPEN, sizeof OPEN - 1)) {
            size_t s = i;
            while (s + 1 < end && !((text[s] == '.' || text[s] == '!' || text[s] == '?') && text[s + 1] == ' ')) s++;
            if (s + 1 < end) {
                size_t r = s + 1;
                while (r < end && (text[r] == ' ' || text[r] == '\n')) r++;
                size_t re = end;
                while (re > r && (text[re - 1] == ' ' || text[re - 1] == '\n' || text[re - 1] == '\r')) re--;
                if (re > r) {
                    char **refs = malloc(sizeof *refs);
                    char *prompt = dup_n(text + i, s + 1 - i);
                    char *ref = dup_n(text + r, re - r);
                    if (!refs || !prompt || !ref) {
                        free(refs); free(prompt); free(ref);
                        snprintf(err, QB_ERRLEN, "tinystories-continuation: out of memory");
                        return -1;
                    }
                    refs[0] = ref;
                    if (task_push(b, prompt, refs, 1)) {
                        snprintf(err, QB_ERRLEN, "tinystories-continuation: out of memory");
                        return -1;
                    }
                }
            }
        }
        i = end;
        while (i < len && text[i] == '\n') i++;
    }
    return 0;
}

/* Parallel line files (wmt14): line k of src is the prompt, line k of ref the reference. */
static int parallel_pairs(const char *src, size_t ls, const char *ref, size_t lr, TaskBuild *b, char err[QB_ERRLEN]) {
    size_t a = 0, c = 0;
    int line = 0;
    while (a < ls && c < lr && (b->max <= 0 || b->t->n < b->max)) {
        line++;
        const char *na = memchr(src + a, '\n', ls - a), *nc = memchr(ref + c, '\n', lr - c);
        size_t ea = na ? (size_t)(na - src) : ls, ec = nc ? (size_t)(nc - ref) : lr;
        char **refs = malloc(sizeof *refs);
        char *p = dup_n(src + a, ea - a), *r = dup_n(ref + c, ec - c);
        if (!refs || !p || !r) {
            free(refs); free(p); free(r);
            snprintf(err, QB_ERRLEN, "wmt14-ende: out of memory at line %d", line);
            return -1;
        }
        refs[0] = r;
        if (task_push(b, p, refs, 1)) { snprintf(err, QB_ERRLEN, "wmt14-ende: out of memory"); return -1; }
        a = ea + 1;
        c = ec + 1;
    }
    return 0;
}

int dataset_load_task(const char *name, int max_pairs, TaskSet *t, char err[QB_ERRLEN]) {
    memset(t, 0, sizeof *t);
    if (!name || !*name) { snprintf(err, QB_ERRLEN, "task: empty name"); return -1; }
    TaskBuild b = {t, 0, max_pairs};
    const NamedFile *nf = find_named(TASKS, N_TASKS, name);
    size_t len = 0;
    char *buf;
    int rc;
    if (nf) buf = read_named(nf, &len, t->source, t->sha256, err);
    else {
        if (dataset_task_check(name, err)) return -1;
        snprintf(t->source, sizeof t->source, "%s", name);
        buf = qb_read_text_file(name, &len, err);
        if (buf) qb_sha256_hex(buf, len, t->sha256);
    }
    if (!buf) return -1;
    if (nf && !strcmp(name, "tinystories-continuation")) {
        rc = tinystories_pairs(buf, dataset_tinystories_cut(buf, len), &b, err);
    } else if (nf && !strcmp(name, "wmt14-ende")) {
        NamedFile de = {"wmt14-ende", WMT_DE, WMT_DE_SHA};
        char src2[1024], sha2[65];
        size_t len2 = 0;
        char *buf2 = read_named(&de, &len2, src2, sha2, err);
        rc = buf2 ? parallel_pairs(buf, len, buf2, len2, &b, err) : -1;
        free(buf2);
    } else {
        rc = dataset_jsonl_each(buf, len, t->source, task_line, &b, err);
    }
    free(buf);
    if (rc == 0 && t->n == 0) {
        snprintf(err, QB_ERRLEN, "task %.200s: %.200s holds no prompt/reference pairs", name, t->source);
        rc = -1;
    }
    if (rc) dataset_task_free(t);
    return rc;
}

void dataset_task_free(TaskSet *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        free(t->pairs[i].prompt);
        for (int k = 0; k < t->pairs[i].n_refs; k++) free(t->pairs[i].refs[k]);
        free(t->pairs[i].refs);
    }
    free(t->pairs);
    t->pairs = NULL;
    t->n = 0;
}

/* tasks.c — the zero-shot tasks of tasks.h: one loader per task family building each item's
 * (context, continuation) requests exactly as lm-evaluation-harness's task definitions do (0-shot,
 * target delimiter " "), llama.cpp's hellaswag text format, and user jsonl tasks. Inputs are
 * hostile: every field is type-checked, every gold index range-checked, and errors name file:line. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "datasets/datasets_internal.h"
#include "datasets/tasks.h"

/* ---- items ------------------------------------------------------------------------------------ */

int task_item_make(TaskItem *it, int n, const char *const *ctx, const char *const *cont, const long *choice_chars,
                   int gold) {
    memset(it, 0, sizeof *it);
    if (n < 1 || gold < 0 || gold >= n) return -1;
    size_t bytes = (size_t)n * (2 * sizeof(char *) + sizeof(long));
    for (int i = 0; i < n; i++) bytes += strlen(ctx[i]) + strlen(cont[i]) + 2;
    char *b = malloc(bytes);
    if (!b) return -1;
    it->block = b;
    it->ctx = (const char **)b;
    it->cont = (const char **)(b + (size_t)n * sizeof(char *));
    it->choice_chars = (long *)(b + (size_t)n * 2 * sizeof(char *));
    char *p = b + (size_t)n * (2 * sizeof(char *) + sizeof(long));
    for (int i = 0; i < n; i++) {
        size_t a = strlen(ctx[i]) + 1, c = strlen(cont[i]) + 1;
        memcpy(p, ctx[i], a);
        it->ctx[i] = p;
        p += a;
        memcpy(p, cont[i], c);
        it->cont[i] = p;
        p += c;
        it->choice_chars[i] = choice_chars ? choice_chars[i] : 0;
    }
    it->n = n;
    it->gold = gold;
    return 0;
}

void task_item_free(TaskItem *it) {
    free(it->block);
    memset(it, 0, sizeof *it);
}

void task_free(TaskData *t) {
    for (int i = 0; i < t->n; i++) task_item_free(&t->items[i]);
    free(t->items);
    memset(t, 0, sizeof *t);
}

/* Python's len(): code points of UTF-8 text (continuation bytes are not counted). */
static long code_points(const char *s) {
    long n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

typedef struct {
    TaskData *t;
    size_t cap;
    int limit;
    const char *file;
} Build;

static int push(Build *b, int n, const char *const *ctx, const char *const *cont, const long *chars, int gold,
                int line, char err[QB_ERRLEN]) {
    if (b->t->n == INT_MAX || qb_grow((void **)&b->t->items, &b->cap, (size_t)b->t->n + 1, sizeof *b->t->items)) {
        snprintf(err, QB_ERRLEN, "%.300s: out of memory", b->file);
        return -1;
    }
    if (task_item_make(&b->t->items[b->t->n], n, ctx, cont, chars, gold)) {
        snprintf(err, QB_ERRLEN, "%.300s:%d: bad item (gold %d of %d choices, or out of memory)", b->file, line, gold, n);
        return -1;
    }
    b->t->n++;
    return b->limit > 0 && b->t->n >= b->limit ? 1 : 0;
}

/* "s1" + "s2" (+ "s3") malloc'd */
static char *cat3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *o = malloc(la + lb + lc + 1);
    if (!o) return NULL;
    memcpy(o, a, la);
    memcpy(o + la, b, lb);
    if (c) memcpy(o + la + lb, c, lc);
    o[la + lb + lc] = 0;
    return o;
}

static const char *str_field(cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int missing(const char *file, int line, const char *key, char err[QB_ERRLEN]) {
    snprintf(err, QB_ERRLEN, "%.300s:%d: \"%s\" is missing or has the wrong type", file, line, key);
    return -1;
}

/* Multiple choice with one context: continuation " " + choice, acc_norm length = len(choice). */
static int push_mc(Build *b, const char *ctx, const char *const *choices, int n, int gold, int line,
                   char err[QB_ERRLEN]) {
    if (n < 1 || n > 64) { snprintf(err, QB_ERRLEN, "%.300s:%d: %d choices (1..64 allowed)", b->file, line, n); return -1; }
    if (gold < 0 || gold >= n) { snprintf(err, QB_ERRLEN, "%.300s:%d: gold %d is not a choice index (0..%d)", b->file, line, gold, n - 1); return -1; }
    const char *ctxs[64], *conts[64];
    char *own[64];
    long chars[64];
    int rc = 0, k;
    for (k = 0; k < n; k++) {
        own[k] = cat3(" ", choices[k], NULL);
        if (!own[k]) break;
        ctxs[k] = ctx;
        conts[k] = own[k];
        chars[k] = code_points(choices[k]);
    }
    if (k < n) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", b->file); rc = -1; }
    else rc = push(b, n, ctxs, conts, chars, gold, line, err);
    for (int i = 0; i < k; i++) free(own[i]);
    return rc;
}

/* ---- file readers ------------------------------------------------------------------------------- */

/* The labels file of piqa / winogrande: one integer per line. */
static int read_labels(const char *buf, size_t len, const char *file, int **out, int *n, char err[QB_ERRLEN]) {
    size_t cap = 0;
    int cnt = 0, *v = NULL, line = 0;
    size_t pos = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        char tmp[32];
        size_t l = end - pos;
        if (l && buf[pos + l - 1] == '\r') l--;
        if (l == 0 && !nl) break;
        if (l == 0 || l >= sizeof tmp) { free(v); snprintf(err, QB_ERRLEN, "%.300s:%d: not a label", file, line); return -1; }
        memcpy(tmp, buf + pos, l);
        tmp[l] = 0;
        char *e;
        long x = strtol(tmp, &e, 10);
        if (*e || x < 0 || x > 9) { free(v); snprintf(err, QB_ERRLEN, "%.300s:%d: not a label: \"%s\"", file, line, tmp); return -1; }
        if (qb_grow((void **)&v, &cap, (size_t)cnt + 1, sizeof *v)) {
            free(v);
            snprintf(err, QB_ERRLEN, "%.300s: out of memory", file);
            return -1;
        }
        v[cnt++] = (int)x;
        pos = end + 1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- the task families ----------------------------------------------------------------------- */

typedef struct {
    Build *b;
    const int *labels;
    int n_labels;
} LineCtx;

/* lambada_openai: doc_to_text = text.split(' ')[:-1] joined, doc_to_target = ' ' + text.split(' ')[-1] */
static int lambada_push(Build *b, const char *text, int line, char err[QB_ERRLEN]) {
    const char *sp = strrchr(text, ' ');
    size_t k = sp ? (size_t)(sp - text) : 0;
    char *ctx = malloc(k + 1), *cont = cat3(" ", sp ? sp + 1 : text, NULL);
    if (!ctx || !cont) { free(ctx); free(cont); snprintf(err, QB_ERRLEN, "%.300s: out of memory", b->file); return -1; }
    memcpy(ctx, text, k);
    ctx[k] = 0;
    const char *c1[1] = {ctx}, *c2[1] = {cont};
    int rc = push(b, 1, c1, c2, NULL, 0, line, err);
    free(ctx);
    free(cont);
    return rc;
}

static int lambada_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *text = str_field(obj, "text");
    if (!text) return missing(file, line, "text", err);
    return lambada_push(c->b, text, line, err);
}

static int piqa_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *goal = str_field(obj, "goal"), *s1 = str_field(obj, "sol1"), *s2 = str_field(obj, "sol2");
    if (!goal) return missing(file, line, "goal", err);
    if (!s1) return missing(file, line, "sol1", err);
    if (!s2) return missing(file, line, "sol2", err);
    int idx = c->b->t->n;
    if (idx >= c->n_labels) { snprintf(err, QB_ERRLEN, "%.300s:%d: no label for this line (the labels file has %d)", file, line, c->n_labels); return -1; }
    char *ctx = cat3("Question: ", goal, "\nAnswer:");
    if (!ctx) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    const char *ch[2] = {s1, s2};
    int rc = push_mc(c->b, ctx, ch, 2, c->labels[idx], line, err);
    free(ctx);
    return rc;
}

/* llm-foundry's ARC / COPA rows: {"query", "choices", "gold"} */
static int foundry_fields(cJSON *obj, const char *file, int line, const char **query, const char **ch, int *n,
                          int *gold, char err[QB_ERRLEN]) {
    *query = str_field(obj, "query");
    if (!*query) return missing(file, line, "query", err);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "choices"), *g = cJSON_GetObjectItemCaseSensitive(obj, "gold");
    if (!cJSON_IsArray(arr)) return missing(file, line, "choices", err);
    if (!cJSON_IsNumber(g) || g->valuedouble != (double)(int)g->valuedouble) return missing(file, line, "gold", err);
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsString(e)) return missing(file, line, "choices[]", err);
        if (*n == 64) { snprintf(err, QB_ERRLEN, "%.300s:%d: more than 64 choices", file, line); return -1; }
        ch[(*n)++] = e->valuestring;
    }
    *gold = (int)g->valuedouble;
    return 0;
}

static int arc_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *query, *ch[64];
    int n, gold;
    if (foundry_fields(obj, file, line, &query, ch, &n, &gold, err)) return -1;
    char *ctx = cat3(query, "\nAnswer:", NULL);
    if (!ctx) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    int rc = push_mc(c->b, ctx, ch, n, gold, line, err);
    free(ctx);
    return rc;
}

/* COPA: lm-eval's doc_to_text = premise.strip()[:-1] + " because|therefore"; llm-foundry stored
 * premise[:-1] + ", because|therefore", so the comma goes. Choices " " + c[0].lower() + c[1:], and
 * the target delimiter " " is prepended as for every multiple-choice task. */
static int copa_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *query, *ch[64];
    int n, gold;
    if (foundry_fields(obj, file, line, &query, ch, &n, &gold, err)) return -1;
    if (n != 2) { snprintf(err, QB_ERRLEN, "%.300s:%d: COPA needs 2 choices, not %d", file, line, n); return -1; }
    size_t ql = strlen(query);
    const char *conn = NULL;
    size_t cut = 0;
    if (ql > 9 && !strcmp(query + ql - 9, ", because")) conn = " because", cut = ql - 9;
    else if (ql > 11 && !strcmp(query + ql - 11, ", therefore")) conn = " therefore", cut = ql - 11;
    if (!conn) { snprintf(err, QB_ERRLEN, "%.300s:%d: query does not end in \", because\" or \", therefore\"", file, line); return -1; }
    char *prem = malloc(cut + 1);
    char *conv[2] = {NULL, NULL};
    int rc = -1;
    if (!prem) goto oom;
    memcpy(prem, query, cut);
    prem[cut] = 0;
    char *ctx = cat3(prem, conn, NULL);
    free(prem);
    if (!ctx) goto oom;
    for (int k = 0; k < 2; k++) {
        conv[k] = cat3(" ", ch[k], NULL); /* convert_choice: " " + c[0].lower() + c[1:] (ASCII lower) */
        if (!conv[k]) { free(ctx); goto oom; }
        if (conv[k][1]) conv[k][1] = (char)tolower((unsigned char)conv[k][1]);
    }
    const char *cc[2] = {conv[0], conv[1]};
    rc = push_mc(c->b, ctx, cc, 2, gold, line, err);
    free(ctx);
    free(conv[0]);
    free(conv[1]);
    return rc;
oom:
    free(conv[0]);
    snprintf(err, QB_ERRLEN, "out of memory");
    return -1;
}

static int boolq_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *q = str_field(obj, "question"), *title = str_field(obj, "title"), *pass = str_field(obj, "passage");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "answer");
    if (!q) return missing(file, line, "question", err);
    if (!title) return missing(file, line, "title", err);
    if (!pass) return missing(file, line, "passage", err);
    if (!cJSON_IsBool(a)) return missing(file, line, "answer", err);
    /* SuperGLUE's passage is "{title} -- {passage}" */
    size_t n = strlen(title) + strlen(pass) + strlen(q) + 40;
    char *ctx = malloc(n);
    if (!ctx) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    snprintf(ctx, n, "%s -- %s\nQuestion: %s?\nAnswer:", title, pass, q);
    const char *ch[2] = {"no", "yes"};
    int rc = push_mc(c->b, ctx, ch, 2, cJSON_IsTrue(a) ? 1 : 0, line, err);
    free(ctx);
    return rc;
}

/* Python str.strip() whitespace at s[i] (UTF-8); its length in bytes, 0 if none. */
static int py_space_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) return 1;
    if (c == 0xC2 && n >= 2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
    if (c == 0xE1 && n >= 3 && s[1] == 0x9A && s[2] == 0x80) return 3; /* U+1680 */
    if (c == 0xE2 && n >= 3 && s[1] == 0x80 && (s[2] <= 0x8A || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF)) return 3;
    if (c == 0xE2 && n >= 3 && s[1] == 0x81 && s[2] == 0x9F) return 3; /* U+205F */
    if (c == 0xE3 && n >= 3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

/* Python whitespace ending at s[n) (a UTF-8 sequence of length 1..3 that is whitespace). */
static int py_space_len_back(const char *s, size_t n) {
    for (int l = 1; l <= 3 && (size_t)l <= n; l++)
        if (py_space_len((const unsigned char *)s + n - l, (size_t)l) == l) return l;
    return 0;
}

/* winogrande (lm-eval preprocess_winogrande.py): i = sentence.index("_"); contexts
 * sentence[:i] + option1|2; continuation " " + sentence[i+1:].strip(); gold = {"1": 0, "2": 1}[answer] */
static int winogrande_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *s = str_field(obj, "sentence"), *o1 = str_field(obj, "option1"), *o2 = str_field(obj, "option2"),
               *ans = str_field(obj, "answer");
    if (!s) return missing(file, line, "sentence", err);
    if (!o1) return missing(file, line, "option1", err);
    if (!o2) return missing(file, line, "option2", err);
    if (!ans || (strcmp(ans, "1") && strcmp(ans, "2"))) return missing(file, line, "answer (\"1\" or \"2\")", err);
    int idx = c->b->t->n;
    if (c->labels && idx < c->n_labels && c->labels[idx] != ans[0] - '0') {
        snprintf(err, QB_ERRLEN, "%.300s:%d: answer %s disagrees with the labels file (%d)", file, line, ans, c->labels[idx]);
        return -1;
    }
    const char *us = strchr(s, '_');
    if (!us) { snprintf(err, QB_ERRLEN, "%.300s:%d: the sentence has no '_'", file, line); return -1; }
    size_t i = (size_t)(us - s);
    const char *t = us + 1;
    size_t tl = strlen(t), k;
    while (tl && (k = (size_t)py_space_len((const unsigned char *)t, tl)) > 0) t += k, tl -= k;
    while (tl && (k = (size_t)py_space_len_back(t, tl)) > 0) tl -= k;
    char *pre = malloc(i + 1), *cont = malloc(tl + 2);
    if (!pre || !cont) { free(pre); free(cont); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    memcpy(pre, s, i);
    pre[i] = 0;
    cont[0] = ' ';
    memcpy(cont + 1, t, tl);
    cont[tl + 1] = 0;
    char *c1 = cat3(pre, o1, NULL), *c2 = cat3(pre, o2, NULL);
    int rc = -1;
    if (c1 && c2) {
        const char *ctx[2] = {c1, c2}, *co[2] = {cont, cont};
        long chars[2] = {code_points(c1), code_points(c2)};
        rc = push(c->b, 2, ctx, co, chars, ans[0] - '1', line, err);
    } else {
        snprintf(err, QB_ERRLEN, "out of memory");
    }
    free(pre);
    free(cont);
    free(c1);
    free(c2);
    return rc;
}

/* user task: {"context": str, "choices": [str...], "gold": int} */
static int user_line(void *vc, cJSON *obj, const char *file, int line, char err[QB_ERRLEN]) {
    LineCtx *c = vc;
    const char *ctx = str_field(obj, "context");
    if (!ctx) return missing(file, line, "context", err);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "choices"), *g = cJSON_GetObjectItemCaseSensitive(obj, "gold");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1) return missing(file, line, "choices (a non-empty array of strings)", err);
    if (!cJSON_IsNumber(g) || g->valuedouble != (double)(int)g->valuedouble) return missing(file, line, "gold (an integer)", err);
    const char *ch[64];
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsString(e)) return missing(file, line, "choices[] (strings)", err);
        if (n == 64) { snprintf(err, QB_ERRLEN, "%.300s:%d: more than 64 choices", file, line); return -1; }
        ch[n++] = e->valuestring;
    }
    return push_mc(c->b, ctx, ch, n, (int)g->valuedouble, line, err);
}

/* llama.cpp's hellaswag text: 6 lines per item (context, gold 0..3, four endings). */
static int hellaswag_text(Build *b, const char *buf, size_t len, char err[QB_ERRLEN]) {
    const char *lines[6];
    size_t lens[6];
    size_t pos = 0;
    int k = 0, line = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        lines[k] = buf + pos;
        lens[k] = end - pos;
        line++;
        pos = end + 1;
        if (++k < 6) continue;
        k = 0;
        char *s[6];
        for (int i = 0; i < 6; i++) {
            s[i] = malloc(lens[i] + 2);
            if (!s[i]) { for (int j = 0; j < i; j++) free(s[j]); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
            /* endings are stored with the " " llama.cpp puts between context and ending */
            size_t off = i >= 2;
            s[i][0] = ' ';
            memcpy(s[i] + off, lines[i], lens[i]);
            s[i][lens[i] + off] = 0;
        }
        char *e;
        long gold = strtol(s[1], &e, 10);
        int rc;
        if (e == s[1] || *e || gold < 0 || gold > 3) {
            snprintf(err, QB_ERRLEN, "%.300s:%d: gold \"%.20s\" is not 0..3", b->file, line - 4, s[1]);
            rc = -1;
        } else {
            const char *ctx[4] = {s[0], s[0], s[0], s[0]}, *co[4] = {s[2], s[3], s[4], s[5]};
            rc = push(b, 4, ctx, co, NULL, (int)gold, line - 5, err);
        }
        for (int i = 0; i < 6; i++) free(s[i]);
        if (rc) return rc < 0 ? -1 : 0;
    }
    if (k != 0) { snprintf(err, QB_ERRLEN, "%.300s: %d lines: not a multiple of 6", b->file, line); return -1; }
    return 0;
}

/* ---- the table of named tasks ----------------------------------------------------------------- */

typedef enum { FAM_LAMBADA, FAM_PIQA, FAM_ARC, FAM_WINOGRANDE, FAM_BOOLQ, FAM_COPA, FAM_HELLASWAG, FAM_CLOZE } Family;

typedef struct {
    const char *name, *version;
    Family fam;
    TaskKind kind;
    int acc_norm;
    const char *file, *sha256;
    const char *labels, *labels_sha256;
} NamedTask;

static const NamedTask NAMED[] = {
    {"lambada_openai", "1.0", FAM_LAMBADA, TASK_GREEDY, 0, "zeroshot/lambada_openai/lambada_test.jsonl",
     "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226", NULL, NULL},
    {"piqa", "1.0", FAM_PIQA, TASK_MULTIPLE_CHOICE, 1, "zeroshot/piqa/valid.jsonl",
     "93503cc97c679e459b065c3d13e848282e44b2a25213985bed3e5d458abef72d", "zeroshot/piqa/valid-labels.lst",
     "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb"},
    {"arc_easy", "1.0", FAM_ARC, TASK_MULTIPLE_CHOICE, 1, "zeroshot/arc_easy/arc_easy_llmfoundry.jsonl",
     "d2d12e59543acf9a5ef6079634a72b30215e36c2fd4236fff3bc855d287b87f5", NULL, NULL},
    {"arc_challenge", "1.0", FAM_ARC, TASK_MULTIPLE_CHOICE, 1, "zeroshot/arc_challenge/arc_challenge_llmfoundry.jsonl",
     "1ae3aeedf1951d881cbd5c2e3a31e78a1993d251479afbe4cb413b6707244636", NULL, NULL},
    {"winogrande", "1.0", FAM_WINOGRANDE, TASK_PARTIAL, 0, "zeroshot/winogrande/dev.jsonl",
     "1aeac79cf46a3dcbe59a71ca7e5372a1490cde2b4ae2387dc56f00378104d2e8", "zeroshot/winogrande/dev-labels.lst",
     "5ae1e30f52a50b880515685dcfae7d57649cce256d375947cdd02f687de7e6ba"},
    {"boolq", "2.0", FAM_BOOLQ, TASK_MULTIPLE_CHOICE, 0, "zeroshot/boolq/dev.jsonl",
     "ebc29ea3808c5c611672384b3de56e83349fe38fc1fe876fd29b674d81d0a80a", NULL, NULL},
    {"copa", "1.0", FAM_COPA, TASK_MULTIPLE_CHOICE, 0, "zeroshot/copa/copa_llmfoundry.jsonl",
     "595dca44dec54c849490bd403a3e24a29e3b944065783222ebb0eb1a55298846", NULL, NULL},
    {"hellaswag-llamacpp", "1", FAM_HELLASWAG, TASK_LLAMACPP_HS, 0, "zeroshot/hellaswag/hellaswag_val_full.txt",
     "d572539320eb2050e858ca34b495bbe2103e3b3f1391a9c3bcdf215b0bb93bd1", NULL, NULL},
    {"tinystories-cloze", "1", FAM_CLOZE, TASK_GREEDY, 0, NULL, NULL, NULL, NULL},
};
#define N_NAMED (sizeof NAMED / sizeof NAMED[0])

static const char *const NAMES[] = {"lambada_openai", "piqa", "arc_easy", "arc_challenge", "winogrande", "boolq",
                                    "copa", "hellaswag-llamacpp", "tinystories-cloze", NULL};

const char *const *task_names(void) { return NAMES; }

static const NamedTask *find(const char *name) {
    for (size_t i = 0; i < N_NAMED; i++)
        if (!strcmp(NAMED[i].name, name)) return &NAMED[i];
    return NULL;
}

int task_is_named(const char *name) { return name && find(name) != NULL; }

static int is_jsonl(const char *s) {
    size_t n = strlen(s);
    return n > 6 && !strcmp(s + n - 6, ".jsonl");
}

int task_check(const char *name, char err[QB_ERRLEN]) {
    if (!name || !*name) { snprintf(err, QB_ERRLEN, "task: empty name"); return -1; }
    if (find(name)) return 0;
    if (!is_jsonl(name)) {
        snprintf(err, QB_ERRLEN, "task \"%.200s\": not a named task (lambada_openai, piqa, arc_easy, arc_challenge, "
                 "winogrande, boolq, copa, hellaswag-llamacpp, tinystories-cloze) nor a .jsonl file", name);
        return -1;
    }
    if (access(name, R_OK)) { snprintf(err, QB_ERRLEN, "task %.300s: cannot read the file", name); return -1; }
    return 0;
}

static void finish(TaskData *t) {
    double c = 0;
    for (int i = 0; i < t->n; i++) c += t->kind == TASK_GREEDY ? 0.0 : 1.0 / t->items[i].n;
    t->chance = t->n ? c / t->n : 0;
}

static int load_cloze(Build *b, char err[QB_ERRLEN]) {
    TextDataset d;
    if (dataset_load_text("tinystories-valid", &d, err)) return -1;
    TaskData *t = b->t;
    snprintf(t->source, sizeof t->source, "%s", d.source);
    memcpy(t->sha256, d.sha256, sizeof t->sha256);
    char **texts = NULL;
    int n = 0, rc = task_cloze_build(d.text, d.len, &texts, &n, err);
    dataset_text_free(&d);
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            int r = lambada_push(b, texts[i], i + 1, err);
            if (r < 0) rc = -1;
            if (r > 0) rc = 1;
        }
        free(texts[i]);
    }
    free(texts);
    return rc < 0 ? -1 : 0;
}

int task_load(const char *name, int limit, TaskData *t, char err[QB_ERRLEN]) {
    memset(t, 0, sizeof *t);
    if (task_check(name, err)) return -1;
    const NamedTask *nt = find(name);
    Build b = {t, 0, limit, NULL};
    char *buf = NULL, *lbuf = NULL;
    int *labels = NULL, n_labels = 0, rc = -1;
    size_t len = 0, llen = 0;
    char lsrc[1024];
    if (!nt) { /* user jsonl */
        snprintf(t->name, sizeof t->name, "%.63s", name);
        t->kind = TASK_MULTIPLE_CHOICE;
        t->has_acc_norm = 1;
        snprintf(t->source, sizeof t->source, "%s", name);
        buf = qb_read_text_file(name, &len, err);
        if (!buf) goto done;
        qb_sha256_hex(buf, len, t->sha256);
        snprintf(t->version, sizeof t->version, "%.12s", t->sha256); /* the file's content is its version */
        b.file = t->source;
        LineCtx c = {&b, NULL, 0};
        if (dataset_jsonl_each(buf, len, t->source, user_line, &c, err)) goto done;
    } else {
        snprintf(t->name, sizeof t->name, "%s", nt->name);
        snprintf(t->version, sizeof t->version, "%s", nt->version);
        t->kind = nt->kind;
        t->has_acc_norm = nt->acc_norm;
        b.file = t->source;
        if (nt->fam == FAM_CLOZE) {
            if (load_cloze(&b, err)) goto done;
        } else {
            buf = dataset_read_asset(nt->file, nt->sha256, &len, t->source, err);
            if (!buf) goto done;
            memcpy(t->sha256, nt->sha256, sizeof t->sha256);
            if (nt->labels) {
                lbuf = dataset_read_asset(nt->labels, nt->labels_sha256, &llen, lsrc, err);
                if (!lbuf || read_labels(lbuf, llen, lsrc, &labels, &n_labels, err)) goto done;
            }
            LineCtx c = {&b, labels, n_labels};
            JsonlLine fn = NULL;
            switch (nt->fam) {
            case FAM_LAMBADA: fn = lambada_line; break;
            case FAM_PIQA: fn = piqa_line; break;
            case FAM_ARC: fn = arc_line; break;
            case FAM_WINOGRANDE: fn = winogrande_line; break;
            case FAM_BOOLQ: fn = boolq_line; break;
            case FAM_COPA: fn = copa_line; break;
            default: break;
            }
            if (nt->fam == FAM_HELLASWAG) {
                if (hellaswag_text(&b, buf, len, err)) goto done;
            } else if (dataset_jsonl_each(buf, len, t->source, fn, &c, err)) {
                goto done;
            }
            if (labels && limit <= 0 && t->n != n_labels) {
                snprintf(err, QB_ERRLEN, "%.200s: %d items but %d labels in %.200s", t->source, t->n, n_labels, lsrc);
                goto done;
            }
        }
    }
    if (t->n == 0) { snprintf(err, QB_ERRLEN, "task %.200s: %.300s has no items", t->name, t->source); goto done; }
    finish(t);
    rc = 0;
done:
    free(buf);
    free(lbuf);
    free(labels);
    if (rc) task_free(t);
    return rc;
}

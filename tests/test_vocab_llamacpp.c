/* test_vocab_llamacpp.c — qbench's byte-level BPE against the token ids Hugging Face's tokenizers
 * produced for llama.cpp's tokenizer tests (models/ggml-vocab-NAME.gguf with .inp strings and .out ids,
 * made by llama.cpp's tests/test-tokenizer-0.py: tokenizer.encode(s, add_special_tokens=False)).
 * Those files are not in this repository: QB_LLAMACPP_VOCAB_DIR names the folder holding them, and
 * QB_VOCAB_JSON_DIR (optional) one holding NAME.tokenizer.json written from the same GGUF by
 * tests/fixtures/gguf_vocab_to_tokenizer_json.py, for the tokenizer.json path. Without them each test
 * is a counted skip.
 *   - gpt-2 and mpt (GPT-NeoX-20B's vocabulary) use GPT-2's regex: every string gives the .out ids,
 *     through the GGUF loader and through tokenizer.json.
 *   - starcoder, refact, falcon, deepseek-llm and deepseek-coder split differently (digits, punctuation,
 *     their own regexes): the GGUF loader refuses them by name rather than tokenizing them wrongly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer.h"

/* llama.cpp's read_tests: strings separated by "\n__ggml_vocab_test__\n", one line of ids each */
typedef struct { char **s; size_t *len; int **ids; int *n; int count; } Cases;

static int read_cases(const char *dir, const char *name, Cases *c) {
    char path[600], err[QB_ERRLEN];
    size_t lin, lout;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", dir, name);
    char *inp = qb_read_file(path, &lin, err);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", dir, name);
    char *out = qb_read_file(path, &lout, err);
    if (!inp || !out) {
        free(inp);
        free(out);
        return -1;
    }
    memset(c, 0, sizeof *c);
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    const size_t sl = sizeof SEP - 1;
    int cap = 256;
    c->s = calloc(cap, sizeof *c->s);
    c->len = calloc(cap, sizeof *c->len);
    c->ids = calloc(cap, sizeof *c->ids);
    c->n = calloc(cap, sizeof *c->n);
    size_t pos = 0;
    while (pos < lin && c->count < cap) {
        const char *nx = memmem(inp + pos, lin - pos, SEP, sl);
        size_t end = nx ? (size_t)(nx - inp) : lin;
        c->len[c->count] = end - pos;
        c->s[c->count] = malloc(end - pos + 1);
        memcpy(c->s[c->count], inp + pos, end - pos);
        c->s[c->count][end - pos] = 0;
        c->count++;
        if (!nx) break;
        pos = end + sl;
    }
    int line = 0;
    char *p = out, *e = out + lout;
    while (p < e && line < c->count) {
        char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl) nl = e;
        c->ids[line] = malloc(((size_t)(nl - p) / 2 + 1) * sizeof(int));
        char *q = p;
        while (q < nl) {
            while (q < nl && *q == ' ') q++;
            if (q >= nl) break;
            c->ids[line][c->n[line]++] = (int)strtol(q, &q, 10);
        }
        line++;
        p = nl + 1;
    }
    free(inp);
    free(out);
    assert_int_equal(line, c->count); /* as llama.cpp's reader demands */
    return 0;
}

static void free_cases(Cases *c) {
    for (int i = 0; i < c->count; i++) {
        free(c->s[i]);
        free(c->ids[i]);
    }
    free(c->s);
    free(c->len);
    free(c->ids);
    free(c->n);
}

/* Encodes every case with t; prints the ones that differ; returns how many do. */
static int run_cases(const Tokenizer *t, const Cases *c, const char *what) {
    int bad = 0;
    char err[QB_ERRLEN];
    for (int i = 0; i < c->count; i++) {
        int *ids = NULL, n = 0;
        if (tokenizer_encode(t, c->s[i], c->len[i], 0, &ids, &n, err)) fail_msg("%s: case %d: %s", what, i, err);
        int same = n == c->n[i] && (n == 0 || !memcmp(ids, c->ids[i], (size_t)n * sizeof(int)));
        if (!same) {
            bad++;
            printf("  %s case %d differs: \"%.60s\" -> %d ids (expected %d):", what, i, c->s[i], n, c->n[i]);
            for (int k = 0; k < n && k < 12; k++) printf(" %d", ids[k]);
            printf(" | expected");
            for (int k = 0; k < c->n[i] && k < 12; k++) printf(" %d", c->ids[i][k]);
            printf("\n");
        }
        free(ids);
    }
    printf("  %-28s %d strings, %d identical\n", what, c->count, c->count - bad);
    return bad;
}

static void check_vocab(const char *name) {
    const char *dir = getenv("QB_LLAMACPP_VOCAB_DIR");
    char path[600], err[QB_ERRLEN];
    Cases c = {0};
    if (!dir || read_cases(dir, name, &c)) skip();
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, name);
    Tokenizer *t = tokenizer_load(path, 0, err);
    if (!t) fail_msg("%s", err);
    char what[64];
    snprintf(what, sizeof what, "%s (GGUF)", name);
    int bad = run_cases(t, &c, what);
    tokenizer_free(t);
    const char *jdir = getenv("QB_VOCAB_JSON_DIR");
    if (jdir) {
        snprintf(path, sizeof path, "%s/%s.tokenizer.json", jdir, name);
        if (!(t = tokenizer_load(path, 0, err))) fail_msg("%s", err);
        snprintf(what, sizeof what, "%s (tokenizer.json)", name);
        bad += run_cases(t, &c, what);
        tokenizer_free(t);
    }
    free_cases(&c);
    assert_int_equal(bad, 0);
}

static void test_gpt2(void **st) { (void)st; check_vocab("gpt-2"); }
static void test_mpt(void **st) { (void)st; check_vocab("mpt"); }

static void test_other_pretokenizers_refused(void **st) {
    (void)st;
    const char *dir = getenv("QB_LLAMACPP_VOCAB_DIR");
    if (!dir) skip();
    static const char *NAMES[] = {"starcoder", "refact", "falcon", "deepseek-llm", "deepseek-coder"};
    int seen = 0;
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        char path[600], err[QB_ERRLEN] = "";
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, NAMES[i]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        seen++;
        Tokenizer *t = tokenizer_load(path, 0, err);
        if (t) fail_msg("%s: loaded, but its pre-tokenizer is not GPT-2's", NAMES[i]);
        printf("  %-15s refused: %s\n", NAMES[i], err);
        assert_non_null(strstr(err, "pre-tokenizer"));
        assert_non_null(strstr(err, NAMES[i]));
    }
    if (!seen) skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_other_pretokenizers_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

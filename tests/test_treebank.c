/* test_treebank.c — the fast path of NLTK's treebank tokenizer (mt_treebank_tokenize_lower: inert
 * chunks skip the regex cascade, the spans between them go through it, and only the passes that
 * can match run) against the reference form (mt_treebank_tokenize: every pass on the whole line,
 * then str.lower() per token) on the corpora in assets/, on generated adversarial lines and on
 * lines aimed at the edges of spans; both against NLTK 3.8 itself (tests/fixtures/treebank_nltk.txt,
 * written by tests/fixtures/make_treebank_fixture.py); and the error paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/meteor_internal.h"

/* ---- the reference: every pass on the whole line, then py_lower of each token ------------------------ */
static int reference_lower(const char *line, size_t n, MtTokens *out) {
    uint32_t *cps = malloc(sizeof(uint32_t) * (n + 1)), *low = malloc(sizeof(uint32_t) * (2 * n + 1));
    char *u8 = malloc(8 * n + 1);
    MtTokens raw = {0};
    int rc = -1;
    out->n = 0;
    out->used = 0;
    long m = utf8_decode(line, n, cps, NULL);
    if (m < 0 || mt_treebank_tokenize(cps, (size_t)m, &raw) != 0) goto done;
    for (int t = 0; t < raw.n; t++) {
        long k = utf8_decode(raw.buf + raw.off[t], (size_t)raw.len[t], cps, NULL);
        assert_true(k >= 0);
        size_t ln = py_lower(cps, (size_t)k, low);
        if (mt_tokens_push(out, u8, utf8_encode(low, ln, u8)) != 0) goto done;
    }
    rc = 0;
done:
    mt_tokens_free(&raw);
    free(cps); free(low); free(u8);
    return rc;
}

static int same_tokens(const MtTokens *a, const MtTokens *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || memcmp(a->buf + a->off[i], b->buf + b->off[i], (size_t)a->len[i]) != 0) return 0;
    return 1;
}
static void print_tokens(const char *label, const MtTokens *t) {
    fprintf(stderr, "  %s (%d):", label, t->n);
    for (int i = 0; i < t->n; i++) fprintf(stderr, " [%s]", t->buf + t->off[i]);
    fprintf(stderr, "\n");
}

/* Compares the fast path (tb, reused from line to line as METEOR does) with the reference on one
 * line; counts mismatches and prints the first. */
typedef struct {
    MtTreebank tb;
    MtTokens fast, ref;
    long lines, mismatches;
} Diff;
static void diff_line(Diff *d, const char *line, size_t n) {
    char err[QB_ERRLEN];
    d->lines++;
    assert_int_equal(reference_lower(line, n, &d->ref), 0);
    if (mt_treebank_tokenize_lower(&d->tb, line, n, &d->fast, "line", err) != 0) fail_msg("%s", err);
    if (same_tokens(&d->fast, &d->ref)) return;
    if (d->mismatches++ == 0) {
        fprintf(stderr, "first mismatch, line of %zu bytes: \"%.*s\"\n", n, (int)(n < 400 ? n : 400), line);
        print_tokens("fast", &d->fast);
        print_tokens("reference", &d->ref);
    }
}
static void diff_free(Diff *d) {
    mt_treebank_free(&d->tb);
    mt_tokens_free(&d->fast);
    mt_tokens_free(&d->ref);
}

/* ---- 1. corpora ----------------------------------------------------------------------------------- */
/* The lines of the English corpora in assets/ (at most max_lines per file: the reference costs
 * ~40 ns a byte, and the test should stay under 5 s with sanitizers). */
static void test_fast_matches_reference_corpora(void **state) {
    (void)state;
    static const char *const files[] = {
        "assets/meteor-examples/xray/reference", "assets/meteor-examples/xray/system1.hyp",
        "assets/meteor-examples/xray/system2.hyp", "assets/wmt14-ende/newstest2013.en.tok",
        "assets/wmt14-ende/newstest2014-filtered.en.tok", "assets/wikitext2/wiki.test.raw",
        "assets/wikitext2/wiki.test.tokens", "assets/wikitext2/wiki.valid.raw", "assets/wikitext2/wiki.valid.tokens",
        "assets/ptb/ptb.test.txt", "assets/ptb/ptb.valid.txt", "assets/c4/c4-en-train.00000-of-01024.first1000.jsonl",
        "assets/c4/c4-realnewslike-validation.prompt-response.200.jsonl",
    };
    const long max_lines = 2000;
    Diff d = {0};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char err[QB_ERRLEN];
        size_t len;
        char *buf = qb_read_file(files[f], &len, err);
        if (!buf) fail_msg("%s (make assets)", err);
        long k = 0;
        for (char *p = buf; p < buf + len && k < max_lines; k++) {
            char *e = memchr(p, '\n', (size_t)(buf + len - p));
            size_t n = e ? (size_t)(e - p) : (size_t)(buf + len - p);
            diff_line(&d, p, n);
            p += n + 1;
        }
        free(buf);
    }
    fprintf(stderr, "  corpora: %ld lines, %ld mismatches\n", d.lines, d.mismatches);
    assert_true(d.lines > 20000);
    assert_int_equal(d.mismatches, 0);
    diff_free(&d);
}

/* ---- 2. adversarial lines ------------------------------------------------------------------------- */
/* Random mixes of what the passes react to: quotes of every kind, punctuation, brackets, the final
 * period, clitics, contractions (whole, inside longer words, in any case), non-ASCII letters,
 * joined by nothing or by whitespace of every kind (a tab is not a space to the passes). */
static const char *const PIECES[] = {
    "'", "\"", "`", "``", "''", ",", ".", ":", ";", "!", "?", "(", ")", "[", "]", "{", "}", "<", ">", "-",
    "--", "...", "..", "$", "%", "&", "@", "#", "*", "_", "\u00ab", "\u00bb", "\u201c", "\u201d", "\u2018",
    "\u2019", "\u201e", "\u00e9", "\u00df", "\u03a3", "\u03c2", "\u0130", "\u039f\u03a3", "cannot", "gonna",
    "wanna", "gimme", "gotta", "lemme", "'tis", "'twas", "d'ye", "more'n", "'s", "'ll", "n't", "'re", "'ve",
    "'m", "'d", "'S", "N'T", "1,000", "3:15", "U.S.", "e.g.", "7",
};
static const char *const WORDS[] = {"the", "can", "not", "is", "was", "it", "don", "he", "x", "I", "a",
                                    "wannabe", "cannotx", "t", "more", "d", "Mr", "tis"};
static const char *const SEPARATORS[] = {"", "", "", " ", " ", " ", " ", "\t", "  ", "\u00a0", "\u3000",
                                         "\r", "\v", "\f", "\x1c", "\u2028", "\xc2\x85", " \t"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void append_cased(QbRng *r, char *buf, size_t *n, const char *s) {
    for (; *s; s++) {
        char c = *s;
        if (c >= 'a' && c <= 'z' && qb_rng_below(r, 10) < 3) c = (char)(c - 32);
        else if (c >= 'A' && c <= 'Z' && qb_rng_below(r, 10) < 3) c = (char)(c + 32);
        buf[(*n)++] = c;
    }
}
/* one line into buf (room for 1024 bytes); returns its length */
static size_t adversarial_line(QbRng *r, char *buf) {
    size_t n = 0;
    if (qb_rng_below(r, 5) == 0) append_cased(r, buf, &n, SEPARATORS[3 + qb_rng_below(r, COUNT(SEPARATORS) - 3)]);
    int pieces = 1 + (int)qb_rng_below(r, 24);
    for (int k = 0; k < pieces; k++) {
        const char *p = qb_rng_below(r, 10) < 6 ? PIECES[qb_rng_below(r, COUNT(PIECES))] : WORDS[qb_rng_below(r, COUNT(WORDS))];
        append_cased(r, buf, &n, p);
        if (k + 1 < pieces || qb_rng_below(r, 2)) append_cased(r, buf, &n, SEPARATORS[qb_rng_below(r, COUNT(SEPARATORS))]);
    }
    return n;
}

static void test_fast_matches_reference_adversarial(void **state) {
    (void)state;
    QbRng r;
    qb_rng_seed(&r, 20240601);
    Diff d = {0};
    char buf[1024];
    for (int i = 0; i < 6000; i++) diff_line(&d, buf, adversarial_line(&r, buf));
    /* the same lines again on a fresh tokenizer: what it remembers of spans must not matter */
    mt_treebank_free(&d.tb);
    qb_rng_seed(&r, 20240601);
    for (int i = 0; i < 2000; i++) diff_line(&d, buf, adversarial_line(&r, buf));
    fprintf(stderr, "  adversarial: %ld lines, %ld mismatches\n", d.lines, d.mismatches);
    assert_int_equal(d.mismatches, 0);
    diff_free(&d);
}

/* Lines built to probe the reasoning behind the fast path: a span's neighbours are whitespace of
 * each kind; quotes and clitics at the edges of spans; the anchored passes (^\" and the final
 * period, ([:,])$) at the real ends of the line and away from them; the final period's closers
 * reaching across several chunks. */
static void test_fast_matches_reference_edges(void **state) {
    (void)state;
    static const char *const lines[] = {
        "\"a\" b", "x \"a\" b", "x\t\"a\" b", "\t\"a\"", " \"a", "x ''a'' b", "x\t''a'' b", "a 'tis b", "a\t'tis b",
        "a 's b", "a\t's b", "a 's\tb", "a n't b", "he's", "he's ", "he's\t", "x wanna", "x wanna ", "x wanna\tb",
        "Wanna", "a.", "a. b", "a . b", "a .", "a .  ", "a . ) \" '", "a. ) x", "a.\t)", "a. ' '", "a,", "a, b",
        "a ,", "a ,\n", "a :", "a: b", "3:15 and 1,000", "x...", "x ... y", "... y", ".", "..", ". .", "a.b. c.",
        "\u00a0\"a\"", "a\u00a0's b", "a\u3000'tis b", "x \u201chi\u201d y", "x\u2019s y", "x 'x y", "x 'xy z",
        "CANNOT cannot Cannot", "cannot.", "(cannot)", "gimme gimmex", "d'ye more'n", "D'YE MORE'N",
        "x -- y", "x--y", "--", "(a) [b] {c} <d>", "a*b", "$5 & 10% @ #x; y?! z",
        "\u03a3\u039f\u03a3 \u039f\u03a3, \u0130stanbul.", "\u00bfqu\u00e9? \u00abs\u00ed\u00bb",
    };
    Diff d = {0};
    for (size_t i = 0; i < COUNT(lines); i++) diff_line(&d, lines[i], strlen(lines[i]));
    assert_int_equal(d.mismatches, 0);
    diff_free(&d);
}

/* ---- 3. NLTK itself ------------------------------------------------------------------------------ */
/* whether t holds the tokens after each \x01 of want (NULL: none) */
static int tokens_are(const MtTokens *t, const char *want) {
    int k = 0;
    for (const char *q = want; q; k++) {
        const char *next = strchr(q + 1, '\x01');
        size_t tl = next ? (size_t)(next - q - 1) : strlen(q + 1);
        if (k >= t->n || (size_t)t->len[k] != tl || memcmp(t->buf + t->off[k], q + 1, tl) != 0) return 0;
        q = next;
    }
    return k == t->n;
}
/* tests/fixtures/treebank_nltk.txt: per line, an input then "\x01" before each of NLTK's tokens
 * (str.lower()'d). The expected tokens come from NLTK 3.8, not from this code. Both the fast path
 * and the reference must give them. */
static void test_fast_matches_nltk_fixture(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *buf = qb_read_file("tests/fixtures/treebank_nltk.txt", &len, err);
    if (!buf) fail_msg("%s", err);
    MtTreebank tb = {0};
    MtTokens got = {0}, ref = {0};
    int lines = 0, bad = 0;
    for (char *p = buf; p < buf + len;) {
        char *e = memchr(p, '\n', (size_t)(buf + len - p));
        assert_non_null(e);
        *e = 0;
        char *want = strchr(p, '\x01');
        size_t n = want ? (size_t)(want - p) : strlen(p);
        assert_int_equal(mt_treebank_tokenize_lower(&tb, p, n, &got, "fixture", err), 0);
        assert_int_equal(reference_lower(p, n, &ref), 0);
        if ((!tokens_are(&got, want) || !tokens_are(&ref, want)) && bad++ == 0) {
            fprintf(stderr, "first mismatch with NLTK: \"%.*s\"\n  NLTK:", (int)n, p);
            for (const char *q = want; q && *q; q++) {
                if (*q == '\x01') fputs(q == want ? " [" : "] [", stderr);
                else fputc(*q, stderr);
            }
            fprintf(stderr, "%s\n", want ? "]" : "");
            print_tokens("fast", &got);
            print_tokens("reference", &ref);
        }
        lines++;
        p = e + 1;
    }
    fprintf(stderr, "  NLTK fixture: %d lines, %d mismatches\n", lines, bad);
    assert_true(lines >= 400);
    assert_int_equal(bad, 0);
    mt_treebank_free(&tb);
    mt_tokens_free(&got);
    mt_tokens_free(&ref);
    free(buf);
}

/* ---- 4. errors and sizes ---------------------------------------------------------------------------- */
/* Invalid UTF-8 is reported at the byte offset Python's decoder (and utf8_decode) gives, whether
 * it sits in a span, in what would be an inert chunk, or in whitespace; the tokenizer stays usable. */
static void test_invalid_utf8(void **state) {
    (void)state;
    static const struct { const char *line; size_t at; } cases[] = {
        {"it's, \xc0\xaf ok", 6},           /* overlong, in a span */
        {"word \xff more", 5},              /* a lone invalid byte */
        {"abc\xc3", 3},                     /* truncated, after word characters */
        {"abc def\xed\xa0\x80xyz", 7},      /* surrogate inside a word */
        {"one two \xe2\x80", 8},            /* truncated whitespace-to-be (U+2000..) */
        {"\"q\" \xf4\x90\x80\x80", 4},      /* beyond U+10FFFF */
        {"ok \xce\xa3 then \x80", 11},      /* valid non-ASCII first, then a stray continuation byte */
    };
    MtTreebank tb = {0};
    MtTokens out = {0};
    char err[QB_ERRLEN], want[QB_ERRLEN];
    for (size_t i = 0; i < COUNT(cases); i++) {
        const char *s = cases[i].line;
        size_t n = strlen(s), bad = 0;
        uint32_t cps[64];
        assert_true(utf8_decode(s, n, cps, &bad) < 0);
        assert_int_equal(bad, cases[i].at);
        assert_int_equal(mt_treebank_tokenize_lower(&tb, s, n, &out, "hypothesis", err), -1);
        snprintf(want, sizeof want, "hypothesis: invalid UTF-8 at byte %zu", cases[i].at);
        assert_string_equal(err, want);
        assert_int_equal(mt_treebank_tokenize_lower(&tb, "still fine.", 11, &out, "hypothesis", err), 0);
        assert_int_equal(out.n, 3);
    }
    mt_treebank_free(&tb);
    mt_tokens_free(&out);
}

static void test_empty_and_whitespace(void **state) {
    (void)state;
    static const char *const lines[] = {"", " ", "\t \t", "\u00a0\u3000 \u2028\x1c\r\v\f"};
    MtTreebank tb = {0};
    MtTokens out = {0};
    char err[QB_ERRLEN];
    assert_int_equal(mt_treebank_tokenize_lower(&tb, "x y", 3, &out, "r", err), 0);
    assert_int_equal(out.n, 2);
    for (size_t i = 0; i < COUNT(lines); i++) {
        assert_int_equal(mt_treebank_tokenize_lower(&tb, lines[i], strlen(lines[i]), &out, "r", err), 0);
        assert_int_equal(out.n, 0); /* emptied first */
    }
    mt_treebank_free(&tb);
    mt_tokens_free(&out);
}

/* 1 MB lines: words and punctuation (many spans and inert chunks), and one chunk without
 * whitespace (a single span of 1 MB, beyond what is remembered of spans). */
static void test_long_lines(void **state) {
    (void)state;
    size_t n = 1 << 20;
    char *line = malloc(n + 1);
    static const char unit[] = "Word, (x) 'tis \"q\" don't gonna e.g. \u03a3\u03c3 3:15 -- ";
    for (size_t i = 0; i < n; i++) line[i] = unit[i % (sizeof unit - 1)];
    line[n] = 0;
    /* cut at a character boundary, and end the line with a period */
    size_t m = n - 1;
    while ((unsigned char)line[m] >= 0x80) m--;
    line[m] = '.';
    Diff d = {0};
    diff_line(&d, line, m + 1);
    for (size_t i = 0; i < n; i++) line[i] = ",.'x"[i % 4];
    diff_line(&d, line, n);
    assert_int_equal(d.mismatches, 0);
    assert_true(d.fast.n > 1000);
    diff_free(&d);
    free(line);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_matches_reference_corpora),
        cmocka_unit_test(test_fast_matches_reference_adversarial),
        cmocka_unit_test(test_fast_matches_reference_edges),
        cmocka_unit_test(test_fast_matches_nltk_fixture),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_empty_and_whitespace),
        cmocka_unit_test(test_long_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

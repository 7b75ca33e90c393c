/* test_chrf.c — chrF / chrF++ against independent numbers:
 *   - Popović's published chrF++.py scores for assets/chrf-examples (README of m-popovic/chrF,
 *     copied in shared/assets/SOURCES.md), document "F" and macro "avgF", in --popovic mode;
 *   - sacrebleu's own test values (test/test_chrf.py of mjpost/sacrebleu 2.x) and the values in
 *     Hugging Face evaluate's chrF doctests (which run sacrebleu 2.x);
 *   - hand-worked cases for every quirk of docs/metrics.md §1 (the n-gram counts are in the comments);
 * plus the line-reading rules of metrics/textfile.c and the `qbench score` command line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <omp.h>
#include <cjson/cJSON.h>

#include "metrics/chrf.h"
#include "metrics/textfile.h"
#include "metrics/pystr.h"
#include "tests/common.h"

/* ---- helpers -------------------------------------------------------------------------------- */
static double pair_score(const char *hyp, const char *ref, const chrf_opts *o) {
    char err[QB_ERRLEN];
    double s = -1;
    const char *refs[1] = {ref};
    assert_int_equal(chrf_segment_stats(NULL, hyp, refs, 1, o, NULL, &s, err), 0);
    return s;
}

static chrf_stats pair_stats(const char *hyp, const char *ref, const chrf_opts *o) {
    char err[QB_ERRLEN];
    chrf_stats st;
    const char *refs[1] = {ref};
    assert_int_equal(chrf_segment_stats(NULL, hyp, refs, 1, o, &st, NULL, err), 0);
    return st;
}

/* corpus of n single-reference segments */
static chrf_result corpus(const char *const *hyps, const char *const *refs, size_t n, const chrf_opts *o,
                          double *sent) {
    char err[QB_ERRLEN];
    chrf_result r;
    assert_int_equal(chrf_corpus(hyps, n, refs, 1, o, &r, sent, err), 0);
    return r;
}

static void assert_close(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) fail_msg("got %.12f, want %.12f (tol %g)", got, want, tol);
}

/* "to the 4 published decimals": the value rounds to the published one */
#define assert_4dp(got, want) assert_close((got), (want), 0.5e-4)

static TextFile read_ok(const char *path) {
    TextFile tf;
    char err[QB_ERRLEN];
    if (textfile_read(path, &tf, err)) fail_msg("%s", err);
    return tf;
}

/* Popović-mode corpus of an assets/chrf-examples language. */
static chrf_result popovic_file(const char *lang, int nc, int nw, double beta, double *sent) {
    char hp[128], rp[128];
    snprintf(hp, sizeof hp, "assets/chrf-examples/example.hyp.%s", lang);
    snprintf(rp, sizeof rp, "assets/chrf-examples/example.ref.%s", lang);
    TextFile h = read_ok(hp), r = read_ok(rp);
    assert_int_equal(h.n, 10);
    assert_int_equal(r.n, 10);
    chrf_opts o = chrf_defaults(nw);
    o.char_order = nc;
    o.beta = beta;
    o.popovic = 1;
    chrf_result res = corpus((const char *const *)h.lines, (const char *const *)r.lines, h.n, &o, sent);
    textfile_free(&h);
    textfile_free(&r);
    return res;
}

/* ---- Popović's published numbers ------------------------------------------------------------- */
static void test_popovic_published_document_scores(void **state) {
    (void)state;
    chrf_result r;
    r = popovic_file("en", 6, 2, 2.0, NULL);
    assert_4dp(r.score, 54.9482); assert_4dp(r.mean_sentence, 52.1829);
    r = popovic_file("en", 8, 1, 2.0, NULL);
    assert_4dp(r.score, 52.7801); assert_4dp(r.mean_sentence, 49.7979);
    r = popovic_file("en", 6, 0, 2.0, NULL);
    assert_4dp(r.score, 58.0911); assert_4dp(r.mean_sentence, 55.1081);
    r = popovic_file("en", 6, 2, 1.0, NULL);
    assert_4dp(r.score, 53.9267); assert_4dp(r.mean_sentence, 50.9922);
    r = popovic_file("en", 6, 2, 0.4, NULL);
    assert_4dp(r.score, 52.7434); assert_4dp(r.mean_sentence, 50.0280);
    /* Cyrillic and Chinese: reproduced only when counting code points (Python 3), not bytes */
    r = popovic_file("ru", 6, 2, 2.0, NULL);
    assert_4dp(r.score, 42.2905); assert_4dp(r.mean_sentence, 42.6974);
    r = popovic_file("zh", 6, 0, 2.0, NULL);
    assert_4dp(r.score, 32.6986); assert_4dp(r.mean_sentence, 33.5167);
}

static void test_popovic_published_sentence_scores(void **state) {
    (void)state;
    static const double pub[10] = {64.0368, 70.8799, 21.5461, 31.9252, 44.5054,
                                   45.0953, 45.6882, 54.8102, 81.0330, 62.3084};
    double sent[10];
    popovic_file("en", 6, 2, 2.0, sent);
    for (int i = 0; i < 10; i++) assert_4dp(sent[i], pub[i]);
}

/* ---- sacrebleu's and Hugging Face's published values ----------------------------------------- */
static const char *HF_HYP[2] = {"The relationship between cats and dogs is not exactly friendly.",
                                "a good bookshop is just a genteel black hole that knows how to read."};
static const char *HF_REF[2] = {"The relationship between dogs and cats is not exactly friendly.",
                                "A good bookshop is just a genteel Black Hole that knows how to read."};

static void test_huggingface_doctest_values(void **state) {
    (void)state;
    chrf_opts o = chrf_defaults(0);
    assert_close(corpus(HF_HYP, HF_REF, 2, &o, NULL).score, 84.64214891738334, 1e-9);
    o = chrf_defaults(2);
    assert_close(corpus(HF_HYP, HF_REF, 2, &o, NULL).score, 82.87263732906315, 1e-9);
    o.lowercase = 1;
    assert_close(corpus(HF_HYP, HF_REF, 2, &o, NULL).score, 92.12853119829202, 1e-9);
    /* Hugging Face datasets' metric card, one sentence, sacrebleu defaults */
    o = chrf_defaults(0);
    assert_close(pair_score("The relationship between Obama and Netanyahu is not exactly friendly.",
                            "The ties between Obama and Netanyahu are not particularly friendly.", &o),
                 61.576379378113785, 1e-9);
}

/* sacrebleu test/test_chrf.py (tolerance 1e-4 there; several expected values are rounded) */
static void test_sacrebleu_test_suite_values(void **state) {
    (void)state;
    chrf_opts eps = chrf_defaults(0), eff = chrf_defaults(0);
    eps.beta = eff.beta = 3;
    eps.eps_smoothing = 1;
    struct { const char *h, *r; double eps, eff; } one[] = {
        {"abcdefg", "hijklmnop", 0.0, -1},
        {"a", "b", 0.0, -1},
        {"", "b", 0.0, -1},
        {"", "ref", 0.0, -1},
        {"", "reference", 0.0, 0.0},
        {"aa", "ab", 8.3333, 25.0},
        {"a", "a", 16.6667, 100.0},
        {"a b c", "a b c", 50.0, 100.0},
        {"a b c", "abc", 50.0, 100.0},
        {"", "c", -1, 0.0},
        {" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
         "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .",
         63.361730, -1},
        {" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. ",
         "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", 64.1302698, -1},
        {"Niemand hat die Absicht, eine Mauer zu errichten", "Niemand hat die Absicht, eine Mauer zu errichten",
         100.0, -1},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        if (one[i].eps >= 0) assert_close(pair_score(one[i].h, one[i].r, &eps), one[i].eps, 1e-4);
        if (one[i].eff >= 0) assert_close(pair_score(one[i].h, one[i].r, &eff), one[i].eff, 1e-4);
    }
    /* two-segment corpora */
    const char *h2[2] = {"a", "b"}, *r2[2] = {"a", "c"};
    assert_close(corpus(h2, r2, 2, &eps, NULL).score, 8.3333, 1e-4);
    assert_close(corpus(h2, r2, 2, &eff, NULL).score, 50.0, 1e-4);

    /* whitespace kept (effective order, beta 3) */
    chrf_opts ws = eff;
    ws.whitespace = 1;
    assert_close(pair_score("Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.",
                            "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", &ws),
                 67.3481606, 1e-4);
    assert_close(pair_score("risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
                            "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .", &ws),
                 65.2414427, 1e-4);

    /* sentence level, eps smoothing, beta 2, Czech */
    chrf_opts cs = chrf_defaults(0);
    cs.eps_smoothing = 1;
    assert_close(pair_score("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
                            "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", &cs),
                 39.14078509, 1e-4);
    assert_close(pair_score("Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
                            "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", &cs),
                 31.22557079, 1e-4);
    assert_close(pair_score("Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
                            "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", &cs),
                 57.15704367, 1e-4);
}

/* ---- hand-worked quirks (docs/metrics.md §1) ------------------------------------------------------- */
/* §1.5: an order the reference lacks contributes no hypothesis n-grams either. */
static void test_hyp_count_zero_when_ref_lacks_order(void **state) {
    (void)state;
    chrf_opts o = chrf_defaults(0);
    /* hyp "abc", ref "a": order 1 H={a,b,c} R={a}: hyp 3, ref 1, match 1; orders 2..6: R empty,
     * so all zero although H has "ab","bc","abc". Effective orders: 1 -> P=1/3, R=1,
     * F = 5*(1/3)*1 / (4/3 + 1) = 5/7. */
    chrf_stats st = pair_stats("abc", "a", &o);
    assert_int_equal(st.norder, 6);
    assert_int_equal(st.v[0], 3); assert_int_equal(st.v[1], 1); assert_int_equal(st.v[2], 1);
    for (int k = 3; k < 18; k++) assert_int_equal(st.v[k], 0);
    assert_close(pair_score("abc", "a", &o), 100.0 * 5 / 7, 1e-12);
    /* corpus: ("abc","a") + ("ab","ab"); sums order1 (3+2, 1+2, 1+2) = (5,3,3), order2 (0+1,0+1,0+1).
     * P = (3/5 + 1)/2 = 0.8, R = (1 + 1)/2 = 1, F = 5*0.8/(3.2+1) = 4/4.2 */
    const char *h[2] = {"abc", "ab"}, *r[2] = {"a", "ab"};
    chrf_result res = corpus(h, r, 2, &o, NULL);
    assert_int_equal(res.total.v[0], 5); assert_int_equal(res.total.v[1], 3); assert_int_equal(res.total.v[2], 3);
    assert_int_equal(res.total.v[3], 1); assert_int_equal(res.total.v[4], 1); assert_int_equal(res.total.v[5], 1);
    assert_close(res.score, 100.0 * 4 / 4.2, 1e-12);
    /* the corpus score is not the mean of sentence scores: (500/7 + 100)/2 */
    assert_close(res.mean_sentence, (100.0 * 5 / 7 + 100.0) / 2, 1e-12);
}

/* §1.3: Python's 29 whitespace code points are removed; U+200B is not whitespace. */
static void test_whitespace_rules(void **state) {
    (void)state;
    chrf_opts o = chrf_defaults(0);
    assert_true(pair_score("a b c", "abc", &o) == 100.0);
    /* tab, NBSP, U+3000, U+2028, U+0085, U+001F all removed */
    assert_true(pair_score("a\tb\xC2\xA0" "c\xE3\x80\x80" "d\xE2\x80\xA8" "e\xC2\x85" "f\x1F" "g", "abcdefg", &o) == 100.0);
    /* U+200B stays: hyp chars a,ZW,b vs ref a,b. Order 1: h3 r2 m2; order 2: {aZ,Zb} vs {ab}: h2 r1 m0;
     * order 3: ref has none -> 0. P = (2/3+0)/2 = 1/3, R = (1+0)/2 = 1/2, F = (5/6)/(4/3+1/2) = 5/11 */
    assert_close(pair_score("a\xE2\x80\x8B" "b", "ab", &o), 100.0 * 5 / 11, 1e-12);
    /* whitespace kept: "a b" vs "ab" is the same picture with ' ' in place of ZWSP */
    o.whitespace = 1;
    assert_close(pair_score("a b", "ab", &o), 100.0 * 5 / 11, 1e-12);
    /* edge values: empty / whitespace-only give 0 */
    o = chrf_defaults(2);
    assert_true(pair_score("", "abc", &o) == 0.0);
    assert_true(pair_score("abc", "", &o) == 0.0);
    assert_true(pair_score("", "", &o) == 0.0);
    assert_true(pair_score(" \t ", "  ", &o) == 0.0);
    /* identical non-empty strings: exactly 100, also a single character */
    assert_true(pair_score("Hello, world!", "Hello, world!", &o) == 100.0);
    o = chrf_defaults(0);
    assert_true(pair_score("a", "a", &o) == 100.0);
}

/* §1.4 with char_order 0 and word_order 1, so the stats are word unigrams only. */
static chrf_stats words1(const char *h, const char *r) {
    chrf_opts o = chrf_defaults(1);
    o.char_order = 0;
    return pair_stats(h, r, &o);
}
#define ASSERT_W(st, H, R, M) do { assert_int_equal((st).v[0], H); assert_int_equal((st).v[1], R); \
                                   assert_int_equal((st).v[2], M); } while (0)

static void test_word_punctuation_rule(void **state) {
    (void)state;
    /* "(hi)" -> "(hi", ")": the trailing character wins over the leading one. The ref "( hi )"
     * has "(", "hi", ")", so only ")" matches (a full split would give 3 of 3). */
    ASSERT_W(words1("(hi)", "( hi )"), 2, 3, 1);
    ASSERT_W(words1("(hi)", "(hi)"), 2, 2, 2);
    /* "..." -> "..", "."; ref ". . ." -> three "." tokens: one match */
    ASSERT_W(words1("...", ". . ."), 2, 3, 1);
    ASSERT_W(words1("U.S.", "U.S ."), 2, 2, 2);           /* "U.S." -> "U.S", "." */
    /* '"Hello,"' -> '"Hello,', '"' (one character split off, not three tokens); ref '" Hello , "'
     * has tokens '"', 'Hello', ',', '"': only '"' matches */
    ASSERT_W(words1("\"Hello,\"", "\" Hello , \""), 2, 4, 1);
    ASSERT_W(words1("(hi", "( hi"), 2, 2, 2);             /* leading punctuation */
    ASSERT_W(words1(".", "."), 1, 1, 1);                  /* length 1 kept */
    /* non-ASCII punctuation is not in string.punctuation: "«hi»" stays one token */
    ASSERT_W(words1("\xC2\xABhi\xC2\xBB", "\xC2\xAB hi \xC2\xBB"), 1, 3, 0);
    /* word bigrams: "a b c" vs "a b d": unigrams h3 r3 m2; bigrams {a b, b c} vs {a b, b d}: m1 */
    chrf_opts o = chrf_defaults(2);
    o.char_order = 0;
    chrf_stats st = pair_stats("a b c", "a b d", &o);
    ASSERT_W(st, 3, 3, 2);
    assert_int_equal(st.v[3], 2); assert_int_equal(st.v[4], 2); assert_int_equal(st.v[5], 1);
    /* clipped matches: hyp "x x x" vs ref "x x y": unigram min(3,2) = 2 */
    ASSERT_W(words1("x x x", "x x y"), 3, 3, 2);
}

/* Code points, not bytes. */
static void test_code_points_not_bytes(void **state) {
    (void)state;
    chrf_opts o = chrf_defaults(0);
    /* "é" (2 bytes) is one character: order 1 h1 r1 m1, no order 2 */
    chrf_stats st = pair_stats("\xC3\xA9", "\xC3\xA9", &o);
    assert_int_equal(st.v[0], 1); assert_int_equal(st.v[3], 0);
    /* "日本" vs "日本語": order 1 h2 r3 m2, order 2 h1 r2 m1, order 3 ref only -> zeroed */
    st = pair_stats("\xE6\x97\xA5\xE6\x9C\xAC", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", &o);
    assert_int_equal(st.v[0], 2); assert_int_equal(st.v[1], 3); assert_int_equal(st.v[2], 2);
    assert_int_equal(st.v[3], 1); assert_int_equal(st.v[4], 2); assert_int_equal(st.v[5], 1);
    assert_int_equal(st.v[6], 0); assert_int_equal(st.v[7], 1);
    /* two different characters sharing UTF-8 lead bytes do not match: é (C3 A9) vs è (C3 A8) */
    assert_true(pair_score("\xC3\xA9", "\xC3\xA8", &o) == 0.0);
}

static void test_lowercase_python_semantics(void **state) {
    (void)state;
    chrf_opts o = chrf_defaults(0);
    assert_true(pair_score("ABC", "abc", &o) == 0.0); /* case-sensitive by default */
    o.lowercase = 1;
    assert_true(pair_score("ABC", "abc", &o) == 100.0);
    /* final sigma: 'ΟΔΟΣ'.lower() == 'οδος' ending in U+03C2 */
    const char *upper = "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3";
    assert_true(pair_score(upper, "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82", &o) == 100.0);
    assert_true(pair_score(upper, "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83", &o) < 100.0);
    /* mid-word sigma stays σ: 'ΣΑ'.lower() == 'σα' */
    assert_true(pair_score("\xCE\xA3\xCE\x91", "\xCF\x83\xCE\xB1", &o) == 100.0);
    /* 'İ'.lower() == 'i̇' (two code points) */
    chrf_stats st = pair_stats("\xC4\xB0", "i\xCC\x87", &o);
    assert_int_equal(st.v[0], 2); assert_int_equal(st.v[2], 2);
    /* not locale-aware: 'I' -> 'i' */
    assert_true(pair_score("I", "i", &o) == 100.0);
}

static void test_eps_and_effective_modes(void **state) {
    (void)state;
    /* "a" vs "a", beta 3: eps mode averages F over all 6 orders -> 100/6; effective -> 100 */
    chrf_opts o = chrf_defaults(0);
    o.beta = 3;
    o.eps_smoothing = 1;
    assert_close(pair_score("a", "a", &o), 100.0 / 6, 1e-12);
    o.eps_smoothing = 0;
    assert_true(pair_score("a", "a", &o) == 100.0);
    /* beta 1 effective: "ab" vs "ac": order1 P=R=1/2, order2 P=R=0 -> avg 1/4 each -> F = 1/4 */
    o.beta = 1;
    assert_close(pair_score("ab", "ac", &o), 25.0, 1e-12);
    /* beta 0: F is the precision. "ab" vs "abc": P = (1 + 1)/2 = 1 */
    o.beta = 0;
    assert_close(pair_score("ab", "abc", &o), 100.0, 1e-12);
}

/* §1.7: best reference by sentence F, strictly greater, running best starts at -1. */
static void test_multi_reference_choice(void **state) {
    (void)state;
    chrf_opts o = chrf_defaults(0);
    char err[QB_ERRLEN];
    chrf_stats st;
    double s;
    /* both references score 0: the first is kept, so its ref count 2 (not 3) is the stats */
    const char *r1[2] = {"cd", "efg"};
    assert_int_equal(chrf_segment_stats(NULL, "ab", r1, 2, &o, &st, &s, err), 0);
    assert_true(s == 0.0);
    assert_int_equal(st.v[0], 2); assert_int_equal(st.v[1], 2); assert_int_equal(st.v[2], 0);
    /* docs/metrics.md example: refs ["abc", ""] for "xyz": the first ref's non-zero hyp counts stay */
    const char *r2[2] = {"abc", ""};
    assert_int_equal(chrf_segment_stats(NULL, "xyz", r2, 2, &o, &st, &s, err), 0);
    assert_int_equal(st.v[0], 3); assert_int_equal(st.v[3], 2); assert_int_equal(st.v[6], 1);
    /* a later strictly better reference wins; NULL references are skipped */
    const char *r3[3] = {"xbc", NULL, "abc"};
    assert_int_equal(chrf_segment_stats(NULL, "abc", r3, 3, &o, &st, &s, err), 0);
    assert_true(s == 100.0);
    /* corpus with two reference streams: flat layout refs[r * nseg + i] */
    const char *hyps[2] = {"abc", "xyz"};
    const char *refs[4] = {"abd", "xyz", "abc", "xyw"};
    chrf_result res;
    assert_int_equal(chrf_corpus(hyps, 2, refs, 2, &o, &res, NULL, err), 0);
    assert_true(res.score == 100.0); /* stream 2 for segment 1, stream 1 for segment 2 */
    /* every reference missing is an error, naming the segment */
    const char *none[2] = {NULL, NULL};
    assert_int_equal(chrf_segment_stats(NULL, "a", none, 2, &o, &st, &s, err), -1);
    const char *hyp1[1] = {"a"};
    assert_int_equal(chrf_corpus(hyp1, 1, none, 2, &o, &res, NULL, err), -1);
    assert_non_null(strstr(err, "segment 1"));
}

/* Statistics add: shards merged equal one pass; thread count does not change the bits. */
static void test_stats_merge_and_determinism(void **state) {
    (void)state;
    TextFile h = read_ok("assets/chrf-examples/example.hyp.cs"), r = read_ok("assets/chrf-examples/example.ref.cs");
    chrf_opts o = chrf_defaults(2);
    const char *const *H = (const char *const *)h.lines, *const *R = (const char *const *)r.lines;
    chrf_result all = corpus(H, R, 10, &o, NULL);
    chrf_result a = corpus(H, R, 4, &o, NULL), b = corpus(H + 4, R + 4, 6, &o, NULL);
    chrf_stats sum = a.total;
    chrf_stats_add(&sum, &b.total);
    assert_memory_equal(sum.v, all.total.v, sizeof(int64_t) * 3 * 8);
    assert_true(chrf_score_from_stats(&sum, &o) == all.score);
    /* per-segment stats add up to the corpus stats too */
    chrf_stats acc;
    chrf_stats_zero(&acc, &o);
    chrf_ws *ws = chrf_ws_new();
    char err[QB_ERRLEN];
    for (int i = 0; i < 10; i++) {
        chrf_stats st;
        assert_int_equal(chrf_segment_stats(ws, H[i], &R[i], 1, &o, &st, NULL, err), 0);
        chrf_stats_add(&acc, &st);
    }
    chrf_ws_free(ws);
    assert_memory_equal(acc.v, all.total.v, sizeof(int64_t) * 3 * 8);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    chrf_result one = corpus(H, R, 10, &o, NULL);
    omp_set_num_threads(3);
    chrf_result three = corpus(H, R, 10, &o, NULL);
    omp_set_num_threads(saved);
    assert_true(one.score == three.score && one.mean_sentence == three.mean_sentence);
    assert_true(one.score == all.score);
    textfile_free(&h);
    textfile_free(&r);
}

/* Segments are scored on several threads; 1 and 2 threads must give identical statistics and
 * bits, equal to the in-order sum of chrf_segment_stats. xray system1 against two reference
 * streams (reference, system2.hyp: 2,489 segments, so both threads get work), chrF++ in sacrebleu
 * and Popović modes. */
static void test_threads_identical(void **state) {
    (void)state;
    TextFile h = read_ok("assets/meteor-examples/xray/system1.hyp"), r = read_ok("assets/meteor-examples/xray/reference"),
             h2 = read_ok("assets/meteor-examples/xray/system2.hyp");
    size_t n = h.n;
    assert_int_equal(n, 2489);
    assert_int_equal(r.n, n);
    assert_int_equal(h2.n, n);
    const char **refs = malloc(2 * n * sizeof(char *)); /* stream 1, then stream 2 */
    for (size_t i = 0; i < n; i++) { refs[i] = r.lines[i]; refs[n + i] = h2.lines[i]; }
    double *s1 = malloc(n * sizeof(double)), *s2 = malloc(n * sizeof(double));
    char err[QB_ERRLEN];
    int saved = omp_get_max_threads();
    for (int mode = 0; mode < 2; mode++) {
        chrf_opts o = chrf_defaults(2);
        o.popovic = mode;
        chrf_result a, b;
        omp_set_num_threads(1);
        assert_int_equal(chrf_corpus((const char *const *)h.lines, n, refs, 2, &o, &a, s1, err), 0);
        omp_set_num_threads(2);
        assert_int_equal(chrf_corpus((const char *const *)h.lines, n, refs, 2, &o, &b, s2, err), 0);
        assert_memory_equal(a.total.v, b.total.v, sizeof(int64_t) * 3 * 8);
        assert_memory_equal(&a.score, &b.score, sizeof(double));
        assert_memory_equal(&a.mean_sentence, &b.mean_sentence, sizeof(double));
        assert_memory_equal(s1, s2, n * sizeof(double));
        chrf_stats acc;
        chrf_stats_zero(&acc, &o);
        chrf_ws *ws = chrf_ws_new();
        for (size_t i = 0; i < n; i++) {
            chrf_stats st;
            double sc;
            const char *rr[2] = {refs[i], refs[n + i]};
            assert_int_equal(chrf_segment_stats(ws, h.lines[i], rr, 2, &o, &st, &sc, err), 0);
            assert_memory_equal(&sc, &s1[i], sizeof(double));
            chrf_stats_add(&acc, &st);
        }
        chrf_ws_free(ws);
        assert_memory_equal(acc.v, a.total.v, sizeof(int64_t) * 3 * 8);
    }
    omp_set_num_threads(saved);
    free(s1); free(s2); free(refs);
    textfile_free(&h); textfile_free(&r); textfile_free(&h2);
}

/* Python string semantics (metrics/pystr.h); expected values from CPython 3 (str.isspace,
 * str.lower, bytes.decode('utf-8')), checked by hand against the Unicode tables. */
static void test_python_string_helpers(void **state) {
    (void)state;
    /* the 29 code points of str.isspace(), and nothing else in all of Unicode */
    static const uint32_t sp[] = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20,
                                  0x85, 0xA0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
                                  0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F,
                                  0x205F, 0x3000};
    int count = 0;
    for (uint32_t c = 0; c <= 0x10FFFF; c++) count += py_isspace(c);
    assert_int_equal(count, 29);
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) assert_true(py_isspace(sp[i]));
    assert_false(py_isspace(0x200B) || py_isspace(0x180E) || py_isspace(0xFEFF) || py_isspace(0x84));
    /* str.lower(): 'İ' -> 'i' + U+0307; Σ -> ς at the end of a word, σ elsewhere; 'ẞ' -> 'ß' */
    uint32_t in[8], out[16];
    size_t k = 0, m;
    in[k++] = 0x130; in[k++] = 'A';
    m = py_lower(in, k, out);
    assert_int_equal(m, 3);
    assert_true(out[0] == 'i' && out[1] == 0x307 && out[2] == 'a');
    k = 0; in[k++] = 0x39F; in[k++] = 0x394; in[k++] = 0x39F; in[k++] = 0x3A3; /* "ΟΔΟΣ" -> "οδος" */
    m = py_lower(in, k, out);
    assert_int_equal(m, 4);
    assert_true(out[0] == 0x3BF && out[1] == 0x3B4 && out[2] == 0x3BF && out[3] == 0x3C2);
    in[0] = 0x3A3; /* "Σ" alone -> "σ" */
    assert_int_equal(py_lower(in, 1, out), 1);
    assert_true(out[0] == 0x3C3);
    in[0] = 0x3A3; in[1] = 0x391; /* "ΣΑ" -> "σα" (not final) */
    assert_int_equal(py_lower(in, 2, out), 2);
    assert_true(out[0] == 0x3C3 && out[1] == 0x3B1);
    in[0] = 0x1E9E;
    py_lower(in, 1, out);
    assert_true(out[0] == 0xDF);
    /* strict UTF-8: overlong, surrogate, beyond U+10FFFF, truncated -> error at the offending byte */
    uint32_t cp[8];
    size_t bad = 99;
    assert_int_equal(utf8_decode("a\xc3\xa9\xf0\x9f\x98\x80", 7, cp, &bad), 3);
    assert_true(cp[0] == 'a' && cp[1] == 0xE9 && cp[2] == 0x1F600);
    assert_int_equal(utf8_decode("ab\xc0\x80", 4, cp, &bad), -1);
    assert_int_equal(bad, 2);
    assert_int_equal(utf8_decode("\xed\xa0\x80", 3, cp, &bad), -1);
    assert_int_equal(bad, 0);
    assert_int_equal(utf8_decode("x\xf4\x90\x80\x80", 5, cp, &bad), -1);
    assert_int_equal(bad, 1);
    assert_int_equal(utf8_decode("xy\xe2\x82", 4, cp, &bad), -1);
    assert_int_equal(bad, 2);
    char enc[16];
    uint32_t u[3] = {'a', 0xE9, 0x1F600};
    assert_int_equal(utf8_encode(u, 3, enc), 7);
    assert_memory_equal(enc, "a\xc3\xa9\xf0\x9f\x98\x80", 7);
}

/* Random strings over a small alphabet (many repeated n-grams, clipping, short lines, words
 * split off punctuation), scored by bench/sacrebleu_chrf_port.py, a separate pure-Python port of
 * sacrebleu's Counter code: sentence chrF and chrF++ and the corpus scores, bit for bit. */
static void test_random_strings_against_python_port(void **state) {
    (void)state;
    static const struct { const char *hyp, *ref; double chrf, chrfpp; } cases[] = {
        {"ddc d bd. ba'd", " abaaccad,dcc.dabd.'b.,c.ab", 11.071578357334353, 9.489924306286587},
        {"b'b.'baaccad'''bc.", ",b.,a'b cbaadd cdc ''b''", 25.19747320148899, 18.898104901116746},
        {"..ac '", "", 0.0, 0.0},
        {"ba cd.a,.'bbbcca,,d d '  .c", "cc c'db'abba.c'.'d.", 20.738795393099178, 19.155239738467124},
        {"b cdb.ccab.'dcaa", " ., b", 12.345679012345679, 17.924528301886795},
        {"d, aad,.aab", "db.,", 19.23076923076923, 20.67669172932331},
        {"bd,a", " ,", 62.5, 31.25},
        {"db'ada''abb", "bb", 45.05813953488372, 30.03875968992248},
        {"','dddba", ".bdacbdd.a,. c ,ddc,'.c'cc'c", 8.289796989432, 6.217347742074001},
        {",c  d,ab. bdd.c''d", ",d,ba.a.,.a 'dca.c abdb,bccd.", 14.428934810996063, 15.194116821117664},
        {"ada c", "., 'cb'' ddca',d,cbbcc", 4.464285714285714, 2.976190476190476},
        {"b.,.a,bad,'.dacb'a , d ddbcd", ". ..'c. .dc'", 11.64650748769505, 8.734880615771287},
        {"a'aa'bdb bd''.cdd", " ,'", 10.416666666666668, 5.208333333333334},
        {"d,bc'a. aac ca.,,cdbdb.c'a''", " ccc c, ,,cccb c b.'b'' c'", 19.22242774414235, 16.02289156872629},
        {"abc,,b,cbdbaad c bc ", " .ba dbb,'d','c,aac '", 18.12467301305673, 13.593504759792548},
        {",'c ba,b'c,..b", " ' ,,' 'c b", 21.843630152775745, 16.38272261458181},
        {".dba,ac..,c' b'dcb'abbc.d", "'ac'ab...,", 24.594544547847963, 18.445908410885973},
        {"'bdba' 'd da'd'.'", ".,.d...aaca ''a,'", 10.843965218585124, 11.051842664417785},
        {",", "bc'd.cabd cba'dbca", 0.0, 0.0},
        {" b,d 'd.', ", ". cdb.,..c.cccca", 4.901960784313726, 3.6764705882352944},
        {"a..'aabc.bb c,dd,c,,", "d", 21.73913043478261, 10.869565217391305},
        {"bbdcd'.' , ,. ',bd,bb'd", "d.ab", 10.416666666666666, 8.333333333333332},
        {"b.d,. c,,", ",b,d.d", 16.108372003093578, 17.403887000849615},
        {".d,c'cb,,a,''c,'", "   bd.aca .a'b.b,b.b,ba b", 7.86021505376344, 5.895161290322581},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    const char *hyps[N], *refs[N];
    char err[QB_ERRLEN];
    for (int wo = 0; wo <= 2; wo += 2) {
        chrf_opts o = chrf_defaults(wo);
        for (int i = 0; i < N; i++) {
            hyps[i] = cases[i].hyp;
            refs[i] = cases[i].ref;
            double want = wo ? cases[i].chrfpp : cases[i].chrf, got = pair_score(cases[i].hyp, cases[i].ref, &o);
            if (got != want) fail_msg("case %d (word order %d): got %.17g, want %.17g", i, wo, got, want);
        }
        chrf_result res;
        assert_int_equal(chrf_corpus(hyps, N, refs, 1, &o, &res, NULL, err), 0);
        assert_true(res.score == (wo ? 11.066799516345277 : 13.02957789679452));
    }
}


/* A long line (500k code points) scores without trouble; hash collisions cannot fake matches. */
static void test_long_line(void **state) {
    (void)state;
    size_t n = 500000;
    char *a = malloc(n + 1), *b = malloc(n + 1);
    uint64_t x = 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        a[i] = b[i] = (char)('a' + (x >> 60) % 4);
    }
    a[n] = b[n] = 0;
    chrf_opts o = chrf_defaults(2);
    assert_true(pair_score(a, b, &o) == 100.0);
    b[n / 2] = 'z'; /* one changed character removes exactly 1..6 char n-grams of each order */
    o = chrf_defaults(0);
    chrf_stats st = pair_stats(a, b, &o);
    for (int k = 0; k < 6; k++) assert_int_equal(st.v[3 * k] - st.v[3 * k + 2], k + 1);
    free(a);
    free(b);
}

static void test_errors(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    chrf_opts o = chrf_defaults(0);
    chrf_stats st;
    const char *ref[1] = {"abc"};
    assert_int_equal(chrf_segment_stats(NULL, "ab\xC3", ref, 1, &o, &st, NULL, err), -1);
    assert_non_null(strstr(err, "hypothesis")); assert_non_null(strstr(err, "UTF-8"));
    const char *bad[1] = {"a\xED\xA0\x80"}; /* surrogate */
    assert_int_equal(chrf_segment_stats(NULL, "abc", bad, 1, &o, &st, NULL, err), -1);
    assert_non_null(strstr(err, "reference 1"));
    assert_int_equal(chrf_segment_stats(NULL, NULL, ref, 1, &o, &st, NULL, err), -1);
    const char *hyps[3] = {"ok", "ok", "\xC0\xAF"}; /* overlong '/' in segment 3 */
    const char *refs[3] = {"ok", "ok", "ok"};
    chrf_result res;
    assert_int_equal(chrf_corpus(hyps, 3, refs, 1, &o, &res, NULL, err), -1);
    assert_non_null(strstr(err, "segment 3"));
    assert_int_equal(chrf_corpus(hyps, 2, refs, 0, &o, &res, NULL, err), -1);
    /* zero segments: defined score 0 */
    assert_int_equal(chrf_corpus(hyps, 0, refs, 1, &o, &res, NULL, err), 0);
    assert_true(res.score == 0.0 && res.nseg == 0);
    /* options */
    chrf_opts b = o; b.char_order = 33;
    assert_int_equal(chrf_opts_check(&b, err), -1); assert_non_null(strstr(err, "char order"));
    b = o; b.char_order = 0; b.word_order = 0;
    assert_int_equal(chrf_opts_check(&b, err), -1);
    b = o; b.word_order = -1;
    assert_int_equal(chrf_opts_check(&b, err), -1);
    b = o; b.beta = -1;
    assert_int_equal(chrf_segment_stats(NULL, "a", ref, 1, &b, &st, NULL, err), -1);
    assert_non_null(strstr(err, "beta"));
    b.beta = NAN;
    assert_int_equal(chrf_opts_check(&b, err), -1);
}

static void test_names_and_signatures(void **state) {
    (void)state;
    char buf[256];
    chrf_opts o = chrf_defaults(0);
    chrf_name(&o, buf, sizeof buf); assert_string_equal(buf, "chrF2");
    chrf_signature(&o, 1, buf, sizeof buf);
    assert_string_equal(buf, "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0");
    o = chrf_defaults(2);
    chrf_name(&o, buf, sizeof buf); assert_string_equal(buf, "chrF2++");
    chrf_signature(&o, 1, buf, sizeof buf);
    assert_string_equal(buf, "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0");
    o.lowercase = o.whitespace = o.eps_smoothing = 1;
    o.beta = 3;
    chrf_name(&o, buf, sizeof buf); assert_string_equal(buf, "chrF3++");
    chrf_signature(&o, -1, buf, sizeof buf);
    assert_string_equal(buf, "nrefs:var|case:lc|eff:no|nc:6|nw:2|space:yes|version:2.6.0");
}

/* ---- textfile -------------------------------------------------------------------------------- */
static void parse_lines(const char *data, size_t len, size_t n, const char **want) {
    TextFile tf;
    char err[QB_ERRLEN];
    if (textfile_parse(data, len, "mem", &tf, err)) fail_msg("%s", err);
    assert_int_equal(tf.n, n);
    for (size_t i = 0; i < n; i++) assert_string_equal(tf.lines[i], want[i]);
    textfile_free(&tf);
}

static void test_textfile_rules(void **state) {
    (void)state;
    const char *ab[2] = {"a", "b"}, *empty1[1] = {""}, *three[3] = {"a", "", "b\rc"};
    parse_lines("a\nb\n", 4, 2, ab);           /* trailing newline: no extra segment */
    parse_lines("a\nb", 3, 2, ab);             /* no trailing newline */
    parse_lines("a\r\nb\r\n", 6, 2, ab);       /* CRLF */
    parse_lines("", 0, 0, NULL);               /* empty file: 0 lines */
    parse_lines("\n", 1, 1, empty1);           /* one empty line */
    parse_lines("a\n\nb\rc\n", 7, 3, three);   /* lone CR stays inside the line */
    const char *sep[1] = {"x\xE2\x80\xA8y"};   /* U+2028 is not a line break */
    parse_lines("x\xE2\x80\xA8y\n", 6, 1, sep);
    TextFile tf;
    char err[QB_ERRLEN];
    assert_int_equal(textfile_parse("ok\nfine\nbad\xFF\n", 13, "f.txt", &tf, err), -1);
    assert_non_null(strstr(err, "f.txt:3")); assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(textfile_parse("a\xC0\xAF", 3, "f.txt", &tf, err), -1);       /* overlong */
    assert_int_equal(textfile_parse("a\xED\xA0\x80", 4, "f.txt", &tf, err), -1);   /* surrogate */
    assert_int_equal(textfile_parse("a\xF4\x90\x80\x80", 5, "f.txt", &tf, err), -1); /* > U+10FFFF */
    assert_int_equal(textfile_parse("a\xE6\x97", 3, "f.txt", &tf, err), -1);       /* truncated at EOF */
    assert_int_equal(textfile_parse("a\0b", 3, "f.txt", &tf, err), -1);            /* NUL */
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(textfile_read("assets/does/not/exist.txt", &tf, err), -1);
    assert_non_null(strstr(err, "assets/does/not/exist.txt"));
    assert_int_equal(textfile_read("assets", &tf, err), -1); /* a directory */
}

/* Runs `qbench score <args>`; stdout into out, stderr into errout. Returns the exit status. */
static int run_score(const char *args, char *out, size_t cap, char *errout, size_t ecap) {
    char cmd[2048], *o, *e;
    snprintf(cmd, sizeof cmd, "score %s", args);
    int rc = t_run_qbench(cmd, &o, &e);
    snprintf(out, cap, "%s", o);
    snprintf(errout, ecap, "%s", e);
    free(o);
    free(e);
    return rc;
}

static void test_cli(void **state) {
    (void)state;
    if (access(t_qbench_bin(), X_OK) != 0) skip();
    static char out[1 << 16], eout[1 << 12];
    const char *ex = "--hyp assets/chrf-examples/example.hyp.en --ref assets/chrf-examples/example.ref.en";
    char args[1024];
    /* Popović's published chrF (nw 0): F 58.0911, avgF 55.1081 */
    snprintf(args, sizeof args, "chrf %s --popovic", ex);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 0);
    assert_non_null(strstr(out, "chrF2|nrefs:1|case:mixed|eff:no|nc:6|nw:0|space:no|popovic:yes|version:2.6.0 = 58.0911\n"));
    assert_non_null(strstr(out, "mean of sentence scores = 55.1081"));
    /* sentence scores of chrF++, published */
    snprintf(args, sizeof args, "chrf++ %s --popovic --sentence", ex);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 0);
    assert_non_null(strstr(out, "1\t64.0368\n2\t70.8799\n3\t21.5461\n"));
    assert_non_null(strstr(out, "10\t62.3084\n"));
    assert_non_null(strstr(out, "= 54.9482\n"));
    /* --json: the score as a full double */
    snprintf(args, sizeof args, "chrf++ %s --popovic --json", ex);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_4dp(cJSON_GetObjectItem(j, "score")->valuedouble, 54.9482);
    assert_4dp(cJSON_GetObjectItem(j, "mean_sentence")->valuedouble, 52.1829);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "statistics")), 24);
    assert_string_equal(cJSON_GetObjectItem(j, "name")->valuestring, "chrF2++");
    cJSON_Delete(j);
    /* sacrebleu defaults on the Hugging Face example, two references files given */
    char dir[] = "/tmp/qbench_chrf_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char hp[128], rp[128], r2[128], shortp[128], badp[128], emptyp[128];
    snprintf(hp, sizeof hp, "%s/hyp", dir); snprintf(rp, sizeof rp, "%s/ref", dir);
    snprintf(r2, sizeof r2, "%s/ref2", dir); snprintf(shortp, sizeof shortp, "%s/short", dir);
    snprintf(badp, sizeof badp, "%s/bad", dir); snprintf(emptyp, sizeof emptyp, "%s/empty", dir);
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\r\n%s\r\n", HF_HYP[0], HF_HYP[1]); /* CRLF hypothesis file */
    t_write_file(hp, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "%s\n%s", HF_REF[0], HF_REF[1]); /* no final newline */
    t_write_file(rp, buf, (size_t)n);
    t_write_file(r2, "zzz\nzzz\n", 8);
    snprintf(args, sizeof args, "chrf++ --hyp %s --ref %s --ref %s --lowercase --json", hp, rp, r2);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_close(cJSON_GetObjectItem(j, "score")->valuedouble, 92.12853119829202, 1e-9);
    assert_string_equal(cJSON_GetObjectItem(j, "signature")->valuestring,
                        "nrefs:2|case:lc|eff:yes|nc:6|nw:2|space:no|version:2.6.0");
    cJSON_Delete(j);
    /* mismatched line counts -> 2, naming both files */
    t_write_file(shortp, "one line\n", 9);
    snprintf(args, sizeof args, "chrf --hyp %s --ref %s", hp, shortp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 2);
    assert_non_null(strstr(eout, "short")); assert_non_null(strstr(eout, "lines"));
    /* invalid UTF-8 -> 2, naming file and line */
    t_write_file(badp, "fine\nbro\xC3\x28ken\n", 14);
    snprintf(args, sizeof args, "chrf --hyp %s --ref %s", badp, hp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 2);
    assert_non_null(strstr(eout, "bad:2")); assert_non_null(strstr(eout, "UTF-8"));
    /* empty files: 0 segments, score 0 with a note */
    t_write_file(emptyp, "", 0);
    snprintf(args, sizeof args, "chrf --hyp %s --ref %s", emptyp, emptyp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 0);
    assert_non_null(strstr(out, "= 0.0000\n")); assert_non_null(strstr(eout, "0 segments"));
    /* usage errors */
    assert_int_equal(run_score("chrf --hyp x", out, sizeof out, eout, sizeof eout), 2);
    assert_int_equal(run_score("bleu --hyp x --ref y", out, sizeof out, eout, sizeof eout), 2);
    snprintf(args, sizeof args, "chrf --hyp %s --ref %s --char-order 99", hp, rp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 2);
    snprintf(args, sizeof args, "chrf --hyp %s --ref %s --beta x", hp, rp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 2);
    snprintf(args, sizeof args, "chrf --hyp %s --ref %s --frobnicate", hp, rp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 2);
    snprintf(args, sizeof args, "chrf --hyp %s/missing --ref %s", dir, rp);
    assert_int_equal(run_score(args, out, sizeof out, eout, sizeof eout), 2);
    assert_non_null(strstr(eout, "missing"));
    unlink(hp); unlink(rp); unlink(r2); unlink(shortp); unlink(badp); unlink(emptyp);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_popovic_published_document_scores),
        cmocka_unit_test(test_popovic_published_sentence_scores),
        cmocka_unit_test(test_huggingface_doctest_values),
        cmocka_unit_test(test_sacrebleu_test_suite_values),
        cmocka_unit_test(test_hyp_count_zero_when_ref_lacks_order),
        cmocka_unit_test(test_whitespace_rules),
        cmocka_unit_test(test_word_punctuation_rule),
        cmocka_unit_test(test_code_points_not_bytes),
        cmocka_unit_test(test_lowercase_python_semantics),
        cmocka_unit_test(test_eps_and_effective_modes),
        cmocka_unit_test(test_multi_reference_choice),
        cmocka_unit_test(test_stats_merge_and_determinism),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_python_string_helpers),
        cmocka_unit_test(test_random_strings_against_python_port),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_names_and_signatures),
        cmocka_unit_test(test_textfile_rules),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_ppl.c — perplexity and agreement against independent figures:
 *   - llama.cpp's llama-perplexity on stories260K (F32), tinystories_v1_validation_head.txt:
 *     4.8752 at c=256 and 4.9744 at c=512 (llama.cpp's published figures) — to 4 decimals;
 *   - the float64 numpy teacher-forced oracle (reference_logits_64.json, sum_nll_next) for both models;
 *   - window and scored-token counts of each mode worked out by hand from the definitions in ppl.h;
 *   - standard error, bits per byte, KL and top-1 on hand-computed small cases;
 *   - error paths (too short, bad seqlen/stride, no BOS, ids outside the vocabulary). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cJSON.h>

#include "metrics/ppl.h"
#include "harness/cli.h"

static Model *m260;
static Tokenizer *t260;
static char *story;     /* the TinyStories validation head */
static size_t story_len;

static int setup(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    m260 = model_load("assets/stories260K/stories260K.bin", err);
    if (!m260) { fprintf(stderr, "%s\n", err); return -1; }
    t260 = tokenizer_load("assets/stories260K/tok512.bin", m260->cfg.vocab_size, err);
    story = qb_read_file("assets/tinystories/tinystories_v1_validation_head.txt", &story_len, err);
    qb_set_threads(0);
    return t260 && story ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    model_free(m260);
    tokenizer_free(t260);
    free(story);
    return 0;
}

/* Under AddressSanitizer the full file costs minutes, so the sanitizer build runs the same code path
 * on the first 40 chunks only (memory checking), and the figure itself is checked by the normal build. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#else
#define SANITIZER_BUILD 0
#endif

static double llamacpp_ppl(int c) {
    char err[QB_ERRLEN];
    PplOptions o = {.mode = PPL_LLAMACPP, .seqlen = c, .max_windows = SANITIZER_BUILD ? 40 : 0};
    PplStats st = {0};
    if (ppl_eval_text(m260, t260, story, story_len, &o, &st, err)) fprintf(stderr, "%s\n", err);
    assert_int_equal(st.n_windows, SANITIZER_BUILD ? 40 : st.n_text_tokens / c); /* floor(N/c) chunks */
    assert_int_equal(st.n_scored, st.n_windows * (c - 1 - c / 2));
    fprintf(stderr, "# llamacpp c=%d: %ld tokens, %ld chunks, ppl %.6f +/- %.5f, %.4f bits/byte\n", c, st.n_text_tokens,
            st.n_windows, ppl_value(&st), ppl_stderr(&st), ppl_bits_per_byte(&st));
    return ppl_value(&st);
}

/* llama.cpp: "Final estimate: PPL = 4.8752" (c=256) and 4.9744 (c=512) */
static void test_llamacpp_matches_llama_cpp(void **state) {
    (void)state;
    double p256 = llamacpp_ppl(256), p512 = llamacpp_ppl(512);
    if (SANITIZER_BUILD) return;
    assert_true(fabs(p256 - 4.8752) <= 0.00005);
    assert_true(fabs(p512 - 4.9744) <= 0.00005);
}

/* gptq mode over the 64 oracle ids = one window, all 63 next tokens scored: Σ nll = sum_nll_next. */
/* Returns |Σ nll − the reference's sum_nll_next| over the 63 scored tokens. */
static double check_oracle(const char *model_path, const char *json_path) {
    char err[QB_ERRLEN];
    size_t len;
    char *buf = qb_read_file(json_path, &len, err);
    assert_non_null(buf);
    cJSON *root = cJSON_Parse(buf);
    assert_non_null(root);
    const cJSON *ids = cJSON_GetObjectItem(root, "ids");
    int n = cJSON_GetArraySize(ids), tok[64];
    assert_int_equal(n, 64);
    for (int i = 0; i < n; i++) tok[i] = cJSON_GetArrayItem(ids, i)->valueint;
    double want = cJSON_GetObjectItem(root, "sum_nll_next")->valuedouble;
    Model *m = model_load(model_path, err);
    assert_non_null(m);
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = 64};
    PplStats st = {0};
    assert_int_equal(ppl_eval_tokens(m, tok, n, 1, NULL, &o, &st, err), 0);
    assert_int_equal(st.n_windows, 1);
    assert_int_equal(st.n_scored, 63);
    const double dev = fabs(st.sum_nll - want);
    /* and per token: the first position's nll_next (after BOS) */
    double nll0 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "positions"), 0), "nll_next")->valuedouble;
    ModelState *s = model_state_new(m, 64, 64);
    float *logits = malloc(sizeof(float) * 64 * (size_t)m->cfg.vocab_size);
    assert_int_equal(model_forward(m, s, tok, 64, 0, logits, err), 0);
    assert_true(fabs(ppl_token_nll(logits, m->cfg.vocab_size, tok[1]) - nll0) < 1e-4);
    free(logits);
    model_state_free(s);
    model_free(m);
    cJSON_Delete(root);
    free(buf);
    return dev;
}

static void test_oracle_sum_nll(void **state) {
    (void)state;
    assert_true(check_oracle("assets/stories260K/stories260K.bin", "assets/stories260K/reference_logits_64.json") < 1e-3);
    assert_true(check_oracle("assets/tinystories-656K", "assets/tinystories-656K/reference_logits_64.json") < 1e-3);
}

/* Windows of each mode over 10 tokens, from the definitions:
 *   gptq c=4: [0,4) [4,8), targets 1..3 of each -> 6 scored; tokens 8, 9 dropped.
 *   llamacpp c=4: chunks [0,4) [4,8), logits 2..2 -> target 3 only -> 2 scored, first token -> BOS.
 *   stride c=4 s=2: [0,4) trg 4 -> targets 1..3; [2,6) trg 2 -> 2..3; [4,8) -> 2..3; [6,10) -> 2..3,
 *   end = 10 stops: every token after the first scored once (9). */
static void test_plans_by_hand(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    PplWindow *w;
    long nw;
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = 4};
    assert_int_equal(ppl_plan(&o, 10, &w, &nw, err), 0);
    assert_int_equal(nw, 2);
    assert_int_equal(w[1].start, 4);
    assert_int_equal(w[1].len, 4);
    assert_int_equal(w[1].first_target, 1);
    assert_int_equal(w[1].bos_first, 0);
    free(w);
    o.mode = PPL_LLAMACPP;
    assert_int_equal(ppl_plan(&o, 10, &w, &nw, err), 0);
    assert_int_equal(nw, 2);
    assert_int_equal(w[0].first_target, 3);
    assert_int_equal(w[0].bos_first, 1);
    free(w);
    o.mode = PPL_STRIDE;
    o.stride = 2;
    assert_int_equal(ppl_plan(&o, 10, &w, &nw, err), 0);
    assert_int_equal(nw, 4);
    const long starts[] = {0, 2, 4, 6};
    const int firsts[] = {1, 2, 2, 2};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w[i].start, starts[i]);
        assert_int_equal(w[i].len, 4);
        assert_int_equal(w[i].first_target, firsts[i]);
    }
    free(w);
    /* stride > seqlen leaves gaps: [0,4) [5,9) then begin 10 is past the end: 3 + 3 scored */
    o.stride = 5;
    assert_int_equal(ppl_plan(&o, 10, &w, &nw, err), 0);
    assert_int_equal(nw, 2);
    assert_int_equal(w[1].start, 5);
    assert_int_equal(w[1].first_target, 1);
    free(w);
    /* last stride window shorter: n = 7, c = 4, s = 2: [0,4) [2,6) [4,7) with trg 1 -> first 2 */
    o.stride = 2;
    assert_int_equal(ppl_plan(&o, 7, &w, &nw, err), 0);
    assert_int_equal(nw, 3);
    assert_int_equal(w[2].len, 3);
    assert_int_equal(w[2].first_target, 2);
    free(w);
    /* max_windows */
    o.mode = PPL_GPTQ;
    o.max_windows = 1;
    assert_int_equal(ppl_plan(&o, 10, &w, &nw, err), 0);
    assert_int_equal(nw, 1);
    free(w);

    /* the same counts come out of a real evaluation */
    int tok[10] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
    PplStats st = {0};
    o = (PplOptions){.mode = PPL_GPTQ, .seqlen = 4};
    assert_int_equal(ppl_eval_tokens(m260, tok, 10, 1, NULL, &o, &st, err), 0);
    assert_int_equal(st.n_scored, 6);
    o.mode = PPL_LLAMACPP;
    assert_int_equal(ppl_eval_tokens(m260, tok, 10, 1, NULL, &o, &st, err), 0);
    assert_int_equal(st.n_scored, 6 + 2);
    o.mode = PPL_STRIDE;
    o.stride = 2;
    assert_int_equal(ppl_eval_tokens(m260, tok, 10, 1, NULL, &o, &st, err), 0);
    assert_int_equal(st.n_scored, 6 + 2 + 9);
    assert_int_equal(st.n_windows, 2 + 2 + 4);
    assert_int_equal(st.n_text_tokens, 30);
}

/* With stride <= seqlen every token after BOS is scored once, so the scored bytes are the whole
 * text (tok512 round-trips it exactly): bits/byte = Σnll / ln2 / len. */
static void test_bits_per_byte_whole_text(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len = 3000;
    while (len < story_len && story[len] != '\n') len++; /* a few stories, whole lines */
    PplOptions o = {.mode = PPL_STRIDE, .seqlen = 128, .stride = 64};
    PplStats st = {0};
    assert_int_equal(ppl_eval_text(m260, t260, story, len, &o, &st, err), 0);
    assert_int_equal(st.n_scored, st.n_text_tokens - 1);
    assert_true(fabs(st.n_bytes - (double)len) < 0.5);
    assert_true(fabs(ppl_bits_per_byte(&st) - st.sum_nll / log(2.0) / (double)len) < 1e-12);
}

/* Same bits whatever the thread count (windows are summed in order). */
static void test_thread_count_invariance(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    PplOptions o = {.mode = PPL_LLAMACPP, .seqlen = 128, .max_windows = 24};
    PplStats a = {0}, b = {0};
    qb_set_threads(1);
    assert_int_equal(ppl_eval_text(m260, t260, story, story_len, &o, &a, err), 0);
    qb_set_threads(2);
    assert_int_equal(ppl_eval_text(m260, t260, story, story_len, &o, &b, err), 0);
    qb_set_threads(0);
    assert_int_equal(a.n_windows, 24);
    assert_memory_equal(&a.sum_nll, &b.sum_nll, sizeof(double));
    assert_memory_equal(&a.sum_nll2, &b.sum_nll2, sizeof(double));
}

static long progress_calls, progress_last, progress_total;
static void on_progress(void *ctx, long done, long total) {
    (void)ctx;
    assert_true(done > progress_last);
    progress_last = done;
    progress_total = total;
    progress_calls++;
}

static void test_progress_callback(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = 64, .max_windows = 5, .progress = on_progress};
    PplStats st = {0};
    assert_int_equal(ppl_eval_text(m260, t260, story, story_len, &o, &st, err), 0);
    assert_int_equal(progress_calls, 5);
    assert_int_equal(progress_last, 5 * 64);
    assert_int_equal(progress_total, 5 * 64);
}

/* nll = {1,2,3,4}: mean 2.5, population var 1.25, se = e^2.5·sqrt(1.25/3) = 7.863766 (by hand). */
static void test_stats_math(void **state) {
    (void)state;
    PplStats a = {.n_scored = 2, .sum_nll = 1 + 2, .sum_nll2 = 1 + 4, .n_bytes = 3};
    PplStats b = {.n_scored = 2, .sum_nll = 3 + 4, .sum_nll2 = 9 + 16, .n_bytes = 4};
    PplStats s = {0};
    ppl_stats_merge(&s, &a);
    ppl_stats_merge(&s, &b);
    assert_true(fabs(ppl_mean_nll(&s) - 2.5) < 1e-12);
    assert_true(fabs(ppl_value(&s) - exp(2.5)) < 1e-9);
    assert_true(fabs(ppl_stderr(&s) - 7.863766037512831) < 1e-9);
    assert_true(fabs(ppl_bits_per_byte(&s) - 2.060992915555662) < 1e-12); /* 10 / ln2 / 7 */
    PplStats empty = {0};
    assert_true(isnan(ppl_mean_nll(&empty)));
    assert_true(isnan(ppl_stderr(&empty)));
    assert_true(isnan(ppl_bits_per_byte(&empty)));
    /* nll of a uniform distribution over 4 is ln 4 */
    float u[4] = {3, 3, 3, 3};
    assert_true(fabs(ppl_token_nll(u, 4, 2) - log(4.0)) < 1e-6);
    PplMode md;
    assert_int_equal(ppl_mode_parse("stride", &md), 0);
    assert_int_equal(md, PPL_STRIDE);
    assert_int_equal(ppl_mode_parse("bogus", &md), -1);
    assert_string_equal(ppl_mode_name(PPL_LLAMACPP), "llamacpp");
    char sig[256];
    PplOptions o = {.mode = PPL_STRIDE, .seqlen = 512, .stride = 256};
    ppl_signature(&o, "assets/x/tok512.bin", 0, NULL, sig, sizeof sig);
    assert_string_equal(sig, "metric:ppl|v:1|mode:stride|seqlen:512|stride:256|tok:tok512.bin|prepend:no");
    o = (PplOptions){.mode = PPL_GPTQ, .seqlen = 256, .max_windows = 8};
    ppl_signature(&o, "a|b:c.bin", 1, "0123456789abcdef", sig, sizeof sig); /* separators never inside a value */
    assert_string_equal(sig, "metric:ppl|v:1|mode:gptq|seqlen:256|windows:8|tok:a_b_c.bin|prepend:yes|data:0123456789ab");
}

static void test_errors(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    int tok[8] = {1, 403, 407, 261, 378, 432, 383, 286};
    PplStats st = {0};
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = 16};
    assert_int_equal(ppl_eval_tokens(m260, tok, 8, 1, NULL, &o, &st, err), -1); /* 8 tokens < one window */
    assert_non_null(strstr(err, "too few"));
    o.seqlen = 1;
    assert_int_equal(ppl_eval_tokens(m260, tok, 8, 1, NULL, &o, &st, err), -1);
    assert_non_null(strstr(err, "seqlen"));
    o = (PplOptions){.mode = PPL_STRIDE, .seqlen = 4, .stride = 0};
    assert_int_equal(ppl_eval_tokens(m260, tok, 8, 1, NULL, &o, &st, err), -1);
    assert_non_null(strstr(err, "stride"));
    o = (PplOptions){.mode = PPL_LLAMACPP, .seqlen = 4};
    assert_int_equal(ppl_eval_tokens(m260, tok, 8, -1, NULL, &o, &st, err), -1);
    assert_non_null(strstr(err, "BOS"));
    o.mode = PPL_GPTQ;
    tok[5] = 512; /* vocab is 512 */
    assert_int_equal(ppl_eval_tokens(m260, tok, 8, 1, NULL, &o, &st, err), -1);
    assert_non_null(strstr(err, "index 5"));
    tok[5] = 432;
    o.max_windows = -1;
    assert_int_equal(ppl_eval_tokens(m260, tok, 8, 1, NULL, &o, &st, err), -1);
    assert_non_null(strstr(err, "max_windows"));
    assert_int_equal(st.n_scored, 0); /* nothing added on failure */
    /* an empty text: BOS only, too short */
    o = (PplOptions){.mode = PPL_GPTQ, .seqlen = 4};
    assert_int_equal(ppl_eval_text(m260, t260, "", 0, &o, &st, err), -1);
}

/* ---- agreement --------------------------------------------------------------------------------- */

/* Row 1: base [0,0] -> p = (.5,.5); cand [0, ln 3] -> q = (.25,.75): KL = .5 ln 2 + .5 ln(2/3)
 * = 0.143841036; argmax 0 (first of a tie) vs 1: disagree. Row 2: identical: KL 0, agree. */
static void test_agreement_by_hand(void **state) {
    (void)state;
    float base[4] = {0, 0, 2, 1}, cand[4] = {0, logf(3), 2, 1};
    AgreementStats st = {0};
    agreement_add_logits(&st, base, cand, 2, 2);
    assert_int_equal(st.n, 2);
    assert_int_equal(st.top1_agree, 1);
    assert_true(fabs(st.kl_sum - 0.14384103622589042) < 1e-6);
    assert_true(fabs(agreement_top1(&st) - 0.5) < 1e-12);
    assert_true(fabs(agreement_kl_mean(&st) - 0.14384103622589042 / 2) < 1e-6);
    AgreementStats all = {0};
    agreement_merge(&all, &st);
    agreement_merge(&all, &st);
    assert_int_equal(all.n, 4);
    assert_int_equal(all.top1_agree, 2);
    assert_true(fabs(all.kl_sum - 2 * 0.14384103622589042) < 1e-6);
    AgreementStats none = {0};
    assert_true(isnan(agreement_top1(&none)));
    assert_true(isnan(agreement_kl_mean(&none)));
    /* KL is not symmetric: KL(q||p) = .25 ln .5 + .75 ln 1.5 = 0.130812035 */
    assert_true(fabs(agreement_kl(cand, base, 2) - 0.13081203594113694) < 1e-6);
}

/* A model against itself: full agreement, zero KL, on exactly the positions perplexity scores. */
static void test_agreement_same_model(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    int *ids, n;
    assert_int_equal(tokenizer_encode(t260, story, 4000, 1, &ids, &n, err), 0);
    PplOptions o = {.mode = PPL_LLAMACPP, .seqlen = 64};
    AgreementStats st = {0};
    assert_int_equal(agreement_eval_tokens(m260, m260, ids, n, 1, &o, &st, err), 0);
    assert_int_equal(st.n, (n / 64) * (64 - 1 - 32));
    assert_int_equal(st.top1_agree, st.n);
    assert_true(st.kl_sum < 1e-9);
    /* a perturbed copy (the weights are a private mapping: writing them leaves the file alone):
     * some KL, still mostly the same top-1; the same bits for 1 and 2 threads */
    Model *pert = model_load("assets/stories260K/stories260K.bin", err);
    assert_non_null(pert);
    Linear *wq = &pert->blocks[0].lin[LIN_Q];
    for (int i = 0; i < wq->rows * wq->cols; i += 3) wq->w[i] *= 0.5f;
    AgreementStats p1 = {0}, p2 = {0};
    qb_set_threads(1);
    assert_int_equal(agreement_eval_tokens(m260, pert, ids, n, 1, &o, &p1, err), 0);
    qb_set_threads(2);
    assert_int_equal(agreement_eval_tokens(m260, pert, ids, n, 1, &o, &p2, err), 0);
    qb_set_threads(0);
    assert_int_equal(p1.n, st.n);
    assert_true(p1.kl_sum > 1e-4);
    assert_true(p1.top1_agree > p1.n / 2 && p1.top1_agree <= p1.n);
    assert_memory_equal(&p1.kl_sum, &p2.kl_sum, sizeof(double));
    assert_memory_equal(&p1.kl_sum2, &p2.kl_sum2, sizeof(double));
    assert_non_null(p1.kl_tok);
    assert_memory_equal(p1.kl_tok, p2.kl_tok, (size_t)p1.n * sizeof(double)); /* per position, in order */
    double s1 = 0;
    for (long j = 0; j < p1.n; j++) s1 += p1.kl_tok[j];
    assert_true(fabs(s1 - p1.kl_sum) <= 1e-12 * p1.kl_sum);
    assert_int_equal(p1.top1_agree, p2.top1_agree);
    agreement_stats_free(&p2);
    fprintf(stderr, "# perturbed stories260K: top-1 %.3f, KL %.5f nats\n", agreement_top1(&p1), agreement_kl_mean(&p1));
    agreement_stats_free(&p1);
    agreement_stats_free(&st);
    model_free(pert);
    /* a different vocabulary is refused */
    Model *other = model_load("assets/tinystories-656K", err);
    assert_non_null(other);
    assert_int_equal(agreement_eval_tokens(m260, other, ids, n, 1, &o, &st, err), -1);
    assert_non_null(strstr(err, "vocabularies differ"));
    agreement_stats_free(&st);
    model_free(other);
    free(ids);
}

/* llama.cpp's KL summary worked by hand on four positions KL = 0.4, 0.1, 0.3, 0.2 with 3 same tops:
 * mean 0.25; Σx² = 0.30 → var 0.30/4 − 0.0625 = 0.0125, se sqrt(0.0125/3); sorted 0.1 0.2 0.3 0.4:
 * median at 1.5 → 0.25, p90 at 2.7 → 0.3·0.3 + 0.7·0.4 = 0.37, p99 at 2.97 → 0.397, max 0.4;
 * same top 0.75 ± sqrt(0.75·0.25/3) = 0.25. Merging keeps the per-position values in order. */
static void test_agreement_summary_by_hand(void **state) {
    (void)state;
    double v[4] = {0.4, 0.1, 0.3, 0.2};
    AgreementStats a = {.n = 2, .top1_agree = 2, .kl_sum = 0.5, .kl_sum2 = 0.17, .kl_tok = malloc(2 * sizeof(double))};
    AgreementStats b = {.n = 2, .top1_agree = 1, .kl_sum = 0.5, .kl_sum2 = 0.13, .kl_tok = malloc(2 * sizeof(double))};
    memcpy(a.kl_tok, v, 2 * sizeof(double));
    memcpy(b.kl_tok, v + 2, 2 * sizeof(double));
    AgreementStats all = {0};
    agreement_merge(&all, &a);
    agreement_merge(&all, &b);
    assert_int_equal(all.n, 4);
    for (int i = 0; i < 4; i++) assert_true(all.kl_tok[i] == v[i]);
    AgreementSummary su;
    agreement_summary(&all, &su);
    assert_true(fabs(su.kl_mean - 0.25) < 1e-15);
    assert_true(fabs(su.kl_se - sqrt(0.0125 / 3)) < 1e-12);
    assert_true(fabs(su.kl_median - 0.25) < 1e-15);
    assert_true(fabs(su.kl_p90 - 0.37) < 1e-15);
    assert_true(fabs(su.kl_p99 - 0.397) < 1e-15);
    assert_true(su.kl_max == 0.4);
    assert_true(su.same_top == 0.75 && fabs(su.same_top_se - 0.25) < 1e-15);
    agreement_stats_free(&a);
    agreement_stats_free(&b);
    agreement_stats_free(&all);
    AgreementSummary none;
    AgreementStats empty = {0};
    agreement_summary(&empty, &none);
    assert_true(isnan(none.kl_mean) && isnan(none.kl_median));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_math),
        cmocka_unit_test(test_plans_by_hand),
        cmocka_unit_test(test_oracle_sum_nll),
        cmocka_unit_test(test_bits_per_byte_whole_text),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_progress_callback),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_agreement_summary_by_hand),
        cmocka_unit_test(test_agreement_by_hand),
        cmocka_unit_test(test_agreement_same_model),
        cmocka_unit_test(test_llamacpp_matches_llama_cpp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

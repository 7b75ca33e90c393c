/* test_pipeline.c — calibration sampling (datasets/calib.h) and the block-by-block quantization
 * pipeline (quant_model) on the real models: GPTQ beats RTN layer by layer and in perplexity,
 * 8-bit GPTQ is near lossless, size accounting matches a hand count, and bad inputs are errors that
 * name the layer. quantize_head on a tied (stories260K) and an untied (synthetic) model.
 *
 * Calibration comes from the tinystories-calib split and perplexity from the disjoint
 * tinystories-valid split (datasets.h), so the perplexities are held out. */
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

#include "datasets/calib.h"
#include "datasets/datasets.h"
#include "metrics/ppl.h"
#include "model/tokenizer.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"
#include <omp.h>

/* ---- calibration sampling on hand-made documents -------------------------------------------------- */

/* docs whose token values are their global position, so any window's content is checkable */
typedef struct { int *d[8]; int len[8]; int n; } Docs;

static void docs_make(Docs *D, const int *lens, int n) {
    int v = 0;
    D->n = n;
    for (int i = 0; i < n; i++) {
        D->len[i] = lens[i];
        D->d[i] = malloc(((size_t)lens[i] + 1) * sizeof(int));
        for (int t = 0; t < lens[i]; t++) D->d[i][t] = v++;
    }
}
static void docs_free(Docs *D) { for (int i = 0; i < D->n; i++) free(D->d[i]); }

static void test_calib_documents_rule(void **state) {
    (void)state;
    /* only docs 1 (len 11) and 3 (len 20) have >= seqlen+1 = 11 tokens; doc 0 has exactly seqlen */
    const int lens[] = {10, 11, 3, 20};
    Docs D;
    docs_make(&D, lens, 4);
    CalibWindows a, b, c;
    char err[QB_ERRLEN];
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 4, 50, 10, 7, CALIB_DOCUMENTS, "t", &a, err), 0);
    assert_int_equal(a.mode, CALIB_DOCUMENTS);
    assert_int_equal(a.n_long, 2);
    int seen1 = 0, seen3 = 0;
    for (int s = 0; s < 50; s++) {
        int d = a.doc[s], st = a.start[s];
        assert_true(d == 1 || d == 3);
        seen1 |= d == 1;
        seen3 |= d == 3;
        /* GPTQ's randint(0, len - seqlen - 1): the window never reaches the last token */
        assert_in_range(st, 0, D.len[d] - 10 - 1);
        for (int t = 0; t < 10; t++) assert_int_equal(a.windows[s * 10 + t], D.d[d][st + t]);
    }
    assert_true(seen1 && seen3);
    /* doc 1 has exactly one legal start */
    for (int s = 0; s < 50; s++)
        if (a.doc[s] == 1) assert_int_equal(a.start[s], 0);
    /* same seed, same windows; another seed, other windows */
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 4, 50, 10, 7, CALIB_DOCUMENTS, "t", &b, err), 0);
    assert_memory_equal(a.windows, b.windows, 50 * 10 * sizeof(int));
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 4, 50, 10, 8, CALIB_DOCUMENTS, "t", &c, err), 0);
    assert_true(memcmp(a.windows, c.windows, 50 * 10 * sizeof(int)) != 0);
    calib_free(&a);
    calib_free(&b);
    calib_free(&c);
    /* no document long enough: a clear error, nothing allocated */
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 4, 5, 20, 0, CALIB_DOCUMENTS, "corpus.txt", &a, err), -1);
    assert_non_null(strstr(err, "corpus.txt"));
    assert_non_null(strstr(err, "no document is long enough"));
    assert_non_null(strstr(err, ">= 21 tokens"));
    assert_null(a.windows);
    /* bad sizes */
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 4, 0, 10, 0, CALIB_AUTO, "t", &a, err), -1);
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 4, 3, 0, 0, CALIB_AUTO, "t", &a, err), -1);
    docs_free(&D);
}

static void test_calib_joined_rule(void **state) {
    (void)state;
    const int lens[] = {4, 0, 3, 5, 2};
    Docs D;
    docs_make(&D, lens, 5); /* tokens 0..13 in order across the documents */
    CalibWindows a;
    char err[QB_ERRLEN];
    /* 2 long docs < 40 samples: auto falls back to joined windows */
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 5, 40, 4, 3, CALIB_AUTO, "t", &a, err), 0);
    assert_int_equal(a.mode, CALIB_JOINED);
    assert_int_equal(a.n_tokens, 14);
    for (int s = 0; s < 40; s++) {
        assert_int_equal(a.doc[s], -1);
        assert_in_range(a.start[s], 0, 14 - 4 - 1);
        /* a window crossing document boundaries (and the empty document) is still consecutive */
        for (int t = 0; t < 4; t++) assert_int_equal(a.windows[s * 4 + t], a.start[s] + t);
    }
    calib_free(&a);
    /* auto with enough long documents keeps the documents rule */
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 5, 2, 3, 3, CALIB_AUTO, "t", &a, err), 0);
    assert_int_equal(a.mode, CALIB_DOCUMENTS);
    calib_free(&a);
    /* the whole text too short */
    assert_int_equal(calib_sample_docs((const int *const *)D.d, D.len, 5, 1, 14, 0, CALIB_JOINED, "tiny.txt", &a, err), -1);
    assert_non_null(strstr(err, "tiny.txt"));
    assert_non_null(strstr(err, "14 tokens"));
    docs_free(&D);
}

static void test_calib_split(void **state) {
    (void)state;
    char *owned, err[QB_ERRLEN];
    size_t *st, *ln;
    const char *t = "  one\nstill one \n \t\n\ntwo\n\n\nthree";
    int n = calib_split_documents(t, strlen(t), 0, "x", &owned, &st, &ln, err);
    assert_int_equal(n, 3);
    assert_int_equal(ln[0], strlen("one\nstill one"));
    assert_memory_equal(t + st[0], "one\nstill one", ln[0]);
    assert_memory_equal(t + st[1], "two", 3);
    assert_memory_equal(t + st[2], "three", 5);
    free(st); free(ln); free(owned);
    /* <|endoftext|> separators win over blank lines */
    const char *e = "a\n\nb<|endoftext|>\nc<|endoftext|><|endoftext|>";
    n = calib_split_documents(e, strlen(e), 0, "x", &owned, &st, &ln, err);
    assert_int_equal(n, 2);
    assert_memory_equal(e + st[0], "a\n\nb", 4);
    assert_memory_equal(e + st[1], "c", 1);
    free(st); free(ln); free(owned);
    /* jsonl: "text" fields; blank lines skipped; a bad line is named */
    const char *j = "{\"text\": \"hello\\nworld\", \"url\": 1}\n\n{\"text\": \"second\"}\n";
    n = calib_split_documents(j, strlen(j), 1, "c4.jsonl", &owned, &st, &ln, err);
    assert_int_equal(n, 2);
    assert_memory_equal(owned + st[0], "hello\nworld", 11);
    assert_memory_equal(owned + st[1], "second", 6);
    free(st); free(ln); free(owned);
    const char *bad[] = {"{\"text\": \"ok\"}\n{\"text\": 3}\n", "{\"text\": \"ok\"}\n[1,2]\n", "{\"text\": \"ok\"}\n{\"te\n"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(calib_split_documents(bad[i], strlen(bad[i]), 1, "c4.jsonl", &owned, &st, &ln, err), -1);
        assert_non_null(strstr(err, "c4.jsonl:2:"));
    }
}

static void test_calib_real_file(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Tokenizer *tok = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
    assert_non_null(tok);
    /* C4 jsonl: documents rule; each window is a slice of its document tokenized on its own */
    const char *path = "assets/c4/c4-en-train.00000-of-01024.first1000.jsonl";
    CalibWindows a, b;
    assert_int_equal(calib_sample(tok, path, 16, 64, 0, CALIB_AUTO, &a, err), 0);
    assert_int_equal(a.mode, CALIB_DOCUMENTS);
    assert_int_equal(a.n_docs, 1000);
    size_t len;
    char *text = qb_read_file(path, &len, err), *owned;
    size_t *st, *ln;
    assert_int_equal(calib_split_documents(text, len, 1, path, &owned, &st, &ln, err), 1000);
    for (int s = 0; s < 16; s++) {
        int *ids, n;
        assert_int_equal(tokenizer_encode(tok, owned + st[a.doc[s]], ln[a.doc[s]], 1, &ids, &n, err), 0);
        assert_true(n >= 65);
        assert_int_equal(ids[0], tokenizer_bos(tok));
        assert_memory_equal(a.windows + s * 64, ids + a.start[s], 64 * sizeof(int));
        free(ids);
    }
    free(st); free(ln); free(owned); free(text);
    assert_int_equal(calib_sample(tok, path, 16, 64, 0, CALIB_AUTO, &b, err), 0);
    assert_memory_equal(a.windows, b.windows, 16 * 64 * sizeof(int));
    calib_free(&a);
    calib_free(&b);
    /* a missing file is named */
    assert_int_equal(calib_sample(tok, "assets/nope.txt", 4, 8, 0, CALIB_AUTO, &a, err), -1);
    assert_non_null(strstr(err, "assets/nope.txt"));
    tokenizer_free(tok);
}

/* ---- the pipeline on real models ------------------------------------------------------------------ */

typedef struct {
    Tokenizer *tok;
    CalibWindows cw;
    int *eval;
    int n_eval;
} Fixture;

/* Calibration windows from tinystories-calib, held-out eval tokens from tinystories-valid. */
static void fixture_init(Fixture *f, const char *tok_path, int vocab, int n_samples, int seqlen, int eval_tokens) {
    char err[QB_ERRLEN];
    memset(f, 0, sizeof *f);
    f->tok = tokenizer_load(tok_path, vocab, err);
    assert_non_null(f->tok);
    TextDataset td;
    assert_int_equal(dataset_load_text("tinystories-calib", &td, err), 0);
    assert_int_equal(calib_sample_text(f->tok, td.text, td.len, 0, "tinystories-calib", n_samples, seqlen, 0,
                                       CALIB_AUTO, &f->cw, err), 0);
    dataset_text_free(&td);
    assert_int_equal(dataset_load_text("tinystories-valid", &td, err), 0);
    /* enough text for eval_tokens (a few bytes per token), tokenized once with BOS */
    size_t len = td.len < (size_t)eval_tokens * 8 ? td.len : (size_t)eval_tokens * 8;
    assert_int_equal(tokenizer_encode(f->tok, td.text, len, 1, &f->eval, &f->n_eval, err), 0);
    assert_true(f->n_eval >= eval_tokens);
    f->n_eval = eval_tokens;
    dataset_text_free(&td);
}

static void fixture_free(Fixture *f) {
    calib_free(&f->cw);
    free(f->eval);
    tokenizer_free(f->tok);
}

static double ppl_of(const Model *m, const Fixture *f) {
    char err[QB_ERRLEN];
    PplOptions o = {.mode = PPL_GPTQ, .seqlen = 256};
    PplStats st = {0};
    assert_int_equal(ppl_eval_tokens(m, f->eval, f->n_eval, 1, NULL, &o, &st, err), 0);
    return ppl_value(&st);
}

/* Loads a fresh copy of the model and quantizes it; n_samples limits the windows used. */
static Model *quantized(const char *path, QuantMethod meth, int bits, int act_order, const Fixture *f, int n_samples,
                        int true_seq, PipelineReport *rep) {
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    assert_non_null(m);
    PipelineOptions po = {0};
    quant_options_default(&po.opt, meth, bits);
    po.opt.act_order = act_order;
    po.true_sequential = true_seq;
    CalibrationSet cs = {n_samples, f->cw.seqlen, f->cw.windows};
    int rc = quant_model(m, &cs, &po, 0, rep, err);
    if (rc) fprintf(stderr, "quant_model: %s\n", err);
    assert_int_equal(rc, 0);
    return m;
}

/* Returns the number of (layer, bits) pairs in which GPTQ's error was below RTN's. */
static int gptq_vs_rtn(const char *model_path, const char *tok_path, int vocab, int eval_tokens) {
    Fixture f;
    fixture_init(&f, tok_path, vocab, 128, 256, eval_tokens);
    char err[QB_ERRLEN];
    Model *fp = model_load(model_path, err);
    assert_non_null(fp);
    const double p_fp = ppl_of(fp, &f);
    model_free(fp);
    int below = 0;
    for (int bits = 3; bits <= 4; bits++) {
        PipelineReport rr, rg;
        /* RTN ignores calibration; its windows only measure each layer's error. One pass per block
         * (not true-sequential) keeps the test short: RTN itself is the same either way.
         * GPTQ as the IST LLaMA recipe runs it: act-order + true-sequential. (Without act-order,
         * tinystories-656K at 4 bits beats RTN by only 1-3% and the margin moves with the thread
         * count; with it, 6.5% and the same bits for 1 and 2 threads.) */
        Model *mr = quantized(model_path, QM_RTN, bits, 0, &f, 128, 0, &rr);
        Model *mg = quantized(model_path, QM_GPTQ, bits, 1, &f, 128, 1, &rg);
        assert_int_equal(rr.n_layers, rg.n_layers);
        for (int i = 0; i < rg.n_layers; i++) {
            const LayerRecord *a = &rg.layers[i], *b = &rr.layers[i];
            assert_true(isfinite(a->error) && isfinite(b->error) && a->error >= 0);
            below += a->error < b->error;
            if (!(a->error < b->error))
                fail_msg("%s %d-bit blk.%d.%s: GPTQ error %g >= RTN %g", model_path, bits, a->layer,
                         linear_kind_name(a->kind), a->error, b->error);
        }
        const double p_r = ppl_of(mr, &f), p_g = ppl_of(mg, &f);
        print_message("%s %d-bit per-row: ppl fp %.4f, RTN %.4f, GPTQ act-order %.4f (%.1f s)\n", model_path, bits, p_fp, p_r,
                      p_g, rg.seconds);
        assert_true(p_g < p_r);
        pipeline_report_free(&rr);
        pipeline_report_free(&rg);
        model_free(mr);
        model_free(mg);
    }
    /* 8-bit GPTQ is near lossless (32 of the windows: the bound is loose and this keeps the test short) */
    PipelineReport r8;
    Model *m8 = quantized(model_path, QM_GPTQ, 8, 0, &f, 32, 1, &r8);
    const double p8 = ppl_of(m8, &f);
    print_message("%s 8-bit GPTQ: ppl %.5f vs fp %.5f (%+.3f%%)\n", model_path, p8, p_fp, 100 * (p8 / p_fp - 1));
    assert_true(fabs(p8 / p_fp - 1) < 0.005);
    pipeline_report_free(&r8);
    model_free(m8);
    fixture_free(&f);
    return below;
}

static void test_gptq_beats_rtn_stories260k(void **state) {
    (void)state;
    /* every linear layer (5 blocks x 7) at 3 and at 4 bits */
    assert_int_equal(gptq_vs_rtn("assets/stories260K/stories260K.bin", "assets/stories260K/tok512.bin", 512, 16 * 256),
                     2 * 5 * LIN_COUNT);
}

static void test_gptq_beats_rtn_tinystories656k(void **state) {
    (void)state;
    assert_int_equal(gptq_vs_rtn("assets/tinystories-656K", "assets/tinystories-656K/tokenizer.json", 2048, 16 * 256),
                     2 * 2 * LIN_COUNT); /* 2 blocks x 7, at 3 and 4 bits */
}

static int n_progress;
static void count_progress(void *ctx, int layer, LinearKind kind, int done, int total) {
    (void)ctx;
    assert_int_equal(done, layer * LIN_COUNT + (int)kind + 1);
    assert_int_equal(total, 5 * LIN_COUNT);
    n_progress++;
}

/* RTN without calibration: no forward passes, NaN errors, and the size accounting checked by hand. */
static void test_rtn_without_calibration_sizes(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *m = model_load("assets/stories260K/stories260K.bin", err);
    assert_non_null(m);
    float w0 = m->blocks[2].lin[LIN_UP].w[5];
    PipelineOptions po = {0};
    quant_options_default(&po.opt, QM_RTN, 4);
    po.true_sequential = 1;
    po.progress = count_progress;
    PipelineReport rep;
    n_progress = 0;
    assert_int_equal(quant_model(m, NULL, &po, 1, &rep, err), 0);
    assert_int_equal(n_progress, 35);
    assert_int_equal(rep.n_layers, 35);
    assert_true(isnan(rep.layers[0].error));
    /* the model now holds Q: a 4-bit row has at most 16 distinct values */
    const float *row = m->blocks[2].lin[LIN_UP].w;
    int distinct = 0;
    for (int c = 0; c < 64; c++) {
        int seen = 0;
        for (int d = 0; d < c; d++) seen |= row[d] == row[c];
        distinct += !seen;
    }
    assert_true(distinct <= 16);
    assert_true(row[5] != w0 || distinct <= 16);
    /* by hand, per block: weights 4·64·64 + 2·32·64 + 3·172·64 = 45312, rows 64+32+32+64+172+172+64 = 600;
     * each row has one group: fp16 scale + 4-bit zero = 20 bits. 5 blocks. */
    assert_true(fabs(rep.bits_per_weight - (4.0 * 5 * 45312 + 20.0 * 5 * 600) / (5 * 45312)) < 1e-9);
    /* packed: qweight rows of ceil(cols·4/32) words (64 cols: 8 words, 172 cols: 22 words), fp16 scales,
     * zeros packed per group (64 rows: 8 words, 32: 4, 172: 22); plus the float tensors at fp16:
     * tied embedding 512·64 and norms 64·(2·5+1). */
    size_t qweight = 4 * ((64 + 32 + 32 + 64 + 172 + 172) * 8 + 64 * 22);
    size_t scales = 2 * 600, zeros = 4 * (8 + 4 + 4 + 8 + 22 + 22 + 8);
    size_t floats = 2 * (512 * 64 + 64 * 11);
    assert_int_equal(rep.packed_bytes, 5 * (qweight + scales + zeros) + floats);
    assert_non_null(rep.results);
    assert_null(rep.results[0].q); /* kept results drop the second copy of the weights */
    assert_non_null(rep.results[0].codes);
    pipeline_report_free(&rep);
    model_free(m);
}

static void test_pipeline_errors(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    const char *path = "assets/stories260K/stories260K.bin";
    int windows[4 * 16];
    for (int i = 0; i < 64; i++) windows[i] = 1 + (i * 37) % 500;
    CalibrationSet cs = {4, 16, windows};
    PipelineOptions po = {0};
    quant_options_default(&po.opt, QM_GPTQ, 4);
    po.true_sequential = 1;
    PipelineReport rep;

    Model *m = model_load(path, err);
    assert_non_null(m);
    /* gptq without calibration */
    assert_int_equal(quant_model(m, NULL, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "gptq needs calibration"));
    /* a token outside the vocabulary */
    windows[17] = 512;
    assert_int_equal(quant_model(m, &cs, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "window 1 token 1 = 512"));
    windows[17] = 3;
    /* an empty window set is an error */
    CalibrationSet empty = {4, 0, windows};
    assert_int_equal(quant_model(m, &empty, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "seqlen 0"));
    /* bad options are caught before any work */
    po.opt.bits = 1;
    assert_int_equal(quant_model(m, &cs, &po, 0, &rep, err), -1);
    po.opt.bits = 4;
    /* zero attention-norm weights in block 1: the inputs of its q/k/v are all zero */
    memset(m->blocks[1].attn_norm, 0, 64 * sizeof(float));
    assert_int_equal(quant_model(m, &cs, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "blk.1.attn.q"));
    assert_non_null(strstr(err, "all zero"));
    assert_null(rep.layers);
    model_free(m);

    /* quantize_head with a zero final norm: the classifier's inputs are all zero (after every block) */
    m = model_load(path, err);
    assert_non_null(m);
    memset(m->final_norm, 0, 64 * sizeof(float));
    po.quantize_head = 1;
    assert_int_equal(quant_model(m, &cs, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "classifier"));
    assert_non_null(strstr(err, "all zero"));
    assert_null(rep.layers);
    po.quantize_head = 0;
    model_free(m);

    /* a NaN embedding row: block 0's inputs are checked before any forward pass */
    m = model_load(path, err);
    assert_non_null(m);
    m->tok_emb[(size_t)windows[2 * 16 + 5] * 64 + 7] = NAN;
    assert_int_equal(quant_model(m, &cs, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "blk.0.attn.q"));
    assert_non_null(strstr(err, "NaN"));
    assert_non_null(strstr(err, "window 2, position 5"));
    model_free(m);
#ifndef __SANITIZE_ADDRESS__
    /* a NaN in block 2's FFN norm appears inside the block and reaches the inputs of gate/up.
     * Not under the sanitizers: model/kernels.h's fast_expf converts NaN to int (undefined). */
    m = model_load(path, err);
    assert_non_null(m);
    m->blocks[2].ffn_norm[3] = NAN;
    assert_int_equal(quant_model(m, &cs, &po, 0, &rep, err), -1);
    assert_non_null(strstr(err, "blk.2.mlp.gate"));
    assert_non_null(strstr(err, "NaN"));
    model_free(m);
#endif
}

/* Without true-sequential one pass per block collects every Hessian: a different (valid) result. */
static void test_true_sequential_changes_inputs(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    int windows[8 * 64];
    QbRng r;
    qb_rng_seed(&r, 5);
    for (int i = 0; i < 8 * 64; i++) windows[i] = (int)qb_rng_below(&r, 512);
    CalibrationSet cs = {8, 64, windows};
    PipelineOptions po = {0};
    quant_options_default(&po.opt, QM_GPTQ, 3);
    PipelineReport a, b;
    Model *m1 = model_load("assets/stories260K/stories260K.bin", err), *m2 = model_load("assets/stories260K/stories260K.bin", err);
    po.true_sequential = 1;
    assert_int_equal(quant_model(m1, &cs, &po, 0, &a, err), 0);
    po.true_sequential = 0;
    assert_int_equal(quant_model(m2, &cs, &po, 0, &b, err), 0);
    /* q/k/v are the first stage either way: identical; o sees quantized q/k/v only when sequential */
    assert_memory_equal(m1->blocks[0].lin[LIN_Q].w, m2->blocks[0].lin[LIN_Q].w, 64 * 64 * sizeof(float));
    assert_true(a.layers[LIN_Q].error == b.layers[LIN_Q].error);
    assert_true(a.layers[LIN_O].error != b.layers[LIN_O].error);
    pipeline_report_free(&a);
    pipeline_report_free(&b);
    model_free(m1);
    model_free(m2);
}

/* ---- the staged pipeline against the reference path, and thread counts ---------------------------- */

/* Hessian accumulation: the same bits for 1, 2 and 3 threads, and (up to float rounding) the definition
 * H = (2/n) Σ_samples XᵀX computed here in double. 300 columns: tiles that do not divide evenly. */
static void test_hessian_threads(void **state) {
    (void)state;
    enum { C = 300, T = 200, NS = 5 };
    float *X = malloc((size_t)NS * T * C * sizeof(float));
    assert_non_null(X);
    QbRng r;
    qb_rng_seed(&r, 3);
    for (size_t i = 0; i < (size_t)NS * T * C; i++) X[i] = qb_rng_normal(&r) + (i % C == 7 ? 2.0f : 0.0f);
    const int saved = omp_get_max_threads();
    float *ref = NULL;
    char err[QB_ERRLEN];
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        Hessian h;
        assert_int_equal(hessian_init(&h, C, err), 0);
        hessian_add_samples(&h, X, 2 * T, 2);           /* batches of 2, 1 and 2 samples */
        hessian_add_sample(&h, X + (size_t)2 * T * C, T);
        hessian_add_samples(&h, X + (size_t)3 * T * C, 2 * T, 2);
        if (!ref) {
            ref = h.H;
            for (int a = 0; a < C; a += 37)
                for (int b = 0; b < C; b += 41) {
                    double d = 0;
                    for (int t = 0; t < NS * T; t++) d += (double)X[(size_t)t * C + a] * X[(size_t)t * C + b];
                    d *= 2.0 / NS;
                    if (fabs(ref[(size_t)a * C + b] - d) > 1e-4 * (fabs(d) + 10 * T))
                        fail_msg("H[%d][%d] = %g, by definition %g", a, b, ref[(size_t)a * C + b], d);
                    assert_true(ref[(size_t)a * C + b] == ref[(size_t)b * C + a]);
                }
        } else {
            assert_memory_equal(h.H, ref, (size_t)C * C * sizeof(float));
            hessian_free(&h);
        }
    }
    omp_set_num_threads(saved);
    free(ref);
    free(X);
}

typedef struct { char sha[64][65]; int layer[64], input[64], n; } HessianLog;

static void log_hessian(void *ctx, int layer, int input, const float *H, int cols) {
    HessianLog *log = ctx;
    if (log->n >= 64) fail_msg("more Hessians than expected");
    qb_sha256_hex(H, (size_t)cols * cols * sizeof(float), log->sha[log->n]);
    log->layer[log->n] = layer;
    log->input[log->n++] = input;
}

/* Quantizes a fresh copy of path with GPTQ 4-bit g32 act-order, true-sequential, head included. */
static Model *staged_run(const char *path, const CalibrationSet *cs, int reference, int threads, HessianLog *log,
                         PipelineReport *rep) {
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    if (!m) fail_msg("%s", err);
    PipelineOptions po = {0};
    quant_options_default(&po.opt, QM_GPTQ, 4);
    po.opt.group_size = 32;
    po.opt.act_order = 1;
    po.true_sequential = 1;
    po.quantize_head = 1;
    po.reference_path = reference;
    memset(log, 0, sizeof *log);
    po.hessian_hook = log_hessian;
    po.hessian_ctx = log;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    int rc = quant_model(m, cs, &po, 0, rep, err);
    omp_set_num_threads(saved);
    if (rc) fail_msg("quant_model: %s", err);
    return m;
}

static void assert_same_model(const Model *a, const Model *b) {
    for (int l = 0; l < a->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const Linear *x = &a->blocks[l].lin[k], *y = &b->blocks[l].lin[k];
            if (!x->w != !y->w) fail_msg("blk.%d.%s: present in one model only", l, linear_kind_name((LinearKind)k));
            if (x->w && memcmp(x->w, y->w, (size_t)x->rows * x->cols * sizeof(float)))
                fail_msg("blk.%d.%s: quantized weights differ", l, linear_kind_name((LinearKind)k));
        }
    assert_memory_equal(a->classifier, b->classifier, (size_t)a->cfg.vocab_size * model_emb_dim(&a->cfg) * sizeof(float));
    if (!a->cfg.tied_embeddings)
        assert_memory_equal(a->tok_emb, b->tok_emb, (size_t)a->cfg.vocab_size * model_emb_dim(&a->cfg) * sizeof(float));
}

/* The staged true-sequential pipeline computes each stage's inputs once, the reference path runs the
 * whole block per stage: every Hessian and every quantized weight must have the same bits, for 1, 2
 * and 3 threads. A synthetic GQA model (4 heads on 2 key/value heads) with windows long enough for the
 * blocked attention, and 20 windows, so Hessians are updated in two batches (16 + 4); then stories260K. */
static void staged_vs_reference(const char *path, const CalibrationSet *cs, int n_hessians) {
    HessianLog lr, ls;
    PipelineReport rr, rs;
    Model *mr = staged_run(path, cs, 1, 2, &lr, &rr);
    assert_int_equal(lr.n, n_hessians);
    for (int th = 1; th <= 3; th++) {
        Model *ms = staged_run(path, cs, 0, th, &ls, &rs);
        assert_int_equal(ls.n, lr.n);
        for (int i = 0; i < lr.n; i++) {
            assert_int_equal(ls.layer[i], lr.layer[i]);
            assert_int_equal(ls.input[i], lr.input[i]);
            if (strcmp(ls.sha[i], lr.sha[i]))
                fail_msg("%d threads: blk.%d input %d: the Hessian differs from the reference path's", th, lr.layer[i],
                         lr.input[i]);
        }
        assert_same_model(ms, mr);
        for (int i = 0; i < rr.n_layers; i++) assert_true(rs.layers[i].error == rr.layers[i].error);
        assert_true(rs.head_error == rr.head_error);
        pipeline_report_free(&rs);
        model_free(ms);
    }
    pipeline_report_free(&rr);
    model_free(mr);
}

static void test_staged_matches_reference(void **state) {
    (void)state;
    enum { V = 300, NS = 20, T = 128 };
    ModelConfig c = {.dim = 64, .hidden_dim = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = V,
                     .seq_len = T, .tied_embeddings = 0, .bos_id = 1, .eos_id = 2};
    char err[QB_ERRLEN], dir[] = "/tmp/qb_stagedXXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/syn.bin", dir);
    assert_int_equal(model_synth_write(&c, 5, SYNTH_LLAMA2C, path, err), 0);
    int *windows = malloc((size_t)12 * 256 * sizeof(int)); /* room for both sets below */
    assert_non_null(windows);
    QbRng rng;
    qb_rng_seed(&rng, 11);
    for (int i = 0; i < NS * T; i++) windows[i] = (int)qb_rng_below(&rng, V);
    CalibrationSet cs = {NS, T, windows};
    staged_vs_reference(path, &cs, 2 * 4);
    unlink(path);
    rmdir(dir);
    /* stories260K: 5 blocks, tied head; windows of 256 real-vocabulary tokens */
    for (int i = 0; i < 12 * 256; i++) windows[i] = (int)qb_rng_below(&rng, 512);
    CalibrationSet c2 = {12, 256, windows};
    staged_vs_reference("assets/stories260K/stories260K.bin", &c2, 5 * 4);
    free(windows);
}

/* The same for the LayerNorm families (their own staged stages): OPT pre-LayerNorm, OPT post-LayerNorm
 * with project_in/out (OPT-350M's layout), BLOOM (ALiBi, fused qkv), GPT-2 (learned positions, fused
 * qkv) and GPT-NeoX (parallel residual, partial rotary, untied head); odd head count 3, head included. */
static void test_staged_matches_reference_arch(void **state) {
    (void)state;
    enum { V = 300, NS = 20, T = 128 };
    int *windows = malloc((size_t)NS * T * sizeof(int));
    assert_non_null(windows);
    QbRng rng;
    qb_rng_seed(&rng, 13);
    for (int i = 0; i < NS * T; i++) windows[i] = (int)qb_rng_below(&rng, V);
    CalibrationSet cs = {NS, T, windows};
    static const struct { ArchFamily f; int post_norm, proj_dim; const char *arch; } V5[] = {
        {ARCH_OPT, 0, 0, "OPTForCausalLM"}, {ARCH_OPT, 1, 32, "OPTForCausalLM"},
        {ARCH_BLOOM, 0, 0, "BloomForCausalLM"}, {ARCH_GPT2, 0, 0, "GPT2LMHeadModel"},
        {ARCH_NEOX, 0, 0, "GPTNeoXForCausalLM"}};
    for (size_t v = 0; v < sizeof V5 / sizeof V5[0]; v++) {
        ModelConfig c = {.dim = 48, .hidden_dim = 80, .n_layers = 2, .n_heads = 3, .n_kv_heads = 3, .vocab_size = V,
                         .seq_len = T, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2, .family = V5[v].f,
                         .post_norm = V5[v].post_norm, .proj_dim = V5[v].proj_dim};
        snprintf(c.arch, sizeof c.arch, "%s", V5[v].arch);
        c.act = c.family == ARCH_OPT ? ACT_RELU : c.family == ARCH_NEOX ? ACT_GELU : ACT_GELU_TANH;
        if (c.family == ARCH_BLOOM) c.hidden_dim = 4 * c.dim; /* BLOOM's config has no FFN width */
        if (c.family == ARCH_NEOX) {
            c.parallel_residual = 1;
            c.rotary_dims = 8;
            c.tied_embeddings = 0;
        }
        char err[QB_ERRLEN], dir[] = "/tmp/qb_staged_archXXXXXX", cmd[64];
        assert_non_null(mkdtemp(dir));
        if (model_synth_write(&c, 17 + v, SYNTH_SAFETENSORS, dir, err)) fail_msg("synth: %s", err);
        print_message("%s%s: staged vs reference\n", arch_family_name(c.family), c.post_norm ? " (post-LN, proj)" : "");
        staged_vs_reference(dir, &cs, 2 * 4);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
    free(windows);
}

/* ---- quantize_head --------------------------------------------------------------------------------- */

/* Per-row asymmetric RTN puts every weight within half a step of itself, step = (max − min)/(2^bits − 1)
 * with the range widened to include 0 (GPTQ's quantizer): a bound from the definition, not a run. */
static void assert_rtn_rows(const float *W, const float *Q, int rows, int cols, int bits) {
    int changed = 0;
    for (int r = 0; r < rows; r++) {
        float lo = 0, hi = 0;
        for (int c = 0; c < cols; c++) {
            float w = W[(size_t)r * cols + c];
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        float half = (hi - lo) / (float)((1 << bits) - 1) / 2 * 1.0001f + 1e-7f;
        for (int c = 0; c < cols; c++) {
            float d = fabsf(W[(size_t)r * cols + c] - Q[(size_t)r * cols + c]);
            if (d > half) fail_msg("row %d col %d: |w - q| = %g > half a step %g", r, c, d, half);
            changed |= W[(size_t)r * cols + c] != Q[(size_t)r * cols + c];
        }
    }
    assert_true(changed);
}

static Model *quant_head_run(const char *path, QuantMethod meth, int bits, int head, const CalibrationSet *cs,
                             int keep, PipelineOptions *po, PipelineReport *rep) {
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    assert_non_null(m);
    memset(po, 0, sizeof *po);
    quant_options_default(&po->opt, meth, bits);
    po->true_sequential = 1;
    po->quantize_head = head;
    int rc = quant_model(m, cs, po, keep, rep, err);
    if (rc) fprintf(stderr, "quant_model: %s\n", err);
    assert_int_equal(rc, 0);
    return m;
}

/* stories260K (tied: classifier == tok_emb). 5 blocks of 45312 weights / 600 rows (see above), head 512x64. */
static void test_quantize_head_tied(void **state) {
    (void)state;
    const char *path = "assets/stories260K/stories260K.bin";
    Fixture f;
    fixture_init(&f, "assets/stories260K/tok512.bin", 512, 32, 256, 16 * 256);
    CalibrationSet cs = {f.cw.n_samples, f.cw.seqlen, f.cw.windows};
    char err[QB_ERRLEN];
    Model *fp = model_load(path, err);
    assert_non_null(fp);
    const size_t VD = 512 * 64;
    const double p_fp = ppl_of(fp, &f);
    PipelineOptions po;
    PipelineReport r0, r8;
    /* without the flag the classifier is bitwise untouched */
    Model *m0 = quant_head_run(path, QM_RTN, 8, 0, &cs, 0, &po, &r0);
    assert_memory_equal(m0->classifier, fp->classifier, VD * sizeof(float));
    assert_int_equal(r0.head_quantized, 0);
    /* with it, 8-bit RTN changes the (shared) table, each row within half a step, ppl within 1% */
    Model *m8 = quant_head_run(path, QM_RTN, 8, 1, &cs, 0, &po, &r8);
    assert_int_equal(r8.head_quantized, 1);
    assert_ptr_equal(m8->classifier, m8->tok_emb);
    assert_rtn_rows(fp->classifier, m8->classifier, 512, 64, 8);
    assert_true(isfinite(r8.head_error) && r8.head_error > 0);
    const double p0 = ppl_of(m0, &f), p8 = ppl_of(m8, &f);
    print_message("stories260K RTN 8-bit: ppl fp %.5f, blocks %.5f, blocks + head %.5f\n", p_fp, p0, p8);
    assert_true(p8 != p0);
    assert_true(fabs(p8 / p_fp - 1) < 0.01);
    /* bits by hand: 8-bit codes + per row fp16 scale + 8-bit zero = 24 bits; the head adds 512 rows */
    const double lin = 5 * 45312.0, rows = 5 * 600.0;
    assert_true(fabs(r0.bits_per_weight - (8 * lin + 24 * rows) / lin) < 1e-9);
    assert_true(fabs(r8.bits_per_weight - (8 * (lin + VD) + 24 * (rows + 512)) / (lin + VD)) < 1e-9);
    /* packed: the fp16 table (2·512·64) becomes 8-bit qweight (16 words a row), fp16 scales, 8-bit zeros
     * packed (512·8/32 = 128 words) */
    assert_int_equal(r0.packed_bytes - r8.packed_bytes, 2 * VD - (4 * 16 * 512 + 2 * 512 + 4 * 128));

    /* GPTQ 4-bit's head error beats RTN 4-bit's on the same windows */
    PipelineReport rr, rg;
    Model *mr = quant_head_run(path, QM_RTN, 4, 1, &cs, 0, &po, &rr);
    Model *mg = quant_head_run(path, QM_GPTQ, 4, 1, &cs, 0, &po, &rg);
    print_message("stories260K 4-bit head error: RTN %.5g, GPTQ %.5g\n", rr.head_error, rg.head_error);
    assert_true(isfinite(rg.head_error) && rg.head_error > 0);
    assert_true(rg.head_error < rr.head_error);
    pipeline_report_free(&r0);
    pipeline_report_free(&r8);
    pipeline_report_free(&rr);
    pipeline_report_free(&rg);
    model_free(m0);
    model_free(m8);
    model_free(mr);
    model_free(mg);
    model_free(fp);
    fixture_free(&f);
}

static double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

/* A synthetic untied model: the classifier is GPTQ'd on final-norm states, tok_emb gets RTN. */
static void test_quantize_head_untied(void **state) {
    (void)state;
    enum { V = 300, D = 64, NS = 8, T = 32 };
    ModelConfig c = {.dim = D, .hidden_dim = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = V,
                     .seq_len = 64, .tied_embeddings = 0, .bos_id = 1, .eos_id = 2};
    char err[QB_ERRLEN], dir[] = "/tmp/qb_headXXXXXX", path[64], ck[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/syn.bin", dir);
    snprintf(ck, sizeof ck, "%s/q.qbq", dir);
    assert_int_equal(model_synth_write(&c, 21, SYNTH_LLAMA2C, path, err), 0);
    int windows[NS * T];
    QbRng rng;
    qb_rng_seed(&rng, 9);
    for (int i = 0; i < NS * T; i++) windows[i] = (int)qb_rng_below(&rng, V);
    CalibrationSet cs = {NS, T, windows};
    Model *fp = model_load(path, err);
    assert_non_null(fp);
    assert_false(fp->cfg.tied_embeddings);
    assert_true(fp->classifier != fp->tok_emb);
    /* the blocks' linear weights and rows, by hand: q,o 64x64; k,v 32x64; gate,up 96x64; down 64x96 */
    const double lin = 2 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 96 * 64.0), rows = 2 * (64 + 32 + 32 + 64 + 96 + 96 + 64.0);
    assert_int_equal(model_linear_params(fp), (size_t)lin);

    PipelineOptions po;
    PipelineReport r0, r8;
    Model *m0 = quant_head_run(path, QM_RTN, 8, 0, &cs, 0, &po, &r0);
    assert_memory_equal(m0->classifier, fp->classifier, (size_t)V * D * sizeof(float));
    assert_memory_equal(m0->tok_emb, fp->tok_emb, (size_t)V * D * sizeof(float));
    Model *m8 = quant_head_run(path, QM_RTN, 8, 1, &cs, 1, &po, &r8);
    assert_rtn_rows(fp->classifier, m8->classifier, V, D, 8);
    assert_rtn_rows(fp->tok_emb, m8->tok_emb, V, D, 8);
    /* two V x D tables more, 24 bits of grid per row each */
    assert_true(fabs(r8.bits_per_weight - (8 * (lin + 2.0 * V * D) + 24 * (rows + 2.0 * V)) / (lin + 2.0 * V * D)) < 1e-9);
    /* logits of one window stay within 5% (relative L2) of the float model's */
    ModelState *s = model_state_new(fp, T, T);
    float *lf = malloc((size_t)T * V * sizeof(float)), *lq = malloc((size_t)T * V * sizeof(float));
    assert_int_equal(model_forward(fp, s, windows, T, 0, lf, err), 0);
    assert_int_equal(model_forward(m8, s, windows, T, 0, lq, err), 0);
    double d8 = rel_l2(lq, lf, (size_t)T * V);
    print_message("untied synthetic RTN 8-bit + head: logits relative L2 %.3g\n", d8);
    assert_true(d8 > 0 && d8 < 0.05);

    /* the checkpoint round-trips the quantized tables and records the flag */
    assert_int_equal(quant_checkpoint_write(m8, &r8, &po, ck, err), 0);
    Model *back = quant_checkpoint_load(ck, err);
    assert_non_null(back);
    assert_memory_equal(back->classifier, m8->classifier, (size_t)V * D * sizeof(float));
    assert_memory_equal(back->tok_emb, m8->tok_emb, (size_t)V * D * sizeof(float));
    size_t len;
    char *bytes = qb_read_file(ck, &len, err);
    assert_non_null(bytes);
    assert_non_null(memmem(bytes, len, "\"quantize_head\":true", 20));
    free(bytes);
    model_free(back);
    /* the AutoGPTQ layout cannot hold a quantized head */
    assert_int_equal(quant_export_gptq(m8, &r8, &po, dir, err), -1);
    assert_non_null(strstr(err, "quantize-head"));

    /* GPTQ 4-bit: lower head error than RTN 4-bit on the same windows; tok_emb (no Hessian) is RTN's */
    PipelineReport rr, rg;
    Model *mr = quant_head_run(path, QM_RTN, 4, 1, &cs, 0, &po, &rr);
    Model *mg = quant_head_run(path, QM_GPTQ, 4, 1, &cs, 0, &po, &rg);
    print_message("untied synthetic 4-bit head error: RTN %.5g, GPTQ %.5g\n", rr.head_error, rg.head_error);
    assert_true(isfinite(rg.head_error) && rg.head_error > 0);
    assert_true(rg.head_error < rr.head_error);
    assert_memory_equal(mg->tok_emb, mr->tok_emb, (size_t)V * D * sizeof(float));
    assert_rtn_rows(fp->tok_emb, mg->tok_emb, V, D, 4);
    assert_true(memcmp(mg->classifier, mr->classifier, (size_t)V * D * sizeof(float)) != 0);
    /* RTN without calibration quantizes the head too (no error to report); the windows changed nothing */
    PipelineReport rn;
    Model *mn = quant_head_run(path, QM_RTN, 4, 1, NULL, 0, &po, &rn);
    assert_int_equal(rn.head_quantized, 1);
    assert_true(isnan(rn.head_error));
    assert_memory_equal(mn->classifier, mr->classifier, (size_t)V * D * sizeof(float));
    assert_memory_equal(mn->tok_emb, mr->tok_emb, (size_t)V * D * sizeof(float));
    assert_true(rn.bits_per_weight == rr.bits_per_weight && rn.packed_bytes == rr.packed_bytes);
    pipeline_report_free(&rn);
    model_free(mn);

    free(lf);
    free(lq);
    model_state_free(s);
    pipeline_report_free(&r0);
    pipeline_report_free(&r8);
    pipeline_report_free(&rr);
    pipeline_report_free(&rg);
    model_free(m0);
    model_free(m8);
    model_free(mr);
    model_free(mg);
    model_free(fp);
    unlink(path);
    unlink(ck);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calib_documents_rule),
        cmocka_unit_test(test_calib_joined_rule),
        cmocka_unit_test(test_calib_split),
        cmocka_unit_test(test_calib_real_file),
        cmocka_unit_test(test_rtn_without_calibration_sizes),
        cmocka_unit_test(test_pipeline_errors),
        cmocka_unit_test(test_true_sequential_changes_inputs),
        cmocka_unit_test(test_hessian_threads),
        cmocka_unit_test(test_staged_matches_reference),
        cmocka_unit_test(test_staged_matches_reference_arch),
        cmocka_unit_test(test_quantize_head_tied),
        cmocka_unit_test(test_quantize_head_untied),
        cmocka_unit_test(test_gptq_beats_rtn_stories260k),
        cmocka_unit_test(test_gptq_beats_rtn_tinystories656k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

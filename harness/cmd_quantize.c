/* cmd_quantize.c — `qbench quantize`: samples calibration windows, quantizes every linear layer block
 * by block (quant_model), prints one line per layer and a summary on stdout (progress on stderr), and
 * writes a qbench quantized checkpoint (or, with --export gptq, an AutoGPTQ directory). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datasets/calib.h"
#include "datasets/datasets.h"
#include "harness/cli.h"
#include "harness/commands.h"
#include "model/tokenizer.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

typedef struct { double t0; int tty; const ModelConfig *cfg; } Progress;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One line per layer when stderr is not a terminal; a rewritten line with an ETA when it is. */
static void progress(void *vctx, int layer, LinearKind kind, int done, int total) {
    Progress *p = vctx;
    const char *kname = p->cfg ? model_linear_name(p->cfg, kind) : linear_kind_name(kind);
    double el = now_s() - p->t0, eta = done > 0 ? el * (total - done) / done : 0;
    if (p->tty) {
        fprintf(stderr, "\rquantize: [%d/%d] blk.%d.%-8s %6.1f s, ETA %6.1f s", done, total, layer,
                kname, el, eta);
        if (done == total) fputc('\n', stderr);
    } else {
        fprintf(stderr, "quantize: [%d/%d] blk.%d.%s done, %.1f s\n", done, total, layer, kname, el);
    }
    fflush(stderr);
}

int cmd_quantize(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *method_s = NULL, *out_path = NULL, *calib_s = NULL,
               *export_s = NULL, *objective_s = NULL, *variant_s = NULL, *mode_s = "auto", *solver_s = NULL;
    long bits = 0, group_size = -1, high_bits = 0, nsamples = 128, seqlen = 0, seed = 0, threads = 0, blocksize = 128,
         mse_grid = 100, retries = 10, re_steps = 36, bcq_iters = 20, bcq_rounds = 15;
    double damp = 0.01, mse_norm = 2.4, mse_maxshrink = 0.8, re_lo = 0.6, re_hi = 1.3;
    int act_order = 0, static_groups = 0, sym = 0, mse = 0, true_seq = 1, quiet = 0, quantize_head = 0, fp16_scales = 0;
    const CliOpt opts[] = {
        {"--model", NULL, CLI_STR, &model_path, "M", "llama2.c .bin, HF directory or .safetensors (required)", NULL, 0, 0, NULL, NULL},
        {"--method", NULL, CLI_STR, &method_s, "METHOD", "quantizer (required)", NULL, 0, 0, "rtn|gptq|gptqt|rtnt|bcq", NULL},
        {"--bits", NULL, CLI_INT, &bits, "B", "bits per weight code, the target bits of gptqt/rtnt/bcq (required)", NULL, 2, 8, NULL, NULL},
        {"-o", "--out", CLI_STR, &out_path, "OUT", "checkpoint file (or directory with --export gptq) (required)", NULL, 0, 0, NULL, NULL},
        {"--tokenizer", NULL, CLI_STR, &tok_path, "T", "tokenizer for the calibration text", "found beside the model", 0, 0, NULL, NULL},
        {"--group-size", NULL, CLI_INT, &group_size, "G", "-1 = one group per row, or a positive size", "-1", -1, 1 << 20, NULL, NULL},
        {"--act-order", NULL, CLI_FLAG, &act_order, NULL, "gptq/gptqt: columns in decreasing Hessian diagonal order", "off", 0, 0, NULL, NULL},
        {"--static-groups", NULL, CLI_FLAG, &static_groups, NULL, "gptq/gptqt: group grids fixed before the solve", "off", 0, 0, NULL, NULL},
        {"--sym", NULL, CLI_FLAG, &sym, NULL, "symmetric grid", "asymmetric", 0, 0, NULL, NULL},
        {"--fp16-scales", NULL, CLI_FLAG, &fp16_scales, NULL, "rtn/gptq: scales rounded to fp16 as they are found (implied by --export gptq)", "float32", 0, 0, NULL, NULL},
        {"--mse", NULL, CLI_FLAG, &mse, NULL, "rtn/gptq: MSE grid search for each group's range", "off", 0, 0, NULL, NULL},
        {"--mse-norm", NULL, CLI_NUM, &mse_norm, "P", "--mse: the error norm |w - q|^P", "2.4", 0.1, 100, NULL, NULL},
        {"--mse-grid", NULL, CLI_INT, &mse_grid, "N", "--mse: shrink steps tried", "100", 1, 10000, NULL, NULL},
        {"--mse-maxshrink", NULL, CLI_NUM, &mse_maxshrink, "F", "--mse: largest fraction of the range cut", "0.8", 0.01, 1, NULL, NULL},
        {"--damp", NULL, CLI_NUM, &damp, "P", "percdamp: diagonal dampening as a fraction of mean(diag H)", "0.01", 1e-9, 1, NULL, NULL},
        {"--max-damp-retries", NULL, CLI_INT, &retries, "N", "raise the dampening this often when H is not positive definite", "10", 0, 1000, NULL, NULL},
        {"--blocksize", NULL, CLI_INT, &blocksize, "N", "gptq/gptqt: columns per lazy-batch block", "128", 1, 1 << 20, NULL, NULL},
        {"--no-true-sequential", NULL, CLI_OFF, &true_seq, NULL, "collect all Hessians of a block in one pass", "true sequential", 0, 0, NULL, NULL},
        {"--high-bits", NULL, CLI_INT, &high_bits, "N", "gptqt/rtnt: bits of the first, linear step; 0 = bits+1 (8 at 8)", "0", 0, 8, NULL, NULL},
        {"--objective", NULL, CLI_STR, &objective_s, "O", "gptqt/rtnt: what the re-exploration minimises", "weight", 0, 0, "weight|hdiag|output", NULL},
        {"--variant", NULL, CLI_STR, &variant_s, "V", "gptqt: one merged pass or two passes", "merged", 0, 0, "merged|twopass", NULL},
        {"--reexplore-lo", NULL, CLI_NUM, &re_lo, "F", "gptqt/rtnt: smallest scale factor re-explored", "0.6", 1e-3, 100, NULL, NULL},
        {"--reexplore-hi", NULL, CLI_NUM, &re_hi, "F", "gptqt/rtnt: largest scale factor re-explored", "1.3", 1e-3, 100, NULL, NULL},
        {"--reexplore-steps", NULL, CLI_INT, &re_steps, "N", "gptqt/rtnt: scale factors tried", "36", 1, 10000, NULL, NULL},
        {"--bcq-iters", NULL, CLI_INT, &bcq_iters, "N", "gptqt/rtnt/bcq: binary-coding iterations", "20", 1, 10000, NULL, NULL},
        {"--bcq-solver", NULL, CLI_STR, &solver_s, "S", "bcq: the binary-coding solver", "alternating", 0, 0, "greedy|refined|alternating", NULL},
        {"--bcq-rounds", NULL, CLI_INT, &bcq_rounds, "N", "bcq alternating: rounds", "15", 1, 10000, NULL, NULL},
        {"--calib", NULL, CLI_STR, &calib_s, "DATA", "calibration text: a dataset name (tinystories-calib, c4-calib, ...) or a path "
         "(.txt, .jsonl); needed by gptq/gptqt, optional for the others (then only each layer's error is reported)", "none", 0, 0, NULL, NULL},
        {"--calib-mode", NULL, CLI_STR, &mode_s, "M", "how windows are cut from the text (datasets/calib.h)", "auto", 0, 0, "auto|documents|joined", NULL},
        {"--nsamples", NULL, CLI_INT, &nsamples, "N", "calibration windows", "128", 1, 1 << 20, NULL, NULL},
        {"--seqlen", NULL, CLI_INT, &seqlen, "L", "tokens per calibration window", "min(2048, model seq_len)", 1, 1 << 22, NULL, NULL},
        {"--seed", NULL, CLI_INT, &seed, "S", "calibration sampling seed", "0", 0, 2147483647, NULL, NULL},
        {"--quantize-head", NULL, CLI_FLAG, &quantize_head, NULL, "also quantize the classifier (GPTQ'd on final-norm hidden states) "
         "and an untied tok_emb (same grid, no Hessian)", "kept float", 0, 0, NULL, NULL},
        {"--export", NULL, CLI_STR, &export_s, "gptq", "write an AutoGPTQ/GPTQModel directory at OUT instead of a checkpoint", "a .qbq checkpoint", 0, 0, "gptq", NULL},
        {"--threads", NULL, CLI_INT, &threads, "N", "OpenMP and OpenBLAS threads (results are identical for any count)", "all cores", 1, 4096, NULL, NULL},
        {"--quiet", NULL, CLI_FLAG, &quiet, NULL, "no progress on stderr", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"quantize", "qbench quantize --model M --method METHOD --bits B -o OUT [options]",
                          "  Quantizes every linear layer block by block and writes a qbench checkpoint (.qbq).\n", opts,
                          CLI_N(opts), NULL, 0, NULL, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!model_path || !method_s || !bits || !out_path) {
        fprintf(stderr, "qbench quantize: --model, --method, --bits and -o are required\n");
        cli_usage(&spec, stderr);
        return 2;
    }
    QuantMethod method;
    quant_method_parse(method_s, &method); /* the table checked the choice */
    CalibMode cmode;
    calib_mode_parse(mode_s, &cmode);
    qb_set_threads((int)threads);
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, method, (int)bits);
    po.opt.group_size = (int)group_size;
    po.opt.act_order = act_order;
    po.opt.static_groups = static_groups;
    po.opt.sym = sym;
    /* AutoGPTQ stores fp16 scales: quantizing with them makes the export hold exactly this quantization */
    po.opt.fp16_scales = fp16_scales || (export_s && (method == QM_RTN || method == QM_GPTQ));
    po.opt.mse = mse;
    po.opt.mse_norm = (float)mse_norm;
    po.opt.mse_grid = (int)mse_grid;
    po.opt.mse_maxshrink = (float)mse_maxshrink;
    po.opt.percdamp = (float)damp;
    po.opt.max_damp_retries = (int)retries;
    po.opt.blocksize = (int)blocksize;
    po.opt.high_bits = (int)high_bits;
    po.opt.reexplore_lo = (float)re_lo;
    po.opt.reexplore_hi = (float)re_hi;
    po.opt.reexplore_steps = (int)re_steps;
    po.opt.bcq_iters = (int)bcq_iters;
    po.opt.bcq_rounds = (int)bcq_rounds;
    if (solver_s) po.opt.bcq_solver = !strcmp(solver_s, "greedy") ? BCQ_GREEDY : !strcmp(solver_s, "refined") ? BCQ_REFINED
                                                                                                          : BCQ_ALTERNATING;
    if (objective_s) {
        if (!strcmp(objective_s, "weight")) po.opt.objective = QT_OBJ_WEIGHT;
        else if (!strcmp(objective_s, "hdiag")) po.opt.objective = QT_OBJ_HDIAG;
        else if (!strcmp(objective_s, "output")) po.opt.objective = QT_OBJ_OUTPUT;

    }
    if (variant_s) {
        if (!strcmp(variant_s, "merged")) po.opt.variant = QT_VARIANT_MERGED;
        else if (!strcmp(variant_s, "twopass")) po.opt.variant = QT_VARIANT_TWOPASS;

    }
    po.true_sequential = true_seq;
    po.quantize_head = quantize_head;
    Progress prog = {now_s(), isatty(fileno(stderr)), NULL};
    if (!quiet) {
        po.progress = progress;
        po.progress_ctx = &prog;
    }
    char err[QB_ERRLEN];
    if (quant_options_validate(&po.opt, 0, err)) {
        fprintf(stderr, "qbench quantize: %s\n", err);
        return 2;
    }
    const int needs_calib = method == QM_GPTQ || method == QM_GPTQT ||
                            (method == QM_RTNT && po.opt.objective != QT_OBJ_WEIGHT);
    if (needs_calib && !calib_s) {
        fprintf(stderr, "qbench quantize: %s needs --calib FILE or a dataset name (e.g. tinystories-calib)\n",
                method_s);
        return 2;
    }

    int rc = 2;
    Model *m = model_load(model_path, err);
    Tokenizer *tok = NULL;
    CalibWindows cw = {0};
    PipelineReport rep = {0};
    if (!m) {
        fprintf(stderr, "qbench quantize: %s\n", err);
        return 2;
    }
    if (quant_group_size_check(group_size, &m->cfg, err)) { /* the experiment validator's rule */
        fprintf(stderr, "qbench quantize: --group-size: %s (%s)\n", err, model_path);
        model_free(m);
        return 2;
    }
    if (export_s && quant_export_gptq_check(&m->cfg, &po, err)) { /* refuse before the work, not after */
        fprintf(stderr, "qbench quantize: %s\n", err);
        model_free(m);
        return 2;
    }
    CalibrationSet cs = {0};
    if (calib_s) {
        char found[1024];
        if (!tok_path) {
            if (tokenizer_find_for_model(model_path, found, sizeof found)) {
                fprintf(stderr, "qbench quantize: no tokenizer found beside %s; pass --tokenizer\n", model_path);
                goto done;
            }
            tok_path = found;
        }
        if (!(tok = tokenizer_load(tok_path, m->cfg.vocab_size, err))) {
            fprintf(stderr, "qbench quantize: %s\n", err);
            goto done;
        }
        if (!seqlen) seqlen = m->cfg.seq_len < 2048 ? m->cfg.seq_len : 2048;
        if (seqlen > m->cfg.seq_len) { /* the experiment validator's rule and words */
            fprintf(stderr, "qbench quantize: --seqlen: %ld is above the model's context %d\n", (long)seqlen, m->cfg.seq_len);
            goto done;
        }
        int crc;
        if (dataset_is_named(calib_s)) {
            TextDataset td;
            if (dataset_load_text(calib_s, &td, err)) {
                fprintf(stderr, "qbench quantize: %s\n", err);
                goto done;
            }
            crc = calib_sample_text(tok, td.text, td.len, 0, calib_s, nsamples, seqlen, (uint64_t)seed, cmode, &cw, err);
            dataset_text_free(&td);
        } else {
            crc = calib_sample(tok, calib_s, nsamples, seqlen, (uint64_t)seed, cmode, &cw, err);
        }
        if (crc) {
            fprintf(stderr, "qbench quantize: %s\n", err);
            goto done;
        }
        cs.n_samples = cw.n_samples;
        cs.seqlen = cw.seqlen;
        cs.windows = cw.windows;
        printf("calibration: %s, %d windows x %d tokens, seed %ld, %s (%d documents, %d with >= %ld tokens, %ld tokens)\n",
               calib_s, cw.n_samples, cw.seqlen, seed, calib_mode_name(cw.mode), cw.n_docs, cw.n_long, seqlen + 1,
               cw.n_tokens);
    }
    prog.t0 = now_s();
    prog.cfg = &m->cfg;
    if (quant_model(m, calib_s ? &cs : NULL, &po, 1, &rep, err)) {
        fprintf(stderr, "qbench quantize: %s\n", err);
        goto done;
    }
    printf("%-16s %11s %12s %10s %7s %9s\n", "layer", "shape", "error", "damp", "retries", "seconds");
    for (int i = 0; i < rep.n_layers; i++) {
        const LayerRecord *r = &rep.layers[i];
        char name[48], shape[32];
        snprintf(name, sizeof name, "blk.%d.%s", r->layer, model_linear_name(&m->cfg, r->kind));
        snprintf(shape, sizeof shape, "%dx%d", r->rows, r->cols);
        printf("%-16s %11s %12.5g %10.4g %7d %9.4f\n", name, shape, r->error, (double)r->damp_used, r->damp_retries,
               r->seconds);
    }
    if (rep.head_quantized) {
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%d", m->cfg.vocab_size, m->cfg.dim);
        printf("%-16s %11s %12.5g %10s %7s %9.4f%s\n", "classifier", shape, rep.head_error, "-", "-", rep.head_seconds,
               m->cfg.tied_embeddings ? " (tied: also tok_emb)" : " (+ tok_emb, no Hessian)");
    }
    size_t n_weights = model_linear_params(m);
    if (rep.head_quantized)
        n_weights += (size_t)m->cfg.vocab_size * m->cfg.dim * (m->cfg.tied_embeddings ? 1 : 2);
    if (export_s ? quant_export_gptq(m, &rep, &po, out_path, err) : quant_checkpoint_write(m, &rep, &po, out_path, err)) {
        fprintf(stderr, "qbench quantize: %s\n", err);
        goto done;
    }
    printf("summary: method %s, bits %ld, group size %ld%s%s%s, %.4f bits/weight over %zu %s weights, "
           "%zu packed bytes, %.2f s; wrote %s%s\n",
           method_s, bits, group_size, act_order ? ", act-order" : "", static_groups ? ", static groups" : "",
           sym ? ", sym" : "", rep.bits_per_weight, n_weights, rep.head_quantized ? "linear + head" : "linear",
           rep.packed_bytes, rep.seconds, out_path,
           export_s ? " (AutoGPTQ layout)" : "");
    rc = 0;
done:
    pipeline_report_free(&rep);
    calib_free(&cw);
    tokenizer_free(tok);
    model_free(m);
    return rc;
}

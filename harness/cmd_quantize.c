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
#include "harness/commands.h"
#include "model/tokenizer.h"
#include "quant/quant.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: qbench quantize --model M --method rtn|gptq|gptqt|rtnt|bcq --bits B -o OUT [options]\n"
            "  --tokenizer T          tokenizer (default: found beside the model)\n"
            "  --group-size G         -1 = one group per row (default), or a positive size\n"
            "  --act-order --static-groups --sym --mse\n"
            "  --damp P               percdamp (default 0.01)\n"
            "  --no-true-sequential   collect all Hessians of a block in one pass\n"
            "  --high-bits N          gptqt/rtnt: bits of the first, linear step (default bits+1)\n"
            "  --objective weight|hdiag|output   --variant merged|twopass   (gptqt/rtnt)\n"
            "  --calib FILE|DATASET   calibration text (.txt, .jsonl, or a dataset name such as\n"
            "                         tinystories-calib); needed by gptq/gptqt; optional for the others\n"
            "                         (then used only to report each layer's error)\n"
            "  --calib-mode auto|documents|joined  (see datasets/calib.h; default auto)\n"
            "  --nsamples N (128)  --seqlen L (min(2048, model seq_len))  --seed S (0)\n"
            "  --quantize-head        also quantize the classifier (GPTQ'd on final-norm hidden states)\n"
            "                         and an untied tok_emb (same grid, no Hessian); default: keep them float\n"
            "  --export gptq          write an AutoGPTQ/GPTQModel directory at OUT instead of a checkpoint\n"
            "  --quiet                no progress on stderr\n");
}

static int parse_int(const char *s, long lo, long hi, int *out) {
    if (!s || !*s) return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float *out) {
    if (!s || !*s) return -1;
    errno = 0;
    char *end;
    float v = strtof(s, &end);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

typedef struct { double t0; int tty; } Progress;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One line per layer when stderr is not a terminal; a rewritten line with an ETA when it is. */
static void progress(void *vctx, int layer, LinearKind kind, int done, int total) {
    Progress *p = vctx;
    double el = now_s() - p->t0, eta = done > 0 ? el * (total - done) / done : 0;
    if (p->tty) {
        fprintf(stderr, "\rquantize: [%d/%d] blk.%d.%-8s %6.1f s, ETA %6.1f s", done, total, layer,
                linear_kind_name(kind), el, eta);
        if (done == total) fputc('\n', stderr);
    } else {
        fprintf(stderr, "quantize: [%d/%d] blk.%d.%s done, %.1f s\n", done, total, layer, linear_kind_name(kind), el);
    }
    fflush(stderr);
}

int cmd_quantize(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *method_s = NULL, *out_path = NULL, *calib_s = NULL,
               *export_s = NULL, *objective_s = NULL, *variant_s = NULL, *mode_s = "auto";
    int bits = 0, group_size = -1, act_order = 0, static_groups = 0, sym = 0, mse = 0, true_seq = 1;
    int high_bits = 0, nsamples = 128, seqlen = 0, quiet = 0, seed = 0, have_damp = 0, quantize_head = 0;
    float damp = 0.01f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1, bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--method")) method_s = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--calib")) calib_s = v;
        else if (!strcmp(a, "--calib-mode")) mode_s = v;
        else if (!strcmp(a, "--export")) export_s = v;
        else if (!strcmp(a, "--objective")) objective_s = v;
        else if (!strcmp(a, "--variant")) variant_s = v;
        else if (!strcmp(a, "--bits")) bad = parse_int(v, 2, 8, &bits);
        else if (!strcmp(a, "--group-size")) bad = parse_int(v, -1, INT_MAX, &group_size);
        else if (!strcmp(a, "--high-bits")) bad = parse_int(v, 0, 16, &high_bits);
        else if (!strcmp(a, "--nsamples")) bad = parse_int(v, 1, 1 << 20, &nsamples);
        else if (!strcmp(a, "--seqlen")) bad = parse_int(v, 1, 1 << 22, &seqlen);
        else if (!strcmp(a, "--seed")) bad = parse_int(v, 0, INT_MAX, &seed);
        else if (!strcmp(a, "--damp")) { bad = parse_float(v, &damp); have_damp = 1; }
        else {
            takes = 0;
            if (!strcmp(a, "--act-order")) act_order = 1;
            else if (!strcmp(a, "--static-groups")) static_groups = 1;
            else if (!strcmp(a, "--sym")) sym = 1;
            else if (!strcmp(a, "--mse")) mse = 1;
            else if (!strcmp(a, "--no-true-sequential")) true_seq = 0;
            else if (!strcmp(a, "--quiet")) quiet = 1;
            else if (!strcmp(a, "--quantize-head")) quantize_head = 1;
            else {
                fprintf(stderr, "qbench quantize: unknown option '%s'\n", a);
                usage(stderr);
                return 2;
            }
        }
        if (takes && (!v || bad)) {
            fprintf(stderr, "qbench quantize: %s needs a %svalue%s%s\n", a, v ? "valid " : "", v ? ", got " : "",
                    v ? v : "");
            return 2;
        }
        i += takes;
    }
    if (!model_path || !method_s || !bits || !out_path) {
        fprintf(stderr, "qbench quantize: --model, --method, --bits and -o are required\n");
        usage(stderr);
        return 2;
    }
    QuantMethod method;
    if (quant_method_parse(method_s, &method)) {
        fprintf(stderr, "qbench quantize: unknown method '%s' (rtn, gptq, gptqt, rtnt, bcq)\n", method_s);
        return 2;
    }
    if (export_s && strcmp(export_s, "gptq")) {
        fprintf(stderr, "qbench quantize: --export supports only 'gptq' (got '%s')\n", export_s);
        return 2;
    }
    CalibMode cmode;
    if (calib_mode_parse(mode_s, &cmode)) {
        fprintf(stderr, "qbench quantize: --calib-mode must be auto, documents or joined (got '%s')\n", mode_s);
        return 2;
    }
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, method, bits);
    po.opt.group_size = group_size;
    po.opt.act_order = act_order;
    po.opt.static_groups = static_groups;
    po.opt.sym = sym;
    po.opt.mse = mse;
    if (have_damp) po.opt.percdamp = damp;
    po.opt.high_bits = high_bits;
    if (objective_s) {
        if (!strcmp(objective_s, "weight")) po.opt.objective = QT_OBJ_WEIGHT;
        else if (!strcmp(objective_s, "hdiag")) po.opt.objective = QT_OBJ_HDIAG;
        else if (!strcmp(objective_s, "output")) po.opt.objective = QT_OBJ_OUTPUT;
        else {
            fprintf(stderr, "qbench quantize: --objective must be weight, hdiag or output\n");
            return 2;
        }
    }
    if (variant_s) {
        if (!strcmp(variant_s, "merged")) po.opt.variant = QT_VARIANT_MERGED;
        else if (!strcmp(variant_s, "twopass")) po.opt.variant = QT_VARIANT_TWOPASS;
        else {
            fprintf(stderr, "qbench quantize: --variant must be merged or twopass\n");
            return 2;
        }
    }
    po.true_sequential = true_seq;
    po.quantize_head = quantize_head;
    if (quantize_head && export_s) { /* refuse before the work; quant_export_gptq refuses too */
        fprintf(stderr, "qbench quantize: --export gptq cannot store a quantized head (AutoGPTQ keeps lm_head and "
                        "embeddings in float); drop --quantize-head\n");
        return 2;
    }
    Progress prog = {now_s(), isatty(fileno(stderr))};
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
        printf("calibration: %s, %d windows x %d tokens, seed %d, %s (%d documents, %d with >= %d tokens, %ld tokens)\n",
               calib_s, cw.n_samples, cw.seqlen, seed, calib_mode_name(cw.mode), cw.n_docs, cw.n_long, seqlen + 1,
               cw.n_tokens);
    }
    prog.t0 = now_s();
    if (quant_model(m, calib_s ? &cs : NULL, &po, 1, &rep, err)) {
        fprintf(stderr, "qbench quantize: %s\n", err);
        goto done;
    }
    printf("%-16s %11s %12s %10s %7s %9s\n", "layer", "shape", "error", "damp", "retries", "seconds");
    for (int i = 0; i < rep.n_layers; i++) {
        const LayerRecord *r = &rep.layers[i];
        char name[48], shape[32];
        snprintf(name, sizeof name, "blk.%d.%s", r->layer, linear_kind_name(r->kind));
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
    printf("summary: method %s, bits %d, group size %d%s%s%s, %.4f bits/weight over %zu %s weights, "
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

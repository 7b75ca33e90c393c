/* quant.h — weight quantizers (RTN, GPTQ, GPTQT, BCQ), Hessian accumulation, packing and
 * bits-per-weight accounting, the block-by-block calibration pipeline, and quantized checkpoints.
 * docs/quant.md states the algorithms; section numbers below refer to it.
 *
 * The per-layer core is pure: quantize_layer() reads W and H and writes only into its result.
 * Errors follow model.h: return 0 / -1 and a message in err[QB_ERRLEN]. */
#ifndef QBENCH_QUANT_H
#define QBENCH_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef enum {
    QM_RTN,   /* round to nearest, no calibration (§1.3 step 7) */
    QM_GPTQ,  /* §1.4 */
    QM_GPTQT, /* §2.4 interpretation: n-bit linear → m-bit binary code with offset, scale re-explored, GPTQ compensation */
    QM_RTNT,  /* §2.4 step 6: the GPTQT grid without error compensation */
    QM_BCQ,   /* plain binary-coding quantization (§2.3), no error compensation */
    QM_COUNT
} QuantMethod;

typedef enum { QT_OBJ_WEIGHT, QT_OBJ_HDIAG, QT_OBJ_OUTPUT } GptqtObjective;
typedef enum { QT_VARIANT_MERGED, QT_VARIANT_TWOPASS } GptqtVariant; /* §2.4 main reading / alternative (a) */
typedef enum { BCQ_GREEDY, BCQ_REFINED, BCQ_ALTERNATING } BcqSolver;

typedef struct {
    QuantMethod method;
    int bits;            /* 2..8 (target bits m for GPTQT/BCQ) */
    int group_size;      /* -1 = one group per row; any positive size (ragged last group allowed) */
    int sym;             /* 0 = asym (paper default) */
    int act_order;       /* GPTQ/GPTQT only */
    int static_groups;   /* GPTQ/GPTQT only */
    int fp16_scales;     /* RTN/GPTQ: each group's scale is rounded to an fp16 value as soon as it is found,
                          * so error compensation and the codes use the scale AutoGPTQ stores; --export gptq
                          * sets it (its exports then give the checkpoint's logits exactly). 0 = float32 */
    int mse;             /* MSE grid search of §1.3 step 5 */
    float mse_norm;      /* 2.4 */
    int mse_grid;        /* 100 */
    float mse_maxshrink; /* 0.8 */
    float percdamp;      /* 0.01 */
    int max_damp_retries;/* raise damping step by step when H is not positive definite (default 10) */
    int blocksize;       /* 128 */
    /* GPTQT */
    int high_bits;       /* n: bits of the linear step, bits+1..8, or 8 when bits is 8; 0 = quant_high_bits() */
    float reexplore_lo, reexplore_hi; /* 0.6, 1.3 */
    int reexplore_steps; /* 36 */
    int bcq_iters;       /* 20 */
    GptqtObjective objective;
    GptqtVariant variant;
    /* BCQ */
    BcqSolver bcq_solver;
    int bcq_rounds;      /* alternating rounds, default 15 */
} QuantOptions;

/* The high bit count GPTQT uses: o->high_bits, or when it is 0, bits+1 capped at 8. */
int quant_high_bits(const QuantOptions *o);
/* Fills the defaults listed above for `method` and `bits`. */
void quant_options_default(QuantOptions *o, QuantMethod method, int bits);
const char *quant_method_name(QuantMethod m);          /* "rtn", "gptq", "gptqt", "rtnt", "bcq" */
int quant_method_parse(const char *s, QuantMethod *m); /* 0 ok, -1 unknown */
/* The algorithm version of a method (with its calibration pipeline): bumped whenever a change to
 * the code alters its outputs, and part of every sweep point's key, so a result computed before
 * the change is never reused as if it were current. 0 for an unknown method. */
int quant_algorithm_version(QuantMethod m);
/* Checks ranges and combinations (bits, group size vs cols, act_order with rtn, ...). cols may be 0
 * to skip shape checks. */
int quant_options_validate(const QuantOptions *o, int cols, char err[QB_ERRLEN]);
/* The one rule for a model-wide group size, shared by `quantize --group-size` and the experiment
 * validator: -1 (one group per row) or a positive size that divides the model width `dim` (every
 * q/k/v/o/gate/up input is dim wide, so their groups are full and bits per weight compare across
 * points; the down projection's input may end in a ragged group). A size above the width is refused
 * rather than silently run per row under another name. On failure err holds the problem alone
 * ("7 does not divide the model width 64"); the caller names the option or the file and line. */
int quant_group_size_check(long group_size, const ModelConfig *cfg, char err[QB_ERRLEN]);

/* One quantized layer. Codes are stored unpacked here (one byte each); pack with quant_pack(). */
typedef struct {
    int rows, cols, n_groups, bits;
    float *q;          /* rows x cols, dequantized weights in original column order */
    uint8_t *codes;    /* rows x cols, integer codes (uniform: 0..2^bits-1; BCQ: sign bits b_i as bit i) */
    float *scales;     /* uniform: rows x n_groups. BCQ/GPTQT: rows x n_groups x bits (alphas) */
    float *zeros;      /* uniform: rows x n_groups (integer-valued zero points). BCQ/GPTQT: rows x n_groups offsets */
    int32_t *g_idx;    /* cols: group of each original column */
    int *perm;         /* cols or NULL: act-order permutation (column order used by the solver) */
    /* stats */
    double error;      /* ‖W Xᵀ − Q Xᵀ‖² / n computed as tr((W−Q) H (W−Q)ᵀ)/2 with H = 2XᵀX/n */
    double gptq_loss;  /* Σ loss of §1.4 (what GPTQ logs) */
    float damp_used;   /* λ actually added (absolute), after retries */
    int damp_retries;
    double seconds;
} QuantResult;

void quant_result_free(QuantResult *r);

/* W (rows, cols), H (cols, cols) symmetric (may be NULL for RTN/BCQ). W and H are not modified. */
int quantize_layer(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
                   QuantResult *out, char err[QB_ERRLEN]);

/* ---- Hessian accumulation (§1.2) ------------------------------------------------------------- */

typedef struct {
    int cols;
    long n;   /* number of samples (sequences) seen: GPTQ's normalisation */
    float *H; /* cols x cols */
    int nonfinite; /* set if an input contained NaN/Inf */
} Hessian;

int hessian_init(Hessian *h, int cols, char err[QB_ERRLEN]);
/* x (tokens, cols) of one sample (one sequence): H ← H·n/(n+1) + (2/(n+1)) xᵀx, n ← n+1. */
void hessian_add_sample(Hessian *h, const float *x, int tokens);
void hessian_free(Hessian *h);

/* ---- size accounting and packing (§1.5) --------------------------------------------------------- */

/* Bits per weight counting everything stored: codes, scales/zeros (or alphas/offsets) at their stored
 * precision (fp16 scales/alphas/offsets, zeros at `bits` bits), g_idx (int32 per column) when act-order
 * without static groups needs it. */
double quant_bits_per_weight(const QuantResult *r, const QuantOptions *o);
size_t quant_packed_bytes(const QuantResult *r, const QuantOptions *o);

/* ---- the model pipeline (§1.6) --------------------------------------------------------------------- */

/* Calibration windows, already sampled (datasets/calib.h does that, GPTQ-style, from a seed). */
typedef struct {
    int n_samples, seqlen;
    const int *windows; /* n_samples x seqlen token ids */
} CalibrationSet;

typedef struct {
    int layer;
    LinearKind kind;
    int rows, cols;
    double error, gptq_loss, seconds;
    float damp_used;
    int damp_retries;
} LayerRecord;

typedef void (*QuantProgress)(void *ctx, int layer, LinearKind kind, int done, int total);

typedef struct {
    QuantOptions opt;
    int true_sequential;   /* default 1 */
    int quantize_head;     /* embeddings/classifier stay float unless asked (0) */
    int reference_path;    /* 1: the straightforward pipeline (a whole block forward per true-sequential
                            * stage), kept to test the staged one against: same bits, slower */
    /* when set, called with each Hessian (cols x cols) before the layers reading input `input` (0 q/k/v,
     * 1 o, 2 gate/up, 3 down) of block `layer` are quantized with it: lets tests compare paths */
    void (*hessian_hook)(void *ctx, int layer, int input, const float *H, int cols); void *hessian_ctx;
    QuantProgress progress; void *progress_ctx;
} PipelineOptions;

typedef struct {
    LayerRecord *layers; int n_layers;
    double bits_per_weight; /* over all quantized linear layers */
    size_t packed_bytes;    /* quantized layers packed + everything left in float (fp16 accounting documented in README) */
    double seconds;         /* all of quant_model, calib_seconds included */
    double calib_seconds;   /* the calibration forward passes in it (embedding, Hessian-collecting and
                             * next-input block forwards): calibration time, not quantization */
    QuantResult *results;   /* n_layers results (codes/scales kept for export); may be NULL if not requested */
    /* quantize_head: the classifier (vocab x dim) is quantized after the last block, with H
     * from the final-norm hidden states; an untied tok_emb too, without H. Kept out of layers/results
     * (whose consumers expect n_layers x LIN_COUNT linear layers); counted in bits_per_weight and
     * packed_bytes. */
    int head_quantized;     /* 1 when the classifier (and tok_emb) were quantized */
    double head_error;      /* classifier's tr((W−Q)H(W−Q)ᵀ)/2 on the calibration windows; NAN without them */
    double head_seconds;    /* time spent on the classifier and tok_emb */
} PipelineReport;

/* Quantizes every linear layer of m in place (Linear.w ← dequantized Q), block by block on the
 * calibration windows (§1.6). keep_results keeps each layer's QuantResult for export. */
int quant_model(Model *m, const CalibrationSet *calib, const PipelineOptions *po, int keep_results,
                PipelineReport *rep, char err[QB_ERRLEN]);
void pipeline_report_free(PipelineReport *r);

#endif

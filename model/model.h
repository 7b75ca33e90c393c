/* model.h — the Llama-family model runtime: checkpoint loading (llama2.c .bin, Hugging Face
 * safetensors + config.json), the transformer forward pass (batched prefill, KV-cache decode),
 * block-level hooks for the quantization pipeline, and generation.
 *
 * Conventions (errors as in base/base.h: 0 / -1 and a message in err[QB_ERRLEN]; nothing here
 * prints or exits):
 *   - Matrices are row-major float32. A linear layer's weight is W[rows=out][cols=in]; y = x Wᵀ (+ b).
 *   - RoPE: every model is held in the llama2.c *interleaved* pair layout (pairs (2i, 2i+1) of each
 *     head are rotated together). HF checkpoints store q/k in the rotate-half layout; the loader
 *     permutes their rows once at load time so one forward pass serves both.
 */
#ifndef QBENCH_MODEL_H
#define QBENCH_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* RoPE frequency scaling, as Hugging Face's config.json "rope_scaling" describes it (transformers'
 * modeling_rope_utils.py). NONE is zero, so a zeroed config has no scaling; llama2.c never has any. */
typedef enum { ROPE_SCALING_NONE = 0, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3 } RopeScalingType;

typedef struct {
    RopeScalingType type;
    float factor;           /* linear, llama3: how much the context was stretched (inv_freq / factor) */
    float low_freq_factor;  /* llama3: wavelengths above original/low_freq_factor are divided by factor */
    float high_freq_factor; /* llama3: wavelengths below original/high_freq_factor are kept */
    int original_max_position_embeddings; /* llama3: the context before the extension */
} RopeScaling;

/* Model families (model/arch.c describes each). LLAMA is zero, so a zeroed config is a Llama one. */
typedef enum { ARCH_LLAMA = 0, ARCH_OPT, ARCH_BLOOM, ARCH_GPT2, ARCH_NEOX, ARCH_COUNT } ArchFamily;
/* The MLP's activation: SwiGLU (gate/up/down) or a two-layer MLP (up = fc1, down = fc2). */
typedef enum { ACT_SWIGLU = 0, ACT_RELU, ACT_GELU_TANH, ACT_GELU } Activation;

typedef struct {
    int dim;          /* model width */
    int hidden_dim;   /* FFN width */
    int n_layers;
    int n_heads;
    int n_kv_heads;   /* < n_heads for GQA */
    int head_dim;     /* dim / n_heads unless the config says otherwise */
    int vocab_size;
    int seq_len;      /* max positions the checkpoint was trained for */
    float rope_theta; /* 10000 for llama2.c */
    RopeScaling rope_scaling; /* type NONE unless config.json sets one */
    float norm_eps;   /* 1e-5 for llama2.c */
    int tied_embeddings; /* classifier == token embedding */
    int qkv_bias;        /* Qwen2-style biases on q, k, v */
    int bos_id, eos_id;  /* from the checkpoint / generation_config, -1 if unknown */
    char arch[64];       /* "llama2c", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", ... */
    /* Non-Llama families (all zero for Llama): LayerNorm with bias, biases on every linear layer. */
    ArchFamily family;
    Activation act;
    int post_norm;         /* OPT do_layer_norm_before = false: LayerNorm after each residual add */
    int parallel_residual; /* GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x)) */
    int rotary_dims;       /* GPT-NeoX: leading dims of each head rotated (rotate-half), 0 = none */
    int proj_dim;          /* OPT word_embed_proj_dim when it differs from dim (project_in/out), else 0 */
} ModelConfig;

/* The seven linear layers of a block, in the order the true-sequential stages visit them. Other
 * families use a subset (model_block_linears): OPT q,k,v,o,up(fc1),down(fc2); BLOOM, GPT-2 and
 * GPT-NeoX hold their fused query_key_value in LIN_Q (rows 3*dim, q then k then v) with o, up, down. */
typedef enum {
    LIN_Q, LIN_K, LIN_V, LIN_O, LIN_GATE, LIN_UP, LIN_DOWN, LIN_COUNT
} LinearKind;

/* "attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down" */
const char *linear_kind_name(LinearKind k);

/* How a linear layer's weight is held in memory. F32: Linear.w only. Every other format keeps the weight
 * as stored (F16/BF16 halves; qbench's uniform codes with per-group scale/zero, which AutoGPTQ's int32
 * layers are repacked into exactly; binary codes with their per-group levels; GGUF's quantized blocks as
 * the file stores them), w is NULL, and the forward pass multiplies the packed bytes directly
 * (model/qweights.c, model/qkernels.c, model/qkernels_gguf.c). */
typedef enum { QW_F32 = 0, QW_F16, QW_BF16, QW_UNIFORM, QW_BINARY, QW_GGUF, QW_FORMAT_COUNT } QWeightFormat;
typedef struct QWeights QWeights; /* private to model/: the packed form of one layer */

typedef struct {
    float *w;      /* rows x cols, or NULL when only the packed form q is kept */
    float *bias;   /* rows, or NULL */
    int rows, cols;
    QWeights *q;   /* packed form, or NULL (float32 in w) */
} Linear;

typedef struct {
    float *attn_norm; /* dim */
    float *ffn_norm;  /* dim */
    Linear lin[LIN_COUNT]; /* absent kinds of a family: w NULL, rows = cols = 0 */
    float *attn_norm_b, *ffn_norm_b; /* LayerNorm biases (non-Llama families), else NULL */
} Block;

typedef struct ModelStorage ModelStorage; /* private: mmaps and owned buffers */

/* How the weights were stored, for checkpoints that arrive quantized (GGUF, AutoGPTQ directories);
 * format "" for float checkpoints. The weights themselves are dequantized to float32 at load. */
typedef struct {
    char format[16];       /* "gguf", "autogptq", "" */
    double linear_bits;    /* stored bits of the block linear layers (with their scales, zeros, indices) / their weights */
    size_t linear_bytes;   /* those stored bytes */
    size_t file_bytes;     /* the weight file(s) */
    char types[256];       /* stored type of the linear layers and its tensor count: "Q4_K 12, Q6_K 2" */
} ModelStoredAs;

typedef struct {
    ModelConfig cfg;
    float *tok_emb;     /* vocab x dim */
    Block *blocks;      /* n_layers */
    float *final_norm;  /* dim */
    float *classifier;  /* vocab x dim; == tok_emb when tied */
    QWeights *classifier_q; /* the classifier as the forward reads it when kept as BF16/F16 (same values as
                             * classifier; model_keep_classifier_half), else NULL */
    /* Non-Llama families (NULL otherwise). With cfg.proj_dim = E, tok_emb and classifier are vocab x E. */
    float *final_norm_b;          /* final LayerNorm bias; final_norm is NULL for post-LN OPT */
    float *pos_emb;               /* learned positions (OPT: max_pos + 2 rows, GPT-2: max_pos), dim wide */
    float *emb_norm, *emb_norm_b; /* BLOOM's word_embeddings_layernorm */
    float *proj_in, *proj_out;    /* OPT: dim x E and E x dim */
    char path[1024];    /* what was loaded */
    char sha256[65];    /* hash of the weight file(s), hex; identifies the model in results */
    ModelStorage *storage;
    ModelStoredAs stored;
} Model;

/* Loads a llama2.c checkpoint (.bin), a Hugging Face directory (config.json + model.safetensors or
 * model.safetensors.index.json), or a single .safetensors file with config.json beside it, a llama.cpp
 * .gguf file (architecture llama), or an AutoGPTQ / GPTQModel directory (quantize_config.json or a
 * quantization_config in config.json; qweight/qzeros/scales/g_idx), the last two dequantized.
 * F32 weights are mmapped privately (copy-on-write: quantizers may overwrite Linear.w in place
 * without touching the file); F16/BF16 linear layers stay F16/BF16 (QW_F16/QW_BF16, in the mapping
 * except q/k, whose rows are permuted into a copy); other F16/BF16 tensors are converted once. Every header, shape, dtype and offset
 * is checked against the file size and the config. Returns NULL with `err` set on failure. */
Model *model_load(const char *path, char err[QB_ERRLEN]);
void model_free(Model *m);

/* Number of parameters in the linear layers of the blocks (what quantizers act on), and in total. */
size_t model_linear_params(const Model *m);
size_t model_total_params(const Model *m);

/* ---- forward pass ----------------------------------------------------------------------------- */

/* KV cache plus scratch for up to max_batch positions at once. max_seq bounds pos0 + n. */
typedef struct ModelState ModelState;
ModelState *model_state_new(const Model *m, int max_seq, int max_batch);
void model_state_free(ModelState *s);

/* tokens[n] at positions pos0 .. pos0+n-1 → logits[n][vocab] (logits may be NULL to only fill the
 * cache). Positions < pos0 must already be in the cache (pos0 = 0 starts a fresh sequence).
 * n <= max_batch, pos0 + n <= max_seq. Batched prefill and one-token decode are the same call. */
int model_forward(const Model *m, ModelState *s, const int *tokens, int n, int pos0, float *logits,
                  char err[QB_ERRLEN]);

/* Speed on this machine with the current OpenMP thread count (timing only, never part of a result):
 * decode tokens/s of n_decode one-token forwards from the KV cache (after a 1-token start), and prefill
 * tokens/s of one n_prefill-token window, logits included. */
typedef struct { double decode_tps, prefill_tps; } ModelSpeed;
int model_measure_speed(const Model *m, int n_decode, int n_prefill, ModelSpeed *out, char err[QB_ERRLEN]);

/* ---- block-level hooks for the calibration pipeline -------------------------------------------- */

/* Called with the input of a linear layer, x[n][cols], before the layer is applied. q/k/v share one
 * input and gate/up share one: the tap is called once for each *kind* anyway (LIN_Q, LIN_K, LIN_V
 * see the same pointer), so a consumer can simply switch on `kind`. */
typedef void (*LinearTap)(void *ctx, int layer, LinearKind kind, const float *x, int n, int cols);

/* x[n][dim] ← token embeddings */
void model_embed(const Model *m, const int *tokens, int n, float *x);

/* x[n][dim] ← block `layer` applied to x, for n positions 0..n-1 of one sequence, causal attention
 * over these n positions only (no cache). `tap` may be NULL. Uses scratch from s (max_batch >= n). */
int model_block_forward(const Model *m, ModelState *s, int layer, float *x, int n, LinearTap tap,
                        void *tap_ctx, char err[QB_ERRLEN]);

/* One part of block `layer` on a window of n positions (0..n-1, no cache), for the staged calibration
 * pipeline; the parts in this order are model_block_forward (same calls, same bits). The LayerNorm
 * families read rmsnorm as their LayerNorm before the sublayer (the identity for OPT's post-LayerNorm,
 * whose ATTN_OUT and MLP_OUT then apply it), silu(gate)·up as act(fc1), and GPT-NeoX's parallel residual
 * takes MLP's input from the block's input, i.e. runs FFN_NORM and MLP before ATTN_OUT:
 *   ATTN_NORM  y (n, dim)    = rmsnorm(x)                  the input of q, k, v
 *   ATTN       y (n, q_dim)  = attention(rmsnorm(x))       the input of o
 *   ATTN_OUT   x            += y (n, q_dim) @ Woᵀ
 *   FFN_NORM   y (n, dim)    = rmsnorm(x)                  the input of gate, up
 *   MLP        y (n, hidden) = silu(gate) * up             the input of down
 *   MLP_OUT    x            += y (n, hidden) @ Wdownᵀ */
typedef enum { BLOCK_ATTN_NORM, BLOCK_ATTN, BLOCK_ATTN_OUT, BLOCK_FFN_NORM, BLOCK_MLP, BLOCK_MLP_OUT } BlockPart;
int model_block_part(const Model *m, ModelState *s, int layer, BlockPart part, float *x, float *y, int n,
                     char err[QB_ERRLEN]);

/* out[n][emb_dim] ← the classifier's input: final_norm(x[n][dim]) (then OPT's project_out); 0, or -1
 * out of memory */
int model_head_input(const Model *m, const float *x, int n, float *out);

/* logits[n][vocab] ← classifier(final_norm(x[n][dim])) */
void model_head(const Model *m, const float *x, int n, float *logits);

/* ---- generation ------------------------------------------------------------------------------- */

typedef struct {
    int max_new_tokens;
    float temperature; /* 0 = greedy */
    int top_k;         /* 0 = off */
    float top_p;       /* 1 = off */
    uint64_t seed;
    int stop_at_eos;   /* default 1 */
} GenerateOptions;

/* Continues prompt[n_prompt] (which should start with BOS where the model expects it).
 * Writes up to max_new_tokens ids into out (capacity max_new_tokens), sets *n_out. */
int model_generate(const Model *m, const int *prompt, int n_prompt, const GenerateOptions *opt,
                   int *out, int *n_out, char err[QB_ERRLEN]);

/* ---- building a model from other sources (quantized checkpoints) ----------------------------- */

/* New empty model with its storage; NULL on out of memory. Fill cfg and the tensors, then check. */
Model *model_alloc(void);
/* Allocates n floats owned by m (freed by model_free); NULL on out of memory. */
float *model_own_floats(Model *m, size_t n);
/* Maps `path` privately (PROT_READ|PROT_WRITE, MAP_PRIVATE: writes stay in memory); the mapping is owned
 * by m. Sets *len to the file size. An empty file maps to NULL with *len = 0 (and returns 0). */
int model_map_file(Model *m, const char *path, void **addr, size_t *len, char err[QB_ERRLEN]);
/* Checks cfg for sane, mutually consistent values (names `what` in the error). */
int model_check_config(const ModelConfig *c, const char *what, char err[QB_ERRLEN]);
/* "none", "linear", "llama3" */
const char *rope_scaling_name(RopeScalingType t);
/* HF config.json's "rope_scaling" value for s as JSON text ({"rope_type": "llama3", "factor": 8.0, ...}),
 * factors written with a decimal point as transformers' checks expect floats; "null" for NONE.
 * Returns 0, or -1 when it does not fit in n bytes. */
int model_rope_scaling_json(const RopeScaling *s, char *buf, size_t n);
/* qbench's own form of a config (the "config" object of a .qbq checkpoint, and `qbench info --json`):
 * dim, hidden_dim, n_layers, ..., arch, rope_scaling {type, factor, ...} when set. NULL when out of memory. */
struct cJSON *model_config_json(const ModelConfig *c);
/* Hugging Face config.json for m as transformers writes it (architectures, model_type, sizes, floats as
 * their shortest decimal, rope_scaling in HF form), with the given torch_dtype. NULL when out of memory. */
struct cJSON *model_hf_config_json(const Model *m, const char *torch_dtype);
/* Shapes of the seven linear layers of a block: rows (out) and cols (in); 0 x 0 for a kind the family
 * does not have. */
void model_linear_shape(const ModelConfig *c, LinearKind k, int *rows, int *cols);

/* ---- weights kept as stored (model/qweights.c) ------------------------------------------------ */

/* "f32", "f16", "bf16", "uniform", "binary", "gguf-q4_0", ... */
const char *qweight_format_name(QWeightFormat f);
QWeightFormat linear_format(const Linear *l);
/* Bytes the layer's weight occupies in memory (packed data and its per-group metadata). */
size_t linear_weight_bytes(const Linear *l);
/* The one way to read a layer's weights as float32, whatever its format: rows [r0, r1) of W into
 * out ((r1 - r0) x cols). Packed formats decode exactly as their checkpoint defines (uniform
 * scale·(code − zero) in float32, binary levels[code], halves widened), so the result is bit-identical
 * to the float32 model the checkpoint describes. */
void linear_rows_f32(const Linear *l, int r0, int r1, float *out);
/* y[r - r0] = W[r] · x for r in [r0, r1): the decode kernel (fused dequantize-and-dot for packed
 * formats; each row's sum in a fixed order, so results do not depend on how rows are split). */
void linear_dot_rows(const Linear *l, const float *x, int r0, int r1, float *y);
/* Makes every packed linear layer of m float32 (owned by m): for code that writes weights in place
 * (the quantization pipeline). The packed form is dropped. */
int model_unpack_weights(Model *m, char err[QB_ERRLEN]);
/* IEEE half → float (exact). */
float model_half_to_float(uint16_t h);
/* The Llama classifier read by the forward in a half format, same values, half the bytes per decoded
 * token: data != NULL references halves the file stores (rows of `classifier`, which must live as long
 * as m); data == NULL makes an owned BF16 (else F16) copy only when every float of m->classifier is
 * exactly such a value, and leaves float32 otherwise. A no-op (0) for the other families.
 * model_unpack_weights drops it again. */
int model_keep_classifier_half(Model *m, QWeightFormat f, const uint16_t *data, char err[QB_ERRLEN]);

/* Constructors: l->rows and l->cols must be set; l->w becomes NULL and l->q the packed form.
 * Half weights: `data` (rows x cols little-endian halves) is referenced, not copied: it must live as
 * long as m (a mapping or a buffer m owns). */
int linear_keep_half(Model *m, Linear *l, QWeightFormat f, const uint16_t *data, char err[QB_ERRLEN]);
/* Uniform codes (bits 1..8), codes[rows x cols] < 2^bits, scales/zeros [rows x n_groups],
 * g_idx[cols] in [0, n_groups): w = scale·(code − zero). Copied into m in the kernels' layout. */
int linear_keep_uniform(Model *m, Linear *l, int bits, int n_groups, const uint8_t *codes, const float *scales,
                        const float *zeros, const int32_t *g_idx, char err[QB_ERRLEN]);
/* Binary codes (bits 1..8): w = levels[row, group, code]; alphas [rows x n_groups x bits] and
 * offsets [rows x n_groups] give the same weights as offset + Σ_b alpha_b·(bit b of code ? 1 : −1)
 * up to rounding, the form the lookup-table kernel multiplies. Copied into m. */
int linear_keep_binary(Model *m, Linear *l, int bits, int n_groups, const uint8_t *codes, const float *alphas,
                       const float *offsets, const float *levels, const int32_t *g_idx, char err[QB_ERRLEN]);
/* ---- the model description (model/arch.c) ------------------------------------------------------- */

/* The linear layers a block of c's family has, in GPTQ's true-sequential order; returns how many. */
int model_block_linears(const ModelConfig *c, LinearKind kinds[LIN_COUNT]);
/* A layer's name in checkpoints and results: linear_kind_name, except "attn.qkv" for a fused
 * query_key_value and "mlp.fc1"/"mlp.fc2" for two-layer MLPs. */
const char *model_linear_name(const ModelConfig *c, LinearKind k);
/* "llama", "opt", "bloom", "gpt2", "neox"; ARCH_COUNT for an unknown name. */
const char *arch_family_name(ArchFamily f);
ArchFamily arch_family_from_name(const char *name);
/* Width of the token embedding and classifier rows: proj_dim when set, else dim. */
int model_emb_dim(const ModelConfig *c);
/* Every float tensor of a non-Llama model that is not a quantized linear weight (embeddings, norms,
 * biases, positions, projections), with its qbench name ("tok_emb", "blk.3.attn_norm.bias", ...), where
 * its pointer lives, and its shape (cols 0: a vector). The classifier is listed only when untied.
 * Returns the count (at most cap written), or -1 for a Llama model. */
typedef struct { char name[48]; float **slot; int rows, cols; } ModelTensorRef;
int model_float_tensors(Model *m, ModelTensorRef *out, int cap);
/* Hugging Face names and layouts of a non-Llama model, for exports that write the family's checkpoint:
 *   model_hf_linear_name: block l's linear module ("model.decoder.layers.3.fc1"); -1 for an absent kind;
 *   model_hf_row_map: row r of the HF tensor holds the model's row map[r] (head-interleaved fused QKV of
 *     BLOOM/GPT-NeoX; the identity otherwise); rows = the layer's rows;
 *   model_hf_float_tensors: every float tensor that is not a linear weight or bias, by HF name, in the
 *     file's layout (free the array with free()).
 * model_hf_config_json writes each family's config.json with its own keys. */
typedef struct { char name[128]; const float *p; int rows, cols; } HfFloatTensor;
int model_hf_linear_name(const ModelConfig *c, int layer, LinearKind k, char *buf, size_t n);
void model_hf_row_map(const ModelConfig *c, LinearKind k, int rows, int *map);
int model_hf_float_tensors(const Model *m, HfFloatTensor **out, int *n);
/* Floats in every tensor model_float_tensors lists (the classifier counted when untied); 0 for Llama. */
size_t model_float_params(const Model *m);

/* ---- synthetic models ------------------------------------------------------------------------- */

typedef enum { SYNTH_LLAMA2C, SYNTH_SAFETENSORS } SynthFormat;

/* Writes a Llama-shaped model with seeded random weights (normal(0, 0.02), norms 1) to `path`
 * (a .bin file for llama2.c; a directory with config.json + model.safetensors otherwise). */
int model_synth_write(const ModelConfig *cfg, uint64_t seed, SynthFormat fmt, const char *path,
                      char err[QB_ERRLEN]);

/* Writes m (any source) as a Hugging Face directory: config.json + model.safetensors (F32), q/k rows
 * permuted back to the rotate-half layout. Used to convert llama2.c checkpoints. */
int model_save_safetensors(const Model *m, const char *dir, char err[QB_ERRLEN]);

/* ---- OpenBLAS kernels --------------------------------------------------------------------------- */

/* Unless OPENBLAS_CORETYPE is set: when OpenBLAS picked weaker kernels than the CPU supports (a CPU
 * newer than the library falls back to SSE3), sets OPENBLAS_CORETYPE from the CPU's feature bits
 * and re-executes argv once (blas_core.c). Results do not depend on it beyond float rounding. */
void qb_blas_select_core(char **argv);
/* The OpenBLAS kernel family this CPU's features allow ("SkylakeX", "Haswell"), or NULL. */
const char *qb_blas_wanted_core(void);

/* ---- bit packing (pack.c): integer codes in 32-bit words, AutoGPTQ's layout --------------------
 *
 * One layout everywhere: a little-endian bit stream. Code i of a run occupies stream bits
 * [i·bits, (i+1)·bits); stream bit k is bit (k % 32) of word k / 32. The last word is zero-padded.
 * For bits 2, 4, 8 this is exactly AutoGPTQ's packing (32/bits codes per word, code j at bit j·bits);
 * for 3 bits it is AutoGPTQ's 3-word / 32-code scheme (codes straddle word boundaries), so an
 * AutoGPTQ export just packs each output channel's codes along the input dimension.
 *
 * AutoGPTQ/GPTQModel tensor shapes, for a linear layer W (out=rows, in=cols), group count ng:
 *   qweight int32 (pack_words(cols, bits), rows): column o packs codes[o][0..cols) (along in)
 *   qzeros  int32 (ng, pack_words(rows, bits))  : row g packs zero[0..rows)[g] (along out)
 *   scales  fp16  (ng, rows), g_idx int32 (cols).
 * Checkpoint format "gptq" (v1) stores zero − 1 in qzeros (a zero of 0 wraps to 2^bits − 1, the
 * known v1 quirk); "gptq_v2" stores the zero itself: pass zero_offset = 1 or 0 accordingly.
 */
/* Words needed for n codes of `bits` bits (ceil(n·bits/32)). */
size_t pack_words(size_t n, int bits);

/* codes[i] (i < n, each < 2^bits) → words[0 .. pack_words(n,bits)). Returns 0, or -1 with a message
 * if bits is outside 1..8 or a code does not fit. */
int pack_codes(const uint8_t *codes, size_t n, int bits, uint32_t *words, char err[QB_ERRLEN]);
/* Inverse of pack_codes. Returns 0, or -1 if bits is outside 1..8. */
int unpack_codes(const uint32_t *words, size_t n, int bits, uint8_t *codes, char err[QB_ERRLEN]);

/* AutoGPTQ qweight: codes (rows, cols) row-major → qweight (pack_words(cols,bits), rows) row-major. */
int pack_qweight(const uint8_t *codes, int rows, int cols, int bits, int32_t *qweight,
                 char err[QB_ERRLEN]);
int unpack_qweight(const int32_t *qweight, int rows, int cols, int bits, uint8_t *codes,
                   char err[QB_ERRLEN]);

/* AutoGPTQ qzeros: zeros (rows, n_groups) row-major, integer-valued floats in 0..2^bits−1 (as in
 * QuantResult.zeros) → qzeros (n_groups, pack_words(rows,bits)). Stores (zero − zero_offset) mod
 * 2^bits; zero_offset = 1 for the v1 "gptq" format, 0 for "gptq_v2". -1 if a zero is not an
 * integer in range. */
int pack_qzeros(const float *zeros, int rows, int n_groups, int bits, int zero_offset,
                int32_t *qzeros, char err[QB_ERRLEN]);
/* Inverse: adds zero_offset back (mod 2^bits) and writes floats. */
int unpack_qzeros(const int32_t *qzeros, int rows, int n_groups, int bits, int zero_offset,
                  float *zeros, char err[QB_ERRLEN]);

#endif

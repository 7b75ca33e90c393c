/* checkpoint.h — quantized models on disk: qbench's own .qbq checkpoints (written, described, loaded
 * back with their layers packed) and AutoGPTQ / GPTQModel export. Errors as in base/base.h. */
#ifndef QBENCH_QUANT_CHECKPOINT_H
#define QBENCH_QUANT_CHECKPOINT_H

#include "quant/quant.h"

/* qbench's own packed format (laid out at the top of checkpoint.c): writes the quantized layers + float tensors. */
int quant_checkpoint_write(const Model *m, const PipelineReport *rep, const PipelineOptions *po,
                           const char *path, char err[QB_ERRLEN]);
/* Returns 1 if path is a qbench quantized checkpoint, 0 if not, -1 on I/O error. */
int quant_checkpoint_detect(const char *path);
/* The checkpoint's metadata as one JSON object (format, version, source {path, sha256}, config,
 * options, bits_per_weight, packed_bytes), after checking its header and checksum; malloc'd. */
char *quant_checkpoint_describe(const char *path, char err[QB_ERRLEN]);
/* Loads a quantized checkpoint as a Model whose quantized layers stay packed (Linear.q). */
Model *quant_checkpoint_load(const char *path, char err[QB_ERRLEN]);
/* What quant_export_gptq refuses, checked from the configuration alone, before any work: method
 * (rtn, gptq), bits (2, 3, 4, 8), no quantized head, and every layer's in/out features x bits a
 * multiple of 32. */
int quant_export_gptq_check(const ModelConfig *c, const PipelineOptions *po, char err[QB_ERRLEN]);
/* AutoGPTQ/GPTQModel-style safetensors (qweight/qzeros/scales/g_idx int32-packed) + quantize_config.json (GPTQModel's
 * layout: AutoGPTQ's keys plus meta.quantizer), with the tokenizer files and generation_config.json
 * found beside the source model (or a generation_config.json written from its BOS/EOS). */
int quant_export_gptq(const Model *m, const PipelineReport *rep, const PipelineOptions *po,
                      const char *dir, char err[QB_ERRLEN]);

/* Loads `path` as a qbench quantized checkpoint when quant_checkpoint_detect says it is one, and
 * with model_load otherwise: what `qbench ppl` / `generate` call so that they take either. */
Model *quant_or_model_load(const char *path, char err[QB_ERRLEN]);

#endif

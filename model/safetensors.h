/* safetensors.h — private to model/: a checked reader of one .safetensors file (8-byte little-endian
 * header length, JSON header, raw data). The file is mapped through the Model's storage so tensors can
 * point straight into it; the parsed table is freed by st_close. */
#ifndef QBENCH_MODEL_SAFETENSORS_H
#define QBENCH_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

typedef enum { ST_F32, ST_F16, ST_BF16, ST_OTHER } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    char dtype_name[16];
    int ndim;
    int64_t shape[8];
    size_t numel;
    const uint8_t *data; /* into the mapping */
    size_t nbytes;
} StTensor;

typedef struct {
    char path[1500];
    uint8_t *map;
    size_t size;
    StTensor *t;
    int n;
} StFile;

/* Maps and validates `path`: header length within the file, JSON well-formed, every entry with a
 * dtype, a shape and data_offsets in range, size == numel * dtype size, no two tensors overlapping. */
int st_open(Model *m, const char *path, StFile *f, char err[QB_ERRLEN]);
/* A PyTorch zip checkpoint (pytorch_model.bin) read by the restricted unpickler (pickle.c) into the same
 * table: its tensors point into the private mapping of the archive. */
int pt_open(Model *m, const char *path, StFile *f, char err[QB_ERRLEN]);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
/* dst (numel) ← tensor converted to float32 (F32, F16 or BF16; -1 with err for other dtypes). */
int st_to_f32(const StFile *f, const StTensor *t, float *dst, char err[QB_ERRLEN]);

/* ---- AutoGPTQ / GPTQModel quantized layers stored in safetensors (loader_autogptq.c) ---------- */

typedef struct {
    int present;          /* the directory is an AutoGPTQ checkpoint */
    int bits, group_size; /* group_size -1: one group per row */
    int desc_act, sym;
    int zero_offset;      /* 1 for checkpoint_format "gptq" (qzeros = zero - 1), 0 for "gptq_v2" */
    char checkpoint_format[16];
} GptqFormat;

/* quantize_config.json in dir, else config.json's "quantization_config": f->present = 0 when neither
 * says gptq; -1 with err for a quantization config qbench cannot read (other methods refused by name). */
int autogptq_format(const char *dir, GptqFormat *f, char err[QB_ERRLEN]);

/* The four tensors of one layer and the files they are in (g_idx may be NULL: groups are i / group_size). */
typedef struct {
    const StFile *qweight_f, *qzeros_f, *scales_f, *g_idx_f;
    const StTensor *qweight, *qzeros, *scales, *g_idx;
} GptqTensors;

/* Layer `base` unpacked (rows in HF order): codes [rows x cols], scales and zeros [rows x n_groups]
 * (the v1 zero offset added back), g_idx [cols]; W = scale·(code − zero), qbench's uniform form.
 * Every dtype and shape checked, g_idx values in range. stored_bytes: the four tensors' bytes. Free with
 * autogptq_layer_free (also after an error). */
typedef struct {
    uint8_t *codes;
    float *scales, *zeros;
    int32_t *g_idx;
    int bits, n_groups;
    size_t stored_bytes;
} GptqLayer;
int autogptq_unpack(const GptqFormat *f, const char *base, const GptqTensors *in, int rows, int cols, GptqLayer *L,
                    char err[QB_ERRLEN]);
void autogptq_layer_free(GptqLayer *L);
/* w (rows x cols, HF row order) ← the dequantized layer `base` ("model.layers.0.self_attn.q_proj");
 * every dtype and shape checked, g_idx values in range. *stored_bytes: the four tensors' bytes. */
int autogptq_dequant(const GptqFormat *f, const char *base, const GptqTensors *in, int rows, int cols, float *w,
                     size_t *stored_bytes, char err[QB_ERRLEN]);

#endif

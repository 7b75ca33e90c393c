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
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
/* dst (numel) ← tensor converted to float32 (F32, F16 or BF16; -1 with err for other dtypes). */
int st_to_f32(const StFile *f, const StTensor *t, float *dst, char err[QB_ERRLEN]);

#endif

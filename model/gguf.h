/* gguf.h — private to model/: a checked reader of llama.cpp's GGUF files (versions 2 and 3) and the
 * dequantization of their tensor types to float32.
 *
 * The whole file is parsed up front and treated as hostile: every length, count, type, dimension,
 * offset and size is checked against the file before anything points into it, so the accessors below
 * never read out of bounds. Values and tensor data stay in the caller's buffer (a mapping). */
#ifndef QBENCH_MODEL_GGUF_H
#define QBENCH_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

/* Metadata value types, as GGUF numbers them. */
enum {
    GGUF_U8 = 0, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING,
    GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64, GGUF_NTYPES
};

/* ggml tensor types that qbench dequantizes (numbering of ggml.h); every other number is refused by name. */
enum {
    GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7, GGML_Q8_0 = 8,
    GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14, GGML_IQ4_NL = 20,
    GGML_IQ4_XS = 23, GGML_BF16 = 30
};

typedef struct {
    const char *key; size_t key_len; /* into the buffer, not NUL-terminated */
    uint32_t type;                   /* GGUF_* */
    uint32_t arr_type;               /* element type when type == GGUF_ARRAY */
    uint64_t arr_n;                  /* element count when type == GGUF_ARRAY */
    const uint8_t *val;              /* the value (for an array: its first element) */
    size_t val_len;                  /* bytes of the value (for an array: of all its elements) */
} GgufKV;

typedef struct {
    const char *name; size_t name_len; /* into the buffer */
    int n_dims;
    uint64_t ne[4];      /* GGUF order: ne[0] is the fastest (the row length) */
    uint32_t type;       /* GGML_* (or an unsupported number; checked by gguf_tensor_f32) */
    uint64_t numel;
    const uint8_t *data; /* into the buffer */
    size_t nbytes;
} GgufTensor;

typedef struct {
    char path[1024];
    const uint8_t *buf;
    size_t size;
    uint32_t version;
    size_t alignment;
    GgufKV *kv; size_t n_kv;
    GgufTensor *t; size_t n_t;
    size_t data_off;     /* start of the tensor data section */
    void *own_map;       /* set by gguf_open: unmapped by gguf_close */
} GgufFile;

/* Parses buf[size] (the whole file `path`). Checks: magic, version 2 or 3, counts bounded by the file
 * size, every string and array inside the file, value types known, general.alignment a power of two,
 * tensor names unique and dims / types valid, offsets aligned, every tensor's bytes inside the data
 * section and no two tensors overlapping. Errors name the file and the key or tensor. */
int gguf_parse(const uint8_t *buf, size_t size, const char *path, GgufFile *f, char err[QB_ERRLEN]);
/* Maps `path` read-only and parses it. */
int gguf_open(const char *path, GgufFile *f, char err[QB_ERRLEN]);
void gguf_close(GgufFile *f);

const GgufKV *gguf_find_kv(const GgufFile *f, const char *key);
const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name);

/* Typed getters: 1 found and converted, 0 absent, -1 present with a wrong type / out-of-range value
 * (err names the file and key). Integers accept any integer type; floats F32 or F64. */
int gguf_get_int(const GgufFile *f, const char *key, int64_t *out, char err[QB_ERRLEN]);
int gguf_get_float(const GgufFile *f, const char *key, double *out, char err[QB_ERRLEN]);
/* *s points into the buffer (not NUL-terminated), *len its length. */
int gguf_get_str(const GgufFile *f, const char *key, const char **s, size_t *len, char err[QB_ERRLEN]);
/* For an array of strings: fills s[i], len[i] for its kv->arr_n elements (caller's arrays). */
void gguf_array_strings(const GgufKV *kv, const char **s, size_t *len);
/* Element i of a numeric array as a double (integers and floats). */
double gguf_array_num(const GgufKV *kv, uint64_t i);

/* "Q4_K", "IQ4_XS", ... for any ggml type number ("type 99" style text for unknown ones, in buf). */
const char *gguf_type_name(uint32_t type);
/* 1 when qbench can dequantize `type`; *block elements per block and *bytes per block. */
int gguf_type_info(uint32_t type, int *block, int *bytes);

/* dst[numel] ← dequantized tensor t (numel must be a whole number of blocks, which gguf_parse checked).
 * Bit-exact with gguf-py's gguf.quants.dequantize (float32 arithmetic in the same order). */
int gguf_tensor_f32(const GgufFile *f, const GgufTensor *t, float *dst, char err[QB_ERRLEN]);
/* The same on raw blocks: n elements of `type` from src. */
void gguf_dequantize(uint32_t type, const uint8_t *src, float *dst, size_t n);

/* Keeps a linear layer (l->rows, l->cols set) in a quantized block type as stored (QW_GGUF,
 * qkernels_gguf.c): `data` (nbytes, rows of cols/block blocks) is referenced, so it must live as long as
 * m (the mapping). -1 when the type has no blocks or cols is not a whole number of them. */
int linear_keep_gguf(Model *m, Linear *l, uint32_t type, const uint8_t *data, size_t nbytes, char err[QB_ERRLEN]);

#endif

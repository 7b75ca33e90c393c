/* pack.h — private to quant/: bit-packing of integer codes into 32-bit words.
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
#ifndef QBENCH_QUANT_PACK_H
#define QBENCH_QUANT_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

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

/* rope_layout.c — converts q/k weight rows (and biases) between Hugging Face's rotate-half RoPE layout
 * and the interleaved layout the forward pass uses. llama2.c's export.py `permute` goes
 * interleaved → HF: w.view(heads, hd/2, 2, cols).transpose(1, 2); these are that map and its inverse. */
#include <string.h>

#include "model/model_internal.h"

// within head h: HF row h*hd + c*hd/2 + i  <->  interleaved row h*hd + 2i + c   (c in {0,1}); rows of any width
static void permute_rows(const void *src, void *dst, int heads, int head_dim, size_t row_bytes, int to_hf) {
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++)
            for (int c = 0; c < 2; c++) {
                size_t hf = (size_t)h * head_dim + c * half + i, inter = (size_t)h * head_dim + 2 * i + c;
                memcpy((char *)dst + (to_hf ? hf : inter) * row_bytes,
                       (const char *)src + (to_hf ? inter : hf) * row_bytes, row_bytes);
            }
}

void rope_rows_hf_to_interleaved_bytes(const void *src, void *dst, int heads, int head_dim, size_t row_bytes) {
    permute_rows(src, dst, heads, head_dim, row_bytes, 0);
}

void rope_rows_hf_to_interleaved(const float *src, float *dst, int heads, int head_dim, int cols) {
    permute_rows(src, dst, heads, head_dim, (size_t)cols * sizeof(float), 0);
}

void rope_rows_interleaved_to_hf(const float *src, float *dst, int heads, int head_dim, int cols) {
    permute_rows(src, dst, heads, head_dim, (size_t)cols * sizeof(float), 1);
}

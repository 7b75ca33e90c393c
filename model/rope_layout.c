/* rope_layout.c — converts q/k weight rows (and biases) between Hugging Face's rotate-half RoPE layout
 * and the interleaved layout the forward pass uses. llama2.c's export.py `permute` goes
 * interleaved → HF: w.view(heads, hd/2, 2, cols).transpose(1, 2); these are that map and its inverse. */
#include <string.h>

#include "model/model_internal.h"

// within head h: HF row h*hd + c*hd/2 + i  <->  interleaved row h*hd + 2i + c   (c in {0,1})
void rope_rows_hf_to_interleaved(const float *src, float *dst, int heads, int head_dim, int cols) {
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++)
            for (int c = 0; c < 2; c++)
                memcpy(dst + ((size_t)h * head_dim + 2 * i + c) * cols,
                       src + ((size_t)h * head_dim + c * half + i) * cols, (size_t)cols * sizeof(float));
}

void rope_rows_interleaved_to_hf(const float *src, float *dst, int heads, int head_dim, int cols) {
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++)
            for (int c = 0; c < 2; c++)
                memcpy(dst + ((size_t)h * head_dim + c * half + i) * cols,
                       src + ((size_t)h * head_dim + 2 * i + c) * cols, (size_t)cols * sizeof(float));
}

/* tokenizer.h — llama2.c tokenizer.bin and Hugging Face tokenizer.json (BPE: SentencePiece style
 * with metaspace "▁" and byte fallback, and the byte-level GPT-2 style of Llama-3 / Qwen2).
 * Both are treated as hostile input: every length and id is bounds-checked. */
#ifndef QBENCH_TOKENIZER_H
#define QBENCH_TOKENIZER_H

#include "model/model.h"

typedef struct Tokenizer Tokenizer;

/* path: a tokenizer.bin (llama2.c), a tokenizer.json (HF) or a .gguf file (its tokenizer.ggml.* keys). vocab_size is the model's (used to
 * check the file; pass 0 to skip the check). NULL with err set on failure. */
Tokenizer *tokenizer_load(const char *path, int vocab_size, char err[QB_ERRLEN]);
void tokenizer_free(Tokenizer *t);

/* Finds the tokenizer that belongs with a model path: tokenizer.json in an HF directory, or a
 * tokenizer.bin / tok*.bin beside a llama2.c .bin, or the .gguf file itself. Writes the path into out; -1 if none. */
int tokenizer_find_for_model(const char *model_path, char *out, size_t outlen);

int tokenizer_vocab_size(const Tokenizer *t);
int tokenizer_bos(const Tokenizer *t);
int tokenizer_eos(const Tokenizer *t);

/* Encodes UTF-8 text. *ids is malloc'd (caller frees); *n set. add_bos prepends BOS. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n,
                     char err[QB_ERRLEN]);

/* The text of token `id` following token `prev` (llama2.c semantics: the leading space after BOS
 * is dropped, <0xNN> byte tokens become the raw byte). Returns a pointer valid until the next call
 * on this tokenizer; *len set (bytes may include NUL for byte tokens). */
const char *tokenizer_piece(const Tokenizer *t, int prev, int id, size_t *len);

/* Decodes ids[n] into a malloc'd NUL-terminated string (invalid byte sequences kept as bytes). */
char *tokenizer_decode(const Tokenizer *t, const int *ids, int n);

/* Added by the tokenizer/perplexity task (new declarations only):
 * Whether encoding adds the leading space: llama2.c's dummy prefix, HF's Prepend "▁" normalizer,
 * Metaspace's prepend, ByteLevel's add_prefix_space. On by default (what the file says); off gives
 * the encoding TinyStories-656K was apparently trained on. Decoding strips a leading space only when on. */
void tokenizer_set_prepend_space(Tokenizer *t, int on);
int tokenizer_prepend_space(const Tokenizer *t);

#endif

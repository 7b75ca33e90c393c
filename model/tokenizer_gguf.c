/* tokenizer_gguf.c — the vocabulary stored in a GGUF file's tokenizer.ggml.* keys.
 *
 * `llama` (SentencePiece-style: tokens with "▁" for a space, merge scores, token types, <0xNN> byte
 * tokens) is the same algorithm as llama2.c's tokenizer.bin (llama.cpp's SPM tokenizer and run.c's
 * encode() both merge the adjacent pair whose concatenation is the highest-scoring token, leftmost
 * first, and fall back to byte tokens), so it loads into the llama2.c encoder: "▁" becomes " " in the
 * pieces, as llama2.c's export writes them. Other vocabularies (`gpt2` BPE with merges, `bert`, `rwkv`,
 * ...) are refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/tokenizer_internal.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static int is_numeric(uint32_t t) { return t != GGUF_STRING && t != GGUF_ARRAY && t < GGUF_NTYPES; }

static int opt_id(const GgufFile *g, const char *key, int n, int def) {
    int64_t v;
    char e[QB_ERRLEN];
    return gguf_get_int(g, key, &v, e) == 1 ? (v >= 0 && v < n ? (int)v : -1) : def;
}

/* "▁" (U+2581) → " " in s[n] (in place); returns the new length. */
static int unescape_spaces(char *s, int n) {
    int o = 0;
    for (int i = 0; i < n;) {
        if (n - i >= 3 && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 && (unsigned char)s[i + 2] == 0x81) {
            s[o++] = ' ';
            i += 3;
        } else {
            s[o++] = s[i++];
        }
    }
    s[o] = 0;
    return o;
}

static Tokenizer *from_gguf(const GgufFile *g, int vocab_size, char err[QB_ERRLEN]) {
    const char *path = g->path, *model;
    size_t mlen;
    int r = gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen, err);
    if (r < 0) return NULL;
    if (r == 0) { snprintf(err, QB_ERRLEN, "%.200s: no tokenizer in this GGUF file (no 'tokenizer.ggml.model')", path); return NULL; }
    if (mlen != 5 || memcmp(model, "llama", 5) != 0) {
        snprintf(err, QB_ERRLEN, "%.200s: GGUF tokenizer '%.*s' is not supported (only the SentencePiece-style 'llama' "
                 "vocabulary; use --tokenizer with a tokenizer.json for this model)", path, (int)(mlen > 40 ? 40 : mlen), model);
        return NULL;
    }
    const GgufKV *tk = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tk || tk->type != GGUF_ARRAY || tk->arr_type != GGUF_STRING || tk->arr_n == 0 || tk->arr_n > (1u << 22)) {
        snprintf(err, QB_ERRLEN, "%.200s: 'tokenizer.ggml.tokens' must be a non-empty array of strings", path);
        return NULL;
    }
    int n = (int)tk->arr_n;
    if (vocab_size && n > vocab_size) {
        snprintf(err, QB_ERRLEN, "%.200s: %d tokens, more than the model's vocab_size %d", path, n, vocab_size);
        return NULL;
    }
    const GgufKV *sc = gguf_find_kv(g, "tokenizer.ggml.scores"), *ty = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (sc && (sc->type != GGUF_ARRAY || !is_numeric(sc->arr_type) || sc->arr_n != tk->arr_n)) {
        snprintf(err, QB_ERRLEN, "%.200s: 'tokenizer.ggml.scores' must be a numeric array of %d entries", path, n);
        return NULL;
    }
    if (ty && (ty->type != GGUF_ARRAY || !is_numeric(ty->arr_type) || ty->arr_n != tk->arr_n)) {
        snprintf(err, QB_ERRLEN, "%.200s: 'tokenizer.ggml.token_type' must be a numeric array of %d entries", path, n);
        return NULL;
    }
    const char **s = malloc((size_t)n * sizeof *s);
    size_t *len = malloc((size_t)n * sizeof *len);
    Tokenizer *t = calloc(1, sizeof *t);
    if (!s || !len || !t) goto oom;
    gguf_array_strings(tk, s, len);
    t->kind = TOK_LLAMA2C;
    t->vocab_size = n;
    t->piece = calloc((size_t)n, sizeof *t->piece);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    t->score = calloc((size_t)n, sizeof *t->score);
    if (!t->piece || !t->piece_len || !t->score) goto oom;
    for (int i = 0; i < n; i++) {
        if (len[i] > 65536) {
            snprintf(err, QB_ERRLEN, "%.200s: token %d is %zu bytes long", path, i, len[i]);
            goto fail;
        }
        if (memchr(s[i], 0, len[i])) {
            snprintf(err, QB_ERRLEN, "%.200s: token %d contains a NUL byte", path, i);
            goto fail;
        }
        if (!(t->piece[i] = malloc(len[i] + 1))) goto oom;
        memcpy(t->piece[i], s[i], len[i]);
        t->piece_len[i] = unescape_spaces(t->piece[i], (int)len[i]);
        if (t->piece_len[i] > t->max_token_length) t->max_token_length = t->piece_len[i];
        double v = sc ? gguf_array_num(sc, (uint64_t)i) : 0.0;
        if (!(v == v) || v > 3e38 || v < -3e38) {
            snprintf(err, QB_ERRLEN, "%.200s: token %d has a non-finite score", path, i);
            goto fail;
        }
        t->score[i] = (float)v;
    }
    t->unk = opt_id(g, "tokenizer.ggml.unknown_token_id", n, 0);
    t->bos = opt_id(g, "tokenizer.ggml.bos_token_id", n, n > 1 ? 1 : -1);
    t->eos = opt_id(g, "tokenizer.ggml.eos_token_id", n, n > 2 ? 2 : -1);
    const GgufKV *sp = gguf_find_kv(g, "tokenizer.ggml.add_space_prefix");
    t->prepend_space = sp && sp->type == GGUF_BOOL ? sp->val[0] != 0 : 1;
    t->decode_strip = 1;
    if (tokenizer_index(t)) goto oom;
    for (int i = 0; i < n && ty; i++) {
        int type = (int)gguf_array_num(ty, (uint64_t)i);
        if (type == TT_CONTROL || type == TT_UNUSED) t->flags[i] |= TOKF_CONTROL;
    }
    free(s);
    free(len);
    return t;
oom:
    snprintf(err, QB_ERRLEN, "%.200s: out of memory", path);
fail:
    free(s);
    free(len);
    tokenizer_free(t);
    return NULL;
}

Tokenizer *tokenizer_load_gguf(const char *path, int vocab_size, char err[QB_ERRLEN]) {
    GgufFile g;
    if (gguf_open(path, &g, err)) return NULL;
    Tokenizer *t = from_gguf(&g, vocab_size, err);
    gguf_close(&g);
    return t;
}

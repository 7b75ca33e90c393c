/* tokenizer_gguf.c — the vocabulary stored in a GGUF file's tokenizer.ggml.* keys.
 *
 * `llama` (SentencePiece-style: tokens with "▁" for a space, merge scores, token types, <0xNN> byte
 * tokens) is the same algorithm as llama2.c's tokenizer.bin (llama.cpp's SPM tokenizer and run.c's
 * encode() both merge the adjacent pair whose concatenation is the highest-scoring token, leftmost
 * first, and fall back to byte tokens), so it loads into the llama2.c encoder: "▁" becomes " " in the
 * pieces, as llama2.c's export writes them.
 * `gpt2` (byte-level BPE with merges) is loaded as the tokenizer.json that holds the same vocabulary:
 * tokens and merges as the BPE model, control tokens as special added tokens and user-defined ones as
 * plain added tokens, a ByteLevel pre-tokenizer with GPT-2's regex. Only the pre-tokenizers that are
 * GPT-2's regex (`tokenizer.ggml.pre` = "gpt-2" or "mpt") are accepted: starcoder, refact, falcon,
 * deepseek-*, llama-bpe, ... split differently and are refused by name, as is a file without the key.
 * Other vocabularies (`bert`, `rwkv`, ...) are refused by name. */
#include <cJSON.h>
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

static cJSON *str_n(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

/* The byte-level BPE (`gpt2`) vocabulary, through the tokenizer.json loader (see the top). */
static Tokenizer *from_gguf_bpe(const GgufFile *g, int vocab_size, char err[QB_ERRLEN]) {
    const char *path = g->path, *pre;
    size_t plen;
    int r = gguf_get_str(g, "tokenizer.ggml.pre", &pre, &plen, err);
    if (r < 0) return NULL;
    if (r == 0 || !((plen == 5 && !memcmp(pre, "gpt-2", 5)) || (plen == 3 && !memcmp(pre, "mpt", 3)))) {
        snprintf(err, QB_ERRLEN, "%.200s: GGUF byte-level BPE with pre-tokenizer '%.*s' is not supported (only GPT-2's "
                 "regex: 'gpt-2', 'mpt')", path, r ? (int)(plen > 40 ? 40 : plen) : 6, r ? pre : "(none)");
        return NULL;
    }
    const GgufKV *tk = gguf_find_kv(g, "tokenizer.ggml.tokens"), *mg = gguf_find_kv(g, "tokenizer.ggml.merges"),
                 *ty = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (!tk || tk->type != GGUF_ARRAY || tk->arr_type != GGUF_STRING || tk->arr_n == 0 || tk->arr_n > (1u << 22) ||
        !mg || mg->type != GGUF_ARRAY || mg->arr_type != GGUF_STRING || mg->arr_n > (1u << 23)) {
        snprintf(err, QB_ERRLEN, "%.200s: 'tokenizer.ggml.tokens' and 'tokenizer.ggml.merges' must be arrays of strings", path);
        return NULL;
    }
    if (ty && (ty->type != GGUF_ARRAY || !is_numeric(ty->arr_type) || ty->arr_n != tk->arr_n)) {
        snprintf(err, QB_ERRLEN, "%.200s: 'tokenizer.ggml.token_type' must be a numeric array of %d entries", path,
                 (int)tk->arr_n);
        return NULL;
    }
    const int n = (int)tk->arr_n, nm = (int)mg->arr_n;
    const size_t most = (size_t)(n > nm ? n : nm);
    const char **s = malloc(most * sizeof *s);
    size_t *len = malloc(most * sizeof *len);
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model"),
          *vocab = cJSON_AddObjectToObject(model, "vocab"), *merges = cJSON_AddArrayToObject(model, "merges"),
          *added = cJSON_AddArrayToObject(root, "added_tokens"), *pt = cJSON_AddObjectToObject(root, "pre_tokenizer"),
          *dec = cJSON_AddObjectToObject(root, "decoder");
    Tokenizer *t = NULL;
    if (!s || !len || !root || !model || !vocab || !merges || !added || !pt || !dec ||
        !cJSON_AddStringToObject(model, "type", "BPE") || !cJSON_AddStringToObject(pt, "type", "ByteLevel") ||
        !cJSON_AddFalseToObject(pt, "add_prefix_space") || !cJSON_AddTrueToObject(pt, "use_regex") ||
        !cJSON_AddStringToObject(dec, "type", "ByteLevel"))
        goto oom;
    gguf_array_strings(tk, s, len);
    for (int i = 0; i < n; i++) {
        if (len[i] == 0 || len[i] > 65536 || memchr(s[i], 0, len[i])) {
            snprintf(err, QB_ERRLEN, "%.200s: token %d is empty, over 64 KiB or contains a NUL byte", path, i);
            goto fail;
        }
        char *key = malloc(len[i] + 1);
        if (!key) goto oom;
        memcpy(key, s[i], len[i]);
        key[len[i]] = 0;
        cJSON *id = cJSON_CreateNumber(i);
        int ok = id && cJSON_AddItemToObject(vocab, key, id);
        if (!ok) cJSON_Delete(id);
        int type = ty ? (int)gguf_array_num(ty, (uint64_t)i) : TT_NORMAL;
        if (ok && (type == TT_CONTROL || type == TT_USER)) { /* added tokens: special, or not */
            cJSON *a = cJSON_CreateObject();
            ok = a && cJSON_AddItemToArray(added, a) && cJSON_AddNumberToObject(a, "id", i) &&
                 cJSON_AddStringToObject(a, "content", key) && cJSON_AddBoolToObject(a, "special", type == TT_CONTROL);
        }
        free(key);
        if (!ok) goto oom;
    }
    gguf_array_strings(mg, s, len);
    for (int i = 0; i < nm; i++) {
        cJSON *m = len[i] <= 131072 && !memchr(s[i], 0, len[i]) ? str_n(s[i], len[i]) : NULL;
        if (!m || !cJSON_AddItemToArray(merges, m)) {
            cJSON_Delete(m);
            snprintf(err, QB_ERRLEN, "%.200s: merge %d is over 128 KiB, contains a NUL byte, or no memory", path, i);
            goto fail;
        }
    }
    if (!(t = tokenizer_from_hf_json(root, path, vocab_size, 1, err))) goto fail;
    /* the GGUF's own ids: BOS only where the file says it is added (GPT-2's vocabulary adds none) */
    const GgufKV *ab = gguf_find_kv(g, "tokenizer.ggml.add_bos_token");
    t->bos = ab && ab->type == GGUF_BOOL && ab->val[0] ? opt_id(g, "tokenizer.ggml.bos_token_id", n, -1) : -1;
    t->eos = opt_id(g, "tokenizer.ggml.eos_token_id", n, t->eos);
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "%.200s: out of memory", path);
fail:
    tokenizer_free(t);
    t = NULL;
done:
    cJSON_Delete(root);
    free(s);
    free(len);
    return t;
}

static Tokenizer *from_gguf(const GgufFile *g, int vocab_size, char err[QB_ERRLEN]) {
    const char *path = g->path, *model;
    size_t mlen;
    int r = gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen, err);
    if (r < 0) return NULL;
    if (r == 0) { snprintf(err, QB_ERRLEN, "%.200s: no tokenizer in this GGUF file (no 'tokenizer.ggml.model')", path); return NULL; }
    if (mlen == 4 && memcmp(model, "gpt2", 4) == 0) return from_gguf_bpe(g, vocab_size, err);
    if (mlen != 5 || memcmp(model, "llama", 5) != 0) {
        snprintf(err, QB_ERRLEN, "%.200s: GGUF tokenizer '%.*s' is not supported (only the SentencePiece-style 'llama' "
                 "and the byte-level BPE 'gpt2' vocabularies; use --tokenizer with a tokenizer.json for this model)", path, (int)(mlen > 40 ? 40 : mlen), model);
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

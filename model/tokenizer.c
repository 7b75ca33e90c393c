/* tokenizer.c — the Tokenizer API: loading (dispatch by file content), the llama2.c tokenizer.bin
 * format and its encoder (step for step karpathy's run.c encode(), but with hash lookups and a heap so
 * an 800 KB text encodes in milliseconds), decoding for both formats, and finding the tokenizer that
 * goes with a model. The HF tokenizer.json format lives in tokenizer_hf.c. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/tokenizer_internal.h"

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    if (t->piece)
        for (int i = 0; i < t->vocab_size; i++) free(t->piece[i]);
    free(t->piece);
    free(t->piece_len);
    free(t->score);
    strmap_free(&t->vocab);
    pairmap_free(&t->pairs);
    free(t->merge_rank_new);
    for (int i = 0; i < t->n_norm; i++) { free(t->norm[i].a); free(t->norm[i].b); }
    free(t->norm);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].s);
    free(t->added);
    free(t->scratch);
    free(t->flags);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }
int tokenizer_bos(const Tokenizer *t) { return t->bos; }
int tokenizer_eos(const Tokenizer *t) { return t->eos; }
void tokenizer_set_prepend_space(Tokenizer *t, int on) { t->prepend_space = on != 0; }
int tokenizer_prepend_space(const Tokenizer *t) { return t->prepend_space; }

int tokenizer_index(Tokenizer *t) {
    if (strmap_build(&t->vocab, t)) return -1;
    t->flags = calloc((size_t)t->vocab_size, 1);
    if (!t->flags) return -1;
    /* byte_id[] from the "<0xNN>" pieces of the vocabulary */
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (int id = 0; id < t->vocab_size; id++) {
        const char *p = t->piece[id];
        unsigned v;
        char tail;
        if (p && t->piece_len[id] == 6 && sscanf(p, "<0x%2X%c", &v, &tail) == 2 && tail == '>' && v < 256 &&
            t->byte_id[v] < 0) {
            t->byte_id[v] = (int)id;
            t->flags[id] |= TOKF_BYTE;
        }
    }
    for (int i = 0; i < t->n_added; i++) {
        t->flags[t->added[i].id] |= TOKF_ADDED;
        if (t->added[i].special && t->added[i].id != t->unk) t->flags[t->added[i].id] |= TOKF_CONTROL;
    }
    return 0;
}

/* ---- llama2.c tokenizer.bin ------------------------------------------------------------------- */

static Tokenizer *load_llama2c(const char *path, const unsigned char *buf, size_t len, int vocab_size,
                               char err[QB_ERRLEN]) {
    if (len < 4) { snprintf(err, QB_ERRLEN, "%s: truncated tokenizer.bin (no max_token_length)", path); return NULL; }
    int32_t maxlen;
    memcpy(&maxlen, buf, 4);
    if (maxlen <= 0 || maxlen > 65536) {
        snprintf(err, QB_ERRLEN, "%s: bad max_token_length %d", path, maxlen);
        return NULL;
    }
    /* count entries when the model does not say how many there are */
    int n = 0;
    size_t off = 4;
    while (off < len && (vocab_size == 0 || n < vocab_size)) {
        int32_t l;
        if (len - off < 8) {
            snprintf(err, QB_ERRLEN, "%s: truncated at token %d (header needs 8 bytes, %zu left)", path, n, len - off);
            return NULL;
        }
        memcpy(&l, buf + off + 4, 4);
        if (l < 0 || l > maxlen) {
            snprintf(err, QB_ERRLEN, "%s: token %d has length %d (max_token_length %d)", path, n, l, maxlen);
            return NULL;
        }
        if ((size_t)l > len - off - 8) {
            snprintf(err, QB_ERRLEN, "%s: token %d length %d runs past the end of the file", path, n, l);
            return NULL;
        }
        off += 8 + (size_t)l;
        n++;
    }
    if (vocab_size && n < vocab_size) {
        snprintf(err, QB_ERRLEN, "%s: has %d tokens, the model's vocab_size is %d", path, n, vocab_size);
        return NULL;
    }
    if (vocab_size && off != len) {
        snprintf(err, QB_ERRLEN, "%s: %zu bytes left after %d tokens: vocab_size %d does not fit this file", path,
                 len - off, n, vocab_size);
        return NULL;
    }
    if (n == 0) { snprintf(err, QB_ERRLEN, "%s: no tokens", path); return NULL; }

    Tokenizer *t = calloc(1, sizeof *t);
    if (!t) { snprintf(err, QB_ERRLEN, "%s: out of memory", path); return NULL; }
    t->kind = TOK_LLAMA2C;
    t->vocab_size = n;
    t->max_token_length = maxlen;
    t->bos = n > 1 ? 1 : -1; /* run.c's fixed ids */
    t->eos = n > 2 ? 2 : -1;
    t->unk = 0;
    t->prepend_space = 1;
    t->decode_strip = 1;
    t->piece = calloc((size_t)n, sizeof *t->piece);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    t->score = calloc((size_t)n, sizeof *t->score);
    if (!t->piece || !t->piece_len || !t->score) goto oom;
    off = 4;
    for (int i = 0; i < n; i++) {
        int32_t l;
        memcpy(&t->score[i], buf + off, 4);
        memcpy(&l, buf + off + 4, 4);
        if (!isfinite(t->score[i])) {
            snprintf(err, QB_ERRLEN, "%s: token %d has a non-finite score", path, i);
            tokenizer_free(t);
            return NULL;
        }
        t->piece[i] = malloc((size_t)l + 1);
        if (!t->piece[i]) goto oom;
        memcpy(t->piece[i], buf + off + 8, (size_t)l);
        t->piece[i][l] = 0;
        t->piece_len[i] = l;
        off += 8 + (size_t)l;
    }
    if (tokenizer_index(t)) goto oom;
    return t;
oom:
    snprintf(err, QB_ERRLEN, "%s: out of memory", path);
    tokenizer_free(t);
    return NULL;
}

Tokenizer *tokenizer_load(const char *path, int vocab_size, char err[QB_ERRLEN]) {
    if (vocab_size < 0) { snprintf(err, QB_ERRLEN, "%s: bad vocab_size %d", path, vocab_size); return NULL; }
    size_t len;
    char *buf = qb_read_file(path, &len, err);
    if (!buf) return NULL;
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')) i++;
    int json = i < len && (buf[i] == '{' || buf[i] == '['); /* a tokenizer.bin starts with a small int32 */
    int gguf = len >= 4 && memcmp(buf, "GGUF", 4) == 0;
    free(buf);
    if (json) return tokenizer_load_hf(path, vocab_size, err);
    if (gguf) return tokenizer_load_gguf(path, vocab_size, err);
    buf = qb_read_file(path, &len, err);
    if (!buf) return NULL;
    Tokenizer *t = load_llama2c(path, (const unsigned char *)buf, len, vocab_size, err);
    free(buf);
    return t;
}

/* run.c merge rule: (a, b) merges when the string a‖b is a token; best = highest score. */
static int llama2c_pair(const Tokenizer *t, int a, int b, int *new_id, double *prio) {
    int id = strmap_find2(&t->vocab, t, t->piece[a], (size_t)t->piece_len[a], t->piece[b], (size_t)t->piece_len[b]);
    if (id < 0) return 0;
    *new_id = id;
    *prio = -(double)t->score[id];
    return 1;
}

static int push_bytes(const Tokenizer *t, IntVec *out, const unsigned char *s, size_t n, char err[QB_ERRLEN]) {
    for (size_t i = 0; i < n; i++) {
        /* the <0xNN> token; run.c assumes it is byte + 3, which holds for llama2.c's vocabularies */
        int id = t->byte_id[s[i]] >= 0 ? t->byte_id[s[i]] : s[i] + 3;
        if (id >= t->vocab_size) {
            snprintf(err, QB_ERRLEN, "tokenizer: byte 0x%02X has no token (vocab of %d)", s[i], t->vocab_size);
            return -1;
        }
        if (intvec_push(out, id)) { snprintf(err, QB_ERRLEN, "tokenizer: out of memory"); return -1; }
    }
    return 0;
}

static int encode_llama2c(const Tokenizer *t, const char *text, size_t len, IntVec *out, char err[QB_ERRLEN]) {
    const unsigned char *s = (const unsigned char *)text;
    size_t first = (size_t)out->n;
    if (len > 0 && t->prepend_space) { /* run.c's dummy prefix: the token for " " */
        int sp = strmap_find2(&t->vocab, t, " ", 1, "", 0);
        if (sp >= 0 ? intvec_push(out, sp) : push_bytes(t, out, (const unsigned char *)" ", 1, err)) {
            if (sp >= 0) snprintf(err, QB_ERRLEN, "tokenizer: out of memory");
            return -1;
        }
    }
    /* code points as run.c groups them: a lead byte plus up to 3 continuation bytes */
    for (size_t i = 0; i < len;) {
        size_t j = i + 1;
        while (j < len && (s[j] & 0xC0) == 0x80 && j - i < 4) j++;
        int id = strmap_find2(&t->vocab, t, text + i, j - i, "", 0);
        if (id >= 0) {
            if (intvec_push(out, id)) { snprintf(err, QB_ERRLEN, "tokenizer: out of memory"); return -1; }
        } else if (push_bytes(t, out, s + i, j - i, err)) {
            return -1;
        }
        i = j;
    }
    /* (no tokens: out->v may be NULL, and NULL + 0 is undefined) */
    int m = out->n > (int)first ? bpe_merge(t, llama2c_pair, out->v + first, out->n - (int)first) : 0;
    if (m < 0) { snprintf(err, QB_ERRLEN, "tokenizer: out of memory"); return -1; }
    out->n = (int)first + m;
    return 0;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n,
                     char err[QB_ERRLEN]) {
    IntVec out = {0};
    *ids = NULL;
    *n = 0;
    if (len > (size_t)0x7fffffff / 2) { snprintf(err, QB_ERRLEN, "tokenizer: text of %zu bytes is too long", len); return -1; }
    if (add_bos && t->bos >= 0 && intvec_push(&out, t->bos)) {
        snprintf(err, QB_ERRLEN, "tokenizer: out of memory");
        return -1;
    }
    int rc = t->kind == TOK_LLAMA2C ? encode_llama2c(t, text, len, &out, err) : tokenizer_encode_hf(t, text, len, &out, err);
    if (rc) { free(out.v); return -1; }
    if (out.n == 0) { /* a valid, empty result still gets a buffer the caller can free */
        out.v = malloc(sizeof(int));
        if (!out.v) { snprintf(err, QB_ERRLEN, "tokenizer: out of memory"); return -1; }
    }
    *ids = out.v;
    *n = out.n;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------------------- */

static int is_control(const Tokenizer *t, int id) {
    return id >= 0 && id < t->vocab_size && (id == t->bos || id == t->eos || (t->flags[id] & TOKF_CONTROL));
}


/* Text of one token written into dst (room for piece_len[id] + 1 bytes: decoding never makes a piece
 * longer), NUL-terminated; returns its length. `first`: the token starts the text (after BOS), where
 * the leading space the encoder added is removed. */
static size_t piece_into(const Tokenizer *t, int prev, int id, char *dst) {
    dst[0] = 0;
    if (id < 0 || id >= t->vocab_size || !t->piece[id] || is_control(t, id)) return 0;
    const char *p = t->piece[id];
    size_t n = (size_t)t->piece_len[id], o = 0;
    int first = prev == t->bos || prev < 0;
    if (t->flags[id] & TOKF_BYTE) { /* byte fallback token -> raw byte */
        unsigned v = 0;
        sscanf(p, "<0x%2X", &v);
        dst[0] = (char)v;
        dst[1] = 0;
        return 1;
    }
    if (t->kind == TOK_LLAMA2C) {
        /* run.c: only after BOS; and only the space the encoder added */
        if (first && prev == t->bos && t->prepend_space && n > 0 && p[0] == ' ') { p++; n--; }
        memcpy(dst, p, n);
        o = n;
    } else if (t->bytelevel) {
        int added = t->flags[id] & TOKF_ADDED;
        for (size_t i = 0; i < n;) {
            int32_t cp;
            int k = utf8_next((const unsigned char *)p + i, n - i, &cp);
            int b = added ? -1 : bytelevel_byte(cp);
            if (b >= 0) dst[o++] = (char)b;
            else { memcpy(dst + o, p + i, (size_t)k); o += (size_t)k; }
            i += (size_t)k;
        }
    } else {
        for (size_t i = 0; i < n;) {
            if (t->decode_meta && n - i >= 3 && memcmp(p + i, "\xE2\x96\x81", 3) == 0) {
                dst[o++] = ' ';
                i += 3;
            } else {
                dst[o++] = p[i++];
            }
        }
    }
    dst[o] = 0;
    if (t->kind == TOK_HF && first && t->decode_strip && t->prepend_space && o > 0 && dst[0] == ' ') {
        memmove(dst, dst + 1, o); /* includes the NUL */
        o--;
    }
    return o;
}

const char *tokenizer_piece(const Tokenizer *t, int prev, int id, size_t *len) {
    Tokenizer *mt = (Tokenizer *)t; /* the returned scratch is the only state a piece touches */
    size_t need = (id >= 0 && id < t->vocab_size && t->piece[id] ? (size_t)t->piece_len[id] : 0) + 2;
    *len = 0;
    if (qb_grow((void **)&mt->scratch, &mt->scratch_cap, need, 1)) return "";
    *len = piece_into(t, prev, id, mt->scratch);
    return mt->scratch;
}

/* Thread-safe: writes straight into its own buffer, not the tokenizer's scratch. */
char *tokenizer_decode(const Tokenizer *t, const int *ids, int n) {
    size_t cap = 0, o = 0;
    char *out = NULL;
    if (qb_grow((void **)&out, &cap, 64, 1)) return NULL;
    int prev = t->bos >= 0 ? t->bos : -1; /* decoding starts a text: strip the encoder's dummy space */
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        size_t need = (id >= 0 && id < t->vocab_size && t->piece[id] ? (size_t)t->piece_len[id] : 0) + 2;
        if (qb_grow((void **)&out, &cap, o + need, 1)) { free(out); return NULL; }
        o += piece_into(t, prev, id, out + o);
        if (!is_control(t, id)) prev = id;
    }
    out[o] = 0;
    return out;
}

/* ---- finding the tokenizer of a model ---------------------------------------------------------- */

static int exists_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int tokenizer_find_for_model(const char *model_path, char *out, size_t outlen) {
    struct stat st;
    if (!model_path || stat(model_path, &st) != 0) return -1;
    size_t ml = strlen(model_path);
    if (S_ISREG(st.st_mode) && ml >= 5 && strcmp(model_path + ml - 5, ".gguf") == 0) {
        if (ml + 1 > outlen) return -1; /* a GGUF file carries its own vocabulary */
        memcpy(out, model_path, ml + 1);
        return 0;
    }
    char dir[4096];
    if (S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s", model_path);
    } else {
        const char *slash = strrchr(model_path, '/');
        if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - model_path), model_path);
        else snprintf(dir, sizeof dir, ".");
        if (dir[0] == 0) snprintf(dir, sizeof dir, "/");
    }
    char cand[4096 + 320];
    const char *fixed[] = {"tokenizer.json", "tokenizer.bin"};
    for (int i = 0; i < 2; i++) {
        snprintf(cand, sizeof cand, "%s/%s", dir, fixed[i]);
        if (exists_file(cand) && strcmp(cand, model_path) != 0) {
            if (strlen(cand) + 1 > outlen) return -1;
            memcpy(out, cand, strlen(cand) + 1);
            return 0;
        }
    }
    /* tok*.bin beside a llama2.c checkpoint (tok512.bin); the alphabetically first one */
    DIR *d = opendir(dir);
    if (!d) return -1;
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l >= 7 && l < sizeof best && strncmp(e->d_name, "tok", 3) == 0 && strcmp(e->d_name + l - 4, ".bin") == 0 &&
            (best[0] == 0 || strcmp(e->d_name, best) < 0)) {
            snprintf(cand, sizeof cand, "%s/%s", dir, e->d_name);
            if (exists_file(cand) && strcmp(cand, model_path) != 0) memcpy(best, e->d_name, l + 1);
        }
    }
    closedir(d);
    if (!best[0]) return -1;
    snprintf(cand, sizeof cand, "%s/%s", dir, best);
    if (strlen(cand) + 1 > outlen) return -1;
    memcpy(out, cand, strlen(cand) + 1);
    return 0;
}

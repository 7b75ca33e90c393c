/* tokenizer_hf.c — Hugging Face tokenizer.json (the `tokenizers` library's format), BPE model only:
 *   - SentencePiece style: normalizer Prepend "▁" + Replace " " -> "▁" (Llama-2 legacy, TinyStories) or a
 *     Metaspace pre-tokenizer; byte_fallback to <0xNN> tokens; unknown characters -> unk, fused.
 *   - GPT-2 byte-level style (Llama-3, Qwen2, GPT-2): a regex split, then every byte mapped to a
 *     printable character, then BPE over those characters.
 * Added tokens are matched in the raw text before anything else (longest match first). The
 * post-processor's leading special token is BOS. Every field is checked; errors name the file.
 * Known simplifications (documented, not silent): added tokens marked `normalized` are matched in the
 * raw text rather than the normalized one; lstrip/rstrip/single_word are ignored; a TemplateProcessing
 * EOS after the sequence is not added. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#include <utf8proc.h>

#include "model/tokenizer_internal.h"

#define META "\xE2\x96\x81" /* U+2581 "▁" */

static const char GPT2_RE[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct { const char *path; char *err; int no_sidecar; } Ctx;

__attribute__((format(printf, 2, 3))) static int fail(Ctx *c, const char *fmt, ...) {
    char msg[QB_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, QB_ERRLEN, "%.200s: %.300s", c->path, msg);
    return -1;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int bool_of(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

/* A JSON number that is an integer id in [0, 2^30). */
static int id_of(const cJSON *v, long *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d < (double)(1 << 30)) || d != (double)(long)d) return -1;
    *out = (long)d;
    return 0;
}

static int lookup(const Tokenizer *t, const char *s) { return strmap_find2(&t->vocab, t, s, strlen(s), "", 0); }

/* ---- loading pieces ---------------------------------------------------------------------------- */

static int load_vocab(Ctx *c, Tokenizer *t, const cJSON *model, const cJSON *added, int vocab_size) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return fail(c, "model.vocab is missing or not an object");
    long n = 0, id;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (id_of(e, &id)) return fail(c, "model.vocab[\"%s\"] is not a valid id", e->string);
        if (id + 1 > n) n = id + 1;
    }
    cJSON_ArrayForEach(e, added) {
        if (!cJSON_IsObject(e) || id_of(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !str_of(e, "content") ||
            !str_of(e, "content")[0])
            return fail(c, "added_tokens: an entry is malformed (needs an id and a non-empty content)");
        if (id + 1 > n) n = id + 1;
    }
    if (n == 0) return fail(c, "empty vocabulary");
    /* ids are dense in every real file; a lone huge id would make us allocate for nothing */
    long entries = (long)cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
    if (n > entries) return fail(c, "token id %ld is beyond the %ld vocabulary and added entries", n - 1, entries);
    if (vocab_size && n > vocab_size) return fail(c, "token id %ld is beyond the model's vocab_size", n - 1);
    t->vocab_size = (int)n;
    t->piece = calloc((size_t)n, sizeof *t->piece);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    if (!t->piece || !t->piece_len) return fail(c, "out of memory");
    cJSON_ArrayForEach(e, vocab) {
        id_of(e, &id);
        if (t->piece[id]) return fail(c, "model.vocab: id %ld is used twice", id);
        if (!(t->piece[id] = strdup(e->string))) return fail(c, "out of memory");
        t->piece_len[id] = (int)strlen(e->string);
    }
    int na = cJSON_GetArraySize(added);
    t->added = calloc((size_t)na + 1, sizeof *t->added);
    if (!t->added) return fail(c, "out of memory");
    cJSON_ArrayForEach(e, added) {
        id_of(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        const char *s = str_of(e, "content");
        AddedToken *a = &t->added[t->n_added++];
        if (!(a->s = strdup(s))) return fail(c, "out of memory");
        a->len = (int)strlen(s);
        a->id = (int)id;
        a->special = bool_of(e, "special", 0);
        if (!t->piece[id]) {
            if (!(t->piece[id] = strdup(s))) return fail(c, "out of memory");
            t->piece_len[id] = a->len;
        } else if (strcmp(t->piece[id], s) != 0) {
            return fail(c, "added token \"%s\" reuses id %ld of another vocabulary entry", s, id);
        }
    }
    return 0;
}

static int load_merges(Ctx *c, Tokenizer *t, const cJSON *model) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!merges) return 0;
    if (!cJSON_IsArray(merges)) return fail(c, "model.merges is not an array");
    int n = cJSON_GetArraySize(merges);
    t->merge_rank_new = malloc(((size_t)n + 1) * sizeof *t->merge_rank_new);
    if (!t->merge_rank_new || pairmap_init(&t->pairs, (size_t)n)) return fail(c, "out of memory");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a = NULL, *b = NULL;
        size_t la = 0;
        if (cJSON_IsString(m)) { /* "left right" */
            const char *sp = strchr(m->valuestring, ' ');
            if (sp) { a = m->valuestring; la = (size_t)(sp - a); b = sp + 1; }
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) { /* ["left", "right"] */
            a = m->child->valuestring; la = strlen(a); b = m->child->next->valuestring;
        }
        if (!a) return fail(c, "model.merges[%ld] is neither \"a b\" nor [\"a\", \"b\"]", (long)i);
        int ia = strmap_find2(&t->vocab, t, a, la, "", 0), ib = lookup(t, b);
        int inew = strmap_find2(&t->vocab, t, a, la, b, strlen(b));
        if (ia < 0 || ib < 0 || inew < 0)
            return fail(c, "model.merges[%ld]: a part or the merged token is not in the vocab", (long)i);
        t->merge_rank_new[i] = inew;
        pairmap_put(&t->pairs, ia, ib, i);
        i++;
    }
    t->n_merges = n;
    return 0;
}

/* ---- pipeline parts ---------------------------------------------------------------------------- */

static int add_norm(Ctx *c, Tokenizer *t, NormKind k, const char *a, const char *b) {
    NormStep *p = realloc(t->norm, ((size_t)t->n_norm + 1) * sizeof *p);
    if (!p) return fail(c, "out of memory");
    t->norm = p;
    NormStep *s = &t->norm[t->n_norm++];
    s->kind = k;
    s->a = a ? strdup(a) : NULL;
    s->b = b ? strdup(b) : NULL;
    if ((a && !s->a) || (b && !s->b)) return fail(c, "out of memory");
    return 0;
}

static int parse_normalizer(Ctx *c, Tokenizer *t, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = str_of(n, "type");
    if (!type || depth > 8) return fail(c, "normalizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return fail(c, "normalizer Sequence without a normalizers array");
        cJSON_ArrayForEach(e, list) if (parse_normalizer(c, t, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(type, "Prepend")) {
        const char *p = str_of(n, "prepend");
        if (!p) return fail(c, "normalizer Prepend without a prepend string");
        return add_norm(c, t, NORM_PREPEND, p, NULL);
    }
    if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *from = pat ? str_of(pat, "String") : NULL, *to = str_of(n, "content");
        if (!from || !from[0] || !to) return fail(c, "normalizer Replace: only a non-empty String pattern is supported");
        return add_norm(c, t, NORM_REPLACE, from, to);
    }
    if (!strcmp(type, "NFC")) return add_norm(c, t, NORM_NFC, NULL, NULL);
    if (!strcmp(type, "NFKC")) return add_norm(c, t, NORM_NFKC, NULL, NULL);
    if (!strcmp(type, "NFD")) return add_norm(c, t, NORM_NFD, NULL, NULL);
    if (!strcmp(type, "NFKD")) return add_norm(c, t, NORM_NFKD, NULL, NULL);
    if (!strcmp(type, "Lowercase")) return add_norm(c, t, NORM_LOWERCASE, NULL, NULL);
    return fail(c, "unsupported normalizer type \"%s\"", type);
}

static int parse_pretok(Ctx *c, Tokenizer *t, const cJSON *p, int depth) {
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = str_of(p, "type");
    if (!type || depth > 8) return fail(c, "pre_tokenizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return fail(c, "pre_tokenizer Sequence without a pretokenizers array");
        cJSON_ArrayForEach(e, list) if (parse_pretok(c, t, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(type, "Metaspace")) {
        const char *rep = str_of(p, "replacement");
        if (!rep || strlen(rep) >= sizeof t->metaspace_rep || !rep[0])
            return fail(c, "pre_tokenizer Metaspace: bad replacement");
        t->metaspace = 1;
        strcpy(t->metaspace_rep, rep);
        const char *scheme = str_of(p, "prepend_scheme");
        if (scheme) {
            if (!strcmp(scheme, "always")) t->metaspace_prepend = 1;
            else if (!strcmp(scheme, "first")) t->metaspace_prepend = 1, t->metaspace_first_only = 1;
            else if (!strcmp(scheme, "never")) t->metaspace_prepend = 0;
            else return fail(c, "pre_tokenizer Metaspace: unknown prepend_scheme \"%s\"", scheme);
        } else {
            t->metaspace_prepend = bool_of(p, "add_prefix_space", 1);
        }
        t->metaspace_split = bool_of(p, "split", 1);
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        t->bytelevel = 1;
        t->bytelevel_prefix_space = bool_of(p, "add_prefix_space", 0);
        if (bool_of(p, "use_regex", 1)) {
            if (t->split != SPLIT_NONE && t->split != SPLIT_GPT2)
                return fail(c, "pre_tokenizer: a Split regex and ByteLevel use_regex together");
            t->split = SPLIT_GPT2;
        }
        return 0;
    }
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *re = pat ? str_of(pat, "Regex") : NULL, *beh = str_of(p, "behavior");
        if (!re || (beh && strcmp(beh, "Isolated")) || bool_of(p, "invert", 0))
            return fail(c, "pre_tokenizer Split: only an Isolated, non-inverted Regex pattern is supported");
        if (t->split != SPLIT_NONE) return fail(c, "pre_tokenizer: more than one Split");
        if (!strcmp(re, LLAMA3_RE)) t->split = SPLIT_LLAMA3;
        else if (!strcmp(re, QWEN2_RE)) t->split = SPLIT_QWEN2;
        else if (!strcmp(re, GPT2_RE)) t->split = SPLIT_GPT2;
        else return fail(c, "pre_tokenizer Split: unsupported regex %.80s", re);
        return 0;
    }
    return fail(c, "unsupported pre_tokenizer type \"%s\"", type);
}

static void parse_decoder(Tokenizer *t, const cJSON *d, int depth) {
    if (!d || depth > 8) return;
    const char *type = str_of(d, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "decoders")) parse_decoder(t, e, depth + 1);
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(d, "pattern");
        const char *from = pat ? str_of(pat, "String") : NULL, *to = str_of(d, "content");
        if (from && to && !strcmp(from, META) && !strcmp(to, " ")) t->decode_meta = 1;
    } else if (!strcmp(type, "Strip")) {
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(d, "start");
        const char *content = str_of(d, "content");
        if (cJSON_IsNumber(start) && start->valuedouble >= 1 && content && !strcmp(content, " ")) t->decode_strip = 1;
    } else if (!strcmp(type, "Metaspace")) {
        t->decode_meta = 1;
        const char *scheme = str_of(d, "prepend_scheme");
        t->decode_strip = scheme ? strcmp(scheme, "never") != 0 : bool_of(d, "add_prefix_space", 1);
    }
}

/* BOS: the special token that TemplateProcessing puts before the sequence. */
static int find_bos(Ctx *c, Tokenizer *t, const cJSON *pp, int depth) {
    if (!pp || depth > 8) return 0;
    const char *type = str_of(pp, "type");
    if (!type) return 0;
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors")) if (find_bos(c, t, e, depth + 1)) return -1;
        return 0;
    }
    if (strcmp(type, "TemplateProcessing")) return 0;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    const cJSON *first = cJSON_IsArray(single) ? single->child : NULL;
    const cJSON *sp = first ? cJSON_GetObjectItemCaseSensitive(first, "SpecialToken") : NULL;
    const char *name = sp ? str_of(sp, "id") : NULL;
    if (!name) return 0;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pp, "special_tokens"), name);
    const cJSON *ids = st ? cJSON_GetObjectItemCaseSensitive(st, "ids") : NULL;
    long id = -1;
    if (cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == 1) {
        if (id_of(ids->child, &id) || id >= t->vocab_size)
            return fail(c, "post_processor: special token \"%s\" has a bad id", name);
    } else {
        id = lookup(t, name);
        if (id < 0) return fail(c, "post_processor: special token \"%s\" is not in the vocab", name);
    }
    t->bos = (int)id;
    return 0;
}

/* tokenizer_config.json beside tokenizer.json, when present: names the EOS (and BOS without a template). */
static int read_sidecar(Ctx *c, Tokenizer *t) {
    char side[4200];
    const char *slash = strrchr(c->path, '/');
    snprintf(side, sizeof side, "%.*stokenizer_config.json", slash ? (int)(slash - c->path + 1) : 0, c->path);
    FILE *f = fopen(side, "rb");
    if (!f) return 0;
    fclose(f);
    size_t len;
    char err2[QB_ERRLEN];
    char *buf = qb_read_file(side, &len, err2);
    if (!buf) { memcpy(c->err, err2, QB_ERRLEN); return -1; }
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(c->err, QB_ERRLEN, "%.400s: malformed JSON", side);
        return -1;
    }
    const char *keys[2] = {"eos_token", "bos_token"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        const char *name = cJSON_IsString(v) ? v->valuestring : v ? str_of(v, "content") : NULL;
        int id = name ? lookup(t, name) : -1;
        if (k == 0 && id >= 0) t->eos = id;
        if (k == 1 && id >= 0 && t->bos < 0 && bool_of(root, "add_bos_token", 0)) t->bos = id;
    }
    cJSON_Delete(root);
    return 0;
}

static int load(Ctx *c, Tokenizer *t, const cJSON *root, int vocab_size) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return fail(c, "no \"model\" object");
    const char *type = str_of(model, "type");
    if (type && strcmp(type, "BPE")) return fail(c, "model type \"%s\" is not supported (BPE only)", type);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) return fail(c, "added_tokens is not an array");
    if (load_vocab(c, t, model, cJSON_IsArray(added) ? added : NULL, vocab_size)) return -1;
    if (tokenizer_index(t)) return fail(c, "out of memory");
    const char *unk = str_of(model, "unk_token");
    t->unk = unk ? lookup(t, unk) : -1;
    if (unk && t->unk < 0) return fail(c, "unk_token \"%s\" is not in the vocab", unk);
    if (t->unk >= 0) t->flags[t->unk] &= (unsigned char)~TOKF_CONTROL; /* <unk> is shown when decoding */
    if (load_merges(c, t, model)) return -1;
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble != 0) return fail(c, "BPE dropout is not supported");
    const char *pre = str_of(model, "continuing_subword_prefix"), *suf = str_of(model, "end_of_word_suffix");
    if ((pre && pre[0]) || (suf && suf[0])) return fail(c, "continuing_subword_prefix / end_of_word_suffix are not supported");
    t->byte_fallback = bool_of(model, "byte_fallback", 0);
    t->fuse_unk = bool_of(model, "fuse_unk", 0);
    t->ignore_merges = bool_of(model, "ignore_merges", 0);
    if (parse_normalizer(c, t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0)) return -1;
    if (parse_pretok(c, t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0)) return -1;
    if (t->bytelevel && t->metaspace) return fail(c, "ByteLevel and Metaspace together are not supported");
    if (t->split != SPLIT_NONE && !t->bytelevel) return fail(c, "a Split pre_tokenizer without ByteLevel is not supported");
    parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0);
    t->bos = t->eos = -1;
    if (find_bos(c, t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0)) return -1;
    if (!c->no_sidecar && read_sidecar(c, t)) return -1;
    if (t->eos < 0) { /* common names, when no config says */
        const char *names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"};
        for (int i = 0; i < 4 && t->eos < 0; i++) t->eos = lookup(t, names[i]);
    }
    if (t->bytelevel)
        for (int b = 0; b < 256; b++) {
            char u[4];
            int n = (int)utf8proc_encode_char(bytelevel_cp(b), (utf8proc_uint8_t *)u);
            t->byte_sym[b] = strmap_find2(&t->vocab, t, u, (size_t)n, "", 0);
        }
    t->prepend_space = 1;
    return 0;
}

Tokenizer *tokenizer_load_hf(const char *path, int vocab_size, char err[QB_ERRLEN]) {
    size_t len;
    char *buf = qb_read_file(path, &len, err);
    if (!buf) return NULL;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= buf && at <= buf + len ? (long)(at - buf) : -1;
        snprintf(err, QB_ERRLEN, "%s: malformed JSON near byte %ld", path, off);
        free(buf);
        return NULL;
    }
    free(buf);
    Tokenizer *t = tokenizer_from_hf_json(root, path, vocab_size, 0, err);
    cJSON_Delete(root);
    return t;
}

Tokenizer *tokenizer_from_hf_json(const cJSON *root, const char *path, int vocab_size, int no_sidecar,
                                  char err[QB_ERRLEN]) {
    Tokenizer *t = calloc(1, sizeof *t);
    Ctx c = {path, err, no_sidecar};
    if (!t) { fail(&c, "out of memory"); return NULL; }
    t->kind = TOK_HF;
    int rc = cJSON_IsObject(root) ? load(&c, t, root, vocab_size) : fail(&c, "top level is not an object");
    if (rc) { tokenizer_free(t); return NULL; }
    return t;
}

/* ---- encoding ---------------------------------------------------------------------------------- */

static int hf_pair(const Tokenizer *t, int a, int b, int *new_id, double *prio) {
    int r = pairmap_get(&t->pairs, a, b);
    if (r < 0) return 0;
    *new_id = t->merge_rank_new[r];
    *prio = r;
    return 1;
}

typedef struct { char *s; size_t n, cap; } Buf;

static int buf_add(Buf *b, const char *s, size_t n) {
    if (qb_grow((void **)&b->s, &b->cap, b->n + n + 1, 1)) return -1;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

/* s with every `from` replaced by `to` */
static int replace_all(Buf *out, const char *s, size_t n, const char *from, const char *to) {
    size_t lf = strlen(from), lt = strlen(to);
    out->n = 0;
    if (buf_add(out, "", 0)) return -1;
    for (size_t i = 0; i < n;) {
        if (n - i >= lf && memcmp(s + i, from, lf) == 0) {
            if (buf_add(out, to, lt)) return -1;
            i += lf;
        } else {
            if (buf_add(out, s + i, 1)) return -1;
            i++;
        }
    }
    return 0;
}

typedef struct {
    const Tokenizer *t;
    IntVec *out;
    IntVec sym;
    char *err;
} Enc;

static int oom(Enc *e) { snprintf(e->err, QB_ERRLEN, "tokenizer: out of memory"); return -1; }

static int merge_and_emit(Enc *e) {
    int m = bpe_merge(e->t, hf_pair, e->sym.v, e->sym.n);
    if (m < 0) return oom(e);
    for (int i = 0; i < m; i++)
        if (intvec_push(e->out, e->sym.v[i])) return oom(e);
    e->sym.n = 0;
    return 0;
}

/* One pre-token of the SentencePiece style: characters -> ids (byte fallback, fused unk) -> merges. */
static int encode_chars(Enc *e, const char *s, size_t n) {
    const Tokenizer *t = e->t;
    if (n == 0) return 0;
    int whole;
    if (t->ignore_merges && (whole = strmap_find2(&t->vocab, t, s, n, "", 0)) >= 0)
        return intvec_push(e->out, whole) ? oom(e) : 0;
    int last_unk = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t k = (size_t)utf8_next((const unsigned char *)s + i, n - i, &cp);
        int id = strmap_find2(&t->vocab, t, s + i, k, "", 0);
        if (id >= 0) {
            if (intvec_push(&e->sym, id)) return oom(e);
            last_unk = 0;
        } else {
            int all = t->byte_fallback;
            for (size_t j = 0; j < k && all; j++) all = t->byte_id[(unsigned char)s[i + j]] >= 0;
            if (all) {
                for (size_t j = 0; j < k; j++)
                    if (intvec_push(&e->sym, t->byte_id[(unsigned char)s[i + j]])) return oom(e);
                last_unk = 0;
            } else if (t->unk < 0) {
                snprintf(e->err, QB_ERRLEN, "tokenizer: character at byte %zu of a pre-token is not in the vocab and there is no unk_token", i);
                return -1;
            } else if (!(t->fuse_unk && last_unk)) {
                if (intvec_push(&e->sym, t->unk)) return oom(e);
                last_unk = 1;
            }
        }
        i += k;
    }
    return merge_and_emit(e);
}

/* One pre-token of the byte-level style. */
static int encode_bytes(void *ctx, size_t start, size_t n);
typedef struct { Enc *e; const char *s; } BytesCtx;

static int encode_bytes(void *ctx, size_t start, size_t n) {
    BytesCtx *bc = ctx;
    Enc *e = bc->e;
    const Tokenizer *t = e->t;
    const unsigned char *s = (const unsigned char *)bc->s + start;
    if (t->ignore_merges) {
        Buf m = {0};
        for (size_t i = 0; i < n; i++) {
            char u[4];
            int k = (int)utf8proc_encode_char(bytelevel_cp(s[i]), (utf8proc_uint8_t *)u);
            if (buf_add(&m, u, (size_t)k)) { free(m.s); return oom(e); }
        }
        int whole = m.s ? strmap_find2(&t->vocab, t, m.s, m.n, "", 0) : -1;
        free(m.s);
        if (whole >= 0) return intvec_push(e->out, whole) ? oom(e) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        int id = t->byte_sym[s[i]];
        if (id < 0) id = t->unk;
        if (id < 0) {
            snprintf(e->err, QB_ERRLEN, "tokenizer: byte 0x%02X has no byte-level token and there is no unk_token", s[i]);
            return -1;
        }
        if (intvec_push(&e->sym, id)) return oom(e);
    }
    return merge_and_emit(e);
}

static int apply_norms(Enc *e, Buf *cur, int prepend_ok) {
    const Tokenizer *t = e->t;
    Buf tmp = {0};
    for (int i = 0; i < t->n_norm; i++) {
        const NormStep *st = &t->norm[i];
        if (cur->n == 0) break; /* HF normalizers leave an empty string empty */
        int rc = 0;
        if (st->kind == NORM_PREPEND) {
            if (!prepend_ok) continue;
            tmp.n = 0;
            rc = buf_add(&tmp, st->a, strlen(st->a)) || buf_add(&tmp, cur->s, cur->n);
        } else if (st->kind == NORM_REPLACE) {
            rc = replace_all(&tmp, cur->s, cur->n, st->a, st->b);
        } else {
            utf8proc_uint8_t *dst = NULL;
            int opt = UTF8PROC_STABLE;
            if (st->kind == NORM_NFC) opt |= UTF8PROC_COMPOSE;
            if (st->kind == NORM_NFKC) opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
            if (st->kind == NORM_NFD) opt |= UTF8PROC_DECOMPOSE;
            if (st->kind == NORM_NFKD) opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
            if (st->kind == NORM_LOWERCASE) opt |= UTF8PROC_CASEFOLD;
            utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)cur->s, (utf8proc_ssize_t)cur->n, &dst, opt);
            if (k < 0) {
                free(tmp.s);
                snprintf(e->err, QB_ERRLEN, "tokenizer: the text is not valid UTF-8 (needed by the Unicode normalizer)");
                return -1;
            }
            tmp.n = 0;
            rc = buf_add(&tmp, (const char *)dst, (size_t)k);
            free(dst);
        }
        if (rc) { free(tmp.s); return oom(e); }
        Buf sw = *cur; *cur = tmp; tmp = sw;
    }
    free(tmp.s);
    return 0;
}

/* A stretch of text between added tokens. `at_start`: it begins the text. */
static int encode_segment(Enc *e, const char *s, size_t n, int at_start) {
    const Tokenizer *t = e->t;
    if (n == 0) return 0;
    Buf cur = {0};
    if (buf_add(&cur, s, n)) return oom(e);
    int rc = apply_norms(e, &cur, t->prepend_space);
    if (rc == 0 && t->metaspace) {
        Buf tmp = {0};
        if (replace_all(&tmp, cur.s, cur.n, " ", t->metaspace_rep)) rc = oom(e);
        free(cur.s);
        cur = tmp;
        size_t lr = strlen(t->metaspace_rep);
        if (rc == 0 && cur.n && t->prepend_space && t->metaspace_prepend && (at_start || !t->metaspace_first_only) &&
            !(cur.n >= lr && memcmp(cur.s, t->metaspace_rep, lr) == 0)) {
            Buf p = {0};
            if (buf_add(&p, t->metaspace_rep, lr) || buf_add(&p, cur.s, cur.n)) rc = oom(e);
            free(cur.s);
            cur = p;
        }
        if (rc == 0 && t->metaspace_split) { /* each word starts at a replacement character */
            size_t w = 0;
            for (size_t i = lr; i + lr <= cur.n && rc == 0; i++)
                if (memcmp(cur.s + i, t->metaspace_rep, lr) == 0) {
                    rc = encode_chars(e, cur.s + w, i - w);
                    w = i;
                }
            if (rc == 0) rc = encode_chars(e, cur.s + w, cur.n - w);
        } else if (rc == 0) {
            rc = encode_chars(e, cur.s, cur.n);
        }
    } else if (rc == 0 && t->bytelevel) {
        if (cur.n && t->bytelevel_prefix_space && t->prepend_space && cur.s[0] != ' ') {
            Buf p = {0};
            if (buf_add(&p, " ", 1) || buf_add(&p, cur.s, cur.n)) rc = oom(e);
            free(cur.s);
            cur = p;
        }
        BytesCtx bc = {e, cur.s};
        if (rc == 0) {
            rc = split_pretokens(t->split, cur.s, cur.n, encode_bytes, &bc);
            if (rc > 0 || (rc < 0 && !e->err[0])) rc = oom(e);
        }
    } else if (rc == 0) {
        rc = encode_chars(e, cur.s, cur.n);
    }
    free(cur.s);
    return rc;
}

/* The longest added token at s[0..n), or -1. */
static int match_added(const Tokenizer *t, const char *s, size_t n, int *len) {
    int best = -1;
    *len = 0;
    for (int i = 0; i < t->n_added; i++) {
        const AddedToken *a = &t->added[i];
        if ((size_t)a->len <= n && a->len > *len && a->s[0] == s[0] && memcmp(a->s, s, (size_t)a->len) == 0) {
            best = a->id;
            *len = a->len;
        }
    }
    return best;
}

int tokenizer_encode_hf(const Tokenizer *t, const char *text, size_t len, IntVec *out, char err[QB_ERRLEN]) {
    Enc e = {t, out, {0}, err};
    err[0] = 0;
    /* which first bytes can start an added token: a cheap filter before the scan */
    unsigned char can[256] = {0};
    for (int i = 0; i < t->n_added; i++) can[(unsigned char)t->added[i].s[0]] = 1;
    size_t seg = 0;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        int ml, id = can[(unsigned char)text[i]] ? match_added(t, text + i, len - i, &ml) : -1;
        if (id < 0) { i++; continue; }
        rc = encode_segment(&e, text + seg, i - seg, seg == 0);
        if (rc == 0 && intvec_push(out, id)) rc = oom(&e);
        i += (size_t)ml;
        seg = i;
    }
    if (rc == 0) rc = encode_segment(&e, text + seg, len - seg, seg == 0);
    free(e.sym.v);
    return rc;
}

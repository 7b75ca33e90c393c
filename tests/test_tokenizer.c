/* test_tokenizer.c — the llama2.c and Hugging Face tokenizers against independent encodings:
 * tokenizer_examples.json (run.c / rank-BPE encodings computed outside qbench), Debian's SentencePiece
 * (spm_encode with assets/llama2-tokenizer/tokenizer.model, run by hand; ids pasted below), small
 * hand-made tokenizer.json fixtures whose merges can be followed on paper, the byte-level regex split
 * checked against Python's `regex` module, round trips, and malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <cJSON.h>

#include "model/tokenizer.h"
#include "model/tokenizer_internal.h"
#include "tests/common.h"

static char tmpdir[256];

static char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void expect_ids(const Tokenizer *t, const char *text, int add_bos, const int *want, int nwant) {
    int *ids = NULL, n = 0;
    char err[QB_ERRLEN];
    assert_int_equal(tokenizer_encode(t, text, strlen(text), add_bos, &ids, &n, err), 0);
    if (n != nwant) {
        fprintf(stderr, "text [%s]: got %d ids:", text, n);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nwant);
    for (int i = 0; i < n; i++) assert_int_equal(ids[i], want[i]);
    free(ids);
}

static void expect_roundtrip(const Tokenizer *t, const char *text) {
    int *ids = NULL, n = 0;
    char err[QB_ERRLEN];
    assert_int_equal(tokenizer_encode(t, text, strlen(text), 1, &ids, &n, err), 0);
    char *back = tokenizer_decode(t, ids, n);
    assert_non_null(back);
    assert_string_equal(back, text);
    free(back);
    free(ids);
}

/* Compares every example of a tokenizer_examples.json with our encoding (key = which id list). */
/* Encodes every example of the file and checks the ids; returns how many examples were checked. */
static int check_examples(const char *examples, const char *tokpath, const char *key, int prepend) {
    char err[QB_ERRLEN];
    size_t len;
    char *buf = qb_read_file(examples, &len, err);
    assert_non_null(buf);
    cJSON *root = cJSON_Parse(buf);
    assert_non_null(root);
    Tokenizer *t = tokenizer_load(tokpath, 0, err);
    assert_non_null(t);
    tokenizer_set_prepend_space(t, prepend);
    const cJSON *ex;
    int count = 0;
    cJSON_ArrayForEach(ex, cJSON_GetObjectItem(root, "examples")) {
        const char *text = cJSON_GetObjectItem(ex, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(ex, key);
        assert_non_null(want);
        int n = cJSON_GetArraySize(want), *w = malloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) w[i] = cJSON_GetArrayItem(want, i)->valueint;
        expect_ids(t, text, 0, w, n);
        free(w);
        count++;
    }
    tokenizer_free(t);
    cJSON_Delete(root);
    free(buf);
    return count;
}

static void test_stories260k_examples(void **state) {
    (void)state;
    assert_int_equal(check_examples("assets/stories260K/tokenizer_examples.json", "assets/stories260K/tok512.bin",
                                    "ids_without_bos", 1), 3);
}

static void test_656k_examples_both_modes(void **state) {
    (void)state;
    assert_int_equal(check_examples("assets/tinystories-656K/tokenizer_examples.json",
                                    "assets/tinystories-656K/tokenizer.json", "ids_hf_prepend", 1), 3);
    assert_int_equal(check_examples("assets/tinystories-656K/tokenizer_examples.json",
                                    "assets/tinystories-656K/tokenizer.json", "ids_no_prepend", 0), 3);
}

static void test_656k_specials(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Tokenizer *t = tokenizer_load("assets/tinystories-656K/tokenizer.json", 2048, err);
    assert_non_null(t);
    assert_int_equal(tokenizer_vocab_size(t), 2048);
    assert_int_equal(tokenizer_bos(t), 1); /* post_processor <|start_story|> */
    assert_int_equal(tokenizer_eos(t), 2); /* tokenizer_config.json <|end_story|> */
    assert_int_equal(tokenizer_prepend_space(t), 1);
    /* add_bos, then an added token in the middle of the text: the segment after it is normalized on
     * its own (HF applies the Prepend normalizer per segment). "." is 10 and "▁." is absent. */
    /* ▁ On ce▁ up on: merges "o n" (rank 30) and "u p" (108); the vocab has no "upon" */
    const int want[] = {1, 80, 147, 201, 189, 111, 2, 80, 147, 201, 189, 111};
    expect_ids(t, "Once upon<|end_story|>Once upon", 1, want, 12);
    /* decoding: "▁" -> space, the one leading space of the Prepend stripped, control tokens hidden */
    const int ids[] = {1, 80, 147, 201, 189, 111, 2};
    char *s = tokenizer_decode(t, ids, 7);
    assert_string_equal(s, "Once upon");
    free(s);
    expect_roundtrip(t, "Once upon a time, there was a little girl named Lily.");
    tokenizer_set_prepend_space(t, 0);
    expect_roundtrip(t, "Tom and Sam are brothers.\nOne day, Tom said, \"Let's race!\"");
    expect_roundtrip(t, " leading space kept without prepend");
    tokenizer_free(t);
}

/* Ids from Debian sentencepiece 0.1.97:
 *   printf '%s' "$s" | spm_encode --model=assets/llama2-tokenizer/tokenizer.model --output_format=id */
static void test_llama2_vs_sentencepiece(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Tokenizer *t = tokenizer_load("assets/llama2-tokenizer/tokenizer.bin", 32000, err);
    assert_non_null(t);
    const int a[] = {15043, 3186};
    expect_ids(t, "Hello world", 0, a, 2);
    const int b[] = {450, 274, 28059, 471, 1055, 30085, 345, 29871, 29896, 29906, 29941, 29889};
    expect_ids(t, "The café was naïve 123.", 0, b, 12);
    const int c[] = {29871, 30325, 30346, 30968, 30199, 30572, 30454, 30255, 30279, 29871, 243, 162, 156, 133, 953, 29877, 2397};
    expect_ids(t, "日本語のテキスト 🙂 emoji", 0, c, 17);
    const int d[] = {1, 306, 29915, 29885, 1854, 372, 29915, 29879, 2691, 29892, 3508, 29915, 29873, 372, 29973};
    expect_ids(t, "I'm sure it's fine, isn't it?", 1, d, 15);
    const int e[] = {259, 1023, 29871, 8162};
    expect_ids(t, "  two  spaces", 0, e, 4);
    expect_roundtrip(t, "The café was naïve 123. 日本語 🙂\nnew line\ttab");
    tokenizer_free(t);
}

static void test_piece_semantics(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Tokenizer *t = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
    assert_non_null(t);
    size_t len;
    /* 403 is "▁Once" stored as " Once" in tok512.bin: the space goes only after BOS (run.c) */
    const char *p = tokenizer_piece(t, 1, 403, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "Once", 4);
    p = tokenizer_piece(t, 407, 403, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, " Once", 5);
    p = tokenizer_piece(t, 400, 3 + 0x0A, &len); /* <0x0A> -> "\n" */
    assert_int_equal(len, 1);
    assert_int_equal(p[0], '\n');
    p = tokenizer_piece(t, 400, 3, &len); /* <0x00> -> a NUL byte, length 1 */
    assert_int_equal(len, 1);
    assert_int_equal(p[0], 0);
    p = tokenizer_piece(t, 400, 1, &len); /* BOS shows nothing */
    assert_int_equal(len, 0);
    p = tokenizer_piece(t, 400, 99999, &len); /* out of range: empty, no crash */
    assert_int_equal(len, 0);
    /* empty text: no dummy prefix, BOS only */
    int *ids, n;
    assert_int_equal(tokenizer_encode(t, "", 0, 1, &ids, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    /* without the dummy prefix "Once" is no longer one token ("▁Once" = 403 needs the space) */
    tokenizer_set_prepend_space(t, 0);
    assert_int_equal(tokenizer_encode(t, "Once", 4, 0, &ids, &n, err), 0);
    assert_true(n >= 1);
    assert_int_not_equal(ids[0], 403);
    free(ids);
    expect_roundtrip(t, " Once upon a time"); /* its own leading space survives decoding */
    expect_roundtrip(t, "Once upon a time");
    tokenizer_free(t);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encoding a whole 800 KB file must be fast (heap merges, not run.c's O(n²) rescans) and decode back. */
static void test_big_file_roundtrip(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *text = qb_read_file("assets/tinystories/tinystories_v1_validation_head.txt", &len, err);
    assert_non_null(text);
    Tokenizer *t = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
    assert_non_null(t);
    int *ids, n;
    double t0 = now_s();
    assert_int_equal(tokenizer_encode(t, text, len, 1, &ids, &n, err), 0);
    double dt = now_s() - t0;
    fprintf(stderr, "# tok512: %zu bytes -> %d tokens in %.3f s\n", len, n, dt);
    assert_true(n > (int)(len / 8) && n < (int)len);
    char *back = tokenizer_decode(t, ids, n);
    assert_int_equal(strlen(back), len);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
    tokenizer_free(t);
    free(text);
}

/* ---- hand-made HF fixtures --------------------------------------------------------------------- */

/* SentencePiece style with byte fallback: <0xC3> and <0xA9> exist (so "é" = C3 A9 falls back to
 * bytes), <0xA7> does not (so "ç" = C3 A7 becomes <unk>, and "çç" one fused <unk>). */
static const char *SPM_FIXTURE =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
    "\"normalizer\":%s,\"pre_tokenizer\":%s,"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xE2\x96\x81\"},\"content\":\" \"},"
    "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,"
    "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"<0xC3>\":3,\"<0xA9>\":4,\"\xE2\x96\x81\":5,\"a\":6,\"b\":7,"
    "\"\xE2\x96\x81" "a\":8,\"ab\":9,\"aa\":10},"
    "\"merges\":[\"\xE2\x96\x81 a\",\"a b\",[\"a\",\"a\"]]}}";

static Tokenizer *load_fixture(const char *name, const char *json, char err[QB_ERRLEN]) {
    char *p = tmp_path(name);
    t_write_file(p, json, strlen(json));
    return tokenizer_load(p, 0, err);
}

static void test_hf_spm_fixture(void **state) {
    (void)state;
    char json[4096], err[QB_ERRLEN];
    snprintf(json, sizeof json, SPM_FIXTURE,
             "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"},"
             "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]}",
             "null");
    Tokenizer *t = load_fixture("spm.json", json, err);
    assert_non_null(t);
    assert_int_equal(tokenizer_bos(t), 1);
    /* "ab" -> "▁ab": (▁,a) rank 0 beats (a,b) rank 1 -> ▁a b ; no merge (▁a,b) */
    const int a[] = {1, 8, 7};
    expect_ids(t, "ab", 1, a, 3);
    /* "é" -> "▁é": é not in vocab, both bytes are -> ▁ <0xC3> <0xA9> */
    const int b[] = {5, 3, 4};
    expect_ids(t, "é", 0, b, 3);
    /* "çç" -> ▁ then one fused <unk> (0xA7 has no byte token) */
    const int c[] = {5, 0};
    expect_ids(t, "çç", 0, c, 2);
    /* "aaa" -> ▁aaa : (▁,a) rank 0 first, then (a,a) rank 2 on the rest -> ▁a aa */
    const int d[] = {8, 10};
    expect_ids(t, "aaa", 0, d, 2);
    /* "baaa" -> ▁baaa: no (▁,b); (a,a) twice: leftmost first -> ▁ b aa a */
    const int e[] = {5, 7, 10, 6};
    expect_ids(t, "baaa", 0, e, 4);
    /* added token "</s>" in the raw text, both sides normalized separately */
    const int f[] = {8, 2, 8};
    expect_ids(t, "a</s>a", 0, f, 3);
    expect_roundtrip(t, "ab é a");
    tokenizer_free(t);

    /* the same vocabulary with a Metaspace pre-tokenizer (prepend "first", split on ▁) */
    snprintf(json, sizeof json, SPM_FIXTURE, "null",
             "{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}");
    t = load_fixture("meta.json", json, err);
    assert_non_null(t);
    const int g[] = {8, 7, 8, 7}; /* words "▁ab" "▁ab" */
    expect_ids(t, "ab ab", 0, g, 4);
    const int h[] = {8, 2, 6}; /* "first": the segment after an added token gets no ▁ */
    expect_ids(t, "a</s>a", 0, h, 3);
    tokenizer_set_prepend_space(t, 0);
    const int i[] = {9, 8, 7}; /* words "ab" (merge a b) and "▁ab" */
    expect_ids(t, "ab ab", 0, i, 3);
    tokenizer_free(t);
}

/* Byte-level (Llama-3 style): ids 0..255 are the GPT-2 characters of bytes 0..255, then merges
 * 256 he, 257 ll, 258 hell, 259 Ġw, 260 or, 261 Ġwor, 262 hello; added tokens <|end|> 263 and
 * <|begin|> 264 (BOS through the post-processor). */
static char *bytelevel_fixture(void) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject(), *vocab = cJSON_CreateObject();
    for (int b = 0; b < 256; b++) {
        char u[8] = {0};
        int32_t cp = bytelevel_cp(b);
        if (cp < 0x80) u[0] = (char)cp;
        else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); }
        cJSON_AddNumberToObject(vocab, u, b);
    }
    const char *more[] = {"he", "ll", "hell", "\xC4\xA0w", "or", "\xC4\xA0wor", "hello"};
    for (int i = 0; i < 7; i++) cJSON_AddNumberToObject(vocab, more[i], 256 + i);
    const char *merges[] = {"h e", "l l", "he ll", "\xC4\xA0 w", "o r", "\xC4\xA0w or", "hell o"};
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", cJSON_CreateStringArray(merges, 7));
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON_AddItemToObject(root, "model", model);
    cJSON *added = cJSON_Parse("[{\"id\":263,\"content\":\"<|end|>\",\"special\":true},"
                               "{\"id\":264,\"content\":\"<|begin|>\",\"special\":true}]");
    cJSON_AddItemToObject(root, "added_tokens", added);
    cJSON *seq = cJSON_Parse("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\"},"
                             "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                             "\"trim_offsets\":true,\"use_regex\":false}]}");
    cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(seq, "pretokenizers"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(split, "pattern"), "Regex",
                              cJSON_CreateString("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"));
    cJSON_AddItemToObject(root, "pre_tokenizer", seq);
    cJSON_AddItemToObject(root, "post_processor",
                          cJSON_Parse("{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},{\"type\":\"TemplateProcessing\","
                                      "\"single\":[{\"SpecialToken\":{\"id\":\"<|begin|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                                      "\"special_tokens\":{\"<|begin|>\":{\"id\":\"<|begin|>\",\"ids\":[264],\"tokens\":[\"<|begin|>\"]}}}]}"));
    cJSON_AddItemToObject(root, "decoder", cJSON_Parse("{\"type\":\"ByteLevel\"}"));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void test_hf_bytelevel_fixture(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    char *json = bytelevel_fixture();
    Tokenizer *t = load_fixture("bl.json", json, err);
    free(json);
    if (!t) fprintf(stderr, "%s\n", err);
    assert_non_null(t);
    assert_int_equal(tokenizer_bos(t), 264);
    /* "hello" + " world" (regex split), "<|end|>" matched first. hello: he(0) ll(1) hell(2) hello(6);
     * " world": Ġw(3) or(4) Ġwor(5), then l d stay bytes. */
    const int a[] = {264, 262, 261, 'l', 'd', 263};
    expect_ids(t, "hello world<|end|>", 1, a, 6);
    /* "he he": the split keeps " he" apart, so no merge crosses the space: he Ġ he */
    const int b[] = {256, 32 /* Ġ, the character of byte 32, has id 32 */, 256};
    expect_ids(t, "he he", 0, b, 3);
    /* non-ASCII: bytes C3 A9 as themselves */
    const int c[] = {0xC3, 0xA9};
    expect_ids(t, "é", 0, c, 2);
    /* 4+ digits split in threes (\p{N}{1,3}): "12345" -> "123" "45" — checked through the split */
    expect_roundtrip(t, "hello world, 12345 héllo\n\n  x");
    char *dec = tokenizer_decode(t, a, 6); /* special tokens are not shown */
    assert_string_equal(dec, "hello world");
    free(dec);
    size_t len;
    const char *p = tokenizer_piece(t, 262, 261, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(p, " wor", 4);
    tokenizer_free(t);
}

/* The splitter against Python's `regex` module (Llama-3 pattern, run by hand):
 *   regex.findall(PATTERN, s) */
typedef struct { char parts[16][32]; int n; const char *s; } SplitCheck;
static int collect(void *ctx, size_t st, size_t n) {
    SplitCheck *c = ctx;
    if (c->n < 16 && n < 32) { memcpy(c->parts[c->n], c->s + st, n); c->parts[c->n][n] = 0; }
    c->n++;
    return 0;
}

static void expect_split(SplitKind k, const char *s, const char **want, int n) {
    SplitCheck c = {.n = 0, .s = s};
    assert_int_equal(split_pretokens(k, s, strlen(s), collect, &c), 0);
    assert_int_equal(c.n, n);
    for (int i = 0; i < n; i++) assert_string_equal(c.parts[i], want[i]);
}

static void test_bytelevel_split(void **state) {
    (void)state;
    /* regex.findall(LLAMA3, "I'M here, isn't 12345!!\n\n  x") */
    const char *a[] = {"I", "'M", " here", ",", " isn", "'t", " ", "123", "45", "!!\n\n", " ", " x"};
    expect_split(SPLIT_LLAMA3, "I'M here, isn't 12345!!\n\n  x", a, 12);
    /* Qwen2: one digit at a time */
    const char *b[] = {"1", "2", "3", " a"};
    expect_split(SPLIT_QWEN2, "123 a", b, 4);
    /* regex.findall(GPT2, "I'M here  now 12345 \n") — GPT-2's contractions are case-sensitive */
    const char *c[] = {"I", "'", "M", " here", " ", " now", " 12345", " \n"};
    expect_split(SPLIT_GPT2, "I'M here  now 12345 \n", c, 8);
    /* byte map: printable ASCII is itself, space is U+0120 (Ġ), 0x00 is U+0100, and it inverts */
    assert_int_equal(bytelevel_cp('a'), 'a');
    assert_int_equal(bytelevel_cp(' '), 0x120);
    assert_int_equal(bytelevel_cp(0), 0x100);
    for (int b2 = 0; b2 < 256; b2++) assert_int_equal(bytelevel_byte(bytelevel_cp(b2)), b2);
    assert_int_equal(bytelevel_byte(0x200), -1);
}

/* ---- malformed files --------------------------------------------------------------------------- */

static void expect_load_error(const char *name, const void *data, size_t n, int vocab, const char *needle) {
    char err[QB_ERRLEN] = "";
    char *p = tmp_path(name);
    t_write_file(p, data, n);
    Tokenizer *t = tokenizer_load(p, vocab, err);
    if (t) fprintf(stderr, "%s loaded but should not\n", name);
    assert_null(t);
    if (!strstr(err, name) || !strstr(err, needle)) fprintf(stderr, "error was: %s\n", err);
    assert_non_null(strstr(err, name)); /* names the file */
    assert_non_null(strstr(err, needle));
}

static void test_malformed_llama2c(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *good = qb_read_file("assets/stories260K/tok512.bin", &len, err);
    assert_non_null(good);
    expect_load_error("t_short.bin", good, 2, 0, "truncated");
    expect_load_error("t_cut.bin", good, len - 3, 512, "past the end");
    expect_load_error("t_cuthdr.bin", good, 4 + 5, 0, "truncated at token 0");
    expect_load_error("t_vocab.bin", good, len, 600, "has 512 tokens");
    expect_load_error("t_vocab2.bin", good, len, 500, "bytes left");
    char *bad = malloc(len);
    memcpy(bad, good, len);
    int32_t v = -5;
    memcpy(bad, &v, 4);
    expect_load_error("t_maxlen.bin", bad, len, 512, "max_token_length");
    memcpy(bad, good, len);
    v = 1000; /* first token's length */
    memcpy(bad + 8, &v, 4);
    expect_load_error("t_len.bin", bad, len, 512, "token 0 has length 1000");
    memcpy(bad, good, len);
    float nan = 0.0f / 0.0f;
    memcpy(bad + 4, &nan, 4);
    expect_load_error("t_nan.bin", bad, len, 512, "non-finite");
    /* a tokenizer.bin too small for byte fallback: loads, but encoding an unknown byte is an error */
    unsigned char tiny[4 + 3 * 9];
    int32_t maxlen = 1, one = 1;
    memcpy(tiny, &maxlen, 4);
    for (int i = 0; i < 3; i++) {
        float sc = 0;
        memcpy(tiny + 4 + 9 * i, &sc, 4);
        memcpy(tiny + 8 + 9 * i, &one, 4);
        tiny[12 + 9 * i] = (unsigned char)("ab "[i]);
    }
    t_write_file(tmp_path("tiny.bin"), tiny, sizeof tiny);
    Tokenizer *t = tokenizer_load(tmp_path("tiny.bin"), 0, err);
    assert_non_null(t);
    int *ids, n;
    assert_int_equal(tokenizer_encode(t, "ab", 2, 0, &ids, &n, err), 0);
    free(ids);
    assert_int_equal(tokenizer_encode(t, "az", 2, 0, &ids, &n, err), -1);
    assert_non_null(strstr(err, "0x7A"));
    tokenizer_free(t);
    /* a tokenizer.bin with 0 tokens is refused; the empty text without BOS encodes to nothing with
     * no pointer arithmetic on the empty vector (UBSan: "applying zero offset to null pointer") */
    t_write_file(tmp_path("zero.bin"), tiny, 4);
    assert_null(tokenizer_load(tmp_path("zero.bin"), 0, err));
    assert_non_null(strstr(err, "no tokens"));
    t = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
    assert_non_null(t);
    assert_int_equal(tokenizer_encode(t, "", 0, 0, &ids, &n, err), 0);
    assert_int_equal(n, 0);
    free(ids);
    tokenizer_free(t);
    assert_null(tokenizer_load(tmp_path("does-not-exist.bin"), 0, err));
    assert_non_null(strstr(err, "does-not-exist.bin"));
    free(bad);
    free(good);
}

static void test_malformed_json(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *good = qb_read_file("assets/tinystories-656K/tokenizer.json", &len, err);
    assert_non_null(good);
    expect_load_error("j_trunc.json", good, len / 2, 0, "malformed JSON");
    const char *v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}";
    expect_load_error("j_range.json", v, strlen(v), 2, "beyond the model's vocab_size");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1000000000}}}";
    expect_load_error("j_sparse.json", v, strlen(v), 0, "beyond the 2 vocabulary");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":-1},\"merges\":[]}}";
    expect_load_error("j_neg.json", v, strlen(v), 0, "not a valid id");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}";
    expect_load_error("j_dup.json", v, strlen(v), 0, "used twice");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}";
    expect_load_error("j_merge.json", v, strlen(v), 0, "merges[0]");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"ab\"]}}";
    expect_load_error("j_merge2.json", v, strlen(v), 0, "neither");
    v = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}";
    expect_load_error("j_uni.json", v, strlen(v), 0, "Unigram");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"unk_token\":\"<unk>\"}}";
    expect_load_error("j_unk.json", v, strlen(v), 0, "unk_token");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}";
    expect_load_error("j_pre.json", v, strlen(v), 0, "Whitespace");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"behavior\":\"Isolated\"}}";
    expect_load_error("j_regex.json", v, strlen(v), 0, "unsupported regex");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"normalizer\":{\"type\":\"BertNormalizer\"}}";
    expect_load_error("j_norm.json", v, strlen(v), 0, "BertNormalizer");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"added_tokens\":[{\"id\":5}]}";
    expect_load_error("j_added.json", v, strlen(v), 0, "added_tokens");
    v = "[1,2,3]";
    expect_load_error("j_array.json", v, strlen(v), 0, "not an object");
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1}},"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}]}}";
    expect_load_error("j_bos.json", v, strlen(v), 0, "<s>");
    /* a character missing from a vocabulary without unk or byte fallback: encode error, no crash */
    v = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}";
    t_write_file(tmp_path("j_nounk.json"), v, strlen(v));
    Tokenizer *t = tokenizer_load(tmp_path("j_nounk.json"), 0, err);
    assert_non_null(t);
    int *ids, n;
    assert_int_equal(tokenizer_encode(t, "ab", 2, 0, &ids, &n, err), -1);
    assert_non_null(strstr(err, "not in the vocab"));
    tokenizer_free(t);
    free(good);
}

/* Every prefix of a real tokenizer file, and random byte flips, must fail cleanly or load. */
static void test_fuzz_truncations(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *good = qb_read_file("assets/stories260K/tok512.bin", &len, err);
    assert_non_null(good);
    QbRng r;
    qb_rng_seed(&r, 7);
    char *p = tmp_path("fuzz.bin");
    for (int i = 0; i < 200; i++) {
        size_t cut = (size_t)qb_rng_below(&r, len);
        t_write_file(p, good, cut);
        Tokenizer *t = tokenizer_load(p, 512, err);
        assert_null(t); /* any prefix is short of 512 tokens */
        char *bad = malloc(len);
        memcpy(bad, good, len);
        bad[qb_rng_below(&r, len)] ^= (char)(1 + qb_rng_below(&r, 255));
        t_write_file(p, bad, len);
        t = tokenizer_load(p, 0, err);
        if (t) {
            int *ids, n;
            if (tokenizer_encode(t, "Once upon a time", 16, 1, &ids, &n, err) == 0) {
                char *s = tokenizer_decode(t, ids, n);
                free(s);
                free(ids);
            }
            tokenizer_free(t);
        }
        free(bad);
    }
    free(good);
    /* the same for tokenizer.json: prefixes and flipped bytes */
    good = qb_read_file("assets/tinystories-656K/tokenizer.json", &len, err);
    assert_non_null(good);
    p = tmp_path("fuzz.json");
    for (int i = 0; i < 60; i++) {
        size_t cut = (size_t)qb_rng_below(&r, len);
        t_write_file(p, good, cut);
        assert_null(tokenizer_load(p, 0, err));
        char *bad = malloc(len);
        memcpy(bad, good, len);
        for (int k = 0; k < 3; k++) bad[qb_rng_below(&r, len)] = (char)qb_rng_below(&r, 256);
        t_write_file(p, bad, len);
        Tokenizer *t = tokenizer_load(p, 2048, err);
        if (t) {
            int *ids, n;
            if (tokenizer_encode(t, "Once upon a time, café", 23, 1, &ids, &n, err) == 0) {
                char *s = tokenizer_decode(t, ids, n);
                free(s);
                free(ids);
            }
            tokenizer_free(t);
        }
        free(bad);
    }
    free(good);
}

static void test_find_for_model(void **state) {
    (void)state;
    char out[1024];
    assert_int_equal(tokenizer_find_for_model("assets/stories260K/stories260K.bin", out, sizeof out), 0);
    assert_string_equal(out, "assets/stories260K/tok512.bin");
    assert_int_equal(tokenizer_find_for_model("assets/tinystories-656K", out, sizeof out), 0);
    assert_string_equal(out, "assets/tinystories-656K/tokenizer.json");
    assert_int_equal(tokenizer_find_for_model("assets/tinystories-656K/model.safetensors", out, sizeof out), 0);
    assert_string_equal(out, "assets/tinystories-656K/tokenizer.json");
    assert_int_equal(tokenizer_find_for_model("assets/wikitext2/wiki.test.raw", out, sizeof out), -1);
    assert_int_equal(tokenizer_find_for_model("no/such/model.bin", out, sizeof out), -1);
    assert_int_equal(tokenizer_find_for_model("assets/stories260K/stories260K.bin", out, 8), -1); /* too small */
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qbench_test_tokenizer_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return t_rm_rf(tmpdir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k_examples),
        cmocka_unit_test(test_656k_examples_both_modes),
        cmocka_unit_test(test_656k_specials),
        cmocka_unit_test(test_llama2_vs_sentencepiece),
        cmocka_unit_test(test_piece_semantics),
        cmocka_unit_test(test_big_file_roundtrip),
        cmocka_unit_test(test_hf_spm_fixture),
        cmocka_unit_test(test_hf_bytelevel_fixture),
        cmocka_unit_test(test_bytelevel_split),
        cmocka_unit_test(test_malformed_llama2c),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_fuzz_truncations),
        cmocka_unit_test(test_find_for_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_arch.c — OPT, BLOOM, GPT-2 and GPT-NeoX against the plain-torch float64 forward passes of
 * tests/fixtures/make_arch_fixtures.py (written from the published architectures, not from qbench):
 * teacher-forced logits within 1e-4, the same logits from one-token decode steps, greedy continuations
 * token for token; the model description; hostile configs; and the quantization pipeline on each
 * family (every method runs, GPTQ's layer errors beat RTN's, the checkpoint round-trips). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "model/model.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

#define FIX "tests/fixtures/arch/"

typedef struct {
    int ids[64], n;
    int prompt[16], n_prompt;
    int greedy[32], n_greedy;
    int vocab;
    float *logits; /* n x vocab */
} Ref;

static int json_ints(const cJSON *a, int *out, int cap) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (n < cap) out[n++] = e->valueint;
    return n;
}

static void ref_load(const char *dir, Ref *r) {
    char path[400], err[QB_ERRLEN];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    size_t len;
    char *text = qb_read_file(path, &len, err);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    r->n = json_ints(cJSON_GetObjectItem(j, "ids"), r->ids, 64);
    r->n_prompt = json_ints(cJSON_GetObjectItem(j, "prompt"), r->prompt, 16);
    r->n_greedy = json_ints(cJSON_GetObjectItem(j, "greedy"), r->greedy, 32);
    r->vocab = cJSON_GetObjectItem(j, "vocab")->valueint;
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/reference_logits.f32", dir);
    char *raw = qb_read_file(path, &len, err);
    assert_non_null(raw);
    assert_int_equal(len, (size_t)r->n * r->vocab * 4);
    r->logits = malloc(len);
    memcpy(r->logits, raw, len);
    free(raw);
}

static Model *load_ok(const char *dir) {
    char err[QB_ERRLEN] = "";
    Model *m = model_load(dir, err);
    if (!m) fail_msg("%s: %s", dir, err);
    return m;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return d;
}

/* prefill logits, decode logits and greedy generation against the reference */
static void check_fixture(const char *name, ArchFamily family) {
    char dir[256], err[QB_ERRLEN] = "";
    snprintf(dir, sizeof dir, FIX "%s", name);
    Ref r;
    ref_load(dir, &r);
    Model *m = load_ok(dir);
    assert_int_equal(m->cfg.family, family);
    assert_int_equal(m->cfg.vocab_size, r.vocab);
    int V = r.vocab;
    float *lg = malloc((size_t)r.n * V * sizeof(float));
    ModelState *s = model_state_new(m, r.n, r.n);
    assert_non_null(s);
    assert_int_equal(model_forward(m, s, r.ids, r.n, 0, lg, err), 0);
    double d = max_diff(lg, r.logits, (size_t)r.n * V);
    printf("  %-14s prefill max |diff| %.3g\n", name, d);
    assert_true(d < 1e-4);
    /* decode: a prefix, then one token at a time through the KV cache */
    int k = 7;
    assert_int_equal(model_forward(m, s, r.ids, k, 0, lg, err), 0);
    for (int i = k; i < r.n; i++) assert_int_equal(model_forward(m, s, r.ids + i, 1, i, lg + (size_t)i * V, err), 0);
    d = max_diff(lg, r.logits, (size_t)r.n * V);
    printf("  %-14s decode  max |diff| %.3g\n", name, d);
    assert_true(d < 1e-4);
    model_state_free(s);
    if (m->pos_emb) { /* learned positions end at seq_len: a longer window is an error, not a clamp */
        ModelState *big = model_state_new(m, m->cfg.seq_len + 1, 1);
        int t0 = 0;
        assert_int_equal(model_forward(m, big, &t0, 1, m->cfg.seq_len, NULL, err), -1);
        assert_non_null(strstr(err, "learned positions"));
        model_state_free(big);
    }
    GenerateOptions go = {.max_new_tokens = r.n_greedy, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 1,
                          .stop_at_eos = 0};
    int out[32], n_out = 0;
    assert_int_equal(model_generate(m, r.prompt, r.n_prompt, &go, out, &n_out, err), 0);
    assert_int_equal(n_out, r.n_greedy);
    for (int i = 0; i < n_out; i++) assert_int_equal(out[i], r.greedy[i]);
    free(lg);
    free(r.logits);
    model_free(m);
}

static void test_opt_pre_layernorm(void **st) { (void)st; check_fixture("opt_pre", ARCH_OPT); }
static void test_opt_post_layernorm_projections(void **st) { (void)st; check_fixture("opt_post_proj", ARCH_OPT); }
static void test_bloom_alibi_five_heads(void **st) { (void)st; check_fixture("bloom", ARCH_BLOOM); }
static void test_gpt2(void **st) { (void)st; check_fixture("gpt2", ARCH_GPT2); }
static void test_neox_parallel(void **st) { (void)st; check_fixture("neox", ARCH_NEOX); }
/* pytorch_model.bin through the restricted unpickler: sharded GPT-2, single-file NeoX (sequential residual) */
static void test_gpt2_pytorch_bin_sharded(void **st) { (void)st; check_fixture("gpt2_bin", ARCH_GPT2); }
static void test_neox_sequential_pytorch_bin(void **st) { (void)st; check_fixture("neox_seq", ARCH_NEOX); }

/* ---- hostile PyTorch checkpoints: refused by name, nothing run ----------------------------------- */

static void test_hostile_pickles(void **st) {
    (void)st;
    struct { const char *file, *needle; } cases[] = {
        {"os_system", "global 'os.system' is not allowed"},
        {"builtins_eval", "global '__builtin__.eval' is not allowed"},
        {"stack_global", "STACK_GLOBAL is not allowed"},
        {"inst_opcode", "opcode 0x69 ('i') is not allowed"},
        {"call_storage", "a storage type cannot be called"},
        {"truncated", "truncated"},
        {"huge_string", "only 4 left"},
        {"huge_memo_get", "never set"},
        {"huge_memo_put", "too large"},
        {"not_a_dict", "not a state_dict"},
        {"stack_underflow", "stack underflow"},
        {"storage_overrun", "shorter than 24576 elements"},
        {"deflated", "compressed"},
        {"cut_zip", "not a zip archive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], err[QB_ERRLEN] = "";
        snprintf(path, sizeof path, FIX "hostile/%s.bin", cases[i].file);
        Model *m = model_load(path, err);
        if (m || !strstr(err, cases[i].needle) || !strstr(err, cases[i].file))
            fail_msg("%s: expected an error naming the file and '%s', got %s", cases[i].file, cases[i].needle,
                     m ? "a model" : err);
    }
}

/* mutated copies of a real checkpoint: every one either loads or is refused, without a crash (the
 * sanitizer build checks the reads) */
static void test_pickle_mutations(void **st) {
    (void)st;
    char err[QB_ERRLEN];
    size_t len;
    char *orig = qb_read_file(FIX "neox_seq/pytorch_model.bin", &len, err);
    assert_non_null(orig);
    char dir[] = "/tmp/qb_arch_fuzz_XXXXXX", path[300], cmd[400];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp " FIX "neox_seq/config.json %s/", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    QbRng r;
    qb_rng_seed(&r, 5);
    int loaded = 0, refused = 0;
    /* the pickle sits at the start of the archive: mutate there most of the time */
    for (int it = 0; it < 300; it++) {
        char *buf = malloc(len);
        memcpy(buf, orig, len);
        int flips = 1 + (int)qb_rng_below(&r, 4);
        for (int k = 0; k < flips; k++) {
            size_t at = qb_rng_below(&r, 4) ? qb_rng_below(&r, 1800 < len ? 1800 : len) : qb_rng_below(&r, len);
            buf[at] = (char)qb_rng_below(&r, 256);
        }
        size_t cut = qb_rng_below(&r, 10) == 0 ? qb_rng_below(&r, len) : len;
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, cut, f), cut);
        fclose(f);
        free(buf);
        Model *m = model_load(path, err);
        if (m) { loaded++; model_free(m); } else refused++;
    }
    printf("  mutated checkpoints: %d loaded, %d refused\n", loaded, refused);
    assert_true(refused > 0);
    free(orig);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- writing back: convert and synth ---------------------------------------------------------------- */

#include "model/model_internal.h"

/* every fixture written back as a Hugging Face directory loads to the same logits, bit for bit */
static void test_save_round_trip(void **st) {
    (void)st;
    const char *names[] = {"opt_pre", "opt_post_proj", "bloom", "gpt2", "neox", "neox_seq"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char dir[256], out[] = "/tmp/qb_arch_rt_XXXXXX", err[QB_ERRLEN] = "", cmd[300];
        snprintf(dir, sizeof dir, FIX "%s", names[i]);
        assert_non_null(mkdtemp(out));
        Model *a = load_ok(dir);
        if (model_save_safetensors(a, out, err)) fail_msg("%s: %s", names[i], err);
        Model *b = load_ok(out);
        assert_int_equal(b->cfg.family, a->cfg.family);
        int ids[12], V = a->cfg.vocab_size;
        for (int k = 0; k < 12; k++) ids[k] = (k * 7 + 3) % V;
        float *la = malloc(12 * (size_t)V * sizeof(float)), *lb = malloc(12 * (size_t)V * sizeof(float));
        ModelState *sa = model_state_new(a, 12, 12), *sb = model_state_new(b, 12, 12);
        assert_int_equal(model_forward(a, sa, ids, 12, 0, la, err), 0);
        assert_int_equal(model_forward(b, sb, ids, 12, 0, lb, err), 0);
        assert_memory_equal(la, lb, 12 * (size_t)V * sizeof(float));
        model_state_free(sa);
        model_state_free(sb);
        free(la);
        free(lb);
        model_free(a);
        model_free(b);
        snprintf(cmd, sizeof cmd, "rm -rf %s", out);
        assert_int_equal(system(cmd), 0);
    }
}

/* qbench as a user runs it on each family: synth, ppl in every mode, quantize with every method into a
 * checkpoint, ppl and generate on it; the quantized ppl is finite and the commands exit 0. */
static void test_cli_end_to_end(void **st) {
    (void)st;
    const char *bin = getenv("QBENCH_BIN") ? getenv("QBENCH_BIN") : "bin/qbench";
    const char *tok = "assets/stories260K/tok512.bin", *data = "assets/tinystories/tinystories_v1_validation_head.txt";
    FILE *probe = fopen(tok, "rb"), *probe2 = fopen(bin, "rb");
    if (!probe || !probe2) {
        if (probe) fclose(probe);
        if (probe2) fclose(probe2);
        skip();
    }
    fclose(probe);
    fclose(probe2);
    char tmp[] = "/tmp/qb_arch_cli_XXXXXX", cmd[1500];
    assert_non_null(mkdtemp(tmp));
    const char *archs[] = {"opt", "bloom", "gpt2", "neox"};
    const char *methods[] = {"rtn", "gptq --act-order --group-size 16", "gptqt", "rtnt", "bcq"};
    for (size_t a = 0; a < 4; a++) {
        snprintf(cmd, sizeof cmd, "%s synth --arch %s --dim 48 --hidden 96 --layers 2 --heads 3 --vocab 512 "
                 "--seq-len 128 --seed 3 -o %s/%s 2>/dev/null", bin, archs[a], tmp, archs[a]);
        assert_int_equal(system(cmd), 0);
        const char *modes[] = {"--mode gptq", "--mode llamacpp", "--mode stride --stride 64"};
        for (size_t k = 0; k < 3; k++) {
            snprintf(cmd, sizeof cmd, "%s ppl --model %s/%s --tokenizer %s --data %s --seqlen 128 %s --max-windows 4 --quiet >/dev/null",
                     bin, tmp, archs[a], tok, data, modes[k]);
            if (system(cmd) != 0) fail_msg("%s", cmd);
        }
        for (size_t k = 0; k < 5; k++) {
            snprintf(cmd, sizeof cmd, "%s quantize --model %s/%s --tokenizer %s --method %s --bits 3 --calib "
                     "tinystories-calib --nsamples 4 --seqlen 64 -o %s/%s.qbq --quiet >/dev/null && "
                     "%s ppl --model %s/%s.qbq --tokenizer %s --data %s --seqlen 128 --max-windows 4 --quiet --json > %s/ppl.json && "
                     "grep -q '\"ppl\"' %s/ppl.json && "
                     "%s generate --model %s/%s.qbq --tokenizer %s --prompt 'Once upon' --max-new-tokens 4 >/dev/null",
                     bin, tmp, archs[a], tok, methods[k], tmp, archs[a], bin, tmp, archs[a], tok, data, tmp, tmp, bin, tmp,
                     archs[a], tok);
            if (system(cmd) != 0) fail_msg("%s", cmd);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
}

/* ---- --export gptq: AutoGPTQ's layout, decoded here independently ---------------------------------- */

typedef struct { cJSON *hdr; char *raw; size_t len, base; } StRead;

static void st_read(const char *path, StRead *r) {
    char err[QB_ERRLEN];
    r->raw = qb_read_file(path, &r->len, err);
    assert_non_null(r->raw);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)r->raw[i];
    r->hdr = cJSON_ParseWithLength(r->raw + 8, (size_t)hl);
    assert_non_null(r->hdr);
    r->base = 8 + (size_t)hl;
}

/* tensor data and its shape (dims[2], 1-d: dims[1] = 0); NULL when absent */
static const void *st_get(const StRead *r, const char *name, const char *dtype, long dims[2]) {
    const cJSON *t = cJSON_GetObjectItem(r->hdr, name);
    if (!t) return NULL;
    assert_string_equal(cJSON_GetObjectItem(t, "dtype")->valuestring, dtype);
    const cJSON *sh = cJSON_GetObjectItem(t, "shape"), *off = cJSON_GetObjectItem(t, "data_offsets");
    dims[0] = (long)cJSON_GetArrayItem(sh, 0)->valuedouble;
    dims[1] = cJSON_GetArraySize(sh) > 1 ? (long)cJSON_GetArrayItem(sh, 1)->valuedouble : 0;
    size_t o = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
    assert_true(r->base + (size_t)cJSON_GetArrayItem(off, 1)->valuedouble <= r->len);
    return r->raw + r->base + o;
}

static float half_f(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 1024), e - 25);
    return h & 0x8000 ? -v : v;
}

/* Quantize a fixture with GPTQ 4-bit, export it, decode every quantized module as AutoGPTQ does
 * (W[o][i] = scales[g][o] * (q[i][o] - ((qzeros[g][o] + 1) & mask)), g = g_idx[i]) and compare it with the same
 * quantized model written as a float HF checkpoint (model_save_safetensors: the family's names and
 * layouts); every float tensor of that checkpoint must be in the export too. */
static void check_export(const char *name, int bits, int group) {
    char dir[256], err[QB_ERRLEN] = "", ex[] = "/tmp/qb_arch_ex_XXXXXX", fl[] = "/tmp/qb_arch_fl_XXXXXX", p[300], cmd[300];
    snprintf(dir, sizeof dir, FIX "%s", name);
    assert_non_null(mkdtemp(ex));
    assert_non_null(mkdtemp(fl));
    Model *m = load_ok(dir);
    enum { NS = 8, T = 16 };
    int calib[NS * T];
    for (int i = 0; i < NS * T; i++) calib[i] = (i * 37 + 11) % m->cfg.vocab_size;
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, QM_GPTQ, bits);
    po.opt.group_size = group;
    po.true_sequential = 1;
    CalibrationSet cs = {NS, T, calib};
    PipelineReport rep;
    if (quant_model(m, &cs, &po, 1, &rep, err)) fail_msg("%s: %s", name, err);
    if (quant_export_gptq(m, &rep, &po, ex, err)) fail_msg("%s: export: %s", name, err);
    if (model_save_safetensors(m, fl, err)) fail_msg("%s: save: %s", name, err);
    StRead E, F;
    snprintf(p, sizeof p, "%s/model.safetensors", ex);
    st_read(p, &E);
    snprintf(p, sizeof p, "%s/model.safetensors", fl);
    st_read(p, &F);
    int n_quant = 0, n_float = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, F.hdr) {
        const char *tn = t->string;
        if (!strcmp(tn, "__metadata__")) continue;
        long fd[2], d[2];
        const float *fw = st_get(&F, tn, "F32", fd);
        size_t len = strlen(tn);
        char base[200];
        if (len > 7 && !strcmp(tn + len - 7, ".weight")) {
            snprintf(base, sizeof base, "%.*s.qweight", (int)(len - 7), tn);
            const int32_t *qw = st_get(&E, base, "I32", d);
            if (qw) { /* a quantized module */
                int gpt2 = m->cfg.family == ARCH_GPT2;
                long out = gpt2 ? fd[1] : fd[0], in = gpt2 ? fd[0] : fd[1];
                const int per = 32 / bits, mask = (1 << bits) - 1;
                assert_int_equal(d[0], in * bits / 32);
                assert_int_equal(d[1], out);
                long dz[2], ds[2], dg[2];
                snprintf(base, sizeof base, "%.*s.qzeros", (int)(len - 7), tn);
                const int32_t *qz = st_get(&E, base, "I32", dz);
                snprintf(base, sizeof base, "%.*s.scales", (int)(len - 7), tn);
                const uint16_t *sc = st_get(&E, base, "F16", ds);
                snprintf(base, sizeof base, "%.*s.g_idx", (int)(len - 7), tn);
                const int32_t *gi = st_get(&E, base, "I32", dg);
                assert_non_null(qz);
                assert_non_null(sc);
                assert_non_null(gi);
                double worst = 0;
                for (long o = 0; o < out; o++)
                    for (long i = 0; i < in; i++) {
                        int g = gi[i];
                        assert_true(g >= 0 && g < ds[0]);
                        int q = ((uint32_t)qw[(i / per) * out + o] >> (bits * (i % per))) & mask;
                        /* v1 zeros: stored zero - 1; AutoGPTQ masks after adding 1 back (a zero of 0 is stored as all ones) */
                        int z = ((((uint32_t)qz[(long)g * dz[1] + o / per] >> (bits * (o % per))) & mask) + 1) & mask;
                        float s = half_f(sc[(long)g * out + o]);
                        double w = (double)s * (q - z), ref = gpt2 ? fw[i * out + o] : fw[o * in + i];
                        double dd = fabs(w - ref) / (fabs(s) + 1e-12);
                        if (dd > worst) worst = dd;
                    }
                /* fp16 scales: a weight moves by at most 2^bits code steps x 2^-11 relative */
                assert_true(worst < (double)(1 << bits) / 1024);
                n_quant++;
                continue;
            }
        }
        const float *ew = st_get(&E, tn, "F32", d);
        if (!ew) fail_msg("%s: export lacks '%s'", name, tn);
        assert_int_equal(d[0], fd[0]);
        assert_int_equal(d[1], fd[1]);
        assert_memory_equal(ew, fw, (size_t)fd[0] * (size_t)(fd[1] ? fd[1] : 1) * sizeof(float));
        n_float++;
    }
    LinearKind kinds[LIN_COUNT];
    assert_int_equal(n_quant, m->cfg.n_layers * model_block_linears(&m->cfg, kinds));
    printf("  %-8s export: %d quantized modules decoded, %d float tensors equal\n", name, n_quant, n_float);
    /* config.json names the family and carries the quantization config */
    snprintf(p, sizeof p, "%s/config.json", ex);
    size_t clen;
    char *ctext = qb_read_file(p, &clen, err);
    assert_non_null(ctext);
    assert_non_null(strstr(ctext, m->cfg.arch));
    assert_non_null(strstr(ctext, "quantization_config"));
    free(ctext);
    cJSON_Delete(E.hdr); free(E.raw);
    cJSON_Delete(F.hdr); free(F.raw);
    pipeline_report_free(&rep);
    model_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", ex, fl);
    assert_int_equal(system(cmd), 0);
}

static void test_export_gptq(void **st) {
    (void)st;
    check_export("opt_post_proj", 4, -1);
    check_export("bloom", 8, -1); /* dim 20: 4 bits would break AutoGPTQ's multiple-of-32 rule */
    check_export("gpt2", 4, 8);
    check_export("neox", 4, -1);
}

/* ---- the description ------------------------------------------------------------------------------ */

static void test_description(void **st) {
    (void)st;
    struct { const char *dir; int nk; const char *names; } want[] = {
        {"opt_pre", 6, "attn.q attn.k attn.v attn.o mlp.fc1 mlp.fc2 "},
        {"bloom", 4, "attn.qkv attn.o mlp.fc1 mlp.fc2 "},
        {"gpt2", 4, "attn.qkv attn.o mlp.fc1 mlp.fc2 "},
        {"neox", 4, "attn.qkv attn.o mlp.fc1 mlp.fc2 "},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char dir[256], names[256] = "";
        snprintf(dir, sizeof dir, FIX "%s", want[i].dir);
        Model *m = load_ok(dir);
        LinearKind kinds[LIN_COUNT];
        int nk = model_block_linears(&m->cfg, kinds);
        assert_int_equal(nk, want[i].nk);
        for (int k = 0; k < nk; k++) {
            strcat(names, model_linear_name(&m->cfg, kinds[k]));
            strcat(names, " ");
            assert_non_null(m->blocks[0].lin[kinds[k]].w);
            assert_non_null(m->blocks[0].lin[kinds[k]].bias);
        }
        assert_string_equal(names, want[i].names);
        /* the fused matrix is one 3*dim x dim layer */
        if (nk == 4) assert_int_equal(m->blocks[0].lin[LIN_Q].rows, 3 * m->cfg.dim);
        model_free(m);
    }
}

/* ---- hostile configs ------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bad_configs(void **st) {
    (void)st;
    char tmp[] = "/tmp/qb_arch_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char cfg[300], cmd[600], err[QB_ERRLEN];
    snprintf(cmd, sizeof cmd, "cp " FIX "gpt2/model.safetensors %s/", tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    struct { const char *json, *needle; } cases[] = {
        {"{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":24,\"n_layer\":2,\"n_head\":5,\"vocab_size\":64}",
         "multiple"},
        {"{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":24,\"n_layer\":2,\"n_head\":3,\"vocab_size\":64,"
         "\"n_inner\":40,\"n_positions\":64,\"activation_function\":\"swish\"}", "activation_function"},
        {"{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":24,\"n_layer\":2,\"n_head\":3,\"vocab_size\":64,"
         "\"n_inner\":40,\"n_positions\":64,\"scale_attn_by_inverse_layer_idx\":true}", "scale_attn_by_inverse"},
        /* a layer count the weights do not have: the missing tensor is named */
        {"{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":24,\"n_layer\":3,\"n_head\":3,\"vocab_size\":64,"
         "\"n_inner\":40,\"n_positions\":64}", "h.2.ln_1.weight"},
        /* a wider MLP than stored: the shape is named */
        {"{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":24,\"n_layer\":2,\"n_head\":3,\"vocab_size\":64,"
         "\"n_inner\":48,\"n_positions\":64}", "shape"},
        {"{\"architectures\":[\"BloomForCausalLM\"],\"hidden_size\":24,\"n_layer\":2,\"n_head\":3,\"vocab_size\":64,"
         "\"apply_residual_connection_post_layernorm\":true}", "apply_residual"},
        {"{\"architectures\":[\"GPTNeoXForCausalLM\"],\"hidden_size\":24,\"intermediate_size\":40,"
         "\"num_hidden_layers\":2,\"num_attention_heads\":3,\"vocab_size\":64,\"rotary_pct\":0.4}", "odd"},
        {"{\"architectures\":[\"OPTForCausalLM\"],\"hidden_size\":24,\"ffn_dim\":40,\"num_hidden_layers\":2,"
         "\"num_attention_heads\":3,\"vocab_size\":64,\"activation_function\":\"gelu\"}", "activation_function"},
        {"{\"architectures\":[\"OPTForCausalLM\"],\"hidden_size\":-24,\"ffn_dim\":40,\"num_hidden_layers\":2,"
         "\"num_attention_heads\":3,\"vocab_size\":64}", "hidden_size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cfg, cases[i].json);
        err[0] = '\0';
        Model *m = model_load(tmp, err);
        if (m || !strstr(err, cases[i].needle))
            fail_msg("case %zu: expected an error naming '%s', got %s", i, cases[i].needle, m ? "a model" : err);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
}

/* ---- quantization on each family ------------------------------------------------------------------ */

/* ns windows of T tokens sampled from the unquantized model itself (temperature 1, seeded): text the
 * float model predicts best, so held-out NLL measures how far quantization moved the model. */
static void windows(const char *name, int *w, int ns, int T, uint64_t seed) {
    char dir[256], err[QB_ERRLEN];
    snprintf(dir, sizeof dir, FIX "%s", name);
    Model *m = load_ok(dir);
    QbRng r;
    qb_rng_seed(&r, seed);
    for (int i = 0; i < ns; i++) {
        int *row = w + (size_t)i * T, n_out = 0;
        row[0] = (int)qb_rng_below(&r, (uint64_t)m->cfg.vocab_size);
        GenerateOptions go = {.max_new_tokens = T - 1, .temperature = 1.0f, .top_k = 0, .top_p = 1.0f,
                              .seed = qb_rng_next(&r), .stop_at_eos = 0};
        assert_int_equal(model_generate(m, row, 1, &go, row + 1, &n_out, err), 0);
        assert_int_equal(n_out, T - 1);
    }
    model_free(m);
}

/* mean NLL of held-out windows */
static double nll(const Model *m, const int *w, int ns, int T) {
    char err[QB_ERRLEN];
    ModelState *s = model_state_new(m, T, T);
    float *lg = malloc((size_t)T * m->cfg.vocab_size * sizeof(float));
    double sum = 0;
    int cnt = 0;
    for (int i = 0; i < ns; i++) {
        assert_int_equal(model_forward(m, s, w + (size_t)i * T, T, 0, lg, err), 0);
        for (int t = 0; t + 1 < T; t++) {
            const float *row = lg + (size_t)t * m->cfg.vocab_size;
            double mx = row[0], z = 0;
            for (int v = 0; v < m->cfg.vocab_size; v++) mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < m->cfg.vocab_size; v++) z += exp(row[v] - mx);
            sum += -(row[w[(size_t)i * T + t + 1]] - mx - log(z));
            cnt++;
        }
    }
    model_state_free(s);
    free(lg);
    return sum / cnt;
}

/* mean KL(float || quantized) of the next-token distributions over held-out windows */
static double kl_to(const Model *fm, const Model *qm, const int *w, int ns, int T) {
    char err[QB_ERRLEN];
    int V = fm->cfg.vocab_size;
    ModelState *s = model_state_new(fm, T, T);
    float *a = malloc((size_t)T * V * sizeof(float)), *b = malloc((size_t)T * V * sizeof(float));
    double sum = 0;
    for (int i = 0; i < ns; i++) {
        assert_int_equal(model_forward(fm, s, w + (size_t)i * T, T, 0, a, err), 0);
        assert_int_equal(model_forward(qm, s, w + (size_t)i * T, T, 0, b, err), 0);
        for (int t = 0; t < T; t++) {
            const float *p = a + (size_t)t * V, *q = b + (size_t)t * V;
            double mp = p[0], mq = q[0], zp = 0, zq = 0, kl = 0;
            for (int v = 0; v < V; v++) { mp = p[v] > mp ? p[v] : mp; mq = q[v] > mq ? q[v] : mq; }
            for (int v = 0; v < V; v++) { zp += exp(p[v] - mp); zq += exp(q[v] - mq); }
            for (int v = 0; v < V; v++) {
                double lp = p[v] - mp - log(zp), lq = q[v] - mq - log(zq);
                kl += exp(lp) * (lp - lq);
            }
            sum += kl;
        }
    }
    model_state_free(s);
    free(a);
    free(b);
    return sum / ((double)ns * T);
}

static double quantize(const char *name, QuantMethod method, int bits, int *calib, int ns, int T,
                       const int *held, int n_held, double *nll_out, double *kl_out) {
    char dir[256], err[QB_ERRLEN] = "", ck[256];
    snprintf(dir, sizeof dir, FIX "%s", name);
    Model *m = load_ok(dir);
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, method, bits);
    po.opt.group_size = -1;
    po.true_sequential = 1;
    CalibrationSet cs = {ns, T, calib};
    PipelineReport rep;
    if (quant_model(m, &cs, &po, 1, &rep, err)) fail_msg("%s %s: %s", name, quant_method_name(method), err);
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(&m->cfg, kinds);
    assert_int_equal(rep.n_layers, m->cfg.n_layers * nk);
    double sum = 0;
    for (int i = 0; i < rep.n_layers; i++) {
        assert_int_equal(rep.layers[i].kind, kinds[i % nk]);
        sum += rep.layers[i].error;
    }
    /* the checkpoint round trip gives the same model */
    snprintf(ck, sizeof ck, "/tmp/qb_arch_%s_%d.qbq", name, (int)method);
    if (quant_checkpoint_write(m, &rep, &po, ck, err)) fail_msg("%s: write: %s", name, err);
    Model *q = quant_checkpoint_load(ck, err);
    if (!q) fail_msg("%s: load: %s", name, err);
    assert_int_equal(q->cfg.family, m->cfg.family);
    *nll_out = nll(m, held, n_held, T);
    if (kl_out) {
        Model *f = load_ok(dir);
        *kl_out = kl_to(f, m, held, n_held, T);
        model_free(f);
    }
    assert_true(fabs(nll(q, held, n_held, T) - *nll_out) < 1e-9);
    remove(ck);
    model_free(q);
    pipeline_report_free(&rep);
    model_free(m);
    return sum;
}

static void check_quant(const char *name, int allow_ppl_miss) {
    enum { NS = 128, NH = 64, T = 32 };
    int calib[NS * T], held[NH * T];
    windows(name, calib, NS, T, 11);
    windows(name, held, NH, T, 12);
    char dir[256];
    snprintf(dir, sizeof dir, FIX "%s", name);
    Model *f = load_ok(dir);
    double n_float = nll(f, held, NH, T);
    model_free(f);
    for (int bits = 3; bits <= 4; bits++) {
        double n_rtn, n_gptq, kl_rtn, kl_gptq;
        double e_rtn = quantize(name, QM_RTN, bits, calib, NS, T, held, NH, &n_rtn, &kl_rtn);
        double e_gptq = quantize(name, QM_GPTQ, bits, calib, NS, T, held, NH, &n_gptq, &kl_gptq);
        printf("  %-14s %d bits: layer error rtn %.4g gptq %.4g; held-out ppl float %.3f rtn %.3f gptq %.3f; "
               "KL rtn %.4f gptq %.4f\n", name, bits, e_rtn, e_gptq, exp(n_float), exp(n_rtn), exp(n_gptq), kl_rtn, kl_gptq);
        assert_true(e_gptq < e_rtn);
        assert_true(kl_gptq < kl_rtn);
        if (!allow_ppl_miss || bits == 3) assert_true(n_gptq < n_rtn);
    }
    double ppl;
    QuantMethod others[] = {QM_GPTQT, QM_RTNT, QM_BCQ};
    for (size_t i = 0; i < 3; i++) {
        quantize(name, others[i], 3, calib, NS, T, held, NH, &ppl, NULL);
        assert_true(isfinite(ppl));
    }
}

/* GPTQ of block 0, layer by layer, against gptq_ref.py on the Hessians of the torch forward's inputs
 * (make_arch_fixtures.py). The C Hessian is accumulated in float32 from float32 activations, the
 * oracle's in float64 from the float64 forward: rounding may put a handful of weights on the
 * neighbouring grid point, so the test allows 1% of them to differ, by at most a few grid steps. */
static void check_oracle(const char *name) {
    char dir[256], path[400], err[QB_ERRLEN] = "";
    snprintf(dir, sizeof dir, FIX "%s", name);
    snprintf(path, sizeof path, "%s/oracle.json", dir);
    size_t len;
    char *text = qb_read_file(path, &len, err);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *wins = cJSON_GetObjectItem(j, "windows");
    int ns = cJSON_GetArraySize(wins), T = cJSON_GetArraySize(cJSON_GetArrayItem(wins, 0));
    int *w = malloc((size_t)ns * T * sizeof(int));
    for (int i = 0; i < ns; i++) json_ints(cJSON_GetArrayItem(wins, i), w + (size_t)i * T, T);
    int bits = cJSON_GetObjectItem(j, "bits")->valueint;
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/oracle_Q.f32", dir);
    float *oq = (float *)qb_read_file(path, &len, err);
    assert_non_null(oq);

    Model *m = load_ok(dir);
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, QM_GPTQ, bits);
    po.opt.group_size = -1;
    po.true_sequential = 1;
    CalibrationSet cs = {ns, T, w};
    PipelineReport rep;
    if (quant_model(m, &cs, &po, 0, &rep, err)) fail_msg("%s: %s", name, err);
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(&m->cfg, kinds);
    size_t off = 0;
    for (int i = 0; i < nk; i++) {
        const Linear *lin = &m->blocks[0].lin[kinds[i]];
        size_t n = (size_t)lin->rows * lin->cols, diff = 0;
        assert_true((off + n) * 4 <= len);
        double worst = 0, wmax = 0;
        for (size_t e = 0; e < n; e++) {
            double d = fabs((double)lin->w[e] - (double)oq[off + e]);
            if (d > 1e-5) diff++;
            if (d > worst) worst = d;
            if (fabs(lin->w[e]) > wmax) wmax = fabs(lin->w[e]);
        }
        printf("  %-8s blk.0.%-8s %zu of %zu weights differ from the oracle (max %.3g, |w| max %.3g)\n", name,
               model_linear_name(&m->cfg, kinds[i]), diff, n, worst, wmax);
        assert_true(diff * 100 <= n);
        /* a 4-bit step is at most (max - min) / 15 <= 2 |w|max / 15: a few steps at most */
        assert_true(worst <= 4 * 2 * wmax / 15);
        off += n;
    }
    assert_int_equal(off * 4, len);
    pipeline_report_free(&rep);
    model_free(m);
    free(oq);
    free(w);
}

static void test_oracle_opt(void **st) { (void)st; check_oracle("opt_pre"); }
static void test_oracle_bloom(void **st) { (void)st; check_oracle("bloom"); }
static void test_oracle_gpt2(void **st) { (void)st; check_oracle("gpt2"); }
static void test_oracle_neox(void **st) { (void)st; check_oracle("neox"); }

static void test_quant_opt(void **st) { (void)st; check_quant("opt_post_proj", 0); }
static void test_quant_bloom(void **st) { (void)st; check_quant("bloom", 0); }
static void test_quant_gpt2(void **st) { (void)st; check_quant("gpt2", 0); }
static void test_quant_neox(void **st) { (void)st; check_quant("neox", 1); }

/* ---- quantize_head ---------------------------------------------------------------------------------- */

/* final-block hidden states of the windows w (ns x T) through m's blocks, then the classifier's input
 * (model_head_input): X (ns*T, emb_dim) */
static float *head_inputs(const Model *m, const int *w, int ns, int T) {
    char err[QB_ERRLEN];
    const int D = m->cfg.dim, E = model_emb_dim(&m->cfg);
    ModelState *s = model_state_new(m, T, T);
    float *x = malloc((size_t)T * D * sizeof(float)), *X = malloc((size_t)ns * T * E * sizeof(float));
    assert_true(s && x && X);
    for (int i = 0; i < ns; i++) {
        model_embed(m, w + (size_t)i * T, T, x);
        for (int l = 0; l < m->cfg.n_layers; l++) assert_int_equal(model_block_forward(m, s, l, x, T, NULL, NULL, err), 0);
        assert_int_equal(model_head_input(m, x, T, X + (size_t)i * T * E), 0);
    }
    model_state_free(s);
    free(x);
    return X;
}

static Model *quant_with_head(const char *dir, QuantMethod meth, int head, int keep, const CalibrationSet *cs,
                              PipelineOptions *po, PipelineReport *rep) {
    char err[QB_ERRLEN] = "";
    Model *m = load_ok(dir);
    memset(po, 0, sizeof *po);
    quant_options_default(&po->opt, meth, 4);
    po->opt.group_size = -1;
    po->true_sequential = 1;
    po->quantize_head = head;
    if (quant_model(m, cs, po, keep, rep, err)) fail_msg("%s: %s", dir, err);
    return m;
}

/* --quantize-head on each family:
 *   - the classifier's input (model_head_input: final LayerNorm, OPT-350M's project_out, nothing for
 *     OPT's post-LayerNorm) times the fixture's classifier gives the plain-torch reference logits;
 *   - GPTQ's classifier is exactly quantize_layer of the float classifier on the Hessian of those
 *     inputs taken after the quantized blocks, and beats RTN's head error;
 *   - a tied head stays one tensor with the embedding table (quantized together, as the CLI says); an
 *     untied one (GPT-NeoX's embed_out) leaves embed_in to RTN's grid, GPTQ or not;
 *   - without the flag the head is untouched; the checkpoint round-trips the quantized head. */
static void check_head(const char *name) {
    enum { NS = 32, T = 32 };
    char dir[256], err[QB_ERRLEN] = "", ck[256];
    snprintf(dir, sizeof dir, FIX "%s", name);
    Ref r;
    ref_load(dir, &r);
    Model *f = load_ok(dir);
    const int V = f->cfg.vocab_size, E = model_emb_dim(&f->cfg);
    const size_t VE = (size_t)V * E;
    float *X = head_inputs(f, r.ids, 1, r.n);
    double worst = 0;
    for (int t = 0; t < r.n; t++)
        for (int v = 0; v < V; v++) {
            double z = 0;
            for (int e = 0; e < E; e++) z += (double)X[(size_t)t * E + e] * f->classifier[(size_t)v * E + e];
            double d = fabs(z - r.logits[(size_t)t * V + v]);
            worst = d > worst ? d : worst;
        }
    printf("  %-14s head input x classifier vs reference logits: max |diff| %.3g\n", name, worst);
    assert_true(worst < 1e-4);
    free(X);

    int calib[NS * T];
    windows(name, calib, NS, T, 21);
    CalibrationSet cs = {NS, T, calib};
    PipelineOptions po;
    PipelineReport r0, rg, rr;
    Model *m0 = quant_with_head(dir, QM_GPTQ, 0, 0, &cs, &po, &r0);
    assert_int_equal(r0.head_quantized, 0);
    assert_memory_equal(m0->classifier, f->classifier, VE * sizeof(float));
    assert_memory_equal(m0->tok_emb, f->tok_emb, VE * sizeof(float));
    Model *mg = quant_with_head(dir, QM_GPTQ, 1, 1, &cs, &po, &rg);
    assert_int_equal(rg.head_quantized, 1);
    assert_true(rg.packed_bytes < r0.packed_bytes);
    /* the same Hessian by hand, from the quantized blocks' outputs: m0's blocks (the head comes after
     * them, so they are mg's) with the float embeddings (mg's tok_emb is quantized now) */
    for (int l = 0; l < f->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const Linear *a = &m0->blocks[l].lin[k], *b = &mg->blocks[l].lin[k];
            if (a->w) assert_memory_equal(a->w, b->w, (size_t)a->rows * a->cols * sizeof(float));
        }
    Hessian h;
    assert_int_equal(hessian_init(&h, E, err), 0);
    X = head_inputs(m0, calib, NS, T);
    for (int i = 0; i < NS; i++) hessian_add_sample(&h, X + (size_t)i * T * E, T);
    QuantResult q;
    assert_int_equal(quantize_layer(f->classifier, h.H, V, E, &po.opt, &q, err), 0);
    assert_memory_equal(mg->classifier, q.q, VE * sizeof(float));
    assert_true(memcmp(mg->classifier, f->classifier, VE * sizeof(float)) != 0);
    quant_result_free(&q);
    hessian_free(&h);
    free(X);
    if (f->cfg.tied_embeddings) {
        assert_ptr_equal(mg->classifier, mg->tok_emb);
    } else { /* embed_in: RTN's grid, with or without GPTQ */
        QuantOptions eo;
        quant_options_default(&eo, QM_RTN, 4);
        eo.group_size = -1;
        assert_int_equal(quantize_layer(f->tok_emb, NULL, V, E, &eo, &q, err), 0);
        assert_memory_equal(mg->tok_emb, q.q, VE * sizeof(float));
        quant_result_free(&q);
    }
    Model *mr = quant_with_head(dir, QM_RTN, 1, 0, &cs, &po, &rr);
    printf("  %-14s 4-bit head error: RTN %.5g, GPTQ %.5g\n", name, rr.head_error, rg.head_error);
    assert_true(isfinite(rg.head_error) && rg.head_error > 0 && rg.head_error < rr.head_error);
    /* checkpoint round trip */
    snprintf(ck, sizeof ck, "/tmp/qb_arch_head_%s.qbq", name);
    quant_options_default(&po.opt, QM_GPTQ, 4);
    po.opt.group_size = -1;
    po.quantize_head = 1;
    if (quant_checkpoint_write(mg, &rg, &po, ck, err)) fail_msg("%s: write: %s", name, err);
    Model *back = quant_checkpoint_load(ck, err);
    if (!back) fail_msg("%s: load: %s", name, err);
    assert_memory_equal(back->classifier, mg->classifier, VE * sizeof(float));
    assert_memory_equal(back->tok_emb, mg->tok_emb, VE * sizeof(float));
    assert_true(fabs(nll(back, calib, 4, T) - nll(mg, calib, 4, T)) < 1e-12);
    remove(ck);
    model_free(back);
    pipeline_report_free(&r0);
    pipeline_report_free(&rg);
    pipeline_report_free(&rr);
    model_free(m0);
    model_free(mg);
    model_free(mr);
    model_free(f);
    free(r.logits);
}

static void test_head_opt(void **st) { (void)st; check_head("opt_pre"); }
static void test_head_opt_post_proj(void **st) { (void)st; check_head("opt_post_proj"); }
static void test_head_bloom(void **st) { (void)st; check_head("bloom"); }
static void test_head_gpt2(void **st) { (void)st; check_head("gpt2"); }
static void test_head_neox(void **st) { (void)st; check_head("neox"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_opt),
        cmocka_unit_test(test_head_opt_post_proj),
        cmocka_unit_test(test_head_bloom),
        cmocka_unit_test(test_head_gpt2),
        cmocka_unit_test(test_head_neox),
        cmocka_unit_test(test_opt_pre_layernorm),
        cmocka_unit_test(test_opt_post_layernorm_projections),
        cmocka_unit_test(test_bloom_alibi_five_heads),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_neox_parallel),
        cmocka_unit_test(test_gpt2_pytorch_bin_sharded),
        cmocka_unit_test(test_neox_sequential_pytorch_bin),
        cmocka_unit_test(test_hostile_pickles),
        cmocka_unit_test(test_pickle_mutations),
        cmocka_unit_test(test_description),
        cmocka_unit_test(test_export_gptq),
        cmocka_unit_test(test_save_round_trip),
        cmocka_unit_test(test_cli_end_to_end),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_quant_opt),
        cmocka_unit_test(test_quant_bloom),
        cmocka_unit_test(test_quant_gpt2),
        cmocka_unit_test(test_quant_neox),
        cmocka_unit_test(test_oracle_opt),
        cmocka_unit_test(test_oracle_bloom),
        cmocka_unit_test(test_oracle_gpt2),
        cmocka_unit_test(test_oracle_neox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* bench_decode.c — decode and prefill speed of models kept as stored, side by side with their float32
 * source: decode tokens/s (one token per forward call from the KV cache, 64 tokens) and prefill tokens/s
 * (one 128-token window with the classifier, as perplexity runs it), plus each model's linear-weight bytes
 * in memory. Models are measured in interleaved rounds (every model once per round) and the figures are
 * medians over rounds; ratios are taken within a round, then the median, so machine load shared by the
 * models cancels. Figures only — never a pass/fail on time.
 *
 * Usage: bench_decode [--threads N] [--rounds R] MODEL...   (the first model is the reference)
 *        bench_decode --kernels [--rounds R]   (the decode kernels alone on one block of the 110M shape,
 *        every format, GGUF Q4_0 / Q4_K / Q6_K / Q8_0 blocks among them, random codes: no quantization needed)
 * With no models it builds the synthetic 110M Llama (dim 768, hidden 2048, 12 layers, vocab 32000) in
 * /tmp with $QBENCH_BIN, rounded to BF16 (bench/half_model.py, as published checkpoints are stored), and
 * measures the same weights in float32 (the reference), BF16, RTN 4-bit g128 (the uniform 4-bit kernel
 * every GPTQ 4-bit checkpoint without act-order uses) and RTNT / BCQ at 3 and 2 bits g128 (binary codes,
 * the format GPTQT checkpoints have; RTNT needs no calibration), all quantized from the BF16 model. The
 * "head" column says how the classifier is read (BF16 when every value is one). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "model/gguf.h"
#include "model/model.h"
#include "model/qweights.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

#define MAX_MODELS 16
#define MAX_ROUNDS 16
#define N_DECODE 64
#define N_PREFILL 128

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double t[MAX_ROUNDS];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int run(const char *cmd) {
    fprintf(stderr, "+ %s\n", cmd);
    return system(cmd);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Builds the default model set under /tmp; returns the number of paths written into paths. The source is
 * the synthetic 110M in BF16 (as published checkpoints are stored; bench/half_model.py rounds the float32
 * synth), the reference is the same weights in float32 (`convert`), and every quantized model comes from
 * the BF16 one, so its classifier runs in BF16 like the BF16 model's (exactly the same values). */
static int default_models(char paths[][512]) {
    const char *bin = getenv("QBENCH_BIN");
    if (!bin || !*bin) bin = "bin/qbench";
    const char *dir = "/tmp/qbench_bench_decode_bf16";
    char cmd[2048], src[512], bf[512];
    if (strlen(bin) > 400) return -1;
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/f32_synth", dir);
    snprintf(bf, sizeof bf, "%s/bf16", dir);
    snprintf(paths[0], 512, "%s/f32", dir);
    if (!exists(src)) {
        snprintf(cmd, sizeof cmd, "%.400s synth --format hf --dim 768 --hidden 2048 --layers 12 --heads 12 --kv-heads 12 "
                 "--vocab 32000 --seq-len 1024 --seed 1 -o %.500s", bin, src);
        if (run(cmd)) return -1;
    }
    if (!exists(bf)) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/half_model.py %.500s %.500s bf16", src, bf);
        if (run(cmd)) return -1;
    }
    if (!exists(paths[0])) {
        snprintf(cmd, sizeof cmd, "%.400s convert %.500s -o %.500s", bin, bf, paths[0]);
        if (run(cmd)) return -1;
    }
    static const struct { const char *method; int bits; } Q[] = {{"rtn", 4}, {"rtnt", 3}, {"rtnt", 2}, {"bcq", 3}, {"bcq", 2}};
    int n = 1;
    snprintf(paths[n++], 512, "%s", bf);
    for (size_t i = 0; i < sizeof Q / sizeof Q[0]; i++, n++) {
        snprintf(paths[n], 512, "%s/%s%d_g128.qbq", dir, Q[i].method, Q[i].bits);
        if (exists(paths[n])) continue;
        snprintf(cmd, sizeof cmd, "%.400s quantize --model %.500s --method %s --bits %d --group-size 128 --quiet -o %.500s", bin,
                 bf, Q[i].method, Q[i].bits, paths[n]);
        if (run(cmd)) return -1;
    }
    return n;
}

static size_t weight_bytes(const Model *m) {
    size_t b = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) b += linear_weight_bytes(&m->blocks[l].lin[k]);
    return b;
}

static int measure(const Model *m, double *decode, double *prefill) {
    char err[QB_ERRLEN];
    ModelSpeed sp;
    if (model_measure_speed(m, N_DECODE, N_PREFILL, &sp, err)) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return -1;
    }
    *decode = sp.decode_tps;
    *prefill = sp.prefill_tps;
    return 0;
}

/* ---- --kernels: one block's seven layers of the 110M shape per format, random codes ----------------- */

typedef struct { const char *name; QWeightFormat f; int bits; } KFormat; /* QW_GGUF: bits is the ggml type */

/* A GGUF layer of ggml type t: random blocks whose fp16 scales are small normal values. */
static int gguf_layer(Model *m, Linear *l, uint32_t t, QbRng *r) {
    char err[QB_ERRLEN];
    int block, bytes;
    if (!gguf_type_info(t, &block, &bytes)) return -1;
    size_t nb = (size_t)l->rows * l->cols / block;
    uint8_t *d = (uint8_t *)model_own_floats(m, (nb * bytes + 3) / 4);
    if (!d) return -1;
    for (size_t i = 0; i < nb * bytes; i++) d[i] = (uint8_t)qb_rng_below(r, 256);
    /* where each type keeps its fp16 scales (d, and dmin for the K types with mins) */
    int at[2] = {0, t == GGML_Q4_K || t == GGML_Q5_K ? 2 : -1};
    if (t == GGML_Q6_K) at[0] = 208;
    for (size_t b = 0; b < nb; b++)
        for (int k = 0; k < 2; k++)
            if (at[k] >= 0) {
                uint16_t h = (uint16_t)(0x1800 + qb_rng_below(r, 0x400));
                memcpy(d + b * bytes + at[k], &h, 2);
            }
    if (linear_keep_gguf(m, l, t, d, nb * bytes, err)) { fprintf(stderr, "bench_decode: %s\n", err); return -1; }
    return 0;
}

/* Fills blk's layers (dim 768, hidden 2048) in format k with seeded random data owned by m. */
static int kernel_block(Model *m, Linear *blk, const KFormat *k, uint64_t seed) {
    char err[QB_ERRLEN];
    ModelConfig c = {.dim = 768, .hidden_dim = 2048, .n_heads = 12, .n_kv_heads = 12, .head_dim = 64};
    QbRng r;
    qb_rng_seed(&r, seed);
    for (int i = 0; i < LIN_COUNT; i++) {
        Linear *l = &blk[i];
        memset(l, 0, sizeof *l);
        model_linear_shape(&c, (LinearKind)i, &l->rows, &l->cols);
        size_t n = (size_t)l->rows * l->cols;
        int ng = l->cols / 128, rg = l->rows * ng;
        if (k->f == QW_F32) {
            if (!(l->w = model_own_floats(m, n))) return -1;
            for (size_t j = 0; j < n; j++) l->w[j] = 0.02f * qb_rng_normal(&r);
            continue;
        }
        if (k->f == QW_GGUF) {
            if (gguf_layer(m, l, (uint32_t)k->bits, &r)) return -1;
            continue;
        }
        if (k->f == QW_F16 || k->f == QW_BF16) {
            uint16_t *h = (uint16_t *)model_own_floats(m, (n + 1) / 2);
            if (!h) return -1;
            for (size_t j = 0; j < n; j++) h[j] = (uint16_t)(0x2000 + qb_rng_below(&r, 0x1000)); /* small normals */
            if (linear_keep_half(m, l, k->f, h, err)) return -1;
            continue;
        }
        uint8_t *codes = malloc(n);
        float *a = malloc((size_t)rg * (8 + (1 << k->bits) + 2) * sizeof *a);
        int32_t *g = malloc((size_t)l->cols * sizeof *g);
        if (!codes || !a || !g) { free(codes); free(a); free(g); return -1; }
        for (size_t j = 0; j < n; j++) codes[j] = (uint8_t)qb_rng_below(&r, 1u << k->bits);
        for (int j = 0; j < rg * (8 + (1 << k->bits) + 2); j++) a[j] = 0.01f * (float)qb_rng_uniform(&r);
        for (int j = 0; j < l->cols; j++) g[j] = j / 128;
        int rc = k->f == QW_UNIFORM ? linear_keep_uniform(m, l, k->bits, ng, codes, a, a + rg, g, err)
                                    : linear_keep_binary(m, l, k->bits, ng, codes, a, a + (size_t)rg * 8,
                                                         a + (size_t)rg * 9, g, err);
        free(codes); free(a); free(g);
        if (rc) { fprintf(stderr, "bench_decode: %s\n", err); return -1; }
    }
    return 0;
}

static int kernels_bench(int rounds) {
    static const KFormat K[] = {{"f32", QW_F32, 0},         {"bf16", QW_BF16, 0},       {"f16", QW_F16, 0},
                                {"uniform 4-bit g128", QW_UNIFORM, 4}, {"uniform 3-bit g128", QW_UNIFORM, 3},
                                {"binary 3-bit g128 (LUT)", QW_BINARY, 3}, {"binary 2-bit g128 (LUT)", QW_BINARY, 2},
                                {"gguf Q4_0", QW_GGUF, GGML_Q4_0}, {"gguf Q4_K", QW_GGUF, GGML_Q4_K},
                                {"gguf Q6_K", QW_GGUF, GGML_Q6_K}, {"gguf Q8_0", QW_GGUF, GGML_Q8_0}};
    enum { NK = sizeof K / sizeof K[0], REPS = 20 };
    Model *m = model_alloc();
    Linear blk[NK][LIN_COUNT];
    float *x = malloc(2048 * sizeof *x), *y = malloc(2048 * sizeof *y);
    if (!m || !x || !y) return 1;
    for (int i = 0; i < 2048; i++) x[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    for (int k = 0; k < NK; k++)
        if (kernel_block(m, blk[k], &K[k], (uint64_t)k + 1)) return 1;
    double t[NK][MAX_ROUNDS], ratio[NK][MAX_ROUNDS];
    for (int r = -1; r < rounds; r++) /* round -1 warms up */
        for (int kk = 0; kk < NK; kk++) {
            int k = (kk + (r < 0 ? 0 : r)) % NK;
            double t0 = now();
            for (int rep = 0; rep < REPS; rep++)
                for (int i = 0; i < LIN_COUNT; i++) linear_dot_rows(&blk[k][i], x, 0, blk[k][i].rows, y);
            if (r >= 0) t[k][r] = (now() - t0) / REPS;
        }
    for (int k = 0; k < NK; k++)
        for (int r = 0; r < rounds; r++) ratio[k][r] = t[0][r] / t[k][r];
    printf("bench_decode --kernels: one block of the 110M model (7 layers, 7.1M weights), one thread, decode "
           "(matrix-vector), %d rounds (medians), kernel level %d\n", rounds, qk_simd());
    printf("%-26s %12s %12s %10s\n", "format", "weight MB", "ms / block", "x f32");
    for (int k = 0; k < NK; k++) {
        size_t b = 0;
        for (int i = 0; i < LIN_COUNT; i++) b += linear_weight_bytes(&blk[k][i]);
        printf("%-26s %12.2f %12.3f %10.2f\n", K[k].name, b / 1e6, 1e3 * median(t[k], rounds), median(ratio[k], rounds));
    }
    model_free(m);
    free(x);
    free(y);
    return 0;
}

int main(int argc, char **argv) {
    char paths[MAX_MODELS][512];
    int n = 0, rounds = 5, threads = omp_get_max_threads(), kernels = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernels")) kernels = 1;
        else if (n < MAX_MODELS) snprintf(paths[n++], 512, "%s", argv[i]);
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || threads < 1) {
        fprintf(stderr, "usage: bench_decode [--threads N] [--rounds 1..%d] MODEL...\n", MAX_ROUNDS);
        return 2;
    }
    if (kernels) return kernels_bench(rounds);
    if (n == 0 && (n = default_models(paths)) < 0) return 1;
    omp_set_num_threads(threads);
    Model *m[MAX_MODELS];
    char err[QB_ERRLEN];
    for (int i = 0; i < n; i++)
        if (!(m[i] = quant_or_model_load(paths[i], err))) {
            fprintf(stderr, "bench_decode: %s\n", err);
            return 1;
        }
    double dec[MAX_MODELS][MAX_ROUNDS], pre[MAX_MODELS][MAX_ROUNDS], rdec[MAX_MODELS][MAX_ROUNDS],
        rpre[MAX_MODELS][MAX_ROUNDS];
    for (int i = 0; i < n; i++) measure(m[i], &dec[i][0], &pre[i][0]); /* warm-up: page in every weight */
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++) {
            int k = (i + r) % n; /* rotate the order so no model always runs right after the same one */
            if (measure(m[k], &dec[k][r], &pre[k][r])) return 1;
        }
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rounds; r++) {
            rdec[i][r] = dec[i][r] / dec[0][r];
            rpre[i][r] = pre[i][r] / pre[0][r];
        }
    printf("bench_decode: %d threads, %d rounds (medians), decode %d tokens, prefill %d tokens, kernels %s\n",
           threads, rounds, N_DECODE, N_PREFILL, getenv("QBENCH_NO_SIMD") ? "portable C" : "AVX2 where present");
    printf("%-44s %-8s %-5s %10s %10s %8s %10s %8s\n", "model", "format", "head", "weights MB", "decode t/s", "x ref", "prefill t/s",
           "x ref");
    for (int i = 0; i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        printf("%-44s %-8s %-5s %10.1f %10.1f %8.2f %10.1f %8.2f\n", base ? base + 1 : paths[i],
               qweight_format_name(linear_format(&m[i]->blocks[0].lin[0])),
               m[i]->classifier_q ? qweight_format_name(m[i]->classifier_q->fmt) : "f32", weight_bytes(m[i]) / 1e6,
               median(dec[i], rounds), median(rdec[i], rounds), median(pre[i], rounds), median(rpre[i], rounds));
    }
    for (int i = 0; i < n; i++) model_free(m[i]);
    return 0;
}

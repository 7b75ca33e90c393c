/* common.c — the shared test helpers (see common.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "model/model.h"
#include "tests/common.h"

const char *t_qbench_bin(void) {
    const char *b = getenv("QBENCH_BIN");
    return b && b[0] ? b : "bin/qbench";
}

static char *read_stream(FILE *f) {
    size_t cap = 4096, len = 0, k;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (len + 1 >= cap) {
            buf = realloc(buf, cap *= 2);
            assert_non_null(buf);
        }
    }
    buf[len] = 0;
    return buf;
}

int t_run_qbench(const char *args, char **out, char **err) {
    char errpath[] = "/tmp/qbench_test_stderr_XXXXXX";
    if (err) {
        int fd = mkstemp(errpath);
        assert_true(fd >= 0);
        close(fd);
    }
    size_t n = strlen(args) + strlen(t_qbench_bin()) + 64;
    char *cmd = malloc(n);
    assert_non_null(cmd);
    if (err) snprintf(cmd, n, "%s %s 2>%s", t_qbench_bin(), args, errpath);
    else if (out) snprintf(cmd, n, "%s %s 2>&1", t_qbench_bin(), args);
    else snprintf(cmd, n, "%s %s >/dev/null 2>&1", t_qbench_bin(), args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    char *text = read_stream(p);
    int st = pclose(p);
    if (out) *out = text;
    else free(text);
    if (err) {
        *err = t_slurp(errpath, NULL);
        unlink(errpath);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *t_slurp(const char *path, size_t *len) {
    char e[QB_ERRLEN];
    char *b = qb_read_file(path, len, e);
    if (!b) fprintf(stderr, "%s\n", e);
    assert_non_null(b);
    return b;
}

void t_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void t_write_text(const char *path, const char *text) { t_write_file(path, text, strlen(text)); }

int t_mkdtemp(char *buf, size_t n, const char *prefix) {
    if ((size_t)snprintf(buf, n, "/tmp/%s_XXXXXX", prefix) >= n) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

int t_rm_rf(const char *dir) {
    char cmd[1200];
    if (strchr(dir, '\'') || (size_t)snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) >= sizeof cmd) return -1;
    return system(cmd) == 0 ? 0 : -1;
}

Model *t_load_model(const char *path) {
    char err[QB_ERRLEN] = "";
    Model *m = model_load(path, err);
    if (!m) fail_msg("load %s: %s", path, err);
    return m;
}

float *t_decode_logits(const Model *m, const int *tok, int n) {
    char err[QB_ERRLEN];
    ModelState *s = model_state_new(m, n, 1);
    assert_non_null(s);
    size_t V = (size_t)m->cfg.vocab_size;
    float *lg = malloc(sizeof(float) * (size_t)n * V);
    assert_non_null(lg);
    for (int i = 0; i < n; i++)
        if (model_forward(m, s, tok + i, 1, i, lg + (size_t)i * V, err)) fail_msg("%s", err);
    model_state_free(s);
    return lg;
}

double t_packed_vs_dequantized(const char *path, int n) {
    assert_int_equal(unsetenv("QBENCH_DEQUANTIZE"), 0);
    Model *p = t_load_model(path);
    assert_int_equal(setenv("QBENCH_DEQUANTIZE", "1", 1), 0);
    Model *f = t_load_model(path);
    assert_int_equal(unsetenv("QBENCH_DEQUANTIZE"), 0);
    int *tok = malloc((size_t)n * sizeof *tok);
    assert_non_null(tok);
    for (int i = 0; i < n; i++) tok[i] = i == 0 ? 1 : (int)((i * 7919u + 13u) % (unsigned)p->cfg.vocab_size);
    size_t N = (size_t)n * p->cfg.vocab_size, diff = 0;
    float *a = t_prefill_logits(p, tok, n), *b = t_prefill_logits(f, tok, n);
    for (size_t i = 0; i < N; i++) diff += a[i] != b[i];
    if (diff) fail_msg("%s: %zu of %zu prefill logits of the packed model differ from the float32 model's", path, diff, N);
    free(a);
    free(b);
    a = t_decode_logits(p, tok, n);
    b = t_decode_logits(f, tok, n);
    double worst = 0;
    for (size_t i = 0; i < N; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > 1e-5 * (1.0 + fabs((double)b[i])))
            fail_msg("%s: decode logit %zu packed %.9g, float32 %.9g", path, i, (double)a[i], (double)b[i]);
        if (d > worst) worst = d;
    }
    free(a);
    free(b);
    free(tok);
    model_free(p);
    model_free(f);
    return worst;
}

float *t_prefill_logits(const Model *m, const int *tok, int n) {
    char err[QB_ERRLEN];
    ModelState *s = model_state_new(m, n, n);
    assert_non_null(s);
    float *lg = malloc(sizeof(float) * (size_t)n * m->cfg.vocab_size);
    assert_non_null(lg);
    if (model_forward(m, s, tok, n, 0, lg, err)) fail_msg("%s", err);
    model_state_free(s);
    return lg;
}

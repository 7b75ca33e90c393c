/* cli.c — option tables, value parsing, the assets folder and the segment-input resolver (cli.h). */
#include "harness/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/datasets.h"

#define NO_UPPER 1e15

/* "2..8", ">= 1", "0..1" */
static void range_text(double lo, double hi, int integer, char *b, size_t n) {
    if (hi >= NO_UPPER) snprintf(b, n, ">= %.*g", integer ? 17 : 6, lo);
    else snprintf(b, n, "%.*g..%.*g", integer ? 17 : 6, lo, integer ? 17 : 6, hi);
}

static int range_fail(const char *cmd, const char *flag, const char *s, double lo, double hi, int integer) {
    char r[80];
    range_text(lo, hi, integer, r, sizeof r);
    fprintf(stderr, "qbench %s: %s must be %s%s, got '%s'\n", cmd, flag, integer ? "an integer " : "",
            r, s ? s : "");
    return -1;
}

int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < lo || v > hi)
        return range_fail(cmd, flag, s, (double)lo, hi == LONG_MAX ? NO_UPPER : (double)hi, 1);
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || *end || end == s || !(v >= lo && v <= hi)) return range_fail(cmd, flag, s, lo, hi, 0);
    *out = v;
    return 0;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && !strncmp(p, v, n)) return 1;
        p += k + (bar ? 1 : 0);
    }
    return 0;
}

void cli_usage(const CliSpec *s, FILE *f) {
    fprintf(f, "usage: %s\n", s->synopsis);
    if (s->about) fprintf(f, "%s", s->about);
    if (s->n_opts) fprintf(f, "options:\n");
    for (int i = 0; i < s->n_opts; i++) {
        const CliOpt *o = &s->opts[i];
        char head[96], extra[160] = "";
        int takes = o->kind != CLI_FLAG && o->kind != CLI_OFF;
        snprintf(head, sizeof head, "%s%s%s%s%s", o->name, o->alias ? ", " : "", o->alias ? o->alias : "",
                 takes ? " " : "", takes ? (o->metavar ? o->metavar : "X") : "");
        size_t k = 0;
        if (o->kind == CLI_INT || o->kind == CLI_NUM) {
            char r[80];
            range_text(o->lo, o->hi, o->kind == CLI_INT, r, sizeof r);
            k += (size_t)snprintf(extra + k, sizeof extra - k, "range %s", r);
        } else if (o->kind == CLI_STR && o->choices) {
            k += (size_t)snprintf(extra + k, sizeof extra - k, "one of %s", o->choices);
        } else if (o->kind == CLI_LIST) {
            k += (size_t)snprintf(extra + k, sizeof extra - k, "repeatable");
        }
        if (o->def && k < sizeof extra)
            snprintf(extra + k, sizeof extra - k, "%sdefault %s", k ? "; " : "", o->def);
        fprintf(f, "  %-24s %s%s%s%s\n", head, o->help, extra[0] ? " (" : "", extra, extra[0] ? ")" : "");
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "print this help and exit 0");
    if (s->footer) fprintf(f, "%s", s->footer);
}

static const CliOpt *find_opt(const CliSpec *s, const char *a) {
    for (int i = 0; i < s->n_opts; i++)
        if (!strcmp(a, s->opts[i].name) || (s->opts[i].alias && !strcmp(a, s->opts[i].alias))) return &s->opts[i];
    return NULL;
}

int cli_parse(const CliSpec *s, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_usage(s, stdout);
            return 1;
        }
    }
    if (s->n_pos) *s->n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const CliOpt *o = a[0] == '-' && a[1] ? find_opt(s, a) : NULL;
        if (!o) {
            if (a[0] == '-' && a[1]) {
                fprintf(stderr, "qbench %s: unknown option '%s' (qbench %s --help lists them)\n", s->cmd, a, s->cmd);
                return -1;
            }
            if (!s->n_pos || *s->n_pos >= s->max_pos) {
                fprintf(stderr, "qbench %s: unexpected argument '%s' (qbench %s --help)\n", s->cmd, a, s->cmd);
                return -1;
            }
            s->pos[(*s->n_pos)++] = a;
            continue;
        }
        if (o->given) *o->given = 1;
        if (o->kind == CLI_FLAG || o->kind == CLI_OFF) {
            *(int *)o->dst = o->kind == CLI_FLAG;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "qbench %s: %s needs a value (%s)\n", s->cmd, o->name, o->metavar ? o->metavar : "X");
            return -1;
        }
        const char *v = argv[++i];
        switch (o->kind) {
        case CLI_INT:
            if (cli_parse_long(s->cmd, o->name, v, (long)o->lo, o->hi >= NO_UPPER ? LONG_MAX : (long)o->hi,
                               (long *)o->dst))
                return -1;
            break;
        case CLI_NUM:
            if (cli_parse_double(s->cmd, o->name, v, o->lo, o->hi, (double *)o->dst)) return -1;
            break;
        case CLI_STR:
            if (o->choices && !choice_ok(o->choices, v)) {
                fprintf(stderr, "qbench %s: %s must be one of %s, got '%s'\n", s->cmd, o->name, o->choices, v);
                return -1;
            }
            *(const char **)o->dst = v;
            break;
        case CLI_LIST: {
            CliList *l = o->dst;
            if (l->n >= l->max) {
                fprintf(stderr, "qbench %s: %s given more than %d times\n", s->cmd, o->name, l->max);
                return -1;
            }
            l->v[l->n++] = v;
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

const char *cli_assets_dir(void) {
    static char dir[1024];
    if (dir[0]) return dir;
    const char *env = getenv("QBENCH_ASSETS");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    if (is_dir("assets")) {
        snprintf(dir, sizeof dir, "assets");
        return dir;
    }
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        /* from the binary's folder upwards: bin/../assets, build-asan/bin/../../assets, ... */
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            char cand[1024];
            snprintf(cand, sizeof cand, "%s/assets", exe[0] ? exe : "");
            if (up > 0 && is_dir(cand)) {
                snprintf(dir, sizeof dir, "%s", cand);
                return dir;
            }
        }
    }
    snprintf(dir, sizeof dir, "assets");
    return dir;
}

int cli_read_lines(const char *name_or_path, int refs, TextFile *tf, char err[QB_ERRLEN]) {
    memset(tf, 0, sizeof *tf);
    if (refs && dataset_task_is_named(name_or_path)) {
        TaskSet t;
        if (dataset_load_task(name_or_path, 0, &t, err)) return -1;
        size_t len = 0;
        for (int i = 0; i < t.n; i++) len += strlen(t.pairs[i].n_refs ? t.pairs[i].refs[0] : "") + 1;
        char *buf = malloc(len + 1), *p = buf;
        if (!buf) {
            dataset_task_free(&t);
            snprintf(err, QB_ERRLEN, "%s: out of memory", name_or_path);
            return -1;
        }
        for (int i = 0; i < t.n; i++) {
            const char *r = t.pairs[i].n_refs ? t.pairs[i].refs[0] : "";
            size_t k = strlen(r);
            for (size_t c = 0; c < k; c++) *p++ = r[c] == '\n' || r[c] == '\r' ? ' ' : r[c]; /* one segment a line */
            *p++ = '\n';
        }
        int rc = textfile_parse(buf, (size_t)(p - buf), name_or_path, tf, err);
        free(buf);
        dataset_task_free(&t);
        return rc;
    }
    if (dataset_is_named(name_or_path)) {
        TextDataset d;
        if (dataset_load_text(name_or_path, &d, err)) return -1;
        int rc = textfile_parse(d.text, d.len, name_or_path, tf, err);
        dataset_text_free(&d);
        return rc;
    }
    return textfile_read(name_or_path, tf, err);
}

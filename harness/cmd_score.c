/* cmd_score.c — `qbench score chrf|chrf++|meteor|meteor15 --hyp FILE --ref FILE [--ref ...]`:
 * scores a hypothesis file against one or more reference files (one segment per line) and prints
 * the score with its sacrebleu-style signature. METEOR goes to cmd_score_meteor().
 *
 * Output (text):   [i<TAB>sentence score, with --sentence]
 *                  chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 58.0911
 * With --popovic (chrF++.py compatibility) or --sentence a "mean of sentence scores" line follows
 * (chrF++.py's avgF). --json prints one object instead: name, score, signature, nseg,
 * mean_sentence, the summed statistics and, with --sentence, the sentence scores.
 * 0 segments (empty files) score 0.0, with a note on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "harness/commands.h"
#include "metrics/chrf.h"
#include "metrics/textfile.h"

#define MAX_REFS 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: qbench score chrf|chrf++|meteor|meteor15 --hyp FILE --ref FILE [--ref FILE2 ...]\n"
            "                    [--sentence] [--json] [options]\n"
            "chrF options (sacrebleu 2.x CHRF semantics):\n"
            "  --char-order N     character n-gram order (6)\n"
            "  --word-order N     word n-gram order (chrf: 0, chrf++: 2)\n"
            "  --beta B           recall weight (2)\n"
            "  --lowercase        Python str.lower() first\n"
            "  --whitespace       keep whitespace in character n-grams\n"
            "  --eps-smoothing    average per-order F over all orders (chrF++.py / NLTK style)\n"
            "  --popovic          chrF++.py compatibility (its whitespace rule and averaging)\n"
            "  --width N          decimals printed (4)\n"
            "Files: one segment per line, UTF-8; CRLF read as LF; a final newline ends the last line.\n"
            "Exit status: 0 scored, 2 usage error or unreadable / mismatched input.\n");
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "qbench score: %s '%s': expected an integer in %d..%d\n", flag, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* cJSON prints doubles with a tolerance (the last bits can change); print them round-trip exact. */
static cJSON *exact_number(double x) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", x);
    return cJSON_CreateRaw(b);
}

static cJSON *exact_int(int64_t x) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)x);
    return cJSON_CreateRaw(b);
}

static int print_json(const char *name, const char *sig, const chrf_opts *o, const chrf_result *r,
                      const double *sent) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddItemToObject(j, "score", exact_number(r->score));
    cJSON_AddStringToObject(j, "signature", sig);
    cJSON_AddNumberToObject(j, "nseg", (double)r->nseg);
    cJSON_AddItemToObject(j, "mean_sentence", exact_number(r->mean_sentence));
    cJSON_AddNumberToObject(j, "char_order", o->char_order);
    cJSON_AddNumberToObject(j, "word_order", o->word_order);
    cJSON_AddItemToObject(j, "beta", exact_number(o->beta));
    /* [hyp, ref, match] per order, char orders first: sums over shards merge by addition */
    cJSON *st = cJSON_AddArrayToObject(j, "statistics");
    for (int k = 0; k < 3 * r->total.norder; k++)
        cJSON_AddItemToArray(st, exact_int(r->total.v[k]));
    if (sent) {
        cJSON *a = cJSON_AddArrayToObject(j, "sentences");
        for (size_t i = 0; i < r->nseg; i++) cJSON_AddItemToArray(a, exact_number(sent[i]));
    }
    char *s = cJSON_Print(j);
    int rc = s ? 0 : -1;
    if (s) printf("%s\n", s);
    else fprintf(stderr, "qbench score: out of memory writing JSON\n");
    free(s);
    cJSON_Delete(j);
    return rc;
}

int cmd_score(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *metric = argv[1];
    if (!strcmp(metric, "meteor")) return cmd_score_meteor(argc - 1, argv + 1, 0);
    if (!strcmp(metric, "meteor15")) return cmd_score_meteor(argc - 1, argv + 1, 1);
    chrf_opts o;
    if (!strcmp(metric, "chrf")) o = chrf_defaults(0);
    else if (!strcmp(metric, "chrf++")) o = chrf_defaults(2);
    else {
        fprintf(stderr, "qbench score: unknown metric '%s' (chrf, chrf++, meteor, meteor15)\n", metric);
        return 2;
    }

    const char *hyp_path = NULL, *ref_paths[MAX_REFS];
    int nrefs = 0, sentence = 0, json = 0, width = 4;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--sentence")) sentence = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--lowercase")) o.lowercase = 1;
        else if (!strcmp(a, "--whitespace")) o.whitespace = 1;
        else if (!strcmp(a, "--eps-smoothing")) o.eps_smoothing = 1;
        else if (!strcmp(a, "--popovic")) o.popovic = 1;
        else if (!has_val && (!strcmp(a, "--hyp") || !strcmp(a, "--ref") || !strcmp(a, "--char-order") ||
                              !strcmp(a, "--word-order") || !strcmp(a, "--beta") || !strcmp(a, "--width"))) {
            fprintf(stderr, "qbench score: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--hyp")) {
            if (hyp_path) { fprintf(stderr, "qbench score: --hyp given twice\n"); return 2; }
            hyp_path = argv[++i];
        } else if (!strcmp(a, "--ref")) {
            if (nrefs == MAX_REFS) { fprintf(stderr, "qbench score: more than %d --ref files\n", MAX_REFS); return 2; }
            ref_paths[nrefs++] = argv[++i];
        } else if (!strcmp(a, "--char-order")) {
            if (parse_int(a, argv[++i], 0, CHRF_MAX_CHAR_ORDER, &o.char_order)) return 2;
        } else if (!strcmp(a, "--word-order")) {
            if (parse_int(a, argv[++i], 0, CHRF_MAX_WORD_ORDER, &o.word_order)) return 2;
        } else if (!strcmp(a, "--width")) {
            if (parse_int(a, argv[++i], 0, 17, &width)) return 2;
        } else if (!strcmp(a, "--beta")) {
            char *end;
            const char *s = argv[++i];
            o.beta = strtod(s, &end);
            if (!*s || *end) { fprintf(stderr, "qbench score: --beta '%s' is not a number\n", s); return 2; }
        } else {
            fprintf(stderr, "qbench score: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!hyp_path || nrefs == 0) {
        fprintf(stderr, "qbench score: need --hyp FILE and at least one --ref FILE\n");
        return 2;
    }
    char err[QB_ERRLEN];
    if (chrf_opts_check(&o, err)) { fprintf(stderr, "qbench score: %s\n", err); return 2; }

    TextFile hyp = {0}, refs[MAX_REFS];
    memset(refs, 0, sizeof refs);
    const char **flat = NULL;
    double *sent = NULL;
    int rc = 2;
    if (textfile_read(hyp_path, &hyp, err)) { fprintf(stderr, "qbench score: %s\n", err); goto done; }
    for (int r = 0; r < nrefs; r++) {
        if (textfile_read(ref_paths[r], &refs[r], err)) { fprintf(stderr, "qbench score: %s\n", err); goto done; }
        if (refs[r].n != hyp.n) {
            fprintf(stderr, "qbench score: %s has %zu lines but %s has %zu\n", hyp_path, hyp.n,
                    ref_paths[r], refs[r].n);
            goto done;
        }
    }
    size_t n = hyp.n;
    flat = malloc(((size_t)nrefs * n + 1) * sizeof(char *));
    sent = malloc((n + 1) * sizeof(double));
    if (!flat || !sent) { fprintf(stderr, "qbench score: out of memory\n"); goto done; }
    for (int r = 0; r < nrefs; r++)
        for (size_t i = 0; i < n; i++) flat[(size_t)r * n + i] = refs[r].lines[i];
    chrf_result res;
    if (chrf_corpus((const char *const *)hyp.lines, n, flat, nrefs, &o, &res, sent, err)) {
        fprintf(stderr, "qbench score: %s: %s\n", hyp_path, err);
        goto done;
    }
    if (n == 0) fprintf(stderr, "qbench score: note: %s has 0 segments; the score is 0.0 by definition\n", hyp_path);

    char name[32], sig[256];
    chrf_name(&o, name, sizeof name);
    chrf_signature(&o, nrefs, sig, sizeof sig);
    if (json) {
        if (print_json(name, sig, &o, &res, sentence ? sent : NULL)) goto done;
    } else {
        if (sentence)
            for (size_t i = 0; i < n; i++) printf("%zu\t%.*f\n", i + 1, width, sent[i]);
        printf("%s|%s = %.*f\n", name, sig, width, res.score);
        if (sentence || o.popovic) printf("%s mean of sentence scores = %.*f\n", name, width, res.mean_sentence);
    }
    rc = 0;
done:
    textfile_free(&hyp);
    for (int r = 0; r < nrefs; r++) textfile_free(&refs[r]);
    free(flat);
    free(sent);
    return rc;
}

/* cmd_score_meteor.c — `qbench score meteor|meteor15 --hyp FILE --ref FILE [--ref FILE2 ...]`:
 * METEOR of a hypothesis file against reference files (one segment per line), printed with its
 * signature. argv[0] is the metric name.
 *
 *   meteor    NLTK 3.8 meteor_score (what Hugging Face `evaluate` reports), 0..1; corpus = mean of
 *             the segment scores; WordNet from /usr/share/wordnet (--wordnet DIR overrides).
 *   meteor15  Meteor 1.5 (English, task rank, -norm); corpus = the score of the summed
 *             statistics; resources from assets/meteor-examples/resources-en (--resources DIR).
 *
 * Output (text):  [i<TAB>segment score, with --sentence]
 *                 METEOR|nrefs:1|tok:whitespace|...|version:nltk-3.8 = 0.4672
 * --json prints one object: name, score, signature, nseg, sentences (with --sentence) and, for
 * meteor15, the summed statistics. 0 segments (empty files) score 0.0, with a note on stderr.
 * Exit status: 0 scored, 2 usage error or unreadable / mismatched input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "harness/commands.h"
#include "metrics/meteor.h"
#include "metrics/textfile.h"

#define MAX_REFS 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: qbench score meteor|meteor15 --hyp FILE --ref FILE [--ref FILE2 ...]\n"
            "                    [--sentence] [--json] [--width N] [options]\n"
            "meteor (NLTK 3.8 meteor_score):\n"
            "  --tokenize whitespace|treebank   str.split() (default) or nltk.word_tokenize\n"
            "  --wordnet DIR                    WordNet dict folder (default /usr/share/wordnet)\n"
            "meteor15 (Meteor 1.5, English):\n"
            "  --resources DIR   english.synsets/.exceptions/.function-words\n"
            "                    (default assets/meteor-examples/resources-en)\n"
            "  --paraphrase FILE paraphrase table, lines \"[prob |||] phrase ||| paraphrase\"\n"
            "  --no-norm         split on whitespace only (no tokenisation, no lowercasing)\n"
            "Files: one segment per line, UTF-8; CRLF read as LF.\n");
}

static cJSON *exact_number(double x) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", x);
    return cJSON_CreateRaw(b);
}

static void add_stats15(cJSON *j, const Meteor15Stats *t) {
    cJSON *s = cJSON_AddObjectToObject(j, "statistics");
    cJSON_AddItemToObject(s, "test_words", exact_number(t->test_len));
    cJSON_AddItemToObject(s, "ref_words", exact_number(t->ref_len));
    cJSON_AddItemToObject(s, "test_function_words", exact_number(t->test_fn));
    cJSON_AddItemToObject(s, "ref_function_words", exact_number(t->ref_fn));
    const char *names[] = {"exact", "stem", "synonym", "paraphrase"};
    for (int k = 0; k < METEOR15_MODULES; k++) {
        cJSON *m = cJSON_AddObjectToObject(s, names[k]);
        cJSON_AddItemToObject(m, "test_content", exact_number(t->test_content[k]));
        cJSON_AddItemToObject(m, "test_function", exact_number(t->test_function[k]));
        cJSON_AddItemToObject(m, "ref_content", exact_number(t->ref_content[k]));
        cJSON_AddItemToObject(m, "ref_function", exact_number(t->ref_function[k]));
    }
    cJSON_AddItemToObject(s, "test_matches", exact_number(t->test_matches));
    cJSON_AddItemToObject(s, "ref_matches", exact_number(t->ref_matches));
    cJSON_AddItemToObject(s, "chunks", exact_number(t->chunks));
}

int cmd_score_meteor(int argc, char **argv, int meteor15) {
    const char *name = meteor15 ? "Meteor1.5" : "METEOR";
    const char *hyp_path = NULL, *ref_paths[MAX_REFS], *wordnet_dir = NULL, *resources = NULL, *para = NULL;
    int nrefs = 0, sentence = 0, json = 0, width = 4, norm = 1;
    MeteorTokenize tok = METEOR_TOK_WHITESPACE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        int takes_val = !strcmp(a, "--hyp") || !strcmp(a, "--ref") || !strcmp(a, "--tokenize") ||
                        !strcmp(a, "--wordnet") || !strcmp(a, "--resources") || !strcmp(a, "--paraphrase") ||
                        !strcmp(a, "--width");
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (takes_val && !has_val) { fprintf(stderr, "qbench score %s: %s needs a value\n", argv[0], a); return 2; }
        if (!strcmp(a, "--sentence")) sentence = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-norm") && meteor15) norm = 0;
        else if (!strcmp(a, "--hyp")) {
            if (hyp_path) { fprintf(stderr, "qbench score %s: --hyp given twice\n", argv[0]); return 2; }
            hyp_path = argv[++i];
        } else if (!strcmp(a, "--ref")) {
            if (nrefs == MAX_REFS) { fprintf(stderr, "qbench score %s: more than %d --ref files\n", argv[0], MAX_REFS); return 2; }
            ref_paths[nrefs++] = argv[++i];
        } else if (!strcmp(a, "--tokenize") && !meteor15) {
            const char *v = argv[++i];
            if (!strcmp(v, "whitespace")) tok = METEOR_TOK_WHITESPACE;
            else if (!strcmp(v, "treebank")) tok = METEOR_TOK_TREEBANK;
            else { fprintf(stderr, "qbench score meteor: --tokenize '%s': expected whitespace or treebank\n", v); return 2; }
        } else if (!strcmp(a, "--wordnet") && !meteor15) wordnet_dir = argv[++i];
        else if (!strcmp(a, "--resources") && meteor15) resources = argv[++i];
        else if (!strcmp(a, "--paraphrase") && meteor15) para = argv[++i];
        else if (!strcmp(a, "--width")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || v < 0 || v > 17) {
                fprintf(stderr, "qbench score %s: --width '%s': expected an integer in 0..17\n", argv[0], argv[i]);
                return 2;
            }
            width = (int)v;
        } else {
            fprintf(stderr, "qbench score %s: unknown option '%s'\n", argv[0], a);
            usage(stderr);
            return 2;
        }
    }
    if (!hyp_path || nrefs == 0) {
        fprintf(stderr, "qbench score %s: need --hyp FILE and at least one --ref FILE\n", argv[0]);
        return 2;
    }
    char err[QB_ERRLEN];
    TextFile hyp = {0}, refs[MAX_REFS];
    memset(refs, 0, sizeof refs);
    const char **flat = NULL;
    double *sent = NULL;
    WordNet *wn = NULL;
    Meteor15 *m15 = NULL;
    int rc = 2;
    if (textfile_read(hyp_path, &hyp, err)) { fprintf(stderr, "qbench score %s: %s\n", argv[0], err); goto done; }
    for (int r = 0; r < nrefs; r++) {
        if (textfile_read(ref_paths[r], &refs[r], err)) { fprintf(stderr, "qbench score %s: %s\n", argv[0], err); goto done; }
        if (refs[r].n != hyp.n) {
            fprintf(stderr, "qbench score %s: %s has %zu lines but %s has %zu\n", argv[0], hyp_path, hyp.n,
                    ref_paths[r], refs[r].n);
            goto done;
        }
    }
    size_t n = hyp.n;
    flat = malloc(((size_t)nrefs * n + 1) * sizeof(char *));
    sent = malloc((n + 1) * sizeof(double));
    if (!flat || !sent) { fprintf(stderr, "qbench score %s: out of memory\n", argv[0]); goto done; }
    for (int r = 0; r < nrefs; r++)
        for (size_t i = 0; i < n; i++) flat[(size_t)r * n + i] = refs[r].lines[i];

    double score;
    char sig[512];
    Meteor15Stats total;
    if (meteor15) {
        Meteor15Params p = meteor15_default_params();
        p.normalize = norm;
        if (!(m15 = meteor15_open(resources, para, &p, err))) { fprintf(stderr, "qbench score meteor15: %s\n", err); goto done; }
        if (meteor15_corpus(m15, (const char *const *)hyp.lines, n, flat, nrefs, &total, sent, err)) {
            fprintf(stderr, "qbench score meteor15: %s: %s\n", hyp_path, err);
            goto done;
        }
        score = total.score;
        meteor15_signature(m15, nrefs, sig, sizeof sig);
    } else {
        if (!(wn = wordnet_open(wordnet_dir, err))) { fprintf(stderr, "qbench score meteor: %s\n", err); goto done; }
        MeteorCorpus c;
        if (meteor_nltk_corpus(wn, (const char *const *)hyp.lines, n, flat, nrefs, tok, &c, sent, err)) {
            fprintf(stderr, "qbench score meteor: %s: %s\n", hyp_path, err);
            goto done;
        }
        score = meteor_corpus_mean(&c);
        meteor_nltk_signature(tok, nrefs, sig, sizeof sig);
    }
    if (n == 0) fprintf(stderr, "qbench score %s: note: %s has 0 segments; the score is 0.0 by definition\n", argv[0], hyp_path);

    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", name);
        cJSON_AddItemToObject(j, "score", exact_number(score));
        cJSON_AddStringToObject(j, "signature", sig);
        cJSON_AddNumberToObject(j, "nseg", (double)n);
        if (meteor15) add_stats15(j, &total);
        if (sentence) {
            cJSON *a = cJSON_AddArrayToObject(j, "sentences");
            for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, exact_number(sent[i]));
        }
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!s) { fprintf(stderr, "qbench score %s: out of memory\n", argv[0]); goto done; }
        puts(s);
        free(s);
    } else {
        if (sentence)
            for (size_t i = 0; i < n; i++) printf("%zu\t%.*f\n", i + 1, width, sent[i]);
        printf("%s|%s = %.*f\n", name, sig, width, score);
    }
    rc = 0;
done:
    textfile_free(&hyp);
    for (int r = 0; r < nrefs; r++) textfile_free(&refs[r]);
    free(flat);
    free(sent);
    wordnet_free(wn);
    meteor15_free(m15);
    return rc;
}

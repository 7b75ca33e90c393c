/* tasks.h — zero-shot tasks as lm-evaluation-harness builds them: each item is a list of
 * (context, continuation) requests whose log-likelihoods decide the answer. Strings are built
 * exactly as lm-eval's task definitions build them (0-shot, no description), so that scoring them
 * with lm-eval's loglikelihood rules (metrics/loglik.h) gives lm-eval's accuracies.
 *
 * Named tasks (files from assets/zeroshot/, verified against datasets/assets.tsv):
 *   lambada_openai   {"text"}: context = text up to its last ' ', target = ' ' + the last word
 *                    (text.split(' ')); acc = every target token greedy, perplexity of the target
 *   piqa             "Question: {goal}\nAnswer:" → " " + sol1 | " " + sol2, gold from valid-labels.lst
 *   arc_easy, arc_challenge  "{query}\nAnswer:" (query = "Question: {question}") → " " + choice_i
 *   winogrande       partial scoring: contexts sentence[:i] + option_k (i = index of '_'), one
 *                    continuation " " + sentence[i+1:].strip(); gold = answer - 1
 *   boolq            "{title} -- {passage}\nQuestion: {question}?\nAnswer:" → " no" | " yes"
 *   copa             "{premise without its period} because|therefore" → "  " + choice with its first
 *                    letter lowercased (two spaces: the choice carries one, the delimiter another)
 *   hellaswag-llamacpp  llama.cpp's --hellaswag text format (6 lines per item: context, gold, four
 *                    endings), scored as llama.cpp's hellaswag_score does: context + " " + ending
 *                    tokenized whole, mean log-probability of the tokens after the four sequences'
 *                    common prefix. Not lm-eval's hellaswag (different preprocessing).
 *   tinystories-cloze  v1, LAMBADA-style items from the tinystories-valid split (datasets.h), built
 *                    here at load time (see tasks_cloze.c; scripts/make_tinystories_cloze.py is an
 *                    independent implementation of the same construction); scored like lambada_openai.
 * A path ending in .jsonl is a user task: one {"context": str, "choices": [str, ...], "gold": int}
 * per line, scored as multiple choice (continuation " " + choice, acc and acc_norm).
 *
 * Errors follow model.h: 0 / -1 with a message naming the task, file and line. Nothing prints. */
#ifndef QBENCH_TASKS_H
#define QBENCH_TASKS_H

#include <stddef.h>

#include "base/base.h"

typedef enum {
    TASK_MULTIPLE_CHOICE, /* one context, one continuation per choice: acc, acc_norm */
    TASK_PARTIAL,         /* one context per choice, one shared continuation: acc */
    TASK_GREEDY,          /* one request: acc = all target tokens greedy, perplexity */
    TASK_LLAMACPP_HS      /* llama.cpp hellaswag: acc of the mean per-token log-probability */
} TaskKind;

typedef struct {
    int n;              /* requests (= choices; 1 for TASK_GREEDY) */
    const char **ctx;   /* n contexts (identical strings for multiple choice) */
    const char **cont;  /* n continuations, the target delimiter included */
    long *choice_chars; /* n: code points of the choice without the delimiter (acc_norm) */
    int gold;           /* index of the right request (0 for TASK_GREEDY) */
    void *block;        /* one allocation holding everything above */
} TaskItem;

typedef struct {
    char name[64];
    char version[16];   /* lm-eval's task version, or ours for the tasks defined here */
    TaskKind kind;
    int has_acc_norm;
    TaskItem *items;
    int n;
    double chance;      /* expected acc of a uniform guess (mean 1/choices; 0 for TASK_GREEDY) */
    char source[1024];
    char sha256[65];    /* of the (main) source file */
} TaskData;

/* 1 if `name` is one of the named tasks above. */
int task_is_named(const char *name);
/* Every named task, NULL-terminated. */
const char *const *task_names(void);
/* 0 if the task can be loaded (a named task, or an existing *.jsonl file); cheap, reads nothing. */
int task_check(const char *name_or_path, char err[QB_ERRLEN]);
/* Loads the first `limit` items (limit <= 0: all) in file order, as lm-eval's --limit does. */
int task_load(const char *name_or_path, int limit, TaskData *t, char err[QB_ERRLEN]);
void task_free(TaskData *t);

/* One item from its parts (copied): n requests, each context/continuation, the choice lengths in
 * code points (NULL: all 0). Used by the loaders and by tests. */
int task_item_make(TaskItem *it, int n, const char *const *ctx, const char *const *cont, const long *choice_chars,
                   int gold);
void task_item_free(TaskItem *it);

/* The tinystories-cloze item texts (lambada format: the target is the last ' '-separated word)
 * built from a TinyStories text (the tinystories-valid split). *texts malloc'd, each entry malloc'd. */
int task_cloze_build(const char *text, size_t len, char ***texts, int *n, char err[QB_ERRLEN]);

#endif

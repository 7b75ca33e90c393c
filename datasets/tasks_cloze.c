/* tasks_cloze.c — tinystories-cloze v1: LAMBADA-style items (predict the passage's last word from
 * the rest) from the tinystories-valid split, with LAMBADA's filters made model-free:
 *   1. stories: a paragraph ("\n\n"-separated) beginning "Once upon a time" opens a story, which runs
 *      through the following paragraphs up to the next such opening (or the end of the text);
 *   2. every paragraph end of a story gives a candidate passage: the story from its opening through
 *      that paragraph (a blank paragraph gives none), trailing whitespace removed;
 *   3. the target is the passage's last whitespace-separated token with trailing . ! ? , ; : " '
 *      removed: ASCII letters only, at least 3, not a function word (STOP); the item is the passage
 *      up to the end of the target, at most 1600 bytes;
 *   4. the target (case-insensitive, whole word) occurs before the final sentence (the wider context
 *      predicts it, LAMBADA's "guessable from the passage") and not in the final sentence before it
 *      (LAMBADA's "not guessable from the last sentence alone"). The final sentence starts after the
 *      last '.', '!' or '?' (and an optional quote) followed by whitespace.
 * Changing any of this changes the item set: bump the task's version in tasks.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/tasks.h"

#define CLOZE_MAX_BYTES 1600

static const char *const STOP[] = {
    "a", "an", "the", "and", "or", "but", "if", "so", "of", "to", "in", "on", "at", "by", "for", "with", "from",
    "into", "onto", "up", "down", "out", "off", "over", "under", "again", "then", "than", "too", "very", "just",
    "not", "no", "yes", "all", "any", "some", "each", "every", "both", "more", "most", "much", "many", "few", "i",
    "me", "my", "mine", "you", "your", "yours", "he", "him", "his", "she", "her", "hers", "it", "its", "we", "us",
    "our", "they", "them", "their", "theirs", "this", "that", "these", "those", "there", "here", "who", "whom",
    "whose", "what", "which", "when", "where", "why", "how", "is", "am", "are", "was", "were", "be", "been",
    "being", "do", "does", "did", "have", "has", "had", "can", "could", "will", "would", "shall", "should", "may",
    "might", "must", "said", "says", "say", "one", "ones", "also", "only", "own", "same", "such", "now", NULL};

static int is_stop(const char *w, size_t n) {
    char low[32];
    if (n >= sizeof low) return 0;
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)w[i]);
    low[n] = 0;
    for (int i = 0; STOP[i]; i++)
        if (!strcmp(STOP[i], low)) return 1;
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Does w[0..n) occur in s[a..b) as a whole word (ASCII letters around it are not allowed), ignoring case? */
static int has_word(const char *s, size_t a, size_t b, const char *w, size_t n) {
    for (size_t i = a; i + n <= b; i++) {
        if (strncasecmp(s + i, w, n)) continue;
        if (i > a && isalpha((unsigned char)s[i - 1])) continue;
        if (i + n < b && isalpha((unsigned char)s[i + n])) continue;
        return 1;
    }
    return 0;
}

/* The item for passage s[0..len), or 0 (not an item); *out_len = the item's length. */
static int cloze_item(const char *s, size_t len, size_t *out_len) {
    while (len && strchr(" \t\r\n", s[len - 1]) && s[len - 1]) len--;
    size_t start = len;
    while (start > 0 && s[start - 1] != ' ' && s[start - 1] != '\n' && s[start - 1] != '\t') start--;
    size_t end = len;
    while (end > start && strchr(".!?,;:\"'", s[end - 1])) end--;
    size_t wn = end - start;
    if (wn < 3) return 0;
    for (size_t i = start; i < end; i++)
        if (!isalpha((unsigned char)s[i])) return 0;
    if (is_stop(s + start, wn) || end > CLOZE_MAX_BYTES) return 0;
    /* the final sentence: after the last [.!?]["']? followed by whitespace, before the target */
    size_t sent0 = 0;
    for (size_t i = 0; i < start; i++) {
        if (s[i] != '.' && s[i] != '!' && s[i] != '?') continue;
        size_t j = i + 1;
        if (j < start && (s[j] == '"' || s[j] == '\'')) j++;
        if (j < start && is_ws(s[j])) sent0 = j + 1;
    }
    if (!has_word(s, 0, sent0, s + start, wn) || has_word(s, sent0, start, s + start, wn)) return 0;
    *out_len = end;
    return 1;
}

static int starts_with_open(const char *p, size_t n) {
    static const char OPEN[] = "Once upon a time";
    return n >= sizeof OPEN - 1 && !memcmp(p, OPEN, sizeof OPEN - 1);
}

int task_cloze_build(const char *text, size_t len, char ***texts, int *n, char err[QB_ERRLEN]) {
    *texts = NULL;
    *n = 0;
    size_t cap = 0;
    long story = -1; /* start of the current story, -1 before the first */
    size_t pos = 0;
    while (pos <= len) {
        const char *sep = NULL;
        for (size_t i = pos; i + 1 < len; i++)
            if (text[i] == '\n' && text[i + 1] == '\n') { sep = text + i; break; }
        size_t pend = sep ? (size_t)(sep - text) : len;
        if (starts_with_open(text + pos, pend - pos)) story = (long)pos;
        int blank = 1; /* a blank paragraph adds nothing: its passage is the previous one */
        for (size_t i = pos; i < pend && blank; i++) blank = strchr(" \t\r\n", text[i]) != NULL && text[i];
        if (story >= 0 && !blank) {
            size_t il;
            if (cloze_item(text + story, pend - (size_t)story, &il)) {
                if (qb_grow((void **)texts, &cap, (size_t)*n + 1, sizeof **texts)) goto oom;
                char *c = malloc(il + 1);
                if (!c) goto oom;
                memcpy(c, text + story, il);
                c[il] = 0;
                (*texts)[(*n)++] = c;
            }
        }
        if (!sep) break;
        pos = pend + 2;
    }
    return 0;
oom:
    for (int i = 0; i < *n; i++) free((*texts)[i]);
    free(*texts);
    *texts = NULL;
    *n = 0;
    snprintf(err, QB_ERRLEN, "tinystories-cloze: out of memory");
    return -1;
}

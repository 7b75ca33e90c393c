/* cli.h — the subcommands' option tables: one table per command both parses argv and prints
 * `--help`, so every option the parser accepts is listed with its default and range. Also the
 * input resolver every --data/--calib/--hyp/--ref-style option shares (a dataset name or a path)
 * and where the repository's assets are found from any working directory; the thread settings
 * (harness/threads.c). */
#ifndef QBENCH_CLI_H
#define QBENCH_CLI_H

#include <stdio.h>

#include "metrics/textfile.h"

typedef enum {
    CLI_FLAG, /* no value; dst is int*, set to 1 */
    CLI_OFF,  /* no value; dst is int*, set to 0 (a --no-X switch) */
    CLI_INT,  /* dst is long*, value in [lo, hi] */
    CLI_NUM,  /* dst is double*, value in [lo, hi] */
    CLI_STR,  /* dst is const char**; with choices ("a|b|c") the value must be one of them */
    CLI_LIST, /* repeatable string; dst is CliList* */
} CliKind;

typedef struct {
    const char **v;
    int n, max;
} CliList;

typedef struct {
    const char *name;    /* "--bits" */
    const char *alias;   /* "-o", or NULL */
    CliKind kind;
    void *dst;
    const char *metavar; /* "B" */
    const char *help;    /* what it does */
    const char *def;     /* the default as shown in --help; NULL: none (required ones say so in help) */
    double lo, hi;       /* CLI_INT / CLI_NUM range (hi >= 1e15: no upper bound) */
    const char *choices; /* CLI_STR: "a|b|c", or NULL for any string */
    int *given;          /* optional: set to 1 when the option appears */
} CliOpt;

typedef struct {
    const char *cmd;       /* "quantize", "score meteor" */
    const char *synopsis;  /* "qbench quantize --model M ... [options]" */
    const char *about;     /* printed under the synopsis, or NULL */
    const CliOpt *opts;
    int n_opts;
    const char **pos;      /* positional arguments land here */
    int max_pos;           /* 0: none accepted */
    int *n_pos;
    const char *footer;    /* printed after the options, or NULL */
} CliSpec;

#define CLI_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Parses argv[1..argc-1] by the table. Returns 0 parsed, 1 `--help`/`-h` printed to stdout (exit 0),
 * -1 error printed to stderr as "qbench CMD: ..." (exit 2). Out-of-range values name the range:
 * "qbench quantize: --bits must be 2..8, got '9'". */
int cli_parse(const CliSpec *s, int argc, char **argv);
/* The help text: synopsis, about, one line per option with its default and range, footer. */
void cli_usage(const CliSpec *s, FILE *f);

/* Parses s as a base-10 integer / number in [lo, hi]; on failure prints
 * "qbench CMD: FLAG must be LO..HI, got 'S'" and returns -1. */
int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);

/* Sets both the OpenMP and the OpenBLAS thread counts; n <= 0 means all cores. Returns the count. */
int qb_set_threads(int n);
/* Unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set: sets OMP_WAIT_POLICY=PASSIVE and re-executes the
 * program with argv (NULL-terminated, argv[0] the program name), so that waiting OpenMP threads
 * sleep instead of spinning. Returns only when nothing was re-executed. */
void qb_prefer_passive_wait(char **argv);

/* The repository's assets folder, found from any working directory: $QBENCH_ASSETS, else ./assets
 * when it exists, else the first assets/ in a folder above the binary (bin/../assets,
 * build-asan/bin/../../assets), else "assets". Computed once. */
const char *cli_assets_dir(void);

/* Reads a segment-per-line input (--hyp, --ref): with refs set a task dataset name gives its
 * references (the first of each pair; wmt14-ende: the German side), a text dataset name gives its
 * lines, anything else is a file path (textfile.h rules). 0, or -1 with the message in err. */
int cli_read_lines(const char *name_or_path, int refs, TextFile *tf, char err[QB_ERRLEN]);

/* Loads a model (a qbench checkpoint or any model) and its tokenizer (tok_path, or the one found beside
 * the model; its path into tok_used); no_prepend turns off the leading space. Prints the error for
 * `qbench CMD` and returns -1. (harness/cmd_eval.c) */
#include <stddef.h>
#include "model/tokenizer.h"
int load_model_and_tokenizer(const char *cmd, const char *model_path, const char *tok_path, int no_prepend, Model **m,
                             Tokenizer **t, char *tok_used, size_t tok_len);

#endif

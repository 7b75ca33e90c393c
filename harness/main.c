/* main.c — the qbench command line: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "datasets/datasets.h"
#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/provenance.h"
#include "model/model.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} Command;

static const Command COMMANDS[] = {
    {"info", cmd_info, "print a model's configuration and parameter counts"},
    {"ppl", cmd_ppl, "perplexity of a model on a text file (gptq, llamacpp or stride mode)"},
    {"generate", cmd_generate, "generate text from a prompt (greedy or sampled)"},
    {"synth", cmd_synth, "write a Llama-shaped model with seeded random weights"},
    {"convert", cmd_convert, "convert a model to a Hugging Face safetensors directory"},
    {"score", cmd_score, "chrF, chrF++, METEOR (NLTK) or Meteor 1.5 of hypothesis files"},
    {"quantize", cmd_quantize, "quantize a model (rtn, gptq, gptqt, bcq) and write a checkpoint"},
    {"run", cmd_run, "run every point of an experiment file not already in its database"},
    {"merge", cmd_merge, "merge shard databases into one"},
    {"plot", cmd_plot, "draw accuracy-vs-size plots from a results database (gnuplot)"},
    {"report", cmd_report, "print a table of every point in a results database"},
    {"tasks", cmd_tasks, "zero-shot task accuracy as lm-evaluation-harness computes it; paired tests"},
    {"compare", cmd_compare, "compare two points on the same windows and segments (paired, with standard errors)"},
    {"check", cmd_check, "evaluate an experiment's regression thresholds (exit 0 pass, 1 fail, 2 error)"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: qbench <command> [options]   (qbench <command> --help for details)\n"
               "       qbench --version   (version, commit, numerics flags, OpenBLAS and its core)\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    qb_blas_select_core(argv); /* before any BLAS call; may re-execute this program once */
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) { qb_print_version(stdout); return 0; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    dataset_set_assets_dir(cli_assets_dir()); /* named datasets work from any working directory */
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qbench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

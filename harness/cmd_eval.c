/* cmd_eval.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_ppl(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench ppl: not available in this build yet\n");
    return 2;
}

int cmd_generate(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench generate: not available in this build yet\n");
    return 2;
}

/* cmd_score.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_score(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench score: not available in this build yet\n");
    return 2;
}


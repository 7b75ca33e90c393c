/* cmd_score_meteor.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_score_meteor(int argc, char **argv, int meteor15) {
    (void)argc; (void)argv; (void)meteor15;
    fprintf(stderr, "qbench score meteor: not available in this build yet\n");
    return 2;
}

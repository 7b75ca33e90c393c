/* cmd_sweep.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_run(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench run: not available in this build yet\n");
    return 2;
}

/* cmd_model.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench info: not available in this build yet\n");
    return 2;
}

int cmd_synth(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench synth: not available in this build yet\n");
    return 2;
}

int cmd_convert(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench convert: not available in this build yet\n");
    return 2;
}


/* commands.h — the qbench subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the process exit status: 0 success, 1 a check/threshold failed,
 * 2 usage error or could not run. Only these functions print for the user and choose exit codes. */
#ifndef QBENCH_COMMANDS_H
#define QBENCH_COMMANDS_H

/* model runtime: harness/cmd_model.c */
int cmd_info(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_convert(int argc, char **argv);
/* perplexity and generation: harness/cmd_eval.c */
int cmd_ppl(int argc, char **argv);
int cmd_generate(int argc, char **argv);
/* metrics: harness/cmd_score.c */
int cmd_score(int argc, char **argv);
/* `qbench score meteor|meteor15 ...` (argv[0] is the metric name): harness/cmd_score_meteor.c */
int cmd_score_meteor(int argc, char **argv, int meteor15);
/* quantization: harness/cmd_quantize.c */
int cmd_quantize(int argc, char **argv);
/* experiments: harness/cmd_run.c */
int cmd_run(int argc, char **argv);
/* results databases: harness/cmd_results.c */
int cmd_merge(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* paired comparison of two points: harness/cmd_compare.c */
int cmd_compare(int argc, char **argv);
/* zero-shot tasks: harness/cmd_tasks.c */
int cmd_tasks(int argc, char **argv);

#endif

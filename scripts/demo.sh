#!/bin/sh
# make demo: runs experiments/demo.yaml (stories260K: RTN, GPTQ, GPTQT x 2/3/4/8 bits x per-row and
# group-32 scales x act-order on/off, 40 points) into its output.db, then the regression check, and
# ends with the report table and the paths of the plots. Rerunning it resumes: finished points are
# skipped.
set -e
Q=${1:-bin/qbench}
EXP=experiments/demo.yaml
DB=$($Q run $EXP --print-db)
mkdir -p "$(dirname "$DB")"
start=$(date +%s)
# Threads: every core by default (qbench run sets a passive OpenMP wait, which keeps two threads
# faster than one even on a busy shared machine: see harness/cmd_run.c); QBENCH_THREADS=N to
# override.
if [ -n "${QBENCH_THREADS:-}" ]; then
    $Q run $EXP --threads "$QBENCH_THREADS"
else
    $Q run $EXP
fi
echo
echo "== check"
$Q check $EXP || echo "(a check threshold failed: see above)"
plots=$($Q plot $EXP)   # into the experiment's output.plots
echo
echo "== report ($DB)"
$Q report "$DB"
echo
echo "== plots (gnuplot scripts and data beside each image)"
echo "$plots"
echo
echo "demo finished in $(( $(date +%s) - start )) s"

#!/bin/sh
# make demo: runs experiments/demo.yaml (stories260K: RTN, GPTQ, GPTQT x 2/3/4/8 bits x per-row and
# group-32 scales x act-order on/off) into results/demo.db, then prints the report table, the
# regression check and the paths of the plots. Rerunning it resumes: finished points are skipped.
set -e
Q=${1:-bin/qbench}
EXP=experiments/demo.yaml
DB=results/demo.db
PLOTS=results/demo-plots
mkdir -p results
start=$(date +%s)
# --threads: on a small shared machine one thread per process avoids OpenMP spin-waiting; set
# QBENCH_THREADS to use more cores.
$Q run $EXP --threads "${QBENCH_THREADS:-1}"
echo
echo "== report ($DB)"
$Q report $DB
echo
echo "== check"
$Q check $EXP || echo "(a check threshold failed: see above)"
echo
echo "== plots"
$Q plot $DB -o $PLOTS
echo
echo "demo finished in $(( $(date +%s) - start )) s"

#!/bin/sh
# Runs each cmocka test binary given on the command line from the repository root, sums the
# per-suite counts cmocka prints, and ends with one "N passed, N failed, N skipped" line.
# Exit status: 0 only if every suite ran and passed.
passed=0; failed=0; skipped=0; broken=0
for t in "$@"; do
  echo "== $t"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  k=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "!! $t exited with status $rc without reporting a failed test (crash?)"; broken=$((broken + 1)); failed=$((failed + 1))
  fi
done
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $broken -eq 0 ]

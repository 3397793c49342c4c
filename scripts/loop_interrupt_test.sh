#!/usr/bin/env bash
# Run the Ctrl-C exit-status test of haze_bag N times in a row and keep a log (issue 12).
#
#   scripts/loop_interrupt_test.sh [N] [LOG]        N default 50, LOG default out/loop_interrupt.log
#
# Environment: LOOP_TESTS  pytest node ids to run each iteration (space-separated; default: the
#              issue's test); LOOP_STOP_ON_FAIL=1 stops at the first failure.
# Each iteration appends one line "iteration I/N: PASS|FAIL (S s)" (and, for a failure, the pytest
# output) to LOG; the last line is the summary, e.g. "loop_interrupt_test: 50/50 passed, 0 failed
# (commit abc1234, ...)". Exit status 0 when every iteration passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
LOG=${2:-out/loop_interrupt.log}
TESTS=${LOOP_TESTS:-test/test_bag_tool.py::test_interrupted_run_leaves_nothing_that_looks_complete}
# this tree's environment when it has one (else the caller's, e.g. a git worktree of an older commit)
if [ -x .venv/bin/python ]; then source scripts/env.sh; fi
mkdir -p "$(dirname "$LOG")"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- haze_ros test 2>/dev/null | grep -q . && echo "+local changes" || true)
{
  echo "# loop_interrupt_test: $N iterations of: $TESTS"
  echo "# tree $(pwd) at $commit$dirty, $(python --version 2>&1), $(nproc) cores, load average" \
       "$(cut -d' ' -f1-3 /proc/loadavg), started $(date -u +%FT%TZ)"
} >"$LOG"
passed=0 failed=0 first_fail=""
for i in $(seq 1 "$N"); do
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  output=$(python -m pytest -q -rs $TESTS 2>&1)
  rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  secs="$((ms / 1000)).$((ms % 1000 / 100))"
  if [ $rc -eq 0 ] && echo "$output" | grep -q "skipped"; then
    rc=5  # a skipped test proves nothing (e.g. ../shared/data absent)
  fi
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "iteration $i/$N: PASS ($secs s)" >>"$LOG"
  else
    failed=$((failed + 1))
    [ -n "$first_fail" ] || first_fail=$i
    {
      echo "iteration $i/$N: FAIL ($secs s, pytest rc $rc)"
      echo "$output" | grep -E "^(E  |FAILED|ERROR|SKIPPED)|assert|Error" | head -20 | sed 's/^/    /'
    } >>"$LOG"
    [ "${LOOP_STOP_ON_FAIL:-0}" = 1 ] && break
  fi
done
runs=$((passed + failed))
summary="loop_interrupt_test: $passed/$runs passed, $failed failed${first_fail:+ (first failure: iteration $first_fail)} (commit $commit$dirty, $(date -u +%FT%TZ))"
echo "$summary" | tee -a "$LOG"
[ $failed -eq 0 ] && [ $runs -eq "$N" ]

#!/usr/bin/env bash
# Run CI from N fresh clones of this repository in a row, as a new user would (issue 12).
#
#   scripts/ci_fresh_clones.sh [N] [LOG_DIR]      N default 5, LOG_DIR default out/ci_fresh_clones
#
# Each run: git clone of this checkout's HEAD into a new folder beside it (so ../shared/data is
# found as in CI), then `CI=true bash .ci/run`; the clone is removed afterwards. Writes one log per
# run and summary.txt (commit, times, exit status, pytest's last line). Exit status: 0 if every
# run passed, else 1.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-5}"
logs="${2:-$repo/out/ci_fresh_clones}"
mkdir -p "$logs"
: > "$logs/summary.txt"
failed=0
for i in $(seq 1 "$runs"); do
  clone="$(dirname "$repo")/ci_fresh_$i"
  rm -rf "$clone"
  git clone -q "$repo" "$clone"
  commit="$(git -C "$clone" rev-parse --short HEAD)"
  start="$(date -u +%H:%M:%S)"
  (cd "$clone" && CI=true bash .ci/run) > "$logs/run$i.log" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || failed=1
  echo "run $i commit $commit start $start end $(date -u +%H:%M:%S) rc $rc" \
       "$(grep -E '[0-9]+ (passed|failed)' "$logs/run$i.log" | tail -1)" | tee -a "$logs/summary.txt"
  rm -rf "$clone"
done
exit "$failed"

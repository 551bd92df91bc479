#!/usr/bin/env bash
# How CTest runs a fuzz target (tests/fuzz/CMakeLists.txt):
#
#   run_fuzz.sh fuzz   TARGET BINARY SEEDS ARTIFACTS MAX_LEN [DICT]
#       Fuzzes for $FUZZ_SECONDS (default 10) from a fresh temporary corpus
#       (first, where libFuzzer writes) and the seed corpus (second, only
#       read), so the checkout is never written. A crashing input lands in
#       ARTIFACTS. FUZZ_SECONDS=0 only runs the seeds once.
#   run_fuzz.sh replay TARGET BINARY REGRESSIONS
#       Runs every file in REGRESSIONS once; fails on the first that crashes.
set -euo pipefail

mode=$1 target=$2 binary=$3

if [ "$mode" = replay ]; then
  inputs=()
  if [ -d "$4" ]; then
    while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$4" -maxdepth 1 -type f ! -name '*.md' -print0 | sort -z)
  fi
  if [ ${#inputs[@]} -eq 0 ]; then
    echo "$target: no regression inputs in $4"
    exit 0
  fi
  # File arguments (never a directory: that would start fuzzing) run once each.
  exec "$binary" -rss_limit_mb=2048 -timeout=10 "${inputs[@]}"
fi

seeds=$4 artifacts=$5 max_len=$6 dict=${7:-}
seconds=${FUZZ_SECONDS:-10}
corpus=$(mktemp -d "${TMPDIR:-/tmp}/vitals-$target-corpus.XXXXXX")
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$artifacts"

options=(-timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -artifact_prefix="$artifacts/" -print_final_stats=1)
[ -n "$dict" ] && options+=(-dict="$dict")
# libFuzzer reads 0 as "no limit": here it means the seeds alone, once.
if [ "$seconds" = 0 ]; then options+=(-runs=0); else options+=(-max_total_time="$seconds"); fi

status=0
"$binary" "${options[@]}" "$corpus" "$seeds" || status=$?
if [ $status -ne 0 ]; then
  echo "$target failed; the input that did it is in $artifacts/ (newest crash-*, timeout-*, leak-* or oom-*)."
  echo "Keep it as a regression: cp <that file> tests/fuzz/regressions/$target/<what-it-is>"
fi
exit $status

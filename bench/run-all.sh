#!/usr/bin/env bash
# run-all.sh -- every benchmark of bench/, one after the other, each through
# its own run.sh with its defaults (see each run.sh for its settings and
# BENCHMARKS.md for the figures). Takes about an hour; never part of
# `make test`. BENCHES="inflight logvolume" runs only those.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r -a BENCHES <<< "${BENCHES:-ssh-fanout e2e-fanout subscribers inflight logvolume}"
rc=0
for b in "${BENCHES[@]}"; do
  echo "run-all.sh: $b (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$HERE/$b/run.sh" || { echo "run-all.sh: $b failed" >&2; rc=1; }
done
exit $rc

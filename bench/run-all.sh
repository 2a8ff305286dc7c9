#!/usr/bin/env bash
# run-all.sh -- every benchmark of bench/, one after the other, each with
# its defaults (see each run.sh). ONLY="startup history" runs those alone.
# The Go benchmarks of plugins/host are run by their own command in
# BENCHMARKS.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for d in "$HERE"/*/; do
  name=$(basename "$d")
  [ -x "$d/run.sh" ] || continue
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  echo "=== $name ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$d/run.sh"
done

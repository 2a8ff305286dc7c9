#!/usr/bin/env bash
# run.sh -- live log subscriptions (issue 7's benchmark): S WebSocket
# subscribers of taskLog on one run whose command prints a line every 10 ms
# for D seconds; delay from the line's emission to each subscriber's
# receipt, the server's memory and CPU. See main.go for what is measured.
#
# Builds bin/jobgraph (go build ./cmd/jobgraph) and the bench, then runs
# each S of SUBS_S ("1 100 1000": S=1 is the unloaded baseline) for SUBS_D seconds (20), REPS times (1).
# SUBS_ARGS: more flags for the bench (e.g. "-interval 20ms").
# Results: one "subscribers ..." line per run (also appended to
# $SUBS_DIR/results/subscribers-STAMP.txt), each run's table on stderr,
# and a markdown table at the end.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${SUBS_DIR:-${TMPDIR:-/tmp}/jobgraph-subscribers}
read -r -a SS <<< "${SUBS_S:-1 100 1000}"
D=${SUBS_D:-20}
REPS=${REPS:-1}

mkdir -p "$DIR/bin" "$DIR/results"
(cd "$ROOT" && mkdir -p bin && go build -o bin/jobgraph ./cmd/jobgraph && go build -o "$DIR/bin/subscribers" ./bench/subscribers)
cp "$ROOT/bin/jobgraph" "$DIR/bin/jobgraph"
date +%s%N | grep -Eq '^[0-9]{19}$' || { echo "run.sh: date +%s%N does not give nanoseconds here" >&2; exit 1; }

OUT=$DIR/results/subscribers-$(date +%Y%m%d-%H%M%S).txt
{
  echo "# machine: nproc $(nproc), $(free -m | awk '/^Mem:/ {print $2}') MiB, $(uname -sr), $(go version | cut -d' ' -f3)"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT" >&2
for s in "${SS[@]}"; do
  for rep in $(seq 1 "$REPS"); do
    echo "run.sh: S=$s D=${D}s rep=$rep (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    # shellcheck disable=SC2086
    "$DIR/bin/subscribers" -jobgraph "$DIR/bin/jobgraph" -s "$s" -d "${D}s" -out "$OUT" ${SUBS_ARGS:-}
  done
done
echo "run.sh: results in $OUT" >&2

python3 - "$OUT" <<'PY'
import sys
rows = []
for l in open(sys.argv[1]):
    if l.startswith('subscribers '):
        rows.append(dict(x.split('=', 1) for x in l.split()[1:]))
print("| S | lines/sub (min–max of stored) | resyncs | p50 ms | p90 ms | p99 ms | max ms | emit→worker p99 | worker→1st sub p50 / p99 | fan-out spread p50 / p99 | server RSS MB idle / subscribed / peak | server CPU (cores) | plugins+cmd CPU s | client CPU (cores) | other load (cores) | wall s |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|---|---:|---:|")
for r in rows:
    print(f"| {r['s']} | {r['lines_min']}–{r['lines_max']} of {r['lines']} | {r['resyncs']} | {r['p50_ms']} | {r['p90_ms']} | **{r['p99_ms']}** | {r['max_ms']} | "
          f"{r['emit_worker_p99_ms']} | {r['worker_first_p50_ms']} / {r['worker_first_p99_ms']} | {r['spread_p50_ms']} / {r['spread_p99_ms']} | "
          f"{r['rss_idle_mb']} / {r['rss_subscribed_mb']} / {r['rss_peak_mb']} | {r['server_cpu_s']} s ({r['server_cores']}) | {r['plugins_cpu_s']} | "
          f"{r['client_cpu_s']} s ({r['client_cores']}) | {r['other_cores']} | {r['wall_s']} |")
PY

#!/usr/bin/env bash
# run.sh -- tasks in flight (issue 10, benchmark 3): an ad-hoc http request
# on N hosts (10,000) through a real `jobgraph server` with one worker of N
# slots, against a local server (in main.go) that answers after HOLD (30 s);
# all N in flight together, and the memory of the server and of its http
# plugin process. See main.go.
#
# Env: INFLIGHT_N (10000), INFLIGHT_HOLD (30s), REPS (3), INFLIGHT_ARGS
# (more flags, e.g. "-server-args '--log-level warn'").
# Prints one "inflight ..." line per run (also appended to
# $INFLIGHT_DIR/results/inflight-STAMP.txt) and a table of medians.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${INFLIGHT_DIR:-${TMPDIR:-/tmp}/jobgraph-inflight}
N=${INFLIGHT_N:-10000}
HOLD=${INFLIGHT_HOLD:-30s}
REPS=${REPS:-3}

mkdir -p "$DIR/bin" "$DIR/results"
(cd "$ROOT" && mkdir -p bin && go build -o bin/jobgraph ./cmd/jobgraph && go build -o "$DIR/bin/inflight" ./bench/inflight)
cp "$ROOT/bin/jobgraph" "$DIR/bin/jobgraph"

OUT=$DIR/results/inflight-$(date +%Y%m%d-%H%M%S).txt
echo "# machine: nproc $(nproc), $(free -m | awk '/^Mem:/ {print $2}') MiB, $(uname -sr), $(go version | cut -d' ' -f3)" | tee "$OUT" >&2
for rep in $(seq 1 "$REPS"); do
  echo "run.sh: N=$N rep=$rep (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$DIR/bin/inflight" -jobgraph "$DIR/bin/jobgraph" -n "$N" -hold "$HOLD" -out "$OUT" ${INFLIGHT_ARGS:-} 2>&1 >/dev/null | grep -v '^inflight: t=' >&2 || true
done
echo "run.sh: results in $OUT" >&2
grep '^inflight ' "$OUT"

python3 - "$OUT" <<'PY'
import sys, statistics as st
rs = []
for l in open(sys.argv[1]):
    if l.startswith('inflight '):
        rs.append(dict(x.split('=', 1) for x in l.split()[1:] if '=' in x))
def loads(rs): return ', '.join(r['load'].strip('"').split()[0] for r in rs)
def med(k): return st.median(float(r[k]) for r in rs)
print("\n| N | runs | peak in flight (min) | first request s | all in flight s | run s | server RSS MB idle → at all → peak | plugin RSS MB idle → at all → peak | total peak MB | KB per task | server CPU s | load |")
print("|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|")
print(f"| {rs[0]['n']} | {len(rs)} | {min(int(r['peak_inflight']) for r in rs)} | {med('first_req_s'):.2f} | {med('all_inflight_s'):.1f} | {med('run_s'):.1f} | "
      f"{med('server_rss_idle_mb'):.0f} → {med('server_rss_at_all_mb'):.0f} → {med('server_rss_peak_mb'):.0f} | "
      f"{med('plugin_rss_idle_mb'):.0f} → {med('plugin_rss_at_all_mb'):.0f} → {med('plugin_rss_peak_mb'):.0f} | {med('total_rss_peak_mb'):.0f} | {med('kb_per_task'):.1f} | "
      f"{med('server_cpu_s'):.1f} | {loads(rs)} |")
print("\n(medians; load: the 1-minute load average at the end of each run)")
PY

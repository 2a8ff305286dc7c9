#!/usr/bin/env bash
# run.sh -- issue 10's benchmark 2, start-up of a large run: RunJob on a
# one-step job whose selector matches STARTUP_HOSTS (10000) hosts, until the
# run and its tasks are committed and until the first task reaches a
# consumer of the queue; SQL statements counted. SQLite and MariaDB (the
# server of JOBGRAPH_TEST_MYSQL_DSN, default root@tcp(127.0.0.1:3306)/test;
# a database of its own, dropped at the end). See
# core/engine/startup_bench_test.go.
#
# STARTUP_RUNS (5) runs per dialect on one database, REPS (3) processes.
# Output: BENCH_JSON lines (b_n 1 is the warm-up), go test's summary lines
# (medians of the STARTUP_RUNS runs), and a table of the medians over all
# runs of all processes at the end. Takes 1-2 minutes per process.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${STARTUP_RUNS:-5}
REPS=${REPS:-3}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "# machine: nproc $(nproc), $(free -m | awk '/^Mem:/ {print $2}') MiB, $(uname -sr), $(go version | cut -d' ' -f3)"
for rep in $(seq "$REPS"); do
  echo "# rep $rep, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$ROOT" && go test -run '^$' -bench RunStartup -benchtime "${RUNS}x" -timeout 30m ./core/engine/) | tee -a "$OUT" | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)'
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| dialect | hosts | runs | commit ms (median) | first task ms (median) | tasks/s at commit | SQL statements |"
echo "|---|---:|---:|---:|---:|---:|---:|"
grep -o 'BENCH_JSON {"bench":"run_startup","b_n":'"$RUNS"'[^}]*}' "$OUT" | sed 's/^BENCH_JSON //' | python3 -c '
import json, sys, statistics
rows = {}
for line in sys.stdin:
    r = json.loads(line)
    rows.setdefault((r["dialect"], r["hosts"]), []).append(r)
for (d, n), rs in sorted(rows.items()):
    c = statistics.median(r["commit_ms"] for r in rs)
    f = statistics.median(r["first_task_ms"] for r in rs)
    s = statistics.median(r["sql_statements"] for r in rs)
    print(f"| {d} | {n} | {len(rs)} | {c:.0f} | {f:.0f} | {n/c*1000:,.0f} | {s:.0f} |")
'

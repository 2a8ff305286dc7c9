#!/usr/bin/env bash
# run.sh -- issue 10's benchmark 7, history at scale: 1,000,000 tasks
# seeded once per dialect and process (9,000 runs of 100 tasks, 10 of
# 10,000), then the console's run list and a run's task page through the
# GraphQL handler in process, first pages and deep ones: p50/p99 latency
# over HISTORY_REQS (200) requests and SQL statements per request at page
# sizes 10, 50 and 100. SQLite and MariaDB (JOBGRAPH_TEST_MYSQL_DSN, default
# root@tcp(127.0.0.1:3306)/test; a database of its own, dropped at the end).
# See graph/history_bench_test.go.
#
# REPS (3) processes; each seeds for about a minute per dialect. Output:
# EXPLAIN plans, BENCH_JSON lines, each process's table, and the medians of
# p50 and p99 over the processes at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REQS=${HISTORY_REQS:-200}
REPS=${REPS:-3}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "# machine: nproc $(nproc), $(free -m | awk '/^Mem:/ {print $2}') MiB, $(uname -sr), $(go version | cut -d' ' -f3)"
for rep in $(seq "$REPS"); do
  echo "# rep $rep, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$ROOT" && go test -run '^$' -bench History -benchtime "${REQS}x" -timeout 60m ./graph/) | tee -a "$OUT" | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)'
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| dialect | case | processes | p50 ms (median) | p99 ms (median; min–max) | SQL/request |"
echo "|---|---|---:|---:|---:|---:|"
grep -o 'BENCH_JSON {"bench":"history"[^}]*"requests":'"$REQS"'[^}]*}' "$OUT" | sed 's/^BENCH_JSON //' | python3 -c '
import json, sys, statistics
rows = {}
for line in sys.stdin:
    r = json.loads(line)
    rows.setdefault((r["dialect"], r["case"]), []).append(r)
for (d, c), rs in rows.items():
    p50 = statistics.median(r["p50_ms"] for r in rs)
    p99s = [r["p99_ms"] for r in rs]
    sq = "/".join(str(x) for x in sorted({r["sql_per_request"] for r in rs}))
    print(f"| {d} | {c} | {len(rs)} | {p50:.1f} | {statistics.median(p99s):.1f} ({min(p99s):.1f}–{max(p99s):.1f}) | {sq} |")
'
grep -o 'BENCH_JSON {"bench":"history_sql"[^}]*}' "$OUT" | sed 's/^BENCH_JSON //' | python3 -c '
import json, sys
seen = {}
for line in sys.stdin:
    r = json.loads(line)
    seen.setdefault((r["dialect"], r["query"]), {}).setdefault(r["first"], set()).add(r["sql_per_request"])
for (d, q), by in seen.items():
    print(f"# SQL statements per request, {d} {q}: " + ", ".join(f"first={n}: {sorted(v)}" for n, v in sorted(by.items())))
'

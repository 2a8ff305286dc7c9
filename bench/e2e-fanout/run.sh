#!/usr/bin/env bash
# run.sh -- SSH fan-out end to end through GraphQL (issue 10, benchmark 1):
# an ad-hoc `echo hello` on N inventory hosts (all pointing at the shared
# harness's loopback sshd), from the adHocRun mutation to the run final with
# every task succeeded and its log stored, against the harness's peers on
# the same sshd in the same run (../shared/bench/fanout: setup.sh starts the
# sshd, run.sh measures the peers' wall time and client+sshd CPU).
#
# jobgraph runs as the harness's `ext` tool: bench/e2e-fanout/main.go starts
# `jobgraph server` (temp data dir, SQLite + embedded NATS, or MariaDB with
# FANOUT_E2E_MYSQL), creates the project, credential and N hosts (not
# measured), then measures a cold run (the first after the start: the ssh
# plugin starts, connections open) and a warm one (right after, same hosts),
# each with its own wall time, server-tree CPU and sshd CPU. The harness's
# own line for ext (server start and setup included) stays in the raw file.
#
# Env: FANOUT_NS ("10 100 500 1000"), FANOUT_REPS (1), FANOUT_PEERS
# ("pssh-pN ansible-raw-f50"; empty to skip, they take minutes at N>=500),
# FANOUT_DIR (/tmp/jobgraph-e2e-fanout), FANOUT_SHARED (../shared/bench/fanout
# next to the repository), FANOUT_E2E_MYSQL (a MariaDB DSN without database,
# e.g. 'root@tcp(127.0.0.1:3306)/': a fresh database per run instead of
# SQLite), FANOUT_E2E_ARGS (more flags for e2e-fanout, e.g. "-workers 256").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${FANOUT_SHARED:-$(cd "$ROOT/../shared/bench/fanout" && pwd)}
export FANOUT_DIR=${FANOUT_DIR:-${TMPDIR:-/tmp}/jobgraph-e2e-fanout}
read -r -a NS <<< "${FANOUT_NS:-10 100 500 1000}"
REPS=${FANOUT_REPS:-1}
read -r -a PEERS <<< "${FANOUT_PEERS-pssh-pN ansible-raw-f50}"

if [ "${#PEERS[@]}" -gt 0 ] && { ! command -v parallel-ssh >/dev/null || ! command -v ansible >/dev/null; } || [ ! -x /usr/sbin/sshd ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client pssh ansible-core procps >/dev/null
fi

mkdir -p "$FANOUT_DIR/bin" "$FANOUT_DIR/results"
(cd "$ROOT" && mkdir -p bin && go build -o bin/jobgraph ./cmd/jobgraph && go build -o "$FANOUT_DIR/bin/e2e-fanout" ./bench/e2e-fanout)
cp "$ROOT/bin/jobgraph" "$FANOUT_DIR/bin/jobgraph"
"$SHARED/setup.sh" >/dev/null

STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$FANOUT_DIR/results/raw-$STAMP.txt
E2E=$FANOUT_DIR/results/e2e-$STAMP.txt
mysql_arg=
[ -z "${FANOUT_E2E_MYSQL:-}" ] || mysql_arg="-mysql '$FANOUT_E2E_MYSQL'"
echo "# rep tool N wall_s cpu_s hosts_ok client_cpu_s sshd_cpu_s sshd_auths maxstartups_drops listen_overflows rc cmd" > "$RAW"
: > "$E2E"
for n in "${NS[@]}"; do
  for rep in $(seq 1 "$REPS"); do
    echo "run.sh: N=$n rep=$rep" >&2
    {
      if [ "$rep" = 1 ] && [ "${#PEERS[@]}" -gt 0 ]; then "$SHARED/run.sh" "$n" "${PEERS[@]}" | grep -v '^#'; fi
      FANOUT_EXT="$FANOUT_DIR/bin/e2e-fanout -jobgraph $FANOUT_DIR/bin/jobgraph -out $E2E.r$rep $mysql_arg ${FANOUT_E2E_ARGS:-} \"\$@\"" \
        "$SHARED/run.sh" "$n" go-conns go-mux ext | grep -v '^#'
    } | sed -u "s/^/$rep /" | tee -a "$RAW" >&2
    sed "s/^/$rep /" "$E2E.r$rep" >> "$E2E"; rm -f "$E2E.r$rep"
    tail -n 2 "$E2E" >&2
  done
done
echo "run.sh: raw results in $RAW and $E2E" >&2

python3 - "$RAW" "$E2E" <<'PY'
import sys, statistics as st, collections
raw, e2e = sys.argv[1], sys.argv[2]
by = collections.defaultdict(dict)  # (N, rep) -> tool -> (wall, cpu, client, server, ok)
for l in open(raw):
    if not l.strip() or l.startswith('#'): continue
    r = l.split()
    by[(int(r[2]), int(r[0]))][r[1]] = (float(r[3]), float(r[4]), float(r[6]), float(r[7]), int(r[5]))
for l in open(e2e):
    r = l.split()
    rep, kv = int(r[0]), dict(x.split('=', 1) for x in r[2:])
    n = int(kv['n'])
    srv, sshd, cli = float(kv['server_cpu_s']), float(kv['sshd_cpu_s']), float(kv['client_cpu_s'])
    by[(n, rep)]['jobgraph-' + kv['phase']] = (float(kv['wall_s']), srv + sshd + cli, srv + cli, sshd, int(kv['tasks_ok']))
def med(xs): return st.median(xs) if xs else float('nan')
print("| N | tool | wall_s | cpu_s (client+sshd) | client cpu_s | sshd cpu_s | CPU ms/host | ok | wall / go-conns | cpu / go-conns | wall / go-mux | cpu / go-mux |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
order = ["pssh-pN", "pssh-x25519-pN", "ansible-raw-f50", "go-conns", "go-mux", "jobgraph-cold", "jobgraph-warm"]
names = {"jobgraph-cold": "**jobgraph e2e, cold**", "jobgraph-warm": "**jobgraph e2e, warm**"}
for n in sorted({k[0] for k in by}):
    reps = [by[k] for k in sorted(by) if k[0] == n]
    for tool in order:
        rs = [rep[tool] for rep in reps if tool in rep]
        if not rs: continue
        def ratio(base, i):
            return med([rep[tool][i] / rep[base][i] for rep in reps if tool in rep and base in rep and rep[base][i] > 0])
        print(f"| {n} | {names.get(tool, tool)} | {med([r[0] for r in rs]):.3f} | {med([r[1] for r in rs]):.3f} | "
              f"{med([r[2] for r in rs]):.3f} | {med([r[3] for r in rs]):.3f} | {1000 * med([r[1] for r in rs]) / n:.1f} | "
              f"{min(r[4] for r in rs)}/{n} | {ratio('go-conns', 0):.2f} | {ratio('go-conns', 1):.2f} | "
              f"{ratio('go-mux', 0):.2f} | {ratio('go-mux', 1):.2f} |")
print(f"\n({len({k[1] for k in by})} repetition(s); raw: {raw}, {e2e})")
PY

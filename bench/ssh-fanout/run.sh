#!/usr/bin/env bash
# run.sh -- jobgraph's ssh executor against pssh, ansible and the bare Go
# client, on the same loopback sshd, with the shared fan-out harness
# (../shared/bench/fanout: setup.sh starts the sshd, run.sh measures wall
# time and client+server CPU). jobgraph runs as the harness's `ext` tool:
# bench/ssh-fanout/main.go starts plugins/host, which starts the ssh
# executor as a plugin process (`jobgraph plugin serve ssh`), and sends it
# one `command` task per target entry, all at once (cold: the plugin's start
# is inside the measurement).
#
#   ext-conns  each target has its own known_hosts line, hence its own
#              connection (as N distinct hosts): compare with go-conns
#   ext-pool   all targets share known_hosts: pooled connections, 64
#              sessions each: compare with go-mux (one connection)
#
# Each repetition runs go-conns, ext-conns, go-mux, ext-pool back to back;
# the peers (pssh, ansible) run in the first repetition only (they take
# minutes at N=500). Ratios are taken inside a repetition; the table shows
# medians.
#
# Env: FANOUT_NS ("10 100 500"), FANOUT_REPS (3), FANOUT_PEERS
# ("pssh-pN pssh-x25519-pN ansible-raw-f50"; empty to skip), FANOUT_DIR
# (/tmp/jobgraph-ssh-fanout), FANOUT_SHARED (../../../shared/bench/fanout),
# and the harness's own variables.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${FANOUT_SHARED:-$(cd "$ROOT/../shared/bench/fanout" && pwd)}
export FANOUT_DIR=${FANOUT_DIR:-${TMPDIR:-/tmp}/jobgraph-ssh-fanout}
read -r -a NS <<< "${FANOUT_NS:-10 100 500}"
REPS=${FANOUT_REPS:-3}
read -r -a PEERS <<< "${FANOUT_PEERS-pssh-pN pssh-x25519-pN ansible-raw-f50}"

# The peers and the harness's sshd (Debian packages), installed when missing.
if ! command -v parallel-ssh >/dev/null || ! command -v ansible >/dev/null || [ ! -x /usr/sbin/sshd ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client pssh ansible-core procps >/dev/null
fi

mkdir -p "$FANOUT_DIR/bin" "$FANOUT_DIR/results"
(cd "$ROOT" && go build -o "$FANOUT_DIR/bin/jobgraph" ./cmd/jobgraph && go build -o "$FANOUT_DIR/bin/ssh-fanout" ./bench/ssh-fanout)
"$SHARED/setup.sh" >/dev/null

RAW=$FANOUT_DIR/results/raw-$(date +%Y%m%d-%H%M%S).txt
ext() { # ext MODE N TOOL... : run.sh with jobgraph as ext in MODE, renamed ext-MODE
  local mode=$1 n=$2; shift 2
  FANOUT_EXT="$FANOUT_DIR/bin/ssh-fanout -jobgraph $FANOUT_DIR/bin/jobgraph -mode $mode \"\$@\"" \
    "$SHARED/run.sh" "$n" "$@" | grep -v '^#' | sed -u "s/^ext /ext-$mode /"
}
echo "# rep tool N wall_s cpu_s hosts_ok client_cpu_s sshd_cpu_s sshd_auths maxstartups_drops listen_overflows rc cmd" > "$RAW"
for n in "${NS[@]}"; do
  for rep in $(seq 1 "$REPS"); do
    echo "run.sh: N=$n rep=$rep" >&2
    {
      if [ "$rep" = 1 ] && [ "${#PEERS[@]}" -gt 0 ]; then "$SHARED/run.sh" "$n" "${PEERS[@]}" | grep -v '^#'; fi
      ext conns "$n" go-conns ext
      ext pool "$n" go-mux ext
    } | sed -u "s/^/$rep /" | tee -a "$RAW" >&2
  done
done
echo "run.sh: raw results in $RAW" >&2

python3 - "$RAW" <<'PY'
import sys, statistics as st, collections
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith('#')]
by = collections.defaultdict(dict)  # (N, rep) -> tool -> row
for r in rows:
    by[(int(r[2]), int(r[0]))][r[1]] = r
def med(xs): return st.median(xs) if xs else float('nan')
print("| N | tool | wall_s | cpu_s (client+server) | client cpu_s | sshd auths | hosts ok | wall ratio | cpu ratio | vs |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
ns = sorted({k[0] for k in by})
order = ["pssh-pN", "pssh-x25519-pN", "ansible-raw-f50", "go-conns", "ext-conns", "go-mux", "ext-pool"]
for n in ns:
    reps = [by[k] for k in sorted(by) if k[0] == n]
    for tool in order:
        rs = [rep[tool] for rep in reps if tool in rep]
        if not rs: continue
        base = "go-mux" if tool == "ext-pool" else "go-conns"
        wr = [float(rep[tool][3]) / float(rep[base][3]) for rep in reps if tool in rep and base in rep]
        cr = [float(rep[tool][4]) / float(rep[base][4]) for rep in reps if tool in rep and base in rep]
        name = {"ext-conns": "**jobgraph ssh, conn per host**", "ext-pool": "**jobgraph ssh, pooled**"}.get(tool, tool)
        print(f"| {n} | {name} | {med([float(r[3]) for r in rs]):.3f} | {med([float(r[4]) for r in rs]):.3f} | "
              f"{med([float(r[6]) for r in rs]):.3f} | {med([int(r[8]) for r in rs]):.0f} | "
              f"{min(int(r[5]) for r in rs)}/{n} | {med(wr):.2f} | {med(cr):.2f} | {base} |")
print(f"\n({len({k[1] for k in by})} repetitions; peers in the first only; raw: {sys.argv[1]})")
PY

#!/usr/bin/env bash
# run.sh -- log volume (issue 10, benchmark 8): one task printing ~200 MB
# (`head -c 150000000 /dev/zero | base64 -w 100`: 202,000,000 bytes) over
# SSH through a real `jobgraph server`, one taskLog subscriber reading it
# all; throughput into storage and to the subscriber, the server's memory.
# Peer, in the same run: OpenSSH's ssh reading the same output. See main.go.
#
# The loopback sshd is the shared harness's (../shared/bench/fanout/setup.sh),
# in a directory and on a port of its own (LOGVOL_DIR, LOGVOL_PORT 2233) so
# that it never meets another benchmark's sshd.
#
# Env: LOGVOL_CAPS ("268435456 0": the per-task log cap, --log-max-bytes,
# raised so that all 202 MB are stored, then 0 = the server's default of
# 10 MiB), REPS (3), LOGVOL_BYTES (150000000), LOGVOL_ARGS (more flags).
# Prints one "logvolume ..." line per run (also appended to
# $LOGVOL_DIR/results/logvolume-STAMP.txt) and a table of medians.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${LOGVOL_SHARED:-$(cd "$ROOT/../shared/bench/fanout" && pwd)}
DIR=${LOGVOL_DIR:-${TMPDIR:-/tmp}/jobgraph-logvolume}
PORT=${LOGVOL_PORT:-2233}
read -r -a CAPS <<< "${LOGVOL_CAPS:-268435456 0}"
REPS=${REPS:-3}
BYTES=${LOGVOL_BYTES:-150000000}

mkdir -p "$DIR/bin" "$DIR/results"
(cd "$ROOT" && mkdir -p bin && go build -o bin/jobgraph ./cmd/jobgraph && go build -o "$DIR/bin/logvolume" ./bench/logvolume)
cp "$ROOT/bin/jobgraph" "$DIR/bin/jobgraph"
FANOUT_DIR=$DIR FANOUT_PORT=$PORT "$SHARED/setup.sh" >/dev/null

OUT=$DIR/results/logvolume-$(date +%Y%m%d-%H%M%S).txt
echo "# machine: nproc $(nproc), $(free -m | awk '/^Mem:/ {print $2}') MiB, $(uname -sr), $(go version | cut -d' ' -f3)" | tee "$OUT" >&2
for rep in $(seq 1 "$REPS"); do
  for cap in "${CAPS[@]}"; do
    echo "run.sh: cap=$cap rep=$rep (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$DIR/bin/logvolume" -jobgraph "$DIR/bin/jobgraph" -port "$PORT" -key "$DIR/client_ed25519" -known-hosts "$DIR/known_hosts" \
      -ssh-config "$DIR/ssh_config" -sshd-pid "$DIR/sshd.pid" -bytes "$BYTES" -cap "$cap" -out "$OUT" ${LOGVOL_ARGS:-} 2>&1 >/dev/null | grep -v '^logvolume: t=' >&2 || true
  done
done
echo "run.sh: results in $OUT" >&2
grep '^logvolume ' "$OUT"

python3 - "$OUT" <<'PY'
import sys, statistics as st, collections
rows = collections.defaultdict(list)
for l in open(sys.argv[1]):
    if not l.startswith('logvolume '): continue
    kv = dict(x.split('=', 1) for x in l.split()[1:] if '=' in x)
    rows[int(kv['cap'])].append(kv)
def loads(rs): return ', '.join(r['load'].strip('"').split()[0] for r in rs)
def med(rs, k): return st.median(float(r[k]) for r in rs)
print("\n| cap | runs | stored MB | into storage MB/s (first→last) | to subscriber MB/s (first→last) | peer ssh MB/s | storage / peer | window s | server RSS MB before → peak (VmHWM) | ssh plugin RSS MB peak | server CPU s | plugin CPU s | client CPU s | problems | load |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
for cap in sorted(rows, reverse=True):
    rs = rows[cap]
    print(f"| {cap or 'default (10 MiB)'} | {len(rs)} | {med(rs,'stored_bytes')/1e6:.1f} | {med(rs,'store_mbps'):.1f} | {med(rs,'sub_mbps'):.1f} | "
          f"{med(rs,'peer_ssh_mbps'):.1f} | {med(rs,'store_vs_peer'):.3f} | {med(rs,'window_s'):.2f} | {med(rs,'server_rss_before_mb'):.0f} → {med(rs,'server_rss_peak_mb'):.0f} ({med(rs,'server_hwm_mb'):.0f}) | "
          f"{med(rs,'plugin_rss_peak_mb'):.0f} | {med(rs,'server_cpu_s'):.2f} | {med(rs,'plugin_cpu_s'):.2f} | {med(rs,'client_cpu_s'):.2f} | "
          f"{sum(int(r['problems']) for r in rs)} | {loads(rs)} |")
print("\n(medians; load: the 1-minute load average at the end of each run)")
PY

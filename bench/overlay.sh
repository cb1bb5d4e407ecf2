#!/usr/bin/env bash
# Overlay scaling table: sippeer-sim on rings of 100, 1,000 and 10,000 nodes
# (and 100,000 with --big), every message through the SIP codec, one lookup per node per
# second of lookups; then a ring of 32 real sippeer processes on loopback
# (127.0.0.60): join time of each node and GET /lookup latency (skip it
# with --no-loopback).
#
#   bench/overlay.sh [--big] [--no-loopback] [--build-dir DIR] [--seed S]
#
# Run time on this machine: ~2.5 min without --big (10,000 nodes take most
# of it); --big adds ~12 min (an hour at most, its limit) and ~1.4 GB.
#
# Prints a table (hops; lookups per wall-second of the lookup phase, with
# maintenance running alongside; maintenance bytes; wall time of the whole
# run, ring building included; peak RSS) and, last, one JSON line with
# every row. Each run is bounded by `timeout`; a run that fails or times
# out is reported as such and the rest still run.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
big=0
loopback=1
seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --big) big=1 ;;
    --no-loopback) loopback=0 ;;
    --build-dir) build="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "overlay.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

sim="$build/sippeer-sim"
if [ ! -x "$sim" ]; then
  cmake --build "$build" --target sippeer-sim >&2
fi

sizes=(100 1000 10000)
[ "$big" = 1 ] && sizes+=(100000)

# N -> lookups and the per-run time limit (seconds). The 100,000-node ring
# used to skip the codec (hours at ~17 us a message and 80 million
# messages); since the routing rules of PROTOCOL.md 6.2 (rules 3 and 4) it sends 54
# million and runs in ~12 min with it. extra_for stays for flags per size.
lookups_for() { case "$1" in 100) echo 10000 ;; 1000) echo 20000 ;; 10000) echo 100000 ;; *) echo 200000 ;; esac; }
limit_for()   { case "$1" in 100|1000) echo 120 ;; 10000) echo 600 ;; *) echo 3600 ;; esac; }
extra_for()   { echo ""; }

rows=()
printf '%8s %6s %6s %6s %10s %12s %9s %9s %8s\n' \
  N mean p99 max ok lookups/s B/node/s wall_s RSS_MB
for n in "${sizes[@]}"; do
  lookups=$(lookups_for "$n")
  # shellcheck disable=SC2046
  if out=$(timeout "$(limit_for "$n")" "$sim" --nodes "$n" --lookups "$lookups" --seed "$seed" \
             $(extra_for "$n") --json 2>/dev/null); then
    row=$(python3 - "$out" "$(extra_for "$n")" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
if sys.argv[2]:  # no codec: no byte counts
    d["maintenance_bytes_per_node_per_s"] = None
d["lookups_per_wall_s"] = round(d["lookups"] / d["lookup_wall_seconds"]) if d["lookup_wall_seconds"] else None
print(json.dumps(d))
EOF
)
    rows+=("$row")
    python3 - "$row" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
m = d["maintenance_bytes_per_node_per_s"]
print("%8d %6.2f %6d %6d %10s %12s %9s %9.1f %8.0f" % (
    d["nodes"], d["mean_hops"], d["p99_hops"], d["max_hops"], d["success_rate"],
    d["lookups_per_wall_s"], "-" if m is None else "%.0f" % m, d["wall_seconds"], d["peak_rss_mb"]))
EOF
  else
    rc=$?
    why=$([ "$rc" = 124 ] && echo "timed out after $(limit_for "$n") s" || echo "exit $rc")
    printf '%8d  %s\n' "$n" "$why"
    rows+=("{\"nodes\":$n,\"error\":\"$why\"}")
  fi
done

printf '{"bench":"overlay","seed":%s,"rows":[%s]}\n' "$seed" "$(IFS=,; echo "${rows[*]}")"

if [ "$loopback" = 1 ]; then
  # 32 daemons as shipped (5 s stabilization), each joining through the
  # first; then 2,000 lookups spread over the nodes through the admin API.
  python3 "$top/bench/bench.py" ringlookup --sippeer "$build/sippeer" --nodes 32 --lookups 2000
fi

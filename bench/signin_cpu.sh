#!/usr/bin/env bash
# bench/signin_cpu.sh: a node's own CPU per sign-in (issue 13), measured
# natively, for builds side by side.
#   bench/signin_cpu.sh [--calls N] [--rate R] [--rounds K] BUILD_DIR [BUILD_DIR...]   (~1 min a run)
# For each round, for each build in turn: one node (auth.mode
# provisioned, bench/sippeer-bench.yaml) on 127.0.0.72:5060, one
# provisioned user signing in N times at R/s (sipp,
# bench/sipp/register_auth.xml: REGISTER, 401, REGISTER with the MD5
# digest, 200). Prints the node's user+system CPU (from /proc) divided by
# the sign-ins. Alternating the builds inside each round shares out the
# machine's changes of speed, which decide a one-off comparison here.
set -euo pipefail
calls=100000
rate=10000
rounds=2
builds=()
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "signin_cpu.sh: unknown option $1" >&2; exit 2 ;;
    *) builds+=("$1"); shift ;;
  esac
done
[ ${#builds[@]} -gt 0 ] || { echo "signin_cpu.sh: name at least one build directory (e.g. build)" >&2; exit 2; }
here="$(cd "$(dirname "$0")/.." && pwd)"
command -v sipp >/dev/null || { echo "signin_cpu.sh: sipp is missing (bash scripts/setup --all)" >&2; exit 1; }
hz=$(getconf CLK_TCK)
dir="$(mktemp -d /tmp/signin-cpu.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
{ cat "$here/bench/sippeer-bench.yaml"; printf 'auth:\n  mode: provisioned\n'; } > "$dir/auth.yaml"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() {  # $1 build dir; prints microseconds of CPU per sign-in
  local sippeer="$1/sippeer" state="$dir/state"
  [ -x "$sippeer" ] || { echo "signin_cpu.sh: no $sippeer" >&2; exit 1; }
  rm -rf "$state" && mkdir "$state"
  "$sippeer" --config "$dir/auth.yaml" -N --no-multicast -p 5060 --listen 127.0.0.72 \
    --admin 127.0.0.72:8072 --state-dir "$state" > "$dir/sippeer.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ -s "$state/admin.token" ] && "$sippeer" ctl --admin 127.0.0.72:8072 --token "$(cat "$state/admin.token")" \
      status >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$sippeer" ctl --admin 127.0.0.72:8072 --token "$(cat "$state/admin.token")" \
    user add sip:a000001@bench.test cpu-pw >/dev/null
  local before after ok
  before=$(cpu_ticks "$pid")
  sipp -sf "$here/bench/sipp/register_auth.xml" -s a000001 -au a000001 -ap cpu-pw -key domain bench.test \
    -m "$calls" -r "$rate" -i 127.0.0.1 -p 17072 127.0.0.72:5060 -nostdin -timeout 300 > "$dir/sipp.out" 2>&1 || true
  after=$(cpu_ticks "$pid")
  local per_wakeup
  per_wakeup=$(python3 -c '
import sys, urllib.request
m = {}
for line in urllib.request.urlopen("http://127.0.0.72:8072/metrics", timeout=5).read().decode().splitlines():
    if line and not line.startswith("#"):
        k, _, v = line.rpartition(" ")
        m[k] = float(v)
w = m.get("sippeer_sip_udp_wakeups_total", 0)
d = m.get("sippeer_sip_udp_datagrams_total", 0)
print(round(d / w, 1) if w else "-")' 2>/dev/null || echo "-")
  ok=$(grep -E "Successful call" "$dir/sipp.out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  [ "${ok:-0}" -gt 0 ] || { echo "signin_cpu.sh: no sign-in succeeded with $1" >&2; exit 1; }
  awk -v t=$((after - before)) -v hz="$hz" -v ok="$ok" -v calls="$calls" \
    -v pw="$per_wakeup" 'BEGIN { printf "%.1f us/sign-in (%d of %d ok; %s datagrams a wake-up)", t * 1e6 / hz / ok, ok, calls, pw }'
}

echo "CPU per sign-in, $calls sign-ins at $rate/s, one node, one provisioned user"
for r in $(seq 1 "$rounds"); do
  for b in "${builds[@]}"; do
    printf 'round %d  %-24s %s\n' "$r" "$b" "$(run_one "$b")"
  done
done

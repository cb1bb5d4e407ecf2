#!/usr/bin/env bash
# Setup latency added by the DNS + P2P parallel fork (report 3.5.2):
# INVITE -> 180 p50/p99 of the parallel fork against P2P only (callee in
# the ring) and against DNS only (callee behind Kamailio), in one run on
# loopback with dnsmasq on 127.0.0.1:5353 and Kamailio on 127.0.0.1:5090.
#
#   bench/fork.sh [--build-dir DIR] [--calls N]
#
# Prints a table and, last, one JSON line. Needs sipp, dnsmasq and
# kamailio (scripts/setup). Uses the same fixed ports as the dns_fork
# tests: do not run it while they run.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift ;;
    --calls) args+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fork.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -x "$build/sippeer" ]; then
  cmake --build "$build" --target sippeer >&2
fi
exec python3 "$top/bench/fork_bench.py" --sippeer "$build/sippeer" "${args[@]}"

#!/usr/bin/env bash
# bench/memory.sh: see the usage in bench/bench.py (python3 bench/bench.py -h).
# sippeer beside Kamailio on loopback 127.0.0.50-59, same sipp load, same run.
#   bench/memory.sh [--count N] [--rate R] [--keep]          memory per registration
#   bench/memory.sh --relay [--contacts N] [--rate R] [--seconds S] [--keep]
#                                                  memory a relayed MESSAGE holds
set -euo pipefail
if [ "${1:-}" = "--relay" ]; then
  shift
  exec python3 "$(dirname "$0")/bench.py" relaymemory "$@"
fi
exec python3 "$(dirname "$0")/bench.py" memory "$@"

#!/usr/bin/env bash
# bench/overload.sh: see the usage in bench/bench.py (python3 bench/bench.py -h).
# sippeer beside Kamailio on loopback 127.0.0.50-59, same sipp load, same run.
#   bench/overload.sh [--quick] [--no-ring] [--rates R1,R2,..] [--keep]
set -euo pipefail
exec python3 "$(dirname "$0")/bench.py" overload "$@"

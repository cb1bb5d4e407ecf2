#!/usr/bin/env bash
# bench/secret.sh: what overlay.secret (issue 14) costs.
#  1. sippeer-mac-bench: signing and checking one overlay message, beside
#     encoding and decoding it with the codec (ns per message, ratios).
#  2. REGISTER/s through a ring of 4 with and without overlay.secret, both
#     rings up at once beside Kamailio, same sipp load, same run (bench.py).
#   bench/secret.sh [--quick] [--rates R1,R2,..] [--keep] [--build-dir DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
"$build/sippeer-mac-bench"
exec python3 "$top/bench/bench.py" secret --sippeer "$build/sippeer" "${args[@]}"

#!/usr/bin/env bash
# bench/auth.sh: authenticated REGISTER (issue 13). sippeer (one node, and a
# ring of 4) with auth.mode provisioned beside Kamailio with the auth module
# over an htable of the same users, same sipp load, same run (bench.py auth).
#   bench/auth.sh [--quick] [--no-ring] [--rates R1,R2,..] [--keep]
set -euo pipefail
exec python3 "$(dirname "$0")/bench.py" auth "$@"

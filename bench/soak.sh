#!/usr/bin/env bash
# Soak: a 3-node ring at 80% of its measured maximum for 30 minutes
# (REGISTER refreshes, MESSAGE, calls); RSS, fds and transactions every
# minute. See bench/soak.py for what it checks. Options pass through:
#   bench/soak.sh --minutes 3 --rate 150     (the CI version)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/soak.py "$@"

#!/usr/bin/env bash
# bench/sim_compare.sh OLD NEW: do two builds of sippeer-sim behave the
# same? Runs six seeded scenarios (3,000 nodes with keys; half of 2,000
# failing; churn; 5 % loss; a 5-bit ring; one node) with each binary and
# compares their JSON with timings and RSS taken out. For changes meant
# to make the simulator or the codec faster without changing what they
# do (docs/BENCHMARKS.md). ~25 s. Exit 0 when identical.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,7p' "$0"; exit 2; }
for b in "$1" "$2"; do [ -x "$b" ] || { echo "sim_compare.sh: $b is not executable" >&2; exit 2; }; done
dir="$(mktemp -d /tmp/sim-compare.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
scenarios=(
  "--nodes 3000 --lookups 3000 --seed 1 --keys 300"
  "--nodes 2000 --lookups 2000 --fail 0.5 --keys 500 --seed 2"
  "--nodes 500 --churn 2 --duration 120 --keys 200 --lookups 500 --seed 3"
  "--nodes 500 --loss 0.05 --lookups 1000 --keys 100 --seed 4"
  "--nodes 20 --bits 5 --lookups 100 --seed 5"
  "--nodes 1 --lookups 10 --keys 5 --seed 6"
)
strip='import json,sys
d=json.load(sys.stdin)
for k in ("wall_seconds","lookup_wall_seconds","peak_rss_mb"): d.pop(k,None)
print(json.dumps(d,sort_keys=True))'
for side in old new; do
  bin="$1"; [ "$side" = new ] && bin="$2"
  for s in "${scenarios[@]}"; do
    # shellcheck disable=SC2086
    "$bin" $s --json | python3 -c "$strip" >> "$dir/$side"
  done
done
if cmp -s "$dir/old" "$dir/new"; then
  echo "same JSON in all ${#scenarios[@]} scenarios"
else
  echo "the JSON differs:" >&2
  diff "$dir/old" "$dir/new" >&2 || true
  exit 1
fi

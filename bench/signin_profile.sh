#!/usr/bin/env bash
# bench/signin_profile.sh: instructions per sign-in (issue 13), counted by
# callgrind, which repeats on a loaded machine where timings do not.
#   bench/signin_profile.sh [--calls N] [--build DIR]      (~2 min)
# One node (auth.mode provisioned, bench/sippeer-bench.yaml) on
# 127.0.0.71:5060 under valgrind; one provisioned user signs in N times
# (sipp, bench/sipp/register_auth.xml: REGISTER, 401, REGISTER with the
# MD5 digest, 200). Prints instructions per sign-in, in all and for the
# parts docs/BENCHMARKS.md names. Needs valgrind and sip-tester
# (scripts/setup --all installs both).
set -euo pipefail
calls=3000
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "signin_profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "$0")/.." && pwd)"
sippeer="$here/$build/sippeer"
[ -x "$sippeer" ] || { echo "signin_profile.sh: no $sippeer (bash scripts/build)" >&2; exit 1; }
for tool in valgrind callgrind_annotate sipp; do
  command -v "$tool" >/dev/null || { echo "signin_profile.sh: $tool is missing (bash scripts/setup --all)" >&2; exit 1; }
done
dir="$(mktemp -d /tmp/signin-profile.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
mkdir "$dir/state"
{ cat "$here/bench/sippeer-bench.yaml"; printf 'auth:\n  mode: provisioned\n'; } > "$dir/auth.yaml"
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$sippeer" --config "$dir/auth.yaml" -N \
  --no-multicast -p 5060 --listen 127.0.0.71 --admin 127.0.0.71:8071 --state-dir "$dir/state" \
  > "$dir/sippeer.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  [ -s "$dir/state/admin.token" ] && "$sippeer" ctl --admin 127.0.0.71:8071 --token "$(cat "$dir/state/admin.token")" \
    status >/dev/null 2>&1 && break
  sleep 0.5
done
"$sippeer" ctl --admin 127.0.0.71:8071 --token "$(cat "$dir/state/admin.token")" \
  user add sip:a000001@bench.test profile-pw >/dev/null
sipp -sf "$here/bench/sipp/register_auth.xml" -s a000001 -au a000001 -ap profile-pw -key domain bench.test \
  -m "$calls" -r 150 -i 127.0.0.1 -p 17071 127.0.0.71:5060 -nostdin -timeout 300 > "$dir/sipp.out" 2>&1 || true
ok=$(grep -E "Successful call" "$dir/sipp.out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
[ "${ok:-0}" = "$calls" ] || { echo "signin_profile.sh: only ${ok:-0} of $calls sign-ins succeeded" >&2; exit 1; }
callgrind_annotate --inclusive=yes "$dir/cg.out" 2>/dev/null > "$dir/annotated.txt"
part() {  # $1 label, $2 regex of the function
  local ir
  ir=$(grep -E "$2" "$dir/annotated.txt" | head -1 | awk '{gsub(/,/,"",$1); print $1}')
  printf '%-44s %8d\n' "$1" $(( ${ir:-0} / calls ))
}
echo "instructions per sign-in, callgrind, $calls sign-ins of one provisioned user on one node"
part "all (UdpReader::deliver)" 'UdpReader::deliver\('
part "Sofia's parser (msg_extract)" '\?\?\?:msg_extract '
part "digest check (Authenticator::check)" 'Authenticator::check\('
part "credential read (Location::credential)" 'Location::credential\('
part "the 401 (Proxy::answer_refusal)" 'Proxy::answer_refusal\('
part "REGISTER applied (Location::apply)" 'Location::apply\('
part "stored bindings read (decode_binding)" 'adaptor::decode_binding\('

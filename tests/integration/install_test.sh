#!/usr/bin/env bash
# scripts/install into a staging tree: binary, config that passes
# --check-config, a systemd unit of Type=notify with a watchdog that runs as
# the unprivileged sippeer user with no capabilities (5060 is not a
# privileged port), restarts on failure, leaves on SIGTERM, and whose
# hardening `systemd-analyze security` scores below 3.0.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bash "$top/scripts/install" --no-build --destdir "$stage" --prefix /opt/sippeer 2>/dev/null
unit="$stage/etc/systemd/system/sippeer.service"
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$stage/opt/sippeer/bin/sippeer" ] || fail "binary not installed"
"$stage/opt/sippeer/bin/sippeer" --check-config "$stage/etc/sippeer/sippeer.yaml" >/dev/null || fail "installed config is invalid"
grep -q '^  mode: provisioned$' "$stage/etc/sippeer/sippeer.yaml" || fail "installed config does not set auth.mode provisioned"
for want in "Type=notify" "NotifyAccess=main" "WatchdogSec=" "User=sippeer" "CapabilityBoundingSet=$" \
            "Restart=on-failure" "KillSignal=SIGTERM" "StateDirectory=sippeer" "ExecStart=/opt/sippeer/bin/sippeer"; do
  grep -q "^$want" "$unit" || fail "unit lacks $want"
done
grep -q "CAP_NET_BIND_SERVICE$" "$unit" && grep -q "^AmbientCapabilities=CAP" "$unit" && fail "unit still grants CAP_NET_BIND_SERVICE"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (scripts/setup --all installs systemd)"
# --offline scores the file as written (systemd 252 and later); the score is
# the last line: "→ Overall exposure level for sippeer.service: 1.3 OK".
score=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "systemd-analyze security printed no score"
awk -v s="$score" 'BEGIN { exit !(s < 3.0) }' || fail "systemd-analyze security scores the unit $score, want < 3.0"
echo "install: systemd-analyze security exposure $score (< 3.0)"
echo "install: 1 passed, 0 failed"

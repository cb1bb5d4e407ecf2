#!/usr/bin/env bash
# scripts/install into a staging tree: binary, config that passes
# --check-config, a systemd unit that runs as the unprivileged sippeer user
# with only CAP_NET_BIND_SERVICE, restarts on failure and leaves on SIGTERM.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bash "$top/scripts/install" --no-build --destdir "$stage" --prefix /opt/sippeer 2>/dev/null
unit="$stage/etc/systemd/system/sippeer.service"
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$stage/opt/sippeer/bin/sippeer" ] || fail "binary not installed"
"$stage/opt/sippeer/bin/sippeer" --check-config "$stage/etc/sippeer/sippeer.yaml" >/dev/null || fail "installed config is invalid"
for want in "User=sippeer" "AmbientCapabilities=CAP_NET_BIND_SERVICE" "Restart=on-failure" \
            "KillSignal=SIGTERM" "StateDirectory=sippeer" "ExecStart=/opt/sippeer/bin/sippeer"; do
  grep -q "^$want" "$unit" || fail "unit lacks $want"
done
echo "install: 1 passed, 0 failed"

#!/usr/bin/env bash
# The Debian package: `dpkg-buildpackage -us -uc -b` on a copy of the
# source tree builds a .deb that installs the daemon, the systemd unit, the
# configuration as a conffile, sippeer(8) and sippeer.yaml(5) and the
# softphone wrapper, and creates the sippeer user. Installed with dpkg -i,
# checked, then purged again, so the machine ends as it began.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
cleanup() {
  dpkg --purge sippeer >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root to dpkg -i (CI runs as root)"
command -v dpkg-buildpackage >/dev/null || fail "dpkg-buildpackage is missing (scripts/setup --all installs dpkg-dev)"
if dpkg-query -W -f='${Status}' sippeer 2>/dev/null | grep -q "install ok installed"; then
  fail "a sippeer package is installed already; this test would remove it (dpkg --purge sippeer first)"
fi

# A copy of exactly the project's files: the build writes debian/ and
# ../*.deb next to the tree it builds.
mkdir "$work/sippeer"
(cd "$top" && git ls-files -co --exclude-standard | grep -v '^build' | tar -cf - -T -) | tar -xf - -C "$work/sippeer"
start=$SECONDS
(cd "$work/sippeer" && DEB_BUILD_OPTIONS="parallel=$(nproc) noddebs" dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) \
  || { tail -40 "$work/build.log"; fail "dpkg-buildpackage failed"; }
deb=$(ls "$work"/sippeer_*.deb)
echo "deb: built $(basename "$deb") in $((SECONDS - start)) s"

dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i failed"; }
[ "$(command -v sippeer)" = /usr/bin/sippeer ] || fail "sippeer is not /usr/bin/sippeer: $(command -v sippeer)"
/usr/bin/sippeer --version | grep -q '^sippeer ' || fail "sippeer --version: $(/usr/bin/sippeer --version)"
/usr/bin/sippeer --check-config /etc/sippeer/sippeer.yaml >/dev/null || fail "the packaged config does not pass --check-config"
grep -qx /etc/sippeer/sippeer.yaml /var/lib/dpkg/info/sippeer.conffiles || fail "/etc/sippeer/sippeer.yaml is not a conffile"
man -w sippeer >/dev/null 2>&1 || fail "man -w sippeer finds no sippeer(8)"
man -w 5 sippeer.yaml >/dev/null 2>&1 || fail "man -w 5 sippeer.yaml finds no sippeer.yaml(5)"
zcat "$(man -w 5 sippeer.yaml)" | grep -q 'sip\.port' || fail "sippeer.yaml(5) does not list sip.port"
[ -x /usr/bin/sippeer-softphone ] || fail "the softphone wrapper is not installed"
unit=/lib/systemd/system/sippeer.service
grep -q '^ExecStart=/usr/bin/sippeer ' "$unit" || fail "the unit does not run /usr/bin/sippeer"
grep -q '^Type=notify' "$unit" || fail "the unit is not Type=notify"
getent passwd sippeer >/dev/null || fail "postinst did not create the sippeer user"
echo "deb: installed and checked (binary, conffile, man pages, unit, wrapper, user)"

dpkg --purge sippeer >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
[ ! -e /usr/bin/sippeer ] || fail "/usr/bin/sippeer is still there after purge"
[ ! -e /etc/sippeer/sippeer.yaml ] || fail "the conffile is still there after purge"
echo "deb: purged"
echo "deb: 1 passed, 0 failed"

#!/bin/sh
# Check every unit here with `systemd-analyze verify`, unmodified.
# The units run /opt/pen-ha/bin/*; verify insists those exist, so in a private mount namespace
# (nothing changes on the host) this repository's virtualenv is mounted there first.
# Usage: deploy/systemd/verify.sh [VENV]   (default: the repository's .venv)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$(cd "$here/../.." && pwd)/.venv}
[ -x "$venv/bin/pen" ] || { echo "verify.sh: no $venv/bin/pen (run scripts/setup.sh)" >&2; exit 2; }
if [ "${PENHA_VERIFY_INNER:-}" != 1 ]; then
    if [ -x /opt/pen-ha/bin/pen ] && [ -x /opt/pen-ha/bin/penvrrp ] && [ -x /opt/pen-ha/bin/penlogd ]; then
        PENHA_VERIFY_INNER=1 exec "$0" "$venv"      # installed for real: verify against it
    fi
    PENHA_VERIFY_INNER=1 exec unshare --mount --propagation private sh -c '
        mount -t tmpfs pen-ha-verify /opt && mkdir /opt/pen-ha &&
        mount --bind "$1" /opt/pen-ha && exec "$2" "$1"' sh "$venv" "$0"
fi
cd "$here"
# Templates are verified through an instance name, as systemd would load them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp pen.service pen.socket pen-control.socket penlogd.service penvrrp.service penlog-nginx.service "$tmp/"
cp pen@.service "$tmp/pen@8080.service"
cp pen@.socket "$tmp/pen@8080.socket"
cd "$tmp"
# verify only warns about unknown keys or bad values (exit 0): any output at all is a failure.
if ! out=$(systemd-analyze verify --man=no pen.service pen.socket pen-control.socket pen@8080.service \
        pen@8080.socket penlogd.service penvrrp.service penlog-nginx.service 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    echo "systemd-analyze verify: FAILED" >&2
    exit 1
fi
echo "systemd-analyze verify: all units OK"

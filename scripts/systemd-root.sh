#!/bin/sh
# A minimal Debian 12 root with systemd, for booting deploy/systemd's units in a container
# (systemd-nspawn --boot; tests/netns/systemd).  Built once with debootstrap from the mirror
# apt uses, then reused: DIR/.complete marks a finished root.  Root is needed.
#   scripts/systemd-root.sh [DIR]      default: build/systemd-root in this checkout
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build/systemd-root}
[ -e "$dir/.complete" ] && { echo "$dir"; exit 0; }
command -v debootstrap >/dev/null || { echo "systemd-root.sh: debootstrap missing (scripts/setup.sh)" >&2; exit 2; }
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb  *\(http[^ ]*\)  *bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
rm -rf "$dir.tmp"
mkdir -p "$(dirname "$dir")"
# python3-venv: deploy/install.sh makes /opt/pen-ha with it, as on a real host
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,python3-venv,iproute2,procps \
    bookworm "$dir.tmp" "$mirror" >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
touch "$dir.tmp/.complete"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "$dir"

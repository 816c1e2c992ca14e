#!/bin/sh
# Install pen-ha on a host: a virtualenv at $PREFIX (default /opt/pen-ha, where the units look),
# the systemd units into $UNITDIR (default /etc/systemd/system), the man pages linked into
# $MANDIR (default /usr/local/share/man/man1, so `man pen` finds them).
#   deploy/install.sh                    this checkout, with the vrrp extra (penvrrp)
#   deploy/install.sh 'pen-ha[vrrp]'     from PyPI; any pip arguments work (--no-index ...)
# Then: systemctl daemon-reload, and the steps of deploy/ha-example/README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/opt/pen-ha}
UNITDIR=${UNITDIR:-/etc/systemd/system}
MANDIR=${MANDIR:-/usr/local/share/man/man1}
[ $# -gt 0 ] || set -- "$here/..[vrrp]"
[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install -q --disable-pip-version-check "$@"
mkdir -p "$UNITDIR" "$MANDIR"
for unit in "$here"/systemd/*.service "$here"/systemd/*.socket; do
    case "$unit" in *penlog-nginx.service) continue ;; esac   # for backends: copy it there
    cp "$unit" "$UNITDIR/"
done
n=0
for page in "$PREFIX"/share/man/man1/*.1; do
    [ -e "$page" ] || continue
    ln -sf "$page" "$MANDIR/"
    n=$((n + 1))
done
echo "install.sh: pen-ha $("$PREFIX/bin/pen" --version | head -n1 | cut -d' ' -f3) in $PREFIX," \
     "units in $UNITDIR, $n man pages in $MANDIR"

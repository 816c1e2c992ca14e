"""`systemctl` inside `lab exec`: the runbooks' systemctl lines, sent to the node's labsup.py.

    systemctl start|stop|restart|reload|status|is-active UNIT...    systemctl kill [-s SIG] UNIT...

Like systemctl, start/restart return once the unit is ready (Type=notify: READY=1) and stop
once it has stopped (ExecStopPost included); `status` exits 3 when a unit is not active.  The
node comes from $PENHA_LAB_NODE_DIR, which `lab exec` sets.  Stdlib only.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labsup  # noqa: E402

WAIT = 30.0


def main(argv: list[str]) -> int:
    node = os.environ.get("PENHA_LAB_NODE_DIR")
    if not node:
        print("systemctl (lab): run me through `lab exec NODE --`", file=sys.stderr)
        return 1
    d = Path(node)
    words = [w for w in argv if w not in ("-q", "--quiet", "--no-pager", "--no-block")]
    sig = "SIGTERM"
    if "-s" in words:
        i = words.index("-s")
        sig, words = words[i + 1], words[:i] + words[i + 2:]
    words = [w.split("=", 1)[1] if w.startswith("--signal=") else w for w in words]
    if not words:
        print("systemctl (lab): which command?", file=sys.stderr)
        return 1
    verb, units = words[0], [u.removesuffix(".service") for u in words[1:]]
    if verb in ("is-active", "status"):
        reply = labsup.ask(d, "status " + " ".join(units))
        if reply.startswith("error:"):
            print(reply.strip(), file=sys.stderr)
            return 4
        states = [line.split()[1] for line in reply.splitlines()]
        if verb == "status":
            sys.stdout.write(reply)
        else:
            print("\n".join(states))
        return 0 if all(s == "active" for s in states) else 3
    line = f"kill {' '.join(units)} {sig}" if verb == "kill" else f"{verb} {' '.join(units)}"
    reply = labsup.ask(d, line)
    if reply.startswith("error:"):
        print(reply.strip(), file=sys.stderr)
        return 1
    want = {"start": "active", "restart": "active", "stop": "inactive"}.get(verb)
    end = time.monotonic() + WAIT
    while want:
        states = {line.split()[0]: line.split()[1] for line in labsup.ask(d, "status " + " ".join(units)).splitlines()}
        if verb == "restart" and "activating" in states.values():
            pass
        elif all(s == want or (want == "inactive" and s == "failed") for s in states.values()):
            return 0
        if time.monotonic() > end:
            print(f"systemctl (lab): {verb} timed out: {states}", file=sys.stderr)
            return 1
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""penctl's structured view of pen's text replies (for --json).

Parsed from the text, not asked of pen in a new format, so --json works against C pen 0.34.1's
control port as well as ours (penctl(1) COMMANDS; pen(1) -w).
"""
from __future__ import annotations

from pen.core.numbers import ascii_decimal
from pen.core.stats import number_or_text, parse_html

SERVER_FIELDS = ("addr", "port", "conn", "max", "hard", "weight", "prio", "sx", "rx")
MODE_FLAGS = ("hash", "roundrobin", "stubborn", "weight", "prio")


def parse_servers(text: str) -> list[dict]:
    """`N addr A port P conn C max M hard H weight W prio P sx S rx R`, one per line.  The
    address of a never-configured slot is C's `(unknown address family 0`, spaces and all."""
    out = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" addr ")
        index = ascii_decimal(head.strip()) if sep else None
        if index is None:
            continue
        addr, sep, rest = tail.partition(" port ")
        entry: dict = {"index": index, "address": addr}
        words = ("port " + rest).split()
        for key, value in zip(words[::2], words[1::2]):
            entry[key] = number_or_text(value)
        out.append(entry)
    return out


def parse_recent(text: str) -> list[dict]:
    """`ADDR connects N sx S rx R`, one per client."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 7 and words[1] == "connects":
            out.append({"address": words[0], "connects": number_or_text(words[2]), "sx": number_or_text(words[4]),
                        "rx": number_or_text(words[6])})
    return out


def parse_mode(text: str) -> dict:
    """`[no ]hash [no ]roundrobin [no ]stubborn [no ]weight [no ]prio`."""
    words = text.split()
    result: dict = {}
    on = True
    for word in words:
        if word == "no":
            on = False
            continue
        if word in MODE_FLAGS:
            result[word] = on
        on = True
    return result


#: How pen (ours and C pen 0.34.1) words a refusal: `error: ...` for a bad argument, the
#: others for an unknown command or one it cannot carry out (docs/penctl.md, exit codes).
REFUSALS = ("error: ", "do_cmd: ignoring command", "Exit is not enabled", "Unable to create webstats",
            "unable to set source address")


def refusal(text: str) -> str | None:
    """pen's error message when `text` is a refusal (penctl then exits 1), else None."""
    first = text.lstrip().split("\n", 1)[0]
    if first.startswith(REFUSALS) or (first.startswith("Connection ") and first.endswith(" out of range")):
        return first.removeprefix("error: ").strip()
    return None


def parse_peers(text: str) -> dict:
    """`peers` (docs/peers.md "Status"): the listen line, then one line per peer with its
    `drift:` and `error:` lines indented below it."""
    out: dict = {"peers": []}
    for line in text.splitlines():
        words = line.split()
        if line.startswith("  ") and out["peers"]:
            what, _, rest = line.strip().partition(": ")
            out["peers"][-1].setdefault(f"{what}_lines", []).append(rest)
        elif words[:1] == ["listen"]:
            pairs = dict(zip(words[::2], words[1::2]))
            out.update({"listen": pairs.get("listen"), "key": pairs.get("key") == "yes",
                        "entries": number_or_text(pairs.get("entries", "0")),
                        "refused": number_or_text(pairs.get("refused", "0"))})
        elif words[:1] == ["peer"] and len(words) > 1:
            entry: dict = {"peer": words[1]}
            for key, value in zip(words[2::2], words[3::2]):
                entry[key] = value == "yes" if value in ("yes", "no") else number_or_text(value)
            out["peers"].append(entry)
    return out


PARSERS = {"servers": parse_servers, "peers": parse_peers, "recent": parse_recent, "mode": parse_mode,
           "status": parse_html}


def to_data(command: str, text: str) -> object:
    """The reply as JSON-ready data; commands without a parser give {"reply": text}."""
    why = refusal(text)
    if why is not None:
        return {"error": why}
    parser = PARSERS.get(command)
    if parser is None:
        return {"reply": text}
    if command == "status" and not text.lstrip().startswith("<"):
        return {"error": text.strip()}
    return parser(text)

"""penctl's structured view of pen's text replies (for --json).

Parsed from the text, not asked of pen in a new format, so --json works against C pen 0.34.1's
control port as well as ours (spec/pen-0.34.md §3.4, §6.2).
"""
from __future__ import annotations

from pen.core.stats import parse_html

SERVER_FIELDS = ("addr", "port", "conn", "max", "hard", "weight", "prio", "sx", "rx")
MODE_FLAGS = ("hash", "roundrobin", "stubborn", "weight", "prio")


def _num(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def parse_servers(text: str) -> list[dict]:
    """`N addr A port P conn C max M hard H weight W prio P sx S rx R`, one per line.  The
    address of a never-configured slot is C's `(unknown address family 0`, spaces and all."""
    out = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" addr ")
        if not sep or not head.strip().isdigit():
            continue
        addr, sep, rest = tail.partition(" port ")
        entry: dict = {"index": int(head), "address": addr}
        words = ("port " + rest).split()
        for key, value in zip(words[::2], words[1::2]):
            entry[key] = _num(value)
        out.append(entry)
    return out


def parse_recent(text: str) -> list[dict]:
    """`ADDR connects N sx S rx R`, one per client."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 7 and words[1] == "connects":
            out.append({"address": words[0], "connects": _num(words[2]), "sx": _num(words[4]),
                        "rx": _num(words[6])})
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


PARSERS = {"servers": parse_servers, "recent": parse_recent, "mode": parse_mode,
           "status": parse_html}


def to_data(command: str, text: str) -> object:
    """The reply as JSON-ready data; commands without a parser give {"reply": text}."""
    parser = PARSERS.get(command)
    if parser is None:
        return {"reply": text}
    if command == "status" and not text.lstrip().startswith("<"):
        return {"error": text.strip()}
    return parser(text)

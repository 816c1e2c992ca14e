"""Active health checks: what to probe, and the rise/fall state machine (pure).

C pen's only health signal was a client's failed connect (pen(1) -b): after each blacklist
expiry one client paid the connect timeout.  With a check configured, a server is marked down
after `fall` consecutive failed probes, before any client has to wait, and up again only after
`rise` consecutive successes.  Kinds, as operators know them from HAProxy:
  tcp    a connect succeeds
  http   `GET path` answers with the expected status (e.g. 200, or 2xx)
  agent  a connect to an agent port answers a word: up/ready, down/fail/stopped/maint, drain,
         or a weight percentage like `75%` (HAProxy's agent-check vocabulary)
The shell (pen/engine/health.py) runs the probes on the event loop and feeds the results here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pen.core.numbers import ascii_decimal, ascii_fixed

KINDS = ("tcp", "http", "agent")


@dataclass(slots=True)
class CheckSpec:
    kind: str = "tcp"
    interval: float = 2.0
    timeout: float = 1.0
    rise: int = 2
    fall: int = 3
    path: str = "/"
    expect: str = "2xx"          # a status code, or Nxx for a class
    port: int = 0                # 0: the server's own port (the agent port for `agent`)
    host: str = ""               # Host header for http checks (default: the server address)

    def render(self) -> str:
        """As the tail of a `server N check ...` command (for `write`)."""
        words = [self.kind]
        if self.kind == "http":
            words += [self.path, "expect", self.expect]
            if self.host:
                words += ["host", self.host]
        if self.port:
            words += ["port", str(self.port)]
        words += ["interval", _num(self.interval), "timeout", _num(self.timeout),
                  "rise", str(self.rise), "fall", str(self.fall)]
        return " ".join(words)


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


class CheckSpecError(ValueError):
    pass


def parse_check(words: list[str]) -> CheckSpec:
    """`tcp|http [PATH]|agent [port P] [interval S] [timeout S] [rise N] [fall N] [expect E]
    [host H]` -> CheckSpec."""
    if not words or words[0] not in KINDS:
        raise CheckSpecError(f"check: expected one of {', '.join(KINDS)}")
    spec = CheckSpec(kind=words[0])
    rest = words[1:]
    if spec.kind == "http" and rest and rest[0].startswith("/"):
        spec.path = rest.pop(0)
    if len(rest) % 2:
        raise CheckSpecError(f"check: '{rest[-1]}' needs a value")
    for key, value in zip(rest[::2], rest[1::2]):
        try:
            if key == "interval":
                spec.interval = _positive(_fixed(value), key)
            elif key == "timeout":
                spec.timeout = _positive(_fixed(value), key)
            elif key in ("rise", "fall"):
                setattr(spec, key, int(_positive(_whole(value), key)))
            elif key == "port":
                spec.port = _whole(value)
                if not 1 <= spec.port <= 65535:
                    raise CheckSpecError(f"check: port {value} out of range")
            elif key == "expect":
                if not (len(value) == 3 and (ascii_decimal(value, 3) is not None or
                                             (value[0] in "12345" and value[1:] == "xx"))):
                    raise CheckSpecError(f"check: expect '{value}': a status like 200 or 2xx")
                spec.expect = value
            elif key == "host":
                spec.host = value
            else:
                raise CheckSpecError(f"check: unknown keyword '{key}'")
        except ValueError as e:
            if isinstance(e, CheckSpecError):
                raise
            raise CheckSpecError(f"check: {key} '{value}' is not a number") from None
    if spec.timeout > spec.interval:
        spec.timeout = spec.interval
    return spec


def _fixed(text: str) -> float:
    value = ascii_fixed(text, 9)
    if value is None:
        raise ValueError(text)
    return value


def _whole(text: str) -> int:
    value = ascii_decimal(text, 9)
    if value is None:
        raise ValueError(text)
    return value


def _positive(x: float, what: str) -> float:
    if x <= 0:
        raise CheckSpecError(f"check: {what} must be positive")
    return x


def http_request(spec: CheckSpec, default_host: str) -> bytes:
    return (f"GET {spec.path} HTTP/1.0\r\nHost: {spec.host or default_host}\r\n"
            f"User-Agent: pen-ha-health-check\r\nConnection: close\r\n\r\n").encode("ascii")


def http_verdict(spec: CheckSpec, response: bytes) -> tuple[bool, str]:
    """Judge an HTTP response's status line: (ok, description)."""
    line = response.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or ascii_decimal(parts[1], 3) is None:
        return False, "not an HTTP response"
    status = parts[1].decode()
    if spec.expect.endswith("xx"):
        ok = status[0] == spec.expect[0]
    else:
        ok = status == spec.expect
    return ok, f"HTTP {status}"


@dataclass(slots=True, frozen=True)
class AgentReply:
    state: str | None            # "up", "down", "drain", or None when only a weight came
    weight_percent: int | None


def agent_verdict(reply: bytes) -> AgentReply:
    """Words separated by spaces, commas or tabs, the last of each kind wins."""
    state, weight = None, None
    for word in reply.decode("ascii", "replace").replace(",", " ").replace("\t", " ").split():
        w = word.lower()
        if w in ("up", "ready"):
            state = "up"
        elif w in ("down", "fail", "failed", "stopped", "maint"):
            state = "down"
        elif w == "drain":
            state = "drain"
        elif w.endswith("%") and ascii_decimal(w[:-1], 9) is not None:
            weight = min(ascii_decimal(w[:-1], 9) or 0, 256)
    return AgentReply(state, weight)


@dataclass(slots=True)
class HealthState:
    """Rise/fall counting.  A checked server starts *unproven*: it takes no client until its
    first probe succeeded (that one success brings it up; docs/pen.md, health checks), so no
    client is sent to a server nobody has seen answer.  A first failure marks it down, and
    from then on `rise` successes are needed as usual."""

    up: bool = False
    proven: bool = False         # a first probe result came in
    successes: int = 0
    failures: int = 0
    checks: int = 0
    last: str = ""
    changed_at: float = 0.0
    history: list[tuple[float, bool]] = field(default_factory=list)

    def record(self, ok: bool, spec: CheckSpec, now: float, what: str = "") -> bool | None:
        """Feed one probe result; returns the new `up` when it changed, else None."""
        self.checks += 1
        self.last = what or ("ok" if ok else "failed")
        if not self.proven:
            self.proven = True
            self.successes, self.failures = (1, 0) if ok else (0, 1)
            return self._flip(ok, now)
        if ok:
            self.successes += 1
            self.failures = 0
            if not self.up and self.successes >= spec.rise:
                return self._flip(True, now)
        else:
            self.failures += 1
            self.successes = 0
            if self.up and self.failures >= spec.fall:
                return self._flip(False, now)
        return None

    def _flip(self, up: bool, now: float) -> bool:
        self.up = up
        self.changed_at = now
        self.history.append((now, up))
        del self.history[:-20]
        return up

"""The penctl command interpreter: (state, line) -> reply (penctl(1) COMMANDS).

This module holds the interpreter and C pen 0.34.1's own commands; pen-ha's are declared in
their own modules (pen.core.control.ext, .ha, .dataplane, pen.core.livestatus) and the whole
table is assembled in one place, pen/core/control/__init__.py, which the interpreter does not
import.

One line in, one reply out, with C pen 0.34.1's exact reply text so that C penctl, scripts that
parse `servers` and our penctl work unchanged.  Everything that needs the outside world (name
resolution, the listener, the log, connections, files, the clock) goes through `Effects`, which
the engine implements and unit tests fake; this module never touches a socket or a clock.

Deliberate differences (docs/penctl.md, "Differences from C pen"): commands that crashed or hung
C pen (`idlers N`, `source`/`ssl_ocsp_response`/`ssl_client_renegotiation_interval`/`no acl`
without an argument, a huge `server N`, `peek`, `dsr_if IF` at run time) and malformed numbers get an `error: ...` reply instead; a `server` line is
applied all or nothing; an unknown `server` keyword is an error, not silently skipped.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from pen.core import stats
from pen.core.acl import NLISTS, AclError
from pen.core.addr import AddressError
from pen.core.balance.servers import MAX_SERVERS, Server
from pen.core.balance.state import PenState
from pen.core.confine import ConfineError
from pen.core.control import serverwords
from pen.core.formats import configfile
from pen.core.numbers import ascii_integer
from pen.settings import MAX_CLIENTS, MAX_CONNS

SSL_OPTIONS = ("no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1.1", "no_tlsv1.2",
               "cipher_server_preference")
FLAGS = ("abort_on_error", "ascii", "dummy", "hash", "http", "keepalive", "prio", "roundrobin",
         "stubborn", "tcp_nodelay", "transparent", "weight")
EVENT_LOOPS = ("epoll", "kqueue", "poll", "select")
DEFAULT_RECENT = 300
MAX_LINE = 4095


@dataclass(slots=True)
class Reply:
    """What a command answers.  `text` goes to the client verbatim; `error`, when set, is the
    diagnostic (logged by the control port, fatal in a -F file at start-up)."""

    text: str = ""
    error: str | None = None


class Effects(Protocol):
    """The runtime effects the interpreter needs; pen.engine.control_server implements them."""

    def pid(self) -> int: ...
    def now(self) -> float: ...                       # monotonic seconds, as the reactor's
    def wall_time(self) -> float: ...                 # epoch seconds, for `write`'s header
    def resolve(self, host: str, port: int) -> tuple[int, str, tuple | str]: ...
    def listen_text(self) -> str | None: ...
    def relisten(self, text: str) -> str: ...
    def set_log(self, target: str | None) -> None: ...
    def set_debug(self, level: int) -> None: ...
    def grow_conn_max(self, n: int) -> int: ...
    def connection(self, n: int) -> stats.ConnView | None: ...
    def close_connection(self, n: int) -> None: ...
    def socket_owner(self, fd: int) -> int: ...
    def snapshot(self) -> dict: ...
    def write_file(self, path: str, text: str) -> None: ...
    def read_file(self, path: str) -> str: ...
    def output(self, text: str) -> None: ...
    def exit(self) -> None: ...


class CommandError(Exception):
    """A command this interpreter refuses; the message becomes `error: ...`."""


Handler = Callable[[list[str]], str]


class CommandModule(Protocol):
    """What a module of commands declares: its commands (word -> handler, each word once),
    the settings it switches with `X` / `no X` (FLAGS), and the lines that rebuild its
    settings and its per-server settings for `write`."""

    FLAGS: tuple[str, ...]

    def commands(self, interp: Interpreter, error: type[Exception]) -> dict[str, Handler]: ...
    def render(self, state: PenState) -> list[str]: ...
    def render_server(self, srv: Server) -> list[str]: ...


class Silent(Exception):
    """A failure C pen only logged (no reply); we log it too, the client gets nothing."""


def _int(word: str, what: str) -> int:
    value = ascii_integer(word)
    if value is None:
        raise CommandError(f"{what}: '{word}' is not a number")
    return value


def _need(words: list[str], n: int, what: str) -> str:
    """The argument of a command that crashed C pen 0.34.1 without it (penctl(1) COMMANDS)."""
    if len(words) <= n:
        raise CommandError(f"{what}: missing argument (C pen 0.34.1 crashed here)")
    return words[n]


def _arg(words: list[str], n: int, default: str = "0") -> str:
    """The argument of a command C pen read as `atoi(NULL-safe)`: missing means 0."""
    return words[n] if len(words) > n else default


class Interpreter:
    """Runs penctl commands against a PenState.  `running` is False while pen starts up
    (commands from -o/-O and -F), True once it serves (control port, SIGHUP)."""

    def __init__(self, state: PenState, effects: Effects, running: bool = False,
                 version: str = "", modules: Sequence[CommandModule] = ()) -> None:
        """`modules`: the command modules beside C pen's own commands (pen.core.control
        assembles them; this class alone knows only C pen's)."""
        self.state = state
        self.fx = effects
        self.running = running
        self.version = version
        self.include_depth = 0
        # issue 10: how paths are compared for confinement (the engine keeps realpath)
        self.resolve_path: Callable[[str], str] = os.path.realpath
        if not running:
            s = state.settings
            for path in (s.config_file, s.web_stats, None if s.logfile is None or (
                    ":" in s.logfile and not s.logfile.startswith("/")) else s.logfile):
                if path:
                    s.confine.learn(path, self.resolve_path)
        self.modules = tuple(modules)
        self.table: dict[str, Handler] = {
            "acl": self.c_acl, "blacklist": self.c_blacklist, "client_acl": self.c_client_acl,
            "clients_max": self.c_clients_max, "close": self.c_close,
            "connection": self.c_connection, "conn_max": self.c_conn_max,
            "control": self.c_control, "control_acl": self.c_control_acl, "debug": self.c_debug,
            "dsr_if": self.c_dsr_if, "dsr_ip": self.c_dsr_ip, "exit": self.c_exit,
            "idle_timeout": self.c_idle_timeout, "idlers": self.c_idlers,
            "include": self.c_include, "listen": self.c_listen, "log": self.c_log,
            "mode": self.c_mode, "no": self.c_no, "peek": self.c_peek,
            "pending_max": self.c_pending_max, "pid": self.c_pid, "recent": self.c_recent,
            "server": self.c_server, "servers": self.c_servers, "socket": self.c_socket,
            "source": self.c_source, "ssl_ciphers": self.c_ssl_ciphers,
            "ssl_client_renegotiation_interval": self.c_ssl_reneg,
            "ssl_ocsp_response": self.c_ssl_ocsp, "ssl_option": self.c_ssl_option,
            "ssl_sni_path": self.c_ssl_sni_path, "status": self.c_status,
            "tarpit_acl": self.c_tarpit_acl, "tcp_fastclose": self.c_tcp_fastclose,
            "timeout": self.c_timeout, "tracking": self.c_tracking,
            "web_stats": self.c_web_stats, "write": self.c_write,
            "confine_dir": self.c_confine_dir,
        }
        self.flags = frozenset(FLAGS).union(*(m.FLAGS for m in self.modules))
        for flag in self.flags:
            self.table[flag] = self._flag_command(flag)
        for name in EVENT_LOOPS:
            self.table[name] = lambda words: ""
        self.negations: dict[str, Handler] = {}
        for module in self.modules:
            for word, handler in module.commands(self, CommandError).items():
                table, key = self.table, word
                if word.startswith("no "):         # a module's `no X`, declared beside X
                    table, key = self.negations, word[3:]
                if key in table:
                    raise ValueError(f"penctl command '{word}' declared twice")
                table[key] = handler

    def _flag_command(self, flag: str) -> Callable[[list[str]], str]:
        return lambda words: self._flag(flag, True)

    # -- entry point ----------------------------------------------------------------------------
    def run(self, line: str) -> Reply:
        """One command line (C's do_cmd): cut at CR/LF, split on spaces, dispatch."""
        line = line[:MAX_LINE]
        for sep in ("\r", "\n"):
            line = line.split(sep, 1)[0]
        words = line.split()
        if not words or words[0].startswith("#"):
            return Reply()
        handler = self.table.get(words[0])
        if handler is None:
            word = words[0]
            return Reply(f"do_cmd: ignoring command starting with '{word}'\n",
                         f"unknown command '{word}'")
        try:
            return Reply(handler(words))
        except CommandError as e:
            return Reply(f"error: {e}\n", str(e))
        except Silent as e:
            return Reply("", str(e))
        except (ValueError, OSError) as e:
            # e.g. a NUL byte in a path (found by the fuzz suite): a clean error, never a crash
            why = f"{words[0]}: {e.strerror if isinstance(e, OSError) and e.strerror else e}"
            return Reply(f"error: {why}\n", why)

    def commands(self) -> list[str]:
        """Every command word, for penctl's help and completion."""
        return sorted(self.table)

    # -- settings with a getter form --------------------------------------------------------------
    def _getset(self, words: list[str], attr: str, what: str,
                check: Callable[[int], int] | None = None) -> str:
        s = self.state.settings
        if len(words) > 1:
            value = _int(words[1], what)
            setattr(s, attr, check(value) if check else value)
        return f"{getattr(s, attr)}\n"

    def c_blacklist(self, words: list[str]) -> str:
        return self._getset(words, "blacklist", "blacklist", _non_negative("blacklist"))

    def c_timeout(self, words: list[str]) -> str:
        return self._getset(words, "timeout", "timeout", _at_least(1, "timeout"))

    def c_tracking(self, words: list[str]) -> str:
        return self._getset(words, "tracking", "tracking", _non_negative("tracking"))

    def c_debug(self, words: list[str]) -> str:
        reply = self._getset(words, "debug", "debug", _non_negative("debug"))
        if len(words) > 1:
            self.fx.set_debug(self.state.settings.debug)
        return reply

    def c_client_acl(self, words: list[str]) -> str:
        return self._getset(words, "client_acl", "client_acl", _acl_or_zero)

    def c_control_acl(self, words: list[str]) -> str:
        return self._getset(words, "control_acl", "control_acl", _acl_or_zero)

    def c_tarpit_acl(self, words: list[str]) -> str:
        s = self.state.settings
        if len(words) > 1:
            n = _int(words[1], "tarpit_acl")
            s.tarpit_acl = n if -1 <= n < NLISTS else 0
        return f"tarpit_acl = {s.tarpit_acl}"          # no newline, as C pen

    def c_clients_max(self, words: list[str]) -> str:
        s = self.state.settings
        if len(words) > 1:
            n = _int(words[1], "clients_max")
            if n > MAX_CLIENTS:
                raise CommandError(f"clients_max: {n} is over the maximum {MAX_CLIENTS}")
            s.clients_max = self.state.clients.grow(n)
        return f"{s.clients_max}\n"

    def c_conn_max(self, words: list[str]) -> str:
        s = self.state.settings
        if len(words) > 1:
            n = _int(words[1], "conn_max")
            if n > MAX_CONNS:
                raise CommandError(f"conn_max: {n} is over the maximum {MAX_CONNS}")
            if n > s.conn_max:
                self.fx.grow_conn_max(n)
        return f"{s.conn_max}\n"

    def c_idle_timeout(self, words: list[str]) -> str:
        s = self.state.settings
        if len(words) > 1:
            s.idle_timeout = max(0, _int(words[1], "idle_timeout"))
        return f"Idle timeout: {s.idle_timeout} seconds\n"

    def c_pending_max(self, words: list[str]) -> str:
        if len(words) > 1:
            self.state.settings.pending_max = max(1, _int(words[1], "pending_max"))
        return ""

    # -- flags and modes ----------------------------------------------------------------------------
    def _flag(self, name: str, on: bool) -> str:
        setattr(self.state.settings, name, on)
        return ""

    def c_mode(self, words: list[str]) -> str:
        return self.state.settings.mode_text() + "\n"

    def c_no(self, words: list[str]) -> str:
        """`no X`; unknown X and a bare `no` are ignored, as C pen does."""
        if len(words) < 2:
            return ""
        what = words[1]
        if what in self.flags:
            return self._flag(what, False)
        if what == "acl":
            n = _int(_need(words, 2, "no acl"), "no acl")
            if not 0 <= n < NLISTS:
                raise CommandError(f"no acl: {n} outside (0,{NLISTS})")
            self.state.acls.clear(n)
        elif what == "log":
            self.fx.set_log(None)
            self.state.settings.logfile = None
        elif what == "web_stats":
            self.state.settings.web_stats = None
        elif what == "source":        # pen-ha: C pen had no way to unset `source`
            self.state.settings.source = None
        elif what in self.negations:
            return self.negations[what](words)
        return ""

    def c_tcp_fastclose(self, words: list[str]) -> str:
        if len(words) < 2:
            return "do_cmd: ignoring tcp_fastclose without argument\n"
        self.state.settings.tcp_fastclose = words[1] if words[1] in ("up", "down", "both") \
            else "off"
        return ""

    def c_peek(self, words: list[str]) -> str:
        raise CommandError("peek is not supported (it made C pen 0.34.1 hang every connection)")

    def c_idlers(self, words: list[str]) -> str:
        if len(words) > 1 and _int(words[1], "idlers") > 0:
            raise CommandError("idlers are not supported (idlers N>0 crashed C pen 0.34.1)")
        return "Idlers: 0/0\n"

    # -- ACLs ---------------------------------------------------------------------------------------
    def c_acl(self, words: list[str]) -> str:
        if len(words) < 2:
            raise Silent("acl: missing list number")     # C pen: no reply, nothing changes
        n = _int(words[1], "acl")
        try:
            self.state.acls.add(n, words[2:])
        except AclError as e:
            raise CommandError(str(e)) from None
        return ""

    # -- servers ------------------------------------------------------------------------------------
    def c_servers(self, words: list[str]) -> str:
        return "".join(stats.server_line(sv) for sv in self.state.servers.servers)

    def c_server(self, words: list[str]) -> str:
        """`server N [acl A] [address H] [port P] [max M] [hard H] [weight W] [prio P]
        [blacklist T]`: validated in full, then applied (C applied up to the first bad pair)."""
        if len(words) < 2:
            return ""
        n = _int(words[1], "server")
        if n < 0:
            return ""
        if n >= MAX_SERVERS:
            raise CommandError(f"server {n}: out of range 0-{MAX_SERVERS - 1} "
                               "(C pen 0.34.1 allocated memory without limit)")
        try:
            pairs, ext = serverwords.split_server_words(n, words[2:])
        except serverwords.ServerWordError as e:
            raise CommandError(str(e)) from None
        if len(pairs) % 2:
            raise CommandError(f"server {n}: '{pairs[-1]}' needs a value")
        changes: dict[str, int | str] = {}
        for key, value in zip(pairs[::2], pairs[1::2]):
            if key == "address":
                changes[key] = value
            elif key in ("acl", "port", "max", "hard", "weight", "prio", "blacklist"):
                number = _int(value, f"server {n} {key}")
                if key != "blacklist" and number < 0:
                    raise CommandError(f"server {n} {key}: {number} is negative")
                if key == "port" and number > 65535:
                    raise CommandError(f"server {n} port: {number} is not 0-65535")
                if key == "acl" and number >= NLISTS:
                    raise CommandError(f"server {n} acl: {number} outside (0,{NLISTS})")
                changes[key] = number
            else:
                raise CommandError(f"server {n}: unknown keyword '{key}' (expected acl, "
                                   "address, port, max, hard, weight, prio or blacklist)")
        servers = self.state.servers
        existing = servers.get(n)
        port = int(changes.get("port", existing.port if existing else 0))
        host = str(changes.get("address", existing.host if existing else ""))
        resolved = None
        if "address" in changes or ("port" in changes and existing is not None
                                    and existing.family != 0):
            try:
                resolved = self.fx.resolve(host, port)
            except AddressError as e:
                raise CommandError(f"server {n} address: {e}") from None
        srv = servers.ensure(n)
        if resolved is not None:
            family, text, sockaddr = resolved
            if "address" in changes and text != srv.host:
                self.state.clients.untrack_server(n)
                srv.drain = srv.drain_sticky = False      # a new server in the slot (issue 15)
            srv.set_address(family, text, 1 if isinstance(sockaddr, str) else port, sockaddr)
        elif "port" in changes:
            srv.port = port
        for key, attr in (("acl", "acl"), ("max", "maxc"), ("hard", "hard"),
                          ("weight", "weight"), ("prio", "prio")):
            if key in changes:
                setattr(srv, attr, changes[key])
        if "blacklist" in changes:
            srv.blacklisted_at = self.fx.now() + int(changes["blacklist"]) - self.state.settings.blacklist
        serverwords.apply_server_ext(srv, ext)
        return ""

    # -- clients and connections ----------------------------------------------------------------------
    def c_recent(self, words: list[str]) -> str:
        seconds = _int(words[1], "recent") if len(words) > 1 else DEFAULT_RECENT
        now = self.fx.now()
        wall = self.fx.wall_time() - now         # C pen counts whole seconds of time(2)
        clients = [c for c in self.state.clients.recent(now, seconds + 1)
                   if int(now + wall) - int(c.last + wall) <= seconds]
        return "".join(f"{c.address or 'unix'} connects {c.connects} sx {c.csx} rx {c.crx}\n"
                       for c in clients)

    def connection_numbers(self) -> int:
        """How many connection numbers `connection`/`close N` take (conn_max in one process)."""
        return self.state.settings.conn_max

    def _slot(self, words: list[str], what: str) -> int | None:
        n = _int(_arg(words, 1), what)         # C pen: no argument is slot 0
        return n if 0 <= n < self.connection_numbers() else None

    def c_connection(self, words: list[str]) -> str:
        n = self._slot(words, "connection")
        if n is None:
            return f"Connection {_arg(words, 1)} out of range\n"
        return stats.connection_text(n, self.fx.connection(n))

    def c_close(self, words: list[str]) -> str:
        n = self._slot(words, "close")
        if n is None:
            return f"Connection {_arg(words, 1)} out of range\n"
        self.fx.close_connection(n)       # an unused slot is left alone (C corrupted counters)
        return f"Forcibly closing connection {n}\n"

    def c_socket(self, words: list[str]) -> str:
        fd = _int(_arg(words, 1), "socket")
        return f"Socket {fd} belongs to connection {self.fx.socket_owner(fd)}\n"

    # -- process, addresses, files ----------------------------------------------------------------------
    def c_pid(self, words: list[str]) -> str:
        return f"{self.fx.pid()}\n"

    def c_control(self, words: list[str]) -> str:
        return f"{self.state.settings.control or ''}\n"

    def c_listen(self, words: list[str]) -> str:
        if len(words) > 1 and words[1] != self.fx.listen_text():
            try:
                self.fx.relisten(words[1])
            except (AddressError, OSError) as e:
                raise CommandError(f"listen {words[1]}: {_why(e)}; still listening on "
                                   f"{self.fx.listen_text()}") from None
            self.state.settings.listen = words[1]
        return f"{self.fx.listen_text() or ''}\n"

    def confined(self, what: str, path: str) -> None:
        """issue 10: at start-up a file is trusted and remembered; at run time it must be one
        of those or lie in an allowed directory (pen.core.confine)."""
        conf = self.state.settings.confine
        if not self.running:
            conf.learn(path, self.resolve_path)
            return
        try:
            conf.check(what, path, self.resolve_path)
        except ConfineError as e:
            raise CommandError(str(e)) from None

    def read_confined(self, path: str) -> str:
        """fx.read_file for -F and include, every nested include confined as well."""
        self.confined("include", path)
        return self.fx.read_file(path)

    def c_confine_dir(self, words: list[str]) -> str:
        """`confine_dir [DIR]`: add an allowed directory, at start-up only (-o/-O, -F)."""
        conf = self.state.settings.confine
        if len(words) > 1:
            directory = self.resolve_path(words[1])
            if directory not in conf.dirs:
                if self.running:
                    raise CommandError("confine_dir can only be set at start-up (--confine, "
                                       "-o or -F)")
                conf.add_dir(directory)
        return "".join(f"{d}\n" for d in conf.allowed_dirs())

    def c_log(self, words: list[str]) -> str:
        s = self.state.settings
        if len(words) > 1:
            if not (":" in words[1] and not words[1].startswith("/")):
                self.confined("log", words[1])
            try:
                self.fx.set_log(words[1])
            except OSError as e:
                raise CommandError(f"log {words[1]}: {_why(e)}") from None
            s.logfile = words[1]
        return f"{s.logfile}\n" if s.logfile else ""

    def c_web_stats(self, words: list[str]) -> str:
        s = self.state.settings
        if len(words) > 1:
            self.confined("web_stats", words[1])
            s.web_stats = words[1]
        return f"{s.web_stats}\n" if s.web_stats else ""

    def c_status(self, words: list[str]) -> str:
        """The status page; written to the -w file when there is one (C pen answered
        `Unable to create webstats` without -w: docs/compatibility.md)."""
        path = self.state.settings.web_stats
        page = stats.html(self.fx.snapshot())
        if not path:
            return page
        try:
            self.fx.write_file(path, page)
        except OSError as e:
            raise CommandError(f"status: cannot write {path}: {_why(e)}") from None
        return page

    def c_write(self, words: list[str]) -> str:
        path = words[1] if len(words) > 1 else self.state.settings.config_file
        if not path:
            raise Silent("write: no file")
        self.confined("write", path)
        text = configfile.render(self.state, self.fx.listen_text(), self.version, path,
                                 stats.time_text(self.fx.wall_time()), self.modules)
        try:
            self.fx.write_file(path, text)
        except OSError as e:
            raise CommandError(f"write {path}: {_why(e)}") from None
        return ""

    def c_include(self, words: list[str]) -> str:
        """Run FILE's commands; their output goes to pen's stdout (penctl(1) `include`).
        Stops at the first bad line and says where it is."""
        if len(words) < 2:
            raise Silent("Usage: include filename")
        if self.include_depth >= configfile.MAX_DEPTH:
            raise CommandError(f"include {words[1]}: nested too deeply")
        try:
            lines = configfile.load(words[1], self.read_confined)
        except configfile.ConfigFileError as e:
            raise CommandError(str(e)) from None
        self.include_depth += 1
        try:
            for line in lines:
                reply = self.run(line.text)
                if reply.text:
                    self.fx.output(reply.text)
                if reply.error:
                    raise CommandError(f"{line.where()}: {reply.error}")
        finally:
            self.include_depth -= 1
        return ""

    def c_exit(self, words: list[str]) -> str:
        if not self.state.settings.exit_enabled:
            return "Exit is not enabled; restart with -X flag\n"
        self.fx.exit()
        return ""

    def c_source(self, words: list[str]) -> str:
        s = self.state.settings
        text = _need(words, 1, "source")
        try:
            ipaddress.ip_address(text)
        except ValueError:
            s.source = None
            return f"unable to set source address to '{text}'"     # no newline, as C pen
        s.source = text
        return ""

    # -- SSL and DSR knobs ---------------------------------------------------------------------------------
    def c_ssl_ciphers(self, words: list[str]) -> str:
        if len(words) > 1:                  # without one, C pen replies nothing, changes nothing
            self.state.settings.ssl_ciphers = words[1]
        return ""

    def c_ssl_option(self, words: list[str]) -> str:
        if len(words) < 2:
            raise Silent("Missing option")
        opts = self.state.settings.ssl_options
        if words[1] in SSL_OPTIONS and words[1] not in opts:     # unknown: ignored, as C pen
            opts.append(words[1])
        return ""

    def c_ssl_sni_path(self, words: list[str]) -> str:
        if len(words) < 2:
            raise Silent("Missing ssl_sni_path")
        self.state.settings.ssl_sni_path = words[1]
        return ""

    def c_ssl_ocsp(self, words: list[str]) -> str:
        self.state.settings.ssl_ocsp_response = _need(words, 1, "ssl_ocsp_response")
        return ""

    def c_ssl_reneg(self, words: list[str]) -> str:
        what = "ssl_client_renegotiation_interval"
        self.state.settings.ssl_client_renegotiation_interval = _int(_need(words, 1, what), what)
        return ""

    def c_dsr_if(self, words: list[str]) -> str:
        if len(words) < 2:                  # C pen: no reply, nothing changes
            return ""
        if self.running and words[1] != self.state.settings.dsr_if:
            raise CommandError("dsr_if can only be set at start-up (-o or -F); "
                               "C pen 0.34.1 crashed here")
        self.state.settings.dsr_if = words[1]
        return ""

    def c_dsr_ip(self, words: list[str]) -> str:
        if len(words) > 1:                  # C pen: no reply without one
            self.state.settings.dsr_ip = words[1]
        return ""


def _non_negative(what: str) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < 0:
            raise CommandError(f"{what}: {value} is negative")
        return value
    return check


def _at_least(minimum: int, what: str) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < minimum:
            raise CommandError(f"{what}: {value} is below the minimum {minimum}")
        return value
    return check


def _acl_or_zero(value: int) -> int:
    """client_acl/control_acl: out of range becomes 0, as C pen."""
    return value if 0 <= value < NLISTS else 0


def _why(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e)


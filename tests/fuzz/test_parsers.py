"""Property-based fuzzing of every parser (issue 10): whatever the input, each parser either
returns a result or raises its own documented error; nothing else escapes.  Bounded: explicit
max_examples and deadlines, so the suite stays within seconds."""
from __future__ import annotations

import re

import click
from support.control import make
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pen import cli, cliopts
from pen.core.formats import accesslog, configfile, proxyproto, weblog
from pen.core.addr import AddressError, parse_listen, parse_server
from pen.core.formats.httphead import RequestRewriter
from penvrrp.core import packet

FAST = settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])
WORDS = st.sampled_from(["server", "acl", "log", "write", "include", "web_stats", "no", "listen",
                         "permit", "deny", "address", "port", "max", "hard", "weight", "prio",
                         "check", "http", "tcp", "drain", "proxy", "-1", "0", "1", "99999999999",
                         "127.0.0.1", "::1", "/tmp/x", "country", "SE", "confine_dir", "idlers",
                         "source", "close", "connection", "conn_max", "clients_max", "recent"])
LINE = st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=8).map(" ".join)
ADDRISH = st.text(alphabet=st.sampled_from(list("0123456789abcdef:.[]/-_x ")), max_size=40)


@FAST
@given(st.one_of(ADDRISH, st.text(max_size=40)), st.sampled_from(["", "80", "http"]))
@example("²", "")                       # finding 4: '²'.isdigit() but int('²') raised ValueError
@example("127.0.0.1:80:¹", "80")
@example("h:٨٠", "")
def test_server_specs_and_listen_addresses(text: str, default_port: str) -> None:
    for parse in (lambda: parse_server(text, default_port), lambda: parse_listen(text)):
        try:
            parse()
        except AddressError:
            pass


OPTS = st.sampled_from(["-x", "-c", "-t", "-b", "-T", "-q", "-m", "-e", "-B", "-C", "-F", "-l",
                        "-w", "-u", "-L", "-S", "-D", "-N", "-i", "-h", "-r", "--confine", "-o",
                        "-dd", "-fr", "-c5", "--workers", "--workers=2", "--tls-handshake-timeout",
                        "--peer", "--wor", "--", "-", "--help", "--version"])
ARGV = st.lists(st.one_of(OPTS, ADDRISH, st.text(max_size=10)), max_size=8)


@FAST
@given(ARGV)
def test_command_line(argv: list[str]) -> None:
    """The click command parses, then build_settings checks: only usage errors come out."""
    try:
        ctx = cli.command.make_context("pen", list(argv))
        params = dict(ctx.params)
        args = params.pop("args")
        cli.build_settings(args, params)
    except (click.exceptions.ClickException, click.exceptions.Exit, cli.OptionError):
        pass


@FAST
@given(ARGV)
def test_the_fast_command_line_reading_is_clicks(argv: list[str]) -> None:
    """pen.cliopts reads a command line as click does, or leaves it to click: never another
    value, and never a line click would refuse or answer (help, version)."""
    fast = cliopts.parse_fast(list(argv))
    try:
        params = dict(cli.command.make_context("pen", list(argv)).params)
    except (click.exceptions.ClickException, click.exceptions.Exit):
        assert fast is None, argv
        return
    if fast is not None:
        assert fast == (tuple(params.pop("args")), params), argv


@FAST
@given(st.lists(st.one_of(LINE, st.text(max_size=60)), max_size=12))
def test_config_files(lines: list[str]) -> None:
    files = {"/c/main.cfg": "\n".join(lines), "/c/inc.cfg": "timeout 5\ninclude main.cfg\n"}

    def read(path: str) -> str:
        if path not in files:
            raise OSError(2, "No such file or directory")
        return files[path]
    try:
        configfile.load("/c/main.cfg", read)
    except configfile.ConfigFileError:
        pass


@settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(LINE, st.text(max_size=80), st.binary(max_size=40).map(
    lambda b: b.decode("latin-1"))), min_size=1, max_size=6), st.booleans())
def test_penctl_commands(lines: list[str], running: bool) -> None:
    """Any line: a Reply, never an exception (C pen crashed on several: docs/compatibility.md)."""
    interp, fx = make(running=running)
    for line in lines:
        reply = interp.run(line)
        assert isinstance(reply.text, str)
    assert interp.run("servers").error is None


@FAST
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_log_lines(line: str) -> None:
    accesslog.parse_file_line(line)
    weblog.parse_web_line(line)
    weblog.strip_syslog(line)
    data = line.encode("latin-1", "replace")
    if accesslog.is_pen_datagram(data):
        accesslog.parse_datagram(data)


@FAST
@given(st.binary(max_size=300))
def test_log_datagrams(data: bytes) -> None:
    accesslog.is_pen_datagram(data)
    accesslog.parse_datagram(data)


@FAST
@given(st.one_of(st.binary(max_size=120),
                 st.builds(lambda a, b: b"PROXY " + a + b"\r\n" + b, st.binary(max_size=80),
                           st.binary(max_size=10)),
                 st.builds(lambda a: b"\r\n\r\n\x00\r\nQUIT\n" + a, st.binary(max_size=60))))
def test_proxy_headers(data: bytes) -> None:
    try:
        proxyproto.decode(data)
    except proxyproto.ProxyError:
        pass


ADDRS4 = st.sampled_from(["192.0.2.1", "198.51.100.7", "203.0.113.9"])


@FAST
@given(st.binary(max_size=80), ADDRS4, st.sampled_from(["224.0.0.18", "192.0.2.2"]),
       st.sampled_from([None, "strict", "lenient", "rfc", "keepalived"]))
def test_vrrp_packets(payload: bytes, src: str, dst: str, mode: str | None) -> None:
    try:
        packet.decode(payload, src, dst, mode) if mode else packet.decode(payload, src, dst)
    except (packet.PacketError, ValueError):
        pass
    try:
        packet.parse_ipv4(payload)
    except (packet.PacketError, ValueError):
        pass


@FAST
@given(st.sampled_from([2, 3]), st.integers(1, 255), st.integers(1, 254),
       st.lists(st.sampled_from(["192.0.2.100", "192.0.2.101", "203.0.113.5"]), min_size=1,
                max_size=3, unique=True), st.binary(min_size=2, max_size=16))
def test_vrrp_mutated_valid_packets(version: int, vrid: int, prio: int, addrs: list[str],
                                    noise: bytes) -> None:
    """A valid advertisement, decoded back; then with bytes flipped: only PacketError."""
    adv = packet.Advert(version, vrid, prio, tuple(addrs), 100)
    good = packet.encode(adv, "192.0.2.1", "224.0.0.18")
    assert packet.decode(good, "192.0.2.1", "224.0.0.18").advert.vrid == vrid
    mutated = bytearray(good)
    for i in range(0, len(noise) - 1, 2):
        mutated[noise[i] % len(mutated)] ^= noise[i + 1] or 1
    for data in (bytes(mutated), bytes(mutated[: noise[0] % len(mutated)])):
        try:
            packet.decode(data, "192.0.2.1", "224.0.0.18")
        except (packet.PacketError, ValueError):
            pass


HEAD_PARTS = st.sampled_from([
    b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.0\r\n", b"Host: a\r\n", b"X-Forwarded-For: 6.6.6.6\r\n",
    b"x-forwarded-for: 7.7.7.7, 8.8.8.8\r\n", b"X-Forwarded-Proto: https\r\n",
    b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n", b"\r\n", b"abc", b"3\r\nabc\r\n",
    b"0\r\n\r\n", b"\n", b"Upgrade: x\r\n", b"X-Forwarded-For:\t9.9.9.9 \r\n", b" folded\r\n"])


@settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(HEAD_PARTS, st.binary(max_size=20)), max_size=24),
       st.lists(st.integers(1, 40), max_size=10))
def test_http_heads_for_x_forwarded_for(parts: list[bytes], cuts: list[int]) -> None:
    """Any byte stream, cut anywhere: no exception, bytes conserved up to the inserted headers,
    and in every head pen rewrote the last X-Forwarded-For element is pen's view of the client."""
    stream = b"".join(parts)
    rw = RequestRewriter("192.0.2.77", "http")
    out = bytearray()
    pos = 0
    for cut in cuts + [len(stream)]:
        chunk = stream[pos:pos + cut]
        pos += len(chunk)
        data, _ = rw.feed(chunk)
        out += data
        if pos >= len(stream):
            break
    pending = rw.pending()                            # an incomplete HTTP head is dropped
    out += rw.flush()
    if not rw.rejected() and not rw.waiting():        # refused or held: forwarding stopped
        assert len(out) + pending >= len(stream)
    for head in re.split(rb"\r?\n\r?\n", bytes(out)):
        lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")]
        if b"X-Forwarded-Proto: http" not in lines:      # not a head pen rewrote
            continue
        xff = [ln for ln in lines if re.match(rb"(?i)x-forwarded-for[ \t]*:", ln)]
        assert xff, head
        last = xff[-1].split(b":", 1)[1].split(b",")[-1].strip()
        assert last == b"192.0.2.77", head

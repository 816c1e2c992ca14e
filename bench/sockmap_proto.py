#!/usr/bin/env python3
"""What letting the kernel forward an established plain TCP connection (BPF sockmap) would buy,
measured on a minimal forwarder rather than on pen (issue 16 lists it as a lever to measure).

    python3 bench/sockmap_proto.py --mode user|sockmap [--workers N] LISTEN_PORT BACKEND_PORT ...

Both modes: one process (user mode: or N, each with its own SO_REUSEPORT listener), level-triggered epoll, round robin over the backends on 127.0.0.1, no
tracking, tables or limits: the floor of a Python forwarder.

- user: recv_into and send both ways (the calibration forwarder of issue 16).
- sockmap: once the backend connect completes, both sockets go into a BPF_MAP_TYPE_SOCKMAP
  whose SK_SKB stream-verdict program (hand-assembled below: no compiler needed) looks the
  receiving socket's cookie up in a hash map, adds the segment's length to that entry's byte
  count and redirects the segment to the egress of the other socket.  The process only sees
  what arrived before the switch, EOFs and errors.

A prototype, not a design: bench.py runs it as proto-user and proto-sockmap beside C pen.  What
pen would need on top (half-close after the kernel's redirect queue is empty, the switch's
ordering against bytes already queued, byte counts into the tables) is in bench/PROFILE.md.
Needs root (bpf(2)) and Linux with CONFIG_BPF_STREAM_PARSER.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import itertools
import os
import select
import socket
import struct
import sys

NR_BPF = 321                                    # x86_64
MAP_CREATE, MAP_LOOKUP, MAP_UPDATE, MAP_DELETE, PROG_LOAD, PROG_ATTACH = 0, 1, 2, 3, 5, 8
MAP_HASH, MAP_SOCKMAP = 1, 15
PROG_SK_SKB = 14
SK_SKB_STREAM_VERDICT = 5
SO_COOKIE = 57
SLOTS = 65536                                   # sockmap entries: two per connection
HELPER_LOOKUP, HELPER_COOKIE, HELPER_SK_REDIRECT_MAP = 1, 46, 52

_libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 128)
    r = _libc.syscall(NR_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def ld_map(dst: int, fd: int) -> bytes:
    """The two-slot load of a map's address (BPF_PSEUDO_MAP_FD)."""
    return insn(0x18, dst, 1, 0, fd) + insn(0, 0, 0, 0, 0)


def verdict_program(peers_fd: int, sockmap_fd: int) -> bytes:
    """r0 = sk_redirect_map(skb, sockmap, peers[cookie(skb)].peer, egress), counting bytes;
    SK_PASS (to the socket's own queue) when the socket has no peer entry."""
    mov_x, mov_k, add_k, call, exit_ = 0xbf, 0xb7, 0x07, 0x85, 0x95
    code = [
        insn(mov_x, 6, 1),                       # r6 = skb
        insn(call, imm=HELPER_COOKIE),           # r0 = socket cookie
        insn(0x7b, 10, 0, -8),                   # *(u64 *)(r10 - 8) = r0
        ld_map(1, peers_fd),                     # r1 = peers
        insn(mov_x, 2, 10),
        insn(add_k, 2, imm=-8),                  # r2 = &cookie
        insn(call, imm=HELPER_LOOKUP),           # r0 = &entry or NULL
        insn(0x15, 0, 0, 10, 0),                 # if r0 == 0 goto pass
        insn(mov_x, 7, 0),                       # r7 = entry
        insn(0x61, 1, 6, 0),                     # r1 = skb->len
        insn(0xdb, 7, 1, 8, 0),                  # lock *(u64 *)(r7 + 8) += r1
        insn(0x61, 3, 7, 0),                     # r3 = entry->peer
        ld_map(2, sockmap_fd),                   # r2 = sockmap
        insn(mov_x, 1, 6),                       # r1 = skb
        insn(mov_k, 4, imm=0),                   # r4 = 0: the peer's egress
        insn(call, imm=HELPER_SK_REDIRECT_MAP),
        insn(exit_),
        insn(mov_k, 0, imm=1),                   # pass: SK_PASS
        insn(exit_),
    ]
    return b"".join(code)


class Sockmap:
    """The two maps and the attached verdict program."""

    def __init__(self) -> None:
        self.peers = bpf(MAP_CREATE, struct.pack("<IIIII", MAP_HASH, 8, 16, SLOTS, 0))
        self.sockmap = bpf(MAP_CREATE, struct.pack("<IIIII", MAP_SOCKMAP, 4, 4, SLOTS, 0))
        prog = ctypes.create_string_buffer(verdict_program(self.peers, self.sockmap))
        lic = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(65536)
        attr = struct.pack("<IIQQIIQII16sII", PROG_SK_SKB, len(prog.raw) // 8,
                           ctypes.addressof(prog), ctypes.addressof(lic), 1, len(log),
                           ctypes.addressof(log), 0, 0, b"pen_proto", 0, 0)
        try:
            self.prog = bpf(PROG_LOAD, attr)
        except OSError:
            sys.stderr.write(log.value.decode(errors="replace"))
            raise
        bpf(PROG_ATTACH, struct.pack("<IIII", self.sockmap, self.prog, SK_SKB_STREAM_VERDICT, 0))
        self.free = list(range(SLOTS - 1, -1, -1))

    def _update(self, fd: int, key: bytes, value: bytes) -> None:
        k, v = ctypes.create_string_buffer(key), ctypes.create_string_buffer(value)
        bpf(MAP_UPDATE, struct.pack("<IIQQQ", fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0))

    def _delete(self, fd: int, key: bytes) -> None:
        k = ctypes.create_string_buffer(key)
        try:
            bpf(MAP_DELETE, struct.pack("<IIQQQ", fd, 0, ctypes.addressof(k), 0, 0))
        except OSError:
            pass

    def bytes_of(self, cookie: int) -> int:
        k, v = ctypes.create_string_buffer(struct.pack("<Q", cookie)), ctypes.create_string_buffer(16)
        try:
            bpf(MAP_LOOKUP, struct.pack("<IIQQQ", self.peers, 0, ctypes.addressof(k),
                                        ctypes.addressof(v), 0))
        except OSError:
            return 0
        return struct.unpack("<IIQ", v.raw)[2]

    def join(self, a: socket.socket, b: socket.socket) -> tuple[int, int, int, int]:
        """Each socket's segments to the other's egress from now on."""
        ia, ib = self.free.pop(), self.free.pop()
        slots = ia, ib, cookie(a), cookie(b)
        try:
            self._update(self.peers, struct.pack("<Q", slots[2]), struct.pack("<IIQ", ib, 0, 0))
            self._update(self.peers, struct.pack("<Q", slots[3]), struct.pack("<IIQ", ia, 0, 0))
            self._update(self.sockmap, struct.pack("<I", ib), struct.pack("<I", b.fileno()))
            self._update(self.sockmap, struct.pack("<I", ia), struct.pack("<I", a.fileno()))
        except OSError:
            self.part(slots)
            raise
        return slots

    def part(self, slots: tuple[int, int, int, int]) -> None:
        ia, ib, ca, cb = slots
        for i in (ia, ib):
            self._delete(self.sockmap, struct.pack("<I", i))
            self.free.append(i)
        for c in (ca, cb):
            self._delete(self.peers, struct.pack("<Q", c))


def cookie(sock: socket.socket) -> int:
    return int(struct.unpack("<Q", sock.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8))[0])


def bytes_acked(sock: socket.socket) -> int:
    """tcp_info.tcpi_bytes_acked (offset 120 since Linux 4.1): what the peer has received."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return int(struct.unpack_from("<Q", info, 120)[0]) if len(info) >= 128 else 0


class Pair:
    __slots__ = ("down", "up", "connected", "eof_down", "eof_up", "slots", "user_down",
                 "user_up")

    def __init__(self, down: socket.socket, up: socket.socket) -> None:
        self.down, self.up = down, up
        self.connected = False
        self.eof_down = self.eof_up = False
        self.slots: tuple[int, int, int, int] | None = None
        self.user_down = self.user_up = 0     # bytes this process sent each way itself


def serve(port: int, backends: list[int], mode: str) -> None:
    smap = Sockmap() if mode == "sockmap" else None
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)     # --workers: one each
    lsock.bind(("127.0.0.1", port))
    lsock.listen(4096)
    lsock.setblocking(False)
    ep = select.epoll()
    ep.register(lsock.fileno(), select.EPOLLIN)
    by_fd: dict[int, Pair] = {}
    rr = itertools.cycle(backends)
    buf = bytearray(262144)
    view = memoryview(buf)
    IN, OUT = select.EPOLLIN, select.EPOLLOUT

    waiting: list[tuple[Pair, bool]] = []     # EOFs to pass on once the redirects are out

    def drained(p: Pair, towards_up: bool) -> bool:
        """Has the peer received every byte of this direction, the kernel's redirects
        (counted by the verdict program) and this process's own?  Only then may the EOF
        follow: a shutdown() before the redirect queue is empty would cut the stream."""
        if smap is None or p.slots is None:
            return True
        dst = p.up if towards_up else p.down
        redirected = smap.bytes_of(p.slots[2] if towards_up else p.slots[3])    # src's cookie
        return bytes_acked(dst) >= redirected + (p.user_up if towards_up else p.user_down)

    def pass_eof(p: Pair, towards_up: bool) -> None:
        if towards_up:
            p.eof_down = True
        else:
            p.eof_up = True
        if p.eof_down and p.eof_up:
            close(p)
            return
        try:
            (p.up if towards_up else p.down).shutdown(socket.SHUT_WR)
        except OSError:
            close(p)

    def close(p: Pair) -> None:
        if smap is not None and p.slots is not None:
            smap.part(p.slots)
        for s in (p.down, p.up):
            by_fd.pop(s.fileno(), None)
            s.close()

    def forward(src: socket.socket, dst: socket.socket) -> int:
        try:
            n = src.recv_into(buf)
        except BlockingIOError:
            return -1
        except OSError:
            return 0
        if n:
            sent = 0
            try:
                while sent < n:
                    try:
                        sent += dst.send(view[sent:n])
                    except BlockingIOError:          # a prototype: wait for a full peer
                        select.select([], [dst], [], 5.0)
            except OSError:
                return 0
            p = by_fd[src.fileno()]
            if src is p.down:
                p.user_up += n
            else:
                p.user_down += n
        return n

    while True:
        events = ep.poll(0.001 if waiting else 1.0, 1024)
        for p, towards_up in list(waiting):
            if p.down.fileno() < 0 or drained(p, towards_up):
                waiting.remove((p, towards_up))
                if p.down.fileno() >= 0:
                    pass_eof(p, towards_up)
        for fd, ev in events:
            if fd == lsock.fileno():
                while True:
                    try:
                        down, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    down.setblocking(False)
                    down.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    up = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    up.connect_ex(("127.0.0.1", next(rr)))
                    p = Pair(down, up)
                    by_fd[down.fileno()] = by_fd[up.fileno()] = p
                    ep.register(up.fileno(), OUT)
                continue
            found = by_fd.get(fd)
            if found is None:
                continue
            p = found
            if not p.connected:
                if p.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    close(p)
                    continue
                p.connected = True
                if smap is not None:
                    try:
                        p.slots = smap.join(p.down, p.up)
                    except OSError:     # a socket already past ESTABLISHED: forward it here
                        p.slots = None
                    # bytes queued before the switch are not run through the verdict (they
                    # wait for the next segment): pass them on here.  A client that sends
                    # more before they are out could be reordered: a prototype's shortcut
                    while forward(p.down, p.up) > 0:
                        pass
                # joined: the kernel moves the bytes, so only an EOF (or error) wakes us
                mask = select.EPOLLRDHUP if p.slots is not None else IN | select.EPOLLRDHUP
                ep.modify(p.up.fileno(), mask)
                ep.register(p.down.fileno(), mask)
                continue
            towards_up = fd == p.down.fileno()
            src, dst = (p.down, p.up) if towards_up else (p.up, p.down)
            n = forward(src, dst)
            if n != 0:
                continue
            try:
                ep.unregister(fd)
            except OSError:
                pass
            if drained(p, towards_up):
                pass_eof(p, towards_up)
            else:
                waiting.append((p, towards_up))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("user", "sockmap"), default="user")
    ap.add_argument("--workers", type=int, default=1,
                    help="processes, each with its own SO_REUSEPORT listener (user mode)")
    ap.add_argument("port", type=int)
    ap.add_argument("backends", type=int, nargs="+")
    a = ap.parse_args()
    if a.workers > 1 and a.mode != "user":
        ap.error("--workers needs --mode user")
    for _ in range(a.workers - 1):
        if os.fork() == 0:      # the children die with the process group, as pen's workers
            break
    try:
        serve(a.port, a.backends, a.mode)
    except KeyboardInterrupt:
        pass
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EINVAL, errno.EACCES):
            print(f"sockmap_proto: {e}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

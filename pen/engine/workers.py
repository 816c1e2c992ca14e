"""`--workers N`: the main process's side of N worker processes (docs/architecture.md "Workers").

The main process makes the shared tables (one anonymous shared mmap) and the one process-shared
lock before it forks, opens one listening socket per worker (SO_REUSEPORT, so the kernel spreads
connections, even from one client address, by their 4-tuple; a unix or socket-activated
listener is shared instead), forks the workers, forwards configuration commands to them over a
pipe each and waits until every worker has applied them (so a command is in force everywhere
when penctl gets its reply, as in C pen's one process), passes SIGTERM on, and restarts a worker
that dies after releasing its counts.  `clients_max` past the client table's size grows it into
a memfd of its own; each worker gets the descriptor over a socket of its own and maps it at its
next lock (pen.core.balance.shared; /proc/PID/fd would fail after -u or a chroot).
"""
from __future__ import annotations

import _multiprocessing
import errno
import json
import logging
import mmap
import os
import select
import signal
import socket
import time
from typing import Callable

from pen.core.balance.shared import (SharedStore, SharedTables, client_capacity, layout_size,
                                     segment_size)
from pen.core.balance.state import PenState

log = logging.getLogger("pen")

RESTART_DELAY = 1.0        # seconds before restarting a worker that died young
YOUNG = 5.0                # a worker that dies within this of its start died young
STOP_WAIT = 5.0            # seconds workers get to exit on SIGTERM before SIGKILL
APPLY_WAIT = 2.0           # seconds a forwarded command may take to be applied by every worker
QUERY_WAIT = 1.0           # seconds a worker may take to answer a query
FOLLOW_WAIT = 2.0          # seconds a worker waits for the descriptor of a grown client table
SEMAPHORE = 1              # _multiprocessing.SemLock kind
QUERY = "\x01"            # a command line starting so is a query: answered, not just acked


def cpu_count() -> int:
    """`--workers auto`: one worker per core pen may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return max(1, os.cpu_count() or 1)


class WorkerSlot:
    """One worker: its process, its listener, its command pipe and the pipe it acknowledges
    each applied command on (`unacked` counts the commands sent and not yet acknowledged), and
    the socket pair a grown client table's descriptor goes over (`seg` the main's end)."""
    __slots__ = ("index", "pid", "sock", "cmd_r", "cmd_w", "ack_r", "ack_w", "unacked",
                 "started", "restarts", "seg", "seg_peer")

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index, self.sock = index, sock
        self.pid = 0
        self.cmd_r = self.cmd_w = self.ack_r = self.ack_w = -1
        self.unacked = 0
        self.started = 0.0
        self.restarts = 0
        self.seg: socket.socket | None = None
        self.seg_peer: socket.socket | None = None


class Workers:
    """The shared tables, the lock, the listeners and the worker processes."""

    def __init__(self, n: int, clients_max: int) -> None:
        self.n = n
        rows = n + 1                  # one counter row per worker, the last for the main process
        self.mem = mmap.mmap(-1, layout_size(rows, clients_max))
        self.clients_max = clients_max
        self.segment: mmap.mmap | None = None      # the client table, once it has grown
        self.tables = SharedTables(self.mem, rows, clients_max)
        self.tables.initialise()
        self.lock = _multiprocessing.SemLock(SEMAPHORE, 1, 1, f"/pen-{os.getpid()}-{id(self)}",
                                             True)
        self.slots: list[WorkerSlot] = []
        self.stopping = False
        self.queries = 0
        self.respawn: Callable[[WorkerSlot], None] = lambda slot: None   # set by the daemon

    @property
    def main_row(self) -> int:
        return self.n

    def store(self, state: PenState, row: int) -> SharedStore:
        """The main process's store (over `tables`, which it grows), or worker `row`'s, in the
        worker (over the client table of the day; later ones come over its socket)."""
        if row == self.main_row:
            return SharedStore(state, self.tables, row, self.lock, moves_bytes=False)
        slot = self.slots[row]
        assert slot.seg_peer is not None, "a worker's store is made in the worker"
        return SharedStore(state, SharedTables(self.mem, self.n + 1, self.clients_max,
                                               self.segment),
                           row, self.lock, segment=follower(slot.seg_peer))

    def grow_clients(self, clients_max: int) -> None:
        """`clients_max` past the client table's size: a larger one in a memfd, every entry
        rehashed into it under the lock; its descriptor goes to every worker before the lock
        is released, so a worker that sees the new generation finds it waiting."""
        capacity = client_capacity(clients_max)
        if capacity <= self.tables.capacity:
            return
        size = segment_size(capacity)
        fd = os.memfd_create("pen-clients", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            segment = mmap.mmap(fd, size)
            if not self.lock.acquire(True, APPLY_WAIT):    # a dead worker's, not yet reaped
                raise OSError(errno.EDEADLK, "the shared lock is held; try again")
            try:
                self.tables.grow(segment, capacity)
                self.segment = segment
                self._hand_out(fd)
            finally:
                self.lock.release()
        finally:
            os.close(fd)

    def _hand_out(self, fd: int) -> None:
        """The grown table's descriptor to every worker, under the lock."""
        message = [b"%d" % self.tables.generation]
        for slot in self.slots:
            if slot.pid and slot.seg is not None:
                try:
                    socket.send_fds(slot.seg, message, [fd])
                except OSError as e:    # it stops when it cannot follow, and is restarted
                    if e.errno not in (errno.ECONNREFUSED, errno.EPIPE):     # (or it died)
                        log.error("worker %d: cannot send it the grown client table: %s",
                                  slot.index, e)

    # -- listeners ---------------------------------------------------------------------------
    def add_listeners(self, first: socket.socket, reuseport: bool, backlog: int) -> None:
        """One socket per worker: `first`, then more bound to the same address with
        SO_REUSEPORT (`first` must have had it set before bind), or `first` shared."""
        self.slots = [WorkerSlot(0, first)]
        for i in range(1, self.n):
            if reuseport:
                sock = socket.socket(first.family, first.type & ~socket.SOCK_NONBLOCK)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(first.getsockname())
                if sock.type == socket.SOCK_STREAM:
                    sock.listen(backlog)
                sock.setblocking(False)
            else:
                sock = first
            self.slots.append(WorkerSlot(i, sock))

    # -- processes ---------------------------------------------------------------------------
    def spawn(self, slot: WorkerSlot, run: Callable[[WorkerSlot], int]) -> None:
        """Fork the worker for `slot`; in the child, `run(slot)` and exit with its status."""
        for fd in (slot.cmd_w, slot.ack_r):
            if fd >= 0:
                os.close(fd)
        slot.cmd_r, slot.cmd_w = os.pipe2(os.O_CLOEXEC)
        slot.ack_r, slot.ack_w = os.pipe2(os.O_CLOEXEC)
        slot.unacked = 0
        os.set_blocking(slot.cmd_w, False)
        os.set_blocking(slot.ack_r, False)
        if slot.seg is not None:
            slot.seg.close()
        slot.seg, slot.seg_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        slot.seg.setblocking(False)
        pid = os.fork()
        if pid == 0:                                   # the worker
            status = 70
            try:
                os.close(slot.cmd_w)
                os.close(slot.ack_r)
                for other in self.slots:
                    for fd in (other.cmd_w, other.ack_r):
                        if other is not slot and fd >= 0:
                            os.close(fd)
                    if other.seg is not None:
                        other.seg.close()
                status = run(slot)
            except BaseException:                      # noqa: BLE001 - a worker must exit
                log.exception("worker %d failed", slot.index)
            finally:
                os._exit(status)
        os.close(slot.cmd_r)
        os.close(slot.ack_w)
        slot.cmd_r = slot.ack_w = -1
        slot.seg_peer.close()
        slot.seg_peer = None
        slot.pid, slot.started = pid, time.monotonic()

    def reap(self) -> list[WorkerSlot]:
        """Collect dead workers (SIGCHLD): release their counts; the slots to restart."""
        dead = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for slot in self.slots:
                if slot.pid == pid:
                    slot.pid = 0
                    self.tables.release_worker(slot.index, into=self.main_row)
                    self._recover_lock()
                    if not self.stopping:
                        log.warning("worker %d (pid %d) %s; restarting it", slot.index, pid,
                                    _how(status))
                    dead.append(slot)
        return dead

    def _recover_lock(self) -> None:
        """A worker killed inside a decision leaves the lock taken: free it (a live holder
        keeps it for microseconds, never a whole second)."""
        if self.lock.acquire(True, 1.0):
            self.lock.release()
        else:
            log.warning("a dead worker held the shared lock; releasing it")
            self.lock.release()

    def restart_delay(self, slot: WorkerSlot) -> float:
        return RESTART_DELAY if time.monotonic() - slot.started < YOUNG else 0.0

    def broadcast(self, line: str) -> None:
        """A configuration command for every worker to run (one line), returning once every
        live worker has applied it (or APPLY_WAIT has passed: a worker that hangs is logged,
        never waited for longer; it is restarted when it dies)."""
        data = (line.rstrip("\n") + "\n").encode()
        sent = []
        for slot in self.slots:
            if slot.pid and slot.cmd_w >= 0:
                try:
                    os.write(slot.cmd_w, data)
                except BlockingIOError:
                    log.error("worker %d is not reading its commands; %r not applied there",
                              slot.index, line)
                    continue
                except OSError as e:
                    if e.errno != errno.EPIPE:
                        raise
                    continue
                slot.unacked += 1
                sent.append(slot)
        self._await_acks(sent, line)

    def _await_acks(self, sent: list[WorkerSlot], line: str) -> None:
        def take(slot: WorkerSlot, acks: bytes) -> bool:
            if not acks:                               # the worker died: nothing to wait for
                slot.unacked = 0
            else:   # (a late answer to a query holds no ".": its JSON has only ints)
                slot.unacked = max(0, slot.unacked - acks.count(b"."))
            return slot.unacked == 0
        _read_pipes({slot.ack_r: slot for slot in sent}, APPLY_WAIT, f"apply {line!r}", take)

    def query(self, line: str, only: int | None = None) -> dict[int, object]:
        """Ask every live worker (or worker `only`) a question about what it holds (its
        connections: `connection`, `close`, `socket`, `connections`): worker index -> its
        answer (JSON data).  A worker that does not answer within QUERY_WAIT is left out."""
        self.queries += 1
        tag = str(self.queries)
        data = f"{QUERY}{tag} {line}\n".encode()
        waiting: dict[int, WorkerSlot] = {}
        for slot in self.slots:
            if slot.pid and slot.cmd_w >= 0 and only in (None, slot.index):
                try:
                    os.write(slot.cmd_w, data)
                except OSError:
                    continue
                waiting[slot.ack_r] = slot
        answers: dict[int, object] = {}
        bufs = {fd: b"" for fd in waiting}

        def take(slot: WorkerSlot, chunk: bytes) -> bool:
            if not chunk:                              # the worker died
                return True
            buf = bufs[slot.ack_r] + chunk
            while buf:
                if buf[:1] == b".":                    # a late acknowledgement
                    slot.unacked = max(0, slot.unacked - 1)
                    buf = buf[1:]
                    continue
                frame, nl, rest = buf.partition(b"\n")
                if not nl:
                    break                              # the rest of the answer is to come
                buf = rest
                got, _, payload = frame[1:].partition(b" ")
                if got.decode() == tag:                # else the answer to a query given up
                    answers[slot.index] = json.loads(payload)
                    return True
            bufs[slot.ack_r] = buf
            return False
        _read_pipes(waiting, QUERY_WAIT, f"answer {line!r}", take)
        return answers

    def signal(self, signum: int) -> None:
        for slot in self.slots:
            if slot.pid:
                try:
                    os.kill(slot.pid, signum)
                except ProcessLookupError:
                    pass

    def pids(self) -> list[int]:
        return [slot.pid for slot in self.slots if slot.pid]

    def stop(self) -> None:
        """SIGTERM to every worker; SIGKILL to those still there after STOP_WAIT."""
        self.stopping = True
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while self.pids() and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        self.signal(signal.SIGKILL)
        while self.pids():
            self.reap()
            time.sleep(0.01)


class CommandFeed:
    """The worker's end of its command pipe: whole lines to `run`, each acknowledged with one
    byte on `ack_fd` once it has run; a query (QUERY, a tag, the question) goes to `answer`
    instead and is acknowledged with `=TAG JSON\\n`."""

    def __init__(self, fd: int, ack_fd: int, run: Callable[[str], None],
                 answer: Callable[[str], object] = lambda q: None) -> None:
        self.fd, self.ack_fd, self.run, self.answer = fd, ack_fd, run, answer
        self.buf = b""
        os.set_blocking(fd, False)

    def on_readable(self, ev: int) -> bool:
        """False when the main process has gone (EOF)."""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return True
            if not chunk:
                return False
            self.buf += chunk
            *lines, self.buf = self.buf.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                if text.startswith(QUERY):
                    tag, _, question = text[1:].partition(" ")
                    try:
                        reply: object = self.answer(question)
                    except (ValueError, IndexError) as e:
                        log.warning("query %r: %s", question, e)
                        reply = None
                    self._ack(f"={tag} {json.dumps(reply)}\n".encode())
                    continue
                try:
                    self.run(text)
                finally:
                    self._ack(b".")

    def _ack(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.ack_fd, data):]
        except OSError as e:                  # the main process has gone: EOF follows
            if e.errno not in (errno.EPIPE, errno.EAGAIN):
                raise


def follower(sock: socket.socket) -> Callable[[int], mmap.mmap]:
    """A worker's way to the client table of a generation (SharedStore's `segment`): its
    descriptor, sent by the main process before that generation showed.  A worker that cannot
    get it stops, and is restarted over the new table (a fork maps it)."""
    def segment(generation: int) -> mmap.mmap:
        sock.settimeout(FOLLOW_WAIT)
        try:
            while True:
                msg, fds, _, _ = socket.recv_fds(sock, 32, 1)
                if not fds:
                    raise OSError(errno.EPIPE, "the main process sent no descriptor")
                try:
                    if msg == b"%d" % generation:      # (an earlier one was outgrown)
                        return mmap.mmap(fds[0], 0)
                finally:
                    os.close(fds[0])
        except OSError as e:
            log.error("cannot map the grown client table (%s); this worker stops", e)
            os.kill(os.getpid(), signal.SIGTERM)
            raise
    return segment


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _read_pipes(waiting: dict[int, WorkerSlot], wait: float, doing: str,
                take: Callable[[WorkerSlot, bytes], bool]) -> None:
    """Read the workers' answer pipes in `waiting` (fd -> slot) until `take(slot, chunk)` says
    each is done (an empty chunk: that worker died) or `wait` seconds pass; the main process
    blocks here, so a frozen worker costs at most `wait` and is logged."""
    deadline = time.monotonic() + wait
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            log.error("worker(s) %s did not %s within %.0f s",
                      ", ".join(str(s.index) for s in waiting.values()), doing, wait)
            return
        try:
            ready, _, _ = select.select(list(waiting), [], [], left)
        except InterruptedError:
            continue
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            if take(waiting[fd], chunk):
                del waiting[fd]

"""Byte transports: the one interface every device class reads and writes through.

A transport moves bytes and nothing else. Framing belongs to the protocol
modules, device operations to the device classes.
"""
from __future__ import annotations

import math
import os
import queue
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from .errors import DisconnectedError, TransportTimeoutError

T = TypeVar("T")


class Transport(Protocol):
    """What a device class needs from a byte link."""

    def write(self, data: bytes) -> None:
        """Send all of ``data`` or raise TransportError."""

    def read(self, size: int, timeout: float) -> bytes:
        """Return 1..size bytes, waiting at most ``timeout`` seconds.

        Raises TransportTimeoutError when nothing arrived in time and
        DisconnectedError when the other end is gone.
        """

    def close(self) -> None:
        """Release the link; idempotent."""


class _PipeEnd:
    """One end of an in-process, bidirectional byte pipe."""

    def __init__(self, inbox: "queue.Queue[bytes | None]", outbox: "queue.Queue[bytes | None]") -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._pending = b""
        self._closed = False
        self._peer_closed = False
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        if self._closed or self._peer_closed:
            raise DisconnectedError("pipe closed")
        if data:
            self._outbox.put(bytes(data))

    def read(self, size: int, timeout: float) -> bytes:
        with self._lock:
            if not self._pending:
                if self._closed or self._peer_closed:
                    raise DisconnectedError("pipe closed")
                try:
                    chunk = self._inbox.get(timeout=max(timeout, 0.0))
                except queue.Empty:
                    raise TransportTimeoutError(f"no data within {timeout:.3f}s") from None
                if chunk is None:
                    if self._closed:
                        raise DisconnectedError("pipe closed")
                    self._peer_closed = True
                    raise DisconnectedError("peer closed the pipe")
                self._pending = chunk
            out, self._pending = self._pending[:size], self._pending[size:]
            return out

    def close(self) -> None:
        """The peer reads end-of-pipe; a read of this end blocked in another thread fails at once."""
        if not self._closed:
            self._closed = True
            self._outbox.put(None)
            self._inbox.put(None)


def pipe_pair() -> tuple[_PipeEnd, _PipeEnd]:
    """Two connected transports: bytes written to one are read from the other."""
    a_to_b: "queue.Queue[bytes | None]" = queue.Queue()
    b_to_a: "queue.Queue[bytes | None]" = queue.Queue()
    return _PipeEnd(b_to_a, a_to_b), _PipeEnd(a_to_b, b_to_a)


class DescriptorGuard:
    """Lets one thread close descriptors that other threads are blocked on.

    Two facts of Linux make a plain ``os.close`` from another thread wrong:
    closing a descriptor does not wake a ``select``/``poll`` blocked on it
    (the waiter sleeps on until its timeout), and the freed number can be
    handed to the next ``open()`` while the waiter still holds it, so its
    next read lands on someone else's file. So every wait goes through
    ``wait``, which polls a self-pipe beside the descriptor; ``close`` writes
    one byte to that pipe, which wakes every wait at once and makes every
    later wait return at once (the byte is never read). The descriptors
    themselves are freed (``release``) only once no call is using them: by
    ``close`` when the guard is idle, otherwise by the last call to leave.
    A self-pipe rather than an eventfd: it is portable and costs one
    descriptor more, which the owner gives back when it closes.
    """

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._users = 0
        self._closed = False

    @contextmanager
    def using(self) -> Iterator[None]:
        """Hold the descriptors open for one call; DisconnectedError once closed."""
        with self._lock:
            if self._closed:
                raise DisconnectedError("link closed")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                last = self._closed and self._users == 0
            if last:
                self._free()

    def wait(self, fd: int, events: int, timeout: float | None) -> bool:
        """Inside ``using``: whether ``fd`` became ready for ``events`` (``select.POLLIN``,
        ``select.POLLOUT``; a hang-up counts as ready) within ``timeout`` seconds.
        Raises DisconnectedError when ``close`` is called before or during the wait."""
        poller = select.poll()
        poller.register(fd, events)
        poller.register(self._wake_r, select.POLLIN)
        ready = dict(poller.poll(None if timeout is None else max(0, math.ceil(timeout * 1000))))
        if self._wake_r in ready:
            raise DisconnectedError("link closed")
        return fd in ready

    def close(self) -> None:
        """Wake every wait; free the descriptors now, or when the last call leaves. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.write(self._wake_w, b"\0")
            idle = self._users == 0
        if idle:
            self._free()

    def _free(self) -> None:
        try:
            self._release()
        finally:
            os.close(self._wake_r)
            os.close(self._wake_w)


class FdTransport:
    """A transport over a file descriptor it owns (the master side of a pty).

    ``close`` from any thread ends a read or write blocked on it in another
    thread at once, and the descriptor is closed only after that call has
    left it (see DescriptorGuard).
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)  # a write waits in the guard, where close can wake it
        self._guard = DescriptorGuard(release=lambda: os.close(fd))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with self._guard.using():
            while view:
                try:
                    view = view[os.write(self._fd, view):]
                except BlockingIOError:
                    self._guard.wait(self._fd, select.POLLOUT, None)
                except OSError as exc:
                    raise DisconnectedError(f"write failed: {exc.strerror}") from None

    def read(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._guard.using():
            while True:
                remaining = deadline - time.monotonic()
                if remaining < 0:
                    raise TransportTimeoutError(f"no data within {timeout:.3f}s")
                if not self._guard.wait(self._fd, select.POLLIN, remaining):
                    continue
                try:
                    data = os.read(self._fd, size)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    # EIO on a pty master means no slave is open any more.
                    raise DisconnectedError(f"read failed: {exc.strerror}") from None
                if not data:
                    raise DisconnectedError("end of file")
                return data

    def query(self, ask: Callable[[int], T]) -> T:
        """``ask(fd)`` while the descriptor is surely open (a termios query); DisconnectedError once closed."""
        with self._guard.using():
            return ask(self._fd)

    def close(self) -> None:
        self._guard.close()

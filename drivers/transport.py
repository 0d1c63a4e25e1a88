"""Byte transports: the one interface every device class reads and writes through.

A transport moves bytes and nothing else. Framing belongs to the protocol
modules, device operations to the device classes.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from typing import Protocol

from .errors import DisconnectedError, TransportTimeoutError


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


class FdTransport:
    """A transport over a raw file descriptor (the master side of a pty)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._closed = False

    @property
    def fd(self) -> int:
        return self._fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except OSError as exc:
                raise DisconnectedError(f"write failed: {exc.strerror}") from None
            view = view[n:]

    def read(self, size: int, timeout: float) -> bytes:
        import select

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining < 0:
                raise TransportTimeoutError(f"no data within {timeout:.3f}s")
            try:
                ready, _, _ = select.select([self._fd], [], [], remaining)
            except (OSError, ValueError):
                raise DisconnectedError("descriptor closed") from None
            if not ready:
                continue
            try:
                data = os.read(self._fd, size)
            except OSError as exc:
                # EIO on a pty master means the slave side was closed.
                raise DisconnectedError(f"read failed: {exc.strerror}") from None
            if not data:
                raise DisconnectedError("end of file")
            return data

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                os.close(self._fd)
            except OSError:
                pass

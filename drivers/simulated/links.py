"""The simulator's side of the links it serves on: a pty, a TCP listener and its connections.

Each link owns every descriptor it opens and gives all of them back in
``close``, which any thread may call: it wakes the thread serving the link
at once, and the descriptors are closed as soon as that thread has left them
(see ``drivers.transport.DescriptorGuard``). Nothing is left for the caller
to close, and nothing waits out a timeout.
"""
from __future__ import annotations

import os
import select
import socket
import termios
import threading
import tty
from types import MappingProxyType

from ..errors import DisconnectedError
from ..transport import DescriptorGuard, FdTransport

#: termios speed constants to baud, for the speeds a PN532 or a printer line uses.
_TERMIOS_SPEEDS = MappingProxyType({
    getattr(termios, f"B{baud}"): baud
    for baud in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 1152000, 1500000)
    if hasattr(termios, f"B{baud}")
})


def _pty_line_speed(master_fd: int) -> int | None:
    """The speed the host set on a pty's slave, read through the master (Linux shares them)."""
    try:
        return _TERMIOS_SPEEDS.get(termios.tcgetattr(master_fd)[4])
    except (termios.error, OSError):
        return None


class PtyLink:
    """Both ends of a pseudo-terminal: the simulator serves the master, a driver opens ``path``.

    The link keeps its own slave descriptor open for its whole life: while no
    slave is open a pty master reads EIO, so without it a driver that has not
    opened ``path`` yet, or opens it again, would look like a pulled cable.
    ``close`` closes the master (which wakes a read or write waiting on it and
    hangs up the driver's side) and then the slave.
    """

    def __init__(self) -> None:
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            self.path = os.ttyname(slave)
            self._master = FdTransport(master)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._slave: int | None = slave
        self._lock = threading.Lock()  # close may come from two threads at once

    def read(self, size: int, timeout: float) -> bytes:
        return self._master.read(size, timeout)

    def write(self, data: bytes) -> None:
        self._master.write(data)

    def line_speed(self) -> int | None:
        """The speed the driver set on its side (the slave's termios), as the device sees it."""
        try:
            return self._master.query(_pty_line_speed)
        except DisconnectedError:
            return None

    def close(self) -> None:
        self._master.close()
        with self._lock:
            slave, self._slave = self._slave, None
        if slave is not None:
            os.close(slave)


class TcpListener:
    """A listening TCP socket whose ``accept`` waits for a client or for ``close``."""

    def __init__(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        self._socket = listener
        self.address: tuple[str, int] = listener.getsockname()[:2]
        self._guard = DescriptorGuard(release=listener.close)

    def accept(self, timeout: float | None) -> FdTransport | None:
        """The next client's connection, as a transport the simulator owns; None after ``timeout``.

        Raises DisconnectedError once the listener is closed.
        """
        with self._guard.using():
            if not self._guard.wait(self._socket.fileno(), select.POLLIN, timeout):
                return None
            try:
                conn, _ = self._socket.accept()
            except BlockingIOError:  # the client left the backlog before we took it
                return None
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return FdTransport(conn.detach())

    def close(self) -> None:
        self._guard.close()

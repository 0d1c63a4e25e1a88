"""Run a simulated device on the far end of a transport, in its own thread.

A simulated device is a byte-level state machine: ``feed(data) -> reply``.
The host reads whatever the driver wrote, feeds it, and writes the reply
back, so the driver talks to the simulator exactly as to hardware.
"""
from __future__ import annotations

import os
import select
import socket
import termios
import threading
import tty
from collections.abc import Callable
from typing import Protocol

from ..errors import DisconnectedError, TransportTimeoutError
from ..transport import FdTransport, Transport, pipe_pair


class SimulatedDevice(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the bytes the device sends back."""


#: How long one read waits; ``stop`` closes the link, which ends a waiting read at once.
IDLE_READ_S = 5.0


#: termios speed constants to baud, for the speeds a PN532 or a printer line uses.
_TERMIOS_SPEEDS = {
    getattr(termios, f"B{baud}"): baud
    for baud in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 1152000, 1500000)
    if hasattr(termios, f"B{baud}")
}


def pty_line_speed(master_fd: int) -> int | None:
    """The speed the host set on a pty's slave, read through the master (Linux shares them)."""
    try:
        return _TERMIOS_SPEEDS.get(termios.tcgetattr(master_fd)[4])
    except (termios.error, OSError):
        return None


class SimulatorHost:
    """Pumps bytes between one transport end and a simulated device.

    ``line_speed``, given, tells the host's line speed before each chunk to a
    device that models its UART (``host_line_speed``).
    """

    def __init__(
        self, device: SimulatedDevice, link: Transport, name: str = "sim",
        line_speed: Callable[[], int | None] | None = None,
    ) -> None:
        self.device = device
        self._link = link
        self._line_speed = line_speed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{name}-host", daemon=True)

    def start(self) -> "SimulatorHost":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._link.read(1 << 20, timeout=IDLE_READ_S)
            except TransportTimeoutError:
                continue
            except DisconnectedError:
                return
            tell = getattr(self.device, "host_line_speed", None)
            if self._line_speed is not None and tell is not None:
                tell(self._line_speed())
            reply = self.device.feed(chunk)
            if reply:
                try:
                    self._link.write(reply)
                except DisconnectedError:
                    return

    def stop(self) -> None:
        """Unplug: the driver's next read or write fails as on a pulled cable."""
        self._stop.set()
        self._link.close()
        self._thread.join(timeout=2)


def serve_over_pipe(device: SimulatedDevice, name: str = "sim") -> tuple[Transport, SimulatorHost]:
    """An in-process link: returns the driver's end and the running host."""
    driver_end, device_end = pipe_pair()
    return driver_end, SimulatorHost(device, device_end, name).start()


def serve_over_pty(device: SimulatedDevice, name: str = "sim") -> tuple[str, SimulatorHost]:
    """A pseudo-terminal link: returns the slave path for pyserial and the host."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    # Keep the slave open until the driver has it, so early writes do not EIO.
    host = SimulatorHost(device, FdTransport(master), name, line_speed=lambda: pty_line_speed(master))
    host.slave_fd = slave  # type: ignore[attr-defined]
    return path, host.start()


class _AcceptedSocket:
    """The simulator's end of a TCP bridge: accepts one client, then moves its bytes."""

    def __init__(self, listener: socket.socket) -> None:
        self._listener = listener
        self._conn: socket.socket | None = None
        self._closed = False

    def read(self, size: int, timeout: float) -> bytes:
        if self._closed:
            raise DisconnectedError("bridge closed")
        try:
            if self._conn is None:
                self._conn = self._accept(timeout)
            ready, _, _ = select.select([self._conn], [], [], timeout)
            if not ready:
                raise TransportTimeoutError(f"no data within {timeout:.3f}s")
            data = self._conn.recv(size)
        except (OSError, ValueError):
            raise DisconnectedError("bridge closed") from None
        if not data:
            raise DisconnectedError("client closed the connection")
        return data

    def _accept(self, timeout: float) -> socket.socket:
        ready, _, _ = select.select([self._listener], [], [], timeout)
        if not ready:
            raise TransportTimeoutError("no client yet")
        conn, _ = self._listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def write(self, data: bytes) -> None:
        if self._closed or self._conn is None:
            raise DisconnectedError("no client")
        try:
            self._conn.sendall(data)
        except OSError:
            raise DisconnectedError("connection lost") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._conn is not None:
            try:
                self._conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._conn.close()
        self._listener.close()


def serve_over_tcp(device: SimulatedDevice, name: str = "sim") -> tuple[str, SimulatorHost]:
    """A serial-over-TCP bridge on loopback: returns the ``socket://`` URL and the host.

    The host serves the first client that connects; ``stop()`` drops it.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address, port = listener.getsockname()
    return f"socket://{address}:{port}", SimulatorHost(device, _AcceptedSocket(listener), name).start()

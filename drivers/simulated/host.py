"""Run a simulated device on the far end of a transport, in its own thread.

A simulated device is a byte-level state machine: ``feed(data) -> reply``.
The host reads whatever the driver wrote, feeds it, and writes the reply
back, so the driver talks to the simulator exactly as to hardware.
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Protocol

from ..errors import DisconnectedError, TransportTimeoutError
from ..transport import FdTransport, Transport, pipe_pair
from .links import PtyLink, TcpListener


class SimulatedDevice(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the bytes the device sends back."""


#: How long one read waits; ``stop`` closes the link, which ends a waiting read at once.
IDLE_READ_S = 5.0


class SimulatorHost:
    """Pumps bytes between one transport end and a simulated device, in a thread of its own.

    The host owns its link: ``stop`` closes it, and so does the thread when
    it ends on its own (the client went away).

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
        try:
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
        finally:
            self._link.close()  # a link that ended on its own (the client left) frees what it holds now

    def stop(self) -> None:
        """Unplug: the driver's next read or write fails as on a pulled cable.

        Closing the link wakes the thread waiting on it at once; the link
        frees its descriptors as that thread leaves them. The join bounds only
        a device still busy in ``feed`` (a slow print): its reply then finds
        the link closed and the thread ends.
        """
        self._stop.set()
        self._link.close()
        self._thread.join(timeout=2)


def serve_over_pipe(device: SimulatedDevice, name: str = "sim") -> tuple[Transport, SimulatorHost]:
    """An in-process link: returns the driver's end and the running host."""
    driver_end, device_end = pipe_pair()
    return driver_end, SimulatorHost(device, device_end, name).start()


def serve_over_pty(device: SimulatedDevice, name: str = "sim") -> tuple[str, SimulatorHost]:
    """A pseudo-terminal link: returns the slave path for pyserial and the host.

    The host owns the pty: ``stop()`` closes both of its ends.
    """
    link = PtyLink()
    return link.path, SimulatorHost(device, link, name, line_speed=link.line_speed).start()


class _TcpBridge:
    """The simulator's end of a TCP bridge: accepts one client, then moves its bytes."""

    def __init__(self, listener: TcpListener) -> None:
        self._listener = listener
        self._conn: FdTransport | None = None
        self._closed = False
        self._lock = threading.Lock()  # close comes from another thread than read

    def read(self, size: int, timeout: float) -> bytes:
        if self._conn is None:
            conn = self._listener.accept(timeout)
            if conn is None:
                raise TransportTimeoutError("no client yet")
            with self._lock:
                if self._closed:  # closed while the client was being accepted
                    conn.close()
                    raise DisconnectedError("bridge closed")
                self._conn = conn
        return self._conn.read(size, timeout)

    def write(self, data: bytes) -> None:
        if self._conn is None:
            raise DisconnectedError("no client")
        self._conn.write(data)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn = self._conn
        self._listener.close()
        if conn is not None:
            conn.close()


def serve_over_tcp(device: SimulatedDevice, name: str = "sim") -> tuple[str, SimulatorHost]:
    """A serial-over-TCP bridge on loopback: returns the ``socket://`` URL and the host.

    The host serves the first client that connects; ``stop()`` drops it and closes the listener.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    bridge = TcpListener(listener)
    address, port = bridge.address
    return f"socket://{address}:{port}", SimulatorHost(device, _TcpBridge(bridge), name).start()

"""The links a standalone simulator serves on: a pty (behind a stable symlink) or loopback TCP.

An endpoint owns the listening side and pumps bytes between the connected
client and the simulated device; unplug closes it as a pulled cable would,
replug opens it again.
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from ..errors import DisconnectedError, TransportTimeoutError
from ..transport import FdTransport
from .faults import FaultyLink
from .links import PtyLink, TcpListener

_READ_SIZE = 1 << 16
#: How long the pump's read waits before it looks at its stop flag; hang_up wakes it at once.
_POLL = 0.2
_JOIN_SECONDS = 5.0


class _Pump:
    """Feeds what one connection brings to the device and writes back its replies.

    The pump owns its link: ``hang_up`` closes it from another thread (which
    wakes a read or write waiting on it), and the pump closes it again when it
    ends, whichever comes first.
    """

    def __init__(self, device: FaultyLink, link: PtyLink | FdTransport) -> None:
        self._device, self._link = device, link
        self._stop = threading.Event()

    def run(self) -> None:
        self._device.reconnected()
        try:
            while not self._stop.is_set():
                try:
                    chunk = self._link.read(_READ_SIZE, _POLL)
                except TransportTimeoutError:
                    continue
                except DisconnectedError:
                    return
                if isinstance(self._link, PtyLink):
                    self._device.host_line_speed(self._link.line_speed())
                reply = self._device.feed(chunk)
                if reply and not self._stop.is_set():
                    try:
                        self._link.write(reply)
                    except DisconnectedError:
                        return
        finally:
            self._link.close()

    def hang_up(self) -> None:
        self._stop.set()
        self._link.close()


class PtyEndpoint:
    """Serves the device on a fresh pty per plug, with an optional stable symlink."""

    def __init__(self, device: FaultyLink, link_path: Path | None) -> None:
        self._device, self._link_path = device, link_path
        self._pump: _Pump | None = None
        self._thread: threading.Thread | None = None
        self.slave_path = ""

    @property
    def uri(self) -> str:
        return f"serial://{self._link_path or self.slave_path}"

    def plug(self) -> None:
        link = PtyLink()
        self.slave_path = link.path
        self._pump = _Pump(self._device, link)
        self._thread = threading.Thread(target=self._pump.run, name="sim-pty", daemon=True)
        self._thread.start()
        if self._link_path is not None:
            _point_symlink(self._link_path, link.path)

    def unplug(self) -> None:
        if self._link_path is not None:
            _remove_symlink(self._link_path, self.slave_path)
        if self._pump is not None and self._thread is not None:
            self._pump.hang_up()
            self._thread.join(timeout=_JOIN_SECONDS)
        self._pump = self._thread = None


class TcpEndpoint:
    """Serves the device on a loopback TCP port, one client at a time."""

    def __init__(self, device: FaultyLink, host: str, port: int) -> None:
        self._device, self._host, self._port = device, host, port
        self._listener: TcpListener | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pump: _Pump | None = None
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"socket://{host}:{self._port}"

    def plug(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listener = TcpListener(socket.create_server((self._host, self._port), family=family, backlog=4))
        self._port = listener.address[1]  # a replug keeps the port port 0 picked
        self._listener, self._stop = listener, threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(listener, self._stop),
                                        name="sim-tcp", daemon=True)
        self._thread.start()

    def _serve(self, listener: TcpListener, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    conn = listener.accept(timeout=None)  # unplug closes the listener, which wakes this
                except DisconnectedError:
                    return
                if conn is None:
                    continue
                pump = _Pump(self._device, conn)
                with self._lock:
                    if stop.is_set():
                        conn.close()
                        return
                    self._pump = pump
                pump.run()
                with self._lock:
                    self._pump = None
        finally:
            listener.close()

    def unplug(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()  # at once, so a replug can listen while a slow reply finishes
        with self._lock:
            if self._pump is not None:
                self._pump.hang_up()
        if self._thread is not None:
            self._thread.join(timeout=_JOIN_SECONDS)
        self._thread = self._listener = None


def _point_symlink(link: Path, target: str) -> None:
    """Make ``link`` point at ``target``, replacing an old link atomically."""
    if link.exists() and not link.is_symlink():
        raise ValueError(f"--link {link}: exists and is not a symlink; not replacing it")
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _remove_symlink(link: Path, target: str) -> None:
    """Remove ``link`` if it still points at our ``target``."""
    try:
        if os.readlink(link) == target:
            link.unlink()
    except OSError:
        pass


# -- the simulator ------------------------------------------------------------

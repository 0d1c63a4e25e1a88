"""The links a standalone simulator serves on: a pty (behind a stable symlink) or loopback TCP.

An endpoint owns the listening side and pumps bytes between the connected
client and the simulated device; unplug closes it as a pulled cable would,
replug opens it again.
"""
from __future__ import annotations

import os
import socket
import threading
import tty
from pathlib import Path

from ..errors import DisconnectedError, TransportTimeoutError
from ..transport import FdTransport
from .faults import FaultyLink
from .host import pty_line_speed

_READ_SIZE = 1 << 16
_POLL = 0.2
_JOIN_SECONDS = 5.0


class _PtyLink:
    """The master side of a pty; the pump owns it until it is released.

    ``hang_up`` makes the driver's side fail at once (the master goes away)
    but keeps the descriptor number pointing at /dev/null until ``release``,
    so a pump still reading it can never read a reused descriptor.
    """

    def __init__(self) -> None:
        master, self._slave = os.openpty()
        tty.setraw(self._slave)  # the slave stays open here: a client closing it is not an EIO
        self.slave_path = os.ttyname(self._slave)
        self._master = FdTransport(master)
        self._lock = threading.Lock()  # hang_up and release come from different threads
        self._released = False

    def read(self, size: int, timeout: float) -> bytes:
        return self._master.read(size, timeout)

    def write(self, data: bytes) -> None:
        self._master.write(data)

    def line_speed(self) -> int | None:
        """The speed the host set on its side (the slave's termios), as the device sees it."""
        return pty_line_speed(self._master.fd)

    def hang_up(self) -> None:
        with self._lock:
            if self._released:
                return
            null = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(null, self._master.fd)
            finally:
                os.close(null)
            self._close_slave()

    def release(self) -> None:
        with self._lock:
            self._released = True
            self._master.close()
            self._close_slave()

    def _close_slave(self) -> None:
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1


class _SocketLink:
    """One accepted TCP connection, as a transport for the pump."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def read(self, size: int, timeout: float) -> bytes:
        try:
            self._conn.settimeout(max(timeout, 0.001))
            data = self._conn.recv(size)
        except socket.timeout:
            raise TransportTimeoutError(f"no data within {timeout:.3f}s") from None
        except OSError as exc:
            raise DisconnectedError(f"connection lost: {exc}") from None
        if not data:
            raise DisconnectedError("the client closed the connection")
        return data

    def write(self, data: bytes) -> None:
        try:
            self._conn.sendall(data)
        except OSError as exc:
            raise DisconnectedError(f"connection lost: {exc}") from None

    def hang_up(self) -> None:
        try:
            self._conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def release(self) -> None:
        self._conn.close()


class _Pump:
    """Feeds what one connection brings to the device and writes back its replies."""

    def __init__(self, device: FaultyLink, link: _PtyLink | _SocketLink) -> None:
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
                if isinstance(self._link, _PtyLink):
                    self._device.host_line_speed(self._link.line_speed())
                reply = self._device.feed(chunk)
                if reply and not self._stop.is_set():
                    try:
                        self._link.write(reply)
                    except DisconnectedError:
                        return
        finally:
            self._link.release()

    def hang_up(self) -> None:
        self._stop.set()
        self._link.hang_up()


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
        link = _PtyLink()
        self.slave_path = link.slave_path
        self._pump = _Pump(self._device, link)
        self._thread = threading.Thread(target=self._pump.run, name="sim-pty", daemon=True)
        self._thread.start()
        if self._link_path is not None:
            _point_symlink(self._link_path, link.slave_path)

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
        self._listener: socket.socket | None = None
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
        self._listener = socket.create_server((self._host, self._port), family=family, backlog=4)
        self._listener.settimeout(_POLL)
        self._port = self._listener.getsockname()[1]  # a replug keeps the port port 0 picked
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(self._listener, self._stop),
                                        name="sim-tcp", daemon=True)
        self._thread.start()

    def _serve(self, listener: socket.socket, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pump = _Pump(self._device, _SocketLink(conn))
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

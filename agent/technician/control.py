"""The daemon's control socket: JSON lines over a unix socket in the state folder.

    state_dir/control.sock   (mode 0600; bound under a temporary name, chmod-ed, then renamed)

One request per line, one reply per line, several on one connection::

    {"op": "ping"}                          -> {"ok": true, "station_id": "3319-05", "pid": 1234}
    {"op": "status"}                        -> {"ok": true, "status": {...}}   (StationStatus.to_json)
    {"op": "diagnose", "test_card": false}  -> {"ok": true, "diagnose": {...}} (see diagnose.py)
    {"op": "bundle"}                        -> {"ok": true, "diagnose": {...}, "journal": {...}, "logs": [...]}
    {"op": "sync"}                          -> {"ok": true, "status": {...}}   (the fetcher polls now)
    anything wrong                          -> {"ok": false, "error": "..."}

A small thread serves the socket; handlers only read the station's status or
hand work to its owner. Anything that touches a device is a request the print
worker runs between jobs (``agent.printing.PrintWorker.on_devices``), with a
bounded wait.
"""
from __future__ import annotations

import json
import os
import socket
import socketserver
import stat
import threading
from pathlib import Path
from typing import Callable

import structlog

from drivers.jsonlines import read_line

from ..errors import AgentError
from ..os_faults import AcceptWatch

log = structlog.get_logger("ktp.control")

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
MAX_REPLY = 16 * 1024 * 1024
IDLE_SECONDS = 30.0
#: sun_path holds 108 bytes with its terminating NUL.
MAX_SOCKET_PATH = 107

Handler = Callable[[dict], dict]


class ControlError(AgentError):
    """The control socket could not be served, or a request to it failed."""


class DaemonNotRunningError(ControlError):
    """Nothing listens on the control socket: the daemon is down."""


def socket_path(state_dir: Path) -> Path:
    return Path(state_dir) / SOCKET_NAME


# -- the server -------------------------------------------------------------------

class _Connection(socketserver.StreamRequestHandler):
    timeout = IDLE_SECONDS

    def handle(self) -> None:
        handlers: dict[str, Handler] = self.server.handlers  # type: ignore[attr-defined]
        while True:
            try:
                line = self.rfile.readline(MAX_REQUEST + 1)
            except OSError:
                return
            if not line:
                return
            if len(line) > MAX_REQUEST:
                self._reply({"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"})
                return
            if line.strip() and not self._reply(_dispatch(handlers, line)):
                return

    def _reply(self, reply: dict) -> bool:
        try:
            self.wfile.write(json.dumps(reply, default=str).encode() + b"\n")
            self.wfile.flush()
        except OSError:
            return False
        return True


def _dispatch(handlers: dict[str, Handler], line: bytes) -> dict:
    try:
        request = json.loads(line)
    except ValueError:
        return {"ok": False, "error": "the request is not JSON"}
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        return {"ok": False, "error": 'a request is a JSON object with "op"'}
    handler = handlers.get(request["op"])
    if handler is None:
        return {"ok": False, "error": f"unknown op {request['op']!r}; known: {', '.join(sorted(handlers))}"}
    try:
        return {"ok": True, **handler(request)}
    except AgentError as exc:
        return {"ok": False, "error": str(exc)}


class _Server(AcceptWatch, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class ControlServer:
    """Serves ``handlers`` on a unix socket until ``stop()``."""

    def __init__(self, path: Path, handlers: dict[str, Handler],
                 on_fault: Callable[[OSError], None] | None = None) -> None:
        self.path = Path(path)
        self._on_fault = on_fault  # accept() found the process out of file descriptors
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH:
            raise ControlError(f"{self.path}: control socket path is longer than {MAX_SOCKET_PATH} bytes")
        self._handlers = handlers
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def in_use(self) -> bool:
        """Another daemon answers on this path (a socket left by a dead one does not count)."""
        try:
            ControlClient(self.path, timeout=2).request("ping")
        except DaemonNotRunningError:
            return False
        except ControlError:
            return self.path.exists()
        return True

    def start(self) -> "ControlServer":
        _clear_stale(self.path)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        server = _Server(str(temporary), _Connection, bind_and_activate=False)
        try:
            server.server_bind()
            os.chmod(temporary, 0o600)  # before the name clients use exists
            os.replace(temporary, self.path)
            server.server_activate()
        except OSError as exc:
            server.server_close()
            temporary.unlink(missing_ok=True)
            raise ControlError(f"{self.path}: cannot serve the control socket: {exc.strerror}") from None
        server.handlers = self._handlers  # type: ignore[attr-defined]
        server.on_fault = self._on_fault
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(2)
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only state folder keeps the socket's name; the next start replaces it
        self._server = None


def _clear_stale(path: Path) -> None:
    """Remove a socket left by a daemon that died; refuse to take over a live one."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"{path} exists and is not a socket")
    try:
        ControlClient(path, timeout=2).request("ping")
    except DaemonNotRunningError:
        path.unlink(missing_ok=True)
        return
    except ControlError:
        pass
    raise ControlError(f"{path}: another ktp-agent daemon is serving this station")


# -- the client -------------------------------------------------------------------

class ControlClient:
    """Sends one request at a time to the daemon of a station."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def request(self, op: str, timeout: float | None = None, **args: object) -> dict:
        """The reply of a successful request (without ``ok``); raises ControlError otherwise."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout if timeout is None else timeout)
                try:
                    sock.connect(str(self.path))
                except (FileNotFoundError, ConnectionRefusedError):
                    raise DaemonNotRunningError(f"no daemon listens on {self.path}") from None
                sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
                raw = read_line(sock, MAX_REPLY, "the daemon")
        except socket.timeout:
            raise ControlError(f"{self.path}: the daemon did not answer {op!r} in time") from None
        except OSError as exc:
            raise ControlError(f"{self.path}: {exc.strerror or exc}") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise ControlError(f"{self.path}: the reply to {op!r} is not JSON") from None
        if not isinstance(reply, dict):
            raise ControlError(f"{self.path}: the reply to {op!r} is not a JSON object")
        if not reply.pop("ok", False):
            raise ControlError(f"the daemon refused {op!r}: {reply.get('error', 'no reason given')}")
        return reply

"""The control channel of a running simulator: JSON lines on a local socket.

A simulator (standalone, or in-process behind a ``sim://...&control=ADDR``
URI) listens on a unix socket or a loopback TCP port. Each request is one
JSON object on one line; each gets one JSON object on one line back:

    {"fault": "jam_at_card", "value": 3}   -> {"ok": true}
    {"fault": "slow_ms", "value": 250}     -> {"ok": true}   (slow_seconds = 0.25)
    {"get": "state"}                       -> {"ok": true, "role": ..., "uri": ...,
                                               "plugged": ..., "faults": {...},
                                               "state": {counters, supplies, card},
                                               "contactless_station": {...} | null}
    {"unplug": true}                       -> {"ok": true}   (the link goes away)
    {"unplug": true, "seconds": 30}        -> {"ok": true}   (in-process: the cable stays out 30 s,
                                               every reopen by URI fails until then)
    {"replug": true}                       -> {"ok": true, "uri": ...}
    anything else                          -> {"ok": false, "error": "..."}

Addresses: a path (``/tmp/ktp/printer-control.sock``, or ``unix:PATH``) is a
unix socket; ``HOST:PORT`` (or ``tcp:HOST:PORT``) a TCP port, loopback only,
since the channel has no authentication. ``send_control`` is the client.
"""
from __future__ import annotations

import json
import os
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..jsonlines import read_line
from ..loopback import is_loopback
from ..uri import socket_path
from .bench import SimBench
from .faults import WIRE_FAULTS, FaultyLink
from .files import unplug_for

MAX_LINE = 64 * 1024
_IDLE_SECONDS = 300.0


class ControlTarget(Protocol):
    """What the control channel can do to a running simulator."""

    def set_fault(self, name: str, value: object) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    def unplug(self, seconds: float | None = None) -> None:
        """Take the link away (for ``seconds``, where the simulator can keep it out by itself)."""

    def replug(self) -> str:
        """Plug the link in again; return the URI to use."""


class ControlError(Exception):
    """A control address is unusable or the simulator did not answer."""


def handle_message(target: ControlTarget, message: object) -> dict[str, Any]:
    """One request, one reply; a bad request is answered, never raised."""
    try:
        return _dispatch(target, message)
    except (ValueError, TypeError, RuntimeError) as exc:
        return {"ok": False, "error": str(exc)}


def _dispatch(target: ControlTarget, message: object) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ValueError("a control message is a JSON object")
    if "fault" in message:
        if "value" not in message:
            raise ValueError('a fault message needs "value"')
        name, value = message["fault"], message["value"]
        if name == "slow_ms":
            name = "slow_seconds"
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = value / 1000.0
        target.set_fault(str(name), value)
        return {"ok": True}
    if message.get("get") == "state":
        return {"ok": True, **target.describe()}
    if message.get("unplug") is True:
        if "seconds" in message:
            seconds = message["seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
                raise ValueError('"seconds": expected a number from 0 to 3600')
            target.unplug(seconds=float(seconds))
        else:
            target.unplug()
        return {"ok": True}
    if message.get("replug") is True:
        return {"ok": True, "uri": target.replug()}
    raise ValueError(f"unknown control message with keys {sorted(message)}")


def describe_simulator(role: str, link: FaultyLink, state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Faults, counters, supplies and the contactless station of one simulator."""
    doc: dict[str, Any] = {"role": role, "faults": link.faults}
    device_state = getattr(link.device, "state", None)
    if device_state is not None and hasattr(device_state, "to_json"):
        doc["state"] = json.loads(device_state.to_json())
    card = SimBench(state_dir).card_at_station()
    doc["contactless_station"] = None if card is None else {"uid": card[0].hex(), "readable": card[1]}
    return doc


class InProcessControl:
    """A ControlTarget for a simulator the factory runs inside the driver's process.

    ``unplug`` stops its host (the driver sees DisconnectedError); ``replug``
    is refused: the owner reopens the device by URI, as after a real unplug.
    Without ``wire_faults`` (a device on the simulated USB bus, which needs
    the bare device) no_reply, garbage and slow_seconds are refused.
    """

    def __init__(self, role: str, link: FaultyLink, state_dir: str, uri: str, unplug: Callable[[], None],
                 *, wire_faults: bool = True) -> None:
        self._role, self._link, self._state_dir, self._uri = role, link, state_dir, uri
        self._unplug = unplug
        self._wire_faults = wire_faults
        self._plugged = True

    def set_fault(self, name: str, value: object) -> None:
        if not self._wire_faults and name in WIRE_FAULTS:
            raise ValueError(f"fault {name} is not available on this link")
        self._link.set_fault(name, value)

    def describe(self) -> dict[str, Any]:
        doc = describe_simulator(self._role, self._link, self._state_dir)
        return {**doc, "uri": self._uri, "plugged": self._plugged}

    def unplug(self, seconds: float | None = None) -> None:
        """The link goes away; with ``seconds``, every reopen by URI fails for that long (the cable stays
        out), without it the owner's next reopen plugs it back."""
        self._plugged = False
        if seconds:
            unplug_for(self._state_dir, self._role, seconds, time.time())
        self._unplug()

    def replug(self) -> str:
        raise RuntimeError("an in-process simulator cannot be replugged: reopen the device by its URI")


# -- addresses --------------------------------------------------------------


def parse_address(text: str) -> tuple[int, str | tuple[str, int]]:
    """(socket family, address) for a control address; loopback TCP only."""
    path = socket_path(text)
    if path is not None:
        return socket.AF_UNIX, path
    text = text.removeprefix("tcp:").removeprefix("//")
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not is_loopback(host):
        raise ControlError(f"control address {text!r}: expected a socket path or a loopback HOST:PORT")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def format_address(family: int, address: Any) -> str:
    if family == socket.AF_UNIX:
        return str(address)
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the server -------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    timeout = _IDLE_SECONDS

    def handle(self) -> None:
        target: ControlTarget = self.server.target  # type: ignore[attr-defined]
        while True:
            try:
                line = self.rfile.readline(MAX_LINE + 1)
            except OSError:
                return
            if not line:
                return
            if len(line) > MAX_LINE:
                self._reply({"ok": False, "error": f"message longer than {MAX_LINE} bytes"})
                return
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError as exc:
                reply = {"ok": False, "error": f"not JSON: {exc}"}
            else:
                reply = handle_message(target, message)
            if not self._reply(reply):
                return

    def _reply(self, reply: dict[str, Any]) -> bool:
        try:
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()
        except OSError:
            return False
        return True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Tcp6Server(_TcpServer):
    address_family = socket.AF_INET6


class ControlServer:
    """Serves the control channel of one simulator until ``close()``."""

    def __init__(self, target: ControlTarget, address: str) -> None:
        family, addr = parse_address(address)
        self._unix_path: Path | None = None
        if family == socket.AF_UNIX:
            assert isinstance(addr, str)
            self._unix_path = Path(addr)
            _clear_stale_socket(self._unix_path)
            server: socketserver.BaseServer = _UnixServer(addr, _Handler)
        else:
            server = (_Tcp6Server if family == socket.AF_INET6 else _TcpServer)(addr, _Handler)
        server.target = target  # type: ignore[attr-defined]
        self._server = server
        self.address = format_address(family, server.server_address)  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sim-control", daemon=True)

    def start(self) -> "ControlServer":
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()
        if self._unix_path is not None:
            try:
                self._unix_path.unlink()
            except FileNotFoundError:
                pass
            self._unix_path = None


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket left by a dead simulator; refuse a live one or a non-socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"control address {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise ControlError(f"control address {path} is in use by a running simulator")


# -- the client -------------------------------------------------------------


def send_control(address: str, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one control message and return the simulator's reply."""
    family, addr = parse_address(address)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(addr)
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = read_line(sock, MAX_LINE, "the simulator")
    except OSError as exc:
        raise ControlError(f"control channel {address}: {exc}") from None
    try:
        doc = json.loads(reply)
    except ValueError:
        raise ControlError(f"control channel {address}: the reply is not JSON") from None
    if not isinstance(doc, dict):
        raise ControlError(f"control channel {address}: the reply is not a JSON object")
    return doc

"""Start-up checks: what the machine must allow before the station creates anything.

In this order, after the configuration has loaded (device URIs included):
the state folder exists or can be made, is writable (every file in it too:
an accidental ``sudo ktp-agent run`` leaves root's files behind), on a
read-write file system, with enough free space; the metrics port can be
bound (the real listener is bound here and handed to the metrics endpoint);
the control socket's path is usable and no other daemon serves it. Only then
is the state folder made. A failure is an ``OsFaultError`` (or a
``ConfigError``) with its one line; too little space is a state, not a
failure: the station says so once and waits until space returns or it is
told to stop.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path

import structlog

from .config import Config
from .errors import AgentError, ConfigError
from .journal_guard import probe_journal
from .os_faults import OsFault, OsFaultError, OsFaultKind, classify, probe_path
from .observe import MetricsServer, SystemdNotifier
from .technician import ControlServer, socket_path

log = structlog.get_logger("ktp.startup")

#: Free space kept beyond the spool's room: the journal's growth and its WAL (SQLite checkpoints it at
#: about 4 MiB), SQLite's temporary files, receipts and the demo server's files. The spool itself may
#: fill up to ``spool.prefetch_bytes`` with payloads downloaded ahead, less what it already holds.
MARGIN_BYTES = 16 * 1024 * 1024
#: How often free space is looked at again while the station waits for it.
SPACE_RECHECK_S = 2.0
#: The state folder's entries looked at for another owner; a station holds a few dozen.
_MAX_ENTRIES = 5000


def prepare(config: Config, notifier: SystemdNotifier, stop: threading.Event,
            lang: str = "id") -> socket.socket | None:
    """Run the checks; the bound metrics listener, or None when told to stop while waiting for space."""
    state = config.station.state_dir
    if state.exists() and not state.is_dir():
        raise ConfigError(f"{config.path}: [station] state_dir: {state} is not a folder")
    check_state_dir(state)
    if not wait_for_space(config, notifier, stop, lang):
        return None
    listener = bind_metrics(config)
    try:
        check_control_socket(config)
        state.mkdir(parents=True, exist_ok=True)
    except BaseException:
        listener.close()
        raise
    return listener


def min_free_bytes(config: Config) -> int:
    """What the state folder needs free to start: the spool's remaining room and the margin."""
    held = 0
    for path in (config.station.state_dir / "spool").glob("*.payload"):
        try:
            held += path.stat().st_size
        except OSError:
            pass  # gone, or unreadable: the permission check has its say
    return max(config.spool.prefetch_bytes - held, 0) + MARGIN_BYTES


def check_state_dir(state: Path) -> None:
    """Raise OsFaultError when the state folder (or the folder it will be made in) or a file in it cannot
    be written."""
    fault = probe_path(state)
    if fault is not None and fault.kind is OsFaultKind.PERMISSION and not state.exists():
        fault = replace(fault, where=str(state), folder=str(state))  # never advise a chown of /var/lib
    fault = fault or probe_journal(state) or _unwritable_entry(state)
    if fault is not None:
        raise OsFaultError(fault)


def _unwritable_entry(state: Path) -> OsFault | None:
    if not state.is_dir():
        return None
    seen = 0
    for folder, dirs, files in os.walk(state):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            seen += 1
            if seen > _MAX_ENTRIES:
                return None
            if not os.access(path, os.W_OK, follow_symlinks=False):
                return OsFault(OsFaultKind.PERMISSION, str(path), folder=str(state))
    return None


def wait_for_space(config: Config, notifier: SystemdNotifier, stop: threading.Event, lang: str = "id") -> bool:
    """Return at once when there is space; otherwise say so once and look again every SPACE_RECHECK_S
    until there is (True) or ``stop`` is set (False). The service counts as started meanwhile: the wait
    is a state the station leaves by itself, and systemd's start timeout must not kill it."""
    state = config.station.state_dir
    need = min_free_bytes(config)
    fault = probe_path(state, min_free_bytes=need)
    if fault is None:
        return True
    if fault.kind is not OsFaultKind.NO_SPACE:
        raise OsFaultError(fault)
    line = f"{fault.line(lang)} ({_free_text(fault.where, need, lang)})"
    print(f"ktp-agent: {line}", flush=True, file=sys.stderr)
    log.warning("station.waiting_for_space", kind=fault.kind.value, where=fault.where, need_bytes=need,
                free_bytes=_free(fault.where))
    notifier.notify("READY=1", f"STATUS={line}")
    while not stop.wait(SPACE_RECHECK_S):
        notifier.notify("WATCHDOG=1")
        fault = probe_path(state, min_free_bytes=need)
        if fault is None:
            log.info("station.space_returned", where=str(state), free_bytes=_free(str(state)))
            notifier.notify("STATUS=starting")
            return True
        if fault.kind is not OsFaultKind.NO_SPACE:
            raise OsFaultError(fault)
    return False


def _free(folder: str) -> int:
    """Free bytes for this process where ``folder`` is (or will be made)."""
    path = Path(folder)
    while not path.exists() and path.parent != path:
        path = path.parent
    fs = os.statvfs(path)
    return fs.f_bavail * fs.f_frsize


def _free_text(folder: str, need: int, lang: str) -> str:
    mib = 1024 * 1024
    free = _free(folder) // mib
    if lang == "en":
        return f"needs {need // mib} MiB free, has {free} MiB"
    return f"perlu {need // mib} MiB kosong, ada {free} MiB"


def bind_metrics(config: Config) -> socket.socket:
    m = config.metrics
    try:
        return MetricsServer.bind(m.host, m.port)
    except OSError as exc:
        fault = classify(exc, f"{m.host}:{m.port} ([metrics] listen in {config.path})")
        if fault is not None and fault.kind is OsFaultKind.ADDRESS_IN_USE:
            raise OsFaultError(fault) from None
        raise ConfigError(f"{config.path}: [metrics] listen: cannot listen on {m.host}:{m.port}: "
                          f"{exc.strerror or exc}") from None


def check_control_socket(config: Config) -> None:
    path = socket_path(config.station.state_dir)
    try:
        server = ControlServer(path, {})
    except AgentError as exc:  # its path is longer than a unix socket's
        raise ConfigError(f"{config.path}: [station] state_dir: {exc}") from None
    if server.in_use():
        fault = OsFault(OsFaultKind.ADDRESS_IN_USE, f"{path} (another ktp-agent daemon serves this station)")
        raise OsFaultError(replace(fault, folder=str(config.station.state_dir)))

"""Opening the journal at start: integrity check, and quarantine of a damaged one.

A journal is called damaged only on proof: SQLite read it and found it
malformed (or not a database at all), or ``PRAGMA integrity_check`` failed.
Then it is moved aside with its WAL, and a marker file holds the station: it
prints nothing until a technician has looked and runs ``ktp-agent journal
release``. A fresh journal would forget which jobs were printed, so it is
never created silently.

A journal the station cannot write (owned by another user, on a read-only
or full file system) is not damaged: that is an ``OsFaultError`` with its one
line, and nothing is moved.
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import structlog

from .errors import JournalError
from .journal import Journal
from .os_faults import OsFault, OsFaultError, classify, probe_path

log = structlog.get_logger("ktp.journal")

MARKER = "JOURNAL-DAMAGED"
JOURNAL_FILE = "journal.sqlite3"  # in the station's state folder
_SUFFIXES = ("", "-wal", "-shm")
#: SQLite's own words for "this file was read and is not a sound database".
_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_HELD = "Printing is held until a technician runs `ktp-agent journal release --config FILE`."


def open_checked(state_dir: Path) -> Journal:
    """The station's journal, checked; raises JournalError when printing must not start (held as damaged,
    or a newer schema), OsFaultError when the machine stops the station from writing it."""
    path = state_dir / JOURNAL_FILE
    marker = state_dir / MARKER
    _raise_os_fault(probe_journal(state_dir))
    if marker.exists():
        raise JournalError(f"{marker.read_text().strip()} {_HELD}")
    try:
        journal = Journal(path)
    except JournalError as exc:
        _raise_os_fault(_fault_behind(exc, state_dir))
        if not _damage(exc):
            raise
        log.error("journal.unreadable", error=str(exc))
        return _hold(state_dir)
    try:
        healthy = journal.integrity_ok()
    except sqlite3.Error as exc:
        journal.close()
        _raise_os_fault(_fault_behind(exc, state_dir))
        if not _damage(exc):
            raise JournalError(f"{path}: cannot check the journal: {exc}") from None
        healthy = False
    if healthy:
        return journal
    journal.close()
    return _hold(state_dir)


def probe_journal(state_dir: Path) -> OsFault | None:
    """What stops this process writing the journal: its folder or any of its three files (the database,
    its WAL and shared-memory index, each with its own owner) on a read-only file system or not writable."""
    for suffix in _SUFFIXES:
        fault = probe_path(Path(str(state_dir / JOURNAL_FILE) + suffix))
        if fault is not None:
            return replace(fault, folder=str(state_dir))  # the advice gives the whole folder back
    return None


def _fault_behind(exc: BaseException, state_dir: Path) -> OsFault | None:
    """The machine's fault behind a failed open or check: SQLite's code when it names one (but a READONLY
    is asked of the files themselves: it stands for a file owned by another user as often as for a read-only
    file system), else what a fresh look at the files finds."""
    found = probe_journal(state_dir)
    cause = _sqlite_cause(exc)
    if found is None and cause is not None:
        found = classify(cause, str(state_dir / JOURNAL_FILE))
    return found


def _damage(exc: BaseException) -> bool:
    name = getattr(_sqlite_cause(exc), "sqlite_errorname", "") or ""
    return name.startswith(_DAMAGE)


def _sqlite_cause(exc: BaseException) -> sqlite3.Error | None:
    """The SQLite error itself, or the one a JournalError was raised from."""
    cause = exc if isinstance(exc, sqlite3.Error) else exc.__cause__ or exc.__context__
    return cause if isinstance(cause, sqlite3.Error) else None


def _raise_os_fault(fault: OsFault | None) -> None:
    if fault is not None:
        log.error("journal.cannot_write", kind=fault.kind.value, where=fault.where)
        raise OsFaultError(fault)


def _hold(state_dir: Path) -> Journal:
    """Move the damaged journal aside and leave the marker; always raises."""
    path = state_dir / JOURNAL_FILE
    try:
        moved = quarantine(path)
        message = (f"{path}: journal failed its integrity check on {time.strftime('%Y-%m-%d %H:%M:%S')}; "
                   f"moved to {moved}.")
        (state_dir / MARKER).write_text(message + "\n")
    except OSError as exc:  # nothing can be moved or marked there: say why, in the machine's words
        fault = classify(exc, str(state_dir))
        if fault is None:
            raise JournalError(f"{path}: journal failed its integrity check and cannot be moved aside: "
                               f"{exc.strerror or exc}") from None
        _raise_os_fault(fault)
    log.error("journal.damaged", moved_to=str(moved))
    raise JournalError(f"{message} {_HELD}")


def quarantine(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in _SUFFIXES:
        source = Path(str(path) + suffix)
        if source.exists():
            os.replace(source, Path(str(target) + suffix))
    return target


def release(state_dir: Path) -> bool:
    """A technician accepts a fresh journal; returns False when nothing was held."""
    marker = state_dir / MARKER
    if not marker.exists():
        return False
    marker.unlink()
    return True

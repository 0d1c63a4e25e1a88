"""Opening the journal at start: integrity check, and quarantine of a damaged one.

A journal that fails ``integrity_check`` (or cannot be opened as SQLite) is
moved aside with its WAL, and a marker file holds the station: it prints
nothing until a technician has looked and runs ``ktp-agent journal release``.
A fresh journal would forget which jobs were printed, so it is never created
silently.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import structlog

from .errors import JournalError
from .journal import Journal

log = structlog.get_logger("ktp.journal")

MARKER = "JOURNAL-DAMAGED"
JOURNAL_FILE = "journal.sqlite3"  # in the station's state folder


def open_checked(state_dir: Path) -> Journal:
    """The station's journal, checked; raises JournalError when printing must not start."""
    path = state_dir / JOURNAL_FILE
    marker = state_dir / MARKER
    if marker.exists():
        raise JournalError(f"{marker.read_text().strip()} Printing is held until a technician runs "
                           f"`ktp-agent journal release --config FILE`.")
    try:
        journal = Journal(path)
        healthy = journal.integrity_ok()
    except JournalError as exc:
        journal, healthy = None, False
        log.error("journal.unreadable", error=str(exc))
    if healthy:
        return journal
    if journal is not None:
        journal.close()
    moved = quarantine(path)
    message = f"{path}: journal failed its integrity check on {time.strftime('%Y-%m-%d %H:%M:%S')}; moved to {moved}."
    marker.write_text(message + "\n")
    log.error("journal.damaged", moved_to=str(moved))
    raise JournalError(message + " Printing is held until a technician runs "
                       "`ktp-agent journal release --config FILE`.")


def quarantine(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
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

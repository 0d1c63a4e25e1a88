"""The fault history in the journal: one row per fault episode of the printer or the reader.

An episode starts when a reason appears (a PWG keyword such as ``cover-open``,
or ``offline``) and ends when it is gone; a spoiled card is an episode that
starts and ends at once. The history survives restarts: an episode still open
when the daemon stopped is taken up again by the next start, which ends it
if the device no longer shows it. The same fault for the same job in the
same second is one episode (a jam is seen both as the failed print and as the
spoiled card). Bounded: the last ``FAULT_EPISODES_KEPT`` episodes are kept.
No citizen data: device, keyword, severity, job id and times.
"""
from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable

#: Episodes kept; older ones are deleted as new ones are written.
FAULT_EPISODES_KEPT = 500

FAULTS_TABLE = """CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    ended_at REAL,               -- NULL while the episode lasts
    device TEXT NOT NULL,        -- printer or reader
    keyword TEXT NOT NULL,       -- the PWG reason keyword, offline, or a spoiled card's reason
    severity TEXT NOT NULL,
    source TEXT NOT NULL,        -- printer (a reason it showed), offline, spoiled (a card to the reject box)
    job_id TEXT                  -- the job it struck, if any
)"""
#: One episode per device, keyword and job in one second (schema 7).
FAULTS_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS faults_episode ON faults"
                "(device, keyword, ifnull(job_id, ''), CAST(started_at AS INTEGER))")

_COLUMNS = "id, started_at, ended_at, device, keyword, severity, source, job_id"


@dataclass(frozen=True)
class FaultEvent:
    """One fault episode, as the status shows it."""

    at: float                      # when it started
    keyword: str
    severity: str
    source: str                    # "printer", "offline" or "spoiled"
    job_id: str | None = None
    device: str = "printer"
    ended_at: float | None = None  # None: it still holds


Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class FaultLog:
    """The journal's fault episodes: written through the journal's writer, read through its reader."""

    def __init__(self, write: Transaction, read: Transaction, kept: int = FAULT_EPISODES_KEPT) -> None:
        self._write, self._read, self._kept = write, read, kept

    def start(self, at: float, device: str, keyword: str, severity: str, source: str,
              job_id: str | None = None, ended: bool = False) -> int | None:
        """A new episode (already ended with ``ended``); its id, or None when the same device, keyword and
        job already have one that started in that second."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO faults (started_at, ended_at, device, keyword, severity, source, job_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, at if ended else None, device, keyword, severity, source, job_id))
            if not cursor.rowcount:
                return None
            db.execute("DELETE FROM faults WHERE id <= ?", (cursor.lastrowid - self._kept,))
            return cursor.lastrowid

    def end(self, episode: int, at: float) -> None:
        with self._write() as db:
            db.execute("UPDATE faults SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (at, episode))

    def open_episodes(self, device: str) -> dict[str, int]:
        """The episodes of ``device`` not yet ended, by keyword (the newest one of each)."""
        with self._read() as db:
            rows = db.execute("SELECT keyword, MAX(id) FROM faults WHERE device = ? AND ended_at IS NULL"
                              " GROUP BY keyword", (device,)).fetchall()
        return {keyword: episode for keyword, episode in rows}

    def recent(self, limit: int = 50) -> tuple[FaultEvent, ...]:
        """The last ``limit`` episodes, newest first."""
        with self._read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM faults ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return tuple(FaultEvent(at=started, keyword=keyword, severity=severity, source=source, job_id=job_id,
                                device=device, ended_at=ended)
                     for _, started, ended, device, keyword, severity, source, job_id in rows)

    def count(self) -> int:
        with self._read() as db:
            return db.execute("SELECT COUNT(*) FROM faults").fetchone()[0]

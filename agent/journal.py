"""The journal: the one owner of job state, in SQLite.

One writer connection (WAL, synchronous=FULL); every state transition is one
transaction; the intent to print is committed before the printer is told to
act. The poll cursor and the outbox of result reports live here too. The
journal keeps no personal data: job ids, states, blank UIDs and counters, times.

A job's blank is known by the printer's card counter: the blank fed after
``cards_before`` is number ``cards_before + 1`` (``blank_counter``). A chip
that answers a random UID (ISO/IEC 14443-3) is recorded as it answered and
marked random; its report then names the blank by counter only.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterator, Mapping

from .errors import JournalError
from .journal_faults import FaultLog
from .journal_tallies import NamedTallies
from .journal_records import ALLOWED, OUTCOMES, SELECT_JOBS, JobRecord, JobState, job_record
from .journal_schema import CONSUMED, SCHEMA_VERSION, upgrade
from .os_faults import OsFaultError, classify_at

__all__ = ["OUTCOMES", "SCHEMA_VERSION", "JobRecord", "JobState", "Journal", "JournalGauges", "PendingReport"]

#: The blank-stock forecast's rate is taken over this many past days.
FORECAST_WINDOW_DAYS = 7.0
_FORECAST_MAX_AGE_S = 60.0


@dataclass(frozen=True)
class JournalGauges:
    """What the journal shows at a glance; see ``Journal.gauges``."""
    counts: Mapping[JobState, int]
    outbox: int
    blanks_left: int | None  # None: stock never counted
    blanks_per_day: float


@dataclass(frozen=True)
class PendingReport:
    job_id: str
    body: dict


class Journal:
    """The station's durable record. Thread-safe: one writer connection and its lock.

    Gauges and pages read through a second, read-only connection with a lock
    of its own: under WAL a reader sees the last commit and never waits for
    a writer's fsync, so a scrape is not held up by a card being journalled.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._read_db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._read_db.execute("PRAGMA busy_timeout=5000")
            self._read_db.execute("PRAGMA query_only=ON")
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: cannot open journal: {exc}") from None
        self._read_lock = threading.Lock()
        #: The fault episodes of the printer and the reader (``agent.journal_faults``).
        self.faults = FaultLog(self._tx, self._reading)
        #: Counters of no job: the link's bytes a quota month (``agent.journal_tallies``).
        self.tallies = NamedTallies(self._tx, self._reading)
        self._gauges: tuple[int, float, JournalGauges] | None = None

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        with self._tx() as db:
            upgrade(db, self.path)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; one the machine refuses (no space, read-only, no permission) is rolled back
        and raises ``OsFaultError``: the journal is as before, never damaged."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._roll_back()
                    raise
            except sqlite3.Error as exc:
                fault = classify_at(exc, self.path)
                if fault is None:
                    raise
                raise OsFaultError(fault) from exc

    def _roll_back(self) -> None:
        """SQLite may have rolled back already (a full disk, an I/O error): only an open transaction is."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def touch(self) -> None:
        """A small commit; ``OsFaultError`` while the journal cannot be written (the storage probe)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('written_at', ?)", (repr(self._clock()),))

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            yield self._read_db

    def close(self) -> None:
        with self._read_lock:
            self._read_db.close()
        with self._lock:
            self._db.close()

    def integrity_ok(self) -> bool:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- poll cursor -------------------------------------------------------
    def cursor(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='cursor'").fetchone()
        return row[0] if row else None

    def set_cursor(self, cursor: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('cursor', ?)", (cursor,))

    # -- intake ------------------------------------------------------------
    def knows(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job_id,)).fetchone() is not None

    def seq_holder(self, seq: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT job_id FROM jobs WHERE seq=?", (seq,)).fetchone()
        return row[0] if row else None

    def highest_seq(self) -> int | None:
        with self._lock:
            return self._db.execute("SELECT MAX(seq) FROM jobs").fetchone()[0]

    def receive(self, job_id: str, manifest: bytes, signature: bytes) -> None:
        now = self._clock()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (job_id, state, manifest, signature, received_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, JobState.RECEIVED.value, manifest, signature, now, now),
            )

    def mark_verified(self, job_id: str, seq: int, payload_size: int, payload_sha256: str, expires_at: str) -> None:
        self._move(job_id, JobState.VERIFIED, seq=seq, payload_size=payload_size,
                   payload_sha256=payload_sha256, expires_at=expires_at)

    def mark_downloaded(self, job_id: str) -> None:
        self._move(job_id, JobState.DOWNLOADED)

    # -- printing ----------------------------------------------------------
    def record_intent(self, job_id: str, cards_before: int, panels_before: int | None = None) -> None:
        """Commit the intent to print, with the printer's counters, before any blank moves."""
        with self._tx() as db:
            attempts = db.execute("SELECT attempts FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            self._move_in(db, job_id, JobState.PRINTING, cards_before=cards_before,
                          panels_before=panels_before, attempts=(attempts[0] if attempts else 0) + 1)

    def release_intent(self, job_id: str) -> None:
        """No blank left the feeder (counter unchanged), or the one that did waits untouched
        at the contactless station for the next attempt: the job waits to print again."""
        self._move(job_id, JobState.DOWNLOADED, cards_before=None, panels_before=None, blank_serial=None,
                   blank_uid_random=0, blank_counter=None)

    def mark_in_doubt(self, job_id: str, why: str) -> None:
        """Physical evidence cannot tell printed from spoiled: a technician decides."""
        with self._tx() as db:
            self._move_in(db, job_id, JobState.IN_DOUBT, reason=why, blank_counter=_blank_counter(db, job_id))

    def resolve_in_doubt(self, job_id: str, outcome: JobState, station_id: str) -> dict:
        """A technician's decision on an in-doubt job, after looking at the card."""
        if outcome not in (JobState.PRINTED, JobState.SPOILED):
            raise JournalError(f"job {job_id}: an in-doubt job resolves to printed or spoiled")
        record = self.get(job_id)
        if record is None or record.state is not JobState.IN_DOUBT:
            state = record.state.value if record else "not in the journal"
            raise JournalError(f"job {job_id}: is {state}, not in-doubt")
        return self.finish(job_id, outcome, station_id, reason="technician")

    def record_blank(self, job_id: str, blank_serial: str | None, uid_is_random: bool = False) -> None:
        """The blank in the printer, its counter and its chip UID, before the print command."""
        with self._tx() as db:
            self._require_state(db, job_id, (JobState.PRINTING,))
            db.execute("UPDATE jobs SET blank_serial=?, blank_uid_random=?, blank_counter=cards_before + 1,"
                       " updated_at=? WHERE job_id=?", (blank_serial, int(uid_is_random), self._clock(), job_id))

    def blank_owner(self, blank_counter: int) -> str | None:
        """The job whose blank is the printer's card ``blank_counter`` (consumed, in doubt or
        being printed), or None: a card nobody has counted yet."""
        with self._lock:
            row = self._db.execute("SELECT job_id FROM jobs WHERE blank_counter=?", (blank_counter,)).fetchone()
        return row[0] if row else None

    def finish(self, job_id: str, outcome: JobState, station_id: str, reason: str | None = None,
               finished_at: str | None = None) -> dict:
        """Move to an outcome and queue its report, in one transaction."""
        if outcome not in OUTCOMES:
            raise JournalError(f"job {job_id}: {outcome.value} is not an outcome")
        finished_at = finished_at or _rfc3339(self._clock())
        with self._tx() as db:
            row = db.execute("SELECT blank_serial, blank_uid_random, attempts FROM jobs WHERE job_id=?",
                             (job_id,)).fetchone()
            if row is None:
                raise JournalError(f"job {job_id}: not in the journal")
            consumed = outcome in (JobState.PRINTED, JobState.SPOILED)
            counter = _blank_counter(db, job_id) if consumed else None
            self._move_in(db, job_id, outcome, outcome=outcome.value, reason=reason, finished_at=finished_at,
                          blank_counter=counter)
            body = {"station_id": station_id, "status": outcome.value,
                    "blank_serial": None if row[1] else row[0],  # a random UID names no blank
                    "finished_at": finished_at, "attempts": max(row[2], 1), "reason": reason}
            if counter is not None:
                body["blank_counter"] = counter
            db.execute("INSERT INTO outbox (job_id, body, created_at) VALUES (?, ?, ?)",
                       (job_id, json.dumps(body, sort_keys=True), self._clock()))
        return body

    # -- queries for the workers -------------------------------------------
    def jobs_in(self, *states: JobState, limit: int = 100) -> list[JobRecord]:
        marks = ",".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                f"{SELECT_JOBS} WHERE state IN ({marks}) ORDER BY seq IS NULL, seq, received_at LIMIT ?",
                (*[s.value for s in states], limit),
            ).fetchall()
        return [job_record(r) for r in rows]

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(f"{SELECT_JOBS} WHERE job_id=?", (job_id,)).fetchone()
        return job_record(row) if row else None

    def gauges(self) -> JournalGauges:
        """Jobs by state, reports waiting and blank stock, read together.

        Kept until any connection (this process's writer, or a technician's
        command in another process) commits, as SQLite's ``data_version``
        tells, so a scrape of an idle station costs one pragma, not a query
        per gauge. The stock forecast depends on the time, so it is read anew
        at least every ``_FORECAST_MAX_AGE_S``.
        """
        with self._reading() as db:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            now = self._clock()
            if self._gauges is not None:
                seen, read_at, gauges = self._gauges
                if seen == version and 0 <= now - read_at < _FORECAST_MAX_AGE_S:
                    return gauges
            db.execute("BEGIN")
            try:
                gauges = self._read_gauges(db, now)
            finally:
                db.execute("COMMIT")
            self._gauges = (version, now, gauges)
            return gauges

    def _read_gauges(self, db: sqlite3.Connection, now: float) -> JournalGauges:
        counts = _state_counts(db)
        outbox = db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        loaded = db.execute("SELECT SUM(blanks) FROM stock").fetchone()[0]
        left, per_day = None, 0.0
        if loaded is not None:
            row = db.execute("SELECT n FROM tallies WHERE name='blanks_consumed'").fetchone()
            since = _rfc3339(now - FORECAST_WINDOW_DAYS * 86400)
            recent = db.execute(f"SELECT COUNT(*) FROM jobs WHERE {CONSUMED} AND finished_at >= ?",
                                (since,)).fetchone()[0]
            left, per_day = loaded - (row[0] if row else 0), recent / FORECAST_WINDOW_DAYS
        return JournalGauges(MappingProxyType(counts), outbox, left, per_day)

    def counts_by_state(self) -> dict[JobState, int]:
        """Jobs by state: one read of the trigger-kept counts (the workers ask often; the
        cached ``gauges`` would re-read the stock forecast after every commit)."""
        with self._reading() as db:
            return _state_counts(db)

    def finished_since(self, since: float) -> list[tuple[str, str]]:
        """(outcome, finished_at) of each card printed or spoiled since ``since`` (unix time)."""
        with self._reading() as db:
            return db.execute("SELECT outcome, finished_at FROM jobs WHERE outcome IN ('printed', 'spoiled')"
                              " AND finished_at >= ?", (_rfc3339(since),)).fetchall()

    def spoiled_and_in_doubt(self, limit: int) -> tuple[list[tuple[str, str | None, str]], list[tuple[str, str]]]:
        """The last ``limit`` spoiled cards (job id, reason, finished_at), and the jobs in doubt (job id, since)."""
        with self._reading() as db:
            spoiled = db.execute("SELECT job_id, reason, finished_at FROM jobs WHERE outcome='spoiled'"
                                 " ORDER BY finished_at DESC LIMIT ?", (limit,)).fetchall()
            in_doubt = db.execute("SELECT job_id, updated_at FROM jobs WHERE state=?",
                                  (JobState.IN_DOUBT.value,)).fetchall()
        return spoiled, in_doubt

    def outcome_counts(self) -> dict[str, int]:
        """Finished jobs by outcome (printed, spoiled, rejected, expired), reported or not."""
        with self._lock:
            rows = self._db.execute(
                "SELECT outcome, COUNT(*) FROM jobs WHERE outcome IS NOT NULL GROUP BY outcome").fetchall()
        counts = {s.value: 0 for s in OUTCOMES}
        counts.update(dict(rows))
        return counts

    # -- blank stock ----------------------------------------------------------
    def load_blanks(self, count: int, note: str | None = None) -> None:
        """A technician loaded ``count`` blanks (negative to correct a count)."""
        with self._tx() as db:
            db.execute("INSERT INTO stock (at, blanks, note) VALUES (?, ?, ?)", (self._clock(), count, note))

    def blank_stock(self) -> tuple[int | None, float]:
        """(blanks left, blanks consumed per day over the forecast window); None when never counted."""
        gauges = self.gauges()
        return gauges.blanks_left, gauges.blanks_per_day

    # -- outbox --------------------------------------------------------------
    def pending_reports(self, limit: int = 50) -> list[PendingReport]:
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, body FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [PendingReport(job_id, json.loads(body)) for job_id, body in rows]

    def outbox_depth(self) -> int:
        return self.gauges().outbox

    def mark_reported(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET sent_at=?, tries=tries+1 WHERE job_id=?", (self._clock(), job_id))
            self._move_in(db, job_id, JobState.REPORTED)

    def note_report_try(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET tries=tries+1 WHERE job_id=?", (job_id,))

    # -- internals -----------------------------------------------------------
    def _move(self, job_id: str, to: JobState, **fields: object) -> None:
        with self._tx() as db:
            self._move_in(db, job_id, to, **fields)

    def _move_in(self, db: sqlite3.Connection, job_id: str, to: JobState, **fields: object) -> None:
        allowed_from = tuple(s for s, targets in ALLOWED.items() if to in targets)
        self._require_state(db, job_id, allowed_from)
        columns = ", ".join(f"{k}=?" for k in fields)
        sets = f"state=?, updated_at=?{', ' + columns if columns else ''}"
        db.execute(f"UPDATE jobs SET {sets} WHERE job_id=?",
                   (to.value, self._clock(), *fields.values(), job_id))

    @staticmethod
    def _require_state(db: sqlite3.Connection, job_id: str, allowed: tuple[JobState, ...]) -> None:
        row = db.execute("SELECT state FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            raise JournalError(f"job {job_id}: not in the journal")
        if JobState(row[0]) not in allowed:
            names = "|".join(s.value for s in allowed)
            raise JournalError(f"job {job_id}: is {row[0]}, expected {names}")


def _blank_counter(db: sqlite3.Connection, job_id: str) -> int | None:
    """The printer's card counter of the blank this job took: the one fed after its intent."""
    row = db.execute("SELECT cards_before FROM jobs WHERE job_id=?", (job_id,)).fetchone()
    return row[0] + 1 if row is not None and row[0] is not None else None


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _state_counts(db: sqlite3.Connection) -> dict[JobState, int]:
    counts = {s: 0 for s in JobState}
    counts.update({JobState(state): n for state, n in db.execute("SELECT state, n FROM state_counts")})
    return counts

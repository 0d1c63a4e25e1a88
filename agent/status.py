"""The station's status as one JSON-able value, for the CLI, the control socket and the status page.

``gather`` only reads: the journal's counts, the printer snapshot the print
worker publishes, the link's last contact, the fault history. Cards per hour
and the spoiled cards come from a read-only connection to the journal file
(WAL lets a reader in beside the one writer). Nothing here holds citizen
data: job ids, states, counters, reason keywords, times.
"""
from __future__ import annotations

import calendar
import sqlite3
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from drivers.errors import StateReason
from drivers.interfaces import PrinterStatus

from .journal import JobState, Journal

#: No exchange with the job server for this long: the link is shown as down.
LINK_STALE_S = 600.0
FAULT_HISTORY = 50


@dataclass(frozen=True)
class FaultEvent:
    at: float
    keyword: str
    severity: str
    source: str           # "printer" (a reason appeared), "offline", "spoiled" (a card went to the reject box)
    job_id: str | None = None


class FaultHistory:
    """The last ``size`` faults, in memory; written by the print worker, read by anyone."""

    def __init__(self, size: int = FAULT_HISTORY, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._events: deque[FaultEvent] = deque(maxlen=size)
        self._active: set[StateReason] = set()
        self._clock = clock

    def observe(self, reasons: Iterable[StateReason]) -> None:
        """The printer's current reasons: each one that was not active before is recorded once."""
        now = set(reasons)
        with self._lock:
            for reason in sorted(now - self._active):
                self._events.append(FaultEvent(self._clock(), reason.keyword, reason.severity.value, "printer"))
            self._active = now

    def fault(self, reason: StateReason, job_id: str | None = None) -> None:
        """An operation failed with ``reason`` (a NACK); a later status showing it is not a new fault."""
        with self._lock:
            if reason not in self._active:
                self._events.append(FaultEvent(self._clock(), reason.keyword, reason.severity.value,
                                               "printer", job_id))
            self._active.add(reason)

    def offline(self) -> None:
        with self._lock:
            self._events.append(FaultEvent(self._clock(), "offline", "error", "offline"))
            self._active = set()

    def spoiled(self, reason: str, job_id: str) -> None:
        with self._lock:
            self._events.append(FaultEvent(self._clock(), reason, "error", "spoiled", job_id))

    def recent(self) -> list[dict]:
        with self._lock:
            return [asdict(e) for e in reversed(self._events)]


# -- the snapshot ---------------------------------------------------------------

def printer_view(online: bool, reasons: Iterable[StateReason], status: PrinterStatus | None) -> dict:
    view: dict = {"online": online,
                  "reasons": [{"keyword": r.keyword, "severity": r.severity.value} for r in reasons]}
    if not online:
        view["reasons"].insert(0, {"keyword": "offline", "severity": "error"})
    if status is not None:
        view.update(cards_inserted=status.cards_inserted, panels_printed=status.panels_printed,
                    ribbon_type=status.ribbon_type, ribbon_remaining=status.ribbon_remaining,
                    card_position=status.card_position.name.lower(), cover=status.detail.get("cover"))
    return view


def station_state(printer: dict, power: dict | None = None) -> str:
    """``ready``, ``stopped`` (an error reason holds the queue), ``offline`` or ``held-for-power``."""
    if not printer["online"]:
        return "offline"
    if any(r["severity"] == "error" for r in printer["reasons"]):
        return "stopped"
    if power is not None and power["held"]:
        return "held-for-power"
    return "ready"


def gather(station_id: str, journal: Journal, printer: dict, *, reader_online: bool | None,
           last_contact: float | None, faults: list[dict], daemon: bool,
           now: float | None = None, power: dict | None = None) -> dict:
    """Everything ``ktp-agent status`` and the status page show."""
    now = time.time() if now is None else now
    counts = journal.counts_by_state()
    left, per_day = journal.blank_stock()
    journal_file = journal.path
    return {
        "station_id": station_id,
        "at": now,
        "daemon": daemon,
        "state": station_state(printer, power),
        "queue": {s.value: n for s, n in counts.items()},
        "outbox": journal.outbox_depth(),
        "stock": {"blanks_left": left, "per_day": round(per_day, 2),
                  "days_left": round(left / per_day, 1) if left is not None and per_day > 0 else None},
        "printer": printer,
        "reader": {"online": reader_online},
        "link": link_view(last_contact, now),
        "faults": faults,
        "spoiled": recent_spoiled(journal_file),
        "today": cards_per_hour(journal_file, now),
        "power": power,
    }


def link_view(last_contact: float | None, now: float) -> dict:
    if not last_contact:
        return {"state": "never", "last_contact": None, "age_s": None}
    age = max(0.0, now - last_contact)
    return {"state": "ok" if age < LINK_STALE_S else "down", "last_contact": last_contact,
            "age_s": round(age, 1)}


# -- read-only journal queries ----------------------------------------------------

def _read_only(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _local_midnight(now: float) -> float:
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _parse_utc(text: str | None) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def cards_per_hour(path: Path, now: float) -> dict:
    """Today's printed and spoiled cards per local hour (24 buckets each)."""
    printed, spoiled = [0] * 24, [0] * 24
    db = _read_only(path)
    if db is not None:
        try:
            rows = db.execute("SELECT outcome, finished_at FROM jobs WHERE outcome IN ('printed', 'spoiled')"
                              " AND finished_at >= ?", (_utc(_local_midnight(now)),)).fetchall()
        finally:
            db.close()
        for outcome, finished in rows:
            at = _parse_utc(finished)
            if at is None:
                continue
            hour = time.localtime(at).tm_hour
            (printed if outcome == "printed" else spoiled)[hour] += 1
    return {"date": time.strftime("%Y-%m-%d", time.localtime(now)), "printed": printed, "spoiled": spoiled}


def recent_spoiled(path: Path, limit: int = 10) -> list[dict]:
    """The last spoiled cards with their reason (the journal's durable fault record)."""
    db = _read_only(path)
    if db is None:
        return []
    try:
        rows = db.execute("SELECT job_id, reason, finished_at FROM jobs WHERE outcome='spoiled'"
                          " ORDER BY finished_at DESC LIMIT ?", (limit,)).fetchall()
        in_doubt = db.execute("SELECT job_id, reason, updated_at FROM jobs WHERE state=?",
                              (JobState.IN_DOUBT.value,)).fetchall()
    finally:
        db.close()
    out = [{"job_id": j, "keyword": "in-doubt", "at": at} for j, _, at in in_doubt]
    out += [{"job_id": j, "keyword": reason or "unknown", "at": _parse_utc(f)} for j, reason, f in rows]
    return out


def journal_statistics(journal: Journal) -> dict:
    """For the help-desk bundle: counts and health, no job content."""
    return {
        "schema_path": str(journal.path),
        "size_bytes": journal.path.stat().st_size if journal.path.exists() else 0,
        "integrity_ok": journal.integrity_ok(),
        "jobs_by_state": {s.value: n for s, n in journal.counts_by_state().items()},
        "outcomes": journal.outcome_counts(),
        "outbox_depth": journal.outbox_depth(),
        "blank_stock": list(journal.blank_stock()),
    }


def gauge_value(gauge: object) -> float | None:
    """A label-less gauge's value; None while it was never set (0)."""
    samples = [s for metric in gauge.collect() for s in metric.samples]  # type: ignore[attr-defined]
    return samples[0].value if samples and samples[0].value > 0 else None

"""What the print worker knows of the printer: its last status, and the fault episodes it records.

The print worker, the devices' one owner, writes both; anyone reads them (the
station's status, the metrics at scrape time). The snapshot is in memory; the
fault episodes are in the journal (``agent.journal_faults``), so the history
survives a restart. No citizen data: reason keywords, job ids and times.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from drivers.errors import StateReason
from drivers.interfaces import PrinterStatus

from ..journal_faults import FaultEvent, FaultLog

__all__ = ["FaultEvent", "FaultHistory", "PrinterSnapshot"]

#: The device a spoiled card's reason belongs to, when it is not the printer's.
_READER_REASONS = frozenset({"chip-unreadable"})


class FaultHistory:
    """Turns what the devices show into episodes in the journal: one when a reason appears, ended when it
    is gone. Written by the print worker only; ``events`` is for anyone."""

    def __init__(self, log: FaultLog, clock: Callable[[], float] = time.time) -> None:
        self._log, self._clock = log, clock
        self._lock = threading.Lock()
        # Episodes still open, by keyword, taken up from the journal (they may have outlived a restart).
        self._printer: dict[str, int | None] = dict(log.open_episodes("printer"))
        self._reader: dict[str, int | None] = dict(log.open_episodes("reader"))

    def observe(self, reasons: Iterable[StateReason]) -> None:
        """The printer answered with these reasons: each new one starts an episode, each gone one ends."""
        now = {r.keyword: r for r in reasons}
        with self._lock:
            at = self._clock()
            for keyword in sorted(set(self._printer) - set(now)):
                self._end(self._printer.pop(keyword), at)
            for keyword in sorted(set(now) - set(self._printer)):
                reason = now[keyword]
                self._printer[keyword] = self._log.start(at, "printer", keyword, reason.severity.value, "printer")

    def fault(self, reason: StateReason, job_id: str | None = None) -> bool:
        """An operation failed with ``reason``; a later status showing it is not a new episode.
        True when this started one."""
        with self._lock:
            if reason.keyword in self._printer:
                return False
            self._printer[reason.keyword] = self._log.start(self._clock(), "printer", reason.keyword,
                                                            reason.severity.value, "printer", job_id)
            return True

    def offline(self) -> None:
        """The printer stopped answering: what it showed ends, an ``offline`` episode starts."""
        with self._lock:
            at = self._clock()
            for keyword in sorted(set(self._printer) - {"offline"}):
                self._end(self._printer.pop(keyword), at)
            if "offline" not in self._printer:
                self._printer["offline"] = self._log.start(at, "printer", "offline", "error", "offline")

    def reader_online(self, online: bool) -> None:
        """The reader answers again (ends its ``offline`` episode) or does not (starts one)."""
        with self._lock:
            at = self._clock()
            if online and "offline" in self._reader:
                self._end(self._reader.pop("offline"), at)
            elif not online and "offline" not in self._reader:
                self._reader["offline"] = self._log.start(at, "reader", "offline", "error", "offline")

    def spoiled(self, reason: str, job_id: str) -> None:
        """A card went to the reject box for ``reason``: an episode that ends as it starts."""
        device = "reader" if reason in _READER_REASONS else "printer"
        with self._lock:
            self._log.start(self._clock(), device, reason, "error", "spoiled", job_id, ended=True)

    def events(self, limit: int = 50) -> tuple[FaultEvent, ...]:
        """The last episodes, newest first."""
        return self._log.recent(limit)

    def _end(self, episode: int | None, at: float) -> None:
        if episode is not None:
            self._log.end(episode, at)


class PrinterSnapshot:
    """The last known printer state, published by the printer's owner thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.online = False
        self.reasons: tuple[StateReason, ...] = ()
        self.status: PrinterStatus | None = None

    def publish(self, online: bool, reasons: Iterable[StateReason], status: PrinterStatus | None = None) -> None:
        with self._lock:
            self.online = online
            self.reasons = tuple(reasons)
            if status is not None:
                self.status = status

    def read(self) -> tuple[bool, tuple[StateReason, ...], PrinterStatus | None]:
        with self._lock:
            return self.online, self.reasons, self.status

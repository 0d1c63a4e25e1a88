"""What the print worker knows of the printer: its last status and the faults it saw.

The print worker, the devices' one owner, writes both; anyone reads them (the
station's status, the metrics at scrape time). In memory, bounded, with no
citizen data: reason keywords, job ids and times.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

from drivers.errors import StateReason
from drivers.interfaces import PrinterStatus

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

    def events(self) -> tuple[FaultEvent, ...]:
        """Newest first."""
        with self._lock:
            return tuple(reversed(self._events))

    def recent(self) -> list[dict]:
        """``events()`` as JSON."""
        return [asdict(e) for e in self.events()]



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

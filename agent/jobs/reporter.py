"""The reporter: drains the outbox of result reports, in order, idempotently.

A report leaves the outbox only when the server holds it (200, or 409 when
the server keeps an earlier, different report: ours stays in the journal).
Once a report is confirmed the job's spooled ciphertext is deleted.
"""
from __future__ import annotations

import threading
import time

import structlog

from ..crashpoints import CrashPoints
from ..journal import Journal
from ..observe import StationMetrics
from ..storage import StorageState
from .link import ServerLink
from .linkloop import LinkLoop
from .spool import Spool
from .tally import LinkTally

log = structlog.get_logger("ktp.reporter")


class Reporter:
    def __init__(self, link: ServerLink, journal: Journal, spool: Spool, metrics: StationMetrics,
                 stop: threading.Event, crash: CrashPoints | None = None, tally: LinkTally | None = None,
                 retry: tuple[float, float] = (1.0, 300.0), storage: StorageState | None = None) -> None:
        """``tally``: the link's, noted at each report the server holds; ``retry``: first and longest
        back-off (seconds) while the link is down; ``storage``: while it holds, reports wait (their
        sending could not be journalled)."""
        self._crash = crash or CrashPoints()
        self.tally = tally or LinkTally()
        self.link, self.journal, self.spool, self.metrics = link, journal, spool, metrics
        self._stop = stop
        self._loop = LinkLoop(metrics, stop, *retry)
        self._storage = storage

    def wake(self) -> None:
        self._loop.wake()

    def run(self) -> None:
        self._loop.run(self._round if self._storage is None else self._storage.guarded(self._round))

    def _round(self) -> float:
        return 0.0 if self.drain() else 5.0

    def drain(self) -> int:
        """Send every queued report, oldest first; returns how many were confirmed."""
        sent = 0
        for report in self.journal.pending_reports():
            started = time.monotonic()
            self.journal.note_report_try(report.job_id)
            verdict = self.link.report(report.job_id, report.body)
            self._crash.hit("report.sent")
            self.tally.contact()
            self.journal.mark_reported(report.job_id)
            self.spool.remove(report.job_id)
            self.metrics.stage_seconds.labels("report").observe(time.monotonic() - started)
            if verdict == "conflict":
                log.warning("report.conflict", job_id=report.job_id, status=report.body["status"])
            else:
                log.info("report.sent", job_id=report.job_id, status=report.body["status"])
            sent += 1
            if self._stop.is_set():
                break
        return sent

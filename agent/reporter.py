"""The reporter: drains the outbox of result reports, in order, idempotently.

A report leaves the outbox only when the server holds it (200, or 409 when
the server keeps an earlier, different report: ours stays in the journal).
Once a report is confirmed the job's spooled ciphertext is deleted.
"""
from __future__ import annotations

import threading
import time

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from .crashpoints import CrashPoints
from .errors import LinkError
from .journal import Journal
from .link import RetryLaterError, ServerLink
from .metrics import StationMetrics
from .spool import Spool

log = structlog.get_logger("ktp.reporter")


class Reporter:
    def __init__(self, link: ServerLink, journal: Journal, spool: Spool, metrics: StationMetrics,
                 stop: threading.Event, crash: CrashPoints | None = None) -> None:
        self._crash = crash or CrashPoints()
        self.link, self.journal, self.spool, self.metrics = link, journal, spool, metrics
        self._stop = stop
        self._wake = threading.Event()
        self._expo = wait_exponential_jitter(initial=1, max=300, jitter=2)

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        retrying = Retrying(retry=retry_if_exception_type(LinkError), wait=self._wait,
                            stop=lambda state: self._stop.is_set(), sleep=self._sleep, reraise=True)
        while not self._stop.is_set():
            try:
                for attempt in retrying:
                    with attempt:
                        sent = self.drain()
            except LinkError:
                break  # only reached when stopping
            if not sent:
                self._sleep(5.0)

    def drain(self) -> int:
        """Send every queued report, oldest first; returns how many were confirmed."""
        sent = 0
        for report in self.journal.pending_reports():
            started = time.monotonic()
            self.journal.note_report_try(report.job_id)
            verdict = self.link.report(report.job_id, report.body)
            self._crash.hit("report.sent")
            self.metrics.last_contact.set_to_current_time()
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

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryLaterError):
            return exc.retry_after
        self.metrics.link_errors.inc()
        log.warning("link.error", error=str(exc), attempt=state.attempt_number)
        return self._expo(state)

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

"""The fetcher: polls for jobs and downloads payloads ahead of the printer.

It keeps up to ``spool.prefetch_jobs`` payloads (and ``prefetch_bytes``)
downloaded, so printing goes on from the spool through a link outage. Link
failures back off exponentially with jitter (tenacity); a server's
``Retry-After`` is honoured as given.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from .config import Config
from .errors import LinkError
from .intake import Intake
from .journal import JobState, Journal
from .link import RetryLaterError, ServerLink
from .manifest import parse_manifest
from .metrics import StationMetrics
from .spool import Spool
from .transfer import PayloadCorruptError, PayloadDownload

log = structlog.get_logger("ktp.fetcher")

#: How often a payload whose SHA-256 never matches is fetched again before rejection.
MAX_CORRUPT_FETCHES = 3


class Fetcher:
    def __init__(self, config: Config, link: ServerLink, journal: Journal, intake: Intake,
                 spool: Spool, metrics: StationMetrics, stop: threading.Event,
                 job_ready: Callable[[], None]) -> None:
        self.config, self.link, self.journal, self.intake = config, link, journal, intake
        self.spool, self.metrics, self._stop = spool, metrics, stop
        self._job_ready = job_ready
        self._wake = threading.Event()
        self._next_poll = 0.0
        self._corrupt: dict[str, int] = {}
        self._expo = wait_exponential_jitter(initial=1, max=300, jitter=2)

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(LinkError),
            wait=self._wait,
            stop=lambda state: self._stop.is_set(),
            sleep=self._sleep,
            reraise=True,
        )
        while not self._stop.is_set():
            try:
                for attempt in retrying:
                    with attempt:
                        delay = self.cycle()
            except LinkError:
                break  # only reached when stopping
            self._sleep(delay)

    def cycle(self) -> float:
        """One round of polling and downloading; returns seconds until the next round."""
        if time.monotonic() >= self._next_poll and self._spool_has_room():
            self._poll()
        more = self._download_some()
        return 0.0 if more else max(0.05, min(self._next_poll - time.monotonic(), 5.0))

    def _poll(self) -> None:
        started = time.monotonic()
        result = self.link.poll(self.journal.cursor(), self.config.server.poll_limit)
        self.metrics.last_contact.set_to_current_time()
        new = self.intake.accept_all(result.entries, datetime.now(timezone.utc))
        if result.next_cursor:
            self.journal.set_cursor(result.next_cursor)
        self.metrics.stage_seconds.labels("poll").observe(time.monotonic() - started)
        full_page = len(result.entries) >= self.config.server.poll_limit
        self._next_poll = time.monotonic() + (0 if full_page else result.poll_after_s)
        if new:
            log.info("poll.jobs", new=new, cursor_moved=bool(result.next_cursor))

    def _spool_has_room(self) -> bool:
        counts = self.journal.counts_by_state()
        waiting = counts[JobState.VERIFIED] + counts[JobState.DOWNLOADED] + counts[JobState.RECEIVED]
        return waiting < self.config.spool.prefetch_jobs

    def _download_some(self) -> bool:
        counts = self.journal.counts_by_state()
        if counts[JobState.DOWNLOADED] >= self.config.spool.prefetch_jobs:
            return False
        if self.spool.bytes_held() >= self.config.spool.prefetch_bytes:
            return False
        pending = self.journal.jobs_in(JobState.VERIFIED, limit=1)
        if not pending:
            return False
        self._download(pending[0].job_id, pending[0].manifest)
        return True

    def _download(self, job_id: str, raw_manifest: bytes) -> None:
        manifest = parse_manifest(raw_manifest)
        if manifest.expires_at <= datetime.now(timezone.utc):
            self.journal.finish(job_id, JobState.EXPIRED, self.config.station.id, reason="expired")
            log.warning("job.expired", job_id=job_id)
            return
        started = time.monotonic()
        download = PayloadDownload(self.link, self.spool.directory, job_id, manifest.payload,
                                   count_bytes=self.metrics.count_bytes, on_resume=self._resumed(job_id))
        try:
            download.run()
        except PayloadCorruptError:
            self._corrupt[job_id] = tries = self._corrupt.get(job_id, 0) + 1
            log.warning("payload.corrupt", job_id=job_id, fetches=tries)
            if tries >= MAX_CORRUPT_FETCHES:
                download.discard()
                self.journal.finish(job_id, JobState.REJECTED, self.config.station.id, reason="bad-payload")
                self.metrics.count_rejection("bad-payload")
            return
        self.metrics.last_contact.set_to_current_time()
        self.metrics.stage_seconds.labels("download").observe(time.monotonic() - started)
        self.journal.mark_downloaded(job_id)
        log.info("payload.downloaded", job_id=job_id, bytes=manifest.payload.size)
        self._job_ready()

    def _resumed(self, job_id: str) -> Callable[[int], None]:
        def note(offset: int) -> None:
            self.metrics.resumes.inc()
            log.info("payload.resumed", job_id=job_id, offset=offset)
        return note

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

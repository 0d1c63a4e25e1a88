"""The fetcher: polls for jobs and downloads payloads ahead of the printer.

It keeps up to ``spool.prefetch_jobs`` payloads (and ``prefetch_bytes``)
downloaded, so printing goes on from the spool through a link outage.
``transfer.parallel_downloads`` workers each fetch one payload at a time, so
one fills the link while another recovers from a lost packet or waits for its
first byte; the first also polls, and wakes the others when a poll brings jobs.

Retry policy, in the order it applies:
- a download attempt that broke after adding bytes (a reset, a short body, a
  stall after progress) is resumed at once: the link works, it is only
  flaky, and waiting would waste a metered link's time;
- a failure that made no progress backs off exponentially with jitter
  (tenacity), up to ``transfer.retry_max_seconds``;
- a server's ``Retry-After`` is honoured as given;
- a whole payload whose SHA-256 (or size) is wrong is fetched again, at most
  ``transfer.max_corrupt_fetches`` times in all (counted on disk), then the
  job is rejected ``bad-payload``; so is a payload that made no progress for
  ``transfer.give_up_days`` while the server kept answering polls.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Callable

import structlog

from ..config import Config
from ..errors import LinkError
from ..journal import JobRecord, JobState, Journal
from ..observe import StationMetrics
from ..storage import StorageState
from .intake import Intake
from .link import ServerLink
from .linkloop import LinkLoop
from .manifest import parse_manifest
from .quota import LinkPolicy, LinkQuota, QuotaReading, QuotaState, policy as unmetered_policy
from .spool import Spool
from .tally import LinkTally
from .transfer import PayloadCorruptError, PayloadDownload, TransferBrokenError

log = structlog.get_logger("ktp.fetcher")


class Rest(Enum):
    """Why a fetch worker waits before its next round (told to ``Fetcher(on_rest=...)``)."""

    FETCHED = "fetched"        # it fetched a payload: the next round at once
    SPOOL_FULL = "spool-full"  # until a job leaves the spool (``room_freed``)
    POLL_DUE = "poll-due"      # nothing to fetch yet: until the next poll
    IDLE = "idle"              # a download-only worker with nothing to fetch: until a poll brings jobs


#: Attempts resumed at once, without back-off, within one download round.
QUICK_RESUMES = 64
#: A download-only worker with nothing to fetch sleeps until woken; this is only a safety net.
IDLE_RECHECK_S = 30.0


def fetch_until_done(download: PayloadDownload, should_stop: Callable[[], bool],
                     on_broken: Callable[[TransferBrokenError], None] = lambda exc: None,
                     quick_resumes: int = QUICK_RESUMES) -> Path:
    """Run ``download``, resuming at once while each attempt makes progress.

    Raises the last error when an attempt made no progress (the caller backs
    off), when stopping, or after ``quick_resumes`` immediate resumes.
    """
    for quick in range(quick_resumes + 1):
        try:
            return download.run()
        except TransferBrokenError as exc:
            on_broken(exc)
            if should_stop() or not (exc.gained or exc.retry_now) or quick == quick_resumes:
                raise
    raise AssertionError("unreachable")


class Fetcher:
    def __init__(self, config: Config, link: ServerLink, journal: Journal, intake: Intake,
                 spool: Spool, metrics: StationMetrics, stop: threading.Event,
                 job_ready: Callable[[], None], clock: Callable[[], float] = time.time,
                 on_rest: Callable[[Rest, float], None] = lambda why, seconds: None,
                 tally: LinkTally | None = None, storage: StorageState | None = None,
                 quota: LinkQuota | None = None) -> None:
        """``on_rest`` is told why and how long a worker is about to wait, once its state says so:
        a ``room_freed`` or ``wake`` after it ends that wait at once. ``tally`` counts the payload
        bytes and the exchanges the server answered (the station shares one with its link). While
        ``storage`` holds (the state folder cannot be written) no poll or download starts, and one
        that fails for it rests until the hold ends instead of ending its worker. ``quota`` (None:
        unmetered) decides how long polls wait, how often they go and how far downloads read ahead
        (``quota.policy``)."""
        self.config, self.link, self.journal, self.intake = config, link, journal, intake
        self.spool, self.metrics, self._stop = spool, metrics, stop
        self._job_ready = job_ready
        self._on_rest = on_rest
        self._clock = clock
        self.tally = tally or LinkTally()
        self.quota = quota
        t = config.transfer
        self._loops = [LinkLoop(metrics, stop, t.retry_initial_seconds, t.retry_max_seconds)
                       for _ in range(t.parallel_downloads)]
        self._loop = self._loops[0]
        self._next_poll = 0.0
        self._answer_now = False
        self._contact_at = 0.0  # wall time of the last poll the server answered
        self._claims = threading.Lock()
        self._in_flight: dict[str, int] = {}  # job id -> payload size, being downloaded now
        self._waiting_for_room = False
        self._storage = storage

    def _guarded(self, one_round: Callable[[], float]) -> Callable[[], float]:
        return one_round if self._storage is None else self._storage.guarded(one_round)

    def wake(self) -> None:
        """Look again now (there may be room in the spool, or a job to fetch)."""
        for loop in self._loops:
            loop.wake()

    def room_freed(self) -> None:
        """A job has left the spool: wake the workers if they wait for room (cheap otherwise)."""
        if self._waiting_for_room:
            self._waiting_for_room = False
            self.wake()

    def poll_now(self) -> None:
        """Poll at the next round (at once, if the fetcher is waiting or a long poll is held), not at the
        scheduled time."""
        self._next_poll = 0.0
        self._answer_now = True  # a short poll: whoever asked wants the server's answer now
        self.link.end_long_poll()
        self.wake()

    def adopt(self, job_id: str) -> None:
        """A verified job's payload was put in the spool by other means (an offline bundle): mark it
        downloaded, unless a worker is fetching it now (that worker finds it and marks it)."""
        with self._claims:
            if job_id in self._in_flight:
                return
            self.journal.mark_downloaded(job_id)
        self._job_ready()

    def downloading(self) -> int:
        """Payloads being downloaded now (the other verified jobs wait for a download slot)."""
        with self._claims:
            return len(self._in_flight)

    def workers(self) -> list[tuple[str, Callable[[], None]]]:
        """A thread's name and body for each download in flight."""
        download = self._guarded(self.download_cycle)
        return [("fetcher", self.run)] + [(f"fetcher-{n}", lambda loop=loop: loop.run(download))
                                          for n, loop in enumerate(self._loops[1:], start=2)]

    def run(self) -> None:
        self._loop.run(self._guarded(self.cycle))

    def policy(self) -> LinkPolicy:
        """How the link behaves now: by the quota's state, or as unmetered without a quota."""
        if self.quota is None:
            return unmetered_policy(QuotaReading(QuotaState.UNMETERED, 0, 0, ""), self.config.link)
        return self.quota.policy()

    def cycle(self) -> float:
        """One round of polling and downloading; returns seconds until the next round."""
        if self.quota is not None:
            self.quota.sync()  # the bytes of the last round are in the journal before more go
        link_policy = self.policy()
        if time.monotonic() >= self._next_poll and self._spool_has_room():
            self._poll(link_policy)
        return self._rest(self._download_some(), polls=True)

    def download_cycle(self) -> float:
        """One round of a worker that only downloads."""
        return self._rest(self._download_some(), polls=False)

    def _rest(self, fetched: bool, polls: bool) -> float:
        why, seconds = self._why_rest(fetched, polls)
        self._on_rest(why, seconds)
        return seconds

    def _why_rest(self, fetched: bool, polls: bool) -> tuple[Rest, float]:
        if fetched:
            return Rest.FETCHED, 0.0
        # Raised before the check: a job that leaves the spool between the check and the sleep
        # still wakes us (room_freed sets the loop's event, which the sleep then finds set).
        self._waiting_for_room = True
        if not self._spool_has_room():
            return Rest.SPOOL_FULL, 5.0
        self._waiting_for_room = False
        if polls:  # nothing to fetch yet: until the next poll
            return Rest.POLL_DUE, max(0.05, min(self._next_poll - time.monotonic(), 5.0))
        return Rest.IDLE, IDLE_RECHECK_S  # a poll that brings jobs wakes us

    def _poll(self, link_policy: LinkPolicy) -> None:
        started = time.monotonic()
        cursor = self.journal.cursor()
        wait_s, self._answer_now = (0 if self._answer_now else link_policy.wait_s), False
        result = self.link.poll(cursor, self.config.server.poll_limit, wait_s)
        if not result.answered:  # a held poll ended by poll_now (or the stop): ask again, briefly
            self._answer_now, self._next_poll = True, 0.0
            return
        self.tally.contact()
        self._contact_at = self._clock()
        new = self.intake.accept_all(result.entries, datetime.now(timezone.utc))
        if result.next_cursor and result.next_cursor != cursor:  # an idle poll writes nothing
            self.journal.set_cursor(result.next_cursor)
        self.metrics.stage_seconds.labels("poll").observe(time.monotonic() - started)
        # Counted from the poll's start: a long poll the server held for its whole wait is followed
        # by the next at once; a full page is followed at once unless the quota asks for a gap.
        full_page = len(result.entries) >= self.config.server.poll_limit
        self._next_poll = started + max(0.0 if full_page else result.poll_after_s, link_policy.poll_gap_s)
        if new:
            log.info("poll.jobs", new=new, cursor_moved=bool(result.next_cursor))
            self.wake()  # the other workers: there is something to fetch

    def _spool_has_room(self) -> bool:
        counts = self.journal.counts_by_state()
        waiting = counts[JobState.VERIFIED] + counts[JobState.DOWNLOADED] + counts[JobState.RECEIVED]
        return waiting < self.config.spool.prefetch_jobs

    def _download_some(self) -> bool:
        job = self._claim()
        if job is None:
            return False
        try:
            return self._download(job.job_id, job.manifest)
        finally:
            with self._claims:
                del self._in_flight[job.job_id]

    def _claim(self) -> JobRecord | None:
        """The next verified job no other worker is fetching, if the spool has room for it."""
        link_policy = self.policy()
        ahead = self.config.spool.prefetch_jobs
        if link_policy.read_ahead is not None:
            ahead = min(ahead, link_policy.read_ahead)
        if not link_policy.downloads:
            return None
        with self._claims:
            counts = self.journal.counts_by_state()
            if counts[JobState.DOWNLOADED] + len(self._in_flight) >= ahead:
                return None
            pending = [job for job in self.journal.jobs_in(JobState.VERIFIED, limit=len(self._in_flight) + 1)
                       if job.job_id not in self._in_flight]
            if not pending:
                return None
            job = pending[0]
            # What is on disk, plus all of every payload in flight (their partial bytes count twice:
            # erring on the small side); an empty spool always takes one job, however large.
            committed = self.spool.bytes_held() + sum(self._in_flight.values())
            size = job.payload_size or 0
            if committed and committed + size > self.config.spool.prefetch_bytes:
                return None
            self._in_flight[job.job_id] = size
            return job

    def _download(self, job_id: str, raw_manifest: bytes) -> bool:
        """Fetch one payload; True when the job left VERIFIED (or may be tried again at once)."""
        manifest = parse_manifest(raw_manifest)
        download = self._payload_download(job_id, manifest.payload)
        if manifest.expires_at <= datetime.now(timezone.utc):
            download.discard()
            self.journal.finish(job_id, JobState.EXPIRED, self.config.station.id, reason="expired")
            log.warning("job.expired", job_id=job_id)
            return True
        started = time.monotonic()
        try:
            fetch_until_done(download, self._stop.is_set, self._broken(job_id))
        except PayloadCorruptError as exc:
            self.metrics.payload_corrupt.inc()
            log.warning("payload.corrupt", job_id=job_id, fetches=exc.fetches, error=str(exc))
            if exc.fetches >= self.config.transfer.max_corrupt_fetches:
                self._give_up(job_id, download, "corrupt")
            return True
        except LinkError:
            if self._no_progress_too_long(download):
                self._give_up(job_id, download, "no-progress")
                return True
            raise
        self.tally.contact()
        self.metrics.stage_seconds.labels("download").observe(time.monotonic() - started)
        self.journal.mark_downloaded(job_id)
        log.info("payload.downloaded", job_id=job_id, bytes=manifest.payload.size)
        self._job_ready()
        return True

    def _payload_download(self, job_id: str, ref) -> PayloadDownload:
        t = self.config.transfer
        return PayloadDownload(self.link, self.spool.directory, job_id, ref,
                               stall_seconds=t.stall_seconds, fsync_bytes=t.fsync_bytes,
                               count_bytes=self.tally.count, on_resume=self._resumed(job_id),
                               on_transfer=self.metrics.observe_transfer, should_stop=self._stop.is_set,
                               clock=self._clock)

    def _no_progress_too_long(self, download: PayloadDownload) -> bool:
        """No byte for give_up_days while the server answered polls all that time."""
        window = self.config.transfer.give_up_seconds
        progress_at = download.record.progress_at
        return bool(progress_at) and self._contact_at - progress_at >= window \
            and download.record.idle_seconds() >= window

    def _give_up(self, job_id: str, download: PayloadDownload, why: str) -> None:
        download.discard()
        self.journal.finish(job_id, JobState.REJECTED, self.config.station.id, reason="bad-payload")
        self.metrics.count_rejection("bad-payload")
        log.warning("payload.given_up", job_id=job_id, why=why)

    def _broken(self, job_id: str) -> Callable[[TransferBrokenError], None]:
        def note(exc: TransferBrokenError) -> None:
            if exc.stalled:
                self.metrics.payload_stalls.inc()
            if exc.gained or exc.retry_now:
                self.metrics.link_retries.inc()
            log.info("payload.broken", job_id=job_id, gained=exc.gained, stalled=exc.stalled, error=str(exc))
        return note

    def _resumed(self, job_id: str) -> Callable[[int], None]:
        def note(offset: int) -> None:
            self.metrics.resumes.inc()
            log.info("payload.resumed", job_id=job_id, offset=offset)
        return note

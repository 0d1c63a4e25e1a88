"""The card preparer: the next cards are decrypted, checked and rendered while one prints.

A thread of its own takes downloaded jobs in seq order and turns each into a
PreparedCard held in memory (plaintext never touches the disk), up to a small
depth, so the printer never waits for the agent. The print worker takes them
one by one and says when a job is finished with; a job it could not print
yet stays with the worker and is not prepared twice.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import structlog

from drivers.interfaces import CardFace

from ..card import CardDataError, CardRenderer, PayloadError, parse_payload
from ..errors import JobRejectedError
from ..jobs import Manifest, Spool, open_payload, parse_manifest
from ..journal import JobRecord, JobState, Journal
from ..observe import StationMetrics

log = structlog.get_logger("ktp.preparer")

#: With nothing to prepare the thread sleeps until told a job is ready; this is only a safety net.
IDLE_RECHECK_S = 30.0


class Waiter(Enum):
    """Who is about to sleep on the preparer's condition (see ``CardPreparer(on_wait=...)``)."""

    PREPARER = "preparer"  # the preparer thread: nothing to prepare until told of a job
    TAKER = "taker"        # a caller of ``take``: no card ready yet


@dataclass(frozen=True)
class PreparedCard:
    """One job made ready for the printer, or the reason it must be rejected."""

    job: JobRecord
    manifest: Manifest
    face: CardFace | None
    encoded: object | None = None          # the printer's own encoding of ``face``, when it offers one
    rejection: JobRejectedError | None = None

    def __repr__(self) -> str:  # a face holds personal data: never print it
        return f"PreparedCard(job_id={self.job.job_id!r}, rejected={self.rejection is not None})"


class CardPreparer:
    def __init__(self, journal: Journal, spool: Spool, station_key: object, metrics: StationMetrics,
                 stop: threading.Event, encoder: Callable[[CardFace], object | None] = lambda face: None,
                 depth: int = 2, on_wait: Callable[[Waiter], None] = lambda waiter: None) -> None:
        """``on_wait`` is told, with the condition's lock held, each time a thread is about to sleep on it:
        whatever takes that lock after it (``job_ready``, ``interrupt``) finds that thread asleep."""
        self.journal, self.spool, self.metrics = journal, spool, metrics
        self._on_wait = on_wait
        self._key = station_key
        self._stop = stop
        self._encoder = encoder
        self._depth = depth
        self._renderer = CardRenderer()
        self._ready: deque[PreparedCard] = deque()
        self._claimed: set[str] = set()          # prepared, queued or with the worker
        self._cond = threading.Condition()
        self._interrupted = False
        self._changes = 0                        # bumped on every change a waiter may care about

    def _changed(self) -> None:
        """Wake every waiter; call with ``self._cond`` held."""
        self._changes += 1
        self._cond.notify_all()

    def job_ready(self) -> None:
        with self._cond:
            self._changed()

    def interrupt(self) -> None:
        """Make a waiting ``take`` return at once (empty-handed) so its caller can do something else."""
        with self._cond:
            self._interrupted = True
            self._changed()

    def take(self, timeout: float) -> PreparedCard | None:
        """The next prepared card, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set() or self._interrupted:
                    self._interrupted = False
                    return None
                self._on_wait(Waiter.TAKER)
                self._cond.wait(remaining)
            card = self._ready.popleft()
            self._changed()
            return card

    def done(self, job_id: str) -> None:
        """The worker is finished with this job: it has an outcome or went back to the journal."""
        with self._cond:
            self._claimed.discard(job_id)
            self._changed()

    def run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                seen = self._changes
            job = self._next_job()
            if job is None:
                with self._cond:  # sleep unless something changed since we looked
                    if self._changes == seen and not self._stop.is_set():
                        self._on_wait(Waiter.PREPARER)
                        self._cond.wait(IDLE_RECHECK_S)
                continue
            card = self._prepare(job)
            with self._cond:
                self._ready.append(card)
                self._changed()
        with self._cond:
            self._ready.clear()  # drop every prepared face with the thread

    def _next_job(self) -> JobRecord | None:
        with self._cond:
            if len(self._ready) >= self._depth:
                return None
            claimed = set(self._claimed)
        for job in self.journal.jobs_in(JobState.DOWNLOADED, limit=self._depth + len(claimed) + 1):
            if job.job_id not in claimed:
                with self._cond:
                    self._claimed.add(job.job_id)
                return job
        return None

    def _prepare(self, job: JobRecord) -> PreparedCard:
        manifest = parse_manifest(job.manifest)
        try:
            started = time.monotonic()
            plaintext = open_payload(self.spool.read(job.job_id), manifest, self._key)
            self.metrics.stage_seconds.labels("decrypt").observe(time.monotonic() - started)
            payload = _parse(plaintext)
            del plaintext
            started = time.monotonic()
            face = self._renderer.render_front(payload)
            encoded = self._encoder(face)
            self.metrics.stage_seconds.labels("render").observe(time.monotonic() - started)
        except JobRejectedError as exc:
            return PreparedCard(job, manifest, None, rejection=exc)
        except FileNotFoundError:
            return PreparedCard(job, manifest, None,
                                rejection=JobRejectedError("bad-payload", "spooled payload is missing"))
        return PreparedCard(job, manifest, face, encoded)


def _parse(plaintext: bytes):
    try:
        return parse_payload(plaintext)
    except CardDataError as exc:
        raise JobRejectedError("bad-card-data", str(exc)) from None
    except PayloadError as exc:
        raise JobRejectedError("bad-payload", str(exc)) from None

"""Intake: turn polled manifests into journal rows, verified or rejected.

A manifest whose job id is already known is not a new job and is ignored.
A new one is recorded as received, then verified (signature, version,
station, expiry against one clock reading per poll, seq replay and rollback)
or rejected with the protocol's reason; a rejected job is never downloaded.
A rollback (a seq below the highest one held here by a verified job) is
reported with reason ``replay``: the protocol has no separate code, and a
central system must not receive a reason it does not know.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime

import structlog

from ..crashpoints import CrashPoints
from ..errors import JobRejectedError
from ..journal import Journal, JobState
from ..observe import StationMetrics
from .manifest import ManifestVerifier, SignedEntry, peek_job_id

log = structlog.get_logger("ktp.intake")


class Intake:
    def __init__(self, journal: Journal, verifier: ManifestVerifier, metrics: StationMetrics,
                 crash: CrashPoints | None = None) -> None:
        self._crash = crash or CrashPoints()
        self.journal = journal
        self.verifier = verifier
        self.metrics = metrics
        self._taking = threading.Lock()  # the poll and an offline bundle may bring the same job at once

    def accept_all(self, entries: list[SignedEntry], now: datetime) -> int:
        """Take one poll's entries; returns how many new jobs were verified."""
        return sum(self.accept(entry, now) for entry in entries)

    def accept(self, entry: SignedEntry, now: datetime) -> bool:
        with self._taking:
            return self._accept(entry, now)

    def _accept(self, entry: SignedEntry, now: datetime) -> bool:
        job_id = peek_job_id(entry.manifest)
        if job_id is None:
            log.warning("job.unidentifiable", size=len(entry.manifest))
            self.metrics.count_rejection("bad-manifest")
            return False
        if self.journal.knows(job_id):
            return False
        self.journal.receive(job_id, entry.manifest, entry.signature)
        self._crash.hit("job.received")
        return self._verify(job_id, entry, now)

    def resume_received(self, now: datetime) -> int:
        """Verify jobs recorded as received before a stop (the stored bytes, the same checks)."""
        pending = self.journal.jobs_in(JobState.RECEIVED, limit=10_000)
        return sum(self._verify(r.job_id, SignedEntry(r.manifest, r.signature), now) for r in pending)

    def _verify(self, job_id: str, entry: SignedEntry, now: datetime) -> bool:
        started = time.monotonic()
        try:
            manifest = self.verifier.verify(entry, now)
            holder = self.journal.seq_holder(manifest.seq)
            if holder is not None and holder != job_id:
                raise JobRejectedError("replay", f"seq {manifest.seq} is held by job {holder}")
            highest = self.journal.highest_seq()
            if holder is None and highest is not None and manifest.seq < highest:
                # Rollback: the protocol has no code of its own for it; seqs are strictly
                # increasing, so a new job below one already held is a replay of the past.
                raise JobRejectedError("replay", f"seq {manifest.seq} is below seq {highest} already "
                                                 "held here (rollback)")
        except JobRejectedError as exc:
            self.journal.finish(job_id, JobState.REJECTED, self.verifier.station_id, reason=exc.reason)
            self.metrics.count_rejection(exc.reason)
            log.warning("job.rejected", job_id=job_id, reason=exc.reason, detail=exc.detail)
            return False
        self.metrics.stage_seconds.labels("verify").observe(time.monotonic() - started)
        self.journal.mark_verified(job_id, manifest.seq, manifest.payload.size,
                                   manifest.payload.sha256, manifest.expires_at.isoformat())
        self._crash.hit("job.verified")
        log.info("job.verified", job_id=job_id, seq=manifest.seq, payload_bytes=manifest.payload.size)
        return True

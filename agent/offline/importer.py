"""Importing offline job bundles: every job checked exactly as if it had been polled.

For each signed entry of a bundle, in order:
1. a job already known here by ``job_id`` is not new (it came online, or on
   an earlier read of this stick); only a known job still waiting for its
   payload takes the bundle's copy, if whole;
2. the payload member is read into memory (ciphertext; nothing is written yet);
3. the entry goes through the station's own ``Intake`` (signature, version,
   station, expiry, replay): a rejected job is reported as a polled one is;
4. a verified job whose payload is whole (size and SHA-256 of the manifest)
   has it written to the spool as a download would (temporary name, fsync,
   rename) and is handed to ``mark_ready``; a missing or damaged payload
   leaves the job verified, waiting for the network. Decryption is checked
   where it always is, when the card is prepared.

Each job is one step: a medium pulled in the middle stops the import before
the job being read, and reading the bundle again carries on from there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import structlog

from ..errors import JobRejectedError
from ..jobs import Intake, SignedEntry, Spool, parse_manifest, peek_job_id
from ..journal import JobState, Journal
from .bundle import BUNDLE_SUFFIX, BundleError, BundleReader, MediumGoneError
from .receipts import write_durably

log = structlog.get_logger("ktp.offline")

Progress = Callable[[int, int], None]


@dataclass
class ImportSummary:
    """What one import did; every entry of the bundles read lands in exactly one count."""

    files: list[str] = field(default_factory=list)
    total: int = 0       # entries in the bundles read
    imported: int = 0    # new jobs, payload in the spool: ready to print offline
    completed: int = 0   # known jobs that were waiting for their payload and now have it
    waiting: int = 0     # new jobs verified, payload missing or damaged: they wait for the network
    known: int = 0       # jobs already here (online, or an earlier read): nothing added
    rejected: int = 0    # new jobs that failed a check; reported as a polled job would be
    unreadable: int = 0  # entries that name no job (bad base64url or manifest): nothing recorded
    interrupted: str | None = None  # why the import stopped early (the medium went away)
    refused: list[str] = field(default_factory=list)  # bundles refused whole (not a bundle, foreign station)

    def add(self, other: "ImportSummary") -> None:
        for name in ("total", "imported", "completed", "waiting", "known", "rejected", "unreadable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.files += other.files
        self.refused += other.refused
        self.interrupted = self.interrupted or other.interrupted


def bundle_files(path: Path) -> list[Path]:
    """``path`` itself, or every ``*.ktpjobs`` in the folder ``path``, oldest name first."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.name.endswith(BUNDLE_SUFFIX) and p.is_file())
    return [path]


class BundleImporter:
    """Takes bundles into the journal and the spool through the station's own intake."""

    def __init__(self, journal: Journal, intake: Intake, spool: Spool, station_id: str,
                 mark_ready: Callable[[str], None],
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        """``mark_ready(job_id)``: the job's payload is in the spool (the daemon's fetcher adopts it)."""
        self.journal, self.intake, self.spool = journal, intake, spool
        self.station_id = station_id
        self._mark_ready = mark_ready
        self._clock = clock
        self._should_stop = should_stop

    def import_path(self, path: Path, progress: Progress = lambda done, total: None,
                    opener: Callable[[Path], BundleReader] = BundleReader) -> ImportSummary:
        """Every bundle at ``path`` (a file or a folder); a bad or foreign bundle is refused whole and
        the next one read; a medium gone stops the import (``interrupted``)."""
        summary = ImportSummary()
        for file in bundle_files(path):
            try:
                with opener(file) as reader:
                    one = self._import(reader, progress)
            except MediumGoneError as exc:
                one = ImportSummary(interrupted=str(exc))
            except BundleError as exc:
                log.warning("bundle.refused", bundle=file.name, error=str(exc))
                one = ImportSummary(refused=[str(exc)])
            one.files.append(str(file))
            summary.add(one)
            if one.interrupted:
                break
        return summary

    def _import(self, reader: BundleReader, progress: Progress) -> ImportSummary:
        index = reader.index(self.station_id)
        summary = ImportSummary(total=len(index.entries) + index.damaged_entries,
                                unreadable=index.damaged_entries)
        progress(0, summary.total)
        for done, entry in enumerate(index.entries, start=1):
            if self._should_stop():
                summary.interrupted = "the station is stopping"
                break
            try:
                outcome = self._one(reader, entry)
            except MediumGoneError as exc:
                summary.interrupted = str(exc)
                log.warning("bundle.interrupted", bundle=reader.path.name, done=done - 1, error=str(exc))
                break
            setattr(summary, outcome, getattr(summary, outcome) + 1)
            progress(done + index.damaged_entries, summary.total)
        log.info("bundle.imported", bundle=reader.path.name, total=summary.total, imported=summary.imported,
                 completed=summary.completed, waiting=summary.waiting, known=summary.known,
                 rejected=summary.rejected, unreadable=summary.unreadable)
        return summary

    def _one(self, reader: BundleReader, entry: SignedEntry) -> str:
        """One entry, whole or not at all; returns the ImportSummary count it adds to."""
        job_id = peek_job_id(entry.manifest)
        if job_id is None:
            self.intake.accept(entry, self._clock())  # counted and logged as a polled one would be
            return "unreadable"
        payload = self._payload(reader, entry)
        record = self.journal.get(job_id)
        if record is not None:
            return self._known(job_id, record.state, payload)
        if not self.intake.accept(entry, self._clock()):
            record = self.journal.get(job_id)
            return "rejected" if record is not None and record.state is JobState.REJECTED else "known"
        if payload is None:
            log.info("bundle.payload_missing", job_id=job_id)
            return "waiting"
        self._place(job_id, payload)
        return "imported"

    def _known(self, job_id: str, state: JobState, payload: bytes | None) -> str:
        if state is JobState.VERIFIED and payload is not None:
            self._place(job_id, payload)
            return "completed"
        return "known"

    def _payload(self, reader: BundleReader, entry: SignedEntry) -> bytes | None:
        """The bundle's ciphertext for this entry, when whole; None when the manifest cannot name it."""
        try:
            ref = parse_manifest(entry.manifest).payload
        except JobRejectedError:
            return None  # the intake rejects the manifest itself
        return reader.payload(ref.sha256, ref.size)

    def _place(self, job_id: str, ciphertext: bytes) -> None:
        """Into the spool as a finished download: temporary name, fsync, rename, fsync the folder."""
        write_durably(self.spool.payload_path(job_id), ciphertext, mode=0o600)
        self._mark_ready(job_id)
        log.info("bundle.payload_placed", job_id=job_id, bytes=len(ciphertext))

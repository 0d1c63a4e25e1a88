"""Offline result receipts (protocol section 6): the station's queued reports, written to a medium.

``<station_id>-<YYYYMMDDTHHMMSSZ>.ktpresults``: one JSON line per queued
report (the section 3 body with its ``job_id``), then
``{"count": N, "hmac_sha256": "<hex>"}``, the HMAC-SHA256 over every byte
before that line, keyed with the station's bearer token. Written under a
temporary name, fsynced, renamed, and the folder fsynced, so a medium
pulled during the write holds the old state, never half a file. The reports
stay queued: they leave the outbox only when the server confirms them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..journal import Journal

RESULTS_SUFFIX = ".ktpresults"
#: More than any outage's worth of reports; the outbox is read in one go.
MAX_REPORTS = 100_000


@dataclass(frozen=True)
class ReceiptsWritten:
    path: Path
    count: int


def receipts_name(station_id: str, at: float) -> str:
    return f"{station_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(at))}{RESULTS_SUFFIX}"


def receipts_bytes(reports: list[tuple[str, dict]], token: str) -> bytes:
    """The file's bytes for (job id, report body) pairs."""
    body = b"".join(json.dumps({**report, "job_id": job_id}, sort_keys=True, separators=(",", ":"))
                    .encode("utf-8") + b"\n" for job_id, report in reports)
    mac = hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return body + json.dumps({"count": len(reports), "hmac_sha256": mac}).encode("utf-8") + b"\n"


def write_receipts(journal: Journal, station_id: str, token: str, folder: Path,
                   at: float | None = None) -> ReceiptsWritten:
    """Every queued report into a new receipts file in ``folder``."""
    at = time.time() if at is None else at
    reports = [(r.job_id, r.body) for r in journal.pending_reports(limit=MAX_REPORTS)]
    path = Path(folder) / receipts_name(station_id, at)
    write_durably(path, receipts_bytes(reports, token))
    return ReceiptsWritten(path, len(reports))


def write_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Temporary file beside ``path``, fsync, rename, fsync the folder."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

"""Offline job bundles (protocol section 5), written by the central side for a USB stick.

``<station_id>-<YYYYMMDDTHHMMSSZ>.ktpjobs``: a stored (not deflated) ZIP
holding ``bundle.json`` (the signed manifests, unchanged) and
``payloads/<sha256 hex>`` (each job's ciphertext). A bundle carries a
station's pending jobs: those with no accepted report yet.
"""
from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .files import write_atomic
from .sealing import poll_entry, rfc3339
from .store import JobStore, StoreCorruptError, StoredJob, UnknownStationError

BUNDLE_SUFFIX = ".ktpjobs"
BUNDLE_VERSION = 1


@dataclass(frozen=True)
class BundleWritten:
    path: Path
    job_ids: list[str]
    payload_bytes: int


def bundle_name(station_id: str, at: datetime) -> str:
    return f"{station_id}-{at.strftime('%Y%m%dT%H%M%SZ')}{BUNDLE_SUFFIX}"


def pending_jobs(store: JobStore, station_id: str) -> list[StoredJob]:
    """The station's jobs the server holds no report for, in issue order."""
    if not store.has_station(station_id) and not store.station_jobs(station_id):
        raise UnknownStationError(f"no jobs or key held for station {station_id}")
    reported = store.results()
    return [job for job in store.station_jobs(station_id) if job.job_id not in reported]


def bundle_bytes(jobs: list[StoredJob], payloads: dict[str, bytes], station_id: str, at: datetime) -> bytes:
    """The ZIP of ``jobs``: their signed manifests and, by SHA-256, their ciphertexts."""
    doc = {"v": BUNDLE_VERSION, "station_id": station_id, "created_at": rfc3339(at),
           "jobs": [poll_entry(job.manifest, job.signature) for job in jobs]}
    out = io.BytesIO()
    stamp = time.gmtime(at.timestamp())[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo("bundle.json", stamp), json.dumps(doc, indent=1).encode("utf-8"))
        for sha in dict.fromkeys(job.payload_sha256 for job in jobs):
            archive.writestr(zipfile.ZipInfo(f"payloads/{sha}", stamp), payloads[sha])
    return out.getvalue()


def write_bundle(store: JobStore, station_id: str, out: Path, at: datetime | None = None) -> BundleWritten:
    """Write the station's pending jobs as a bundle: ``out`` is a file, or a folder to name it in."""
    at = at or datetime.now(timezone.utc)
    jobs = pending_jobs(store, station_id)
    payloads = {}
    for job in jobs:
        data = store.payload(job.payload_sha256)
        if data is None:
            raise StoreCorruptError(f"job {job.job_id}: payload {job.payload_sha256} not held")
        payloads[job.payload_sha256] = data
    path = Path(out)
    if path.is_dir():
        path = path / bundle_name(station_id, at)
    write_atomic(path, bundle_bytes(jobs, payloads, station_id, at))
    return BundleWritten(path, [job.job_id for job in jobs], sum(len(p) for p in payloads.values()))

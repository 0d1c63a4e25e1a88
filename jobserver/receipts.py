"""Offline result receipts (protocol section 6): checked and applied by the central side.

A ``.ktpresults`` file is UTF-8 JSON lines, one section 3 report each with
its ``job_id``, then ``{"count": N, "hmac_sha256": "<hex>"}``: the HMAC over
every byte before that last line, keyed with the station's bearer token.
Each report is applied by section 3's rules: the same report again is a
duplicate, one that contradicts the accepted report is refused and listed.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

from .store import JobStore

RESULTS_SUFFIX = ".ktpresults"
#: A station's week of reports is a few hundred lines; this is far beyond it.
MAX_RECEIPTS_BYTES = 16 << 20


class ReceiptError(ValueError):
    """The receipts file is not one this station wrote: bad form, count or HMAC."""


@dataclass
class ReceiptOutcome:
    applied: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # job id -> why (unknown job, bad field)

    def as_dict(self) -> dict:
        return {"applied": self.applied, "duplicates": self.duplicates, "conflicts": self.conflicts,
                "refused": self.refused}


def receipt_hmac(token: str, body: bytes) -> str:
    return hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def parse_receipts(data: bytes, token: str) -> list[tuple[str, dict]]:
    """The (job id, report) pairs of a receipts file whose HMAC and count check out."""
    if len(data) > MAX_RECEIPTS_BYTES:
        raise ReceiptError(f"receipts file over {MAX_RECEIPTS_BYTES} bytes")
    stripped = data[:-1] if data.endswith(b"\n") else data
    cut = stripped.rfind(b"\n") + 1
    body, last = data[:cut], stripped[cut:]
    trailer = _json_line(last, "last line")
    if not isinstance(trailer, dict) or set(trailer) != {"count", "hmac_sha256"}:
        raise ReceiptError('last line is not {"count", "hmac_sha256"}')
    offered = trailer["hmac_sha256"]
    if not isinstance(offered, str) or not hmac.compare_digest(offered.lower(), receipt_hmac(token, body)):
        raise ReceiptError("HMAC does not match: not written by this station, or altered")
    lines = body.splitlines()
    if trailer["count"] != len(lines):
        raise ReceiptError(f"count {trailer['count']!r} but {len(lines)} report lines")
    reports = []
    for number, line in enumerate(lines, start=1):
        report = _json_line(line, f"line {number}")
        if not isinstance(report, dict) or not isinstance(report.get("job_id"), str):
            raise ReceiptError(f"line {number}: not a report object with a job_id")
        job_id = report.pop("job_id")
        reports.append((job_id, report))
    return reports


def _json_line(raw: bytes, where: str) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptError(f"{where}: not UTF-8 JSON") from None


def apply_receipts(store: JobStore, station_id: str, data: bytes, token: str) -> ReceiptOutcome:
    """Check the file, then apply each report as if it had been POSTed to its job's result."""
    outcome = ReceiptOutcome()
    for job_id, report in parse_receipts(data, token):
        job = store.job(job_id)
        if job is None or job.station_id != station_id:
            outcome.refused[job_id] = "unknown job" if job is None else "job of another station"
            continue
        known = job_id in store.results()
        status, answer = store.record(job_id, report)
        if status == 200:
            if known:
                outcome.duplicates += 1
            else:
                outcome.applied += 1
        elif status == 409:
            outcome.conflicts.append(job_id)
        else:
            outcome.refused[job_id] = str(answer.get("error", status))
    return outcome

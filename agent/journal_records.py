"""Job states, the transitions the journal allows, and the record a journal row reads as."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class JobState(Enum):
    RECEIVED = "received"
    VERIFIED = "verified"
    DOWNLOADED = "downloaded"
    PRINTING = "printing"
    PRINTED = "printed"
    SPOILED = "spoiled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    IN_DOUBT = "in-doubt"
    REPORTED = "reported"


#: Outcomes: the states whose report goes to the outbox.
OUTCOMES = (JobState.PRINTED, JobState.SPOILED, JobState.REJECTED, JobState.EXPIRED)

#: Which states each state may move to.
ALLOWED: dict[JobState, tuple[JobState, ...]] = {
    JobState.RECEIVED: (JobState.VERIFIED, JobState.REJECTED),
    JobState.VERIFIED: (JobState.DOWNLOADED, JobState.REJECTED, JobState.EXPIRED),
    JobState.DOWNLOADED: (JobState.PRINTING, JobState.REJECTED, JobState.EXPIRED),
    # Back to DOWNLOADED only when the printer's card counter proves no blank moved.
    JobState.PRINTING: (JobState.PRINTED, JobState.SPOILED, JobState.DOWNLOADED, JobState.IN_DOUBT),
    JobState.IN_DOUBT: (JobState.PRINTED, JobState.SPOILED),
    JobState.PRINTED: (JobState.REPORTED,),
    JobState.SPOILED: (JobState.REPORTED,),
    JobState.REJECTED: (JobState.REPORTED,),
    JobState.EXPIRED: (JobState.REPORTED,),
    JobState.REPORTED: (),
}


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    seq: int | None
    state: JobState
    outcome: str | None
    manifest: bytes
    signature: bytes
    payload_size: int | None
    payload_sha256: str | None
    cards_before: int | None
    panels_before: int | None
    blank_serial: str | None
    attempts: int
    reason: str | None
    received_at: float
    blank_counter: int | None = None  # the printer's card counter of this job's blank, once it moved
    blank_uid_random: bool = False    # blank_serial is a random UID (ISO/IEC 14443-3): it names no chip


_COLUMNS = ("job_id", "seq", "state", "outcome", "manifest", "signature", "payload_size",
            "payload_sha256", "expires_at", "cards_before", "panels_before", "blank_serial", "attempts",
            "reason", "received_at", "updated_at", "finished_at", "blank_counter", "blank_uid_random")
SELECT_JOBS = "SELECT " + ", ".join(_COLUMNS) + " FROM jobs"


def job_record(row: tuple) -> JobRecord:
    d = dict(zip(_COLUMNS, row))
    return JobRecord(
        job_id=d["job_id"], seq=d["seq"], state=JobState(d["state"]), outcome=d["outcome"],
        manifest=bytes(d["manifest"]), signature=bytes(d["signature"]), payload_size=d["payload_size"],
        payload_sha256=d["payload_sha256"], cards_before=d["cards_before"], panels_before=d["panels_before"],
        blank_serial=d["blank_serial"], attempts=d["attempts"], reason=d["reason"],
        received_at=d["received_at"], blank_counter=d["blank_counter"],
        blank_uid_random=bool(d["blank_uid_random"]),
    )

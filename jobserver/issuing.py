"""Issuing one job: a synthetic holder sealed to a station, signed, or deliberately defective.

Each defect breaks exactly one thing the station must check (protocol
sections 1, 2 and 4), so a security test can tell which check caught it.
"""
from __future__ import annotations

import re
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from Crypto.PublicKey import ECC

from .artwork import render_photo, render_signature
from .citizens import MAX_SERIAL, contradict_birth_date, make_citizen
from .sealing import ManifestFields, build_payload_zip, manifest_bytes, seal_payload, sign

DEFECTS = (
    "bad-signature",      # signature made over different bytes
    "wrong-station",      # manifest names a neighbouring station, served to this one
    "expired",            # expires_at in the past
    "bad-version",        # "v": 2
    "replay",             # seq of the previous job, new job_id
    "rollback",           # unused seq lower than the highest one issued
    "tampered-payload",   # one ciphertext byte flipped after hashing
    "bad-card-data",      # card.json birth date contradicts the NIK
    "wrong-job-binding",  # sealed with another job id's info; hash matches
)
FIRST_SEQ = 1000
_STATION_ID = re.compile(r"\A(\d{4})-(\d{2})\Z")


class DefectError(ValueError):
    """An unknown defect name, or a defect that cannot apply to the station's history."""


@dataclass(frozen=True)
class JobOrder:
    """What to issue: for whom, at which seq, which holder, and how to break it."""

    station_id: str
    seq: int
    serial: int
    issued_at: datetime
    ttl: timedelta
    defect: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class IssuedJob:
    """A job as served: signed manifest bytes and the bytes behind its payload URL."""

    job_id: str
    station_id: str  # the station it is served to (the manifest may say otherwise)
    seq: int
    manifest: bytes
    signature: bytes
    payload_sha256: str  # as named in the manifest, and the payload URL's key
    ciphertext: bytes  # what that URL serves
    defect: str | None


def check_defect(defect: str | None) -> None:
    if defect is not None and defect not in DEFECTS:
        raise DefectError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")


def choose_seq(defect: str | None, held: list[int]) -> int:
    """The seq for a new job, given the station's seqs in issue order."""
    check_defect(defect)
    if defect == "replay":
        if not held:
            raise DefectError("replay needs an earlier job for the station to copy the seq of")
        return held[-1]
    highest = max(held, default=FIRST_SEQ - 1)
    if defect == "rollback":
        if not held:
            raise DefectError("rollback needs an earlier job for the station to go below")
        taken = set(held)
        return next(seq for seq in range(highest - 1, -(len(held) + 2), -1) if seq not in taken)
    return highest + 1


def citizen_serial(jobs_so_far: int) -> int:
    """NIK serial of the next holder at a station: 0001..9999, then wraps."""
    return jobs_so_far % MAX_SERIAL + 1


def neighbour_station(station_id: str) -> str:
    """Another station of the same kabupaten (``3319-05`` -> ``3319-06``)."""
    match = _STATION_ID.match(station_id)
    if match is None:
        return station_id + "-x"
    return f"{match.group(1)}-{(int(match.group(2)) % 99) + 1:02d}"


def issue_job(order: JobOrder, signing_key: ECC.EccKey, station_key: ECC.EccKey) -> IssuedJob:
    """Build, seal and sign one job, applying ``order.defect``."""
    check_defect(order.defect)
    defect = order.defect
    job_id = str(uuid.uuid4())
    named_station = neighbour_station(order.station_id) if defect == "wrong-station" else order.station_id
    plaintext = _plaintext(order)
    sealed_for = str(uuid.uuid4()) if defect == "wrong-job-binding" else job_id
    sealed = seal_payload(plaintext, station_key, sealed_for, named_station)
    issued_at, expires_at = order.issued_at, order.issued_at + order.ttl
    if defect == "expired":
        expires_at = order.issued_at - timedelta(days=1)
        issued_at = expires_at - order.ttl
    manifest = manifest_bytes(ManifestFields(
        job_id=job_id, station_id=named_station, seq=order.seq,
        issued_at=issued_at, expires_at=expires_at,
        payload_sha256=sealed.sha256, payload_size=len(sealed.ciphertext), enc=sealed.enc,
        version=2 if defect == "bad-version" else 1,
    ))
    signed_bytes = _flip_byte(manifest, len(manifest) // 2) if defect == "bad-signature" else manifest
    served = _flip_byte(sealed.ciphertext, len(sealed.ciphertext) // 2) if defect == "tampered-payload" \
        else sealed.ciphertext
    return IssuedJob(
        job_id=job_id, station_id=order.station_id, seq=order.seq,
        manifest=manifest, signature=sign(signed_bytes, signing_key),
        payload_sha256=sealed.sha256, ciphertext=served, defect=defect,
    )


def _plaintext(order: JobOrder) -> bytes:
    card = make_citizen(order.station_id, order.serial, order.seed)
    if order.defect == "bad-card-data":
        card = contradict_birth_date(card)
    art_seed = zlib.crc32(f"{order.seed}:{order.station_id}:{order.serial}".encode("utf-8"))
    return build_payload_zip(card, render_photo(art_seed), render_signature(art_seed))


def _flip_byte(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)

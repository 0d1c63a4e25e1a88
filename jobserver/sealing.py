"""Job payloads and manifests: ZIP plaintext, HPKE seal, manifest bytes, Ed25519 signature.

Pure functions over bytes and keys; what a job holds and which defect it
carries is decided in ``issuing``.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone

from Crypto.Protocol import HPKE
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

MANIFEST_VERSION = 1
PAYLOAD_ENC = "hpke-x25519-sha256-aes256gcm"
CARD_LAYOUT = "ektp-v1"
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed, so equal inputs give equal archives


@dataclass(frozen=True)
class SealedPayload:
    """Ciphertext of one payload and the HPKE encapsulated key that opens it."""

    ciphertext: bytes
    enc: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.ciphertext).hexdigest()


@dataclass(frozen=True)
class ManifestFields:
    """Everything a manifest states, before it becomes the signed bytes."""

    job_id: str
    station_id: str
    seq: int
    issued_at: datetime
    expires_at: datetime
    payload_sha256: str
    payload_size: int
    enc: bytes
    version: int = MANIFEST_VERSION
    copies: int = 1


def b64url(data: bytes) -> str:
    """Unpadded base64url, as the protocol writes binary fields."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds, ``Z`` suffix: ``2026-11-20T08:00:00Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_info(job_id: str) -> bytes:
    """The HPKE ``info`` that binds a payload to its job."""
    return b"ktp-job-v1:" + job_id.encode("ascii")


def payload_url(sha256_hex: str) -> str:
    return f"/v1/payloads/{sha256_hex}"


def build_payload_zip(card: dict[str, str], photo: bytes, signature: bytes | None) -> bytes:
    """The plaintext: a stored (not deflated) ZIP of card.json, photo.jpg, signature.png."""
    members = [("card.json", json.dumps(card, ensure_ascii=False).encode("utf-8")), ("photo.jpg", photo)]
    if signature is not None:
        members.append(("signature.png", signature))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return out.getvalue()


def seal_payload(plaintext: bytes, station_key: ECC.EccKey, job_id: str, station_id: str) -> SealedPayload:
    """HPKE base mode to the station's X25519 key; info binds the job, aad the station."""
    sender = HPKE.new(receiver_key=station_key, aead_id=HPKE.AEAD.AES256_GCM, info=job_info(job_id))
    ciphertext = sender.seal(plaintext, station_id.encode("utf-8"))
    return SealedPayload(ciphertext=ciphertext, enc=sender.enc)


def manifest_bytes(fields: ManifestFields) -> bytes:
    """The manifest as the UTF-8 JSON bytes that get signed, keys in protocol order."""
    doc = {
        "v": fields.version,
        "job_id": fields.job_id,
        "station_id": fields.station_id,
        "seq": fields.seq,
        "issued_at": rfc3339(fields.issued_at),
        "expires_at": rfc3339(fields.expires_at),
        "payload": {
            "url": payload_url(fields.payload_sha256),
            "size": fields.payload_size,
            "sha256": fields.payload_sha256,
            "enc": PAYLOAD_ENC,
            "enc_key": b64url(fields.enc),
        },
        "card": {"layout": CARD_LAYOUT, "copies": fields.copies},
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(data: bytes, signing_key: ECC.EccKey) -> bytes:
    """Ed25519 (RFC 8032, pure) signature over exactly ``data``."""
    return eddsa.new(signing_key, "rfc8032").sign(data)


def poll_entry(manifest: bytes, signature: bytes) -> dict[str, str]:
    """One element of a poll response's ``jobs`` list."""
    return {"manifest": b64url(manifest), "signature": b64url(signature)}

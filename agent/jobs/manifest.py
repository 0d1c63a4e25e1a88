"""Signed job manifests: decode, verify, check against this station, open payloads.

Each check that fails raises JobRejectedError with the protocol's reason
code; nothing of a rejected job is downloaded or printed.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from Crypto.Protocol import HPKE
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from ..errors import JobRejectedError

SUPPORTED_VERSION = 1
PAYLOAD_ENC = "hpke-x25519-sha256-aes256gcm"
_SHA256_HEX = re.compile(r"\A[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class PayloadRef:
    url: str
    size: int
    sha256: str
    enc_key: bytes


@dataclass(frozen=True)
class Manifest:
    job_id: str
    station_id: str
    seq: int
    issued_at: datetime
    expires_at: datetime
    payload: PayloadRef
    layout: str
    copies: int


@dataclass(frozen=True)
class SignedEntry:
    """One poll entry: the manifest bytes exactly as signed, and the signature."""

    manifest: bytes
    signature: bytes


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_entry(entry: object) -> SignedEntry:
    """A poll response's ``{"manifest", "signature"}`` object, decoded."""
    if not isinstance(entry, dict):
        raise ValueError("job entry is not an object")
    try:
        return SignedEntry(b64url_decode(entry["manifest"]), b64url_decode(entry["signature"]))
    except (KeyError, binascii.Error, ValueError) as exc:
        raise ValueError(f"job entry: bad base64url field ({exc.__class__.__name__})") from None


def peek_job_id(manifest: bytes) -> str | None:
    """The job id of a manifest not yet verified, for idempotence and reporting."""
    try:
        doc = json.loads(manifest)
        job_id = doc.get("job_id") if isinstance(doc, dict) else None
        return str(uuid.UUID(job_id)) if isinstance(job_id, str) else None
    except (ValueError, UnicodeDecodeError):
        return None


class ManifestVerifier:
    """Checks manifests against the pinned server key and this station's identity."""

    def __init__(self, signing_key: ECC.EccKey, station_id: str) -> None:
        self._verifier = eddsa.new(signing_key, "rfc8032")
        self.station_id = station_id

    def verify(self, entry: SignedEntry, now: datetime) -> Manifest:
        try:
            self._verifier.verify(entry.manifest, entry.signature)
        except ValueError:
            raise JobRejectedError("bad-signature", "signature does not verify with the pinned key") from None
        manifest = parse_manifest(entry.manifest)
        if manifest.station_id != self.station_id:
            raise JobRejectedError("wrong-station", f"manifest is for station {manifest.station_id}")
        if manifest.expires_at <= now:
            raise JobRejectedError("expired", f"expired at {manifest.expires_at.isoformat()}")
        return manifest


def parse_manifest(raw: bytes) -> Manifest:
    """Strictly decode signed manifest bytes; field errors name the field."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise JobRejectedError("bad-manifest", "manifest is not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise JobRejectedError("bad-manifest", "manifest is not a JSON object")
    if doc.get("v") != SUPPORTED_VERSION:
        raise JobRejectedError("bad-version", f"manifest version {doc.get('v')!r} is not {SUPPORTED_VERSION}")
    payload = _field(doc, "payload", dict)
    card = _field(doc, "card", dict)
    return Manifest(
        job_id=_job_id(doc),
        station_id=_field(doc, "station_id", str),
        seq=_field(doc, "seq", int),
        issued_at=_timestamp(doc, "issued_at"),
        expires_at=_timestamp(doc, "expires_at"),
        payload=_payload(payload),
        layout=_field(card, "layout", str, "card."),
        copies=_field(card, "copies", int, "card."),
    )


def _field(doc: dict, key: str, kind: type, prefix: str = "") -> object:
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise JobRejectedError("bad-manifest", f"field {prefix}{key} missing or not {kind.__name__}")
    return value


def _job_id(doc: dict) -> str:
    raw = _field(doc, "job_id", str)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise JobRejectedError("bad-manifest", "field job_id is not a UUID") from None


def _timestamp(doc: dict, key: str) -> datetime:
    raw = _field(doc, key, str)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise JobRejectedError("bad-manifest", f"field {key} is not RFC 3339") from None
    if value.tzinfo is None:
        raise JobRejectedError("bad-manifest", f"field {key} has no time zone")
    return value.astimezone(timezone.utc)


def _payload(doc: dict) -> PayloadRef:
    url = _field(doc, "url", str, "payload.")
    size = _field(doc, "size", int, "payload.")
    sha = _field(doc, "sha256", str, "payload.")
    enc = _field(doc, "enc", str, "payload.")
    if not url.startswith("/") or size <= 0 or not _SHA256_HEX.match(sha):
        raise JobRejectedError("bad-manifest", "payload url, size or sha256 out of range")
    if enc != PAYLOAD_ENC:
        raise JobRejectedError("bad-manifest", f"payload.enc {enc!r} not supported")
    try:
        enc_key = b64url_decode(_field(doc, "enc_key", str, "payload."))
    except (binascii.Error, ValueError):
        raise JobRejectedError("bad-manifest", "payload.enc_key is not base64url") from None
    return PayloadRef(url=url, size=size, sha256=sha, enc_key=enc_key)


def open_payload(ciphertext: bytes, manifest: Manifest, station_key: ECC.EccKey) -> bytes:
    """Decrypt a payload bound to this job and station (HPKE info and aad)."""
    try:
        receiver = HPKE.new(
            receiver_key=station_key,
            aead_id=HPKE.AEAD.AES256_GCM,
            enc=manifest.payload.enc_key,
            info=b"ktp-job-v1:" + manifest.job_id.encode(),
        )
        return receiver.unseal(ciphertext, manifest.station_id.encode("utf-8"))
    except ValueError:
        raise JobRejectedError("bad-payload", "payload does not decrypt for this job and station") from None

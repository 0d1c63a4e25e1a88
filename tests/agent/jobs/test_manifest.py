import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from Crypto.Protocol import HPKE
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from agent.errors import JobRejectedError
from agent.jobs.manifest import ManifestVerifier, SignedEntry, open_payload, parse_manifest, peek_job_id

STATION = "3319-05"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def keys():
    return ECC.generate(curve="Ed25519"), ECC.generate(curve="X25519")


def seal(station_pub, job_id, plaintext=b"zip", station=STATION):
    sender = HPKE.new(receiver_key=station_pub, aead_id=HPKE.AEAD.AES256_GCM,
                      info=b"ktp-job-v1:" + job_id.encode())
    return sender.seal(plaintext, station.encode()), sender.enc


def manifest_bytes(job_id, enc, ct_len=100, **changes):
    doc = {"v": 1, "job_id": job_id, "station_id": STATION, "seq": 12,
           "issued_at": "2026-11-20T08:00:00Z", "expires_at": "2026-12-20T08:00:00Z",
           "payload": {"url": "/v1/payloads/" + "a" * 64, "size": ct_len, "sha256": "a" * 64,
                       "enc": "hpke-x25519-sha256-aes256gcm", "enc_key": b64(enc)},
           "card": {"layout": "ektp-v1", "copies": 1}}
    doc.update(changes)
    return json.dumps(doc).encode()


def signed(signing, raw):
    return SignedEntry(raw, eddsa.new(signing, "rfc8032").sign(raw))


def test_good_manifest_verifies_and_its_payload_opens(keys):
    signing, station = keys
    job_id = str(uuid.uuid4())
    ct, enc = seal(station.public_key(), job_id, b"the archive")
    entry = signed(signing, manifest_bytes(job_id, enc, len(ct)))
    manifest = ManifestVerifier(signing.public_key(), STATION).verify(entry, NOW)
    assert manifest.job_id == job_id and manifest.seq == 12
    assert open_payload(ct, manifest, station) == b"the archive"


def test_forged_signature_is_rejected_as_bad_signature(keys):
    signing, station = keys
    raw = manifest_bytes(str(uuid.uuid4()), b"\0" * 32)
    forged = signed(ECC.generate(curve="Ed25519"), raw)
    with pytest.raises(JobRejectedError) as err:
        ManifestVerifier(signing.public_key(), STATION).verify(forged, NOW)
    assert err.value.reason == "bad-signature"


def test_bytes_changed_after_signing_are_rejected(keys):
    signing, _ = keys
    entry = signed(signing, manifest_bytes(str(uuid.uuid4()), b"\0" * 32))
    tampered = SignedEntry(entry.manifest.replace(b'"seq": 12', b'"seq": 13'), entry.signature)
    with pytest.raises(JobRejectedError, match="bad-signature"):
        ManifestVerifier(signing.public_key(), STATION).verify(tampered, NOW)


@pytest.mark.parametrize("changes, reason", [
    ({"station_id": "3319-06"}, "wrong-station"),
    ({"expires_at": "2026-11-22T07:59:59Z"}, "expired"),
    ({"v": 2}, "bad-version"),
    ({"seq": "12"}, "bad-manifest"),
])
def test_each_check_has_its_reason(keys, changes, reason):
    signing, _ = keys
    entry = signed(signing, manifest_bytes(str(uuid.uuid4()), b"\0" * 32, **changes))
    with pytest.raises(JobRejectedError) as err:
        ManifestVerifier(signing.public_key(), STATION).verify(entry, NOW)
    assert err.value.reason == reason


def test_payload_sealed_for_another_job_does_not_open(keys):
    signing, station = keys
    job_id = str(uuid.uuid4())
    ct, enc = seal(station.public_key(), str(uuid.uuid4()))
    manifest = parse_manifest(manifest_bytes(job_id, enc, len(ct)))
    with pytest.raises(JobRejectedError, match="bad-payload"):
        open_payload(ct, manifest, station)


def test_payload_sealed_for_another_station_does_not_open(keys):
    _, station = keys
    job_id = str(uuid.uuid4())
    ct, enc = seal(station.public_key(), job_id, station="3319-06")
    with pytest.raises(JobRejectedError, match="bad-payload"):
        open_payload(ct, parse_manifest(manifest_bytes(job_id, enc, len(ct))), station)


def test_job_id_is_peeked_only_from_a_uuid():
    assert peek_job_id(b'{"job_id": "not-a-uuid"}') is None
    assert peek_job_id(b"\xff") is None
    job_id = str(uuid.uuid4())
    assert peek_job_id(json.dumps({"job_id": job_id}).encode()) == job_id

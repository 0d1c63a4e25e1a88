"""Each defect breaks exactly the check it names, and nothing else."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import date, datetime, timezone

import pytest
import urllib3
from Crypto.Protocol import HPKE
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from jobserver.demo import provision, start_demo_server

STATION = "3319-05"


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Station:
    """What a station sees of the server, written for these tests only."""

    def __init__(self, server, creds):
        self.server = server
        self.http = urllib3.PoolManager(retries=False)
        self.headers = {"Authorization": "Bearer " + creds.token_file.read_text().strip()}
        self.verifier = eddsa.new(ECC.import_key(creds.server_public_key.read_text()), "rfc8032")
        self.key = ECC.import_key(creds.station_private_key.read_text())

    def add(self, count=1, defect=None) -> urllib3.BaseHTTPResponse:
        return self.http.request("POST", self.server.url + "/v1/admin/jobs", headers=self.headers,
                                 body=json.dumps({"count": count, "defect": defect}))

    def entries(self) -> list[tuple[bytes, bytes, dict]]:
        doc = json.loads(self.http.request("GET", f"{self.server.url}/v1/stations/{STATION}/jobs?limit=100",
                                           headers=self.headers).data)
        return [(b64d(e["manifest"]), b64d(e["signature"]), json.loads(b64d(e["manifest"]))) for e in doc["jobs"]]

    def verifies(self, manifest: bytes, signature: bytes) -> bool:
        try:
            self.verifier.verify(manifest, signature)
            return True
        except ValueError:
            return False

    def download(self, fields: dict) -> bytes:
        return self.http.request("GET", self.server.url + fields["payload"]["url"], headers=self.headers).data

    def open(self, fields: dict, body: bytes) -> bytes:
        receiver = HPKE.new(receiver_key=self.key, aead_id=HPKE.AEAD.AES256_GCM,
                            info=b"ktp-job-v1:" + fields["job_id"].encode(), enc=b64d(fields["payload"]["enc_key"]))
        return receiver.unseal(body, fields["station_id"].encode())


@pytest.fixture
def station(tmp_path):
    server = start_demo_server(tmp_path, STATION, jobs=2)
    client = Station(server, provision(tmp_path, STATION))
    yield client
    server.stop()
    client.http.clear()


def add_defect(station: Station, defect: str) -> tuple[bytes, bytes, dict, list[dict]]:
    response = station.add(1, defect)
    assert response.status == 200, response.data
    *earlier, (manifest, signature, fields) = station.entries()
    assert fields["job_id"] == json.loads(response.data)["job_ids"][0]
    return manifest, signature, fields, [e[2] for e in earlier]


def test_sound_jobs_verify_hash_and_decrypt(station):
    for manifest, signature, fields in station.entries():
        body = station.download(fields)
        assert station.verifies(manifest, signature)
        assert hashlib.sha256(body).hexdigest() == fields["payload"]["sha256"]
        station.open(fields, body)


def test_bad_signature_does_not_verify_but_is_otherwise_sound(station):
    manifest, signature, fields, _ = add_defect(station, "bad-signature")
    assert not station.verifies(manifest, signature)
    assert fields["v"] == 1 and fields["station_id"] == STATION
    station.open(fields, station.download(fields))


def test_wrong_station_names_another_station_and_is_served_here(station):
    manifest, signature, fields, _ = add_defect(station, "wrong-station")
    assert station.verifies(manifest, signature)
    assert fields["station_id"] != STATION and fields["station_id"].startswith("3319-")


def test_expired_job_expired_before_now(station):
    manifest, signature, fields, _ = add_defect(station, "expired")
    assert station.verifies(manifest, signature)
    expires = datetime.fromisoformat(fields["expires_at"].replace("Z", "+00:00"))
    assert fields["issued_at"] < fields["expires_at"] and expires < datetime.now(timezone.utc)


def test_bad_version_is_a_signed_version_2_manifest(station):
    manifest, signature, fields, _ = add_defect(station, "bad-version")
    assert station.verifies(manifest, signature) and fields["v"] == 2


def test_replay_reuses_the_previous_seq_with_a_new_job_id(station):
    manifest, signature, fields, earlier = add_defect(station, "replay")
    assert station.verifies(manifest, signature)
    assert fields["seq"] == earlier[-1]["seq"]
    assert fields["job_id"] not in {e["job_id"] for e in earlier}


def test_rollback_goes_below_the_highest_seq_without_reusing_one(station):
    manifest, signature, fields, earlier = add_defect(station, "rollback")
    assert station.verifies(manifest, signature)
    seqs = {e["seq"] for e in earlier}
    assert fields["seq"] < max(seqs) and fields["seq"] not in seqs


def test_sound_job_after_defects_continues_above_the_highest_seq(station):
    for defect in ("rollback", "replay"):
        add_defect(station, defect)
    station.add(1)
    *earlier, (_, _, fields) = station.entries()
    assert fields["seq"] == max(e[2]["seq"] for e in earlier) + 1


def test_tampered_payload_fails_the_hash_check(station):
    manifest, signature, fields, _ = add_defect(station, "tampered-payload")
    body = station.download(fields)
    assert station.verifies(manifest, signature) and len(body) == fields["payload"]["size"]
    assert hashlib.sha256(body).hexdigest() != fields["payload"]["sha256"]
    with pytest.raises(ValueError):
        station.open(fields, body)


def test_wrong_job_binding_matches_the_hash_but_does_not_decrypt(station):
    manifest, signature, fields, _ = add_defect(station, "wrong-job-binding")
    body = station.download(fields)
    assert station.verifies(manifest, signature)
    assert hashlib.sha256(body).hexdigest() == fields["payload"]["sha256"]
    with pytest.raises(ValueError):
        station.open(fields, body)


def test_bad_card_data_nik_contradicts_the_birth_date(station):
    manifest, signature, fields, _ = add_defect(station, "bad-card-data")
    assert station.verifies(manifest, signature)
    with zipfile.ZipFile(io.BytesIO(station.open(fields, station.download(fields)))) as archive:
        card = json.loads(archive.read("card.json"))
    born = date.fromisoformat(card["tanggal_lahir"])
    day = int(card["nik"][6:8]) - (40 if card["jenis_kelamin"] == "PEREMPUAN" else 0)
    assert card["nik"][:6] == "331905" and len(card["nik"]) == 16
    assert (day, int(card["nik"][8:10]), int(card["nik"][10:12])) != (born.day, born.month, born.year % 100)


def test_replay_without_an_earlier_job_is_refused(tmp_path):
    server = start_demo_server(tmp_path, STATION, jobs=0)
    try:
        response = Station(server, provision(tmp_path, STATION)).add(1, "replay")
        assert response.status == 400 and json.loads(response.data)["field"] == "defect"
    finally:
        server.stop()

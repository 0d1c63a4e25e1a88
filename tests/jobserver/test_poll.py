"""Polling over real loopback HTTP: signed manifests, sealed payloads, cursors, auth, throttle."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest
import urllib3
from Crypto.Protocol import HPKE
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from jobserver.demo import provision, start_demo_server

STATION = "3319-05"


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def station(tmp_path):
    server = start_demo_server(tmp_path, STATION, jobs=5)
    creds = provision(tmp_path, STATION)
    http = urllib3.PoolManager(retries=False)
    headers = {"Authorization": "Bearer " + creds.token_file.read_text().strip()}
    yield server, creds, http, headers
    server.stop()
    http.clear()


def poll(station, query: str = "") -> tuple[int, dict]:
    server, _, http, headers = station
    response = http.request("GET", f"{server.url}/v1/stations/{STATION}/jobs{query}", headers=headers)
    return response.status, json.loads(response.data)


def test_poll_returns_manifests_signed_by_the_server_key(station):
    status, doc = poll(station)
    assert status == 200 and len(doc["jobs"]) == 5
    verifier = eddsa.new(ECC.import_key(station[1].server_public_key.read_text()), "rfc8032")
    seqs = []
    for entry in doc["jobs"]:
        manifest = b64d(entry["manifest"])
        verifier.verify(manifest, b64d(entry["signature"]))
        fields = json.loads(manifest)
        assert list(fields) == ["v", "job_id", "station_id", "seq", "issued_at", "expires_at", "payload", "card"]
        assert fields["v"] == 1 and fields["station_id"] == STATION
        assert fields["issued_at"].endswith("Z") and fields["expires_at"] > fields["issued_at"]
        assert fields["payload"]["enc"] == "hpke-x25519-sha256-aes256gcm"
        assert fields["payload"]["url"] == "/v1/payloads/" + fields["payload"]["sha256"]
        assert fields["card"] == {"layout": "ektp-v1", "copies": 1}
        seqs.append(fields["seq"])
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert doc["poll_after_s"] == 2 and isinstance(doc["next_cursor"], str)


def test_payload_decrypts_with_the_station_key_into_the_card_zip(station):
    server, creds, http, headers = station
    _, doc = poll(station)
    station_key = ECC.import_key(creds.station_private_key.read_text())
    for entry in doc["jobs"]:
        manifest = json.loads(b64d(entry["manifest"]))
        body = http.request("GET", server.url + manifest["payload"]["url"], headers=headers).data
        assert len(body) == manifest["payload"]["size"]
        assert hashlib.sha256(body).hexdigest() == manifest["payload"]["sha256"]
        receiver = HPKE.new(receiver_key=station_key, aead_id=HPKE.AEAD.AES256_GCM,
                            info=b"ktp-job-v1:" + manifest["job_id"].encode(),
                            enc=b64d(manifest["payload"]["enc_key"]))
        plaintext = receiver.unseal(body, STATION.encode())
        with zipfile.ZipFile(io.BytesIO(plaintext)) as archive:
            assert {i.filename for i in archive.infolist()} == {"card.json", "photo.jpg", "signature.png"}
            assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
            card = json.loads(archive.read("card.json").decode("utf-8"))
            assert card["nik"].startswith("331905")
            assert 15_000 <= len(archive.read("photo.jpg")) <= 40_000
            assert archive.read("signature.png").startswith(b"\x89PNG")


def test_cursor_pages_through_jobs_in_order_and_then_returns_nothing(station):
    _, everything = poll(station)
    seen, cursor = [], ""
    for _ in range(3):
        status, page = poll(station, f"?limit=2&after={cursor}")
        assert status == 200 and len(page["jobs"]) <= 2
        seen += page["jobs"]
        cursor = page["next_cursor"]
    assert seen == everything["jobs"]
    _, empty = poll(station, f"?after={cursor}")
    assert empty["jobs"] == [] and empty["next_cursor"] == cursor


def test_new_jobs_appear_after_the_stored_cursor(station):
    server, _, http, headers = station
    _, first = poll(station)
    added = http.request("POST", server.url + "/v1/admin/jobs", headers=headers, body=json.dumps({"count": 2}))
    job_ids = json.loads(added.data)["job_ids"]
    _, second = poll(station, "?after=" + first["next_cursor"])
    assert [json.loads(b64d(e["manifest"]))["job_id"] for e in second["jobs"]] == job_ids


def test_limit_defaults_to_ten_and_is_capped_at_one_hundred(station):
    server, _, http, headers = station
    http.request("POST", server.url + "/v1/admin/jobs", headers=headers, body=json.dumps({"count": 96}))
    assert len(poll(station)[1]["jobs"]) == 10
    assert len(poll(station, "?limit=500")[1]["jobs"]) == 100


@pytest.mark.parametrize("query, field", [("?limit=0", "limit"), ("?limit=x", "limit"), ("?after=%25%25", "after")])
def test_bad_query_is_400_naming_the_field(station, query, field):
    status, doc = poll(station, query)
    assert status == 400 and doc["field"] == field


def test_cursor_from_another_server_state_starts_over(station, tmp_path_factory):
    other_dir = tmp_path_factory.mktemp("other")
    other = start_demo_server(other_dir, STATION, jobs=1)
    token = provision(other_dir, STATION).token_file.read_text().strip()
    try:
        foreign = json.loads(urllib3.request("GET", f"{other.url}/v1/stations/{STATION}/jobs",
                                             headers={"Authorization": "Bearer " + token}).data)
    finally:
        other.stop()
    assert len(foreign["jobs"]) == 1
    assert len(poll(station, "?after=" + foreign["next_cursor"])[1]["jobs"]) == 5


def test_missing_or_unknown_token_is_401(station):
    server, _, http, _ = station
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = http.request("GET", f"{server.url}/v1/stations/{STATION}/jobs", headers=headers)
        assert response.status == 401 and "error" in json.loads(response.data)


def test_polling_another_station_is_403(station):
    server, _, http, headers = station
    response = http.request("GET", f"{server.url}/v1/stations/3319-06/jobs", headers=headers)
    assert response.status == 403


def test_unknown_path_is_404_and_wrong_method_405_with_json_bodies(station):
    server, _, http, headers = station
    missing = http.request("GET", server.url + "/v1/nothing", headers=headers)
    assert missing.status == 404 and json.loads(missing.data)["error"]
    wrong = http.request("POST", f"{server.url}/v1/stations/{STATION}/jobs", headers=headers, body=b"{}")
    assert wrong.status == 405 and json.loads(wrong.data)["error"]


def test_throttle_answers_the_next_requests_with_retry_after(station):
    server = station[0]
    server.set_throttle(429, 7, 2)
    for _ in range(2):
        status, doc = poll(station)
        assert status == 429
    server.set_throttle(503, 3, 1)
    response = station[2].request("GET", f"{server.url}/v1/stations/{STATION}/jobs", headers=station[3])
    assert response.status == 503 and response.headers["Retry-After"] == "3"
    assert poll(station)[0] == 200


def test_connection_is_kept_alive_across_requests(station):
    server, _, _, headers = station
    pool = urllib3.HTTPConnectionPool("127.0.0.1", server.port, maxsize=1, retries=False)
    for _ in range(3):
        response = pool.request("GET", f"/v1/stations/{STATION}/jobs", headers=headers)
        assert response.status == 200 and "Content-Length" in response.headers
    assert pool.num_connections == 1
    pool.close()

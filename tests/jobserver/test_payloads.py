"""Payload downloads: ETag, byte ranges, If-Range, 416, HEAD, access."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
import urllib3
from Crypto.PublicKey import ECC

from jobserver.server import JobServer
from jobserver.store import JobStore

STATION, OTHER = "3319-05", "3319-06"
TOKENS = {"token-a": STATION, "token-b": OTHER}


@pytest.fixture
def served():
    keys = {sid: ECC.generate(curve="X25519").public_key() for sid in (STATION, OTHER)}
    store = JobStore(None, ECC.generate(curve="Ed25519"), keys)
    store.add_jobs(STATION, 1)
    store.add_jobs(OTHER, 1)
    server = JobServer(store, tokens=TOKENS).start()
    manifest = json.loads(store.station_jobs(STATION)[0].manifest)
    http = urllib3.PoolManager(retries=False)
    yield server, http, manifest
    server.stop()
    http.clear()


def fetch(served, extra=None, method="GET", token="token-a", url=None):
    server, http, manifest = served
    headers = {"Authorization": f"Bearer {token}", **(extra or {})}
    return http.request(method, server.url + (url or manifest["payload"]["url"]), headers=headers)


def test_whole_payload_has_etag_accept_ranges_and_matches_the_manifest(served):
    manifest = served[2]
    response = fetch(served)
    assert response.status == 200
    assert response.headers["ETag"] == f'"{manifest["payload"]["sha256"]}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert int(response.headers["Content-Length"]) == manifest["payload"]["size"] == len(response.data)
    assert hashlib.sha256(response.data).hexdigest() == manifest["payload"]["sha256"]


def test_open_range_resumes_with_206_and_content_range(served):
    whole = fetch(served).data
    size = len(whole)
    response = fetch(served, {"Range": "bytes=1000-"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 1000-{size - 1}/{size}"
    assert response.data == whole[1000:]


def test_closed_range_returns_exactly_those_bytes(served):
    whole = fetch(served).data
    response = fetch(served, {"Range": "bytes=10-19"})
    assert response.status == 206 and response.data == whole[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    clipped = fetch(served, {"Range": f"bytes=5-{len(whole) + 50}"})
    assert clipped.status == 206 and clipped.data == whole[5:]


def test_suffix_range_returns_the_last_bytes(served):
    whole = fetch(served).data
    response = fetch(served, {"Range": "bytes=-100"})
    assert response.status == 206 and response.data == whole[-100:]


def test_if_range_with_the_current_etag_honours_the_range(served):
    etag = fetch(served).headers["ETag"]
    response = fetch(served, {"Range": "bytes=100-", "If-Range": etag})
    assert response.status == 206


def test_if_range_with_another_etag_sends_the_whole_body(served):
    whole = fetch(served).data
    response = fetch(served, {"Range": "bytes=100-", "If-Range": '"0000"'})
    assert response.status == 200 and response.data == whole and "Content-Range" not in response.headers


def test_range_past_the_end_is_416_with_the_size(served):
    size = served[2]["payload"]["size"]
    response = fetch(served, {"Range": f"bytes={size}-"})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["bytes=20-10", "items=0-5", "bytes=0-1,5-9", "bytes=-"])
def test_malformed_or_multipart_range_gets_the_whole_body(served, header):
    response = fetch(served, {"Range": header})
    assert response.status == 200 and len(response.data) == served[2]["payload"]["size"]


def test_head_gives_headers_without_a_body(served):
    response = fetch(served, method="HEAD")
    assert response.status == 200 and response.data == b""
    assert int(response.headers["Content-Length"]) == served[2]["payload"]["size"]
    assert fetch(served, method="GET").status == 200  # the connection is still in step


def test_unknown_payload_is_404(served):
    assert fetch(served, url="/v1/payloads/" + "0" * 64).status == 404
    assert fetch(served, url="/v1/payloads/not-a-hash").status == 404


def test_another_stations_payload_is_403(served):
    assert fetch(served, token="token-b").status == 403
    assert fetch(served, token="nobody").status == 401


def test_poll_shows_each_station_only_its_own_jobs(served):
    server, http, _ = served
    for token, station_id in TOKENS.items():
        doc = json.loads(http.request("GET", f"{server.url}/v1/stations/{station_id}/jobs",
                                      headers={"Authorization": f"Bearer {token}"}).data)
        manifests = [json.loads(base64.urlsafe_b64decode(e["manifest"] + "==")) for e in doc["jobs"]]
        assert [m["station_id"] for m in manifests] == [station_id]


def test_ignore_range_fault_answers_200_with_the_whole_body(served):
    served[0].set_payload_fault("ignore-range", 1)
    response = fetch(served, {"Range": "bytes=100-"})
    assert response.status == 200 and len(response.data) == served[2]["payload"]["size"]
    assert fetch(served, {"Range": "bytes=100-"}).status == 206


def test_truncate_fault_closes_after_part_of_the_announced_body(served):
    served[0].set_payload_fault("truncate", 1, cut_at=500)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        fetch(served)
    assert len(fetch(served).data) == served[2]["payload"]["size"]


def test_stall_fault_pauses_mid_body_then_finishes(served):
    served[0].set_payload_fault("stall", 1, cut_at=500, stall_s=0.3)
    server, http, manifest = served
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        http.request("GET", server.url + manifest["payload"]["url"], headers={"Authorization": "Bearer token-a"},
                     timeout=urllib3.Timeout(read=0.1))
    served[0].set_payload_fault("stall", 1, cut_at=500, stall_s=0.05)
    assert len(fetch(served).data) == manifest["payload"]["size"]

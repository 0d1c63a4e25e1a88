"""Result reports: first accepted, repeats idempotent, contradictions 409, bad fields 400."""
from __future__ import annotations

import json

import pytest
import urllib3
from Crypto.PublicKey import ECC

from jobserver.server import JobServer
from jobserver.store import JobStore

STATION, OTHER = "3319-05", "3319-06"


def report(**changes):
    base = {"station_id": STATION, "status": "printed", "blank_serial": "04A1B2C3D4E5F6",
            "finished_at": "2026-11-20T08:05:00Z", "attempts": 1, "reason": None}
    return {**base, **changes}


@pytest.fixture
def served():
    keys = {sid: ECC.generate(curve="X25519").public_key() for sid in (STATION, OTHER)}
    store = JobStore(None, ECC.generate(curve="Ed25519"), keys)
    job_ids = store.add_jobs(STATION, 2)
    store.add_jobs(OTHER, 1)
    server = JobServer(store, tokens={"token-a": STATION, "token-b": OTHER}).start()
    http = urllib3.PoolManager(retries=False)
    yield server, http, job_ids
    server.stop()
    http.clear()


def post(served, job_id, body, token="token-a"):
    server, http, _ = served
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = http.request("POST", f"{server.url}/v1/jobs/{job_id}/result", body=raw,
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return response.status, json.loads(response.data)


def test_first_report_is_accepted_and_listed(served):
    job_id = served[2][0]
    assert post(served, job_id, report()) == (200, {"ok": True})
    assert served[0].store.results() == {job_id: report()}


def test_same_report_again_is_200_even_with_new_attempts_and_time(served):
    job_id = served[2][0]
    post(served, job_id, report())
    again = report(attempts=2, finished_at="2026-11-20T09:00:00Z", blank_serial="04a1b2c3d4e5f6")
    assert post(served, job_id, again) == (200, {"ok": True})
    assert post(served, job_id, report()) == (200, {"ok": True})
    log = served[0].store.report_log()
    assert [entry["job_id"] for entry in log] == [job_id] * 3
    assert [entry["http_status"] for entry in log] == [200, 200, 200]
    assert served[0].store.results()[job_id] == report()


@pytest.mark.parametrize("contradiction", [
    {"status": "spoiled", "reason": "jam"},
    {"blank_serial": "04FFFFFFFFFFFF"},
    {"status": "rejected", "blank_serial": None, "reason": "bad-payload"},
])
def test_contradicting_report_is_409_and_the_first_is_kept(served, contradiction):
    job_id = served[2][0]
    post(served, job_id, report())
    status, body = post(served, job_id, report(**contradiction))
    assert status == 409 and body["accepted"] == report()
    assert served[0].store.results()[job_id] == report()


@pytest.mark.parametrize("field, value", [
    ("station_id", "3319-06"), ("status", "lost"), ("attempts", 0), ("attempts", "1"),
    ("attempts", True), ("finished_at", None), ("blank_serial", "not-hex"), ("reason", 5),
])
def test_bad_field_is_400_naming_it(served, field, value):
    status, body = post(served, served[2][0], report(**{field: value}))
    assert status == 400 and body["field"] == field and field in body["error"]
    assert served[0].store.results() == {}


def test_missing_field_is_400_naming_it(served):
    incomplete = report()
    del incomplete["reason"]
    status, body = post(served, served[2][0], incomplete)
    assert status == 400 and body["field"] == "reason"


def test_body_that_is_not_json_is_400(served):
    status, body = post(served, served[2][0], b"{not json")
    assert status == 400 and "error" in body


def test_report_for_unknown_job_is_404(served):
    status, body = post(served, "5d0c1c8e-0000-4000-8000-000000000000", report())
    assert status == 404 and "error" in body


def test_report_for_another_stations_job_is_403(served):
    assert post(served, served[2][0], report(station_id=OTHER), token="token-b")[0] == 403


def test_null_blank_serial_and_reason_are_accepted(served):
    rejected = report(status="rejected", blank_serial=None, reason="bad-signature")
    assert post(served, served[2][1], rejected) == (200, {"ok": True})


def test_admin_results_lists_accepted_reports_and_counts_posts(served):
    server, http, job_ids = served
    post(served, job_ids[0], report())
    post(served, job_ids[0], report())
    post(served, job_ids[0], report(status="spoiled"))
    response = http.request("GET", server.url + "/v1/admin/results", headers={"Authorization": "Bearer token-a"})
    assert json.loads(response.data) == {"results": {job_ids[0]: report()}, "log_count": 3}
    other = http.request("GET", server.url + "/v1/admin/results", headers={"Authorization": "Bearer token-b"})
    assert json.loads(other.data) == {"results": {}, "log_count": 0}


def test_admin_add_jobs_rejects_bad_count_and_unknown_defect(served):
    server, http, _ = served
    headers = {"Authorization": "Bearer token-a"}
    for body, field in (({"count": 0}, "count"), ({"count": "2"}, "count"), ({"count": 1, "defect": "x"}, "defect")):
        response = http.request("POST", server.url + "/v1/admin/jobs", headers=headers, body=json.dumps(body))
        assert response.status == 400 and json.loads(response.data)["field"] == field

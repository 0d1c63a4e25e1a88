"""``blank_counter`` in result reports: checked, kept, idempotent, contradictions refused, and the
audit that every consumed blank appears in exactly one report, random-UID blanks included."""
from __future__ import annotations

import json

import pytest
import urllib3
from Crypto.PublicKey import ECC

from jobserver.reports import audit_blanks
from jobserver.server import JobServer
from jobserver.store import JobStore

STATION, OTHER = "3319-05", "3319-06"


def report(**changes):
    base = {"station_id": STATION, "status": "printed", "blank_serial": None,
            "finished_at": "2026-11-20T08:05:00Z", "attempts": 1, "reason": None, "blank_counter": 7}
    return {k: v for k, v in {**base, **changes}.items() if v != "absent"}


@pytest.fixture
def served(tmp_path):
    keys = {sid: ECC.generate(curve="X25519").public_key() for sid in (STATION, OTHER)}
    store = JobStore(tmp_path / "server", ECC.generate(curve="Ed25519"), keys)
    job_ids = store.add_jobs(STATION, 4)
    other = store.add_jobs(OTHER, 1)
    server = JobServer(store, tokens={"token-a": STATION, "token-b": OTHER}).start()
    http = urllib3.PoolManager(retries=False)
    yield server, http, job_ids, other
    server.stop()
    http.clear()


def post(served, job_id, body, token="token-a"):
    server, http = served[:2]
    response = http.request("POST", f"{server.url}/v1/jobs/{job_id}/result", body=json.dumps(body).encode(),
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return response.status, json.loads(response.data)


def blank_audit(served, token="token-a"):
    server, http = served[:2]
    response = http.request("GET", server.url + "/v1/admin/blank-audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    return json.loads(response.data)


def test_a_random_uid_blank_is_accepted_with_null_serial_and_its_counter_kept(served):
    job_id = served[2][0]
    assert post(served, job_id, report()) == (200, {"ok": True})
    assert served[0].store.results()[job_id]["blank_counter"] == 7


@pytest.mark.parametrize("value", [-1, "7", 7.0, True, None, [7], {"n": 7}])
def test_a_blank_counter_of_the_wrong_type_is_400_naming_the_field(served, value):
    status, body = post(served, served[2][0], report(blank_counter=value))
    assert status == 400 and body["field"] == "blank_counter" and "blank_counter" in body["error"]
    assert served[0].store.results() == {}


@pytest.mark.parametrize("status", ["rejected", "expired"])
def test_a_report_that_consumed_no_blank_may_not_name_one(served, status):
    code, body = post(served, served[2][0], report(status=status, reason="bad-payload"))
    assert code == 400 and body["field"] == "blank_counter"


def test_old_reports_without_the_field_are_still_accepted(served):
    job_id = served[2][0]
    old = report(blank_counter="absent", blank_serial="04a1b2c3d4e5f6")
    assert post(served, job_id, old) == (200, {"ok": True})
    assert "blank_counter" not in served[0].store.results()[job_id]


def test_the_same_counter_again_is_a_repeat_and_another_one_a_contradiction(served):
    job_id = served[2][0]
    post(served, job_id, report())
    assert post(served, job_id, report(attempts=2, finished_at="2026-11-20T09:00:00Z")) == (200, {"ok": True})
    status, body = post(served, job_id, report(blank_counter=8))
    assert status == 409 and body["accepted"] == report()
    assert served[0].store.results()[job_id]["blank_counter"] == 7
    assert [e["http_status"] for e in served[0].store.report_log()] == [200, 200, 409]


def test_a_repeat_that_adds_the_counter_is_accepted_and_the_counter_kept(served, tmp_path):
    job_id = served[2][0]
    post(served, job_id, report(blank_counter="absent"))  # queued before the station's upgrade
    assert post(served, job_id, report(blank_counter=7)) == (200, {"ok": True})
    assert post(served, job_id, report(blank_counter="absent")) == (200, {"ok": True})
    assert post(served, job_id, report(blank_counter=9))[0] == 409
    assert served[0].store.results()[job_id]["blank_counter"] == 7
    reloaded = JobStore(tmp_path / "server", ECC.generate(curve="Ed25519"), {})
    assert reloaded.results()[job_id]["blank_counter"] == 7


def test_the_audit_finds_each_blank_once_by_counter_for_random_uids_too(served):
    a, b, c, d = served[2]
    post(served, a, report(blank_counter=1))
    post(served, b, report(status="spoiled", reason="media-jam", blank_counter=2))
    post(served, c, report(status="rejected", reason="bad-payload", blank_counter="absent"))
    post(served, d, report(blank_counter=3, blank_serial="04a1b2c3d4e5f6"))
    post(served, served[3][0], report(station_id=OTHER, blank_counter=1), token="token-b")  # another printer
    assert blank_audit(served) == {"consumed_reports": 3, "counted": 3, "first": 1, "last": 3, "repeated": {},
                                   "gaps": [], "without_counter": [], "each_blank_once": True}


def test_the_audit_names_a_blank_reported_twice_a_gap_and_a_report_without_counter(served):
    a, b, c, d = served[2]
    post(served, a, report(blank_counter=4))
    post(served, b, report(blank_counter=4))
    post(served, c, report(blank_counter=6))
    post(served, d, report(blank_counter="absent", blank_serial="04a1b2c3d4e5f6"))
    audit = blank_audit(served)
    assert audit["repeated"] == {"4": sorted([a, b])} and audit["gaps"] == [5]
    assert audit["without_counter"] == [d] and audit["each_blank_once"] is False


def test_the_audit_of_a_station_without_reports_is_empty():
    assert audit_blanks({}) == {"consumed_reports": 0, "counted": 0, "first": None, "last": None,
                                "repeated": {}, "gaps": [], "without_counter": [], "each_blank_once": True}

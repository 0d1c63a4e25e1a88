"""Offline receipts (protocol section 6) and bundles on the central side: the station's writer
against the reference server's reader, the HMAC, idempotence, contradictions, and the commands."""
from __future__ import annotations

import json
import re
import zipfile
from datetime import datetime, timezone

import pytest
import urllib3
from Crypto.PublicKey import ECC

from agent.cli import main as agent_main
from agent.journal import JobState, Journal
from agent.offline import receipts_bytes, write_receipts
from jobserver.bundles import write_bundle
from jobserver.demo import open_store, provision, provision_server
from jobserver.keys import load_station_private_key, load_token
from jobserver.receipts import ReceiptError, apply_receipts, parse_receipts
from jobserver.server import JobServer
from jobserver.store import JobStore

STATION = "3319-05"
TOKEN = "station-token-for-receipts"


def _report(status: str, counter: int | None = None, reason: str | None = None) -> dict:
    body = {"station_id": STATION, "status": status, "blank_serial": None, "finished_at": "2026-11-30T08:00:00Z",
            "attempts": 1, "reason": reason}
    if counter is not None:
        body["blank_counter"] = counter
    return body


@pytest.fixture
def store() -> JobStore:
    return JobStore(None, ECC.generate(curve="Ed25519"), {STATION: ECC.generate(curve="X25519").public_key()})


def test_the_stations_receipts_verify_on_the_server_with_the_same_token():
    reports = [("a1", _report("printed", 7)), ("b2", _report("rejected", reason="expired"))]
    data = receipts_bytes(reports, TOKEN)
    lines = data.decode().splitlines()
    assert json.loads(lines[-1])["count"] == 2 and len(lines) == 3
    assert parse_receipts(data, TOKEN) == reports


@pytest.mark.parametrize("damage", ["altered byte", "other token", "line dropped", "no trailer"])
def test_altered_or_foreign_receipts_are_refused_whole(damage):
    data = receipts_bytes([("a1", _report("printed", 7)), ("b2", _report("spoiled", 8))], TOKEN)
    token = TOKEN
    if damage == "altered byte":
        data = data.replace(b'"blank_counter":7', b'"blank_counter":9')
    elif damage == "other token":
        token = "another-station-token"
    elif damage == "line dropped":
        data = b"\n".join(data.split(b"\n")[1:])
    else:
        data = data[:data.rstrip(b"\n").rfind(b"\n") + 1]
    with pytest.raises(ReceiptError):
        parse_receipts(data, token)


def test_receipts_apply_once_then_as_duplicates_and_a_contradiction_is_refused_and_listed(store):
    a, b, c = store.add_jobs(STATION, 3)
    assert store.record(c, _report("spoiled", 3))[0] == 200  # already reported online
    data = receipts_bytes([(a, _report("printed", 1)), (b, _report("printed", 2)), (c, _report("printed", 3)),
                           ("00000000-0000-0000-0000-000000000000", _report("printed", 4))], TOKEN)
    first = apply_receipts(store, STATION, data, TOKEN)
    assert (first.applied, first.duplicates, first.conflicts) == (2, 0, [c])
    assert list(first.refused) == ["00000000-0000-0000-0000-000000000000"]
    again = apply_receipts(store, STATION, data, TOKEN)
    assert (again.applied, again.duplicates, again.conflicts) == (0, 2, [c])
    assert store.results()[c]["status"] == "spoiled"  # the earlier report is kept
    assert store.results()[a]["blank_counter"] == 1
    assert store.blank_audit(STATION)["each_blank_once"]


def test_the_receipts_endpoint_applies_a_stations_file_and_checks_its_token(store):
    job_ids = store.add_jobs(STATION, 2)
    data = receipts_bytes([(j, _report("printed", n)) for n, j in enumerate(job_ids, start=1)], TOKEN)
    with JobServer(store, tokens={TOKEN: STATION, "other": "3319-06"}, poll_after_s=1) as server:
        http = urllib3.PoolManager(retries=False)
        url = f"{server.url}/v1/stations/{STATION}/receipts"
        answer = http.request("POST", url, body=data, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status == 200
        assert json.loads(answer.data) == {"applied": 2, "duplicates": 0, "conflicts": [], "refused": {}}
        assert json.loads(http.request("POST", url, body=data, headers={"Authorization": f"Bearer {TOKEN}"})
                          .data)["duplicates"] == 2
        forged = http.request("POST", url, body=data.replace(b"printed", b"spoiled"),
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert forged.status == 400 and "HMAC" in json.loads(forged.data)["error"]
        assert http.request("POST", url, body=data, headers={"Authorization": "Bearer other"}).status == 403


def test_the_bundle_holds_only_pending_jobs_stored_not_deflated(tmp_path, store):
    job_ids = store.add_jobs(STATION, 3)
    store.record(job_ids[0], _report("printed", 1))
    written = write_bundle(store, STATION, tmp_path, at=datetime(2026, 11, 30, 8, 15, tzinfo=timezone.utc))
    assert written.path.name == f"{STATION}-20261130T081500Z.ktpjobs"
    assert written.job_ids == job_ids[1:]
    with zipfile.ZipFile(written.path) as archive:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        index = json.loads(archive.read("bundle.json"))
        shas = {store.job(j).payload_sha256 for j in job_ids[1:]}
        assert {n for n in archive.namelist() if n != "bundle.json"} == {f"payloads/{s}" for s in shas}
    assert (index["v"], index["station_id"], len(index["jobs"])) == (1, STATION, 2)


def test_the_station_writes_receipts_atomically_with_its_queued_reports(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.receive("11111111-1111-1111-1111-111111111111", b"{}", b"")
    journal.finish("11111111-1111-1111-1111-111111111111", JobState.REJECTED, STATION, reason="bad-signature")
    stick = tmp_path / "stick"
    stick.mkdir()
    written = write_receipts(journal, STATION, TOKEN, stick, at=1_795_000_000)
    assert re.fullmatch(rf"{STATION}-\d{{8}}T\d{{6}}Z\.ktpresults", written.path.name)
    assert [p.name for p in stick.iterdir()] == [written.path.name]  # no temporary file left
    [(job_id, report)] = parse_receipts(written.path.read_bytes(), TOKEN)
    assert (job_id, report["status"], report["reason"]) == ("11111111-1111-1111-1111-111111111111", "rejected",
                                                            "bad-signature")
    assert journal.outbox_depth() == 1  # still queued until the server confirms it


def test_the_jobserver_commands_write_a_bundle_and_import_results(tmp_path, capsys):
    state = tmp_path / "central"
    creds = provision(state, STATION)
    station_key = load_station_private_key(creds.station_private_key).public_key()
    store = open_store(state / "server", provision_server(state).signing_key, {STATION: station_key})
    job_ids = store.add_jobs(STATION, 2)
    out = tmp_path / "stick"
    out.mkdir()
    assert agent_main(["jobserver", "bundle", "--station", STATION, "--out", str(out), "--state", str(state)]) == 0
    [bundle] = out.glob("*.ktpjobs")
    assert "2 jobs" in capsys.readouterr().out
    receipts = out / f"{STATION}-20261130T100000Z.ktpresults"
    receipts.write_bytes(receipts_bytes([(j, _report("printed", n)) for n, j in enumerate(job_ids, 1)],
                                        load_token(creds.token_file)))
    assert agent_main(["jobserver", "import-results", str(receipts), "--state", str(state)]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == 2
    reopened = open_store(state / "server", provision_server(state).signing_key, {})
    assert set(reopened.results()) == set(job_ids)
    assert agent_main(["jobserver", "bundle", "--station", STATION, "--out", str(tmp_path / "again.ktpjobs"),
                       "--state", str(state)]) == 0
    assert "0 jobs" in capsys.readouterr().out
    assert bundle.exists()

"""State on disk: a restarted store or server keeps its jobs, payloads and results."""
from __future__ import annotations

import json
import stat

import pytest
import urllib3
from Crypto.PublicKey import ECC

from jobserver.demo import provision, start_demo_server
from jobserver.store import JobStore, StoreCorruptError

STATION = "3319-05"
REPORT = {"station_id": STATION, "status": "spoiled", "blank_serial": "04aa", "finished_at": "2026-11-20T08:00:00Z",
          "attempts": 2, "reason": "jam"}


@pytest.fixture
def keys():
    return ECC.generate(curve="Ed25519"), {STATION: ECC.generate(curve="X25519").public_key()}


def test_new_store_on_the_same_state_dir_serves_the_same_jobs_and_results(tmp_path, keys):
    first = JobStore(tmp_path, *keys)
    job_ids = first.add_jobs(STATION, 3)
    first.add_jobs(STATION, 1, defect="tampered-payload")
    first.record(job_ids[0], REPORT)
    first.record(job_ids[0], REPORT)
    again = JobStore(tmp_path, *keys)
    assert again.station_jobs(STATION) == first.station_jobs(STATION)
    for job in first.station_jobs(STATION):
        assert again.payload(job.payload_sha256) == first.payload(job.payload_sha256)
    assert again.results() == {job_ids[0]: REPORT}
    assert len(again.report_log()) == 2
    assert again.record(job_ids[0], {**REPORT, "reason": "ribbon"})[0] == 409
    assert again.epoch == first.epoch


def test_jobs_issued_after_a_restart_continue_seq_and_nik_serials(tmp_path, keys):
    JobStore(tmp_path, *keys).add_jobs(STATION, 2)
    store = JobStore(tmp_path, *keys)
    store.add_jobs(STATION, 2)
    manifests = [json.loads(job.manifest) for job in store.station_jobs(STATION)]
    assert [m["seq"] for m in manifests] == [1000, 1001, 1002, 1003]
    assert [job.position for job in store.station_jobs(STATION)] == [1, 2, 3, 4]


def test_state_is_one_file_per_job_and_payload_with_no_temp_files_left(tmp_path, keys):
    store = JobStore(tmp_path, *keys)
    job_ids = store.add_jobs(STATION, 2)
    store.record(job_ids[1], REPORT)
    assert sorted(p.stem for p in (tmp_path / "jobs").iterdir()) == sorted(job_ids)
    assert len(list((tmp_path / "payloads").iterdir())) == 2
    assert json.loads((tmp_path / "results.json").read_text())["results"] == {job_ids[1]: REPORT}
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_unreadable_job_file_is_refused_naming_it(tmp_path, keys):
    job_id = JobStore(tmp_path, *keys).add_jobs(STATION, 1)[0]
    (tmp_path / "jobs" / f"{job_id}.json").write_text("{")
    with pytest.raises(StoreCorruptError, match=job_id):
        JobStore(tmp_path, *keys)


def test_store_without_state_dir_writes_nothing(tmp_path, keys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = JobStore(None, *keys)
    store.record(store.add_jobs(STATION, 1)[0], REPORT)
    assert list(tmp_path.iterdir()) == []


def test_restarted_demo_server_keeps_jobs_results_and_cursor(tmp_path):
    http = urllib3.PoolManager(retries=False)
    server = start_demo_server(tmp_path, STATION, jobs=3)
    headers = {"Authorization": "Bearer " + provision(tmp_path, STATION).token_file.read_text().strip()}
    jobs_url = f"/v1/stations/{STATION}/jobs"
    before = json.loads(http.request("GET", server.url + jobs_url, headers=headers).data)
    job_id = server.store.station_jobs(STATION)[0].job_id
    http.request("POST", f"{server.url}/v1/jobs/{job_id}/result", headers=headers, body=json.dumps(REPORT))
    server.stop()
    server = start_demo_server(tmp_path, STATION, jobs=3)
    try:
        after = json.loads(http.request("GET", server.url + jobs_url, headers=headers).data)
        assert after["jobs"] == before["jobs"]
        resumed = json.loads(http.request("GET", f"{server.url}{jobs_url}?after={before['next_cursor']}",
                                          headers=headers).data)
        assert resumed["jobs"] == []
        assert server.store.results() == {job_id: REPORT}
    finally:
        server.stop()
        http.clear()


def test_private_state_files_are_owner_only(tmp_path):
    creds = provision(tmp_path, STATION)
    for path in (creds.server_signing_key, creds.station_private_key, creds.token_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

"""Attacks on the station: the real daemon against the reference server in its attack modes.

Every forged, replayed, rolled-back, expired, misaddressed, tampered,
rebound or never-ending job must be reported ``rejected`` with its reason,
and nothing of it printed: the simulated printer's counters do not move and
no card image appears. A station whose key file is missing must not start.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from testbed.station import REPO, StationHarness

pytestmark = pytest.mark.e2e

#: defect the server plants -> reason the station must report (protocol sections 1, 2 and 4).
#: A rollback has no code of its own in the protocol: it is a replay of a past seq.
MANIFEST_ATTACKS = {
    "replay": "replay",
    "rollback": "replay",
    "bad-signature": "bad-signature",
    "wrong-station": "wrong-station",
    "expired": "expired",
    "bad-version": "bad-version",
}
PAYLOAD_ATTACKS = {
    "tampered-payload": "bad-payload",
    "wrong-job-binding": "bad-payload",
    "bad-card-data": "bad-card-data",
}


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search("^" + pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def log_events(station: StationHarness) -> list[dict]:
    events = []
    for line in station.log().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def rejection_detail(station: StationHarness, job_id: str) -> str:
    details = [e.get("detail", "") for e in log_events(station)
               if e.get("event") == "job.rejected" and e.get("job_id") == job_id]
    assert details, f"no job.rejected event for {job_id}"
    return details[0]


def watch_payload_requests(station: StationHarness) -> list[str]:
    """Record the SHA-256 of every payload the station asks the (in-process) server for."""
    asked: list[str] = []
    store = station.server.store
    original = store.payload

    def payload(sha256_hex: str):
        asked.append(sha256_hex)
        return original(sha256_hex)

    store.payload = payload
    return asked


@pytest.fixture
def attacked(tmp_path):
    station = StationHarness(tmp_path)
    yield station
    station.close()


def test_every_attack_is_rejected_with_its_reason_and_nothing_prints(attacked):
    station = attacked
    # Sound jobs first, so there are seqs to replay and roll back below.
    sound = station.issue(2)
    station.start_daemon()
    assert {r["status"] for r in station.wait_reported(sound).values()} == {"printed"}
    printer_before, pngs_before = station.printer_state(), station.pngs()
    assert len(pngs_before) == 2
    asked = watch_payload_requests(station)

    planted = {defect: station.issue(1, defect=defect)[0] for defect in {**MANIFEST_ATTACKS, **PAYLOAD_ATTACKS}}
    results = station.wait_reported(list(planted.values()))

    for defect, job_id in planted.items():
        expected = {**MANIFEST_ATTACKS, **PAYLOAD_ATTACKS}[defect]
        assert results[job_id]["status"] == "rejected", defect
        assert results[job_id]["reason"] == expected, defect
        assert results[job_id]["blank_serial"] is None, defect
    # Manifest checks come before any download: none of those payloads was asked for.
    store = station.server.store
    fetched = set(asked)
    for defect in MANIFEST_ATTACKS:
        assert store.job(planted[defect]).payload_sha256 not in fetched, defect
    for defect in PAYLOAD_ATTACKS:
        assert store.job(planted[defect]).payload_sha256 in fetched, defect
    # The specific check that caught each one is named in the station's log.
    assert "rollback" in rejection_detail(station, planted["rollback"])
    assert "is held by job" in rejection_detail(station, planted["replay"])
    assert "does not decrypt" in rejection_detail(station, planted["wrong-job-binding"])
    corrupt = [e for e in log_events(station) if e.get("event") == "payload.corrupt"]
    assert {e["job_id"] for e in corrupt} == {planted["tampered-payload"]}
    assert len(corrupt) == 3  # transfer.max_corrupt_fetches, then given up

    text = station.metrics()
    assert metric(text, "ktp_jobs_rejected_total", 'reason="replay"') == 2
    assert metric(text, "ktp_jobs_rejected_total", 'reason="bad-payload"') == 2
    for reason in ("bad-signature", "wrong-station", "expired", "bad-version", "bad-card-data"):
        assert metric(text, "ktp_jobs_rejected_total", f'reason="{reason}"') == 1, reason
    assert metric(text, "ktp_cards_total", 'result="printed"') == 2

    assert station.stop_daemon() == 0
    assert station.printer_state()["cards_inserted"] == printer_before["cards_inserted"]
    assert station.printer_state()["panels_printed"] == printer_before["panels_printed"]
    assert station.pngs() == pngs_before
    assert not list((station.state / "spool").iterdir())  # rejected payloads are not kept either


def test_a_body_that_never_ends_is_cut_at_payload_size_and_rejected(attacked):
    station = attacked
    station.start_daemon()
    # The server answers 200 without Content-Length and streams zeros until the station hangs up.
    station.server.set_payload_fault("endless", 3, cut_at=0)
    job = station.issue(1)[0]
    size = json.loads(station.server.store.job(job).manifest)["payload"]["size"]
    result = station.wait_reported([job])[job]
    assert (result["status"], result["reason"]) == ("rejected", "bad-payload")

    requests = station.server.payload_requests()
    assert [r["fault"] for r in requests] == ["endless"] * 3  # three whole tries, then given up
    # Each stream ended because the station hung up, having taken exactly payload.size bytes.
    ended = station.wait_for(lambda: all(r["sent"] is not None for r in station.server.payload_requests()),
                             "the server to see the station hang up", timeout=20)
    assert ended
    text = station.metrics()
    assert metric(text, "ktp_link_bytes_total", 'kind="payload"') == 3 * size
    assert metric(text, "ktp_payload_corrupt_fetches_total") == 3
    assert station.stop_daemon() == 0
    assert station.printer_state()["cards_inserted"] == 0
    assert station.pngs() == []
    assert not list((station.state / "spool").iterdir())


@pytest.mark.parametrize("which,message", [
    ("signing_key", "server signing key not found"),
    ("station_key", "station key not found"),
    ("token_file", "station token not found"),
    ("garbled_signing_key", "not a PEM public key"),
])
def test_a_missing_or_garbled_key_file_stops_the_daemon_naming_the_file(tmp_path, which, message):
    station = StationHarness(tmp_path)
    try:
        paths = {"signing_key": station.creds.server_public_key, "station_key": station.creds.station_private_key,
                 "token_file": station.creds.token_file, "garbled_signing_key": station.creds.server_public_key}
        path = paths[which]
        if which.startswith("garbled"):
            path.write_text("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
        else:
            path.unlink()
        done = subprocess.run([sys.executable, "-m", "agent", "run", "--config", str(station.config_path)],
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert lines == [f"ktp-agent: {path}: {message}"]
        assert not (station.state / "journal.sqlite3").exists()  # nothing ran, not even the journal
        assert station.server.payload_requests() == [] and station.server.store.report_log() == []
    finally:
        station.close()


def test_rejected_seq_is_not_held_so_a_later_sound_job_still_prints(attacked):
    """A forged job's seq is never recorded: it cannot be used to block the real job of that seq."""
    station = attacked
    forged = station.issue(1, defect="bad-signature")  # seq 1000, not verified
    station.start_daemon()
    station.wait_reported(forged)
    sound = station.issue(1)  # seq 1001, above every seq held
    assert station.wait_reported(sound)[sound[0]]["status"] == "printed"
    assert station.stop_daemon() == 0

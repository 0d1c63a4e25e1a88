"""End to end: a station prints from a USB-stick bundle with the job server unreachable, and its
results travel back on a stick before the link returns (a link outage in short form).

The link is cut by stopping the job server: the station's configured address is then a closed
port on loopback. Back-off ceilings are shortened (1 s) so the returning link is noticed at once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import urllib3

from agent.technician.control import ControlClient
from jobserver.bundles import write_bundle
from jobserver.keys import load_token
from jobserver.receipts import apply_receipts
from jobserver.server import JobServer
from testbed.station import REPO, STATION

pytestmark = pytest.mark.e2e

SHORT_CLOCK = """
[transfer]
retry_initial_seconds = 0.2
retry_max_seconds = 1
"""


def _status(station) -> dict:
    return ControlClient(station.state / "control.sock", timeout=15).request("status")["status"]


def _mount(media, name: str, files=()) -> "os.PathLike":
    """A stick appearing in the watched folder at once, as a mount does."""
    hidden = media / f".{name}"
    hidden.mkdir()
    for file in files:
        (hidden / file.name).write_bytes(file.read_bytes())
    os.rename(hidden, media / name)
    return media / name


def _cut_link(station) -> int:
    port = station.server.port
    station.server.stop()
    return port


def _restore_link(station, port: int) -> None:
    station.server = JobServer(station.server.store, "127.0.0.1", port,
                               tokens={load_token(station.creds.token_file): STATION}, poll_after_s=1).start()


def test_a_link_outage_prints_every_job_from_a_stick_and_the_results_reach_the_server_once(make_station, tmp_path):
    station = make_station()
    media = tmp_path / "media"
    media.mkdir()
    station.config_path.write_text(station.config_path.read_text() + SHORT_CLOCK
                                   + f'[offline]\nwatch_dir = "{media}"\nscan_seconds = 0.2\n')
    online = station.issue(2)
    station.start_daemon()
    station.wait_reported(online)

    port = _cut_link(station)                                  # day 1: the link is cut
    outage = station.issue(6)
    central = tmp_path / "central-office"
    central.mkdir()
    bundle = write_bundle(station.server.store, STATION, central).path
    assert write_bundle(station.server.store, STATION, central / "check.ktpjobs").job_ids == outage

    stick = _mount(media, "KTP-STICK", [bundle])               # day 2: the bundle arrives
    status = station.wait_for(lambda: (s := _status(station))["queue"].get("printed", 0) == 6 and s,
                              "every bundled job printed with the link down", timeout=90)
    assert status["link"]["state"] != "ok" or status["link"]["age_s"] > 0
    assert status["outbox"] == 6 and status["offline"]["last_import"]["imported"] == 6
    assert list(stick.glob("*.ktpresults"))                    # receipts written on the stick by itself

    results_stick = _mount(media, "RESULTS")                   # results go out on a stick
    [receipts] = station.wait_for(lambda: list(results_stick.glob("*.ktpresults")), "receipts on the new stick")
    lines = receipts.read_text().splitlines()
    assert json.loads(lines[-1])["count"] == 6
    token = load_token(station.creds.token_file)
    applied = apply_receipts(station.server.store, STATION, receipts.read_bytes(), token)
    assert (applied.applied, applied.duplicates, applied.conflicts, applied.refused) == (6, 0, [], {})
    assert _status(station)["outbox"] == 6                     # queued until the server confirms

    _restore_link(station, port)                               # the link returns
    station.wait_for(lambda: _status(station)["outbox"] == 0, "the outbox drained once the link returned")
    assert station.stop_daemon() == 0

    store = station.server.store
    results = store.results()
    assert {results[j]["status"] for j in online + outage} == {"printed"}
    log = [e for e in store.report_log() if e["job_id"] in outage]
    assert all(e["http_status"] == 200 for e in log)           # repeats were duplicates, never conflicts
    assert not station.server.payload_requests()               # nothing downloaded after the outage
    counters = station.printout_counters()
    assert sorted(counters) == list(range(1, 9))               # every job printed once, on its own blank
    assert sorted(results[j]["blank_counter"] for j in online + outage) == counters
    http = urllib3.PoolManager(retries=False)
    audit = json.loads(http.request("GET", station.server.url + "/v1/admin/blank-audit",
                                    headers={"Authorization": f"Bearer {token}"}).data)
    assert audit["each_blank_once"] and audit["consumed_reports"] == 8


def _cli(station, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args, "--config", str(station.config_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_the_import_command_works_with_the_daemon_down_and_through_the_running_daemon(make_station, tmp_path):
    station = make_station()
    station.config_path.write_text(station.config_path.read_text() + SHORT_CLOCK)
    first = station.issue(3)
    stick = tmp_path / "stick"
    stick.mkdir()
    write_bundle(station.server.store, STATION, stick / "a.ktpjobs")
    _cut_link(station)
    done = _cli(station, "import", str(stick))                 # daemon down: the journal opened here
    assert done.returncode == 0, done.stderr
    assert "3 pekerjaan baru siap dicetak tanpa jaringan" in done.stdout
    station.start_daemon()
    second = station.server.store.add_jobs(STATION, 2)
    write_bundle(station.server.store, STATION, stick / "b.ktpjobs")
    done = _cli(station, "import", str(stick), "--lang", "en")  # daemon up: asked over the control socket
    assert done.returncode == 0, done.stderr + station.log()[-2000:]
    # a.ktpjobs is read again, and b.ktpjobs repeats the 3 jobs not yet reported: 6 already here.
    assert "2 new jobs ready to print offline" in done.stdout and "6 already here" in done.stdout
    station.wait_for(lambda: _status(station)["queue"].get("printed", 0) == 5, "all five printed offline", 90)
    exported = _cli(station, "export-results", str(stick))
    assert exported.returncode == 0 and "5 laporan" in exported.stdout
    shown = _cli(station, "status")
    assert "Impor terakhir" in shown.stdout and "Tanda terima terakhir" in shown.stdout
    assert station.stop_daemon() == 0
    assert len(station.pngs()) == 5 and set(first + second) <= {json.loads(line)["job_id"] for line in
                                                                 next(stick.glob("*.ktpresults")).read_text()
                                                                 .splitlines()[:-1]}


def test_a_bundle_adds_no_trust_each_bad_job_is_rejected_as_if_polled_and_nothing_of_it_printed(make_station,
                                                                                               tmp_path):
    station = make_station()
    media = tmp_path / "media"
    media.mkdir()
    station.config_path.write_text(station.config_path.read_text() + SHORT_CLOCK
                                   + f'[offline]\nwatch_dir = "{media}"\nscan_seconds = 0.2\n')
    good = station.issue(1)
    defects = ("replay", "bad-signature", "wrong-station", "expired", "bad-version", "wrong-job-binding",
               "bad-card-data")  # replay first: it repeats the sound job's seq
    bad = {defect: station.issue(1, defect=defect)[0] for defect in defects}
    tampered = station.issue(1, defect="tampered-payload")[0]
    bundle = write_bundle(station.server.store, STATION, tmp_path).path
    _cut_link(station)
    station.start_daemon()
    _mount(media, "STICK", [bundle])
    station.wait_for(lambda: _status(station)["queue"].get("printed", 0) == 1, "the sound job printed", 60)
    journal_reasons = station.wait_for(lambda: _reasons(station, list(bad.values())), "every bad job rejected", 60)
    assert station.stop_daemon() == 0
    expected = {"bad-signature": "bad-signature", "wrong-station": "wrong-station", "expired": "expired",
                "bad-version": "bad-version", "replay": "replay", "wrong-job-binding": "bad-payload",
                "bad-card-data": "bad-card-data"}
    assert {defect: journal_reasons[job_id] for defect, job_id in bad.items()} == expected
    assert len(station.pngs()) == 1 and good[0] not in journal_reasons
    assert _state(station, tampered) == "verified"  # its payload on the stick is not the signed one: it waits


def _reasons(station, job_ids: list[str]) -> dict[str, str] | None:
    import sqlite3

    db = sqlite3.connect(f"file:{station.state / 'journal.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        rows = dict(db.execute("SELECT job_id, reason FROM jobs WHERE state='rejected'").fetchall())
    finally:
        db.close()
    return rows if all(j in rows for j in job_ids) else None


def _state(station, job_id: str) -> str:
    import sqlite3

    db = sqlite3.connect(f"file:{station.state / 'journal.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT state FROM jobs WHERE job_id=?", (job_id,)).fetchone()[0]
    finally:
        db.close()

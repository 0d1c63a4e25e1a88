"""Blanks whose chips answer a random UID (ISO/IEC 14443-3), through a jam and two kills: from the
server's side every job is printed once and every consumed blank is in exactly one report, by the
printer's card counter."""
from __future__ import annotations

import json
import re
import sqlite3

import pytest
import urllib3

from drivers.simulated.control import send_control

pytestmark = pytest.mark.e2e

JOBS = 8
JAMMED_CARD = 5  # after both kills: a jam holds the card until it is taken out, in the last run


def run_until_it_kills_itself(station, point: str) -> None:
    """Start the daemon set to SIGKILL itself at the n-th pass of ``point``; wait for that."""
    station.start_daemon(wait=False, env_extra={"KTP_CRASH_AT": point})
    assert station.process.wait(60) == -9, station.log()[-3000:]
    station._log.close()


def server_blank_audit(station) -> dict:
    token = station.creds.token_file.read_text().strip()
    response = urllib3.PoolManager(retries=False).request(
        "GET", station.server.url + "/v1/admin/blank-audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    return json.loads(response.data)


def journal_blanks(station) -> dict[str, tuple[int | None, int]]:
    db = sqlite3.connect(station.state / "journal.sqlite3", timeout=10)
    try:
        rows = db.execute("SELECT job_id, blank_counter, blank_uid_random FROM jobs").fetchall()
    finally:
        db.close()
    return {job_id: (counter, random_uid) for job_id, counter, random_uid in rows}


def test_random_uid_blanks_are_each_reported_once_by_counter_through_a_jam_and_kills(make_station, tmp_path):
    control = tmp_path / "s0" / "station" / "printer-control.sock"  # in the harness's state folder
    station = make_station(print_ms=50, extra_reader="&random_uid=1",
                           extra_printer=f"&jam_at_card={JAMMED_CARD}&control={control}")
    jobs = station.issue(JOBS)
    # Killed with the second blank at the contactless station, its random UID recorded: the job
    # goes back to the queue, and the next job to print uses that blank (a new random UID).
    run_until_it_kills_itself(station, "print.blank:2")
    # Killed after a card printed, before its outcome was recorded: recovered from the counters.
    run_until_it_kills_itself(station, "print.done:2")
    station.start_daemon()
    # The jam holds the card, as a real one does, until a person takes it out.
    station.wait_for(lambda: station.printer_state()["jammed"], "the jam", timeout=60)
    assert send_control(str(control), {"fault": "jammed", "value": False}) == {"ok": True}
    results = station.wait_reported(jobs, timeout=120)
    metrics = station.metrics()
    assert station.stop_daemon() == 0

    log = station.server.store.report_log()
    assert all(entry["http_status"] == 200 for entry in log), "a report contradicted an earlier one"
    consumed = [r for r in results.values() if r["status"] in ("printed", "spoiled")]
    assert len(consumed) == JOBS and all(r["blank_serial"] is None for r in consumed)
    counters = sorted(r["blank_counter"] for r in consumed)
    assert counters == list(range(1, station.printer_state()["cards_inserted"] + 1)), "blank counters"
    printed = sorted(r["blank_counter"] for r in consumed if r["status"] == "printed")
    assert sorted(station.printout_counters()) == printed, "each printed job has exactly one printout"
    [jammed] = [r for r in consumed if r["status"] == "spoiled"]
    assert jammed["reason"] == "media-jam" and jammed["blank_counter"] == JAMMED_CARD
    assert any(r["attempts"] == 2 and r["status"] == "printed" for r in consumed), "the interrupted job, again"

    audit = server_blank_audit(station)
    assert audit["each_blank_once"] and audit["counted"] == JOBS and audit["repeated"] == {}
    recorded = journal_blanks(station)
    assert {recorded[j] for j in jobs} == {(r["blank_counter"], 1) for r in consumed}
    match = re.search(r"^ktp_random_uid_blanks_total ([0-9.]+)$", metrics, re.M)
    assert match and float(match.group(1)) >= 1

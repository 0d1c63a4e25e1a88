"""README's fault rehearsal, run as written against the real daemon: each fault caused and cleared
through the in-process simulators' control sockets in the state folder (as `make run` serves them),
`ktp-agent status` read at each step, and the fault history read again after a restart.

From the job server's side: every job reported once, every blank taken from the feeder in one report.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testbed.station import REPO
from tests.e2e.test_device_faults import accounted

pytestmark = pytest.mark.e2e


def ktp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.fixture
def rehearsal(make_station, tmp_path):
    state = tmp_path / "s0" / "station"  # the harness's state folder, as var/station is make run's
    station = make_station(print_ms=50, extra_printer=f"&control={state}/printer-control.sock",
                           extra_reader=f"&control={state}/reader-control.sock")
    station.start_daemon()
    yield station
    if station.process is not None and station.process.poll() is None:
        station.stop_daemon()


def control(station, device: str, message: str) -> dict:
    done = ktp("simulate", "control", str(station.state / f"{device}-control.sock"), message)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def status(station, *extra: str) -> subprocess.CompletedProcess:
    return ktp("status", "--config", str(station.config_path), *extra)


def status_json(station) -> dict:
    done = status(station, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def reasons(doc: dict) -> set[str]:
    return {r["keyword"] for r in doc["printer"]["reasons"]}


def wait_state(station, state: str, what: str) -> dict:
    return station.wait_for(lambda: (lambda d: d if d["state"] == state else None)(status_json(station)), what)


def test_every_rehearsal_recipe_causes_its_fault_and_clears_it(rehearsal):
    station = rehearsal
    station.wait_for(lambda: "simulator.control" in station.log() and "printer-control.sock" in station.log(),
                     "the start-up log to name the control sockets")
    assert ktp("stock", "load", "100", "--config", str(station.config_path)).returncode == 0
    jobs = station.issue(1)
    station.wait_reported(jobs)

    # cover open: the queue stops; closing it resumes by itself
    control(station, "printer", '{"fault": "cover_open", "value": true}')
    held = wait_state(station, "stopped", "cover-open to stop the station")
    assert "cover-open" in reasons(held)
    text = status(station)
    assert text.returncode == 1 and "BERHENTI" in text.stdout and "cover-open" in text.stdout
    control(station, "printer", '{"fault": "cover_open", "value": false}')
    wait_state(station, "ready", "the station to resume after the cover closed")

    # jam: the card stays inside and nothing prints until it is taken out
    control(station, "printer", '{"fault": "jammed", "value": true}')
    jammed_job = station.issue(1)
    results = station.wait_reported(jammed_job)
    assert results[jammed_job[0]]["status"] == "spoiled" and results[jammed_job[0]]["reason"] == "media-jam"
    held = wait_state(station, "stopped", "the jam to stop the station")
    assert "media-jam" in reasons(held)
    assert control(station, "printer", '{"get": "state"}')["state"]["jammed"] is True
    waiting = station.issue(1)
    station.wait_for(lambda: status_json(station)["queue"].get("downloaded") == 1, "the next job to wait")
    assert waiting[0] not in station.server.store.results()
    control(station, "printer", '{"fault": "jammed", "value": false}')
    station.wait_reported(waiting)

    # feeder empty: held until blanks are loaded
    control(station, "printer", '{"fault": "feeder_cards", "value": 0}')
    empty_job = station.issue(1)
    held = station.wait_for(lambda: (lambda d: d if "media-empty" in reasons(d) else None)(status_json(station)),
                            "media-empty")
    assert held["state"] == "stopped"
    control(station, "printer", '{"fault": "feeder_cards", "value": 100}')
    assert ktp("stock", "load", "100", "--config", str(station.config_path)).returncode == 0
    station.wait_reported(empty_job)

    # ribbon out: held, no blank taken, until a ribbon is fitted
    cards_before = station.printer_state()["cards_inserted"]
    control(station, "printer", '{"fault": "ribbon_prints", "value": 0}')
    ribbon_job = station.issue(1)
    held = station.wait_for(lambda: (lambda d: d if "marker-supply-empty" in reasons(d) else None)(
        status_json(station)), "marker-supply-empty")
    assert held["state"] == "stopped" and station.printer_state()["cards_inserted"] == cards_before
    control(station, "printer", '{"fault": "ribbon_prints", "value": 200}')
    station.wait_reported(ribbon_job)

    # unplug the printer only: the printer is offline, the reader stays connected
    control(station, "printer", '{"unplug": true, "seconds": 6}')
    offline = wait_state(station, "offline", "the printer to be offline")
    assert offline["reader"]["online"] is True
    text = status(station)
    assert "Printer: tidak terhubung" in text.stdout and "Pembaca kartu: terhubung" in text.stdout
    wait_state(station, "ready", "the printer to come back")
    station.wait_reported(station.issue(1))

    # the fault history survives a restart of the daemon: one entry per episode
    before = status_json(station)["faults"]
    assert station.stop_daemon() == 0
    station.start_daemon()
    after = status_json(station)["faults"]
    assert [(f["keyword"], f["job_id"], f["at"]) for f in after][:len(before)] == \
           [(f["keyword"], f["job_id"], f["at"]) for f in before]
    keywords = [f["keyword"] for f in after]
    for keyword in ("cover-open", "media-jam", "media-empty", "marker-supply-empty", "offline"):
        assert keyword in keywords, keywords
    assert [(f["keyword"], f["job_id"]) for f in after].count(("media-jam", jammed_job[0])) == 1
    assert all(f["ended_at"] is not None for f in after if f["keyword"] != "marker-supply-low")
    text = status(station).stdout
    assert "Riwayat gangguan" in text and "cover-open" in text.split("Riwayat gangguan")[1]
    assert station.stop_daemon() == 0
    accounted(station, jobs + jammed_job + waiting + empty_job + ribbon_job)

"""The real daemon with a UPS: reading its metrics and status, and the job server's audit."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time

from testbed.station import REPO, STATION, StationHarness


def power_station(make_station, ups: str, print_ms: int, min_runtime_s: float | None = None) -> StationHarness:
    extra = f'[power]\nups = "{ups}"\n' + (f"min_runtime_s = {min_runtime_s}\n" if min_runtime_s else "")
    return make_station(print_ms=print_ms, extra_config=extra)


def metric(station: StationHarness, name: str, labels: str = "") -> float | None:
    pattern = rf"^{re.escape(name)}{re.escape('{' + labels + '}') if labels else ''} ([0-9.e+-]+|NaN)$"
    found = re.search(pattern, station.metrics(), re.M)
    return float(found.group(1)) if found else None


def wait_metric(station: StationHarness, name: str, value: float, timeout: float = 15.0,
                labels: str = "") -> float:
    """Poll /metrics every 50 ms until ``name`` equals ``value``; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric(station, name, labels) == value:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{name}{{{labels}}} never became {value} in {timeout} s (last "
                         f"{metric(station, name, labels)}):\n{station.log()[-3000:]}")


def status(station: StationHarness, lang: str = "en") -> tuple[dict, str]:
    """``ktp-agent status --json`` and the text one, from the running daemon."""
    run = [sys.executable, "-m", "agent", "status", "--config", str(station.config_path), "--lang", lang]
    as_json = subprocess.run([*run, "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
    text = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=60)
    return json.loads(as_json.stdout), text.stdout


def status_page(station: StationHarness) -> str:
    import urllib3

    url = f"http://127.0.0.1:{station.metrics_port}/status"
    return urllib3.PoolManager(retries=False).request("GET", url, timeout=10).data.decode()


def diagnose_text(station: StationHarness) -> str:
    done = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--config", str(station.config_path),
                           "--lang", "en"], cwd=REPO, capture_output=True, text=True, timeout=120)
    return done.stdout


def jobs_printing(station: StationHarness) -> list[str]:
    path = station.state / "journal.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [row[0] for row in db.execute("SELECT job_id FROM jobs WHERE state='printing'")]
    finally:
        db.close()


def audit(station: StationHarness, job_ids: list[str]) -> None:
    """From the job server's side: every job printed once, every blank in exactly one report."""
    results = station.server.store.results()
    assert [j for j in job_ids if results.get(j, {}).get("status") != "printed"] == [], "a job lost or not printed"
    assert all(e["http_status"] == 200 for e in station.server.store.report_log()), "a report contradicted another"
    consumed = [r for r in results.values() if r["status"] in ("printed", "spoiled")]
    counters = sorted(r["blank_counter"] for r in consumed)
    assert counters == list(range(1, station.printer_state()["cards_inserted"] + 1)), "each blank once, by counter"
    assert station.server.store.blank_audit(STATION)["each_blank_once"]
    printed = sorted(r["blank_counter"] for r in consumed if r["status"] == "printed")
    assert sorted(station.printout_counters()) == printed, "one printout per printed job"

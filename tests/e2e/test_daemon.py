"""End to end: the daemon process, the reference server, simulated devices."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from testbed.station import REPO

pytestmark = pytest.mark.e2e


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search("^" + pattern, text, re.M)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


@pytest.mark.parametrize("link", ["pipe", "pty", "usb"])
def test_every_job_is_printed_and_reported_once_with_a_distinct_blank(make_station, link):
    station = make_station(link=link)
    jobs = station.issue(6)
    subprocess.run([sys.executable, "-m", "agent", "stock", "load", "50", "--config", str(station.config_path)],
                   cwd=REPO, check=True, capture_output=True, timeout=60)
    station.start_daemon()
    results = station.wait_reported(jobs)
    def counted():
        text = station.metrics()
        return text if f"ktp_printer_cards_inserted_total {len(jobs)}.0" in text else None

    metrics_text = station.wait_for(counted, "the printer's counter in the metrics")
    assert station.stop_daemon() == 0

    assert {r["status"] for r in results.values()} == {"printed"}
    serials = [r["blank_serial"] for r in results.values()]
    assert len(set(serials)) == len(jobs) and all(re.fullmatch(r"[0-9a-f]{14}", s) for s in serials)
    log = station.server.store.report_log()
    assert sorted(e["job_id"] for e in log) == sorted(jobs)  # each report sent exactly once
    pngs = station.pngs()
    assert len(pngs) == len(jobs)
    assert {p.stem.split("-")[2] for p in pngs} == set(serials)
    assert station.printer_state()["cards_inserted"] == len(jobs)
    assert metric(metrics_text, "ktp_cards_total", 'result="printed"') == len(jobs)
    assert metric(metrics_text, "ktp_link_bytes_total", 'kind="payload"') > 0
    assert metric(metrics_text, "ktp_blanks_remaining") == 50 - len(jobs)
    assert metric(metrics_text, "ktp_printer_cards_inserted_total") == len(jobs)
    assert metric(metrics_text, "ktp_ribbon_prints_remaining") > 0


def test_forged_and_misaddressed_jobs_are_rejected_and_nothing_printed(station):
    forged = station.issue(1, defect="bad-signature")
    misaddressed = station.issue(1, defect="wrong-station")
    good = station.issue(1)
    station.start_daemon()
    results = station.wait_reported(forged + misaddressed + good)
    metrics_text = station.metrics()
    assert station.stop_daemon() == 0

    assert results[forged[0]]["status"] == "rejected"
    assert results[forged[0]]["reason"] == "bad-signature"
    assert results[misaddressed[0]]["status"] == "rejected"
    assert results[misaddressed[0]]["reason"] == "wrong-station"
    assert results[forged[0]]["blank_serial"] is None
    assert results[good[0]]["status"] == "printed"
    assert station.printer_state()["cards_inserted"] == 1
    assert len(station.pngs()) == 1
    assert metric(metrics_text, "ktp_jobs_rejected_total", 'reason="bad-signature"') == 1
    assert metric(metrics_text, "ktp_jobs_rejected_total", 'reason="wrong-station"') == 1


def test_bad_card_data_is_rejected_before_a_blank_moves(station):
    bad = station.issue(1, defect="bad-card-data")
    station.start_daemon()
    results = station.wait_reported(bad)
    assert station.stop_daemon() == 0
    assert results[bad[0]]["status"] == "rejected"
    assert results[bad[0]]["reason"] == "bad-card-data"
    assert station.pngs() == []


def test_restart_picks_up_where_it_was(station):
    first = station.issue(3)
    station.start_daemon()
    station.wait_reported(first)
    assert station.stop_daemon() == 0
    second = station.issue(3)
    station.start_daemon()
    results = station.wait_reported(second)
    assert station.stop_daemon() == 0
    assert {r["status"] for r in results.values()} == {"printed"}
    assert len(station.server.store.report_log()) == 6
    assert station.printer_state()["cards_inserted"] == 6


def test_daemon_speaks_systemd_notify_ready_watchdog_stopping(station, tmp_path):
    import socket
    import time

    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    jobs = station.issue(1)
    station.start_daemon(env_extra={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    station.wait_reported(jobs)
    messages: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 2:
        try:
            messages.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    assert station.stop_daemon() == 0
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except socket.timeout:
        pass
    sock.close()
    text = "\n".join(messages)
    assert text.index("READY=1") < text.index("WATCHDOG=1") < text.index("STOPPING=1")

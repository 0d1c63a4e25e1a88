"""The status page in a real browser: headless Chromium (Debian's package) against a running daemon.

The daemon printed two cards today, then the cover was opened with a job
waiting. Chromium's serialized DOM must show, in Bahasa Indonesia, the
station id, the queue, the open cover with its advice and today's chart; its
screenshot is kept in the test's tmp folder (``status.png``) for a person to
look at.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import urllib3

from tests.e2e.test_device_faults import value

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=60)


def row(dom: str, label: str) -> str:
    match = re.search(re.escape(label) + r'</td><td class="n">([^<]*)<', dom)
    assert match, f"no row {label!r} on the page"
    return match.group(1)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); "
                                              ".ci/run installs it in CI")
def test_status_page_shows_station_queue_fault_advice_and_todays_chart(make_station, tmp_path):
    station = make_station(standalone=[])
    printed = station.issue(2)
    station.start_daemon()
    station.wait_reported(printed, timeout=40)
    station.printer_sim.control(fault="cover_open", value=True)
    station.issue(1)
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_state_reason",
                                   'reason="cover-open",severity="error"') == 1, "cover-open reason", timeout=20)
    station.wait_for(lambda: value(station.metrics(), "ktp_jobs", 'state="downloaded"') == 1,
                     "the third job downloaded", timeout=20)
    base = f"http://127.0.0.1:{station.metrics_port}"
    landing = urllib3.PoolManager(retries=False).request("GET", base + "/", timeout=5)
    assert 'href="/status"' in landing.data.decode()

    dump = chromium(tmp_path, "--dump-dom", f"{base}/status")
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = dump.stdout
    assert '<html lang="id">' in dom
    assert "Stasiun Cetak KTP-el 3319-05" in dom
    assert "BERHENTI — PERLU TINDAKAN" in dom
    assert "<b>cover-open</b>" in dom and "Penutup printer terbuka" in dom
    assert "Yang harus dilakukan:</strong> Tutup penutup printer sampai terkunci" in dom
    assert row(dom, "Siap dicetak") == "1"
    assert row(dom, "Tercetak hari ini") == "2"
    assert row(dom, "Server pusat") == "tersambung"
    assert "Kartu hari ini per jam" in dom and "2 tercetak" in dom
    assert len(re.findall(r'<rect [^>]*fill="#1565c0"', dom)) >= 1  # the hour(s) with printed cards
    assert "Riwayat gangguan" in dom
    assert "<script" not in dom

    shot = tmp_path / "status.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1400", "--hide-scrollbars",
                     f"{base}/status")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert station.stop_daemon() == 0

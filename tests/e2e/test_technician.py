"""The technician's tools against the real daemon, the real job server and standalone simulators.

`ktp-agent status`, `diagnose` (with a test card and the help-desk bundle) and
`sync` run as the technician runs them: separate processes that talk to the
daemon over its control socket, or open the devices themselves when it is down.
"""
from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import tarfile

import pytest

from testbed.station import REPO
from tests.e2e.test_device_faults import value

pytestmark = pytest.mark.e2e

NIK_SHAPED = re.compile(r"(?<!\d)\d{16}(?!\d)")


def cli(station, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args, "--config", str(station.config_path)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def cli_json(station, *args: str) -> dict:
    done = cli(station, *args, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def held_by_open_cover(station) -> None:
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_state_reason",
                                   'reason="cover-open",severity="error"') == 1, "cover-open reason", timeout=20)
    station.wait_for(lambda: value(station.metrics(), "ktp_jobs", 'state="downloaded"') == 1,
                     "the job downloaded", timeout=20)


def issued_citizen_data(station, job_ids: list[str]) -> list[str]:
    """Names, NIKs and addresses in the card.json the server issued (decrypted with the station key)."""
    from agent.card.data import parse_payload
    from agent.keys import load_station_key
    from agent.jobs.manifest import open_payload, parse_manifest

    key = load_station_key(station.creds.station_private_key)
    found = []
    for job_id in job_ids:
        job = station.server.store.job(job_id)
        manifest = parse_manifest(job.manifest)
        card = parse_payload(open_payload(station.server.store.payload(job.payload_sha256), manifest, key)).card
        found += [card.nama, card.nik, card.alamat]
    return found


def test_status_and_diagnose_show_the_open_cover_with_advice_in_both_languages(make_station):
    station = make_station(standalone=["--cover-open"])
    station.issue(1)
    station.start_daemon()
    held_by_open_cover(station)
    sock = station.state / "control.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600

    status = cli_json(station, "status")
    assert status["daemon"] is True and status["state"] == "stopped"
    assert status["queue"]["downloaded"] == 1 and status["printer"]["online"] is True
    assert {"keyword": "cover-open", "severity": "error"} in status["printer"]["reasons"]
    assert status["link"]["state"] == "ok" and status["reader"]["online"] is True
    assert any(e["keyword"] == "cover-open" for e in status["faults"])

    text = cli(station, "status")
    assert text.returncode == 1  # the station cannot print
    assert "Stasiun 3319-05 · daemon berjalan" in text.stdout
    assert "1 siap dicetak" in text.stdout and "BERHENTI" in text.stdout
    assert "cover-open-error" in text.stdout and "Tutup penutup printer" in text.stdout

    english = cli(station, "diagnose", "--lang", "en")
    assert english.returncode == 1, english.stderr
    assert "Printer identity: Primacy 2, serial EVSIM0001, firmware SIM-1.0.0" in english.stdout
    assert "Counters: cards inserted 0, panels printed 0" in english.stdout and "cover open" in english.stdout
    assert "tutup terbuka" in cli(station, "diagnose").stdout
    assert "Close the printer cover until it latches" in english.stdout
    indonesian = cli(station, "diagnose")
    assert "Identitas printer: Primacy 2, nomor seri EVSIM0001" in indonesian.stdout
    assert "Artinya: Penutup printer terbuka" in indonesian.stdout

    refused = cli_json(station, "diagnose", "--test-card")  # the printer refuses with its cover open
    assert refused["devices"]["printer"]["test_card"]["reason"] == "cover-open"
    assert station.printer_state()["cards_inserted"] == 0
    assert station.stop_daemon() == 0
    assert not sock.exists()


def test_test_card_counts_and_the_bundle_holds_no_personal_data(make_station, tmp_path):
    station = make_station(standalone=[])
    jobs = station.issue(2)
    station.start_daemon()
    station.wait_reported(jobs, timeout=40)
    assert station.printer_state()["cards_inserted"] == 2

    done = cli(station, "diagnose", "--test-card", "--bundle", "--out", str(tmp_path / "out"), "--lang", "en")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Test card: printed (card counter 2 → 3)" in done.stdout
    assert station.printer_state()["cards_inserted"] == 3
    bundles = list((tmp_path / "out").glob("ktp-diagnose-3319-05-*.tar.gz"))
    assert len(bundles) == 1 and bundles[0].name in done.stdout

    with tarfile.open(bundles[0]) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert set(members) == {"README.txt", "diagnose.json", "journal.json", "logs.jsonl", "config.toml",
                            "versions.json"}
    assert "card.printed" in members["logs.jsonl"] and jobs[0] in members["logs.jsonl"]
    assert json.loads(members["journal.json"])["outcomes"]["printed"] == 2
    assert json.loads(members["diagnose.json"])["devices"]["printer"]["identity"]["serial"] == "EVSIM0001"
    assert 'token_file = "***"' in members["config.toml"]
    assert str(station.creds.token_file) not in members["config.toml"]
    everything = "\n".join(members.values())
    assert not NIK_SHAPED.search(everything)
    citizen = issued_citizen_data(station, jobs)
    assert len(citizen) == 6 and all(citizen)
    assert not [item for item in citizen if item in everything]
    assert station.stop_daemon() == 0


def test_with_the_daemon_down_status_and_diagnose_open_the_devices_themselves(make_station):
    station = make_station(standalone=["--cover-open"])
    station.issue(1)
    station.start_daemon()
    held_by_open_cover(station)
    assert station.stop_daemon() == 0

    status = cli_json(station, "status")
    assert status["daemon"] is False and status["state"] == "not-running"
    assert status["queue"]["downloaded"] == 1
    assert {"keyword": "cover-open", "severity": "error"} in status["printer"]["reasons"]
    text = cli(station, "status", "--lang", "en")
    assert "daemon NOT running (devices opened directly)" in text.stdout
    assert "Close the printer cover" in text.stdout

    station.printer_sim.control(fault="cover_open", value=False)
    found = cli_json(station, "diagnose", "--test-card")
    assert found["devices"]["printer"]["identity"]["model"] == "Primacy 2"
    assert found["devices"]["reader"]["online"] is True and found["devices"]["reader"]["firmware"]
    assert found["devices"]["printer"]["test_card"] == {"done": True, "cards_before": 0, "cards_after": 1}
    assert station.printer_state()["cards_inserted"] == 1
    assert found["status"]["state"] == "not-running"  # the printer is fine, but nothing prints without the daemon
    assert found["status"]["printer"]["reasons"] == []


def test_sync_prefetches_with_a_progress_bar_through_the_daemon_and_without_it(make_station):
    station = make_station(standalone=["--cover-open"])  # held: downloaded jobs stay in the spool
    station.start_daemon()
    station.issue(3)
    done = cli(station, "sync", "--lang", "en", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Downloading jobs [" in done.stdout
    # The daemon polls on its own too, so some or all of the 3 may be in before sync asks.
    assert re.search(r"Done: [0-3] new jobs? downloaded; 3 ready to print offline\.", done.stdout), done.stdout
    assert station.stop_daemon() == 0

    station.issue(2)
    offline = cli(station, "sync", "--jobs", "4", timeout=60)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "Mengunduh pekerjaan [" in offline.stdout and "1/1" in offline.stdout
    assert "Selesai: 1 pekerjaan baru diunduh; 4 siap dicetak tanpa jaringan." in offline.stdout
    status = cli_json(station, "status")
    assert status["queue"]["downloaded"] == 4 and status["queue"]["verified"] == 1

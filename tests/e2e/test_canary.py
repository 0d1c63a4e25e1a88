"""Canary: seeded personal data goes in, and is found nowhere the station keeps or shows things.

The reference server issues jobs whose card.json holds synthetic holders; the
test opens those payloads with the station's key to learn every NIK, name,
address, birth place and birth date, and a slice of every photo. The real
daemon prints them (and rejects one with bad card data), then the daemon's
log, the metrics and status page, and every file of the station's state
folder (journal with its -wal and -shm, spool, anything else), as raw bytes,
are searched for each value in UTF-8 and UTF-16, as written, upper- and
lower-case; so is every other file the test made (the daemon's TMPDIR, the
simulator's state, the server's store). The simulator's card images are the one place a holder may
appear: they are opt-in and written outside the state folder.
"""
from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
import urllib3
from prometheus_client.parser import text_string_to_metric_families

from agent.journal import JobState
from agent.keys import load_station_key
from agent.jobs.manifest import open_payload, parse_manifest
from agent.observe.metrics import CARD_RESULTS, LINK_KINDS, REJECT_REASONS, STAGES, WIRE_DIRECTIONS
from agent.observe.redaction import PERSONAL_KEYS
from agent.os_faults import OsFaultKind
from drivers.errors import Severity

from testbed.station import STATION, StationHarness

pytestmark = pytest.mark.e2e

TEXT_FIELDS = ("nik", "nama", "alamat", "tempat_lahir", "tanggal_lahir")
PRINTER_REASONS = {"media-empty", "media-jam", "cover-open", "marker-supply-empty", "marker-supply-low",
                   "marker-supply-missing", "offline"}


def holders(station: StationHarness, job_ids: list[str]) -> list[tuple[dict, bytes]]:
    """card.json and photo of each job, decrypted as the station would (test side only)."""
    key = load_station_key(station.creds.station_private_key)
    found = []
    for job_id in job_ids:
        job = station.server.store.job(job_id)
        plaintext = open_payload(station.server.store.payload(job.payload_sha256), parse_manifest(job.manifest), key)
        with zipfile.ZipFile(io.BytesIO(plaintext)) as archive:
            found.append((json.loads(archive.read("card.json")), archive.read("photo.jpg")))
    return found


def needles(cards: list[tuple[dict, bytes]]) -> dict[bytes, str]:
    """Byte strings to look for -> what they are (never the value itself, for the failure message)."""
    out: dict[bytes, str] = {}
    for index, (card, photo) in enumerate(cards):
        for field in TEXT_FIELDS:
            value = card[field]
            forms = {value, value.upper(), value.lower(), value.title()}
            if field == "tanggal_lahir":  # also as the card prints it
                year, month, day = value.split("-")
                forms.add(f"{day}-{month}-{year}")
            for form in forms:
                for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                    out[form.encode(encoding)] = f"card {index} {field} ({encoding})"
        middle = len(photo) // 2
        out[photo[middle:middle + 48]] = f"card {index} photo bytes"
    return out


def hits(data: bytes, wanted: dict[bytes, str], where: str) -> list[str]:
    return [f"{what} in {where}" for needle, what in wanted.items() if needle in data]


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def spool_holds_ciphertext_only(station: StationHarness, ciphertexts: dict[str, bytes]) -> int:
    """Compare every spooled file with the server's ciphertext of its job; returns files checked."""
    checked = 0
    for path in (station.state / "spool").glob("*"):
        job_id, _, suffix = path.name.partition(".")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # reported and deleted meanwhile
        if suffix == "payload":
            assert data == ciphertexts[job_id], path.name
        elif suffix == "part":
            assert ciphertexts[job_id].startswith(data), path.name
        checked += suffix in ("payload", "part")
    return checked


def check_labels(text: str) -> None:
    allowed = {
        "result": set(CARD_RESULTS), "state": {s.value for s in JobState}, "stage": set(STAGES),
        "kind": set(LINK_KINDS) | {k.value for k in OsFaultKind}, "direction": set(WIRE_DIRECTIONS),
        "severity": {s.value for s in Severity},
        "station_id": {STATION}, "version": {"0.1.0"},
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label == "le":
                    float(value)
                elif label == "reason":
                    closed = set(REJECT_REASONS) if family.name.startswith("ktp_jobs_rejected") else PRINTER_REASONS
                    assert value in closed, (family.name, label, value)
                else:
                    assert label in allowed, (family.name, label)
                    assert value in allowed[label], (family.name, label, value)


def test_no_personal_value_reaches_logs_metrics_journal_spool_or_state(tmp_path):
    station = StationHarness(tmp_path, print_ms=150)
    try:
        good = station.issue(4)
        bad = station.issue(1, defect="bad-card-data")
        cards = holders(station, good + bad)
        wanted = needles(cards)
        assert len({card["nik"] for card, _ in cards}) == 5
        ciphertexts = {j: station.server.store.payload(station.server.store.job(j).payload_sha256)
                       for j in good + bad}
        assert not hits(b"".join(ciphertexts.values()), wanted, "ciphertext")  # the needles are sound

        (tmp_path / "tmp").mkdir()
        station.start_daemon(env_extra={"TMPDIR": str(tmp_path / "tmp")})  # its temp files are searched too
        spooled, deadline = 0, time.monotonic() + 60
        while not all(j in station.server.store.results() for j in good + bad):
            assert time.monotonic() < deadline, station.log()[-3000:]
            spooled += spool_holds_ciphertext_only(station, ciphertexts)
            time.sleep(0.02)
        assert spooled > 0, "never saw a spooled payload"
        results = station.wait_reported(good + bad)
        assert [results[j]["status"] for j in good] == ["printed"] * 4
        assert results[bad[0]]["reason"] == "bad-card-data"
        # Once the report is confirmed the payload is deleted.
        station.wait_for(lambda: not list((station.state / "spool").iterdir()), "the spool to empty")

        metrics_text = station.metrics()
        http = urllib3.PoolManager(retries=False, timeout=10)
        status_page = http.request("GET", f"http://127.0.0.1:{station.metrics_port}/status").data
        # While the daemon runs the journal has its -wal and -shm beside it; a clean stop folds them in.
        running = every_file(station.state)
        assert {"journal.sqlite3", "journal.sqlite3-wal"} <= {p.name for p in running}
        found = [hit for path in running for hit in hits(path.read_bytes(), wanted, f"{path} (running)")]
        assert station.stop_daemon() == 0

        check_labels(metrics_text)
        found += hits(station.log_path.read_bytes(), wanted, "daemon log")
        found += hits(metrics_text.encode(), wanted, "/metrics")
        found += hits(status_page, wanted, "/status")
        # Every file of the test: station state, daemon's temp folder, simulator, server (ciphertext), log;
        # all but the opt-in card images.
        searched = [p for p in every_file(tmp_path) if not p.is_relative_to(station.cards_dir)]
        for path in searched:
            found += hits(path.read_bytes(), wanted, str(path.relative_to(tmp_path)))
            found += hits(path.name.encode(), wanted, f"file name {path.relative_to(tmp_path)}")
        assert found == []

        with sqlite3.connect(f"file:{station.state / 'journal.sqlite3'}?mode=ro", uri=True) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            columns = {col[1] for t in tables for col in db.execute(f"PRAGMA table_info({t})")}
        assert not columns & PERSONAL_KEYS
        # The opt-in card images sit outside the state folder (and they, alone, show the holder).
        assert len(station.pngs()) == 4 and not station.cards_dir.is_relative_to(station.state)
    finally:
        station.close()


def test_card_images_are_written_only_when_asked(tmp_path):
    station = StationHarness(tmp_path)
    try:
        text = station.config_path.read_text()
        assert f"&png={station.cards_dir}" in text
        station.config_path.write_text(text.replace(f"&png={station.cards_dir}", ""))
        jobs = station.issue(1)
        station.start_daemon()
        assert station.wait_reported(jobs)[jobs[0]]["status"] == "printed"
        assert station.stop_daemon() == 0
        assert station.printer_state()["cards_inserted"] == 1
        assert not station.cards_dir.exists()
        assert not [p for p in tmp_path.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    finally:
        station.close()

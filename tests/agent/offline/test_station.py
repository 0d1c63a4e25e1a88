"""The station's side of removable media: the [offline] config, the watched mount folder,
and what the status says about it."""
from __future__ import annotations

import threading

import pytest

from agent.config import load_config
from agent.errors import ConfigError
from agent.journal import JobState
from agent.offline import OfflineStatus, OfflineWorker, offline_lines
from agent.technician import StationStatus
from agent.technician.commands import format_status
from jobserver.receipts import parse_receipts

from ..station_config import station_toml
from .test_bundle import STATION, Central, StationSide

TOKEN = "watch-token"
BASE = station_toml()


def test_the_watched_folder_is_optional_and_taken_relative_to_the_config(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(BASE)
    assert load_config(path).offline.watch_dir is None
    path.write_text(BASE + '[offline]\nwatch_dir = "media"\nscan_seconds = 2\n')
    config = load_config(path)
    assert (config.offline.watch_dir, config.offline.scan_seconds) == (tmp_path / "media", 2.0)


def test_an_unknown_offline_key_is_an_error_naming_it(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(BASE + '[offline]\nwatch_folder = "/media/ktp"\n')
    with pytest.raises(ConfigError, match=r"\[offline\] watch_folder: unknown key"):
        load_config(path)


def _worker(tmp_path, station: StationSide, watch) -> OfflineWorker:
    return OfflineWorker(station.importer, station.journal, STATION, TOKEN, tmp_path / "state", watch,
                         scan_seconds=0.05, stop=threading.Event(), clock=lambda: 1_795_000_000.0)


def test_a_stick_mounted_in_the_watched_folder_is_imported_and_given_receipts_once(tmp_path):
    central = Central(jobs=3)
    station = StationSide(tmp_path, central)
    (tmp_path / "state").mkdir()
    watch = tmp_path / "media"
    stick = watch / "KTP-STICK"
    stick.mkdir(parents=True)
    central.bundle(stick)
    worker = _worker(tmp_path, station, watch)
    worker.scan()
    assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 3
    [receipts] = stick.glob("*.ktpresults")
    assert parse_receipts(receipts.read_bytes(), TOKEN) == []  # nothing printed yet: an empty, signed file
    worker.scan()  # the same stick, still mounted: nothing again
    assert len(list(stick.glob("*.ktpresults"))) == 1
    view = worker.snapshot()
    assert view.last_import.imported == 3 and view.last_receipts.count == 0
    # After a restart the stick left in is not read again (the record remembers the bundle).
    restarted = _worker(tmp_path, station, watch)
    restarted.scan()
    assert restarted.snapshot().last_import.imported == 3  # still the first read
    assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 3


def test_a_newly_mounted_stick_without_bundles_takes_the_queued_reports(tmp_path):
    central = Central(jobs=1)
    station = StationSide(tmp_path, central)
    (tmp_path / "state").mkdir()
    job_id = central.job_ids[0]
    station.importer.import_path(central.bundle(tmp_path))
    station.journal.finish(job_id, JobState.REJECTED, STATION, reason="bad-card-data")
    watch = tmp_path / "media"
    watch.mkdir()
    worker = _worker(tmp_path, station, watch)
    worker.scan()
    assert not list(watch.glob("*.ktpresults"))  # the watched folder itself is not a medium without bundles
    (watch / "RESULTS").mkdir()
    worker.scan()
    [receipts] = (watch / "RESULTS").glob("*.ktpresults")
    [(reported, body)] = parse_receipts(receipts.read_bytes(), TOKEN)
    assert (reported, body["reason"]) == (job_id, "bad-card-data")
    assert station.journal.outbox_depth() == 1


def test_the_status_tells_the_import_and_receipts_in_bahasa_indonesia_by_default():
    view = {"watch_dir": "/media/ktp", "busy": False, "progress": {"file": "a.ktpjobs", "done": 2, "total": 5},
            "last_import": {"at": 1_795_000_000, "imported": 4, "completed": 0, "waiting": 1, "known": 0,
                            "rejected": 0, "interrupted": "gone", "refused": []},
            "last_receipts": {"at": 1_795_000_100, "count": 6, "path": "/media/ktp/S/x.ktpresults", "error": None}}
    text = "\n".join(offline_lines(OfflineStatus.from_json(view)))
    assert "dipantau" in text and "2/5" in text and "4 pekerjaan baru siap dicetak" in text
    assert "stik dicabut" in text and "6 laporan ditulis ke /media/ktp/S/x.ktpresults" in text
    assert "6 reports written" in "\n".join(offline_lines(OfflineStatus.from_json(view), "en"))
    status = {"station_id": STATION, "at": 1_795_000_200, "daemon": True, "state": "ready", "queue": {},
              "outbox": 0, "today": {"date": "2026-11-18", "printed": [0] * 24, "spoiled": [0] * 24},
              "stock": {"blanks_left": None, "per_day": 0, "days_left": None},
              "printer": {"online": False, "reasons": []}, "reader": {"online": True},
              "link": {"state": "down", "last_contact": 1_795_000_200 - 900.0, "age_s": 900.0}, "faults": [],
              "spoiled": [], "offline": view}
    assert any("Impor terakhir" in line for line in format_status(StationStatus.from_json(status), "id"))


def test_the_offline_part_of_the_station_status_survives_its_json_form_and_shows_on_the_page(tmp_path):
    from agent.journal import Journal
    from agent.technician import gather, printer_view, render_status_page

    central = Central(jobs=2)
    station = StationSide(tmp_path, central)
    (tmp_path / "state").mkdir()
    worker = _worker(tmp_path, station, None)
    worker.import_now(central.bundle(tmp_path))
    view = worker.snapshot()
    assert (view.watch_dir, view.busy, view.progress, view.last_import.imported) == (None, False, None, 2)
    journal = Journal(tmp_path / "status.sqlite3")
    status = gather(STATION, journal, printer_view(True, (), None), reader_online=True, last_contact=None,
                    faults=(), daemon=True, offline=view, now=1_795_000_200.0)
    doc = status.to_json()
    assert doc["offline"]["last_import"]["imported"] == 2 and doc["offline"]["last_receipts"] is None
    assert StationStatus.from_json(doc) == status
    assert StationStatus.from_json({**doc, "offline": None}).offline is None
    page = render_status_page(status).decode()
    assert 'id="offline"' in page and "2 pekerjaan baru siap dicetak" in page
    assert 'id="offline"' not in render_status_page(StationStatus.from_json({**doc, "offline": None})).decode()

"""The print worker accounts each blank by the printer's card counter: on the simulated printer and
a simulated reader whose chips answer random UIDs, over their real wire protocols."""
from __future__ import annotations

import json
import threading

import pytest
from PIL import Image

from agent.config import load_config
from agent.journal import JobState, Journal
from agent.observe.metrics import StationMetrics
from agent.printing.worker import PrintWorker
from agent.jobs.spool import Spool
from drivers.errors import DeviceFaultError
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace, CardPosition
from drivers.registry import open_printer, open_reader

from ..station_config import STATION, write_station_config



def ko_face() -> CardFace:
    return CardFace(color=Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (255, 255, 255)),
                    black=Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255))


@pytest.fixture
def bench(tmp_path):
    """A print worker with its journal, on a simulated printer (KO ribbon) and a random-UID reader."""
    sim = tmp_path / "sim"
    printer_uri = f"sim://printer?state={sim}&ribbon_type=KO&ribbon=2"
    reader_uri = f"sim://reader?state={sim}&random_uid=1"
    config = load_config(write_station_config(tmp_path, state_dir=tmp_path / "state", printer=printer_uri,
                                              reader=reader_uri))
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    metrics = StationMetrics(STATION)
    worker = PrintWorker(config, journal, Spool(tmp_path / "state" / "spool"), metrics, None,
                         threading.Event(), lambda: open_printer(printer_uri), lambda: open_reader(reader_uri),
                         outcome_ready=lambda: None)
    worker._ensure_devices()
    yield worker
    worker._close_devices()
    journal.close()


def printer_file(worker: PrintWorker) -> dict:
    return json.loads((worker.config.station.state_dir.parent / "sim" / "evolis.json").read_text())


def downloaded(journal: Journal, job_id: str, seq: int) -> None:
    journal.receive(job_id, b"{}", b"sig")
    journal.mark_verified(job_id, seq, 100, "ab" * 32, "2030-01-01T00:00:00+00:00")
    journal.mark_downloaded(job_id)


def test_a_card_at_the_station_counted_for_a_finished_job_goes_to_the_reject_box(bench):
    downloaded(bench.journal, "a", 1)
    bench.journal.record_intent("a", cards_before=0)
    bench.printer.insert_to_contactless()
    bench.journal.finish("a", JobState.SPOILED, STATION, reason="media-jam")  # and its reject failed
    status = bench._clear_leftover_card("b", bench.printer.status())
    assert status.card_position is CardPosition.NONE and status.cards_inserted == 1
    assert printer_file(bench)["cards_rejected"] == 1


def test_a_blank_nobody_counted_waits_at_the_station_for_the_next_job(bench):
    bench.printer.insert_to_contactless()
    before = bench.printer.status()
    assert bench._clear_leftover_card("b", before) is before
    assert printer_file(bench)["cards_rejected"] == 0


def test_a_card_left_inside_the_printer_goes_to_the_reject_box(bench):
    for _ in range(3):  # the third card finds the ribbon used up: the printer keeps it inside
        bench.printer.insert_to_contactless()
        try:
            bench.printer.print_card(ko_face())
        except DeviceFaultError:
            break
    assert bench.printer.status().card_position is CardPosition.IN_PRINTER
    status = bench._clear_leftover_card("next", bench.printer.status())
    assert status.card_position is CardPosition.NONE and printer_file(bench)["cards_rejected"] == 1


def test_a_random_uid_card_printed_before_a_power_cut_is_reported_by_its_counter(bench):
    downloaded(bench.journal, "j", 1)
    status = bench.printer.status()
    bench.journal.record_intent("j", status.cards_inserted, status.panels_printed)
    bench.printer.insert_to_contactless()
    target = bench.reader.find_card(timeout=1.0)
    assert target.uid_is_random
    bench._record_blank("j", target)
    bench.reader.release()
    bench.printer.print_card(ko_face())  # then the power went, before the outcome was recorded
    bench._recover_unfinished()
    [report] = bench.journal.pending_reports()
    assert report.body["status"] == "printed"
    assert report.body["blank_serial"] is None and report.body["blank_counter"] == 1
    assert bench.journal.get("j").blank_serial == target.uid_hex
    assert bench.metrics.registry.get_sample_value("ktp_random_uid_blanks_total") == 1


def test_a_blank_left_waiting_after_a_power_cut_is_the_one_the_next_attempt_reports(bench):
    downloaded(bench.journal, "j", 1)
    bench.journal.record_intent("j", 0, 0)
    bench.printer.insert_to_contactless()
    bench._record_blank("j", bench.reader.find_card(timeout=1.0))  # then the power went
    bench._recover_unfinished()
    assert bench.journal.get("j").state is JobState.DOWNLOADED  # the blank waits for the next attempt
    status = bench._clear_leftover_card("j", bench.printer.status())
    assert status.card_position is CardPosition.CONTACTLESS  # nobody counts it now: it is used
    bench.journal.record_intent("j", status.cards_inserted - 1, status.panels_printed)
    target = bench.reader.find_card(timeout=1.0)
    bench._record_blank("j", target)
    bench.printer.print_card(ko_face())
    bench._finish("j", JobState.PRINTED, None)
    [report] = bench.journal.pending_reports()
    assert report.body["blank_counter"] == 1 and report.body["attempts"] == 2
    assert printer_file(bench)["cards_inserted"] == 1

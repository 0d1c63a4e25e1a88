"""The daemon against standalone simulators in their own processes, one fault at a time.

Each test checks the station's state and metrics while the fault stands and
the outcome after it clears: no job lost, no card printed twice, every
consumed blank reported once.
"""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e


def value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search("^" + pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def accounted(station, jobs):
    """Every job reported once; every blank taken from the feeder is in exactly one report."""
    results = station.server.store.results()
    assert set(jobs) <= set(results)
    assert all(e["http_status"] == 200 for e in station.server.store.report_log())
    consumed = [r for r in results.values() if r["status"] in ("printed", "spoiled")]
    assert station.printer_state()["cards_inserted"] == len(consumed)
    serials = [r["blank_serial"] for r in consumed if r["blank_serial"]]
    assert len(serials) == len(set(serials))
    printed = [r for r in results.values() if r["status"] == "printed"]
    assert len(station.pngs()) == len(printed)
    return results


@pytest.fixture
def standalone(make_station):
    def make(printer_args=(), reader_args=(), print_ms=0):
        station = make_station(standalone=list(printer_args), reader_args=list(reader_args), print_ms=print_ms)
        return station
    return make


def test_jam_spoils_that_card_to_the_reject_box_and_the_rest_print(standalone):
    station = standalone(["--jam-at-card", "2"])
    jobs = station.issue(3)
    station.start_daemon()
    station.wait_for(lambda: sum(1 for j in jobs if j in station.server.store.results()) == 2, "the jammed card")
    assert station.printer_state()["jammed"] is True  # the jam holds the card, as a real one does
    station.printer_sim.control(fault="jammed", value=False)  # a person takes the jammed card out
    results = station.wait_reported(jobs)
    text = station.metrics()
    assert station.stop_daemon() == 0
    accounted(station, jobs)
    assert sorted(r["status"] for r in results.values()) == ["printed", "printed", "spoiled"]
    spoiled = next(r for r in results.values() if r["status"] == "spoiled")
    assert spoiled["reason"] == "media-jam" and spoiled["blank_serial"]
    assert value(text, "ktp_printer_faults_total", 'reason="media-jam"') == 1
    assert value(text, "ktp_cards_total", 'result="spoiled"') == 1
    assert station.printer_state()["position"] == "NONE"


def test_empty_feeder_holds_the_queue_until_cards_are_loaded(standalone):
    station = standalone(["--cards", "1"])
    jobs = station.issue(2)
    station.start_daemon()
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_state_reason",
                                   'reason="media-empty",severity="error"') == 1, "media-empty reason")
    assert len(station.server.store.results()) == 1
    assert value(station.metrics(), "ktp_jobs", 'state="downloaded"') == 1
    station.printer_sim.control(fault="feeder_cards", value=5)
    station.wait_reported(jobs)
    assert station.stop_daemon() == 0
    results = accounted(station, jobs)
    assert {r["status"] for r in results.values()} == {"printed"}


def test_open_cover_holds_printing_and_it_resumes_when_closed(standalone):
    station = standalone(["--cover-open"])
    jobs = station.issue(1)
    station.start_daemon()
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_state_reason",
                                   'reason="cover-open",severity="error"') == 1, "cover-open reason")
    assert station.printer_state()["cards_inserted"] == 0
    station.printer_sim.control(fault="cover_open", value=False)
    station.wait_reported(jobs)
    assert station.stop_daemon() == 0
    assert accounted(station, jobs)[jobs[0]]["status"] == "printed"


def test_ribbon_low_warns_and_ribbon_ended_holds_without_wasting_a_blank(standalone):
    station = standalone(["--ribbon", "2"])
    jobs = station.issue(3)
    station.start_daemon()
    station.wait_for(lambda: len(station.server.store.results()) == 2, "two cards on the last of the ribbon")
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_state_reason",
                                   'reason="marker-supply-empty",severity="error"') == 1, "ribbon ended")
    assert station.printer_state()["cards_inserted"] == 2  # no blank taken for the third job
    station.printer_sim.control(fault="ribbon_prints", value=5)
    station.wait_reported(jobs)
    text = station.metrics()
    assert station.stop_daemon() == 0
    assert value(text, "ktp_printer_state_reason", 'reason="marker-supply-low",severity="warning"') == 1
    assert {r["status"] for r in accounted(station, jobs).values()} == {"printed"}


def test_mechanical_error_holds_and_nothing_is_lost(standalone):
    station = standalone(["--mechanical-error"])
    jobs = station.issue(2)
    station.start_daemon()
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_faults_total", 'reason="media-jam"') >= 1,
                     "mechanical fault counted")
    assert station.server.store.results() == {}
    station.printer_sim.control(fault="mechanical_error", value=False)
    station.wait_reported(jobs)
    assert station.stop_daemon() == 0
    assert {r["status"] for r in accounted(station, jobs).values()} == {"printed"}


@pytest.mark.parametrize("fault, setting", [("no_reply", True), ("garbage", True)])
def test_printer_that_stops_answering_sanely_goes_offline_and_comes_back(standalone, fault, setting):
    station = standalone()
    first = station.issue(1)
    station.start_daemon()
    station.wait_reported(first)
    station.printer_sim.control(fault=fault, value=setting)
    jobs = station.issue(2)
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_online") == 0, "printer offline")
    assert all(j not in station.server.store.results() for j in jobs)
    station.printer_sim.control(fault=fault, value=False)
    station.wait_reported(jobs, timeout=90)
    assert station.stop_daemon() == 0
    assert {r["status"] for r in accounted(station, first + jobs).values()} == {"printed"}


def test_slow_replies_are_waited_for(standalone):
    station = standalone(["--slow-ms", "300"])
    jobs = station.issue(2)
    station.start_daemon()
    station.wait_reported(jobs, timeout=90)
    assert station.stop_daemon() == 0
    assert {r["status"] for r in accounted(station, jobs).values()} == {"printed"}


def test_unplug_in_the_middle_of_a_job_loses_nothing(standalone):
    station = standalone(print_ms=1500)
    jobs = station.issue(2)
    station.start_daemon()
    station.wait_for(lambda: station.printer_state().get("position") in ("IN_PRINTER", "CONTACTLESS"),
                     "a card in the printer")
    station.printer_sim.control(unplug=True)
    station.wait_for(lambda: value(station.metrics(), "ktp_printer_online") == 0, "printer offline")
    station.printer_sim.control(replug=True)
    station.wait_reported(jobs, timeout=90)
    assert station.stop_daemon() == 0
    results = accounted(station, jobs)
    assert sum(r["status"] == "printed" for r in results.values()) >= 1


@pytest.mark.parametrize("reader_args, printer_args", [(["--chip-absent"], []), ([], ["--chip-unreadable"])])
def test_chip_that_cannot_be_read_spoils_the_blank_to_the_reject_box(standalone, reader_args, printer_args):
    station = standalone(printer_args, reader_args)
    jobs = station.issue(1)
    station.start_daemon()
    results = station.wait_reported(jobs)
    assert station.stop_daemon() == 0
    accounted(station, jobs)
    assert results[jobs[0]]["status"] == "spoiled"
    assert results[jobs[0]]["reason"] == "chip-unreadable"
    assert station.printer_state()["position"] == "NONE"

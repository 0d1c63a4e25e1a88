"""The real daemon behind a UPS read from NUT's real upsd (dummy-ups driver), while cards print.

Every test ends with the job server's audit: no job lost or printed twice,
every blank reported once (agent.power; README "Power and the UPS").
"""
from __future__ import annotations

import time

import pytest

from .fake_upsd import FakeUpsd, Misbehaviour
from .station import audit, diagnose_text, status_page, jobs_printing, metric, power_station, status, wait_metric

pytestmark = pytest.mark.e2e

#: The simulated printer's time for a card: long enough to change the power in the middle of one.
PRINT_MS = 1500
#: Within this long of upsd reporting low battery, no new blank is taken (the requirement).
NOTICE_S = 2.0
SYSTEMD_STOP_TIMEOUT_S = 120  # systemd/ktp-agent.service TimeoutStopSec


def test_mains_battery_low_battery_mains_holds_between_cards_and_resumes_by_itself(make_station, dummy_ups):
    station = power_station(make_station, dummy_ups.address, PRINT_MS)
    on_mains = station.issue(2)
    station.start_daemon()
    wait_metric(station, "ktp_ups_link_up", 1)
    wait_metric(station, "ktp_power_on_battery", 0)
    station.wait_reported(on_mains)

    dummy_ups.set("OB DISCHRG", 90, 900)
    dummy_ups.wait_reported("OB DISCHRG")
    wait_metric(station, "ktp_power_on_battery", 1, timeout=NOTICE_S + 1)
    snapshot, text = status(station)
    assert snapshot["state"] == "ready" and snapshot["power"]["state"] == "battery"
    assert "ON BATTERY (still printing)" in text and "ups-on-battery" in text
    on_battery = station.issue(2)
    station.wait_reported(on_battery)
    assert metric(station, "ktp_ups_runtime_seconds") == 900 and metric(station, "ktp_ups_battery_charge_ratio") == 0.9

    last = station.issue(3)
    [in_progress] = station.wait_for(lambda: jobs_printing(station), "a card in the printer")
    dummy_ups.set("OB LB", 20, 40)
    reported_at = dummy_ups.wait_reported("OB LB")
    held_at = wait_metric(station, "ktp_power_queue_held", 1, timeout=10)
    assert held_at - reported_at < NOTICE_S
    # The card in progress finishes; then no blank moves while the hold lasts.
    station.wait_for(lambda: not jobs_printing(station), "the card in progress to finish")
    assert station.server.store.results().get(in_progress, {}).get("status") == "printed" or \
        station.wait_reported([in_progress])[in_progress]["status"] == "printed"
    inserted = station.printer_state()["cards_inserted"]
    time.sleep(4)
    assert station.printer_state()["cards_inserted"] == inserted, "a blank was taken on low battery"
    waiting = [j for j in last if j not in station.server.store.results()]
    assert waiting, "every card printed before the hold"
    snapshot, text = status(station)
    assert snapshot["state"] == "held-for-power" and "LB" in snapshot["power"]["reason"]
    assert "HELD — UPS battery low" in text and "ups-battery-low" in text
    page = status_page(station)
    assert "DITAHAN — BATERAI UPS RENDAH" in page and "ups-battery-low" in page and "Sisa waktu baterai UPS" in page
    assert metric(station, "ktp_power_held_cards_total") >= 1

    dummy_ups.set("OL CHRG", 25, 300)
    dummy_ups.wait_reported("OL CHRG")
    wait_metric(station, "ktp_power_queue_held", 0, timeout=NOTICE_S + 1)
    station.wait_reported(last, timeout=60)
    assert station.stop_daemon() == 0
    audit(station, on_mains + on_battery + last)


def test_told_to_stop_mid_card_the_card_finishes_and_the_daemon_exits_in_time(make_station, dummy_ups):
    station = power_station(make_station, dummy_ups.address, PRINT_MS)
    jobs = station.issue(3)
    dummy_ups.set("OB LB", 15, 30)
    dummy_ups.wait_reported("OB LB")
    station.start_daemon()
    wait_metric(station, "ktp_power_queue_held", 1)
    time.sleep(2)
    assert station.printer_state()["cards_inserted"] == 0, "a blank was taken on low battery"
    dummy_ups.set("OB", 60, 900)  # still on battery: the hold lasts until mains
    dummy_ups.wait_reported("OB")
    time.sleep(1.5)
    assert metric(station, "ktp_power_queue_held") == 1
    dummy_ups.set("OL", 60, 900)
    [in_progress] = station.wait_for(lambda: jobs_printing(station), "a card in the printer")
    # upsmon's SHUTDOWNCMD runs `systemctl poweroff`: systemd sends SIGTERM to the daemon.
    started = time.monotonic()
    assert station.stop_daemon(timeout=SYSTEMD_STOP_TIMEOUT_S) == 0
    assert time.monotonic() - started < SYSTEMD_STOP_TIMEOUT_S / 4
    assert not jobs_printing(station), "the daemon stopped in the middle of a card"
    station.start_daemon()
    results = station.wait_reported(jobs, timeout=60)
    assert results[in_progress]["status"] == "printed" and results[in_progress]["attempts"] == 1
    assert station.stop_daemon() == 0
    audit(station, jobs)


def test_upsd_killed_and_restarted_printing_goes_on_and_says_so(make_station, dummy_ups):
    station = power_station(make_station, dummy_ups.address, 300)
    before = station.issue(2)
    station.start_daemon()
    wait_metric(station, "ktp_ups_link_up", 1)
    station.wait_reported(before)
    dummy_ups.kill_upsd()
    wait_metric(station, "ktp_ups_link_up", 0, timeout=NOTICE_S + 1)
    during = station.issue(3)
    station.wait_reported(during)
    assert metric(station, "ktp_ups_link_errors_total", 'problem="unreachable"') >= 1
    snapshot, text = status(station, lang="id")
    assert snapshot["state"] == "ready" and snapshot["power"]["link"] == "unreachable"
    assert "ups-unreachable" in text and "pencetakan tetap berjalan" in text
    dummy_ups.start_upsd()
    wait_metric(station, "ktp_ups_link_up", 1, timeout=5)
    after = station.issue(2)
    station.wait_reported(after)
    assert station.stop_daemon() == 0
    audit(station, before + during + after)
    # With the daemon down, `status` and `diagnose` ask upsd themselves.
    snapshot, _ = status(station)
    assert snapshot["daemon"] is False and snapshot["power"]["state"] == "mains"
    assert "Power: mains; UPS ups@127.0.0.1" in diagnose_text(station)


@pytest.mark.parametrize("behaviour, problem", [(Misbehaviour.GARBAGE, "garbage"), (Misbehaviour.STALL, "slow"),
                                                (Misbehaviour.DRIP, "slow")])
def test_a_upsd_that_answers_garbage_or_stalls_never_holds_printing(make_station, behaviour, problem):
    fake = FakeUpsd(behaviour)
    try:
        station = power_station(make_station, fake.address, 300)
        jobs = station.issue(4)
        station.start_daemon()
        results = station.wait_reported(jobs)
        assert metric(station, "ktp_ups_link_up") == 0
        assert metric(station, "ktp_ups_link_errors_total", f'problem="{problem}"') >= 1
        assert metric(station, "ktp_power_queue_held") == 0 and metric(station, "ktp_power_on_battery") is None
        snapshot, text = status(station)
        assert snapshot["power"]["link"] == problem and "NOT READABLE" in text and "printing goes on" in text
        started = time.monotonic()
        assert station.stop_daemon() == 0
        assert time.monotonic() - started < 10
        assert all(r["status"] == "printed" for r in results.values())
        audit(station, jobs)
    finally:
        fake.stop()

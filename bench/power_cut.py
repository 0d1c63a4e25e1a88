"""The power-cut torture's UPS scenario: low battery arrives at a random point of a card, then the
power really goes (SIGKILL).

Each cycle starts the daemon on mains, waits for a card to be in the
printer, waits a random part of a card, has NUT's upsd (dummy-ups driver)
report ``OB LB``, and kills the daemon a random 0–4 s later; then mains
returns for the next cycle. Besides the torture's audit, it counts the
blanks taken more than ``NOTICE_S`` after upsd reported low battery (the
station must take none) and where the kills fell.
"""
from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass, field

from testbed.station import StationHarness
from tests.power.upsd import DummyUps

NOTICE_S = 2.0
MAX_AFTER_LB_S = 4.0


@dataclass
class PowerCutFigures:
    cuts: int = 0
    cuts_with_card_in_printer: int = 0          # the job was between intent and outcome at the kill
    cuts_after_notice: int = 0                  # killed more than NOTICE_S after upsd reported LB
    blanks_taken_after_notice: int = 0          # must be 0
    notice_s: list[float] = field(default_factory=list)  # upsd reported LB → ktp_power_queue_held 1, as seen


def printing_now(station: StationHarness) -> bool:
    path = station.state / "journal.sqlite3"
    if not path.exists():
        return False
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM jobs WHERE state='printing'").fetchone()[0] > 0
    finally:
        db.close()


def held(station: StationHarness) -> bool:
    return "ktp_power_queue_held 1.0" in station.metrics()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def one_power_cut(station: StationHarness, ups: DummyUps, rng: random.Random, card_s: float,
                  figures: PowerCutFigures) -> None:
    station.start_daemon(wait=True)
    wait_until(lambda: printing_now(station), timeout=10)
    time.sleep(rng.uniform(0.0, card_s))                 # a random point of the card
    ups.set("OB LB", 10, 20)
    reported = ups.wait_reported("OB LB")
    cut_at = reported + rng.uniform(0.0, MAX_AFTER_LB_S)
    if wait_until(lambda: held(station), timeout=max(0.0, cut_at - time.monotonic())):
        figures.notice_s.append(round(time.monotonic() - reported, 2))
    inserted_at_notice = None
    if cut_at > reported + NOTICE_S:
        time.sleep(max(0.0, reported + NOTICE_S - time.monotonic()))
        inserted_at_notice = station.printer_state()["cards_inserted"]
    time.sleep(max(0.0, cut_at - time.monotonic()))
    in_printer = printing_now(station)
    station.kill_daemon()                                # the power really goes
    figures.cuts += 1
    figures.cuts_with_card_in_printer += in_printer
    if inserted_at_notice is not None:
        figures.cuts_after_notice += 1
        figures.blanks_taken_after_notice += station.printer_state()["cards_inserted"] - inserted_at_notice
    ups.set("OL", 100, 1200)                             # mains returns before the next start
    ups.wait_reported("OL")

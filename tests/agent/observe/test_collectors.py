"""The metrics read each owner's state at scrape time: the link's tally, the print worker's printer state."""
from __future__ import annotations

from agent.jobs import LinkTally
from agent.observe import StationMetrics
from agent.printing import PrinterSnapshot
from drivers.errors import Severity, StateReason
from drivers.interfaces import CardPosition, PrinterStatus


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_link_metrics_are_read_from_the_tally_at_each_scrape():
    clock = Clock(1000.0)
    tally = LinkTally(clock=clock)
    metrics = StationMetrics("3319-05")
    metrics.watch_link(tally.bytes_by_kind, tally.last_contact)
    sample = metrics.registry.get_sample_value
    assert sample("ktp_link_last_contact_timestamp_seconds") == 0
    assert sample("ktp_link_last_contact_age_seconds") is None  # absent before the first contact
    tally.count("payload", 700)
    tally.count("payload", 300)
    tally.contact()
    assert sample("ktp_link_bytes_total", {"kind": "payload"}) == 1000
    assert sample("ktp_link_bytes_total", {"kind": "wasted"}) == 0
    assert sample("ktp_link_last_contact_timestamp_seconds") == 1000.0
    clock.now = 1250.0
    tally.contact()
    assert sample("ktp_link_last_contact_timestamp_seconds") == 1250.0
    assert tally.last_contact() == 1250.0


def test_printer_metrics_are_read_from_the_print_workers_state():
    state = PrinterSnapshot()
    metrics = StationMetrics("3319-05")
    metrics.watch_printer(state.read)
    sample = metrics.registry.get_sample_value
    assert sample("ktp_printer_online") == 0
    cover = StateReason("cover-open", Severity.ERROR)
    state.publish(True, (cover,), PrinterStatus(reasons=(cover,), card_position=CardPosition.NONE,
                                                cards_inserted=12, panels_printed=60, ribbon_type="YMCKO"))
    assert sample("ktp_printer_online") == 1
    assert sample("ktp_printer_cards_inserted_total") == 12
    assert sample("ktp_printer_state_reason", {"reason": "cover-open", "severity": "error"}) == 1

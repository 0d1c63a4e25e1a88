"""The UPS power-cut torture, short: low battery from NUT's upsd at a random point of a card, then
SIGKILL, eight times; then the audit. `python -m bench.torture --power-cut` is the long run
(docs/benchmarks.md)."""
from __future__ import annotations

import os

import pytest

from bench.torture import torture

from .upsd import MISSING

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(MISSING), reason=MISSING or "")]


def test_low_battery_then_power_loss_takes_no_blank_after_the_notice_and_loses_nothing(tmp_path):
    cuts = int(os.environ.get("KTP_POWER_CUTS", "8"))
    audit = torture(tmp_path / "torture", jobs=cuts, kills=cuts, seed=23, print_ms=800, power_cut=True)
    figures = audit.power_cut
    assert figures.cuts == cuts and audit.integrity_failures == 0
    assert figures.blanks_taken_after_notice == 0
    assert all(seconds < 2.0 for seconds in figures.notice_s)
    assert audit.jobs_lost == 0 and audit.reports_conflicting == 0
    assert audit.blanks_consumed == audit.blanks_reported and audit.blank_counters_repeated == 0
    assert audit.blank_counters_unmatched == 0 and audit.server_audit_clean
    assert audit.printouts_without_report == 0 and audit.printed_reports_without_printout == 0
    assert audit.outcomes.get("printed", 0) >= 1

"""The power-cut torture, short: 50 SIGKILLs of the real daemon, then the audit; and 30 more
with blanks whose chips answer random UIDs, accounted by the printer's card counter alone.

`python -m bench.torture --jobs 500 --kills 1000` is the long run
(docs/benchmarks.md); this one runs on every CI build.
"""
from __future__ import annotations

import os

import pytest

from bench.torture import torture

pytestmark = pytest.mark.e2e


def test_fifty_kills_lose_nothing_and_account_for_every_blank(tmp_path):
    kills = int(os.environ.get("KTP_TORTURE_KILLS", "50"))
    audit = torture(tmp_path / "torture", jobs=kills // 2, kills=kills, seed=7, print_ms=20)
    assert audit.kills == kills
    assert audit.integrity_failures == 0
    assert audit.jobs_lost == 0
    assert audit.reports_conflicting == 0
    assert audit.blanks_unreported == 0 and audit.blanks_consumed == audit.blanks_reported
    assert audit.blank_serials_repeated == 0
    assert audit.blank_counters_repeated == 0 and audit.blank_counters_unmatched == 0
    assert audit.consumed_without_counter == 0 and audit.server_audit_clean
    assert audit.printouts_without_report == 0
    assert audit.printed_reports_without_printout == 0
    assert audit.outcomes.get("printed", 0) >= 1


def test_random_uid_blanks_through_thirty_kills_are_each_reported_once_by_counter(tmp_path):
    kills = int(os.environ.get("KTP_TORTURE_RANDOM_UID_KILLS", "30"))
    audit = torture(tmp_path / "torture", jobs=kills // 2, kills=kills, seed=11, print_ms=20, random_uid=True)
    assert audit.kills == kills and audit.integrity_failures == 0
    assert audit.jobs_lost == 0 and audit.reports_conflicting == 0
    assert audit.blanks_consumed == audit.blanks_reported and audit.consumed_without_counter == 0
    assert audit.blank_counters_repeated == 0 and audit.blank_counters_unmatched == 0
    assert audit.random_uids_reported == 0 and audit.server_audit_clean
    assert audit.printouts_without_report == 0 and audit.printed_reports_without_printout == 0
    assert audit.outcomes.get("printed", 0) >= 1

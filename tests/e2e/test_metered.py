"""End to end: a station whose monthly quota is spent downloads no payload, yet prints what reaches its
spool (here, from a USB stick) and sends every result over the metered link; status and metrics say so."""
from __future__ import annotations

import os

import pytest

from agent.config import LinkConfig
from agent.jobs.quota import TALLY_FAMILY, LinkQuota
from agent.jobs.wire import WireCounter
from agent.journal import JobState, Journal
from agent.journal_guard import JOURNAL_FILE
from agent.technician.control import ControlClient
from jobserver.bundles import write_bundle
from testbed.station import STATION

from tests.e2e.test_daemon import metric

pytestmark = pytest.mark.e2e


def _status(station) -> dict:
    return ControlClient(station.state / "control.sock", timeout=15).request("status")["status"]


def test_a_spent_quota_stops_downloads_while_the_spool_prints_and_results_go(make_station, tmp_path):
    station = make_station()
    media = tmp_path / "media"
    media.mkdir()
    station.config_path.write_text(station.config_path.read_text() + '[link]\nmonthly_quota_mb = 1\n'
                                   + f'[offline]\nwatch_dir = "{media}"\nscan_seconds = 0.2\n')
    station.state.mkdir(parents=True)
    journal = Journal(station.state / JOURNAL_FILE)   # this month's quota already used up
    month = LinkQuota(LinkConfig(monthly_quota_mb=1), journal, WireCounter()).month()
    journal.tallies.add(TALLY_FAMILY + month, 1_000_000, TALLY_FAMILY)
    journal.close()
    job_ids = station.issue(3)

    station.start_daemon()
    status = station.wait_for(lambda: (s := _status(station))["queue"].get("verified", 0) == 3 and s,
                              "the heartbeat poll brought the jobs")
    assert status["link"]["quota"]["state"] == "spent"
    assert station.server.payload_requests() == []

    (tmp_path / "central").mkdir()
    bundle = write_bundle(station.server.store, STATION, tmp_path / "central").path
    hidden = media / ".STICK"
    hidden.mkdir()
    (hidden / bundle.name).write_bytes(bundle.read_bytes())
    os.rename(hidden, media / "STICK")
    results = station.wait_reported(job_ids, timeout=90)   # printed from the spool, reported online

    assert {r["status"] for r in results.values()} == {"printed"}
    assert len(station.pngs()) == 3
    assert station.server.payload_requests() == []        # not one payload over the metered link
    text = station.metrics()
    assert metric(text, "ktp_link_quota_left_bytes") == 0
    assert metric(text, "ktp_link_quota_used_bytes") > 1_000_000  # the polls and reports since
    assert metric(text, "ktp_link_wire_bytes_total", 'direction="sent"') > 0
    assert station.stop_daemon() == 0
    journal = Journal(station.state / JOURNAL_FILE)
    try:
        assert journal.tallies.get(TALLY_FAMILY + month) > 1_000_000  # kept for the next start
        assert journal.counts_by_state()[JobState.REPORTED] == 3
    finally:
        journal.close()

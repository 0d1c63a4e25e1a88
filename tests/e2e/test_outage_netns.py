"""End to end, with the station in its own network namespace behind a real link to the job server
(TLS, MTU 1,500; testbed/station_link.py): a week-long outage in short form, and a station that
never had network printing a whole bundle.

Skipped, with the reason, when not root or when namespaces or nftables do not work here.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import urllib3

from jobserver.bundles import write_bundle
from jobserver.keys import load_token
from testbed.outage import OutageScenario
from testbed.pki import make_server_pki, openssl_missing
from testbed.station import STATION, StationHarness
from testbed.station_link import StationLink, unavailable_reason

REASON = unavailable_reason() or openssl_missing()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(REASON is not None, reason=f"station link unavailable: {REASON}")]


def test_a_week_without_network_ends_with_every_report_at_the_server_once_and_every_blank_accounted(tmp_path):
    outcome = OutageScenario(tmp_path, online=2, offline=4, day_s=1.5, via="watch", results_via="stick").run()
    jobs = outcome.online + outcome.offline
    assert outcome.failures() == []
    assert sorted(outcome.results) == sorted(jobs)                       # the server holds every report
    assert {r["status"] for r in outcome.results.values()} == {"printed"}
    assert outcome.receipts == {"applied": 4, "duplicates": 0, "conflicts": [], "refused": {}}
    assert outcome.conflicts == 0                                         # the resent reports were duplicates
    assert outcome.outbox == 0                                            # the station's outbox drained
    assert outcome.audit["each_blank_once"] and outcome.audit["consumed_reports"] == 6
    assert outcome.cards_inserted == 6 and outcome.printouts == [1, 2, 3, 4, 5, 6]
    assert outcome.link_was_down and outcome.payloads_after_return == 0
    assert [day for day, _, _ in outcome.timeline] == [0, 1, 2, 2, 5, 6]


def test_a_station_whose_link_is_down_from_the_start_prints_a_whole_bundle_and_its_receipt_reaches_the_server(
        tmp_path):
    with StationLink() as link:
        pki = make_server_pki(tmp_path / "pki", [link.server_address])
        station = StationHarness(tmp_path / "s", server_host=link.server_address, server_pki=pki,
                                 launcher=link.argv([]),
                                 extra_config="[transfer]\nretry_initial_seconds = 0.2\nretry_max_seconds = 1\n")
        try:
            link.down()
            jobs = station.issue(5)
            stick = tmp_path / "stick"
            stick.mkdir()
            write_bundle(station.server.store, STATION, stick)
            station.start_daemon()
            imported = _agent(station, "import", str(stick), "--lang", "en")
            assert "5 new jobs ready to print offline" in imported
            station.wait_for(lambda: station.status()["queue"].get("printed", 0) == 5, "the bundle printed", 90)
            assert "(5 reports)" in _agent(station, "export-results", str(stick), "--lang", "en")
            assert station.status()["outbox"] == 5                          # queued until the server confirms
            assert not link.is_up() and link.count().up_packets == 0        # not one packet left the station
            assert station.stop_daemon() == 0
            [receipts] = stick.glob("*.ktpresults")
            answer = _post_receipts(station, pki, receipts.read_bytes())
        finally:
            station.close()
    assert answer == {"applied": 5, "duplicates": 0, "conflicts": [], "refused": {}}
    results = station.server.store.results()
    assert sorted(j for j in results) == sorted(jobs) and {results[j]["status"] for j in jobs} == {"printed"}
    assert sorted(results[j]["blank_counter"] for j in jobs) == station.printout_counters() == [1, 2, 3, 4, 5]
    assert station.printer_state()["cards_inserted"] == 5
    audit = station.server.store.blank_audit(STATION)
    assert audit["each_blank_once"] and audit["consumed_reports"] == 5


def _agent(station: StationHarness, *args: str) -> str:
    done = subprocess.run([station.python, "-m", "agent", *args, "--config", str(station.config_path)],
                          cwd=station.root, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(station.code_root)))
    assert done.returncode == 0, done.stderr + station.log()[-2000:]
    return done.stdout


def _post_receipts(station: StationHarness, pki, body: bytes) -> dict:
    """The central office hands the stick's file to the running server (protocol section 6)."""
    http = urllib3.PoolManager(ca_certs=str(pki.ca_cert), cert_reqs="CERT_REQUIRED", retries=False)
    token = load_token(station.creds.token_file)
    response = http.request("POST", f"{station.server.url}/v1/stations/{STATION}/receipts", body=body,
                            headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert response.status == 200, response.data
    return json.loads(response.data)

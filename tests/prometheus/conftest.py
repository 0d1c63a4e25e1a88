"""One running station for this folder's tests: the real daemon, the reference
job server and simulated devices, with a few cards printed and reported."""
from __future__ import annotations

import subprocess
import sys

import pytest

from testbed.station import REPO, StationHarness

#: Cards the shared station prints before the tests look at it.
PRINTED = 4
BLANKS_LOADED = 50


@pytest.fixture(scope="package")
def printed_station(tmp_path_factory):
    """A running daemon that has printed and reported PRINTED cards; its printer
    status and blank stock are known, so every family it can expose is present."""
    station = StationHarness(tmp_path_factory.mktemp("station"))
    try:
        subprocess.run([sys.executable, "-m", "agent", "stock", "load", str(BLANKS_LOADED),
                        "--config", str(station.config_path)],
                       cwd=REPO, check=True, capture_output=True, timeout=60)
        station.jobs = station.issue(PRINTED)
        station.start_daemon()
        station.wait_reported(station.jobs)
        station.wait_for(lambda: f"ktp_printer_cards_inserted_total {PRINTED}.0" in station.metrics(),
                         "the printer's counter in the metrics")
        yield station
        assert station.stop_daemon() == 0
    finally:
        station.close()

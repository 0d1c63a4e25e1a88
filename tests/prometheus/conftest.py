"""One running station for this folder's tests: the real daemon, the reference
job server and simulated devices, with a few cards printed and reported."""
from __future__ import annotations

import subprocess
import sys

import pytest

from testbed.station import REPO, StationHarness, free_port
from tests.power.upsd import MISSING as NUT_MISSING, DummyUps

#: Cards the shared station prints before the tests look at it.
PRINTED = 4
BLANKS_LOADED = 50


@pytest.fixture(scope="package")
def printed_station(tmp_path_factory):
    """A running daemon that has printed and reported PRINTED cards; its printer
    status and blank stock are known, so every family it can expose is present. Its UPS is NUT's
    upsd with the dummy driver, on battery; without NUT installed, a UPS address nobody answers
    (the power families are then exposed without their UPS values)."""
    ups = None if NUT_MISSING else DummyUps(tmp_path_factory.mktemp("nut"), status="OB DISCHRG", runtime=1800)
    address = ups.address if ups else f"ups@127.0.0.1:{free_port()}"
    station = StationHarness(tmp_path_factory.mktemp("station"), extra_config=f'[power]\nups = "{address}"\n')
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
        if ups is not None:
            ups.stop()

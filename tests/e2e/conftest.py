import pytest

from testbed.station import StationHarness


@pytest.fixture
def station(tmp_path):
    harness = StationHarness(tmp_path)
    yield harness
    harness.close()


@pytest.fixture
def make_station(tmp_path):
    made = []

    def make(**kwargs):
        harness = StationHarness(tmp_path / f"s{len(made)}", **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()

from ..e2e.conftest import make_station  # noqa: F401 - the e2e fixture, shared
import pytest

from .upsd import MISSING, DummyUps


@pytest.fixture
def dummy_ups(tmp_path):
    if MISSING:
        pytest.skip(MISSING)
    ups = DummyUps(tmp_path / "nut")
    yield ups
    ups.stop()

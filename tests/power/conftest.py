import pytest

from .upsd import MISSING, DummyUps


@pytest.fixture
def dummy_ups(tmp_path):
    if MISSING:
        pytest.skip(MISSING)
    ups = DummyUps(tmp_path / "nut")
    yield ups
    ups.stop()

"""The power policy: when a new blank may be taken, and the default minimum runtime."""
from __future__ import annotations

import pytest

from agent.power.policy import (ASSUMED_CARD_S, MARGIN_S, PowerState, ReadingError, hold_reason, min_runtime,
                                next_state, parse_reading)

MIN = 60.0


def reading(status: str, charge: str = "80", runtime: str | None = "600"):
    variables = {"ups.status": status, "battery.charge": charge}
    if runtime is not None:
        variables["battery.runtime"] = runtime
    return parse_reading(variables)


@pytest.mark.parametrize("status, runtime, expected", [
    ("OL", "600", PowerState.MAINS),
    ("OL CHRG", "30", PowerState.MAINS),          # short runtime on mains: the mains carries the card
    ("OL LB", "30", PowerState.MAINS),            # a charging battery is not a power cut
    ("OB DISCHRG", "600", PowerState.BATTERY),
    ("OB", None, PowerState.BATTERY),             # no runtime estimate: only LB can tell
    ("OB LB", "600", PowerState.LOW),
    ("OB", "59", PowerState.LOW),
    ("OB FSD", "600", PowerState.LOW),
    ("WAIT", "600", PowerState.UNKNOWN),          # upsd has no data from its driver yet
])
def test_state_from_a_reading(status, runtime, expected):
    assert next_state(PowerState.MAINS, reading(status, runtime=runtime), MIN) is expected


def test_no_reading_is_unknown_and_never_holds():
    assert next_state(PowerState.LOW, None, MIN) is PowerState.UNKNOWN
    assert not PowerState.UNKNOWN.holds and not PowerState.BATTERY.holds and PowerState.LOW.holds


def test_a_hold_lasts_until_mains_even_when_the_runtime_estimate_rises_again():
    state = next_state(PowerState.BATTERY, reading("OB", runtime="30"), MIN)
    assert state is PowerState.LOW
    assert next_state(state, reading("OB", runtime="900"), MIN) is PowerState.LOW
    assert next_state(state, reading("OL CHRG", runtime="900"), MIN) is PowerState.MAINS


def test_default_min_runtime_is_twice_the_measured_card_plus_the_margin():
    assert min_runtime(None, 25.0) == 2 * 25.0 + MARGIN_S
    assert min_runtime(None, None) == 2 * ASSUMED_CARD_S + MARGIN_S
    assert min_runtime(200.0, 25.0) == 200.0


@pytest.mark.parametrize("variables", [{}, {"ups.status": " "}, {"ups.status": "OB", "battery.charge": "lots"},
                                       {"ups.status": "OB", "battery.runtime": "-5"},
                                       {"ups.status": "OB", "battery.runtime": "nan"}])
def test_variables_that_describe_no_ups_are_refused(variables):
    with pytest.raises(ReadingError):
        parse_reading(variables)


def test_hold_reason_names_the_cause():
    assert "LB" in hold_reason(PowerState.LOW, reading("OB LB"), MIN)
    assert "30 s" in hold_reason(PowerState.LOW, reading("OB", runtime="30"), MIN)
    assert hold_reason(PowerState.BATTERY, reading("OB"), MIN) is None

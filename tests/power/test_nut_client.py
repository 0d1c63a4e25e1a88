"""The NUT client against NUT's own upsd (dummy-ups driver) and against a fake upsd that misbehaves."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, strategies as st

from agent.power.nut import LinkProblem, NutClient, UpsAddress, UpsLinkError, parse_var_line

from .fake_upsd import FakeUpsd, Misbehaviour

DEADLINE_S = 1.0


def client(address: str) -> NutClient:
    return NutClient(UpsAddress.parse(address), DEADLINE_S)


def test_reads_the_variables_upsd_serves_from_the_dummy_driver(dummy_ups):
    found = client(dummy_ups.address).list_vars()
    assert found["ups.status"] == "OL" and found["battery.charge"] == "100"
    assert found["battery.runtime"] == "1200" and found["driver.name"] == "dummy-ups"


def test_sees_the_rewritten_file_once_upsd_reports_it(dummy_ups):
    nut = client(dummy_ups.address)
    dummy_ups.set("OB LB", 15, 40)
    dummy_ups.wait_reported("OB LB")
    found = nut.list_vars()
    assert (found["ups.status"], found["battery.charge"], found["battery.runtime"]) == ("OB LB", "15", "40")


def test_a_killed_upsd_is_unreachable_and_a_restarted_one_is_read_again(dummy_ups):
    nut = client(dummy_ups.address)
    nut.list_vars()
    dummy_ups.kill_upsd()
    with pytest.raises(UpsLinkError) as caught:
        nut.list_vars()
    assert caught.value.problem is LinkProblem.UNREACHABLE
    with pytest.raises(UpsLinkError) as caught:
        nut.list_vars()  # now refused at connect
    assert caught.value.problem is LinkProblem.UNREACHABLE
    dummy_ups.start_upsd()
    assert nut.list_vars()["ups.status"] == "OL"


def test_an_unknown_ups_name_is_a_refusal_not_a_reading(dummy_ups):
    other = dummy_ups.address.replace("ups@", "nosuch@")
    with pytest.raises(UpsLinkError) as caught:
        client(other).list_vars()
    assert caught.value.problem is LinkProblem.GARBAGE and "UNKNOWN-UPS" in str(caught.value)


@pytest.mark.parametrize("behaviour, problem", [
    (Misbehaviour.GARBAGE, LinkProblem.GARBAGE),
    (Misbehaviour.HALF, LinkProblem.UNREACHABLE),
    (Misbehaviour.STALL, LinkProblem.SLOW),
    (Misbehaviour.DRIP, LinkProblem.SLOW),
    (Misbehaviour.FLOOD, LinkProblem.GARBAGE),
])
def test_a_misbehaving_upsd_costs_at_most_the_deadline(behaviour, problem):
    fake = FakeUpsd(behaviour)
    try:
        started = time.monotonic()
        with pytest.raises(UpsLinkError) as caught:
            client(fake.address).list_vars()
        took = time.monotonic() - started
    finally:
        fake.stop()
    assert caught.value.problem is problem
    assert took < DEADLINE_S + 0.5


@pytest.mark.parametrize("text, expected", [
    ("ups@127.0.0.1:3494", ("ups", "127.0.0.1", 3494)),
    ("myups@localhost", ("myups", "localhost", 3493)),
    ("ups@[::1]:3493", ("ups", "::1", 3493)),
])
def test_ups_addresses_are_read_like_upsc_writes_them(text, expected):
    address = UpsAddress.parse(text)
    assert (address.name, address.host, address.port) == expected
    assert UpsAddress.parse(str(address)) == address


@pytest.mark.parametrize("text", ["ups", "@host", "ups@", "ups@host:0", "ups@host:99999", "ups@host:x",
                                  'u"ps@host'])
def test_malformed_ups_addresses_are_refused(text):
    with pytest.raises(ValueError):
        UpsAddress.parse(text)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_var_values_round_trip_through_nut_quoting(value):
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    assert parse_var_line(f'VAR ups battery.charge "{quoted}"', "ups") == ("battery.charge", value)


@pytest.mark.parametrize("line", ['VAR other ups.status "OL"', "VAR ups ups.status OL", 'VAR ups ups.status "O"L"',
                                  'VAR ups ups.status "OL\\"', "VAR ups", ""])
def test_malformed_var_lines_are_garbage(line):
    with pytest.raises(UpsLinkError) as caught:
        parse_var_line(line, "ups")
    assert caught.value.problem is LinkProblem.GARBAGE

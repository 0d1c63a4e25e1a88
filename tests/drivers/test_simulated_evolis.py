"""The simulated Evolis printer, byte for byte."""
from __future__ import annotations

import json

import pytest

from drivers.evolis.panels import panel_size
from drivers.evolis.protocol import encode_download
from drivers.interfaces import CardPosition
from drivers.simulated.bench import SimBench
from drivers.simulated.evolis import SimulatedEvolis, blank_chip_uid

OK = b"\x06OK\r"


def command(text: str) -> bytes:
    return b"\x1b" + text.encode() + b"\r"


def ack(text: str) -> bytes:
    return b"\x06" + text.encode() + b"\r"


def nack(code: str) -> bytes:
    return b"\x15" + code.encode() + b"\r"


def ack_mode(printer: SimulatedEvolis) -> SimulatedEvolis:
    assert printer.feed(command("Pem;6")) == OK
    return printer


@pytest.fixture
def printer(tmp_path) -> SimulatedEvolis:
    return ack_mode(SimulatedEvolis(tmp_path))


def test_starts_outside_ack_mode_until_pem(tmp_path):
    printer = SimulatedEvolis(tmp_path)
    assert printer.feed(command("Rsn")) == b"EVSIM0001\r"
    assert printer.feed(command("Xyz")) == b"ERR;1\r"
    assert printer.feed(command("Pem;6")) == OK
    assert printer.feed(command("Rsn")) == ack("EVSIM0001")


def test_unknown_command_and_bad_parameter_are_nacked(printer):
    assert printer.feed(command("Xyz")) == nack("1")
    assert printer.feed(command("Rco;z")) == nack("2")
    assert printer.feed(command("Sic;now")) == nack("2")


def test_answers_every_command_of_a_chunk_in_order(printer):
    assert printer.feed(command("Rco;c") + command("Rlr;p") + command("Rse;o")) == (
        ack("0") + ack("OK") + ack("CLOSED")
    )


def test_insert_to_contactless_counts_persists_and_places_the_chip(printer, tmp_path):
    assert printer.feed(command("Sic")) == OK
    on_disk = json.loads((tmp_path / "evolis.json").read_text())
    assert on_disk["cards_inserted"] == 1
    uid, readable = SimBench(tmp_path).card_at_station()
    assert uid == blank_chip_uid("EVSIM0001", 1)
    assert len(uid) == 7 and uid[0] == 0x04 and readable
    assert printer.feed(command("Rlr;p")) == ack("CONTACTLESS CARD")


def test_every_blank_has_a_distinct_uid():
    uids = {blank_chip_uid("EVSIM0001", n) for n in range(1, 500)}
    assert len(uids) == 499


def test_insert_with_a_card_inside_does_not_take_another(printer):
    printer.feed(command("Sic"))
    assert printer.feed(command("Sic")) == OK
    assert printer.state.cards_inserted == 1


def test_end_of_job_takes_a_card_prints_and_ejects(tmp_path):
    printer = SimulatedEvolis(tmp_path, png_dir=tmp_path / "png")
    ack_mode(printer)
    data = bytes(panel_size(2))
    stream = command("Pr;ymcko") + command("Ss") + command("Sr") + encode_download("k", 2, data)
    assert printer.feed(stream) == OK * 4
    assert printer.feed(command("Se")) == OK
    state = printer.state
    assert (state.cards_inserted, state.panels_printed, state.ribbon_remaining) == (1, 1, 199)
    assert state.position is CardPosition.NONE
    uid = blank_chip_uid("EVSIM0001", 1).hex()
    assert [p.name for p in (tmp_path / "png").iterdir()] == [f"card-000001-{uid}.png"]
    assert SimBench(tmp_path).card_at_station() is None


def test_download_split_across_many_feeds_is_one_command(printer):
    frame = encode_download("o", 2, b"\r\x1b" * (panel_size(2) // 2))
    printer.feed(command("Ss"))
    replies = b"".join(printer.feed(frame[i:i + 1000]) for i in range(0, len(frame), 1000))
    assert replies == OK


def test_download_outside_a_job_or_with_bad_panel_is_nacked(printer):
    data = bytes(panel_size(2))
    assert printer.feed(encode_download("k", 2, data)) == nack("1")
    printer.feed(command("Ss"))
    assert printer.feed(encode_download("x", 2, data)) == nack("2")
    assert printer.feed(b"\x1bDb;k;3;") == nack("2")


def test_counters_and_supplies_survive_a_restart(tmp_path):
    first = ack_mode(SimulatedEvolis(tmp_path, feeder_cards=5, ribbon_prints=7))
    first.feed(command("Sic") + command("Ss") + command("Se"))
    again = ack_mode(SimulatedEvolis(tmp_path))
    state = again.state
    assert (state.cards_inserted, state.feeder_cards) == (1, 4)
    assert again.feed(command("Rcr")) == ack("7")
    assert again.feed(command("Rco;c")) == ack("1")


def test_a_cut_between_state_and_station_file_leaves_the_card_visible(tmp_path):
    ack_mode(SimulatedEvolis(tmp_path)).feed(command("Sic"))
    SimBench(tmp_path).remove_card()  # the cut came after the state save, before the station file
    SimulatedEvolis(tmp_path)
    assert SimBench(tmp_path).card_at_station() == (blank_chip_uid("EVSIM0001", 1), True)


def test_a_restart_clears_a_station_file_for_a_card_that_left(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path))
    printer.feed(command("Sic") + command("Ser"))
    SimBench(tmp_path).place_card(b"\x04\x01\x02\x03\x04\x05\x06")  # a stale file from before a cut
    SimulatedEvolis(tmp_path)
    assert SimBench(tmp_path).card_at_station() is None


def test_supplies_given_to_the_constructor_override_the_state_file(tmp_path):
    ack_mode(SimulatedEvolis(tmp_path, feeder_cards=5)).feed(command("Sic"))
    printer = SimulatedEvolis(tmp_path, feeder_cards=0)
    assert printer.state.feeder_cards == 0
    assert printer.state.cards_inserted == 1


def test_empty_feeder_is_nacked_f(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, feeder_cards=0))
    assert printer.feed(command("Sic")) == nack("F")
    assert printer.feed(command("Ss") + command("Se")) == OK + nack("F")
    assert printer.state.cards_inserted == 0


def test_open_cover_stops_card_movement_and_shows_on_the_sensor(printer):
    printer.set_fault("cover_open", True)
    assert printer.feed(command("Rse;o")) == ack("OPEN")
    for mnemonic in ("Sic", "Se", "Ser", "Si"):
        assert printer.feed(command(mnemonic)) == nack("C")
    printer.set_fault("cover_open", False)
    assert printer.feed(command("Sic")) == OK


def test_jam_at_card_keeps_that_card_in_the_printer(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, jam_at_card=2))
    printer.feed(command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert printer.feed(command("Se")) == OK  # card 1 prints
    printer.feed(command("Sic") + command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert printer.feed(command("Se")) == nack("T")
    assert printer.feed(command("Rlr;p")) == ack("CARD")
    assert SimBench(tmp_path).card_at_station() is None


def test_exhausted_ribbon_is_nacked_r_and_the_card_stays(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, ribbon_prints=0))
    printer.feed(command("Sic") + command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert printer.feed(command("Se")) == nack("R")
    assert printer.feed(command("Rlr;p")) == ack("CARD")


def test_reject_sends_the_card_to_the_reject_box(printer, tmp_path):
    printer.feed(command("Sic"))
    assert printer.feed(command("Ser")) == OK
    assert printer.state.cards_rejected == 1
    assert printer.feed(command("Rlr;p")) == ack("OK")
    assert SimBench(tmp_path).card_at_station() is None


def test_set_fault_refuses_unknown_names(printer):
    with pytest.raises(ValueError, match="unknown printer fault"):
        printer.set_fault("on_fire", True)


def test_ribbon_mismatch_is_nacked_r(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, ribbon_type="KO"))
    assert printer.feed(command("Pr;ymcko")) == nack("R")
    assert printer.feed(command("Pr;ko")) == OK

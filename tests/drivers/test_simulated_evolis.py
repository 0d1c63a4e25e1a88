"""The simulated Evolis Primacy 2, byte for byte."""
from __future__ import annotations

import json

import pytest

from drivers.evolis.panels import panel_size
from drivers.evolis.protocol import PROBE, Framing, ReplyParser, encode_download
from drivers.evolis.status import ErrorFlag, InfoFlag, WarningFlag
from drivers.interfaces import CardPosition
from drivers.simulated.bench import SimBench
from drivers.simulated.evolis import SimulatedEvolis, blank_chip_uid


def command(text: str) -> bytes:
    return b"\x1b" + text.encode() + b"\r"


def texts(printer: SimulatedEvolis, data: bytes) -> list[str]:
    """The reply texts ``printer`` sends for ``data``; every frame must carry its status block."""
    replies = ReplyParser(Framing.STATUS_BLOCK).feed(printer.feed(data))
    assert all(reply.status is not None for reply in replies)
    return [reply.text for reply in replies]


def ack_mode(printer: SimulatedEvolis) -> SimulatedEvolis:
    assert texts(printer, command("Pem;2")) == ["OK"]
    return printer


@pytest.fixture
def printer(tmp_path) -> SimulatedEvolis:
    return ack_mode(SimulatedEvolis(tmp_path))


def test_names_itself_a_primacy_2_and_answers_the_vendor_probe(tmp_path):
    printer = SimulatedEvolis(tmp_path)
    assert texts(printer, PROBE + command("Rtp") + command("Rsn")) == ["OK", "Primacy 2", "EVSIM0001"]
    assert texts(printer, command("Rem;1") + command("Pem;2") + command("Rem;1")) == ["0", "OK", "2"]


def test_sessions_and_the_claim_flag_show_in_the_status(tmp_path):
    printer = SimulatedEvolis(tmp_path)
    reserved, claimed = ReplyParser().feed(printer.feed(command("Psid;2;45") + command("Pcla;1")))
    assert reserved.status.session == 2 and not reserved.status.claimed
    assert claimed.status.claimed
    (reply,) = ReplyParser().feed(printer.feed(command("Pcla;0")))
    assert not reply.status.claimed
    assert printer.status_words().session == 2
    texts(printer, command("Psid;0;45"))
    assert printer.status_words().session == 0


def test_usb_reads_repeat_the_last_reply_with_the_current_status(tmp_path):
    printer = SimulatedEvolis(tmp_path)
    printer.feed(command("Rsn"))
    printer.set_fault("cover_open", True)
    (reply,) = ReplyParser().feed(printer.current_frame())
    assert reply.text == "EVSIM0001" and WarningFlag.COVER_OPEN in reply.status.warning


def test_unknown_command_and_bad_parameter_are_errors(printer):
    assert texts(printer, command("Xyz") + command("Rco;z") + command("Sic;now")) == [
        "ERROR CDE", "ERROR PARAMETRES", "ERROR PARAMETRES"]


def test_answers_every_command_of_a_chunk_in_order(printer):
    assert texts(printer, command("Rco;c") + command("Rlr;p") + command("Rse;o")) == ["0", "OK", "CLOSED"]


def test_insert_to_contactless_counts_persists_and_places_the_chip(printer, tmp_path):
    assert texts(printer, command("Sic")) == ["OK"]
    on_disk = json.loads((tmp_path / "evolis.json").read_text())
    assert on_disk["cards_inserted"] == 1
    uid, readable = SimBench(tmp_path).card_at_station()
    assert uid == blank_chip_uid("EVSIM0001", 1)
    assert len(uid) == 7 and uid[0] == 0x04 and readable
    (reply,) = ReplyParser().feed(printer.feed(command("Rlr;p")))
    assert reply.text == "CONTACTLESS CARD" and InfoFlag.CARD_CONTACTLESS in reply.status.information


def test_every_blank_has_a_distinct_uid():
    uids = {blank_chip_uid("EVSIM0001", n) for n in range(1, 500)}
    assert len(uids) == 499


def test_insert_with_a_card_inside_does_not_take_another(printer):
    printer.feed(command("Sic"))
    assert texts(printer, command("Sic")) == ["OK"]
    assert printer.state.cards_inserted == 1


def test_end_of_job_takes_a_card_prints_and_ejects(tmp_path):
    printer = SimulatedEvolis(tmp_path, png_dir=tmp_path / "png")
    ack_mode(printer)
    data = bytes(panel_size(2))
    stream = command("Pr;ymcko") + command("Ss") + command("Sr") + encode_download("k", 2, data)
    assert texts(printer, stream) == ["OK"] * 4
    assert texts(printer, command("Se")) == ["OK"]
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
    assert [r.text for r in ReplyParser().feed(replies)] == ["OK"]


def test_download_outside_a_job_or_with_bad_panel_is_an_error(printer):
    data = bytes(panel_size(2))
    assert texts(printer, encode_download("k", 2, data)) == ["ERROR CDE"]
    printer.feed(command("Ss"))
    assert texts(printer, encode_download("x", 2, data)) == ["ERROR PARAMETRES"]
    assert texts(printer, b"\x1bDb;k;3;" + command("Rsn")) == ["ERROR PARAMETRES", "EVSIM0001"]


def test_counters_and_supplies_survive_a_restart(tmp_path):
    first = ack_mode(SimulatedEvolis(tmp_path, feeder_cards=5, ribbon_prints=7))
    first.feed(command("Sic") + command("Ss") + command("Se"))
    again = ack_mode(SimulatedEvolis(tmp_path))
    state = again.state
    assert (state.cards_inserted, state.feeder_cards) == (1, 4)
    assert texts(again, command("Rcr") + command("Rco;c")) == ["7", "1"]


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


def test_empty_feeder_is_an_error_and_shows_in_the_status(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, feeder_cards=0))
    assert texts(printer, command("Sic")) == ["ERROR FEEDER"]
    assert texts(printer, command("Ss") + command("Se")) == ["OK", "ERROR FEEDER"]
    words = printer.status_words()
    assert WarningFlag.FEEDER_EMPTY in words.warning and ErrorFlag.FEEDER_ERROR in words.error
    assert printer.state.cards_inserted == 0


def test_open_cover_stops_card_movement_and_shows_on_the_sensor(printer):
    printer.set_fault("cover_open", True)
    assert texts(printer, command("Rse;o")) == ["OPEN"]
    for mnemonic in ("Sic", "Se", "Ser", "Si"):
        assert texts(printer, command(mnemonic)) == ["ERROR COVER"]
    assert ErrorFlag.COVER_OPEN in printer.status_words().error
    printer.set_fault("cover_open", False)
    assert texts(printer, command("Sic")) == ["OK"]
    assert not printer.status_words().error


def test_jam_at_card_keeps_that_card_in_the_printer(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, jam_at_card=2))
    printer.feed(command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert texts(printer, command("Se")) == ["OK"]  # card 1 prints
    printer.feed(command("Sic") + command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert texts(printer, command("Se")) == ["ERROR MECHANICAL"]
    assert texts(printer, command("Rlr;p")) == ["CARD"]
    assert ErrorFlag.MECHANICAL in printer.status_words().error
    assert SimBench(tmp_path).card_at_station() is None


def test_exhausted_ribbon_is_an_error_and_the_card_stays(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, ribbon_prints=0))
    printer.feed(command("Sic") + command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert texts(printer, command("Se")) == ["ERROR RIBBON"]
    assert texts(printer, command("Rlr;p")) == ["CARD"]
    assert WarningFlag.RIBBON_ENDED in printer.status_words().warning


def test_reject_sends_the_card_to_the_reject_box(printer, tmp_path):
    printer.feed(command("Sic"))
    assert texts(printer, command("Ser")) == ["OK"]
    assert printer.state.cards_rejected == 1
    assert texts(printer, command("Rlr;p")) == ["OK"]
    assert SimBench(tmp_path).card_at_station() is None


def test_set_fault_refuses_unknown_names(printer):
    with pytest.raises(ValueError, match="unknown printer fault"):
        printer.set_fault("on_fire", True)


def test_ribbon_selection_takes_vendor_codes_and_rev_e_names(tmp_path):
    printer = ack_mode(SimulatedEvolis(tmp_path, ribbon_type="KO"))
    assert texts(printer, command("Pr;ymcko") + command("Pr;0;t")) == ["ERROR RIBBON"] * 2
    assert texts(printer, command("Pr;ko") + command("Pr;k") + command("Pr;1;t")) == ["OK"] * 3


def test_cleaning_flags_follow_the_cards_since_cleaning(tmp_path):
    printer = SimulatedEvolis(tmp_path, cleaning_due_at=2, cleaning_mandatory_at=3)
    printer.set_fault("cards_since_cleaning", 2)
    assert InfoFlag.CLEANING in printer.status_words().information
    printer.set_fault("cards_since_cleaning", 3)
    assert InfoFlag.CLEANING_MANDATORY in printer.status_words().information
    assert texts(printer, command("Rco;clean") + command("Scp") + command("Rco;clean")) == ["3", "OK", "0"]
    assert not printer.status_words().information & (InfoFlag.CLEANING | InfoFlag.CLEANING_MANDATORY)


def test_rev_e_stream_with_trailing_nuls_prints_one_card(tmp_path):
    printer = SimulatedEvolis(tmp_path, ribbon_type="KO", png_dir=tmp_path / "png")
    stream = (command("Pr;k") + command("Pmi;F;s") + command("Pc;k;=;10") + command("Ss") + command("Sr")
              + encode_download("k", 2, bytes(panel_size(2))) + command("Se") + bytes(64))
    assert texts(printer, stream) == ["OK"] * 7
    assert printer.state.panels_printed == 1 and len(list((tmp_path / "png").iterdir())) == 1


def test_link_rate_paces_what_arrives(tmp_path):
    import time
    printer = SimulatedEvolis(tmp_path, bytes_per_s=100_000)
    started = time.monotonic()
    printer.feed(command("Ss") + encode_download("k", 2, bytes(panel_size(2))))
    assert time.monotonic() - started >= 82_296 / 100_000

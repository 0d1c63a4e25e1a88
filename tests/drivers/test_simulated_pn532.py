"""The simulated PN532, byte for byte through feed()."""
from __future__ import annotations

import pytest

from drivers.pn532 import protocol as p
from drivers.pn532.commands import WAKEUP_PREAMBLE
from drivers.simulated.bench import SimBench
from drivers.simulated.pn532 import SimulatedPn532

UID = bytes.fromhex("04a1b2c3d4e5f6")


def command(hex_data: str) -> bytes:
    return p.build_frame(p.HOST_TO_CHIP, bytes.fromhex(hex_data))


def answer(hex_data: str) -> bytes:
    return p.ACK_FRAME + p.build_frame(p.CHIP_TO_HOST, bytes.fromhex(hex_data))


def response_of(reply: bytes) -> bytes:
    """The response code and data of an ACK + response reply."""
    assert reply.startswith(p.ACK_FRAME)
    [frame] = p.FrameParser().feed(reply[len(p.ACK_FRAME):])
    assert isinstance(frame, p.InformationFrame) and frame.tfi == p.CHIP_TO_HOST
    return frame.data


@pytest.fixture
def sim(tmp_path):
    return SimulatedPn532(tmp_path)


def test_get_firmware_version_is_acked_and_answered(sim):
    assert sim.feed(command("02")) == answer("0332010607")


def test_firmware_is_configurable(tmp_path):
    assert SimulatedPn532(tmp_path, firmware=(0x32, 1, 4, 7)).feed(command("02")) == answer("0332010407")


def test_wakeup_preamble_before_a_frame_is_skipped(sim):
    assert sim.feed(WAKEUP_PREAMBLE + command("14011401")) == answer("15")


def test_frame_split_across_feeds_is_answered_when_complete(sim):
    frame = command("3205ff0102")
    assert sim.feed(frame[:4]) == b""
    assert sim.feed(frame[4:]) == answer("33")


def test_two_frames_in_one_feed_are_both_answered(sim):
    assert sim.feed(command("02") + command("5200")) == answer("0332010607") + answer("5300")


def test_host_nack_resends_the_last_response(sim):
    reply = sim.feed(command("02"))
    assert sim.feed(p.NACK_FRAME) == reply[len(p.ACK_FRAME):]


def test_host_ack_while_idle_is_ignored(sim):
    assert sim.feed(p.ACK_FRAME) == b""


def test_frame_with_a_bad_checksum_gets_no_answer(sim):
    bad = bytearray(command("02"))
    bad[-2] ^= 0x01
    assert sim.feed(bytes(bad)) == b""
    assert sim.feed(command("02")) == answer("0332010607")


def test_bad_frame_followed_by_a_good_one_answers_the_good_one(sim):
    bad = bytearray(command("02"))
    bad[3] ^= 0x01
    assert sim.feed(bytes(bad) + command("02")) == answer("0332010607")


@pytest.mark.parametrize("unknown", ["60", "4a0105", "14", "02ff", ""])
def test_unknown_command_or_bad_parameters_get_the_error_frame(sim, unknown):
    assert sim.feed(command(unknown)) == p.ACK_FRAME + p.ERROR_FRAME


def test_list_passive_target_without_a_card_finds_nothing(sim):
    assert sim.feed(command("4a0100")) == answer("4b00")


def test_list_passive_target_reports_the_card_at_the_station(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    [target] = p.decode_in_list_passive_target(response_of(sim.feed(command("4a0100"))))
    assert (target.tg, target.uid, target.sens_res) == (1, UID, b"\x00\x44")
    assert target.sel_res in (0x20, 0x00)


def test_list_passive_target_skips_an_unreadable_card(tmp_path, sim):
    SimBench(tmp_path).place_card(UID, readable=False)
    assert sim.feed(command("4a0100")) == answer("4b00")


def test_list_passive_target_type_b_finds_no_type_a_card(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    assert sim.feed(command("4a010300")) == answer("4b00")


def test_chip_absent_fault_hides_the_card(tmp_path):
    SimBench(tmp_path).place_card(UID)
    sim = SimulatedPn532(tmp_path, chip_absent=True)
    assert sim.feed(command("4a0100")) == answer("4b00")
    sim.set_fault("chip_absent", False)
    assert p.decode_in_list_passive_target(response_of(sim.feed(command("4a0100"))))[0].uid == UID


def test_no_reply_fault_swallows_commands_until_cleared(sim):
    sim.set_fault("no_reply", True)
    assert sim.feed(command("02")) == b""
    sim.set_fault("no_reply", False)
    assert sim.feed(command("02")) == answer("0332010607")


def test_garbage_fault_answers_bytes_that_hold_no_frame(tmp_path):
    sim = SimulatedPn532(tmp_path, garbage=True, seed=7)
    for _ in range(50):
        reply = sim.feed(command("02"))
        assert reply and p.START_CODE not in reply


def test_slow_fault_waits_before_answering(tmp_path):
    waits: list[float] = []
    sim = SimulatedPn532(tmp_path, slow_seconds=0.5, sleep=waits.append)
    assert sim.feed(command("02")) == answer("0332010607")
    assert waits == [0.5]
    sim.clear_faults()
    sim.feed(command("02"))
    assert waits == [0.5]


def test_data_exchange_with_the_selected_card_and_after_release(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("4a0100"))
    assert sim.feed(command("400100a4")) == answer("41006d00")
    assert sim.feed(command("5201")) == answer("5300")
    assert sim.feed(command("400100a4")) == answer("4127")


def test_data_exchange_after_the_card_left_times_out(tmp_path, sim):
    bench = SimBench(tmp_path)
    bench.place_card(UID)
    sim.feed(command("4a0100"))
    bench.remove_card()
    assert sim.feed(command("400100a4")) == answer("4101")


def test_unknown_fault_name_is_refused(sim):
    with pytest.raises(ValueError, match="no_reply"):
        sim.set_fault("on_fire", True)

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


# --- what real hosts send (libnfc 1.8, nfcpy 1.0; UM0701-02) ------------------------


def test_diagnose_communication_test_echoes_its_data(sim):
    assert sim.feed(command("00006c69626e6663")) == answer("0100" + "6c69626e6663")


def test_diagnose_line_test_in_an_extended_frame_is_echoed_in_one(sim):
    data = b"\x00" + bytes(range(256)) + bytes(6)  # nfcpy's 263-byte line test
    [frame] = p.FrameParser().feed(sim.feed(p.build_frame(p.HOST_TO_CHIP, b"\x00" + data))[len(p.ACK_FRAME):])
    assert frame.data == b"\x01" + data


def test_diagnose_card_presence_follows_the_card(tmp_path, sim):
    bench = SimBench(tmp_path)
    bench.place_card(UID)
    sim.feed(command("4a0100"))
    assert sim.feed(command("0006")) == answer("0100")
    bench.remove_card()
    assert sim.feed(command("0006")) == answer("0101")


def test_general_status_lists_the_selected_target(tmp_path, sim):
    assert sim.feed(command("04")) == answer("0500000000")
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("4a0100"))
    assert sim.feed(command("04")) == answer("05000001" + "01000000" + "00")


def test_registers_read_back_what_was_written_with_16_bit_addresses(sim):
    assert sim.feed(command("08" + "630280" + "ffb0" + "55")) == answer("09")
    assert sim.feed(command("06" + "6302" + "ffb0" + "1234")) == answer("07" + "80" + "55" + "00")


def test_fifo_still_holds_reqa_after_a_type_a_poll_found_nothing(sim):
    sim.feed(command("4a0100"))
    assert sim.feed(command("06633a6339")) == answer("070126")


def test_automatic_rats_off_ends_type_a_target_data_after_the_nfcid1(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    assert sim.feed(command("1200")) == answer("13")
    assert sim.feed(command("4a0100")) == answer("4b0101004420" + "07" + UID.hex())
    assert sim.feed(command("1214")) == answer("13")
    assert sim.feed(command("4a0100")) == answer("4b0101004420" + "07" + UID.hex() + "0578807002")


@pytest.mark.parametrize("brty_and_data", ["0100ffff0100", "0200ffff0100", "0300", "04"])
def test_every_other_brty_answers_zero_targets_never_an_error(tmp_path, sim, brty_and_data):
    SimBench(tmp_path).place_card(UID)
    assert sim.feed(command("4a01" + brty_and_data)) == answer("4b00")


def test_in_list_passive_target_for_another_uid_finds_nothing(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    assert sim.feed(command("4a0100" + "88" + "01020304050607")) == answer("4b00")
    assert sim.feed(command("4a0100" + "88" + UID.hex()))[len(p.ACK_FRAME) + 7] == 0x01


def test_set_serial_baud_rate_switches_only_after_the_host_ack(sim):
    assert sim.feed(command("1007")) == answer("11")
    assert sim.line_speed == 115_200
    assert sim.feed(p.ACK_FRAME) == b""
    assert sim.line_speed == 921_600


def test_frames_at_another_line_speed_are_noise(sim):
    sim.host_line_speed(9_600)
    assert sim.feed(command("02")) == b""
    sim.host_line_speed(115_200)
    assert sim.feed(command("02")) == answer("0332010607")


def test_power_down_then_hsu_wake_up_preamble(sim):
    assert sim.feed(command("16f0")) == answer("1700")
    assert sim.asleep
    assert sim.feed(command("02")) == b""  # no preamble: the frame's first bytes are lost waking up
    assert not sim.asleep
    assert sim.feed(command("16f0")) == answer("1700")
    assert sim.feed(WAKEUP_PREAMBLE + command("02")) == answer("0332010607")


def test_power_down_without_hsu_as_wake_up_source_stays_asleep(sim):
    sim.feed(command("1620"))
    assert sim.feed(WAKEUP_PREAMBLE + command("02")) == b""
    assert sim.asleep


@pytest.mark.parametrize("item", ["0101", "02000b0a", "0400", "05010001", "0a59f43f114d85616f266287",
                                  "0b69ff3f114185616f", "0cff0485", "0d85158a8508b28501da"])
def test_every_rf_configuration_item_is_accepted(sim, item):
    assert sim.feed(command("32" + item)) == answer("33")


def test_rf_configuration_with_a_wrong_length_is_a_syntax_error(sim):
    assert sim.feed(command("320101ff")) == p.ACK_FRAME + p.ERROR_FRAME


def test_in_auto_poll_reports_an_iso14443_4a_target_with_its_ats(tmp_path, sim):
    assert sim.feed(command("6014022010")) == answer("6100")
    SimBench(tmp_path).place_card(UID)
    target = "01004420" + "07" + UID.hex() + "0578807002"
    assert sim.feed(command("6014022010")) == answer("610120" + f"{len(target) // 2:02x}" + target)


def test_in_communicate_thru_carries_rats_deselect_and_r_blocks(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("1200") + command("4a0100"))
    assert sim.feed(command("42e080")) == answer("43000578807002")
    assert sim.feed(command("42b2")) == answer("4300a3")
    assert sim.feed(command("4202" + "00a4040000")) == answer("4300" + "02" + "6d00")
    assert sim.feed(command("42c2")) == answer("4300c2")
    assert sim.feed(command("42b2")) == answer("4301")  # halted: silent


def test_in_communicate_thru_without_chip_crc_checks_and_adds_crc_a(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("1200") + command("4a0100") + command("08630200630300"))
    assert sim.feed(command("42e080")) == answer("4301")  # no CRC_A: the card ignores the frame
    assert sim.feed(command("42e0803173")) == answer("43000578807002" + "a546")


def test_deselect_halts_the_card_until_the_field_goes_off(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("4a0100"))
    assert sim.feed(command("4400")) == answer("4500")
    assert sim.feed(command("4a0100")) == answer("4b00")  # REQA does not wake a halted card
    assert sim.feed(command("320100")) == answer("33")
    assert sim.feed(command("4a0100"))[len(p.ACK_FRAME) + 7] == 0x01


def test_in_select_reactivates_a_deselected_target(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("4a0100") + command("4401"))
    assert sim.feed(command("400100a4")) == answer("4127")
    assert sim.feed(command("5401")) == answer("5500")
    assert sim.feed(command("400100a4")) == answer("41006d00")
    assert sim.feed(command("5402")) == answer("5527")


def test_dep_commands_find_no_dep_target(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    assert sim.feed(command("56010000")) == answer("5701")
    assert sim.feed(command("500100")) == answer("5127")


def test_target_mode_waits_for_an_initiator_until_the_host_cancels(sim):
    assert sim.feed(command("8c04" + "00" * 34)) == p.ACK_FRAME
    assert sim.feed(p.ACK_FRAME) == b""
    assert sim.feed(command("02")) == answer("0332010607")


def test_drop_acks_fault_loses_only_the_ack(sim):
    sim.set_fault("drop_acks", 1)
    assert sim.feed(command("02")) == answer("0332010607")[len(p.ACK_FRAME):]
    assert sim.feed(command("02")) == answer("0332010607")


def test_rf_errors_fault_spends_the_chip_s_passive_activation_retries(tmp_path, sim):
    SimBench(tmp_path).place_card(UID)
    sim.feed(command("320500" + "01" + "01"))  # MxRtyPassiveActivation 1: two attempts per poll
    sim.set_fault("rf_errors", 2)
    assert sim.feed(command("4a0100")) == answer("4b00")
    assert sim.feed(command("4a0100"))[len(p.ACK_FRAME) + 7] == 0x01


def test_remove_pre_and_postamble_parameter_shortens_the_chip_s_frames(sim):
    sim.feed(command("1240"))
    assert sim.feed(command("02")) == p.ACK_FRAME + p.build_frame(p.CHIP_TO_HOST, bytes.fromhex("0332010607"))[1:-1]

"""Pn532Reader and HsuLink against the simulated PN532, over a pipe and over a pty."""
from __future__ import annotations

import time

import pytest

from drivers.errors import ProtocolError, TransportTimeoutError
from drivers.interfaces import ChipTarget
from drivers.pn532 import protocol as p
from drivers.pn532.commands import WAKEUP_PREAMBLE, HsuLink, Pn532
from drivers.pn532.reader import Pn532Reader
from drivers.serial_transport import SerialTransport
from drivers.simulated.bench import SimBench
from drivers.simulated.host import serve_over_pipe, serve_over_pty
from drivers.simulated.pn532 import SimulatedPn532

UID = bytes.fromhex("04a1b2c3d4e5f6")
TIMEOUT = 0.3


def open_link(sim, kind: str, request):
    """A transport to ``sim`` over ``kind``; closed when the test ends."""
    if kind == "pipe":
        transport, host = serve_over_pipe(sim, "pn532")
    else:
        path, host = serve_over_pty(sim, "pn532")
        transport = SerialTransport(path)

    def teardown() -> None:
        transport.close()
        host.stop()

    request.addfinalizer(teardown)
    return transport


@pytest.fixture(params=["pipe", "pty"])
def station(request, tmp_path):
    sim = SimulatedPn532(tmp_path)
    reader = Pn532Reader.over_hsu(open_link(sim, request.param, request), command_timeout=TIMEOUT)
    return reader, sim, SimBench(tmp_path)


def test_firmware_names_the_pn532(station):
    reader, _, _ = station
    assert reader.firmware() == "PN532 v1.6"


def test_find_card_without_a_card_returns_none(station):
    reader, _, _ = station
    assert reader.find_card(timeout=0.1) is None


def test_find_card_returns_the_uid_of_the_card_at_the_station(station):
    reader, _, bench = station
    bench.place_card(UID)
    assert reader.find_card(timeout=0.1) == ChipTarget(UID, "A")
    reader.release()


def test_find_card_sees_an_unreadable_card_as_no_card(station):
    reader, _, bench = station
    bench.place_card(UID, readable=False)
    assert reader.find_card(timeout=0.1) is None


def test_chip_absent_fault_hides_the_card(station):
    reader, sim, bench = station
    bench.place_card(UID)
    sim.set_fault("chip_absent", True)
    assert reader.find_card(timeout=0.1) is None
    sim.set_fault("chip_absent", False)
    assert reader.find_card(timeout=0.1) == ChipTarget(UID, "A")


def test_no_reply_times_out_and_the_reader_works_again_after_the_fault_clears(station):
    reader, sim, bench = station
    bench.place_card(UID)
    sim.set_fault("no_reply", True)
    with pytest.raises(TransportTimeoutError):
        reader.find_card(timeout=0.1)
    sim.set_fault("no_reply", False)
    assert reader.find_card(timeout=0.1) == ChipTarget(UID, "A")


def test_garbage_raises_declared_errors_and_the_reader_works_again(station):
    reader, sim, bench = station
    bench.place_card(UID)
    sim.set_fault("garbage", True)
    with pytest.raises((ProtocolError, TransportTimeoutError)):
        reader.find_card(timeout=0.1)
    sim.set_fault("garbage", False)
    assert reader.find_card(timeout=0.1) == ChipTarget(UID, "A")


def test_slow_reply_past_the_timeout_is_cancelled_and_the_late_answer_discarded(station):
    reader, sim, bench = station
    bench.place_card(UID)
    sim.set_fault("slow_seconds", TIMEOUT + 0.1)
    with pytest.raises(TransportTimeoutError):
        reader.find_card(timeout=0.1)
    sim.set_fault("slow_seconds", 0.0)
    time.sleep(0.2)  # the late ACK and response arrive and become stale input
    assert reader.find_card(timeout=0.1) == ChipTarget(UID, "A")


def test_slow_reply_within_the_timeout_succeeds(station):
    reader, sim, bench = station
    bench.place_card(UID)
    sim.set_fault("slow_seconds", TIMEOUT / 3)
    assert reader.find_card(timeout=0.1) == ChipTarget(UID, "A")


def test_over_hsu_rejects_a_chip_that_is_not_a_pn532(tmp_path, request):
    sim = SimulatedPn532(tmp_path, firmware=(0x31, 1, 0, 0))
    with pytest.raises(ProtocolError, match="not a PN532"):
        Pn532Reader.over_hsu(open_link(sim, "pipe", request), command_timeout=TIMEOUT)


def test_over_hsu_against_a_silent_line_times_out(tmp_path, request):
    sim = SimulatedPn532(tmp_path, no_reply=True)
    with pytest.raises(TransportTimeoutError):
        Pn532Reader.over_hsu(open_link(sim, "pipe", request), command_timeout=0.1)


# --- the command layer over HSU ----------------------------------------------


def test_data_exchange_after_release_reports_the_chip_status(tmp_path, request):
    SimBench(tmp_path).place_card(UID)
    pn532 = Pn532(HsuLink(open_link(SimulatedPn532(tmp_path), "pipe", request)), timeout=TIMEOUT)
    [target] = pn532.list_passive_target()
    assert pn532.data_exchange(target.tg, b"\x00\xa4\x04\x00") == b"\x6d\x00"
    pn532.release(target.tg)
    with pytest.raises(p.ChipStatusError, match="not acceptable now"):
        pn532.data_exchange(target.tg, b"\x00\xa4\x04\x00")


def test_unknown_command_raises_error_frame_error(tmp_path, request):
    link = HsuLink(open_link(SimulatedPn532(tmp_path), "pipe", request))
    with pytest.raises(p.ErrorFrameReceivedError):
        link.exchange(b"\x60", TIMEOUT)


class ScriptedChip:
    """A chip that answers each write from the host with the next scripted reply."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.received: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        self.received.append(data)
        return self.replies.pop(0) if self.replies else b""


FIRMWARE_REPLY = p.build_frame(p.CHIP_TO_HOST, bytes.fromhex("0332010607"))
FIRMWARE_COMMAND = p.build_frame(p.HOST_TO_CHIP, b"\x02")


def test_link_resends_the_command_when_the_chip_answers_nack(request):
    chip = ScriptedChip([p.NACK_FRAME, p.ACK_FRAME + FIRMWARE_REPLY])
    link = HsuLink(open_link(chip, "pipe", request))
    assert link.exchange(b"\x02", TIMEOUT) == bytes.fromhex("0332010607")
    assert chip.received == [FIRMWARE_COMMAND, FIRMWARE_COMMAND]


def test_link_gives_up_after_repeated_nacks(request):
    chip = ScriptedChip([p.NACK_FRAME] * 5)
    link = HsuLink(open_link(chip, "pipe", request), max_resends=2)
    with pytest.raises(ProtocolError):
        link.exchange(b"\x02", TIMEOUT)
    assert chip.received.count(FIRMWARE_COMMAND) == 3


def test_link_nacks_a_damaged_response_and_takes_the_resent_one(request):
    damaged = bytearray(FIRMWARE_REPLY)
    damaged[-2] ^= 0xFF
    chip = ScriptedChip([p.ACK_FRAME + bytes(damaged), FIRMWARE_REPLY])
    link = HsuLink(open_link(chip, "pipe", request))
    assert link.exchange(b"\x02", TIMEOUT) == bytes.fromhex("0332010607")
    assert chip.received == [FIRMWARE_COMMAND, p.NACK_FRAME]


def test_link_cancels_with_ack_when_the_response_never_comes(request):
    chip = ScriptedChip([p.ACK_FRAME])
    link = HsuLink(open_link(chip, "pipe", request))
    with pytest.raises(TransportTimeoutError):
        link.exchange(b"\x4a\x01\x00", 0.1)
    time.sleep(0.05)
    assert chip.received[-1] == p.ACK_FRAME


def test_link_rejects_a_response_to_another_command(request):
    chip = ScriptedChip([p.ACK_FRAME + p.build_frame(p.CHIP_TO_HOST, b"\x15")])
    link = HsuLink(open_link(chip, "pipe", request))
    with pytest.raises(p.UnexpectedResponseError):
        link.exchange(b"\x02", TIMEOUT)


def test_link_discards_stale_input_before_a_command(request):
    chip = ScriptedChip([p.ACK_FRAME + FIRMWARE_REPLY, p.ACK_FRAME + FIRMWARE_REPLY])
    link = HsuLink(open_link(chip, "pipe", request))
    link.exchange(b"\x02", TIMEOUT)
    chip.replies.insert(0, p.build_frame(p.CHIP_TO_HOST, b"\x4b\x00"))
    link.wakeup()  # the chip "answers" the preamble with a stray frame
    time.sleep(0.05)
    assert link.exchange(b"\x02", TIMEOUT) == bytes.fromhex("0332010607")


class ChipThatSleeps:
    """Answers the firmware command only once the HSU wake-up preamble came before it."""

    def __init__(self) -> None:
        self.stream = b""

    def feed(self, data: bytes) -> bytes:
        self.stream += data
        woken = self.stream.find(WAKEUP_PREAMBLE)
        if woken >= 0 and FIRMWARE_COMMAND in self.stream[woken:]:
            self.stream = b""
            return p.ACK_FRAME + FIRMWARE_REPLY
        return b""


def test_link_rewakes_the_chip_and_resends_when_no_ack_comes(request):
    chip = ChipThatSleeps()
    link = HsuLink(open_link(chip, "pipe", request))
    assert link.exchange(b"\x02", TIMEOUT) == bytes.fromhex("0332010607")


def test_link_gives_up_after_its_rewakes_within_the_deadline(request):
    chip = ScriptedChip([])
    link = HsuLink(open_link(chip, "pipe", request), max_rewakes=1)
    with pytest.raises(TransportTimeoutError):
        link.exchange(b"\x02", 0.2)
    time.sleep(0.05)
    assert b"".join(chip.received).count(FIRMWARE_COMMAND) == 2


def test_link_takes_a_response_whose_ack_was_lost(request):
    chip = ScriptedChip([FIRMWARE_REPLY])
    link = HsuLink(open_link(chip, "pipe", request))
    assert link.exchange(b"\x02", TIMEOUT) == bytes.fromhex("0332010607")


def test_closing_the_link_cancels_and_never_powers_the_chip_down(request):
    chip = ScriptedChip([])
    link = HsuLink(open_link(chip, "pipe", request))
    link.close()
    time.sleep(0.05)
    assert b"".join(chip.received) == p.ACK_FRAME

"""ACR122U: CCID framing golden bytes, the parser's properties, and Acr122uLink at work."""
from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError, TransportTimeoutError
from drivers.pn532 import acr122u as ccid
from drivers.pn532 import protocol as p
from drivers.pn532.acr122u import Acr122uLink, open_acr122u_reader
from drivers.simulated.bench import SimBench
from drivers.simulated.host import serve_over_pipe
from drivers.simulated.pn532 import SimulatedPn532
from drivers.simulated.usb_backend import SimulatedCcidFront

UID = bytes.fromhex("04a1b2c3d4e5f6")


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


# -- golden bytes ------------------------------------------------------------


def test_xfr_block_carrying_get_firmware_version():
    frame = ccid.encode_xfr_block(0x05, ccid.wrap_pn532_command(p.encode_get_firmware_version()))
    assert frame == hexbytes("6F 07000000 00 05 00 0000" "FF000000 02 D4 02")


def test_xfr_block_length_is_little_endian_and_seq_wraps_to_a_byte():
    frame = ccid.encode_xfr_block(0x101, bytes(0x123))
    assert frame[:10] == hexbytes("6F 23010000 00 01 00 0000")


def test_icc_power_on_has_no_data():
    assert ccid.encode_icc_power_on(3) == hexbytes("62 00000000 00 03 00 0000")


def test_data_block_with_firmware_version_decodes_to_the_pn532_response():
    raw = hexbytes("80 08000000 00 01 00 00 00" "D5 03 32 01 06 07 90 00")
    [message] = ccid.CcidParser().feed(raw)
    assert (message.kind, message.slot, message.seq, message.command_status) == (0x80, 0, 1, 0)
    response = ccid.unwrap_pn532_response(ccid.check_reply(message, ccid.RDR_TO_PC_DATA_BLOCK).data)
    assert response == hexbytes("03 32 01 06 07")
    assert str(p.decode_get_firmware_version(response)) == "PN532 v1.6"


def test_status_word_other_than_9000_is_a_protocol_error():
    with pytest.raises(ccid.ApduStatusError, match="63 00"):
        ccid.unwrap_pn532_response(hexbytes("63 00"))


def test_answer_without_d5_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="D5"):
        ccid.unwrap_pn532_response(hexbytes("D4 03 90 00"))


def test_failed_command_status_is_a_ccid_error():
    message = ccid.CcidParser().feed(ccid.encode_data_block(1, b"", status=0x41, error=0xFE))[0]
    with pytest.raises(ccid.CcidError, match="bError 0xFE"):
        ccid.check_reply(message, ccid.RDR_TO_PC_DATA_BLOCK)


def test_reply_of_the_wrong_kind_is_a_ccid_error():
    message = ccid.CcidParser().feed(ccid.encode_slot_status(1))[0]
    with pytest.raises(ccid.CcidError, match="0x81"):
        ccid.check_reply(message, ccid.RDR_TO_PC_DATA_BLOCK)


def test_pseudo_apdu_round_trip_and_non_direct_transmit_apdus():
    assert ccid.unwrap_pn532_command(ccid.wrap_pn532_command(hexbytes("4a0100"))) == hexbytes("4a0100")
    assert ccid.unwrap_pn532_command(hexbytes("FFCA000000")) is None  # get UID, not for the PN532
    assert ccid.unwrap_pn532_command(hexbytes("FF00000005D402")) is None  # Lc disagrees


def test_command_too_long_for_a_short_apdu_is_refused():
    with pytest.raises(ValueError):
        ccid.wrap_pn532_command(bytes(255))


def test_absurd_length_is_a_ccid_error():
    with pytest.raises(ccid.CcidError):
        ccid.CcidParser().feed(hexbytes("80 FFFFFFFF 00 01 00 00 00"))


# -- parser properties -------------------------------------------------------

messages = st.lists(
    st.tuples(st.integers(0, 255), st.binary(max_size=300), st.integers(0, 255),
              st.binary(min_size=3, max_size=3)),
    max_size=5,
)


@given(messages, st.lists(st.integers(1, 64), max_size=20))
def test_parser_recovers_every_message_however_the_stream_is_split(items, cuts):
    originals = [ccid.CcidMessage(kind, 0, seq, specific, data) for kind, data, seq, specific in items]
    stream = b"".join(m.encode() for m in originals)
    parser, parsed, at = ccid.CcidParser(), [], 0
    for cut in cuts + [len(stream)]:
        parsed += parser.feed(stream[at:at + cut])
        at += cut
    parsed += parser.feed(stream[at:])
    assert parsed == originals and not parser.pending


@given(st.binary(max_size=200))
def test_parser_raises_only_ccid_errors_on_any_bytes(data):
    try:
        ccid.CcidParser().feed(data)
    except ccid.CcidError:
        pass


# -- the link against a scripted reader --------------------------------------


class ScriptedReader:
    """Answers each CCID message with ``script(message)`` (bytes, possibly empty)."""

    def __init__(self, script) -> None:
        self._parser = ccid.CcidParser()
        self._script = script
        self.seen: list[ccid.CcidMessage] = []

    def feed(self, data: bytes) -> bytes:
        out = b""
        for message in self._parser.feed(data):
            self.seen.append(message)
            out += self._script(message)
        return out


@pytest.fixture
def scripted(request):
    def open_(script) -> tuple[Acr122uLink, ScriptedReader]:
        device = ScriptedReader(script)
        transport, host = serve_over_pipe(device, "acr122u")
        request.addfinalizer(host.stop)
        return Acr122uLink(transport), device

    return open_


def firmware_block(seq: int) -> bytes:
    return ccid.encode_data_block(seq, hexbytes("D5 03 32 01 06 07 90 00"))


def test_exchange_sends_an_xfr_block_and_returns_the_response(scripted):
    link, device = scripted(lambda m: firmware_block(m.seq))
    assert link.exchange(b"\x02", 0.5) == hexbytes("03 32 01 06 07")
    assert device.seen[0].encode() == ccid.encode_xfr_block(device.seen[0].seq, hexbytes("FF00000002D402"))


def test_each_exchange_uses_the_next_sequence_number(scripted):
    link, device = scripted(lambda m: firmware_block(m.seq))
    link.exchange(b"\x02", 0.5)
    link.exchange(b"\x02", 0.5)
    assert [m.seq for m in device.seen] == [1, 2]


def test_reply_with_another_seq_is_dropped_as_stale(scripted):
    link, _ = scripted(lambda m: firmware_block(m.seq - 1) + firmware_block(m.seq))
    assert link.exchange(b"\x02", 0.5) == hexbytes("03 32 01 06 07")


def test_only_a_stale_reply_times_out(scripted):
    link, _ = scripted(lambda m: firmware_block(m.seq + 7))
    with pytest.raises(TransportTimeoutError):
        link.exchange(b"\x02", 0.1)


def test_time_extension_keeps_waiting_for_the_answer(scripted):
    link, _ = scripted(lambda m: ccid.encode_data_block(m.seq, b"", status=0x80) + firmware_block(m.seq))
    assert link.exchange(b"\x02", 0.5) == hexbytes("03 32 01 06 07")


def test_status_word_6300_is_a_protocol_error(scripted):
    link, _ = scripted(lambda m: ccid.encode_data_block(m.seq, hexbytes("63 00")))
    with pytest.raises(ProtocolError, match="63 00"):
        link.exchange(b"\x02", 0.5)


def test_response_to_another_command_is_a_protocol_error(scripted):
    link, _ = scripted(lambda m: ccid.encode_data_block(m.seq, hexbytes("D5 15 90 00")))
    with pytest.raises(p.UnexpectedResponseError):
        link.exchange(b"\x02", 0.5)


def test_late_answer_after_a_timeout_is_discarded(scripted):
    def slow_then_fast(message):
        if message.seq == 1:
            time.sleep(0.3)
        return firmware_block(message.seq)

    link, _ = scripted(slow_then_fast)
    with pytest.raises(TransportTimeoutError):
        link.exchange(b"\x02", 0.1)
    time.sleep(0.3)
    assert link.exchange(b"\x02", 0.5) == hexbytes("03 32 01 06 07")


def test_power_on_returns_the_atr_and_tolerates_a_failed_slot(scripted):
    link, _ = scripted(lambda m: ccid.encode_data_block(m.seq, hexbytes("3b80800101")))
    assert link.power_on(0.5) == hexbytes("3b80800101")
    link, _ = scripted(lambda m: ccid.encode_data_block(m.seq, b"", status=0x42, error=0xFE))
    assert link.power_on(0.5) == b""


# -- the link against the simulated PN532 behind its CCID front -------------


@pytest.fixture
def simulated(tmp_path, request):
    pn532 = SimulatedPn532(tmp_path)
    transport, host = serve_over_pipe(SimulatedCcidFront(pn532), "acr122u")
    request.addfinalizer(host.stop)
    return transport, pn532, SimBench(tmp_path)


def test_reader_over_the_ccid_front_finds_the_card(simulated):
    transport, _, bench = simulated
    reader = open_acr122u_reader(transport, command_timeout=0.3)
    assert reader.firmware() == "PN532 v1.6"
    assert reader.find_card(timeout=0.05) is None
    bench.place_card(UID)
    assert reader.find_card(timeout=0.05).uid == UID
    reader.release()


def test_chip_error_frame_becomes_6300(simulated):
    transport, _, _ = simulated
    with pytest.raises(ccid.ApduStatusError, match="63 00"):
        Acr122uLink(transport).exchange(b"\x60", 0.3)  # no such PN532 command


def test_silent_chip_times_out_and_the_link_recovers(simulated):
    transport, pn532, _ = simulated
    link = Acr122uLink(transport)
    pn532.set_fault("no_reply", True)
    with pytest.raises(TransportTimeoutError):
        link.exchange(b"\x02", 0.1)
    pn532.set_fault("no_reply", False)
    assert link.exchange(b"\x02", 0.3) == hexbytes("03 32 01 06 07")

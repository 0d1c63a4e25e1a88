"""PN532 frames and command payloads: golden bytes and parser properties."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.pn532 import protocol as p

UID7 = bytes.fromhex("04a1b2c3d4e5f6")


def host_frame(hex_data: str) -> bytes:
    return p.build_frame(p.HOST_TO_CHIP, bytes.fromhex(hex_data))


def frame_bytes(item: p.Frame) -> bytes:
    if isinstance(item, p.Ack):
        return p.ACK_FRAME
    if isinstance(item, p.Nack):
        return p.NACK_FRAME
    if isinstance(item, p.ErrorFrame):
        return p.ERROR_FRAME
    return p.build_frame(item.tfi, item.data)


def feed_chunks(parser: p.FrameParser, chunks: list[bytes]) -> tuple[list[p.Frame], list[p.FrameError]]:
    """Feed every chunk, going on after each error as a caller would."""
    items: list[p.Frame] = []
    errors: list[p.FrameError] = []
    for chunk in chunks:
        while True:
            try:
                new = parser.feed(chunk)
            except p.FrameError as exc:
                errors.append(exc)
                chunk = b""
                continue
            chunk = b""
            if not new:
                break
            items += new
    return items, errors


def split_at(blob: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(blob)]
    return [blob[a:b] for a, b in zip(bounds, bounds[1:])]


# --- golden bytes -----------------------------------------------------------


def test_get_firmware_version_frame_matches_golden_bytes():
    assert p.build_frame(p.HOST_TO_CHIP, p.encode_get_firmware_version()) == bytes.fromhex("0000ff02fed4022a00")


def test_fixed_frames_match_golden_bytes():
    assert p.ACK_FRAME == bytes.fromhex("0000ff00ff00")
    assert p.NACK_FRAME == bytes.fromhex("0000ffff0000")
    assert p.ERROR_FRAME == bytes.fromhex("0000ff01ff7f8100")


def test_frame_with_300_data_bytes_uses_the_extended_format():
    frame = p.build_frame(p.HOST_TO_CHIP, bytes(300))
    assert frame == bytes.fromhex("0000ffffff012dd2d4") + bytes(300) + bytes.fromhex("2c00")


def test_frame_with_255_body_bytes_stays_normal():
    frame = p.build_frame(p.CHIP_TO_HOST, bytes(254))
    assert frame[:5] == bytes.fromhex("0000ffff01")
    assert p.FrameParser().feed(frame) == [p.InformationFrame(p.CHIP_TO_HOST, bytes(254))]


def test_command_encoders_match_golden_bytes():
    assert p.encode_sam_configuration() == bytes.fromhex("14011401")
    assert p.encode_rf_max_retries(passive_activation=2) == bytes.fromhex("3205ff0102")
    assert p.encode_in_list_passive_target() == bytes.fromhex("4a0100")
    assert p.encode_in_list_passive_target(p.TargetType.TYPE_B_106) == bytes.fromhex("4a010300")
    assert p.encode_in_data_exchange(1, b"\x00\xa4") == bytes.fromhex("400100a4")
    assert p.encode_in_release(1) == bytes.fromhex("5201")


# --- parser -----------------------------------------------------------------


def test_parser_recognises_ack_nack_and_error_frames():
    parser = p.FrameParser()
    assert parser.feed(p.ACK_FRAME + p.NACK_FRAME + p.ERROR_FRAME) == [p.Ack(), p.Nack(), p.ErrorFrame()]


def test_extended_frame_parses_back_to_its_data():
    data = bytes(range(256)) + bytes(44)
    assert p.FrameParser().feed(p.build_frame(p.CHIP_TO_HOST, data)) == [p.InformationFrame(p.CHIP_TO_HOST, data)]


SEQUENCE = [p.Ack(), p.InformationFrame(0xD5, bytes.fromhex("0332010607")), p.Nack(), p.ErrorFrame(),
            p.InformationFrame(0xD4, bytes.fromhex("00ff00ff")), p.InformationFrame(0xD5, bytes(300))]


def test_parser_gives_the_same_frames_for_every_two_way_split():
    blob = b"".join(frame_bytes(item) for item in SEQUENCE)
    for cut in range(len(blob) + 1):
        items, errors = feed_chunks(p.FrameParser(), [blob[:cut], blob[cut:]])
        assert (items, errors) == (SEQUENCE, []), cut


def test_parser_gives_the_same_frames_byte_by_byte():
    blob = b"".join(frame_bytes(item) for item in SEQUENCE)
    items, errors = feed_chunks(p.FrameParser(), [bytes([b]) for b in blob])
    assert (items, errors) == (SEQUENCE, [])


frames = st.one_of(
    st.just(p.Ack()),
    st.just(p.Nack()),
    st.just(p.ErrorFrame()),
    st.builds(p.InformationFrame, st.sampled_from([p.HOST_TO_CHIP, p.CHIP_TO_HOST]), st.binary(max_size=300)),
)


@given(st.lists(frames, max_size=6), st.data())
def test_parser_gives_the_same_frames_in_any_chunking(items, data):
    blob = b"".join(frame_bytes(item) for item in items)
    cuts = data.draw(st.lists(st.integers(0, len(blob)), max_size=12))
    assert feed_chunks(p.FrameParser(), split_at(blob, cuts)) == (items, [])


FRAGMENTS = [p.ACK_FRAME, p.NACK_FRAME, p.ERROR_FRAME, p.START_CODE, b"\x00\xff\xff\xff", b"\x00\xff\xff\xff\x01\x2d\xd2",
             host_frame("02"), p.build_frame(0xD5, bytes(300)), b"\x00", b"\xff", b"\x7f", b"\xd5"]


@given(st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(FRAGMENTS)), max_size=16), st.data())
def test_parser_raises_only_frame_errors_on_arbitrary_bytes(pieces, data):
    blob = b"".join(pieces)
    cuts = data.draw(st.lists(st.integers(0, len(blob)), max_size=8))
    parser = p.FrameParser()
    feed_chunks(parser, split_at(blob, cuts))  # any other exception fails the property
    assert parser.pending_bytes <= len(blob)
    assert all(isinstance(err, ProtocolError) for err in feed_chunks(parser, [b""])[1])


@pytest.mark.parametrize("frame", [p.ACK_FRAME, p.NACK_FRAME, p.ERROR_FRAME, host_frame("4a0100"),
                                   p.build_frame(0xD5, bytes(300))])
def test_truncated_frame_yields_nothing_until_completed(frame):
    for cut in range(len(frame)):
        parser = p.FrameParser()
        assert parser.feed(frame[:cut]) == []
        assert len(parser.feed(frame[cut:])) == 1


def test_parser_skips_garbage_before_a_start_code():
    assert p.FrameParser().feed(b"\x55\x55\x00\x00\x00\x13\x37" + p.ACK_FRAME) == [p.Ack()]


def test_parser_holds_at_most_one_byte_of_garbage():
    parser = p.FrameParser()
    assert parser.feed(bytes(range(1, 256)) * 40 + b"\x00") == []
    assert parser.pending_bytes == 1


def test_bad_length_checksum_raises_then_parsing_goes_on():
    parser = p.FrameParser()
    with pytest.raises(p.FrameChecksumError):
        parser.feed(bytes.fromhex("0000ff0300d4") + p.ACK_FRAME)
    assert parser.feed(b"") == [p.Ack()]


def test_bad_data_checksum_raises_then_parsing_goes_on():
    bad = bytearray(host_frame("02"))
    bad[-2] ^= 0x01
    parser = p.FrameParser()
    with pytest.raises(p.FrameChecksumError):
        parser.feed(bytes(bad) + p.NACK_FRAME)
    assert parser.feed(b"") == [p.Nack()]


@pytest.mark.parametrize("bad", [bytes.fromhex("0000ff00ff01"), host_frame("02")[:-1] + b"\x01",
                                 p.build_frame(0xA5, b"\x01"), bytes.fromhex("0000ffffff000000")])
def test_malformed_frame_raises_format_error(bad):
    with pytest.raises(p.FrameFormatError):
        p.FrameParser().feed(bad)


def test_frames_before_a_bad_one_are_returned_and_the_error_follows():
    bad = bytes.fromhex("0000ff0300d4")
    parser = p.FrameParser()
    assert parser.feed(p.ACK_FRAME + bad + p.NACK_FRAME) == [p.Ack()]
    with pytest.raises(p.FrameChecksumError):
        parser.feed(b"")
    assert parser.feed(b"") == [p.Nack()]


def test_frame_errors_are_protocol_errors():
    assert issubclass(p.FrameChecksumError, ProtocolError)
    assert issubclass(p.FrameFormatError, ProtocolError)


# --- responses --------------------------------------------------------------


def test_firmware_version_decodes_ic_version_revision_and_support():
    version = p.decode_get_firmware_version(bytes.fromhex("0332010607"))
    assert version == p.FirmwareVersion(0x32, 1, 6, 7)
    assert str(version) == "PN532 v1.6"


def test_response_to_another_command_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="does not answer"):
        p.decode_get_firmware_version(bytes.fromhex("1532010607"))


def test_list_passive_target_decodes_a_type_a_uid_and_ats():
    response = bytes.fromhex("4b0101004420") + bytes([len(UID7)]) + UID7 + bytes.fromhex("0578807002")
    [target] = p.decode_in_list_passive_target(response)
    assert (target.tg, target.uid, target.sens_res, target.sel_res) == (1, UID7, b"\x00\x44", 0x20)
    assert target.ats == bytes.fromhex("0578807002")


def test_list_passive_target_decodes_a_four_byte_uid_without_ats():
    [target] = p.decode_in_list_passive_target(bytes.fromhex("4b01010004080411223344"))
    assert target.uid == bytes.fromhex("11223344")


def test_list_passive_target_decodes_a_type_b_pupi():
    atqb = bytes.fromhex("50a1b2c3d4000000008171")[:11] + b"\x00"
    response = bytes.fromhex("4b0101") + atqb + bytes.fromhex("0100")
    [target] = p.decode_in_list_passive_target(response, p.TargetType.TYPE_B_106)
    assert target.uid == bytes.fromhex("a1b2c3d4")


def test_list_passive_target_with_no_target_is_empty():
    assert p.decode_in_list_passive_target(bytes.fromhex("4b00")) == []


@pytest.mark.parametrize("response", ["4b", "4b01", "4b010100", "4b0101004400070411"])
def test_truncated_list_passive_target_response_is_a_protocol_error(response):
    with pytest.raises(p.UnexpectedResponseError):
        p.decode_in_list_passive_target(bytes.fromhex(response))


@pytest.mark.parametrize(("status", "name"), [(0x01, "timeout"), (0x14, "authentication"),
                                              (0x27, "not acceptable now"), (0x7F, "syntax"), (0x41, "timeout")])
def test_data_exchange_status_error_names_the_error(status, name):
    with pytest.raises(p.ChipStatusError, match=name) as caught:
        p.decode_in_data_exchange(bytes([0x41, status]))
    assert caught.value.status == (status if status == 0x7F else status & 0x3F)


def test_data_exchange_returns_the_target_answer():
    assert p.decode_in_data_exchange(bytes.fromhex("41009000")) == b"\x90\x00"


def test_release_and_configuration_responses_decode():
    p.decode_in_release(bytes.fromhex("5300"))
    p.decode_sam_configuration(b"\x15")
    p.decode_rf_configuration(b"\x33")
    with pytest.raises(p.ChipStatusError):
        p.decode_in_release(bytes.fromhex("5327"))


def test_zero_length_frame_is_a_format_error_not_a_crash():
    from drivers.pn532.protocol import FrameFormatError, FrameParser

    parser = FrameParser()
    with pytest.raises(FrameFormatError):
        parser.feed(bytes.fromhex("00ff00000000"))

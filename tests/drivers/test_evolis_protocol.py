"""Evolis escape-command framing: golden bytes and parser properties."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.evolis.panels import panel_size
from drivers.evolis.protocol import (
    MAX_REPLY,
    NACK_CODES,
    Command,
    CommandParser,
    EvolisReplyError,
    Reply,
    ReplyKind,
    ReplyParser,
    encode_command,
    encode_download,
)

# -- frame helpers -----------------------------------------------------------


def ack(text: str = "OK") -> bytes:
    return b"\x06" + text.encode() + b"\r"


def nack(code: str) -> bytes:
    return b"\x15" + code.encode() + b"\r"


def plain(text: str) -> bytes:
    return text.encode() + b"\r"


def command(text: str) -> bytes:
    return b"\x1b" + text.encode() + b"\r"


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def patterned(size: int) -> bytes:
    """Binary payload that contains every byte value, CR and ESC included."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# -- encoding ------------------------------------------------------------------


def test_encode_command_golden_bytes():
    assert encode_command("Rco", "c") == b"\x1bRco;c\r"
    assert encode_command("Sic") == b"\x1bSic\r"
    assert encode_command("Pem", 6) == b"\x1bPem;6\r"
    assert encode_command("Pr", "ymcko") == b"\x1bPr;ymcko\r"


@pytest.mark.parametrize("bad", ["a;b", "a\rb", "\x1b", "é"])
def test_encode_command_rejects_parameters_that_would_break_framing(bad):
    with pytest.raises(ValueError):
        encode_command("Pr", bad)


def test_encode_download_golden_header_and_length():
    data = patterned(panel_size(2))
    frame = encode_download("k", 2, data)
    assert frame.startswith(b"\x1bDb;k;2;")
    assert frame[len(b"\x1bDb;k;2;"):-1] == data
    assert frame.endswith(b"\r")
    assert len(frame) == 8 + 84_624 + 1


def test_encode_download_of_colour_panel_has_32_level_header():
    frame = encode_download("y", 32, bytes(panel_size(32)))
    assert frame[:9] == b"\x1bDb;y;32;"
    assert len(frame) == 9 + 423_120 + 1


def test_encode_download_rejects_wrong_data_length():
    with pytest.raises(ValueError):
        encode_download("k", 2, bytes(100))


# -- reply parser ----------------------------------------------------------------


def test_reply_parser_reads_ack_nack_and_plain_replies():
    stream = ack("OK") + ack("CARD") + ack("1234") + nack("F") + plain("CLOSED") + b"ERR;C\r"
    assert ReplyParser().feed(stream) == [
        Reply(ReplyKind.ACK, "OK"),
        Reply(ReplyKind.ACK, "CARD"),
        Reply(ReplyKind.ACK, "1234"),
        Reply(ReplyKind.NACK, code="F"),
        Reply(ReplyKind.TEXT, "CLOSED"),
        Reply(ReplyKind.NACK, code="C"),
    ]


def test_reply_parser_accepts_nul_terminator():
    assert ReplyParser().feed(b"\x06CONTACTLESS CARD\x00") == [Reply(ReplyKind.ACK, "CONTACTLESS CARD")]


def test_reply_parser_waits_for_the_terminator():
    parser = ReplyParser()
    assert parser.feed(b"\x06OK") == []
    assert parser.pending
    assert parser.feed(b"\r") == [Reply(ReplyKind.ACK, "OK")]
    assert not parser.pending


@pytest.mark.parametrize(
    "garbage",
    [b"\x06O\x01", b"\xff", b"\x15Z\r", b"\x15FF\r", b"ERR;Q\r", b"O\x06K\r", b"A" * (MAX_REPLY + 1)],
    ids=["control", "non-ascii", "unknown-nack", "long-nack", "unknown-err", "ack-inside", "over-long"],
)
def test_reply_parser_raises_protocol_error_on_garbage_and_recovers(garbage):
    parser = ReplyParser()
    with pytest.raises(EvolisReplyError):
        parser.feed(garbage)
    parser.reset()
    assert parser.feed(ack()) == [Reply(ReplyKind.ACK, "OK")]


_texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_replies = st.one_of(
    _texts.map(ack),
    st.sampled_from(sorted(NACK_CODES)).map(nack),
    _texts.filter(lambda t: not t.startswith("ERR;")).map(plain),
)


@given(frames=st.lists(_replies, max_size=12), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_reply_parser_result_does_not_depend_on_chunking(frames, cuts):
    stream = b"".join(frames)
    whole = ReplyParser().feed(stream)
    parser = ReplyParser()
    chunked = [reply for chunk in split_at(stream, cuts) for reply in parser.feed(chunk)]
    assert chunked == whole
    assert len(whole) == len(frames)


@given(noise=st.binary(max_size=600), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_reply_parser_raises_only_protocol_errors_on_random_bytes(noise, cuts):
    parser = ReplyParser()
    for chunk in split_at(noise, cuts):
        try:
            parser.feed(chunk)
        except ProtocolError:
            parser.reset()
    parser.reset()
    assert parser.feed(ack("OK")) == [Reply(ReplyKind.ACK, "OK")]


# -- command parser -------------------------------------------------------------


def _job_stream() -> tuple[bytes, list[Command]]:
    k_data = patterned(panel_size(2))
    y_data = patterned(panel_size(32))[::-1]
    stream = (
        b"noise\r\n"
        + command("Pem;6")
        + command("Ss")
        + encode_download("k", 2, k_data)
        + encode_download("y", 32, y_data)
        + command("Rco;c")
        + command("Se")
    )
    expected = [
        Command("Pem", ("6",)),
        Command("Ss"),
        Command("Db", ("k", "2"), k_data),
        Command("Db", ("y", "32"), y_data),
        Command("Rco", ("c",)),
        Command("Se"),
    ]
    return stream, expected


def test_command_parser_reads_downloads_by_length_even_with_cr_and_esc_in_data():
    stream, expected = _job_stream()
    assert CommandParser().feed(stream) == expected


@given(cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_command_parser_result_does_not_depend_on_chunking(cuts):
    stream, expected = _job_stream()
    parser = CommandParser()
    assert [c for chunk in split_at(stream, cuts) for c in parser.feed(chunk)] == expected


def test_command_parser_skips_bytes_outside_commands():
    assert CommandParser().feed(b"\x00\xffjunk\r" + command("Rsn") + b"tail") == [Command("Rsn")]


def test_command_parser_restarts_on_escape_inside_a_command():
    assert CommandParser().feed(b"\x1bRco;" + command("Rfv")) == [Command("Rfv")]


def test_command_parser_reports_download_with_bad_levels_without_data():
    assert CommandParser().feed(b"\x1bDb;k;3;") == [Command("Db", ("k", "3"))]


def test_command_parser_reports_download_missing_its_terminator_without_data():
    frame = encode_download("k", 2, bytes(panel_size(2)))
    parser = CommandParser()
    assert parser.feed(frame[:-1] + command("Rsn")) == [Command("Db", ("k", "2")), Command("Rsn")]

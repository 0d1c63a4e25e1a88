"""Evolis escape-command framing and the Primacy status block: golden bytes and parser properties."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.evolis.panels import panel_size
from drivers.evolis.protocol import (
    MAX_REPLY,
    NACK_CODES,
    PROBE,
    PROBE_MNEMONIC,
    Command,
    CommandParser,
    EvolisReplyError,
    Framing,
    Reply,
    ReplyKind,
    ReplyParser,
    encode_command,
    encode_download,
    encode_reply,
)
from drivers.evolis.status import (
    ConfigFlag, ErrorFlag, InfoFlag, StatusBlockError, StatusWords, WarningFlag, decode_status_block,
    encode_status_block,
)

# -- frame helpers -----------------------------------------------------------


def block(config=0, info=0, warning=0, error=0, session=0, ext=(0, 0, 0, 0)) -> bytes:
    """A status block written out by hand, field by field, as the printer lays it out."""
    return (b"\x10" + struct.pack(">IIII", config, info, warning, error) + b"\x02" + struct.pack(">H", session)
            + b"".join(b"\x04" + struct.pack(">I", e) for e in ext))


def primacy(text: str, **fields) -> bytes:
    """A Primacy reply frame: text, NUL, 00 28, the block."""
    return text.encode() + b"\x00\x00\x28" + block(**fields)


def bare(text: str) -> bytes:
    """A Rev E reply: text and NUL."""
    return text.encode() + b"\x00"


def command(text: str) -> bytes:
    return b"\x1b" + text.encode() + b"\r"


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def patterned(size: int) -> bytes:
    """Binary payload that contains every byte value, CR, ESC, NUL and 0x1C included."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# -- encoding ------------------------------------------------------------------


def test_encode_command_golden_bytes():
    assert encode_command("Rco", "c") == b"\x1bRco;c\r"
    assert encode_command("Sic") == b"\x1bSic\r"
    assert encode_command("Pem", 2) == b"\x1bPem;2\r"
    assert encode_command("Pr", 0, "t") == b"\x1bPr;0;t\r"


@pytest.mark.parametrize("bad", ["a;b", "a\rb", "\x1b", "é"])
def test_encode_command_rejects_parameters_that_would_break_framing(bad):
    with pytest.raises(ValueError):
        encode_command("Pr", bad)


@pytest.mark.parametrize("panel, levels, size", [("k", 2, 82_296), ("y", 256, 658_368), ("c", 128, 576_072)])
def test_encode_download_golden_header_and_length(panel, levels, size):
    data = patterned(size)
    frame = encode_download(panel, levels, data)
    header = f"\x1bDb;{panel};{levels};".encode()
    assert frame.startswith(header) and frame.endswith(b"\r")
    assert frame[len(header):-1] == data
    assert len(frame) == len(header) + size + 1


def test_encode_download_rejects_wrong_data_length():
    with pytest.raises(ValueError):
        encode_download("k", 2, bytes(84_624))


# -- the status block -------------------------------------------------------------


def test_status_block_golden_bytes_decode_to_named_flags():
    words = decode_status_block(block(config=0x02080000, info=0x80000001, warning=0x01020000,
                                      error=0x01000000, session=0x1234, ext=(1, 2, 3, 4)))
    assert words.config == ConfigFlag.X20 | ConfigFlag.CONTACTLESS
    assert words.information == InfoFlag.CLAIM | InfoFlag.BUSY and words.claimed and words.busy
    assert words.warning == WarningFlag.FEEDER_EMPTY | WarningFlag.COVER_OPEN
    assert words.error == ErrorFlag.MECHANICAL
    assert (words.session, words.extensions) == (0x1234, (1, 2, 3, 4))
    assert "warning.COVER_OPEN" in words.names() and "error.MECHANICAL" in words.names()


def test_vendor_masks_sit_where_the_sdk_puts_them():
    assert (WarningFlag.FEEDER_EMPTY, WarningFlag.COVER_OPEN, WarningFlag.NO_RIBBON, WarningFlag.RIBBON_ENDED) == (
        0x01000000, 0x00020000, 0x00010000, 0x00080000)
    assert (ErrorFlag.FEEDER_ERROR, ErrorFlag.RIBBON_ERROR, ErrorFlag.COVER_OPEN, ErrorFlag.MECHANICAL) == (
        0x08000000, 0x04000000, 0x02000000, 0x01000000)
    assert (InfoFlag.BUSY, InfoFlag.CARD_CONTACTLESS, InfoFlag.CLAIM) == (0x1, 0x08000000, 0x80000000)


@pytest.mark.parametrize("offset, wrong, named", [(0, 0x11, "byte 0"), (17, 0x03, "byte 17"), (35, 0x00, "byte 35")])
def test_status_block_with_a_wrong_tag_names_the_byte(offset, wrong, named):
    raw = bytearray(block())
    raw[offset] = wrong
    with pytest.raises(StatusBlockError, match=named):
        decode_status_block(bytes(raw))


_u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)


@given(words=st.tuples(_u32, _u32, _u32, _u32, st.integers(0, 0xFFFF), st.tuples(_u32, _u32, _u32, _u32)))
def test_status_block_encoding_round_trips(words):
    config, info, warning, error, session, ext = words
    value = StatusWords(ConfigFlag(config), InfoFlag(info), WarningFlag(warning), ErrorFlag(error), session, ext)
    assert encode_status_block(value) == block(config, info, warning, error, session, ext)
    assert decode_status_block(encode_status_block(value)) == value


# -- reply parser ----------------------------------------------------------------


def test_primacy_replies_carry_their_status():
    replies = ReplyParser().feed(primacy("Primacy 2", config=0x02000000) + primacy("OK", info=0x80000000)
                                 + primacy("ERROR CDE"))
    assert [r.text for r in replies] == ["Primacy 2", "OK", "ERROR CDE"]
    assert replies[0].status.config == ConfigFlag.X20
    assert replies[1].status.claimed
    assert [r.ok for r in replies] == [True, True, False]


def test_encode_reply_matches_the_hand_written_frame():
    words = decode_status_block(block(info=0x08000000, session=2))
    assert encode_reply("CONTACTLESS CARD", words) == primacy("CONTACTLESS CARD", info=0x08000000, session=2)
    assert encode_reply("OK", None) == b"OK\x00"


def test_rev_e_replies_end_at_their_nul():
    assert ReplyParser(Framing.BARE).feed(bare("Dualys") + bare("") + bare("OK")) == [
        Reply(ReplyKind.TEXT, "Dualys"), Reply(ReplyKind.TEXT, ""), Reply(ReplyKind.TEXT, "OK")]


def test_rev_e_ack_and_nack_replies_are_read():
    assert ReplyParser(Framing.BARE).feed(b"\x06OK\x00\x15F\x00") == [
        Reply(ReplyKind.ACK, "OK"), Reply(ReplyKind.NACK, code="F")]


def test_auto_framing_learns_status_blocks_from_the_first_reply():
    parser = ReplyParser(Framing.AUTO)
    assert parser.feed(b"Primacy 2\x00") == [] and parser.undecided
    (reply,) = parser.feed(b"\x00\x28" + block(session=7))
    assert (reply.text, reply.status.session, parser.framing) == ("Primacy 2", 7, Framing.STATUS_BLOCK)


def test_auto_framing_takes_a_quiet_line_after_the_nul_as_a_rev_e_reply():
    parser = ReplyParser(Framing.AUTO)
    assert parser.feed(b"Pebble\x00") == []
    assert parser.line_quiet() == [Reply(ReplyKind.TEXT, "Pebble")]
    assert parser.framing is Framing.BARE and not parser.pending


def test_auto_framing_takes_text_after_the_nul_as_a_rev_e_reply():
    parser = ReplyParser(Framing.AUTO)
    assert parser.feed(b"Dualys\x00OK\x00") == [Reply(ReplyKind.TEXT, "Dualys"), Reply(ReplyKind.TEXT, "OK")]
    assert parser.framing is Framing.BARE


def test_reply_parser_waits_for_the_whole_block():
    frame = primacy("OK")
    parser = ReplyParser()
    assert parser.feed(frame[:-1]) == [] and parser.pending
    assert [r.text for r in parser.feed(frame[-1:])] == ["OK"]
    assert not parser.pending


@pytest.mark.parametrize(
    "garbage, named",
    [(b"OK\x00\x00\x27", "length 0x0027"), (b"OK\x00\x01", "0x01 after a reply's NUL"),
     (b"OK\x00\x00\x28\x11", "byte 0 is 0x11"), (b"O\x01", "0x01 cannot"), (b"\xff", "0xff cannot"),
     (b"\x15Z\x00\x00\x28" + block(), "NACK code 'Z'"), (b"O\x06K", "0x06 inside"),
     (b"A" * (MAX_REPLY + 1), "longer than")],
)
def test_reply_parser_names_what_was_wrong_and_recovers(garbage, named):
    parser = ReplyParser()
    with pytest.raises(EvolisReplyError, match=named):
        parser.feed(garbage)
    assert [r.text for r in parser.feed(primacy("OK"))] == ["OK"]


_texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_frames = st.builds(lambda text, info, session: primacy(text, info=info, session=session),
                    _texts, _u32, st.integers(0, 0xFFFF))


@given(frames=st.lists(_frames, max_size=12), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_reply_parser_result_does_not_depend_on_chunking(frames, cuts):
    stream = b"".join(frames)
    whole = ReplyParser().feed(stream)
    parser = ReplyParser()
    chunked = [reply for chunk in split_at(stream, cuts) for reply in parser.feed(chunk)]
    assert chunked == whole and len(whole) == len(frames)
    assert [encode_reply(r.text, r.status) for r in whole] == frames


@given(noise=st.binary(max_size=600), cuts=st.lists(st.integers(min_value=0), max_size=8),
       framing=st.sampled_from(list(Framing)))
def test_reply_parser_raises_only_protocol_errors_on_random_bytes(noise, cuts, framing):
    parser = ReplyParser(framing)
    for chunk in split_at(noise, cuts):
        try:
            parser.feed(chunk)
        except ProtocolError:
            pass
    parser.reset()
    parser.framing = Framing.STATUS_BLOCK
    assert [r.text for r in parser.feed(primacy("OK"))] == ["OK"]


# -- command parser -------------------------------------------------------------


def _job_stream() -> tuple[bytes, list[Command]]:
    k_data = patterned(panel_size(2))
    y_data = patterned(panel_size(256))[::-1]
    c_data = patterned(panel_size(128))
    stream = (
        PROBE + b"<HEADER>" + command("Psync;1;0") + command("Pr;0;t") + b"</HEADER>\x00\x00"
        + command("Ss") + b"<BINARY Size=1>" + encode_download("k", 2, k_data)
        + encode_download("y", 256, y_data) + encode_download("c", 128, c_data) + b"</BINARY>"
        + command("Rco;c") + command("Se") + bytes(64)
    )
    expected = [
        Command(PROBE_MNEMONIC),
        Command("Psync", ("1", "0")),
        Command("Pr", ("0", "t")),
        Command("Ss"),
        Command("Db", ("k", "2"), k_data),
        Command("Db", ("y", "256"), y_data),
        Command("Db", ("c", "128"), c_data),
        Command("Rco", ("c",)),
        Command("Se"),
    ]
    return stream, expected


def test_command_parser_reads_downloads_by_length_and_skips_the_text_between_commands():
    stream, expected = _job_stream()
    assert CommandParser().feed(stream) == expected


@given(cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_command_parser_result_does_not_depend_on_chunking(cuts):
    stream, expected = _job_stream()
    parser = CommandParser()
    assert [c for chunk in split_at(stream, cuts) for c in parser.feed(chunk)] == expected


def test_command_parser_skips_bytes_outside_commands():
    assert CommandParser().feed(b"\x00\xffjunk\r\x1c\x6e\x01" + command("Rsn") + b"tail") == [Command("Rsn")]


def test_command_parser_restarts_on_escape_inside_a_command():
    assert CommandParser().feed(b"\x1bRco;" + command("Rfv")) == [Command("Rfv")]


def test_command_parser_names_a_download_with_bad_levels():
    (cmd,) = CommandParser().feed(b"\x1bDb;k;3;")
    assert (cmd.mnemonic, cmd.params, cmd.data) == ("Db", ("k", "3"), None)
    assert "'3' levels" in cmd.problem


def test_command_parser_names_a_download_missing_its_cr_and_stays_in_step():
    frame = encode_download("k", 2, bytes(panel_size(2)))
    first, second = CommandParser().feed(frame[:-1] + command("Rsn"))
    assert first.data is None and "expected CR" in first.problem
    assert second == Command("Rsn")


def test_command_parser_names_an_over_long_command():
    (cmd,) = CommandParser().feed(b"\x1bRco;" + b"x" * 300)
    assert "longer than" in cmd.problem


@given(noise=st.binary(max_size=2000), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_command_parser_stays_in_step_after_any_noise(noise, cuts):
    parser = CommandParser()
    for chunk in split_at(noise, cuts):
        parser.feed(chunk)
    parser.reset()
    assert parser.feed(command("Rsn")) == [Command("Rsn")]

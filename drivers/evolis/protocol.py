"""Evolis escape-command framing: pure functions and parsers over bytes, no I/O.

Commands (host to printer): ``ESC`` + mnemonic + ``;``-joined parameters +
``CR``, e.g. ``b"\\x1bRco;c\\r"``. A panel download is
``ESC Db;<panel>;<levels>;`` followed by exactly ``panel_size(levels)``
binary bytes (which may contain any byte) and a closing ``CR``. Bytes
between commands that do not start one (the vendor's ``<HEADER>`` and
``<BINARY Size=N>`` tags, NUL padding) are skipped by the printer. The
vendor library opens with a 6-byte probe of another product family,
``1C 6E 00 00 00 00``, which a printer answers ``OK``.

Replies (printer to host):

* Primacy generation: the reply text, a NUL, then ``00 28`` and the 40-byte
  status block (see ``status``). Over USB every bulk read returns one such
  frame, repeating the last reply until the next command.
* Rev E generation (Pebble, Dualys): the reply text and a NUL, no status.
* Reply text is printable ASCII (CR and LF allowed), at most ``MAX_REPLY``
  bytes. A text starting ``ERR`` (``ERROR CDE``, ``ERROR PARAMETRES``, ...)
  is an error; in the Rev E ACK/NACK mode (``Pem`` bit 4) a good reply
  starts with ACK (0x06), a bad one is NACK (0x15) and one code character.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ..errors import ProtocolError
from .panels import panel_size
from .status import STATUS_BLOCK_LENGTH, StatusBlockError, StatusWords, decode_status_block, encode_status_block

ESC = 0x1B
CR = 0x0D
LF = 0x0A
NUL = 0x00
ACK = 0x06
NACK = 0x15
MAX_REPLY = 256
MAX_COMMAND = 256
#: The vendor library's opening probe, and the mnemonic the command parser gives it.
PROBE = bytes.fromhex("1c6e00000000")
PROBE_MNEMONIC = "\x1cn"
#: The printer's error replies (a reply starting ``ERR`` is an error).
ERROR_COMMAND = "ERROR CDE"
ERROR_PARAMETER = "ERROR PARAMETRES"

#: Rev E NACK codes and what they mean.
NACK_CODES: dict[str, str] = {
    "1": "command error",
    "2": "parameter error",
    "T": "timeout or mechanical error",
    "C": "cover open",
    "F": "feeder",
    "R": "ribbon",
}

_DOWNLOAD = "Db"
_STATUS_PREFIX = bytes([NUL, STATUS_BLOCK_LENGTH])
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {CR, LF}
_COMMAND_START = re.compile(b"[\x1b\x1c]")
#: Offsets of the status block's field tags (see status): words, session, four extensions.
_BLOCK_TAGS = {0: 0x10, 17: 0x02, 20: 0x04, 25: 0x04, 30: 0x04, 35: 0x04}


class EvolisReplyError(ProtocolError):
    """Bytes from the printer that cannot be (part of) a reply."""


def _check_field(value: str, what: str) -> str:
    if not value.isascii() or not value.isprintable() or ";" in value:
        raise ValueError(f"{what} must be printable ASCII without ';': {value!r}")
    return value


def encode_command(mnemonic: str, *params: object) -> bytes:
    """``ESC`` + mnemonic + ``;``-joined parameters + ``CR``."""
    if not mnemonic:
        raise ValueError("empty mnemonic")
    fields = [_check_field(mnemonic, "mnemonic")]
    fields.extend(_check_field(str(p), f"parameter of {mnemonic}") for p in params)
    return b"\x1b" + ";".join(fields).encode("ascii") + b"\r"


def encode_download(panel: str, levels: int, data: bytes) -> bytes:
    """``ESC Db;<panel>;<levels>;`` + exactly ``panel_size(levels)`` bytes + ``CR``."""
    expected = panel_size(levels)
    if len(data) != expected:
        raise ValueError(f"panel {panel!r} at {levels} levels needs {expected} bytes, got {len(data)}")
    header = b"\x1b" + ";".join((_DOWNLOAD, _check_field(panel, "panel"), str(levels))).encode("ascii")
    return header + b";" + bytes(data) + b"\r"


def encode_reply(text: str, status: StatusWords | None) -> bytes:
    """One reply frame: ``text NUL`` and, for the Primacy generation, ``00 28`` + the status block."""
    frame = text.encode("ascii") + b"\x00"
    return frame if status is None else frame + _STATUS_PREFIX + encode_status_block(status)


# -- replies -------------------------------------------------------------------


class ReplyKind(Enum):
    ACK = "ack"
    NACK = "nack"
    TEXT = "text"


class Framing(Enum):
    """How replies end: with the status block, bare at the NUL, or not known yet."""

    STATUS_BLOCK = "status-block"
    BARE = "bare"
    AUTO = "auto"


@dataclass(frozen=True)
class Reply:
    """One reply: ``text`` for ACK and TEXT, ``code`` for NACK; ``status`` when a block came with it."""

    kind: ReplyKind
    text: str = ""
    code: str | None = None
    status: StatusWords | None = None

    @property
    def ok(self) -> bool:
        return self.kind is not ReplyKind.NACK and not self.text.startswith("ERR")


class _Stage(Enum):
    TEXT = "text"
    AFTER_NUL = "after-nul"        # AUTO framing: is a status block coming?
    LENGTH_HIGH = "length-high"    # 0x00, the first byte of the block's length
    LENGTH = "length"              # 0x28, its second byte
    BLOCK = "block"


class ReplyParser:
    """Incremental reply parser: bytes in, complete replies out; never skips a byte.

    With ``Framing.AUTO`` the first reply settles the framing: ``00 28``
    after its NUL means status blocks, any other byte means bare replies, and
    a line that goes quiet after the NUL (``line_quiet()``) means bare too.
    After an EvolisReplyError the buffered bytes are dropped.
    """

    def __init__(self, framing: Framing = Framing.STATUS_BLOCK) -> None:
        self.framing = framing
        self._stage = _Stage.TEXT
        self._text = bytearray()
        self._block = bytearray()

    @property
    def pending(self) -> bool:
        """Whether part of a reply is buffered."""
        return bool(self._text) or self._stage is not _Stage.TEXT

    @property
    def undecided(self) -> bool:
        """A reply is complete up to its NUL and only the next byte (or silence) tells whether
        a status block follows (``Framing.AUTO`` before the first reply)."""
        return self._stage is _Stage.AFTER_NUL

    def reset(self) -> None:
        self._stage = _Stage.TEXT
        self._text.clear()
        self._block.clear()

    def feed(self, data: bytes) -> list[Reply]:
        replies: list[Reply] = []
        try:
            for byte in data:
                reply = self._take(byte)
                if reply is not None:
                    replies.append(reply)
        except EvolisReplyError:
            self.reset()
            raise
        return replies

    def line_quiet(self) -> list[Reply]:
        """The line went quiet: a reply waiting to see whether a status block follows is bare."""
        if self._stage is not _Stage.AFTER_NUL:
            return []
        self.framing = Framing.BARE
        return [self._finish(None)]

    def _take(self, byte: int) -> Reply | None:
        stage = self._stage
        if stage is _Stage.TEXT:
            return self._take_text(byte)
        if stage is _Stage.LENGTH_HIGH:
            if byte != NUL:
                raise EvolisReplyError(f"byte 0x{byte:02x} after a reply's NUL, expected the status "
                                       "block's length 00 28")
            self._stage = _Stage.LENGTH
            return None
        if stage is _Stage.AFTER_NUL:
            if byte == NUL:
                self._stage = _Stage.LENGTH
                return None
            self.framing = Framing.BARE
            reply = self._finish(None)
            self._take_text(byte)
            return reply
        if stage is _Stage.LENGTH:
            if byte != STATUS_BLOCK_LENGTH:
                raise EvolisReplyError(f"status block length 0x00{byte:02x} after a reply, expected 0x0028")
            self.framing = Framing.STATUS_BLOCK
            self._stage = _Stage.BLOCK
            return None
        tag = _BLOCK_TAGS.get(len(self._block))  # _Stage.BLOCK: a wrong tag is named at once
        if tag is not None and byte != tag:
            raise EvolisReplyError(f"status block byte {len(self._block)} is 0x{byte:02x}, expected 0x{tag:02x}")
        self._block.append(byte)
        if len(self._block) < STATUS_BLOCK_LENGTH:
            return None
        try:
            status = decode_status_block(bytes(self._block))
        except StatusBlockError as exc:
            raise EvolisReplyError(str(exc)) from None
        return self._finish(status)

    def _take_text(self, byte: int) -> Reply | None:
        if byte == NUL:
            if self.framing is Framing.BARE:
                return self._finish(None)
            self._stage = _Stage.AFTER_NUL if self.framing is Framing.AUTO else _Stage.LENGTH_HIGH
            return None
        if byte in (ACK, NACK):
            if self._text:
                raise EvolisReplyError(f"byte 0x{byte:02x} inside a reply")
        elif byte not in _TEXT_BYTES:
            raise EvolisReplyError(f"byte 0x{byte:02x} cannot be part of a reply")
        elif self._text[:1] == bytes([NACK]) and len(self._text) > 1:
            raise EvolisReplyError("NACK carries more than one code character")
        if len(self._text) >= MAX_REPLY:
            raise EvolisReplyError(f"reply longer than {MAX_REPLY} bytes without a NUL")
        self._text.append(byte)
        return None

    def _finish(self, status: StatusWords | None) -> Reply:
        body = bytes(self._text)
        self.reset()
        return _decode_reply(body, status)


def _decode_reply(body: bytes, status: StatusWords | None) -> Reply:
    if body[:1] == bytes([ACK]):
        return Reply(ReplyKind.ACK, body[1:].decode("ascii"), status=status)
    if body[:1] == bytes([NACK]):
        code = body[1:].decode("ascii")
        if code not in NACK_CODES:
            raise EvolisReplyError(f"unknown NACK code {code!r}")
        return Reply(ReplyKind.NACK, code=code, status=status)
    return Reply(ReplyKind.TEXT, body.decode("ascii"), status=status)


# -- commands (the printer's side) --------------------------------------------


@dataclass(frozen=True)
class Command:
    """One parsed command. ``data`` is the binary payload of ``Db``; ``problem`` names
    what was wrong with a command the parser could not take whole (its data is then None)."""

    mnemonic: str
    params: tuple[str, ...] = ()
    data: bytes | None = None
    problem: str | None = None


class CommandParser:
    """Incremental command parser for the printer side (the simulator).

    Bytes outside a command are skipped up to the next ESC (or the probe's
    0x1C). An ESC inside a command line abandons the unfinished command and
    starts a new one. A download's payload is consumed by its length, never
    scanned; the byte after it must be CR.
    """

    def __init__(self) -> None:
        self._line = bytearray()
        self._in_command = False
        self._probe: bytearray | None = None
        self._download: tuple[tuple[str, ...], int] | None = None
        self._payload = bytearray()

    def reset(self) -> None:
        self._line.clear()
        self._in_command = False
        self._probe = None
        self._download = None
        self._payload.clear()

    def feed(self, data: bytes) -> list[Command]:
        commands: list[Command] = []
        data = bytes(data)
        pos = 0
        while pos < len(data):
            if self._download is not None:
                pos = self._take_payload(data, pos, commands)
            elif self._probe is not None:
                pos = self._take_probe(data, pos, commands)
            elif not self._in_command:
                found = _COMMAND_START.search(data, pos)
                if found is None:
                    break
                pos = found.start() + 1
                if data[found.start()] == ESC:
                    self._in_command = True
                    self._line.clear()
                else:
                    self._probe = bytearray(PROBE[:1])
            else:
                command = self._take_line_byte(data[pos])
                pos += 1
                if command is not None:
                    commands.append(command)
        return commands

    def _take_probe(self, data: bytes, pos: int, commands: list[Command]) -> int:
        assert self._probe is not None
        self._probe.append(data[pos])
        if self._probe != PROBE[:len(self._probe)]:
            self._probe = None  # not the probe: text between commands
            return pos if data[pos] in (ESC, PROBE[0]) else pos + 1
        if len(self._probe) == len(PROBE):
            self._probe = None
            commands.append(Command(PROBE_MNEMONIC))
        return pos + 1

    def _take_line_byte(self, byte: int) -> Command | None:
        if byte == ESC:
            self._line.clear()
            return None
        if byte == CR:
            self._in_command = False
            return _split_line(bytes(self._line))
        self._line.append(byte)
        if byte == ord(";") and self._line.startswith(b"Db;") and self._line.count(b";") == 3:
            return self._begin_download()
        if len(self._line) > MAX_COMMAND:
            self._in_command = False
            return Command(_split_line(bytes(self._line)).mnemonic[:16],
                           problem=f"command longer than {MAX_COMMAND} bytes")
        return None

    def _begin_download(self) -> Command | None:
        params = _split_line(bytes(self._line[:-1])).params
        self._in_command = False
        try:
            size = panel_size(int(params[1]))
        except ValueError:
            return Command(_DOWNLOAD, params, problem=f"{params[1]!r} levels is not a panel format")
        self._download = (params, size)
        self._payload.clear()
        return None

    def _take_payload(self, data: bytes, pos: int, commands: list[Command]) -> int:
        assert self._download is not None
        params, size = self._download
        missing = size - len(self._payload)
        if missing > 0:
            self._payload += data[pos:pos + missing]
            return min(pos + missing, len(data))
        self._download = None
        payload = bytes(self._payload)
        self._payload.clear()
        if data[pos] == CR:
            commands.append(Command(_DOWNLOAD, params, payload))
            return pos + 1
        commands.append(Command(_DOWNLOAD, params, problem=f"byte 0x{data[pos]:02x} after the "
                                                           f"{size}-byte payload, expected CR"))
        return pos


def _split_line(line: bytes) -> Command:
    mnemonic, *params = line.decode("latin-1").split(";")
    return Command(mnemonic, tuple(params))

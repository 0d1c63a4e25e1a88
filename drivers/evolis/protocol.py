"""Evolis escape-command framing: pure functions and parsers over bytes, no I/O.

Commands (host to printer): ``ESC`` + mnemonic + ``;``-joined parameters +
``CR``, e.g. ``b"\\x1bRco;c\\r"``. A panel download is
``ESC Db;<panel>;<levels>;`` followed by exactly ``panel_size(levels)``
binary bytes (which may contain CR or ESC) and a closing ``CR``.

Replies (printer to host), a project choice since the guide leaves the
framing open:

* ACK/NACK mode (``Pem`` bit 4 set): a good command is answered by ACK
  (0x06), the reply text and a terminator (``b"\\x06OK\\r"``,
  ``b"\\x06CARD\\r"``, ``b"\\x061234\\r"``); a bad one by NACK (0x15), one
  code character and a terminator (``b"\\x15F\\r"``).
* Outside ACK/NACK mode: the reply text and a terminator; an error is
  ``b"ERR;<code>"`` and a terminator, parsed as a NACK.
* NACK codes: ``1`` command error, ``2`` parameter error, ``T`` timeout or
  mechanical error, ``C`` cover open, ``F`` feeder, ``R`` ribbon.
* Terminator: the simulator sends CR; the parser accepts CR or NUL. Replies
  are delimited by the terminator only, never by timing.
* Reply text is printable ASCII, at most ``MAX_REPLY`` bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import ProtocolError
from .panels import bit_planes, panel_size

ESC = 0x1B
CR = 0x0D
NUL = 0x00
ACK = 0x06
NACK = 0x15
MAX_REPLY = 256
MAX_COMMAND = 256

#: NACK codes and what they mean.
NACK_CODES: dict[str, str] = {
    "1": "command error",
    "2": "parameter error",
    "T": "timeout or mechanical error",
    "C": "cover open",
    "F": "feeder",
    "R": "ribbon",
}

_TERMINATORS = (CR, NUL)
_ERROR_PREFIX = "ERR;"
_DOWNLOAD = "Db"


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


class ReplyKind(Enum):
    ACK = "ack"
    NACK = "nack"
    TEXT = "text"


@dataclass(frozen=True)
class Reply:
    """One reply: ``text`` for ACK and TEXT, ``code`` for NACK."""

    kind: ReplyKind
    text: str = ""
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind is not ReplyKind.NACK


class ReplyParser:
    """Incremental reply parser: bytes in, complete replies out.

    After an EvolisReplyError the buffered bytes are dropped; call
    ``reset()`` (or just keep feeding) to start on a clean reply.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        """Whether part of a reply is buffered."""
        return bool(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Reply]:
        replies: list[Reply] = []
        try:
            for byte in data:
                reply = self._take(byte)
                if reply is not None:
                    replies.append(reply)
        except EvolisReplyError:
            self._buffer.clear()
            raise
        return replies

    def _take(self, byte: int) -> Reply | None:
        if byte in _TERMINATORS:
            body = bytes(self._buffer)
            self._buffer.clear()
            return _decode_reply(body)
        if byte in (ACK, NACK):
            if self._buffer:
                raise EvolisReplyError(f"byte 0x{byte:02x} inside a reply")
        elif not 0x20 <= byte <= 0x7E:
            raise EvolisReplyError(f"byte 0x{byte:02x} cannot be part of a reply")
        elif self._buffer[:1] == bytes([NACK]) and len(self._buffer) > 1:
            raise EvolisReplyError("NACK carries more than one code character")
        if len(self._buffer) >= MAX_REPLY:
            raise EvolisReplyError(f"reply longer than {MAX_REPLY} bytes without a terminator")
        self._buffer.append(byte)
        return None


def _decode_reply(body: bytes) -> Reply:
    if body[:1] == bytes([ACK]):
        return Reply(ReplyKind.ACK, body[1:].decode("ascii"))
    if body[:1] == bytes([NACK]):
        return _nack(body[1:].decode("ascii"))
    text = body.decode("ascii")
    if text.startswith(_ERROR_PREFIX):
        return _nack(text[len(_ERROR_PREFIX):])
    return Reply(ReplyKind.TEXT, text)


def _nack(code: str) -> Reply:
    if code not in NACK_CODES:
        raise EvolisReplyError(f"unknown NACK code {code!r}")
    return Reply(ReplyKind.NACK, code=code)


@dataclass(frozen=True)
class Command:
    """One parsed command. ``data`` is the binary payload of ``Db``; it is
    None for every other command and for a ``Db`` whose header or payload
    was malformed."""

    mnemonic: str
    params: tuple[str, ...] = ()
    data: bytes | None = None


class CommandParser:
    """Incremental command parser for the printer side (the simulator).

    Bytes outside a command are skipped up to the next ESC. An ESC inside a
    command line abandons the unfinished command and starts a new one.
    """

    def __init__(self) -> None:
        self._line = bytearray()
        self._in_command = False
        self._download: tuple[tuple[str, ...], int] | None = None
        self._payload = bytearray()

    def reset(self) -> None:
        self._line.clear()
        self._in_command = False
        self._download = None
        self._payload.clear()

    def feed(self, data: bytes) -> list[Command]:
        commands: list[Command] = []
        data = bytes(data)
        pos = 0
        while pos < len(data):
            if self._download is not None:
                pos = self._take_payload(data, pos, commands)
            elif not self._in_command:
                escape = data.find(b"\x1b", pos)
                if escape < 0:
                    break
                self._start_command()
                pos = escape + 1
            else:
                command = self._take_line_byte(data[pos])
                pos += 1
                if command is not None:
                    commands.append(command)
        return commands

    def _start_command(self) -> None:
        self._in_command = True
        self._line.clear()

    def _take_line_byte(self, byte: int) -> Command | None:
        if byte == ESC:
            self._start_command()
            return None
        if byte == CR:
            self._in_command = False
            return _split_line(bytes(self._line))
        self._line.append(byte)
        if byte == ord(";") and self._line.startswith(b"Db;") and self._line.count(b";") == 3:
            return self._begin_download()
        if len(self._line) > MAX_COMMAND:
            self._in_command = False
        return None

    def _begin_download(self) -> Command | None:
        params = _split_line(bytes(self._line[:-1])).params
        self._in_command = False
        try:
            bit_planes(int(params[1]))
        except ValueError:
            return Command(_DOWNLOAD, params)
        self._download = (params, panel_size(int(params[1])))
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
        if data[pos] == CR:
            commands.append(Command(_DOWNLOAD, params, bytes(self._payload)))
            pos += 1
        else:
            commands.append(Command(_DOWNLOAD, params))
        self._payload.clear()
        return pos


def _split_line(line: bytes) -> Command:
    mnemonic, *params = line.decode("latin-1").split(";")
    return Command(mnemonic, tuple(params))

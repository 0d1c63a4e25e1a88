"""The PN532 wire protocol: frames and command payloads, pure functions over bytes.

A frame is ``00 00 FF LEN LCS TFI data DCS 00`` (``LEN`` counts TFI and data;
``LEN + LCS`` and ``TFI + data + DCS`` are both 0 mod 256), or the extended
``00 00 FF FF FF LENh LENl LCS TFI data DCS 00`` when TFI and data exceed 255
bytes. ACK, NACK and the application error frame are fixed byte strings.

Commands are written here as the command code followed by its parameters,
without the TFI; responses as the response code (command + 1) and its data.
Framing is applied only by links that need it (HSU); the ACR122U carries the
same command bytes inside CCID pseudo-APDUs.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from ..errors import ProtocolError

HOST_TO_CHIP = 0xD4
CHIP_TO_HOST = 0xD5

START_CODE = b"\x00\xff"
ACK_FRAME = bytes.fromhex("0000ff00ff00")
NACK_FRAME = bytes.fromhex("0000ffff0000")
ERROR_FRAME = bytes.fromhex("0000ff01ff7f8100")

#: The PN532's own limit is 265 bytes of TFI + data; the extended frame format allows more.
MAX_FRAME_BODY = 0xFFFF
_ERROR_FRAME_BODY = b"\x7f"


class FrameError(ProtocolError):
    """Bytes on the line do not form a valid PN532 frame."""


class FrameChecksumError(FrameError):
    """A frame's length checksum (LCS) or data checksum (DCS) is wrong."""


class FrameFormatError(FrameError):
    """A frame has a bad postamble, an unknown TFI or an impossible length."""


class ErrorFrameReceivedError(ProtocolError):
    """The chip answered with the application-level error frame (syntax error)."""


class UnexpectedResponseError(ProtocolError):
    """A response is of the wrong command, too short or malformed."""


class ChipStatusError(ProtocolError):
    """The chip reported a non-zero status byte for a command."""

    def __init__(self, command: str, status: int) -> None:
        self.status = status_error(status)
        self.status_name = status_name(status)
        super().__init__(f"{command} failed: status 0x{self.status:02X} ({self.status_name})")


# ---------------------------------------------------------------------------
# Frames


def build_frame(tfi: int, data: bytes) -> bytes:
    """An information frame carrying ``tfi`` and ``data``, extended if needed."""
    if not 0 <= tfi <= 0xFF:
        raise ValueError(f"TFI {tfi!r} is not a byte")
    body = bytes([tfi]) + bytes(data)
    if len(body) > MAX_FRAME_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_FRAME_BODY}")
    dcs = -sum(body) & 0xFF
    if len(body) <= 0xFF:
        header = bytes([0x00, 0x00, 0xFF, len(body), -len(body) & 0xFF])
    else:
        high, low = divmod(len(body), 0x100)
        header = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, high, low, -(high + low) & 0xFF])
    return header + body + bytes([dcs, 0x00])


@dataclass(frozen=True)
class Ack:
    """The chip (or host) received a valid frame."""


@dataclass(frozen=True)
class Nack:
    """The sender asks for the last frame again."""


@dataclass(frozen=True)
class ErrorFrame:
    """The application-level error frame: the chip refused a command's syntax."""


@dataclass(frozen=True)
class InformationFrame:
    tfi: int
    data: bytes


Frame = Ack | Nack | ErrorFrame | InformationFrame

#: (item or None, bytes to consume, error or None)
_Scan = tuple["Frame | None", int, "FrameError | None"]


class FrameParser:
    """Incremental frame parser: feed it bytes as they arrive, get frames back.

    Bytes before a start code are dropped, so the parser resynchronises on
    garbage; at most one such byte (a 00 that may begin a start code) is kept.
    A frame with a bad checksum, postamble or TFI raises a FrameError after
    the start code of that frame is dropped; the next ``feed`` (even of
    ``b""``) goes on with the bytes that followed. When frames were parsed
    in the same call before a bad one, they are returned and the error is
    raised by the next call instead, so no frame is lost.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending_bytes(self) -> int:
        """How many bytes are held waiting for the rest of a frame."""
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        items: list[Frame] = []
        while True:
            item, used, error = self._scan()
            if error is not None:
                if items:
                    return items
                del self._buffer[:used]
                raise error
            if item is None:
                return items
            del self._buffer[:used]
            items.append(item)

    def _scan(self) -> _Scan:
        buf = self._buffer
        start = buf.find(START_CODE)
        if start < 0:
            keep = 1 if buf[-1:] == b"\x00" else 0
            del buf[: len(buf) - keep]
            return None, 0, None
        del buf[:start]
        if len(buf) < 4:
            return None, 0, None
        length, lcs = buf[2], buf[3]
        if (length, lcs) == (0x00, 0xFF):
            return _fixed_frame(buf, Ack())
        if (length, lcs) == (0xFF, 0x00):
            return _fixed_frame(buf, Nack())
        if (length, lcs) == (0xFF, 0xFF):
            return _extended_frame(buf)
        if (length + lcs) & 0xFF:
            return None, len(START_CODE), FrameChecksumError("frame length checksum (LCS) is wrong")
        return _body_frame(buf, 4, length)


def _fixed_frame(buf: bytearray, item: Frame) -> _Scan:
    if len(buf) < 5:
        return None, 0, None
    if buf[4] != 0x00:
        return None, len(START_CODE), FrameFormatError(f"{type(item).__name__} frame lacks its postamble")
    return item, 5, None


def _extended_frame(buf: bytearray) -> _Scan:
    if len(buf) < 7:
        return None, 0, None
    high, low, lcs = buf[4], buf[5], buf[6]
    if (high + low + lcs) & 0xFF:
        return None, len(START_CODE), FrameChecksumError("extended frame length checksum (LCS) is wrong")
    length = high << 8 | low
    if length == 0:
        return None, len(START_CODE), FrameFormatError("extended frame declares no TFI")
    return _body_frame(buf, 7, length)


def _body_frame(buf: bytearray, offset: int, length: int) -> _Scan:
    if length == 0:
        return None, len(START_CODE), FrameFormatError("information frame declares no TFI")
    end = offset + length
    if len(buf) < end + 2:
        return None, 0, None
    body = bytes(buf[offset:end])
    if (sum(body) + buf[end]) & 0xFF:
        return None, len(START_CODE), FrameChecksumError("frame data checksum (DCS) is wrong")
    if buf[end + 1] != 0x00:
        return None, len(START_CODE), FrameFormatError("information frame lacks its postamble")
    if body == _ERROR_FRAME_BODY:
        return ErrorFrame(), end + 2, None
    if body[0] not in (HOST_TO_CHIP, CHIP_TO_HOST):
        return None, len(START_CODE), FrameFormatError(f"unknown frame identifier 0x{body[0]:02X}")
    return InformationFrame(body[0], body[1:]), end + 2, None


# ---------------------------------------------------------------------------
# Commands and responses


class Command(IntEnum):
    GET_FIRMWARE_VERSION = 0x02
    SAM_CONFIGURATION = 0x14
    RF_CONFIGURATION = 0x32
    IN_DATA_EXCHANGE = 0x40
    IN_LIST_PASSIVE_TARGET = 0x4A
    IN_RELEASE = 0x52


class SamMode(IntEnum):
    NORMAL = 0x01
    VIRTUAL_CARD = 0x02
    WIRED_CARD = 0x03
    DUAL_CARD = 0x04


class TargetType(IntEnum):
    """The BrTy byte of InListPassiveTarget."""

    TYPE_A_106 = 0x00
    TYPE_B_106 = 0x03


RF_CFG_MAX_RETRIES = 0x05

_STATUS_NAMES = MappingProxyType({
    0x00: "success", 0x01: "timeout", 0x02: "CRC error", 0x03: "parity error",
    0x04: "erroneous bit count", 0x05: "framing error", 0x06: "bit collision",
    0x07: "buffer too small", 0x09: "RF buffer overflow", 0x0A: "RF field not switched on in time",
    0x0B: "RF protocol error", 0x0D: "overheating", 0x0E: "internal buffer overflow",
    0x10: "invalid parameter", 0x12: "DEP command not supported", 0x13: "DEP invalid format",
    0x14: "authentication error", 0x23: "wrong UID check byte", 0x25: "invalid device state",
    0x26: "operation not allowed", 0x27: "command not acceptable now", 0x29: "target released",
    0x2A: "card ID mismatch", 0x2B: "card disappeared", 0x2C: "NFCID3 mismatch",
    0x2D: "over-current", 0x2E: "NAD missing", 0x7F: "syntax error",
})


def status_error(status: int) -> int:
    """The error code in a status byte: its low 6 bits, or 0x7F for a syntax error.

    Bit 6 (MI, more information) and bit 7 (NAD) are flags, not errors.
    """
    return 0x7F if status == 0x7F else status & 0x3F


def status_name(status: int) -> str:
    """The manual's name for the error in a status byte."""
    return _STATUS_NAMES.get(status_error(status), "unknown error")


def response_payload(command: int, response: bytes) -> bytes:
    """The data of ``response`` after checking it answers ``command``."""
    if not response:
        raise UnexpectedResponseError(f"empty response to command 0x{command:02X}")
    if response[0] != (command + 1) & 0xFF:
        raise UnexpectedResponseError(
            f"response code 0x{response[0]:02X} does not answer command 0x{command:02X}"
        )
    return response[1:]


@dataclass(frozen=True)
class FirmwareVersion:
    ic: int
    version: int
    revision: int
    support: int

    def __str__(self) -> str:
        name = "PN532" if self.ic == 0x32 else f"PN5{self.ic:02X}"
        return f"{name} v{self.version}.{self.revision}"


def encode_get_firmware_version() -> bytes:
    return bytes([Command.GET_FIRMWARE_VERSION])


def decode_get_firmware_version(response: bytes) -> FirmwareVersion:
    data = response_payload(Command.GET_FIRMWARE_VERSION, response)
    if len(data) != 4:
        raise UnexpectedResponseError(f"GetFirmwareVersion returned {len(data)} bytes, expected 4")
    return FirmwareVersion(*data)


def encode_sam_configuration(mode: SamMode = SamMode.NORMAL, timeout: int = 0x14, use_irq: bool = True) -> bytes:
    """``timeout`` is in units of 50 ms and matters only in virtual card mode."""
    return bytes([Command.SAM_CONFIGURATION, mode, timeout & 0xFF, int(use_irq)])


def decode_sam_configuration(response: bytes) -> None:
    _expect_empty(Command.SAM_CONFIGURATION, "SAMConfiguration", response)


def encode_rf_max_retries(atr: int = 0xFF, psl: int = 0x01, passive_activation: int = 0xFF) -> bytes:
    """RFConfiguration item 5: retry limits; 0xFF for passive activation means forever."""
    return bytes([Command.RF_CONFIGURATION, RF_CFG_MAX_RETRIES, atr & 0xFF, psl & 0xFF, passive_activation & 0xFF])


def decode_rf_configuration(response: bytes) -> None:
    _expect_empty(Command.RF_CONFIGURATION, "RFConfiguration", response)


@dataclass(frozen=True)
class PassiveTarget:
    """One target from InListPassiveTarget; ``uid`` is NFCID1 (A) or PUPI (B)."""

    tg: int
    uid: bytes
    target_type: TargetType
    sens_res: bytes = b""
    sel_res: int = 0
    ats: bytes = b""


def encode_in_list_passive_target(
    target_type: TargetType = TargetType.TYPE_A_106, max_targets: int = 1, initiator_data: bytes | None = None
) -> bytes:
    """Poll for targets; type B needs an AFI as initiator data (00: all families)."""
    if initiator_data is None:
        initiator_data = b"\x00" if target_type is TargetType.TYPE_B_106 else b""
    return bytes([Command.IN_LIST_PASSIVE_TARGET, max_targets, target_type]) + initiator_data


def decode_in_list_passive_target(response: bytes, target_type: TargetType = TargetType.TYPE_A_106) -> list[PassiveTarget]:
    data = response_payload(Command.IN_LIST_PASSIVE_TARGET, response)
    if not data:
        raise UnexpectedResponseError("InListPassiveTarget response lacks NbTg")
    reader = _Cursor(data[1:], "InListPassiveTarget")
    read_one = _read_target_b if target_type is TargetType.TYPE_B_106 else _read_target_a
    targets = [read_one(reader) for _ in range(data[0])]
    reader.expect_end()
    return targets


def _read_target_a(cursor: "_Cursor") -> PassiveTarget:
    tg = cursor.take(1)[0]
    sens_res = cursor.take(2)
    sel_res = cursor.take(1)[0]
    uid = cursor.take(cursor.take(1)[0])
    ats = b""
    if sel_res & 0x20 and cursor.remaining:
        ats_length = cursor.take(1)[0]
        ats = bytes([ats_length]) + cursor.take(max(ats_length - 1, 0))
    return PassiveTarget(tg, uid, TargetType.TYPE_A_106, sens_res, sel_res, ats)


def _read_target_b(cursor: "_Cursor") -> PassiveTarget:
    tg = cursor.take(1)[0]
    atqb = cursor.take(12)
    cursor.take(cursor.take(1)[0])  # ATTRIB_RES
    return PassiveTarget(tg, atqb[1:5], TargetType.TYPE_B_106)


def encode_in_data_exchange(tg: int, data: bytes) -> bytes:
    return bytes([Command.IN_DATA_EXCHANGE, tg]) + bytes(data)


def decode_in_data_exchange(response: bytes) -> bytes:
    """The target's answer; a non-zero status raises ChipStatusError naming it."""
    data = response_payload(Command.IN_DATA_EXCHANGE, response)
    if not data:
        raise UnexpectedResponseError("InDataExchange response lacks its status byte")
    if status_error(data[0]):
        raise ChipStatusError("InDataExchange", data[0])
    return data[1:]


def encode_in_release(tg: int = 0) -> bytes:
    """Release target ``tg``; 0 releases all targets."""
    return bytes([Command.IN_RELEASE, tg])


def decode_in_release(response: bytes) -> None:
    data = response_payload(Command.IN_RELEASE, response)
    if len(data) != 1:
        raise UnexpectedResponseError("InRelease response must hold exactly a status byte")
    if status_error(data[0]):
        raise ChipStatusError("InRelease", data[0])


def _expect_empty(command: int, name: str, response: bytes) -> None:
    if response_payload(command, response):
        raise UnexpectedResponseError(f"{name} response carries unexpected data")


class _Cursor:
    """Reads fields off a response, raising UnexpectedResponseError when short."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, count: int) -> bytes:
        if count > self.remaining:
            raise UnexpectedResponseError(f"{self._what} response is truncated")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def expect_end(self) -> None:
        if self.remaining:
            raise UnexpectedResponseError(f"{self._what} response has {self.remaining} trailing bytes")

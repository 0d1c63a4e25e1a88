"""PN532 frames on the wire: pure functions over bytes.

A frame is ``00 00 FF LEN LCS TFI data DCS 00`` (``LEN`` counts TFI and data;
``LEN + LCS`` and ``TFI + data + DCS`` are both 0 mod 256), or the extended
``00 00 FF FF FF LENh LENl LCS TFI data DCS 00`` when TFI and data exceed 255
bytes. ACK, NACK and the application error frame are fixed byte strings
(NXP PN532 user manual UM0701-02, §6.2.1).
"""
from __future__ import annotations

from dataclasses import dataclass

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

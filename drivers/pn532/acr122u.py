"""The ACR122U: a PN532 behind a USB CCID front, reached with pseudo-APDUs.

The same PN532 commands as over HSU (code + parameters, no frame bytes) go
inside a CCID ``PC_to_RDR_XfrBlock`` (0x6F) as the pseudo-APDU
``FF 00 00 00 Lc D4 <command>``; the reader answers ``RDR_to_PC_DataBlock``
(0x80) holding ``D5 <response> 90 00``. Every CCID message starts with a
10-byte header: type, dwLength (little-endian, the data after the header),
bSlot, bSeq, then three message-specific bytes. For replies those are
bStatus (bits 7-6 command status, bits 1-0 ICC status), bError and one more.

The top half of this module is pure framing over bytes; ``Acr122uLink``
implements the ``Link`` protocol of ``commands`` over any byte transport
(in practice ``UsbBulkTransport`` on the reader's bulk endpoints).
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Callable

import structlog

from ..errors import ProtocolError, TransportTimeoutError
from ..transport import Transport
from . import protocol as p

_log = structlog.get_logger(__name__)

HEADER_SIZE = 10
PC_TO_RDR_ICC_POWER_ON = 0x62
PC_TO_RDR_ICC_POWER_OFF = 0x63
PC_TO_RDR_GET_SLOT_STATUS = 0x65
PC_TO_RDR_XFR_BLOCK = 0x6F
RDR_TO_PC_DATA_BLOCK = 0x80
RDR_TO_PC_SLOT_STATUS = 0x81
#: The reader's own pseudo-APDU class and "direct transmit" to the PN532.
DIRECT_TRANSMIT = bytes([0xFF, 0x00, 0x00, 0x00])
SW_SUCCESS = b"\x90\x00"
#: The largest CCID message this driver accepts (the ACR122U's buffer is far smaller).
MAX_MESSAGE_DATA = 0x10000

COMMAND_PROCESSED = 0
COMMAND_FAILED = 1
TIME_EXTENSION = 2


class CcidError(ProtocolError):
    """A CCID message is malformed, of the wrong kind, or reports a failure."""


class ApduStatusError(ProtocolError):
    """The reader answered a pseudo-APDU with a status word other than 90 00."""

    def __init__(self, sw: bytes) -> None:
        self.sw = sw
        super().__init__(f"the reader answered status word {sw.hex(' ').upper()}, not 90 00")


@dataclass(frozen=True)
class CcidMessage:
    """One CCID bulk message: header fields and its data."""

    kind: int
    slot: int
    seq: int
    specific: bytes  # the three message-specific header bytes
    data: bytes

    @property
    def command_status(self) -> int:
        """Bits 7-6 of bStatus (replies only): processed, failed or time extension."""
        return self.specific[0] >> 6

    @property
    def icc_status(self) -> int:
        return self.specific[0] & 0x03

    @property
    def error(self) -> int:
        return self.specific[1]

    def encode(self) -> bytes:
        return _header(self.kind, len(self.data), self.slot, self.seq, self.specific) + self.data


def _header(kind: int, length: int, slot: int, seq: int, specific: bytes) -> bytes:
    if len(specific) != 3:
        raise ValueError("a CCID header has exactly three message-specific bytes")
    return struct.pack("<BIBB", kind, length, slot, seq & 0xFF) + bytes(specific)


def encode_xfr_block(seq: int, data: bytes, *, slot: int = 0, bwi: int = 0, level: int = 0) -> bytes:
    """PC_to_RDR_XfrBlock: bBWI, then wLevelParameter (little-endian)."""
    specific = bytes([bwi]) + struct.pack("<H", level)
    return _header(PC_TO_RDR_XFR_BLOCK, len(data), slot, seq, specific) + bytes(data)


def encode_icc_power_on(seq: int, *, slot: int = 0, voltage: int = 0) -> bytes:
    """PC_to_RDR_IccPowerOn: bPowerSelect (0 = automatic), two reserved bytes."""
    return _header(PC_TO_RDR_ICC_POWER_ON, 0, slot, seq, bytes([voltage, 0, 0]))


def encode_data_block(seq: int, data: bytes, *, slot: int = 0, status: int = 0, error: int = 0) -> bytes:
    """RDR_to_PC_DataBlock (the reader's side; for the simulator and tests)."""
    return _header(RDR_TO_PC_DATA_BLOCK, len(data), slot, seq, bytes([status, error, 0])) + bytes(data)


def encode_slot_status(seq: int, *, slot: int = 0, status: int = 0, error: int = 0) -> bytes:
    """RDR_to_PC_SlotStatus (the reader's side; for the simulator and tests)."""
    return _header(RDR_TO_PC_SLOT_STATUS, 0, slot, seq, bytes([status, error, 0]))


def wrap_pn532_command(command: bytes) -> bytes:
    """The pseudo-APDU carrying a PN532 command: FF 00 00 00 Lc D4 <command>."""
    if not command:
        raise ValueError("a PN532 command needs at least its code")
    body = bytes([p.HOST_TO_CHIP]) + bytes(command)
    if len(body) > 0xFF:
        raise ValueError(f"PN532 command of {len(command)} bytes does not fit a short APDU")
    return DIRECT_TRANSMIT + bytes([len(body)]) + body


def unwrap_pn532_response(answer: bytes) -> bytes:
    """The PN532 response (code + data) inside ``D5 <response> 90 00``."""
    if len(answer) < 2:
        raise CcidError(f"an APDU answer of {len(answer)} bytes has no status word")
    body, sw = answer[:-2], answer[-2:]
    if sw != SW_SUCCESS:
        raise ApduStatusError(sw)
    if not body or body[0] != p.CHIP_TO_HOST:
        raise p.UnexpectedResponseError("the reader's answer does not start with D5")
    return body[1:]


def unwrap_pn532_command(apdu: bytes) -> bytes | None:
    """The PN532 command inside a direct-transmit pseudo-APDU, or None if it is not one."""
    if len(apdu) < 6 or apdu[:4] != DIRECT_TRANSMIT or apdu[4] != len(apdu) - 5 or apdu[5] != p.HOST_TO_CHIP:
        return None
    return apdu[6:]


class CcidParser:
    """Splits a byte stream into CCID messages by their dwLength."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[CcidMessage]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= HEADER_SIZE:
            kind, length, slot, seq = struct.unpack_from("<BIBB", self._buffer)
            if length > MAX_MESSAGE_DATA:
                self._buffer.clear()
                raise CcidError(f"CCID message 0x{kind:02X} claims {length} bytes of data")
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            specific = bytes(self._buffer[7:HEADER_SIZE])
            messages.append(CcidMessage(kind, slot, seq, specific, bytes(self._buffer[HEADER_SIZE:end])))
            del self._buffer[:end]
        return messages

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()


def check_reply(message: CcidMessage, kind: int) -> CcidMessage:
    """``message`` if it is a successful reply of ``kind``; CcidError otherwise."""
    if message.kind != kind:
        raise CcidError(f"expected CCID message 0x{kind:02X}, got 0x{message.kind:02X}")
    if message.command_status == COMMAND_FAILED:
        raise CcidError(f"the reader failed the command: bError 0x{message.error:02X}, "
                        f"ICC status {message.icc_status}")
    if message.command_status not in (COMMAND_PROCESSED, TIME_EXTENSION):
        raise CcidError(f"reserved command status in bStatus 0x{message.specific[0]:02X}")
    return message


class Acr122uLink:
    """The PN532 ``Link`` over CCID: one XfrBlock out, its DataBlock back.

    Each exchange discards stale input, sends the next bSeq and waits for
    the DataBlock with that bSeq. A reply with another bSeq is a late answer
    to an exchange that timed out and is dropped; a time-extension reply
    means "still working" and the wait goes on. One deadline covers it all.
    """

    def __init__(self, transport: Transport, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._transport = transport
        self._parser = CcidParser()
        self._clock = clock
        self._seq = 0

    def power_on(self, timeout: float = 1.0) -> bytes:
        """PC_to_RDR_IccPowerOn; returns the ATR (empty when the reader reports none).

        The PN532 behind the ACR122U answers pseudo-APDUs whether or not a
        card is present, so a reader that fails the power-on (no card) is
        not an error here.
        """
        reply = self._transact(encode_icc_power_on, timeout)
        if reply.kind != RDR_TO_PC_DATA_BLOCK:
            raise CcidError(f"IccPowerOn answered by CCID message 0x{reply.kind:02X}")
        if reply.command_status == COMMAND_FAILED:
            _log.debug("acr122u.power_on_failed", error=reply.error)
            return b""
        return reply.data

    def exchange(self, command: bytes, timeout: float) -> bytes:
        apdu = wrap_pn532_command(command)
        reply = self._transact(lambda seq: encode_xfr_block(seq, apdu), timeout)
        check_reply(reply, RDR_TO_PC_DATA_BLOCK)
        response = unwrap_pn532_response(reply.data)
        p.response_payload(command[0], response)
        return response

    def close(self) -> None:
        self._transport.close()

    def _transact(self, encode: Callable[[int], bytes], timeout: float) -> CcidMessage:
        """Send the message ``encode(seq)`` builds; return the final reply with that bSeq."""
        deadline = self._clock() + timeout
        self._discard_stale_input()
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        self._transport.write(encode(seq))
        while True:
            for message in self._messages_until(deadline):
                if message.seq != seq:
                    _log.debug("acr122u.stale_reply_dropped", seq=message.seq, expected=seq)
                elif message.command_status != TIME_EXTENSION:
                    return message

    def _messages_until(self, deadline: float) -> list[CcidMessage]:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TransportTimeoutError("the ACR122U did not answer in time")
        return self._parser.feed(self._transport.read(4096, remaining))

    def _discard_stale_input(self, budget: int = 4096) -> None:
        self._parser.reset()
        while budget > 0:
            try:
                budget -= len(self._transport.read(budget, 0.002))
            except TransportTimeoutError:
                return


def open_acr122u_reader(transport: Transport, *, command_timeout: float = 1.0, poll_interval: float = 0.05):
    """A ``Pn532Reader`` on an ACR122U: power the slot, then the same set-up as over HSU.

    On failure the transport is left open: it belongs to the caller until a
    reader is returned.
    """
    from .commands import Pn532
    from .reader import Pn532Reader

    link = Acr122uLink(transport)
    link.power_on(command_timeout)
    return Pn532Reader.configure(Pn532(link, timeout=command_timeout), command_timeout=command_timeout,
                                 poll_interval=poll_interval)

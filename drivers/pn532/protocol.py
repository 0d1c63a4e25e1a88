"""The PN532 wire protocol: frames (``frames``, re-exported here) and command payloads.

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
from .frames import (  # noqa: F401  (re-exported: the protocol's one namespace)
    ACK_FRAME, CHIP_TO_HOST, ERROR_FRAME, HOST_TO_CHIP, MAX_FRAME_BODY, NACK_FRAME, START_CODE, Ack,
    ErrorFrame, Frame, FrameChecksumError, FrameError, FrameFormatError, FrameParser, InformationFrame, Nack,
    build_frame,
)


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
# Commands and responses


class Command(IntEnum):
    """Command codes (NXP PN532 user manual UM0701-02, §7); the response code is one more."""

    DIAGNOSE = 0x00
    GET_FIRMWARE_VERSION = 0x02
    GET_GENERAL_STATUS = 0x04
    READ_REGISTER = 0x06
    WRITE_REGISTER = 0x08
    READ_GPIO = 0x0C
    WRITE_GPIO = 0x0E
    SET_SERIAL_BAUD_RATE = 0x10
    SET_PARAMETERS = 0x12
    SAM_CONFIGURATION = 0x14
    POWER_DOWN = 0x16
    RF_CONFIGURATION = 0x32
    IN_DATA_EXCHANGE = 0x40
    IN_COMMUNICATE_THRU = 0x42
    IN_DESELECT = 0x44
    IN_JUMP_FOR_PSL = 0x46
    IN_LIST_PASSIVE_TARGET = 0x4A
    IN_PSL = 0x4E
    IN_ATR = 0x50
    IN_RELEASE = 0x52
    IN_SELECT = 0x54
    IN_JUMP_FOR_DEP = 0x56
    IN_AUTO_POLL = 0x60


_ACRONYMS = MappingProxyType({"Rf": "RF", "Sam": "SAM", "Atr": "ATR", "Psl": "PSL", "Dep": "DEP", "Gpio": "GPIO"})


def command_name(code: int) -> str:
    """``InListPassiveTarget`` for 0x4A (a response code names its command); hex if unknown."""
    try:
        words = Command(code & 0xFE).name.split("_")
    except ValueError:
        return f"0x{code:02X}"
    return "".join(_ACRONYMS.get(w.capitalize(), w.capitalize()) for w in words)


class SamMode(IntEnum):
    NORMAL = 0x01
    VIRTUAL_CARD = 0x02
    WIRED_CARD = 0x03
    DUAL_CARD = 0x04


class TargetType(IntEnum):
    """The BrTy byte of InListPassiveTarget."""

    TYPE_A_106 = 0x00
    TYPE_B_106 = 0x03


RF_CFG_FIELD = 0x01
RF_CFG_MAX_RETRIES = 0x05
#: SetParameters flags (UM0701-02, SetParameters): bit 2 automatic ATR_RES, bit 4 automatic RATS.
PARAM_AUTO_ATR_RES = 0x04
PARAM_AUTO_RATS = 0x10
#: RF status errors: the card did not answer or its answer was damaged on the air.
RF_ERRORS = frozenset({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0B, 0x13})

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


def encode_rf_field(on: bool) -> bytes:
    """RFConfiguration item 1: the RF field on or off (off resets every card in it)."""
    return bytes([Command.RF_CONFIGURATION, RF_CFG_FIELD, 0x01 if on else 0x00])


def decode_rf_configuration(response: bytes) -> None:
    _expect_empty(Command.RF_CONFIGURATION, "RFConfiguration", response)


def encode_set_parameters(flags: int) -> bytes:
    return bytes([Command.SET_PARAMETERS, flags & 0xFF])


def decode_set_parameters(response: bytes) -> None:
    _expect_empty(Command.SET_PARAMETERS, "SetParameters", response)


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


def decode_in_list_passive_target(
    response: bytes, target_type: TargetType = TargetType.TYPE_A_106, *, auto_rats: bool = True
) -> list[PassiveTarget]:
    """The targets in an InListPassiveTarget answer.

    ``auto_rats`` is the chip's SetParameters bit 4: when it is on, an
    ISO 14443-4 type A target (SEL_RES bit 5) may carry its ATS after the
    NFCID1; when it is off the target data ends with the NFCID1.
    """
    data = response_payload(Command.IN_LIST_PASSIVE_TARGET, response)
    if not data:
        raise UnexpectedResponseError("InListPassiveTarget response lacks NbTg")
    reader = _Cursor(data[1:], "InListPassiveTarget")
    targets = []
    for _ in range(data[0]):
        if target_type is TargetType.TYPE_B_106:
            targets.append(_read_target_b(reader))
        else:
            targets.append(_read_target_a(reader, auto_rats))
    reader.expect_end()
    return targets


def _read_target_a(cursor: "_Cursor", auto_rats: bool) -> PassiveTarget:
    tg = cursor.take(1)[0]
    sens_res = cursor.take(2)
    sel_res = cursor.take(1)[0]
    uid = cursor.take(cursor.take(1)[0])
    ats = b""
    if auto_rats and sel_res & 0x20 and cursor.remaining:
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

"""The PN532's initiator (reader) commands, as the simulated chip runs them.

Facts from the NXP PN532 user manual (UM0701-02, §7.3 "Initiator
commands") unless a line says otherwise; choices where the manual says
nothing are marked *choice*.

* InListPassiveTarget 0x4A, BrTy 0 (106 kbps type A), 1/2 (FeliCa 212/424),
  3 (106 kbps type B), 4 (Jewel): the answer is NbTg then each target's data;
  no target is ``4B 00``. A type A target's data is Tg, SENS_RES, SEL_RES,
  NFCID1 length, NFCID1, and the ATS only when automatic RATS is on
  (SetParameters bit 4) and the card is ISO 14443-4 compliant. The chip
  polls with REQA (nfcpy reads the REQA left in the CIU FIFO when no card
  answered), so a card halted by DESELECT or HLTA stays silent until the
  field goes off. Every new poll forgets earlier targets.
* MxRtyPassiveActivation (RFConfiguration item 5) is how many times an
  activation that fails on the air is retried; MaxRtyCOM (item 4) the same
  for InDataExchange. *Choice*: with no card at the antenna the answer
  comes at once, without spending the retries' time (a card cannot appear
  meanwhile).
* InAutoPoll 0x60: PollNr (1-255), Period (1-15) and 1-15 target types;
  the answer is NbTg, then per target Type, length, target data.
  *Choice*: with no card it answers ``61 00`` at once.
* InDataExchange 0x40, InCommunicateThru 0x42, InSelect 0x54,
  InDeselect 0x44, InRelease 0x52: a status byte first (low 6 bits the
  error): 0x01 the target did not answer, 0x27 the command is not
  acceptable now (no such target). InDeselect and InRelease send
  S(DESELECT) to an ISO-DEP card (HLTA to a layer 3 one); Tg 0 means all.
  InCommunicateThru reaches the card only while the CIU speaks type A at
  106 kbps (TxMode/RxMode), with CRC_A added and checked by the chip when
  the CRC bits are on.
* DEP (InJumpForDEP 0x56, InJumpForPSL 0x46, InATR 0x50, InPSL 0x4E): the
  simulated card is no NFCIP-1 target, so jumps time out (0x01) and
  commands to a DEP target find none (0x27).

Malformed parameters raise ChipSyntaxError: the chip answers the error frame.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from .iso14443a import HLTA, PiccState, SimulatedPicc, crc_a
from .pn532_registers import CIU_RX_MODE, CIU_TX_MODE, RegisterFile

STATUS_OK = 0x00
STATUS_TIMEOUT = 0x01
STATUS_NOT_ACCEPTABLE = 0x27
PARAM_AUTO_RATS = 0x10
FOREVER = 0xFF
DESELECT = bytes([0xC2])

TYPE_A_106, FELICA_212, FELICA_424, TYPE_B_106, JEWEL_106 = range(5)
#: Initiator data lengths per BrTy: cascaded UID (A), polling payload (FeliCa), AFI [+ method] (B).
_INITIATOR_DATA = MappingProxyType({
    TYPE_A_106: (0, 4, 8, 12), FELICA_212: (5,), FELICA_424: (5,), TYPE_B_106: (1, 2), JEWEL_106: (0,),
})
#: CIU TxMode/RxMode the chip leaves after polling each BrTy: CRC on, speed, framing.
_MODULATION = MappingProxyType({TYPE_A_106: 0x80, FELICA_212: 0x92, FELICA_424: 0xA2, TYPE_B_106: 0x83, JEWEL_106: 0x80})
AUTO_POLL_TYPES = frozenset({0x00, 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x20, 0x23,
                             0x40, 0x41, 0x42, 0x80, 0x81, 0x82})
AUTO_POLL_GENERIC_106, AUTO_POLL_MIFARE, AUTO_POLL_ISO14443_4A = 0x00, 0x10, 0x20


class ChipSyntaxError(Exception):
    """Parameters the chip refuses: it answers the application error frame."""


def require(condition: bool) -> None:
    if not condition:
        raise ChipSyntaxError("malformed parameters")


class Antenna(Protocol):
    """The RF side: the card in the field, if any."""

    def card(self) -> SimulatedPicc | None: ...

    def activate(self, wake: bool = False) -> SimulatedPicc | None: ...

    def field(self, on: bool) -> None: ...

    def rf_error(self) -> bool:
        """True when the next exchange on the air is to fail (a fault)."""


@dataclass
class RfSettings:
    """What SetParameters and RFConfiguration set, as far as the initiator uses it."""

    parameters: int = 0x14  # automatic ATR_RES and RATS, as the chip comes out of reset
    passive_retries: int = FOREVER
    com_retries: int = 0x00
    field_on: bool = False


@dataclass
class Target:
    tg: int
    picc: SimulatedPicc
    iso_dep: bool
    selected: bool = True


class Initiator:
    """The initiator commands over one antenna, register file and settings."""

    def __init__(self, antenna: Antenna, registers: RegisterFile, settings: RfSettings) -> None:
        self._antenna = antenna
        self._registers = registers
        self._settings = settings
        self.targets: dict[int, Target] = {}

    # -- polling -------------------------------------------------------------------

    def in_list_passive_target(self, params: bytes) -> bytes:
        require(len(params) >= 2 and params[0] in (1, 2) and params[1] in _INITIATOR_DATA)
        brty, data = params[1], params[2:]
        require(len(data) in _INITIATOR_DATA[brty])
        self.targets.clear()
        self._field_on(_MODULATION[brty])
        if brty != TYPE_A_106:
            return b"\x00"  # the simulated card answers type A only
        picc = self._activate_type_a(_uid_from_initiator_data(data))
        if picc is None:
            return b"\x00"
        target = self._register(picc, self._auto_rats(picc))
        return bytes([1, target.tg]) + picc.target_data(target.iso_dep)

    def in_auto_poll(self, params: bytes) -> bytes:
        require(len(params) >= 3 and params[0] >= 1 and 1 <= params[1] <= 0x0F and len(params) - 2 <= 15)
        kinds = params[2:]
        require(all(kind in AUTO_POLL_TYPES for kind in kinds))
        self.targets.clear()
        for kind in kinds:
            if kind not in (AUTO_POLL_GENERIC_106, AUTO_POLL_MIFARE, AUTO_POLL_ISO14443_4A):
                continue
            self._field_on(_MODULATION[TYPE_A_106])
            picc = self._activate_type_a(None)
            if picc is None:
                continue
            iso_dep = self._auto_rats(picc) if kind == AUTO_POLL_GENERIC_106 else kind == AUTO_POLL_ISO14443_4A
            if iso_dep and not picc.request_ats():
                continue
            target = self._register(picc, iso_dep)
            data = bytes([target.tg]) + picc.target_data(iso_dep)
            return bytes([1, kind, len(data)]) + data
        return b"\x00"

    def _field_on(self, modulation: int) -> None:
        self._settings.field_on = True
        self._antenna.field(True)
        self._registers.write(CIU_TX_MODE, modulation)
        self._registers.write(CIU_RX_MODE, modulation)

    def _activate_type_a(self, wanted_uid: bytes | None) -> SimulatedPicc | None:
        """REQA, anticollision and SELECT, retried as MxRtyPassiveActivation says."""
        self._registers.load_fifo(b"\x26")
        retries = self._settings.passive_retries
        for attempt in itertools.count():
            if retries != FOREVER and attempt > retries:
                return None
            if self._antenna.rf_error():
                continue
            card = self._antenna.card()
            if card is None or (wanted_uid is not None and wanted_uid != card.uid):
                return None
            picc = self._antenna.activate()
            if picc is not None:
                self._registers.load_fifo(b"")
            return picc
        return None  # unreachable: count() never ends

    def _auto_rats(self, picc: SimulatedPicc) -> bool:
        if not self._settings.parameters & PARAM_AUTO_RATS or not picc.sel_res & 0x20:
            return False
        return picc.request_ats()

    def _register(self, picc: SimulatedPicc, iso_dep: bool) -> Target:
        target = Target(len(self.targets) + 1, picc, iso_dep)
        self.targets[target.tg] = target
        return target

    # -- talking to a target -------------------------------------------------------------

    def in_data_exchange(self, params: bytes) -> bytes:
        require(len(params) >= 1)
        target = self.targets.get(params[0] & 0x3F)  # bit 6: more data follows (MI)
        if target is None or not target.selected:
            return bytes([STATUS_NOT_ACCEPTABLE])
        retries = self._settings.com_retries
        for attempt in itertools.count():
            if retries != FOREVER and attempt > retries:
                return bytes([STATUS_TIMEOUT])
            if self._antenna.rf_error():
                continue
            answer = self._target_answer(target, params[1:])
            return bytes([STATUS_TIMEOUT]) if answer is None else bytes([STATUS_OK]) + answer
        return bytes([STATUS_TIMEOUT])  # unreachable

    def _target_answer(self, target: Target, data: bytes) -> bytes | None:
        if self._antenna.card() is not target.picc:
            return None  # the card left the field
        if target.iso_dep:
            return target.picc.apdu(data) if target.picc.state is PiccState.PROTOCOL else None
        return target.picc.frame(data)

    def in_communicate_thru(self, params: bytes) -> bytes:
        picc = self._antenna.card()
        frame = self._frame_on_air(params)
        if picc is None or frame is None or not self._settings.field_on or self._antenna.rf_error():
            return bytes([STATUS_TIMEOUT])
        answer = picc.frame(frame)
        if answer is None:
            return bytes([STATUS_TIMEOUT])
        if not self._registers.crc(CIU_RX_MODE):
            answer += crc_a(answer)
        return bytes([STATUS_OK]) + answer

    def _frame_on_air(self, data: bytes) -> bytes | None:
        """The frame a type A card receives, or None when it cannot understand it."""
        if not data or not self._registers.type_a_106() or self._registers.tx_last_bits():
            return None  # other modulations, and short frames (REQA, anticollision): not answered
        if self._registers.crc(CIU_TX_MODE):
            return data
        if len(data) < 3 or crc_a(data[:-2]) != data[-2:]:
            return None
        return data[:-2]

    def in_select(self, params: bytes) -> bytes:
        require(len(params) == 1)
        target = self.targets.get(params[0])
        if target is None:
            return bytes([STATUS_NOT_ACCEPTABLE])
        picc = target.picc
        if self._antenna.card() is not picc or not picc.activate(wake=True):
            return bytes([STATUS_TIMEOUT])
        if target.iso_dep and not picc.request_ats():
            return bytes([STATUS_TIMEOUT])
        target.selected = True
        return bytes([STATUS_OK])

    def in_deselect(self, params: bytes) -> bytes:
        require(len(params) == 1)
        for target in self._chosen(params[0]):
            self._send_deselect(target)
        return bytes([STATUS_OK])

    def in_release(self, params: bytes) -> bytes:
        require(len(params) == 1)
        for target in self._chosen(params[0]):
            self._send_deselect(target)
            del self.targets[target.tg]
        return bytes([STATUS_OK])

    def _chosen(self, tg: int) -> list[Target]:
        if tg == 0:
            return list(self.targets.values())
        return [self.targets[tg]] if tg in self.targets else []

    def _send_deselect(self, target: Target) -> None:
        if target.selected and self._antenna.card() is target.picc:
            target.picc.frame(DESELECT if target.picc.state is PiccState.PROTOCOL else HLTA)
        target.selected = False

    def card_present(self) -> int:
        """Diagnose 0x06: 0x00 while the selected target still answers, else 0x01."""
        selected = [t for t in self.targets.values() if t.selected]
        if not selected:
            return STATUS_NOT_ACCEPTABLE
        target = selected[0]
        present = self._antenna.card() is target.picc and target.picc.state in (PiccState.ACTIVE, PiccState.PROTOCOL)
        return STATUS_OK if present else STATUS_TIMEOUT

    def general_status(self) -> bytes:
        """NbTg, then Tg, BrRx, BrTx (0: 106 kbps) and modulation type (0: type A) per selected target."""
        selected = [t for t in self.targets.values() if t.selected]
        return bytes([len(selected)]) + b"".join(bytes([t.tg, 0, 0, 0]) for t in selected)

    # -- NFCIP-1 (DEP) -------------------------------------------------------------------

    def in_jump(self, params: bytes) -> bytes:
        """InJumpForDEP / InJumpForPSL: no DEP target answers the ATR_REQ."""
        require(len(params) >= 3 and params[0] in (0, 1) and params[1] in (0, 1, 2))
        return bytes([STATUS_TIMEOUT])

    def in_dep_target_command(self, params: bytes) -> bytes:
        """InATR / InPSL: there is no DEP target to address."""
        require(len(params) >= 1)
        return bytes([STATUS_NOT_ACCEPTABLE])

    def field_off(self) -> None:
        self._settings.field_on = False
        self._antenna.field(False)
        for target in self.targets.values():
            target.selected = False


def _uid_from_initiator_data(data: bytes) -> bytes | None:
    """The NFCID1 a host asks for, without the cascade tags (0x88) it is sent with."""
    if not data:
        return None
    if len(data) == 4:
        return data
    require(data[0] == 0x88 and (len(data) == 8 or data[4] == 0x88))
    return data[1:] if len(data) == 8 else data[1:4] + data[5:]

"""A simulated ISO/IEC 14443 type A card (PICC), as the PN532's antenna meets it.

The card is powered by the reader's field. Its states are those of
ISO/IEC 14443-3 and -4, reduced to what a PN532 host can tell apart:

* ``POWER_OFF``: no field, or no card at the antenna;
* ``IDLE``: powered, waiting for REQA (or WUPA);
* ``ACTIVE``: selected at layer 3 (after anticollision and SELECT);
* ``PROTOCOL``: ISO-DEP (layer 4) after RATS answered with the ATS;
* ``HALT``: after HLTA or S(DESELECT); only WUPA (or losing the field) wakes it.

Frames are given without CRC (the PN532 adds and checks CRC_A while the CIU's
TxMode/RxMode CRC bits are on, as libnfc and nfcpy leave them). ``frame()``
returns the card's answer, or None when the card stays silent (the chip then
reports a timeout, status 0x01).

The simulated e-KTP is ISO 14443-4 compliant (SAK bit 6) with a synthetic
ATS; it holds no application, so every APDU is answered ``6D 00``
("instruction not supported", ISO/IEC 7816-4).
"""
from __future__ import annotations

from enum import Enum

REQA = 0x26
WUPA = 0x52
HLTA = bytes([0x50, 0x00])
RATS = 0xE0
SEL_RES_ISO14443_4 = 0x20
#: TL, T0 (FSCI 8: 256 bytes; TA, TB, TC follow), TA (106 kbps only), TB (FWI 7, SFGI 0), TC (CID supported).
ATS = bytes.fromhex("0578807002")
APDU_NOT_SUPPORTED = bytes([0x6D, 0x00])


class PiccState(Enum):
    POWER_OFF = "power-off"
    IDLE = "idle"
    ACTIVE = "active"
    PROTOCOL = "protocol"
    HALT = "halt"


def sens_res_for(uid: bytes) -> bytes:
    """SENS_RES (ATQA) as the PN532 reports it: UID size in bits 7-6 of its second byte.

    ISO/IEC 14443-3: single (4 bytes) 00, double (7) 01, triple (10) 10.
    """
    size_bits = {4: 0x00, 7: 0x40, 10: 0x80}.get(len(uid))
    if size_bits is None:
        raise ValueError(f"an NFCID1 is 4, 7 or 10 bytes, not {len(uid)}")
    return bytes([0x00, size_bits | 0x04])


class SimulatedPicc:
    """One card at the antenna: its UID and ISO 14443 state."""

    def __init__(self, uid: bytes) -> None:
        self.uid = bytes(uid)
        self.sens_res = sens_res_for(self.uid)
        self.sel_res = SEL_RES_ISO14443_4
        self.ats = ATS
        self.state = PiccState.POWER_OFF
        self._block_number = 1  # ISO/IEC 14443-4: the PICC's block number starts at 1

    # -- layer 3 ---------------------------------------------------------------

    def field(self, on: bool) -> None:
        """The reader's field went on or off; off resets the card."""
        if not on:
            self.state = PiccState.POWER_OFF
        elif self.state is PiccState.POWER_OFF:
            self.state = PiccState.IDLE

    def activate(self, wake: bool = False, uid: bytes | None = None) -> bool:
        """REQA (or WUPA when ``wake``), anticollision and SELECT; True if the card answered.

        ``uid`` is the NFCID1 the card answers anticollision with this time.
        """
        self.field(True)
        if self.state is PiccState.HALT and not wake:
            return False
        if uid is not None and uid != self.uid:
            self.uid, self.sens_res = bytes(uid), sens_res_for(uid)
        self.state = PiccState.ACTIVE
        self._block_number = 1
        return True

    def halt(self) -> None:
        if self.state is not PiccState.POWER_OFF:
            self.state = PiccState.HALT

    # -- frames ------------------------------------------------------------------

    def frame(self, data: bytes) -> bytes | None:
        """The card's answer to one frame (CRC handled by the reader), or None."""
        if self.state in (PiccState.POWER_OFF, PiccState.IDLE, PiccState.HALT) or not data:
            return None
        if self.state is PiccState.ACTIVE:
            return self._layer3_frame(data)
        return self._block(data)

    def _layer3_frame(self, data: bytes) -> bytes | None:
        if data == HLTA:
            self.state = PiccState.HALT
            return None  # HLTA is never answered
        if data[0] == RATS and len(data) == 2 and self.sel_res & SEL_RES_ISO14443_4:
            self.state = PiccState.PROTOCOL
            return self.ats
        return None  # no MIFARE commands on this card

    def _block(self, data: bytes) -> bytes | None:
        """ISO/IEC 14443-4 blocks: I, R and S(DESELECT); CID and NAD are echoed."""
        pcb = data[0]
        prologue = _prologue_length(pcb)
        if len(data) < prologue:
            return None
        head, payload = data[:prologue], data[prologue:]
        if pcb & 0xC0 == 0x00 and pcb & 0x02:  # I-block
            if pcb & 0x10:
                return None  # chaining from the reader is not offered: the card stays silent
            self._block_number = pcb & 0x01
            answer = APDU_NOT_SUPPORTED if payload else b""
            return bytes([0x02 | self._block_number]) + head[1:] + answer
        if pcb & 0xE0 == 0xA0:  # R-block
            if pcb & 0x10 and (pcb & 0x01) != self._block_number:  # R(NAK), other block number
                return bytes([0xA2 | self._block_number]) + head[1:]
            return None  # nothing was sent that could be repeated
        if pcb & 0xF7 == 0xC2:  # S(DESELECT), with or without CID
            self.state = PiccState.HALT
            return head
        return None

    # -- the PN532's view ----------------------------------------------------------

    def target_data(self, with_ats: bool) -> bytes:
        """SENS_RES, SEL_RES, NFCID1 length and NFCID1, then the ATS if RATS was sent."""
        data = self.sens_res + bytes([self.sel_res, len(self.uid)]) + self.uid
        return data + self.ats if with_ats else data

    def request_ats(self) -> bool:
        """The chip's automatic RATS after SELECT; True when the card now speaks ISO-DEP."""
        return self.frame(bytes([RATS, 0x80])) is not None

    def apdu(self, data: bytes) -> bytes:
        """An APDU carried by InDataExchange over ISO-DEP (the chip does the blocks)."""
        return APDU_NOT_SUPPORTED


def _prologue_length(pcb: int) -> int:
    """PCB, then CID (bit 3) and NAD (bit 2, I-blocks only)."""
    length = 1 + (1 if pcb & 0x08 else 0)
    if pcb & 0xC0 == 0x00 and pcb & 0x04:
        length += 1
    return length


def crc_a(data: bytes) -> bytes:
    """CRC_A of ISO/IEC 14443-3 (initial value 0x6363), least significant byte first."""
    crc = 0x6363
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
    return bytes([crc & 0xFF, crc >> 8])

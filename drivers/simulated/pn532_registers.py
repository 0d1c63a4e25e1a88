"""The register space a PN532 host reads and writes with ReadRegister and WriteRegister.

Addresses are 16 bits (UM0701-02, ReadRegister 0x06 / WriteRegister 0x08):
the Contactless Interface Unit (CIU, a PN512 inside the PN532) at
0x6301-0x633F, the 80C51's special function registers at 0xFF00-0xFFFF and
XRAM below. Every address reads back what was last written (0x00 before);
the CIU registers start from plausible reset values, because hosts
read-modify-write them (libnfc, nfcpy) and never depend on the exact reset
value. Registers with behaviour:

* ``CIU_FIFOData`` (0x6339): reading takes the oldest FIFO byte, writing
  appends; ``CIU_FIFOLevel`` (0x633A) reads the FIFO's length and bit 7
  written flushes it. After a type A poll no card answered, the FIFO still
  holds the REQA (0x26) the chip sent: nfcpy reads that to tell "no card"
  from "a type 1 tag" (nfc/clf/pn53x.py, sense_tta).
* ``CIU_Control`` (0x633C): RxLastBits (bits 2-0) is 0, every frame the
  simulated card sends is whole bytes; libnfc reads it after
  InCommunicateThru.
* read-only registers (``CIU_Status1``, ``CIU_Status2`` low bits,
  ``CIU_FIFOLevel``, ``CIU_Version``...) keep their value when written.

TxMode (0x6302) and RxMode (0x6303) decide what reaches the simulated card
through InCommunicateThru: framing (bits 1-0, 00 = type A), speed
(bits 6-4, 000 = 106 kbps) and CRC (bit 7, on: the chip adds and checks CRC_A).
"""
from __future__ import annotations

from collections import deque
from types import MappingProxyType

CIU_TX_MODE = 0x6302
CIU_RX_MODE = 0x6303
CIU_FIFO_DATA = 0x6339
CIU_FIFO_LEVEL = 0x633A
CIU_CONTROL = 0x633C
CIU_BIT_FRAMING = 0x633D
SFR_P3 = 0xFFB0
SFR_P7 = 0xFFF7

CRC_ENABLE = 0x80
FRAMING_MASK = 0x03
SPEED_MASK = 0x70
FIFO_SIZE = 64

#: Reset values of the CIU (PN512 register map) and the GPIO ports the host may read.
_RESET = MappingProxyType({
    0x6301: 0x3F, 0x6302: 0x00, 0x6303: 0x00, 0x6304: 0x80, 0x6305: 0x00, 0x6306: 0x10,
    0x6307: 0x84, 0x6308: 0x84, 0x6309: 0x4D, 0x630C: 0x62, 0x630F: 0xEB,
    0x6311: 0xFF, 0x6312: 0xFF, 0x6313: 0x88, 0x6314: 0x26, 0x6315: 0x87, 0x6316: 0x48,
    0x6317: 0x88, 0x6318: 0x20, 0x6319: 0x20, 0x6327: 0x80, 0x6331: 0x20, 0x6332: 0x80,
    0x6334: 0x14, 0x6337: 0x21, 0x633B: 0x08, 0x633C: 0x10, 0x633E: 0x80,
    SFR_P3: 0x3F, SFR_P7: 0x06,
})
_READ_ONLY = frozenset({0x6311, 0x6312, 0x631E, 0x631F, 0x6327, 0x6336, 0x6337, CIU_FIFO_LEVEL})


class RegisterFile:
    """The chip's registers and XRAM, by 16-bit address."""

    def __init__(self) -> None:
        self._values: dict[int, int] = dict(_RESET)
        self._fifo: deque[int] = deque(maxlen=FIFO_SIZE)

    def read(self, address: int) -> int:
        if address == CIU_FIFO_DATA:
            return self._fifo.popleft() if self._fifo else 0x00
        if address == CIU_FIFO_LEVEL:
            return len(self._fifo)
        if address == CIU_CONTROL:
            return self._values[CIU_CONTROL] & 0xF8  # RxLastBits: whole bytes
        return self._values.get(address & 0xFFFF, 0x00)

    def write(self, address: int, value: int) -> None:
        if address == CIU_FIFO_DATA:
            self._fifo.append(value & 0xFF)
        elif address == CIU_FIFO_LEVEL:
            if value & 0x80:
                self._fifo.clear()
        elif address not in _READ_ONLY:
            self._values[address & 0xFFFF] = value & 0xFF

    def load_fifo(self, data: bytes) -> None:
        """What the chip itself leaves in the FIFO after a command."""
        self._fifo.clear()
        self._fifo.extend(data)

    def type_a_106(self) -> bool:
        """True when the CIU transmits and receives type A framing at 106 kbps."""
        return all(self._values.get(a, 0) & (FRAMING_MASK | SPEED_MASK) == 0 for a in (CIU_TX_MODE, CIU_RX_MODE))

    def crc(self, address: int) -> bool:
        return bool(self._values.get(address, 0) & CRC_ENABLE)

    def tx_last_bits(self) -> int:
        return self._values.get(CIU_BIT_FRAMING, 0) & 0x07

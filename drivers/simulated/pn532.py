"""A simulated PN532 on its serial line (HSU), speaking real frames.

It answers each valid command frame with ACK and then the response frame.
The wake-up preamble (55 55 00 ...) is line noise before a start code and is
skipped like any other. Host NACK resends the last response; host ACK while
idle does nothing (the simulator is never busy, so there is nothing to
cancel). Choices where the chip's behaviour is unspecified:

- a frame from the host with a bad checksum or postamble gets no answer at
  all, as if the chip never saw it (the host times out or resends);
- an unknown command or malformed parameters get ACK and the error frame.

The card at the antenna is whatever ``SimBench(state_dir)`` says sits at the
printer's contactless station. Faults, given at construction or through
``set_fault``: ``no_reply`` (commands are swallowed), ``garbage`` (random
bytes that never form a frame instead of answers), ``slow_seconds`` (delay
before ACK and response), ``chip_absent`` (no card is ever seen).
"""
from __future__ import annotations

import os
import random
import threading
import time
from types import MappingProxyType
from typing import Callable

from ..errors import ProtocolError
from ..pn532 import protocol as p
from .bench import SimBench

SENS_RES = b"\x00\x44"
SEL_RES_ISO14443_4 = 0x20
#: The ATS a simulated ISO 14443-4 chip returns: TL, T0, TA, TB, TC.
ATS = bytes.fromhex("0578807002")
#: ISO/IEC 14443-3: a single-size UID starting with this byte is random, drawn anew at every activation.
RANDOM_UID_FIRST_BYTE = b"\x08"

_FAULT_DEFAULTS = MappingProxyType({"no_reply": False, "garbage": False, "slow_seconds": 0.0, "chip_absent": False})


class _SyntaxError(Exception):
    """A command the simulated chip rejects with the error frame."""


class SimulatedPn532:
    """A PN532 as the host sees it on the wire (implements SimulatedDevice)."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        firmware: tuple[int, int, int, int] = (0x32, 1, 6, 7),
        no_reply: bool = False,
        garbage: bool = False,
        slow_seconds: float = 0.0,
        chip_absent: bool = False,
        random_uid: bool = False,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bench = SimBench(state_dir)
        self._firmware = bytes(firmware)
        self._faults = {"no_reply": no_reply, "garbage": garbage, "slow_seconds": slow_seconds, "chip_absent": chip_absent}
        self._lock = threading.Lock()
        self._parser = p.FrameParser()
        self._random = random.Random(seed)
        self._random_uid = random_uid
        self._sleep = sleep
        self._last_response = b""
        self._active_tg: int | None = None
        self.commands_seen = 0

    def set_fault(self, name: str, value: bool | float) -> None:
        if name not in _FAULT_DEFAULTS:
            raise ValueError(f"unknown PN532 simulator fault {name!r}; known: {', '.join(_FAULT_DEFAULTS)}")
        with self._lock:
            self._faults[name] = type(_FAULT_DEFAULTS[name])(value)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = dict(_FAULT_DEFAULTS)

    def _fault(self, name: str) -> bool | float:
        with self._lock:
            return self._faults[name]

    def feed(self, data: bytes) -> bytes:
        reply = bytearray()
        for frame in self._frames_in(data):
            reply += self._answer(frame)
        return bytes(reply)

    def _frames_in(self, data: bytes) -> list[p.Frame]:
        frames: list[p.Frame] = []
        while True:
            try:
                new = self._parser.feed(data)
            except ProtocolError:
                data = b""  # a damaged frame: the chip ignores it
                continue
            data = b""
            if not new:
                return frames
            frames += new

    def _answer(self, frame: p.Frame) -> bytes:
        if isinstance(frame, p.Nack):
            return self._last_response
        if not isinstance(frame, p.InformationFrame) or frame.tfi != p.HOST_TO_CHIP:
            return b""  # ACK (cancel) while idle, an error frame, or a chip-to-host frame
        self.commands_seen += 1
        if self._fault("no_reply"):
            return b""
        delay = float(self._fault("slow_seconds"))
        if delay > 0:
            self._sleep(delay)
        if self._fault("garbage"):
            return bytes(self._random.randrange(1, 256) for _ in range(self._random.randrange(1, 40)))
        try:
            response = p.build_frame(p.CHIP_TO_HOST, self._execute(frame.data))
        except _SyntaxError:
            response = p.ERROR_FRAME
        self._last_response = response
        return p.ACK_FRAME + response

    def _execute(self, command: bytes) -> bytes:
        if not command:
            raise _SyntaxError("empty command")
        code, params = command[0], command[1:]
        handlers = {
            p.Command.GET_FIRMWARE_VERSION: self._get_firmware_version,
            p.Command.SAM_CONFIGURATION: self._sam_configuration,
            p.Command.RF_CONFIGURATION: self._rf_configuration,
            p.Command.IN_LIST_PASSIVE_TARGET: self._in_list_passive_target,
            p.Command.IN_DATA_EXCHANGE: self._in_data_exchange,
            p.Command.IN_RELEASE: self._in_release,
        }
        handler = handlers.get(code)
        if handler is None:
            raise _SyntaxError(f"unknown command 0x{code:02X}")
        return bytes([code + 1]) + handler(params)

    def _get_firmware_version(self, params: bytes) -> bytes:
        _require(not params)
        return self._firmware

    def _sam_configuration(self, params: bytes) -> bytes:
        _require(1 <= len(params) <= 3 and params[0] in set(p.SamMode))
        return b""

    def _rf_configuration(self, params: bytes) -> bytes:
        _require(len(params) >= 2)
        return b""

    def _in_list_passive_target(self, params: bytes) -> bytes:
        _require(len(params) >= 2 and params[0] in (1, 2) and params[1] in set(p.TargetType))
        card = None if self._fault("chip_absent") else self._bench.card_at_station()
        if params[1] != p.TargetType.TYPE_A_106 or card is None or not card[1]:
            self._active_tg = None
            return b"\x00"
        uid = self._activation_uid(card[0])
        self._active_tg = 1
        target = bytes([1]) + SENS_RES + bytes([SEL_RES_ISO14443_4, len(uid)]) + uid + ATS
        return b"\x01" + target

    def _activation_uid(self, own_uid: bytes) -> bytes:
        """The UID the card answers at this activation: its own, or a fresh random one."""
        if not self._random_uid:
            return own_uid
        return RANDOM_UID_FIRST_BYTE + self._random.randbytes(3)

    def _in_data_exchange(self, params: bytes) -> bytes:
        _require(len(params) >= 1)
        if self._active_tg is None or params[0] != self._active_tg:
            return b"\x27"  # command not acceptable now: no such target
        card = self._bench.card_at_station()
        if card is None or not card[1]:
            return b"\x01"  # the card went away: timeout
        return b"\x00\x6d\x00"  # no application here: ISO 7816 "instruction not supported"

    def _in_release(self, params: bytes) -> bytes:
        _require(len(params) == 1)
        if params[0] in (0, self._active_tg):
            self._active_tg = None
        return b"\x00"


def _require(condition: bool) -> None:
    if not condition:
        raise _SyntaxError("malformed parameters")

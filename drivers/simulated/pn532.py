"""A simulated PN532 on its serial line (HSU), speaking real frames.

This module is the chip's line: frames in, ACK and response frames out
(NXP PN532 user manual UM0701-02, §6.2 "Host controller communication
protocol"); ``pn532_firmware`` runs the commands and ``iso14443a`` is the
card at the antenna.

* Each valid command frame is ACKed, then answered; a command that runs on
  (TgInitAsTarget, RFRegulationTest) is ACKed only, until the host cancels
  it with an ACK. A host NACK resends the last response.
* A frame with a bad checksum or postamble gets no answer at all, as if the
  chip never saw it; a command the chip refuses gets ACK and the error frame.
* SetSerialBaudRate: ACK, then ``D5 11`` at the old speed; the chip
  switches when the host's ACK arrives. When the link tells the host's
  line speed (a pty: the termios speed the host set), bytes sent at another
  speed are line noise to the chip. *Choice*: bytes arriving at the new
  speed also complete the switch (nfcpy reopens the port right after its
  ACK, and pyserial's close flushes output, so on a pty that ACK can be
  lost); a frame at the old speed instead of the ACK cancels the switch.
* PowerDown: after its answer the chip sleeps. On HSU, when WakeUpEnable
  has bit 4, a byte on the line wakes it; the bytes that arrive while its
  oscillator starts are lost. *Choice*: the first two bytes, so the 0x55
  preamble hosts send (libnfc 55 55 00.., nfcpy ten 00) wakes it and the
  frame after it is taken, while a frame sent to a sleeping chip with no
  preamble is lost, as on hardware.
* SetParameters bit 6 removes the preamble and postamble from the chip's frames.

The card at the antenna is what ``SimBench(state_dir)`` says sits at the
printer's contactless station. Faults, given at construction or through
``set_fault``: ``no_reply`` (commands are swallowed), ``garbage`` (random
bytes that never form a frame instead of answers), ``slow_seconds`` (delay
before ACK and response), ``chip_absent`` (no card is ever seen),
``drop_acks`` (the next N ACKs are lost on the line; the responses still
come), ``rf_errors`` (the next N exchanges on the air fail, as a card that
did not answer: polls and InDataExchange spend their retries on them),
``asleep`` (true: the chip is now in power-down, woken by HSU like after
PowerDown; false: woken). ``tap`` (a FrameTap) records every frame.
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
from .faults import DEVICE_FAULTS, WIRE_FAULTS
from .iso14443a import SimulatedPicc
from .pn532_firmware import PARAM_REMOVE_PRE_POSTAMBLE, WAKE_ON_HSU, ChipReply, Pn532Firmware
from .pn532_initiator import ChipSyntaxError
from .pn532_tap import FrameTap

#: Bytes a sleeping chip loses while it wakes up (see the module's notes).
WAKE_LOST_BYTES = 2
INITIAL_LINE_SPEED = 115_200
#: ISO/IEC 14443-3: a single-size UID starting with this byte is random, drawn anew at every activation.
RANDOM_UID_FIRST_BYTE = b"\x08"

#: Every fault off: False, 0 or 0.0 by the fault's type.
_FAULT_DEFAULTS = MappingProxyType({name: kind() for name, kind in {**WIRE_FAULTS, **DEVICE_FAULTS["reader"]}.items()})


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
        tap: FrameTap | None = None,
    ) -> None:
        self._bench = SimBench(state_dir)
        self._faults: dict[str, object] = dict(_FAULT_DEFAULTS)
        self._faults.update(no_reply=no_reply, garbage=garbage, slow_seconds=slow_seconds, chip_absent=chip_absent)
        self._lock = threading.Lock()
        self._parser = p.FrameParser()
        self._random = random.Random(seed)
        self._random_uid = random_uid
        self._sleep = sleep
        self.tap = tap
        self.chip = Pn532Firmware(self, bytes(firmware))
        self._last_response = b""
        self._last_sent: p.Frame | None = None
        self._picc: SimulatedPicc | None = None
        self._station_uid: bytes | None = None
        self._field_on = False
        self.line_speed = INITIAL_LINE_SPEED
        self._pending_speed: int | None = None
        self._host_speed: int | None = None
        self._wake_sources: int | None = None  # not None: asleep
        self.commands_seen = 0

    # -- faults ----------------------------------------------------------------

    def set_fault(self, name: str, value: object) -> None:
        if name not in _FAULT_DEFAULTS:
            raise ValueError(f"unknown PN532 simulator fault {name!r}; known: {', '.join(_FAULT_DEFAULTS)}")
        value = type(_FAULT_DEFAULTS[name])(value)
        with self._lock:
            self._faults[name] = value
            if name == "asleep":
                self._wake_sources = WAKE_ON_HSU if value else None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = dict(_FAULT_DEFAULTS)

    def _fault(self, name: str) -> object:
        with self._lock:
            return self._faults[name]

    def _take_one(self, name: str) -> bool:
        """Use up one of a counted fault; True if there was one."""
        with self._lock:
            count = int(self._faults[name])  # type: ignore[call-overload]
            if count <= 0:
                return False
            self._faults[name] = count - 1
            return True

    @property
    def faults(self) -> dict[str, object]:
        """The faults now in force (counted faults show what is left of them)."""
        with self._lock:
            return dict(self._faults)

    @property
    def asleep(self) -> bool:
        with self._lock:
            return self._wake_sources is not None

    # -- the line ----------------------------------------------------------------

    def host_line_speed(self, baud: int | None) -> None:
        """The speed the host's side of the line is set to now, when the link can tell."""
        self._host_speed = baud

    def feed(self, data: bytes) -> bytes:
        data = self._line_in(data)
        reply = bytearray()
        for frame in self._frames_in(data):
            reply += self._answer(frame)
        return bytes(reply)

    def _line_in(self, data: bytes) -> bytes:
        """The bytes the chip takes in: none at another speed, some lost while waking."""
        speed = self._host_speed
        if speed is not None and data and speed == self._pending_speed:
            self._switch_speed("host already at the new speed")
        if speed is not None and speed != self.line_speed:
            self._note("noise", f"at {speed} baud, chip at {self.line_speed}", data)
            return b""
        with self._lock:
            sources = self._wake_sources
            if sources is None or not data:
                return data
            wakes = bool(sources & WAKE_ON_HSU)
            if wakes:
                self._wake_sources = None
                self._faults["asleep"] = False
        if not wakes:
            self._note("noise", "chip asleep, HSU not a wake-up source", data)
            return b""
        self._parser.reset()
        self._note("line", "wake-up", data[:WAKE_LOST_BYTES])
        return data[WAKE_LOST_BYTES:]

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
        if self.tap is not None:
            self.tap.frame("host", frame)
        if isinstance(frame, p.Nack):
            return self._resend()
        if isinstance(frame, p.Ack):
            self._host_acked()
            return b""
        if not isinstance(frame, p.InformationFrame) or frame.tfi != p.HOST_TO_CHIP:
            return b""  # an error frame or a chip-to-host frame from the host: ignored
        self._pending_speed = None
        self.commands_seen += 1
        if self._fault("no_reply"):
            return b""
        delay = float(self._fault("slow_seconds"))  # type: ignore[arg-type]
        if delay > 0:
            self._sleep(delay)
        if self._fault("garbage"):
            self._note("noise", "garbage answered")
            return bytes(self._random.randrange(1, 256) for _ in range(self._random.randrange(1, 40)))
        return self._run(frame.data)

    def _run(self, command: bytes) -> bytes:
        try:
            outcome: ChipReply | None = self.chip.execute(command)
        except ChipSyntaxError:
            outcome = None
        if self._take_one("drop_acks"):
            ack = b""
            self._note("line", "ACK lost")
        else:
            ack = p.ACK_FRAME
            self._tap_chip(p.Ack())
        if outcome is not None and outcome.response is None:
            return ack  # runs on until the host cancels it
        if outcome is None:
            self._last_response, sent = p.ERROR_FRAME, p.ErrorFrame()
        else:
            self._last_response = self._frame(outcome.response)  # type: ignore[arg-type]
            sent = p.InformationFrame(p.CHIP_TO_HOST, outcome.response)  # type: ignore[arg-type]
        self._last_sent = sent
        self._tap_chip(sent)
        if outcome is not None:
            self._after(outcome)
        return ack + self._last_response

    def _frame(self, response: bytes) -> bytes:
        frame = p.build_frame(p.CHIP_TO_HOST, response)
        if self.chip.parameters & PARAM_REMOVE_PRE_POSTAMBLE:
            return frame[1:-1]
        return frame

    def _resend(self) -> bytes:
        if self._last_sent is not None:
            self._tap_chip(self._last_sent)
        return self._last_response

    def _tap_chip(self, frame: p.Frame) -> None:
        if self.tap is not None:
            self.tap.frame("chip", frame)

    def _after(self, outcome: ChipReply) -> None:
        if outcome.line_speed is not None:
            self._pending_speed = outcome.line_speed
        if outcome.sleep_wake_sources is not None:
            with self._lock:
                self._wake_sources = outcome.sleep_wake_sources
            self._note("line", "power-down")

    def _host_acked(self) -> None:
        """The host's ACK: completes a speed switch, or cancels a command that runs on."""
        if self._pending_speed is not None:
            self._switch_speed("host ACK")

    def _switch_speed(self, why: str) -> None:
        assert self._pending_speed is not None
        self.line_speed, self._pending_speed = self._pending_speed, None
        self._note("line", f"{self.line_speed} baud ({why})")

    def _note(self, direction: str, name: str, body: bytes = b"") -> None:
        if self.tap is not None:
            self.tap.note(direction, name, body)

    # -- the antenna (pn532_initiator.Antenna) ------------------------------------

    def card(self) -> SimulatedPicc | None:
        """The card in the field: the readable one at the contactless station, if any."""
        station = None if self._fault("chip_absent") else self._bench.card_at_station()
        if station is None or not station[1]:
            self._picc = self._station_uid = None
            return None
        if self._picc is None or station[0] != self._station_uid:
            self._station_uid = station[0]
            self._picc = SimulatedPicc(station[0])
            self._picc.field(self._field_on)
        return self._picc

    def activate(self, wake: bool = False) -> SimulatedPicc | None:
        """REQA (WUPA when ``wake``), anticollision and SELECT of the card in the field."""
        picc = self.card()
        if picc is None or self._station_uid is None:
            return None
        return picc if picc.activate(wake, uid=self._activation_uid(self._station_uid)) else None

    def _activation_uid(self, station_uid: bytes) -> bytes:
        """The NFCID1 the card at the station answers this activation with: its own UID, or,
        for a random-UID card, a fresh single-size one (first byte 0x08) every time."""
        if not self._random_uid:
            return station_uid
        return RANDOM_UID_FIRST_BYTE + self._random.randbytes(3)

    def field(self, on: bool) -> None:
        self._field_on = on
        if self._picc is not None:
            self._picc.field(on)

    def rf_error(self) -> bool:
        return self._take_one("rf_errors")

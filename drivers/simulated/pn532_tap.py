"""A wire tap on a simulated PN532: every frame it receives and sends, one line each.

    +0.004211 host InListPassiveTarget d4 4a 01 00
    +0.004230 chip ACK
    +0.004391 chip InListPassiveTarget d5 4b 01 01 00 44 20 07 04 a1 b2 c3 d4 e5 f6 05 78 80 70 02
    +0.051002 line 921600 baud

Directions: ``host`` (a frame the chip received), ``chip`` (a frame it sent),
``line`` (the chip's line changed: speed, sleep, wake-up) and ``noise``
(bytes the chip could not take as frames: a wake-up preamble, a frame at
another speed). Information frames show their TFI and data. The simulated
card's data is synthetic, so the tap needs no redaction.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..pn532 import protocol as p


@dataclass(frozen=True)
class TapEntry:
    seconds: float
    direction: str  # host | chip | line | noise
    name: str  # ACK, NACK, ERROR, a command name, or a line event
    body: bytes = b""

    def __str__(self) -> str:
        text = f"+{self.seconds:.6f} {self.direction} {self.name}"
        return f"{text} {self.body.hex(' ')}" if self.body else text


def describe_frame(frame: p.Frame) -> tuple[str, bytes]:
    """A frame's name and the bytes worth showing (TFI and data)."""
    if isinstance(frame, p.Ack):
        return "ACK", b""
    if isinstance(frame, p.Nack):
        return "NACK", b""
    if isinstance(frame, p.ErrorFrame):
        return "ERROR", b""
    body = bytes([frame.tfi]) + frame.data
    return (p.command_name(frame.data[0]) if frame.data else "empty"), body


#: Entries kept in memory; a file, given one, gets them all.
MAX_ENTRIES = 10_000


class FrameTap:
    """Keeps the latest tap entries in memory and, given a path, appends every one to a file."""

    def __init__(self, path: str | Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self.entries: deque[TapEntry] = deque(maxlen=MAX_ENTRIES)
        self._file: TextIO | None = open(path, "a", encoding="ascii", buffering=1) if path else None

    def frame(self, direction: str, frame: p.Frame) -> None:
        name, body = describe_frame(frame)
        self._add(direction, name, body)

    def note(self, direction: str, name: str, body: bytes = b"") -> None:
        self._add(direction, name, body)

    def _add(self, direction: str, name: str, body: bytes) -> None:
        entry = TapEntry(self._clock() - self._start, direction, name, body)
        with self._lock:
            self.entries.append(entry)
            if self._file is not None:
                self._file.write(f"{entry}\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def commands_sent(entries: "deque[TapEntry] | list[TapEntry]") -> list[str]:
    """The names of the commands the host sent, in order (for comparing dialogues)."""
    return [e.name for e in entries if e.direction == "host" and e.body[:1] == bytes([p.HOST_TO_CHIP])]

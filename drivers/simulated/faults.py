"""Wire faults for any simulated device: a broken link, not a broken printer.

``FaultyLink(device)`` is itself a SimulatedDevice (``feed(data) -> reply``)
that stands between the host and a simulated printer or reader and applies
the faults every device can suffer on its line:

* ``no_reply``: the device is deaf and mute; commands are swallowed and
  never reach it, so they change nothing.
* ``garbage``: the device answers every chunk it receives with random bytes
  from 0x80..0xFF instead of a reply. Such bytes are no protocol's: never
  printable ASCII, CR, NUL, ACK or NACK (an Evolis reply parser rejects the
  first one), never a PN532 preamble or start code (a PN532 host sees line
  noise and times out). The commands do not reach the device.
* ``slow_seconds``: each non-empty reply is held back that long.

Every other fault name goes to the device's own ``set_fault`` (the printer's
``jam_at_card``, ``cover_open``, ``mechanical_error``...; the reader's
``chip_absent``). ``faults`` is what was set through this link, so a control
channel can report it without reaching into the device. ``host_line_speed``
passes the speed a pty's host set on to a device that models its UART.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

WIRE_FAULTS: Mapping[str, type] = {"no_reply": bool, "garbage": bool, "slow_seconds": float}
#: Supplies are set through ``set_fault`` too, but a URI stocks them with cards= and ribbon=.
_SUPPLIES = frozenset({"feeder_cards", "ribbon_prints"})
#: Set only while running (a person's act): ``jammed`` false takes a jammed card out.
_RUNNING_ONLY = frozenset({"jammed"})
_GARBAGE_LOW = 0x80
_GARBAGE_MAX_LEN = 32

#: Fault names a simulated device of each role understands, with their value types.
#: ``None`` in a value means "off" for ``jam_at_card``.
DEVICE_FAULTS: Mapping[str, Mapping[str, type]] = {
    "printer": {
        "cover_open": bool, "jam_at_card": int, "jammed": bool, "feeder_cards": int, "ribbon_prints": int,
        "mechanical_error": bool, "chip_unreadable": bool, "cards_since_cleaning": int,
    },
    "reader": {"chip_absent": bool, "drop_acks": int, "rf_errors": int, "asleep": bool},
}


class FaultyDevice(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def set_fault(self, name: str, value: object) -> None: ...


class FaultyLink:
    """A SimulatedDevice wrapper applying no_reply, garbage and slow replies.

    With ``role`` ("printer" or "reader") device fault values are checked
    against DEVICE_FAULTS before they reach the device.
    """

    def __init__(
        self,
        device: FaultyDevice,
        *,
        role: str | None = None,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.device = device
        self._device_kinds = DEVICE_FAULTS[role] if role is not None else None
        self._wire: dict[str, object] = {"no_reply": False, "garbage": False, "slow_seconds": 0.0}
        self._device_faults: dict[str, object] = {}
        self._random = random.Random(seed)
        self._sleep = sleep
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> bytes:
        with self._lock:
            no_reply, garbage = self._wire["no_reply"], self._wire["garbage"]
            delay = float(self._wire["slow_seconds"])  # type: ignore[arg-type]
        if no_reply or not data:
            return b""
        reply = self._garbage() if garbage else self.device.feed(data)
        if reply and delay > 0:
            self._sleep(delay)
        return reply

    def set_fault(self, name: str, value: object) -> None:
        """Set a wire fault here, or pass any other fault to the device."""
        if name in WIRE_FAULTS:
            checked = check_fault_value(name, value, WIRE_FAULTS[name])
            with self._lock:
                self._wire[name] = checked
            return
        if self._device_kinds is not None:
            if name not in self._device_kinds:
                known = ", ".join(sorted({*WIRE_FAULTS, *self._device_kinds}))
                raise ValueError(f"unknown fault {name!r} (known: {known})")
            value = check_fault_value(name, value, self._device_kinds[name])
        self.device.set_fault(name, value)  # raises ValueError for an unknown name
        with self._lock:
            self._device_faults[name] = value

    def reconnected(self) -> None:
        """A new connection reached the device: a half-received command from the
        last one is dropped (forwarded to a device that can, as the printer)."""
        drop = getattr(self.device, "drop_partial_command", None)
        if drop is not None:
            drop()

    def host_line_speed(self, baud: int | None) -> None:
        """The host's line speed, for a device that models its UART speed (the PN532)."""
        tell = getattr(self.device, "host_line_speed", None)
        if tell is not None:
            tell(baud)

    @property
    def faults(self) -> dict[str, object]:
        """The wire faults and the device faults set through this link."""
        with self._lock:
            return {**self._wire, **self._device_faults}

    def _garbage(self) -> bytes:
        size = self._random.randrange(1, _GARBAGE_MAX_LEN + 1)
        return bytes(self._random.randrange(_GARBAGE_LOW, 256) for _ in range(size))


def check_fault_value(name: str, value: object, kind: type) -> object:
    """``value`` as ``kind``, or ValueError naming the fault; never a silent cast."""
    if kind is bool:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise ValueError(f"fault {name}: expected true or false, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise ValueError(f"fault {name}: expected seconds >= 0, got {value!r}")
    if kind is int:
        if value is None and name == "jam_at_card":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValueError(f"fault {name}: expected a whole number >= 0, got {value!r}")
    raise ValueError(f"fault {name}: unsupported kind {kind!r}")


def known_faults(role: str) -> dict[str, type]:
    """Every fault name a FaultyLink over a ``role`` device accepts."""
    return {**WIRE_FAULTS, **DEVICE_FAULTS[role]}


def fault_options(role: str) -> frozenset[str]:
    """The ``sim://`` URI options that set a ``role`` device's faults (see ``faults_from_options``)."""
    return (frozenset(known_faults(role)) - _SUPPLIES - _RUNNING_ONLY - {"slow_seconds"}) | {"slow_ms"}


def parse_fault_text(role: str, name: str, text: str) -> object:
    """A fault value from text (a URI option, a command-line flag)."""
    kinds = known_faults(role)
    if name not in kinds:
        raise ValueError(f"unknown {role} fault {name!r} (known: {', '.join(sorted(kinds))})")
    kind = kinds[name]
    raw = text.strip().lower()
    if kind is bool:
        if raw in ("1", "true", "yes", "on", ""):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"fault {name}: expected 1 or 0, got {text!r}")
    try:
        value: object = float(raw) if kind is float else int(raw)
    except ValueError:
        raise ValueError(f"fault {name}: {text!r} is not a number") from None
    return check_fault_value(name, value, kind)


def faults_from_options(role: str, options: Mapping[str, str]) -> dict[str, object]:
    """The faults named among ``sim://`` URI options; other options are not faults.

    Names are the fault names (``jam_at_card=3``, ``garbage=1``), except
    ``slow_ms`` for ``slow_seconds`` in milliseconds. Supplies are not taken
    here: a URI stocks a new simulator with ``cards=`` and ``ribbon=``.
    """
    kinds = known_faults(role)
    faults: dict[str, object] = {}
    for name, text in options.items():
        if name == "slow_ms":
            faults["slow_seconds"] = float(parse_fault_text(role, "slow_seconds", text)) / 1000.0  # type: ignore[arg-type]
        elif name in kinds and name not in _SUPPLIES | _RUNNING_ONLY:
            faults[name] = parse_fault_text(role, name, text)
    return faults

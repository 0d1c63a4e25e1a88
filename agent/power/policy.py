"""The power policy as pure functions: what a UPS reading means for the next blank.

A blank is never taken when the UPS could not carry the card it starts to
the end. The station holds (no new blank; the card in progress always
finishes) when the UPS is on battery and either says its battery is low
(``LB``), is told to shut down (``FSD``), or estimates less runtime than
``min_runtime_s``. Once held, it stays held until the UPS is back on mains
(``OL`` without ``OB``): a runtime estimate that rises again while the
load changes is not the mains coming back.

``min_runtime_s``, when the configuration does not give it, is twice the
printer's mean time for a card (one card that may just have started, and
one more as the safety factor) plus ``MARGIN_S`` for the station to stop
cleanly afterwards; before any card was measured, a card counts as
``ASSUMED_CARD_S``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Mapping

#: A card's time before the station has measured one (an Evolis Primacy YMCKO card with its chip
#: read takes about 25 s; rounded up).
ASSUMED_CARD_S = 30.0
#: What the station needs after its last card: the journal's outcome, the report queued, a clean stop.
MARGIN_S = 30.0


class PowerState(Enum):
    MAINS = "mains"
    BATTERY = "battery"            # on battery, enough runtime: keep printing
    LOW = "low-battery"            # on battery, not enough: no new blank until mains returns
    UNKNOWN = "unknown"            # no reading (upsd unreachable, garbage, slow): keep printing

    @property
    def holds(self) -> bool:
        return self is PowerState.LOW


@dataclass(frozen=True)
class UpsReading:
    flags: frozenset[str]           # ups.status words: OL, OB, LB, FSD, CHRG, ...
    charge_ratio: float | None      # battery.charge / 100
    runtime_s: float | None         # battery.runtime

    @property
    def on_battery(self) -> bool:
        return "OB" in self.flags

    @property
    def on_mains(self) -> bool:
        return "OL" in self.flags and "OB" not in self.flags


class ReadingError(ValueError):
    """The variables do not describe a UPS (no ``ups.status``, a number that is not one)."""


def parse_reading(variables: Mapping[str, str]) -> UpsReading:
    status = variables.get("ups.status")
    if status is None or not status.strip():
        raise ReadingError("no ups.status")
    charge = _number(variables, "battery.charge")
    return UpsReading(frozenset(status.split()), None if charge is None else charge / 100.0,
                      _number(variables, "battery.runtime"))


def _number(variables: Mapping[str, str], key: str) -> float | None:
    text = variables.get(key)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ReadingError(f"{key} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ReadingError(f"{key} is out of range")
    return value


def next_state(previous: PowerState, reading: UpsReading | None, min_runtime_s: float) -> PowerState:
    """The power state after ``reading`` (None: no reading could be had)."""
    if reading is None:
        return PowerState.UNKNOWN
    if not reading.on_battery:
        return PowerState.MAINS if reading.on_mains else PowerState.UNKNOWN
    if previous is PowerState.LOW or too_low(reading, min_runtime_s):
        return PowerState.LOW
    return PowerState.BATTERY


def too_low(reading: UpsReading, min_runtime_s: float) -> bool:
    if "LB" in reading.flags or "FSD" in reading.flags:
        return True
    return reading.runtime_s is not None and reading.runtime_s < min_runtime_s


def min_runtime(configured_s: float | None, card_s: float | None) -> float:
    """The runtime below which no blank is taken (see the module's note)."""
    if configured_s is not None:
        return configured_s
    card = card_s if card_s is not None and card_s > 0 else ASSUMED_CARD_S
    return round(2 * card + MARGIN_S, 1)


def hold_reason(state: PowerState, reading: UpsReading | None, min_runtime_s: float) -> str | None:
    """A sentence for logs and the status: why no blank is taken (None when one may be)."""
    if not state.holds or reading is None:
        return None
    if "FSD" in reading.flags:
        return "the UPS is shutting the station down (FSD): no new card until mains returns"
    if "LB" in reading.flags:
        return "the UPS battery is low (LB): no new card until mains returns"
    runtime = "unknown" if reading.runtime_s is None else f"{reading.runtime_s:.0f} s"
    return (f"on battery, and the UPS runtime ({runtime}) fell under the {min_runtime_s:.0f} s a card "
            "needs: no new card until mains returns")

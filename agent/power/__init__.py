"""The station's power: its UPS read through Network UPS Tools, and whether a new blank may be taken.

Public names: ``open_power`` (from the ``[power]`` configuration, the monitor
or ``MainsOnly`` when there is no UPS), ``BlankGate`` (what the print worker
asks), ``power_view`` and ``read_power_once`` (the ``PowerStatus`` part of the
station's status), ``PowerCollector`` (the metrics, read from the monitor at
scrape time) and ``UpsAddress`` (checked by the configuration).
"""
from __future__ import annotations

import threading
from typing import Callable, Protocol

from .collector import PowerCollector
from .monitor import PowerMonitor
from .nut import UpsAddress
from .policy import PowerState
from .power_status import PowerStatus, power_status


class BlankGate(Protocol):
    """What the print worker asks before a new blank; never waits on the network."""

    def may_take_blank(self) -> bool: ...

    def held(self, job_id: str) -> None: ...


class MainsOnly:
    """No UPS configured: a blank may always be taken, and there is nothing to show."""

    def may_take_blank(self) -> bool:
        return True

    def held(self, job_id: str) -> None:
        pass


def open_power(ups: str | None, min_runtime_s: float | None, stop: threading.Event,
               card_seconds: Callable[[], float | None], changed: Callable[[], None]) -> PowerMonitor | MainsOnly:
    if ups is None:
        return MainsOnly()
    return PowerMonitor(UpsAddress.parse(ups), min_runtime_s, stop, card_seconds, changed)


def power_view(power: BlankGate) -> PowerStatus | None:
    """The power part of the station's status; None without a UPS."""
    return power_status(power.snapshot()) if isinstance(power, PowerMonitor) else None


def read_power_once(ups: str | None, min_runtime_s: float | None) -> PowerStatus | None:
    """The daemon is down: ask upsd once (bounded by the exchange deadline) for ``status``/``diagnose``."""
    if ups is None:
        return None
    monitor = PowerMonitor(UpsAddress.parse(ups), min_runtime_s, threading.Event(), lambda: None, lambda: None)
    try:
        monitor.poll_once()
    finally:
        monitor.close()
    return power_status(monitor.snapshot())


__all__ = ["BlankGate", "MainsOnly", "PowerCollector", "PowerMonitor", "PowerState", "PowerStatus", "UpsAddress",
           "open_power", "power_view", "read_power_once"]

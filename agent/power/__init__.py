"""The station's power: its UPS read through Network UPS Tools, and whether a new blank may be taken.

Public names: ``open_power`` (from the ``[power]`` configuration, the monitor
or ``MainsOnly`` when there is no UPS), ``power_view`` (the status part) and
``PowerCollector`` (the metrics).
"""
from __future__ import annotations

import threading
from typing import Callable, Protocol

from .collector import PowerCollector
from .monitor import PowerMonitor, view
from .nut import UpsAddress


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


def power_view(power: PowerMonitor | MainsOnly) -> dict | None:
    return view(power.snapshot()) if isinstance(power, PowerMonitor) else None


def read_power_once(ups: str | None, min_runtime_s: float | None) -> dict | None:
    """The daemon is down: ask upsd once (bounded by the exchange deadline) for ``status``/``diagnose``."""
    if ups is None:
        return None
    monitor = PowerMonitor(UpsAddress.parse(ups), min_runtime_s, threading.Event(), lambda: None, lambda: None)
    try:
        monitor.poll_once()
    finally:
        monitor.close()
    return view(monitor.snapshot())


__all__ = ["BlankGate", "MainsOnly", "PowerCollector", "PowerMonitor", "open_power", "power_view", "read_power_once"]

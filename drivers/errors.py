"""The drivers floor's exception family.

Library exceptions (pyserial, pyusb, OSError) are translated into these at
the transport boundary, so the agent never sees a library's own types.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DriverError(Exception):
    """Base of every error raised by the drivers floor."""


class TransportError(DriverError):
    """Bytes could not be moved."""


class DisconnectedError(TransportError):
    """The device went away (cable pulled, pty closed, ENODEV)."""


class TransportTimeoutError(TransportError):
    """No byte arrived before the deadline."""


class ProtocolError(DriverError):
    """The device answered something the protocol does not allow."""


class UnsupportedDeviceError(DriverError):
    """A device URI names a scheme or device this build cannot open."""


class Severity(Enum):
    """PWG printer-state-reasons severity suffixes."""

    REPORT = "report"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, order=True)
class StateReason:
    """One PWG/IPP ``printer-state-reasons`` keyword with its severity."""

    keyword: str
    severity: Severity

    def __str__(self) -> str:
        return f"{self.keyword}-{self.severity.value}"

    @property
    def stops_printing(self) -> bool:
        return self.severity is Severity.ERROR


class DeviceFaultError(DriverError):
    """The device reported a condition that stops the current operation."""

    def __init__(self, reason: StateReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}" + (f": {detail}" if detail else ""))

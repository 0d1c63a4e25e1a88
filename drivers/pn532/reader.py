"""The contactless reader at the printer's station, built on the PN532 command layer."""
from __future__ import annotations

import time
from typing import Callable

from ..errors import ProtocolError
from ..interfaces import ChipTarget
from ..transport import Transport
from .commands import HsuLink, Pn532
from .protocol import FirmwareVersion, TargetType

PN532_IC = 0x32
#: Passive-activation retries per InListPassiveTarget, so a poll returns when no card answers.
POLL_RETRIES = 0x02


class Pn532Reader:
    """A ``drivers.interfaces.Reader`` over any PN532 link."""

    def __init__(
        self,
        pn532: Pn532,
        *,
        command_timeout: float = 1.0,
        poll_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pn532 = pn532
        self._command_timeout = command_timeout
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._version: FirmwareVersion | None = None
        self._selected_tg: int | None = None

    @classmethod
    def over_hsu(cls, transport: Transport, *, command_timeout: float = 1.0, poll_interval: float = 0.05) -> "Pn532Reader":
        """Wake a PN532 on a serial line, configure it for polling and check it is one.

        On failure the transport is left open: it belongs to the caller until
        a reader is returned.
        """
        link = HsuLink(transport)
        link.wakeup()
        pn532 = Pn532(link, timeout=command_timeout)
        pn532.sam_configure()
        pn532.set_max_retries(passive_activation=POLL_RETRIES)
        version = pn532.firmware_version()
        if version.ic != PN532_IC:
            raise ProtocolError(f"the chip reports IC 0x{version.ic:02X}, not a PN532 (0x32)")
        reader = cls(pn532, command_timeout=command_timeout, poll_interval=poll_interval)
        reader._version = version
        return reader

    def firmware(self) -> str:
        if self._version is None:
            self._version = self._pn532.firmware_version(self._command_timeout)
        return str(self._version)

    def find_card(self, timeout: float = 1.0) -> ChipTarget | None:
        """Poll for one ISO 14443-A card until ``timeout``; at least one poll is made."""
        deadline = self._clock() + timeout
        while True:
            targets = self._pn532.list_passive_target(TargetType.TYPE_A_106, 1, self._command_timeout)
            if targets:
                self._selected_tg = targets[0].tg
                return ChipTarget(targets[0].uid, "A")
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            self._sleep(min(self._poll_interval, remaining))

    def release(self) -> None:
        if self._selected_tg is None:
            return
        tg, self._selected_tg = self._selected_tg, None
        self._pn532.release(tg, self._command_timeout)

    def close(self) -> None:
        self._pn532.close()

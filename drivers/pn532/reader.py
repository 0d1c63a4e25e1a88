"""The contactless reader at the printer's station, built on the PN532 command layer.

The dialogue follows what libnfc and nfcpy do with real chips
(docs/reader-dialogues.md): at open, wake the chip, leave low-power mode
(SAMConfiguration), test the line (Diagnose echo), check the chip, set the
parameters the UID parser relies on (SetParameters: automatic RATS, so an
ISO 14443-4 blank's target data ends with its ATS), bound the polling
retries and switch the field off so every card starts afresh. A poll that
finds nothing, or a card exchange that fails on the air, is tried again a
bounded number of times. After a card is released the field goes off: the
release DESELECTs the card, and only a field reset makes it answer a later
poll (PN532s poll with REQA, which a halted card ignores). Closing never
powers the chip down.
"""
from __future__ import annotations

import itertools
import time
from typing import Callable

import structlog

from ..errors import ProtocolError
from ..interfaces import ChipTarget
from ..transport import Transport
from .commands import HsuLink, Pn532
from .protocol import PARAM_AUTO_ATR_RES, PARAM_AUTO_RATS, RF_ERRORS, ChipStatusError, FirmwareVersion, TargetType

_log = structlog.get_logger(__name__)

PN532_IC = 0x32
#: Passive-activation retries per InListPassiveTarget, so a poll returns when no card answers.
POLL_RETRIES = 0x02
#: SetParameters at open: automatic ATR_RES and RATS (as libnfc sets them). The chip cannot
#: report its parameters and another host may have changed them (nfcpy clears them all).
PARAMETERS = PARAM_AUTO_ATR_RES | PARAM_AUTO_RATS
#: How many times a poll or a card exchange is retried after an RF error, whatever the timeout.
RF_RETRIES = 2


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
        return cls.configure(Pn532(link, timeout=command_timeout), command_timeout=command_timeout,
                             poll_interval=poll_interval)

    @classmethod
    def configure(cls, pn532: Pn532, *, command_timeout: float = 1.0, poll_interval: float = 0.05) -> "Pn532Reader":
        """Set up an awake chip on any link for the station's polling; check it is a PN532."""
        pn532.sam_configure()
        pn532.check_line()
        version = pn532.firmware_version()
        if version.ic != PN532_IC:
            raise ProtocolError(f"the chip reports IC 0x{version.ic:02X}, not a PN532 (0x32)")
        pn532.set_parameters(PARAMETERS)
        pn532.set_max_retries(passive_activation=POLL_RETRIES)
        pn532.rf_field(False)
        reader = cls(pn532, command_timeout=command_timeout, poll_interval=poll_interval)
        reader._version = version
        return reader

    def firmware(self) -> str:
        if self._version is None:
            self._version = self._pn532.firmware_version(self._command_timeout)
        return str(self._version)

    def find_card(self, timeout: float = 1.0) -> ChipTarget | None:
        """Poll for one ISO 14443-A card until ``timeout``, and at least ``1 + RF_RETRIES`` times."""
        deadline = self._clock() + timeout
        for poll in itertools.count():
            targets = self._pn532.list_passive_target(TargetType.TYPE_A_106, 1, self._command_timeout)
            if targets:
                self._selected_tg = targets[0].tg
                if poll:
                    _log.debug("pn532.card_found_after_retries", polls=poll + 1)
                return ChipTarget(targets[0].uid, "A")
            remaining = deadline - self._clock()
            if remaining <= 0 and poll >= RF_RETRIES:
                return None
            self._sleep(min(self._poll_interval, max(remaining, 0.0)))
        raise AssertionError("unreachable")

    def exchange(self, apdu: bytes) -> bytes:
        """An APDU to the card ``find_card`` found; its answer. RF errors are retried ``RF_RETRIES`` times."""
        if self._selected_tg is None:
            raise ProtocolError("no card is selected: find_card first")
        for attempt in range(RF_RETRIES + 1):
            try:
                return self._pn532.data_exchange(self._selected_tg, apdu, self._command_timeout)
            except ChipStatusError as error:
                if error.status not in RF_ERRORS or attempt == RF_RETRIES:
                    raise
                _log.info("pn532.rf_error_retried", status=error.status_name, attempt=attempt + 1)
        raise AssertionError("unreachable")

    def release(self) -> None:
        if self._selected_tg is None:
            return
        tg, self._selected_tg = self._selected_tg, None
        self._pn532.release(tg, self._command_timeout)
        self._pn532.rf_field(False, self._command_timeout)

    def close(self) -> None:
        self._pn532.close()

"""The PN532 command layer, shared by every way of reaching the chip.

``Pn532`` speaks commands (code + parameters, no TFI) over a *link*. A link
carries one command and returns its response: ``HsuLink`` frames it on a
serial line (PN532 HSU); a USB link for the ACR122U will wrap the same bytes
in CCID pseudo-APDUs and needs nothing else from this module.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Protocol

import structlog

from ..errors import TransportError, TransportTimeoutError
from ..transport import Transport
from . import protocol as p

_log = structlog.get_logger(__name__)

#: HSU wake-up from power-down: 55 55 then a long run of zeros (PN532 manual, HSU wake-up).
WAKEUP_PREAMBLE = b"\x55\x55" + bytes(14)
#: Diagnose's communication line test data: the chip echoes it (libnfc checks the line this way).
LINE_TEST = b"ktp-agent"


class Link(Protocol):
    """One command in, its response out."""

    def exchange(self, command: bytes, timeout: float) -> bytes:
        """Send ``command`` (code + params); return the response (code + 1, data).

        Raises TransportTimeoutError when no response came within ``timeout``
        and ProtocolError when the chip answered something malformed.
        """

    def close(self) -> None:
        """Release the underlying transport; idempotent."""


class Pn532:
    """The PN532 operations the station uses, independent of the link."""

    def __init__(self, link: Link, *, timeout: float = 1.0) -> None:
        self._link = link
        self._timeout = timeout
        self._parameters: int | None = None  # SetParameters flags, once this host has set them

    def _run(self, command: bytes, timeout: float | None) -> bytes:
        return self._link.exchange(command, self._timeout if timeout is None else timeout)

    def check_line(self, timeout: float | None = None) -> None:
        """Diagnose's communication line test: the chip must echo the test data unchanged."""
        command = bytes([p.Command.DIAGNOSE, 0x00]) + LINE_TEST
        echo = p.response_payload(p.Command.DIAGNOSE, self._run(command, timeout))
        if echo != command[1:]:
            raise p.UnexpectedResponseError("the chip's Diagnose echo differs from what was sent")

    def set_parameters(self, flags: int, timeout: float | None = None) -> None:
        """SetParameters; the chip cannot tell them back, so they are remembered here."""
        p.decode_set_parameters(self._run(p.encode_set_parameters(flags), timeout))
        self._parameters = flags

    def rf_field(self, on: bool, timeout: float | None = None) -> None:
        p.decode_rf_configuration(self._run(p.encode_rf_field(on), timeout))

    def firmware_version(self, timeout: float | None = None) -> p.FirmwareVersion:
        return p.decode_get_firmware_version(self._run(p.encode_get_firmware_version(), timeout))

    def sam_configure(self, mode: p.SamMode = p.SamMode.NORMAL, timeout: float | None = None) -> None:
        p.decode_sam_configuration(self._run(p.encode_sam_configuration(mode), timeout))

    def set_max_retries(
        self, atr: int = 0xFF, psl: int = 0x01, passive_activation: int = 0xFF, timeout: float | None = None
    ) -> None:
        command = p.encode_rf_max_retries(atr, psl, passive_activation)
        p.decode_rf_configuration(self._run(command, timeout))

    def list_passive_target(
        self,
        target_type: p.TargetType = p.TargetType.TYPE_A_106,
        max_targets: int = 1,
        timeout: float | None = None,
    ) -> list[p.PassiveTarget]:
        command = p.encode_in_list_passive_target(target_type, max_targets)
        auto_rats = self._parameters is None or bool(self._parameters & p.PARAM_AUTO_RATS)
        return p.decode_in_list_passive_target(self._run(command, timeout), target_type, auto_rats=auto_rats)

    def data_exchange(self, tg: int, data: bytes, timeout: float | None = None) -> bytes:
        return p.decode_in_data_exchange(self._run(p.encode_in_data_exchange(tg, data), timeout))

    def release(self, tg: int = 0, timeout: float | None = None) -> None:
        p.decode_in_release(self._run(p.encode_in_release(tg), timeout))

    def close(self) -> None:
        self._link.close()


class HsuLink:
    """PN532 frames over a byte transport (the chip's High Speed UART).

    Each exchange discards stale input, writes the frame and waits for the
    chip's ACK (resending on NACK, a bounded number of times), then for the
    response frame. A bad response frame is answered with NACK so the chip
    resends it, also bounded. One deadline covers the whole exchange.

    What real hosts taught it (docs/reader-dialogues.md):

    * a chip that sends no ACK at all within its share of the deadline may
      have fallen asleep or lost the frame's start: the link sends the HSU
      wake-up preamble and an ACK (which cancels anything half-received)
      and sends the command again, ``max_rewakes`` times;
    * a response that comes without its ACK (the ACK was lost on the line)
      is taken, once it answers the command;
    * when the deadline passes the host sends ACK, which cancels the chip's
      pending command, and raises TransportTimeoutError;
    * ``close`` sends that ACK too and never powers the chip down: some
      boards stop answering on HSU after PowerDown.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        max_resends: int = 2,
        max_rewakes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._parser = p.FrameParser()
        self._frames: deque[p.Frame] = deque()
        self._max_resends = max_resends
        self._max_rewakes = max_rewakes
        self._clock = clock

    def wakeup(self) -> None:
        """Bring the chip out of power-down; follow with SAMConfiguration."""
        self._transport.write(WAKEUP_PREAMBLE)

    def exchange(self, command: bytes, timeout: float) -> bytes:
        if not command:
            raise ValueError("a PN532 command needs at least its code")
        deadline = self._clock() + timeout
        frame = p.build_frame(p.HOST_TO_CHIP, command)
        try:
            response = self._send_until_acked(frame, deadline)
            if response is None:
                response = self._await_response(deadline)
        except TransportTimeoutError:
            self._cancel()
            raise
        p.response_payload(command[0], response)
        return response

    def close(self) -> None:
        try:
            self._cancel()
        except TransportError:
            pass  # already unplugged: nothing to cancel
        self._transport.close()

    def _send_until_acked(self, frame: bytes, deadline: float) -> bytes | None:
        """Send ``frame`` until the chip ACKs it; a response that came without its ACK is returned."""
        for rewakes_left in range(self._max_rewakes, -1, -1):
            self._discard_stale_input()
            self._transport.write(frame)
            share = (deadline - self._clock()) / (rewakes_left + 1)
            try:
                return self._await_ack(frame, self._clock() + share)
            except TransportTimeoutError:
                if rewakes_left == 0:
                    raise
            _log.info("pn532.ack_missed", action="re-wake and resend")
            self._transport.write(WAKEUP_PREAMBLE + p.ACK_FRAME)
        raise AssertionError("unreachable")

    def _await_ack(self, frame: bytes, deadline: float) -> bytes | None:
        resends = 0
        while True:
            item = self._next_frame(deadline)
            if isinstance(item, p.Ack):
                return None
            if isinstance(item, p.Nack) and resends < self._max_resends:
                resends += 1
                _log.debug("pn532.command_resent", reason="nack")
                self._transport.write(frame)
                continue
            if isinstance(item, p.InformationFrame) and item.tfi == p.CHIP_TO_HOST:
                _log.info("pn532.ack_lost", action="response taken")
                return item.data
            if isinstance(item, p.ErrorFrame):
                raise p.ErrorFrameReceivedError("the chip answered with an error frame (syntax error)")
            raise p.UnexpectedResponseError(f"expected ACK from the chip, got {type(item).__name__}")

    def _await_response(self, deadline: float) -> bytes:
        nacks = 0
        while True:
            try:
                item = self._next_frame(deadline)
            except p.FrameError:
                if nacks >= self._max_resends:
                    raise
                nacks += 1
                _log.debug("pn532.response_nacked")
                self._transport.write(p.NACK_FRAME)
                continue
            if isinstance(item, p.ErrorFrame):
                raise p.ErrorFrameReceivedError("the chip answered with an error frame (syntax error)")
            if isinstance(item, p.InformationFrame):
                if item.tfi != p.CHIP_TO_HOST:
                    raise p.UnexpectedResponseError(f"response frame has TFI 0x{item.tfi:02X}, expected D5")
                return item.data
            # A repeated ACK or a NACK while the chip works on the command: nothing to do.

    def _next_frame(self, deadline: float) -> p.Frame:
        """The next complete frame, reading until ``deadline``."""
        data = b""  # first parse what the parser still holds after an error
        while not self._frames:
            self._frames.extend(self._parser.feed(data))
            if self._frames:
                break
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise TransportTimeoutError("the PN532 did not answer in time")
            data = self._transport.read(512, remaining)
        return self._frames.popleft()

    def _cancel(self) -> None:
        _log.debug("pn532.command_cancelled")
        self._transport.write(p.ACK_FRAME)

    def _discard_stale_input(self, budget: int = 4096) -> None:
        self._parser.reset()
        self._frames.clear()
        while budget > 0:
            try:
                budget -= len(self._transport.read(budget, 0.0))
            except TransportTimeoutError:
                return


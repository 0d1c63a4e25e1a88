"""EvolisPrinter: an Evolis card printer over any byte transport.

The device class composes a Transport (serial line, pty, USB bulk pipe,
in-process pipe) with the escape-command framing of ``protocol``. It sends
one command, waits for its one reply (delimited by the terminator, never by
timing) and turns NACK codes into the drivers floor's exceptions:

* ``F`` -> DeviceFaultError(media-empty-error), remembered and reported by
  ``status()`` until a later card movement (``Sic``, ``Si``, ``Se``, ``St``)
  or a reset / clear-status command succeeds;
* ``R`` -> marker-supply-empty-error, ``C`` -> cover-open-error,
  ``T`` -> media-jam-error;
* ``1`` / ``2`` -> ProtocolError naming the command (never its data).

TransportTimeoutError and DisconnectedError propagate unchanged. After a
timeout, garbage or an unexpected extra reply, the next command first
discards whatever input is pending.
"""
from __future__ import annotations

from dataclasses import dataclass

import time

from ..errors import DeviceFaultError, ProtocolError, Severity, StateReason, TransportTimeoutError
from ..interfaces import CardFace, CardPosition, PrinterIdentity, PrinterStatus
from ..transport import Transport
from .panels import RIBBON_PANELS, PanelEncoder
from .protocol import (
    EvolisReplyError, Reply, ReplyKind, ReplyParser, encode_command, encode_download,
)

#: ``Pem`` mode: 2 = the host handles errors, 4 = ACK/NACK on.
ERROR_MODE = 6

_NACK_REASONS = {
    "F": StateReason("media-empty", Severity.ERROR),
    "R": StateReason("marker-supply-empty", Severity.ERROR),
    "C": StateReason("cover-open", Severity.ERROR),
    "T": StateReason("media-jam", Severity.ERROR),
}
_NACK_MEANING = {"1": "rejected the command", "2": "rejected a parameter of"}
_CLEARS_FEEDER_FAULT = frozenset({"Sic", "Si", "Se", "St", "Srs", "Scs"})
_COVER_OPEN = StateReason("cover-open", Severity.ERROR)
_RIBBON_EMPTY = StateReason("marker-supply-empty", Severity.ERROR)
_RIBBON_LOW = StateReason("marker-supply-low", Severity.WARNING)
_UNSUPPORTED_RIBBON = StateReason("marker-supply-missing", Severity.ERROR)
_READ_SIZE = 512
_DISCARD_QUIET = 0.05
_DISCARD_LIMIT = 1.0


@dataclass(frozen=True)
class EvolisPrintJob:
    """A card face already encoded into panels for one ribbon type."""

    ribbon: str
    panels: tuple[tuple[str, int, bytes], ...]
    face: CardFace | None = None

    def __repr__(self) -> str:
        return f"EvolisPrintJob(ribbon={self.ribbon!r}, panels={len(self.panels)})"


class EvolisPrinter:
    """A Printer (see drivers.interfaces) speaking Evolis escape commands."""

    def __init__(
        self,
        transport: Transport,
        *,
        reply_timeout: float = 5.0,
        print_timeout: float = 120.0,
        ribbon_low_threshold: int = 10,
    ) -> None:
        self._transport = transport
        self._parser = ReplyParser()
        self._reply_timeout = reply_timeout
        self._print_timeout = print_timeout
        self._ribbon_low_threshold = ribbon_low_threshold
        self._panels = PanelEncoder()
        self._feeder_fault: StateReason | None = None
        self._ribbon_seen = ""   # Rr's last answer, lower case; read by prepare() on other threads
        self._input_suspect = True
        # The printer may still be outside ACK/NACK mode: accept a plain reply.
        self._command("Pem", ERROR_MODE, plain_ok=True)

    # -- Printer -----------------------------------------------------------

    def identity(self) -> PrinterIdentity:
        return PrinterIdentity(
            model=self._command("Rtp"),
            serial=self._command("Rsn"),
            firmware=self._command("Rfv"),
            head_kit=self._command("Rkn"),
        )

    def status(self) -> PrinterStatus:
        ribbon_type = self._command("Rr")
        self._ribbon_seen = ribbon_type.lower()
        ribbon_state = self._command("Rcr")
        remaining = int(ribbon_state) if ribbon_state.isdigit() else None
        cards = self.cards_inserted()
        panels = self._counter("p")
        position = self.card_position()
        cover = self._command("Rse", "o")
        if cover not in ("OPEN", "CLOSED"):
            raise ProtocolError(f"Rse;o: unexpected cover state {cover!r}")
        reasons = set()
        if cover == "OPEN":
            reasons.add(_COVER_OPEN)
        if remaining == 0:
            reasons.add(_RIBBON_EMPTY)
        elif remaining is not None and remaining <= self._ribbon_low_threshold:
            reasons.add(_RIBBON_LOW)
        if self._feeder_fault is not None:
            reasons.add(self._feeder_fault)
        return PrinterStatus(
            reasons=tuple(sorted(reasons)),
            card_position=position,
            cards_inserted=cards,
            panels_printed=panels,
            ribbon_type=ribbon_type,
            ribbon_remaining=remaining,
            detail={"cover": cover.lower(), "ribbon_state": ribbon_state},
        )

    def cards_inserted(self) -> int:
        return self._counter("c")

    def card_position(self) -> CardPosition:
        text = self._command("Rlr", "p")
        try:
            return CardPosition(text)
        except ValueError:
            raise ProtocolError(f"Rlr;p: unknown card position {text!r}") from None

    def insert_to_contactless(self) -> None:
        self._command("Sic")

    def prepare(self, front: CardFace) -> "EvolisPrintJob":
        """Encode ``front`` into panels for the ribbon last seen. Pure CPU, no device I/O:
        safe to call from any thread while this printer prints another card."""
        ribbon = self._ribbon_seen if self._ribbon_seen in RIBBON_PANELS else "ymcko"
        return EvolisPrintJob(ribbon, tuple(self._panels.encode(front, ribbon)), front)

    def print_card(self, front: "CardFace | EvolisPrintJob") -> None:
        ribbon = self._command("Rr").lower()
        self._ribbon_seen = ribbon
        if ribbon not in RIBBON_PANELS:
            raise DeviceFaultError(_UNSUPPORTED_RIBBON, f"ribbon type {ribbon!r} cannot print a card face")
        if isinstance(front, EvolisPrintJob) and front.ribbon == ribbon:
            panels = front.panels
        else:
            face = front.face if isinstance(front, EvolisPrintJob) else front
            panels = self._panels.encode(face, ribbon)
        self._command("Pr", ribbon)
        self._command("Ss")
        self._command("Sr")
        for panel, levels, data in panels:
            self._exchange(encode_download(panel, levels, data), f"Db;{panel};{levels}")
        # Se is answered once the card is printed and ejected.
        self._command("Se", timeout=self._print_timeout)

    def reject_card(self) -> None:
        self._command("Ser")

    def close(self) -> None:
        self._transport.close()

    # -- maintenance -------------------------------------------------------

    def reset(self) -> None:
        self._command("Srs", timeout=self._print_timeout)

    def clear_status(self) -> None:
        self._command("Scs")

    def test_card(self) -> None:
        self._command("St", timeout=self._print_timeout)

    # -- one command, one reply --------------------------------------------

    def _counter(self, which: str) -> int:
        text = self._command("Rco", which)
        if not text.isdigit():
            raise ProtocolError(f"Rco;{which}: counter is not a number: {text!r}")
        return int(text)

    def _command(self, mnemonic: str, *params: object, timeout: float | None = None,
                 plain_ok: bool = False) -> str:
        name = ";".join([mnemonic, *map(str, params)])
        return self._exchange(encode_command(mnemonic, *params), name, timeout, plain_ok)

    def _exchange(self, frame: bytes, name: str, timeout: float | None = None,
                  plain_ok: bool = False) -> str:
        """Send one frame and interpret its reply; ``name`` is safe to log."""
        if self._input_suspect:
            self._discard_input()
        self._input_suspect = True
        self._transport.write(frame)
        reply = self._await_reply(name, self._reply_timeout if timeout is None else timeout)
        self._input_suspect = self._parser.pending
        return self._interpret(reply, name, plain_ok)

    def _await_reply(self, name: str, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            chunk = self._transport.read(_READ_SIZE, max(deadline - time.monotonic(), 0.0))
            try:
                replies = self._parser.feed(chunk)
            except EvolisReplyError as exc:
                raise EvolisReplyError(f"{name}: {exc}") from None
            if len(replies) > 1:
                raise ProtocolError(f"{name}: {len(replies)} replies to one command")
            if replies:
                return replies[0]

    def _interpret(self, reply: Reply, name: str, plain_ok: bool) -> str:
        if reply.kind is ReplyKind.NACK:
            raise self._nack_error(reply.code or "", name)
        if reply.kind is ReplyKind.TEXT and not plain_ok:
            raise ProtocolError(f"{name}: reply without ACK in ACK/NACK mode")
        if name.split(";", 1)[0] in _CLEARS_FEEDER_FAULT:
            self._feeder_fault = None
        return reply.text

    def _nack_error(self, code: str, name: str) -> Exception:
        reason = _NACK_REASONS.get(code)
        if reason is None:
            meaning = _NACK_MEANING.get(code, f"answered NACK {code!r} to")
            return ProtocolError(f"printer {meaning} {name}")
        if code == "F":
            self._feeder_fault = reason
        return DeviceFaultError(reason, f"NACK {code} to {name}")

    def _discard_input(self) -> None:
        """Drop stale bytes (a late reply, garbage) until the line is quiet."""
        limit = time.monotonic() + _DISCARD_LIMIT
        while time.monotonic() < limit:
            try:
                self._transport.read(4096, _DISCARD_QUIET)
            except TransportTimeoutError:
                break
        self._parser.reset()
        self._input_suspect = False

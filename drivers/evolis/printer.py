"""EvolisPrinter: an Evolis card printer over any byte transport.

The device class composes a Transport (serial line, pty, USB bulk pipe,
in-process pipe) with the framing of ``protocol`` and the job streams of
``jobs``. It sends one command, waits for its one reply (delimited by the
framing, never by timing) and reads the printer's state from it.

* Generation: the Primacy generation (replies with a status block) or the
  Rev E generation (Pebble, Dualys: bare NUL-ended replies). Given, or
  chosen by the model ``Rtp`` reports; the reply framing is recognised on
  the first reply either way.
* Error mode: at open the printer's own mode is read (``Rem;1``) and the
  host takes errors over (``Pem;2``); ``close()`` restores the mode read.
  ``Pem;6`` is never sent.
* A print job on the Primacy generation runs inside a session
  (``Psid;2;45`` .. ``Psid;0;45``); it is done when the information word's
  ``CLAIM`` flag, raised by the job's ``Pcla;1``, is clear again after its
  ``Pcla;0``, not when ``Se`` is answered.
* Conditions: status words and error replies become DeviceFaultError with
  the PWG reason (see ``reasons``); a command or parameter error becomes
  ProtocolError naming the command (never its data). TransportTimeoutError
  and DisconnectedError propagate unchanged. After a timeout, garbage or an
  unexpected extra reply, the next command first discards pending input.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from ..errors import DeviceFaultError, ProtocolError, StateReason
from ..interfaces import CardFace, CardPosition, PrinterIdentity, PrinterStatus
from ..transport import Transport
from . import jobs, reasons
from .link import EvolisLink
from .panels import RIBBON_PANELS, PanelEncoder
from .protocol import Framing, Reply, ReplyKind
from .status import StatusWords

#: ``Pem`` value: the host handles errors.
HOST_HANDLES_ERRORS = 2
PRINT_SESSION = 2
SESSION_TIMEOUT_S = 45
_CLEARS_FEEDER_FAULT = frozenset({"Sic", "Si", "Se", "St", "Srs", "Scs"})
_CLAIM_POLL_S = 0.05


class Generation(Enum):
    PRIMACY = "primacy"
    REV_E = "rev-e"


#: Models of the Rev E generation, and models that take 128 colour levels (7 bits a dot).
REV_E_MODELS = ("pebble", "dualys")
COLOUR_128_MODELS = ("zenius", "quantum 2", "quantum2")


def generation_for_model(model: str) -> Generation:
    name = model.lower()
    return Generation.REV_E if any(m in name for m in REV_E_MODELS) else Generation.PRIMACY


def colour_levels_for_model(model: str) -> int:
    name = model.lower()
    return 128 if any(m in name for m in COLOUR_128_MODELS) else 256


@dataclass(frozen=True)
class EvolisPrintJob:
    """A card face already encoded into panels for one ribbon type and colour level count."""

    ribbon: str
    levels: int
    panels: tuple[tuple[str, int, bytes], ...]
    face: CardFace | None = None

    def __repr__(self) -> str:
        return f"EvolisPrintJob(ribbon={self.ribbon!r}, levels={self.levels}, panels={len(self.panels)})"


class EvolisPrinter:
    """A Printer (see drivers.interfaces) speaking Evolis escape commands."""

    def __init__(
        self,
        transport: Transport,
        *,
        generation: Generation | None = None,
        reply_timeout: float = 5.0,
        print_timeout: float = 120.0,
        ribbon_low_threshold: int = 10,
        link_bytes_per_s: float | None = None,
    ) -> None:
        self._link = EvolisLink(transport, Framing.AUTO, reply_timeout, link_bytes_per_s)
        self._print_timeout = print_timeout
        self._ribbon_low_threshold = ribbon_low_threshold
        self._feeder_fault: StateReason | None = None
        self._ribbon_seen = ""   # Rr's last answer, lower case; read by prepare() on other threads
        self.model = self._command("Rtp")
        self.generation = generation or generation_for_model(self.model)
        self.colour_levels = colour_levels_for_model(self.model)
        self._panels = PanelEncoder(colour_levels=self.colour_levels)
        self._saved_error_mode: str | None = None
        if self._link.framing is Framing.STATUS_BLOCK:
            self._saved_error_mode = self._command("Rem", 1)
            self._command("Pem", HOST_HANDLES_ERRORS)

    # -- Printer -----------------------------------------------------------

    def identity(self) -> PrinterIdentity:
        return PrinterIdentity(
            model=self._command("Rtp"),
            serial=self._command("Rsn"),
            firmware=self._command("Rfv"),
            head_kit=self._command("Rkn"),
        )

    def status(self) -> PrinterStatus:
        position = self.card_position()
        words = self._link.last_status
        cards = self.cards_inserted()
        panels = self._counter("p")
        ribbon_type = self._command("Rr")
        self._ribbon_seen = ribbon_type.lower()
        ribbon_state = self._command("Rcr")
        remaining = int(ribbon_state) if ribbon_state.isdigit() else None
        detail = {"ribbon_state": ribbon_state, "generation": self.generation.value}
        if words is not None:
            found = set(reasons.reasons_from_status(words))
            cleaning = self._command("Rco", "clean")
            detail["cleaning"] = cleaning
            detail["cover"] = "open" if reasons.COVER_OPEN in found else "closed"
            detail["flags"] = " ".join(words.names())
        else:
            found = self._rev_e_reasons(detail)
        if remaining == 0:
            found.add(reasons.RIBBON_EMPTY)
        elif remaining is not None and remaining <= self._ribbon_low_threshold:
            found.add(reasons.RIBBON_LOW)
        return PrinterStatus(
            reasons=tuple(sorted(found)),
            card_position=position,
            cards_inserted=cards,
            panels_printed=panels,
            ribbon_type=ribbon_type,
            ribbon_remaining=remaining,
            detail=detail,
            cards_since_cleaning=_leading_number(detail.get("cleaning", "")),
        )

    def _rev_e_reasons(self, detail: dict[str, str]) -> set[StateReason]:
        cover = self._command("Rse", "o")
        if cover not in ("OPEN", "CLOSED"):
            raise ProtocolError(f"Rse;o: unexpected cover state {cover!r}")
        detail["cover"] = cover.lower()
        found = {reasons.COVER_OPEN} if cover == "OPEN" else set()
        if self._feeder_fault is not None:
            found.add(self._feeder_fault)
        return found

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

    def prepare(self, front: CardFace) -> EvolisPrintJob:
        """Encode ``front`` into panels for the ribbon last seen. Pure CPU, no device I/O:
        safe to call from any thread while this printer prints another card."""
        ribbon = self._ribbon_seen if self._ribbon_seen in RIBBON_PANELS else "ymcko"
        return EvolisPrintJob(ribbon, self.colour_levels, tuple(self._encode(front, ribbon)), front)

    def print_card(self, front: CardFace | EvolisPrintJob) -> None:
        ribbon = self._command("Rr").lower()
        self._ribbon_seen = ribbon
        if ribbon not in RIBBON_PANELS:
            raise DeviceFaultError(reasons.RIBBON_MISSING, f"ribbon type {ribbon!r} cannot print a card face")
        if isinstance(front, EvolisPrintJob) and (front.ribbon, front.levels) == (ribbon, self.colour_levels):
            panels = front.panels
        else:
            face = front.face if isinstance(front, EvolisPrintJob) else front
            assert face is not None
            panels = tuple(self._encode(face, ribbon))
        if self.generation is Generation.REV_E:
            self._send_steps(jobs.rev_e_job(ribbon, panels))
            return
        self._command("Psid", PRINT_SESSION, SESSION_TIMEOUT_S)
        try:
            self._print_primacy(ribbon, panels)
        finally:
            self._link.best_effort(("Psid", 0, SESSION_TIMEOUT_S))

    def reject_card(self) -> None:
        self._command("Ser")

    def close(self) -> None:
        if self._saved_error_mode is not None and self._saved_error_mode.isdigit():
            self._link.best_effort(("Pem", self._saved_error_mode))
        self._link.close()

    # -- maintenance -------------------------------------------------------

    def reset(self) -> None:
        self._command("Srs", timeout=self._print_timeout)

    def clear_status(self) -> None:
        self._command("Scs")

    def test_card(self) -> None:
        self._command("St", timeout=self._print_timeout)

    # -- the job -----------------------------------------------------------

    def _encode(self, face: CardFace, ribbon: str) -> list[tuple[str, int, bytes]]:
        return self._panels.encode(face, ribbon)

    def _print_primacy(self, ribbon: str, panels: tuple[tuple[str, int, bytes], ...]) -> None:
        steps = jobs.primacy_job(ribbon, panels, int(time.time()))
        cut = steps.index(jobs.HEAD_END)
        try:
            self._send_steps(steps[:cut])
            self._await_claim(raised=True)
            self._send_steps(steps[cut:])
        except BaseException:
            self._link.best_effort(("Pcla", 0))  # a failed job must not keep the printer claimed
            raise
        self._await_claim(raised=False)

    def _send_steps(self, steps: list[jobs.Step]) -> None:
        """Each command with the skipped text before it, one reply each."""
        pending = b""
        for step in steps:
            if isinstance(step, jobs.Text):
                pending += step.data
                continue
            timeout = self._print_timeout if step.name in ("Se", "Pcla;0") else None
            if isinstance(step, jobs.Download):
                timeout = self._link.download_timeout(step.wire_size)
            frame = pending + jobs.encode_step(step)
            if step.name == "Se" and self.generation is Generation.REV_E:
                frame += bytes(64)
            pending = b""
            self._check(self._link.exchange(frame, step.name, timeout), step.name)
        if pending:
            self._link.write_only(pending)

    def _await_claim(self, *, raised: bool) -> None:
        """Wait until the information word's CLAIM flag is ``raised`` and the printer is not busy."""
        deadline = time.monotonic() + self._print_timeout
        words = self._link.last_status
        while words is None or words.claimed is not raised or (not raised and words.busy):
            self._raise_for_status(words, "the print job")
            if time.monotonic() >= deadline:
                state = "raised" if raised else "cleared"
                raise ProtocolError(f"the printer's CLAIM flag was not {state} within {self._print_timeout:.0f} s")
            time.sleep(_CLAIM_POLL_S)
            self._command("Rlr", "p")
            words = self._link.last_status
        self._raise_for_status(words, "the print job")

    def _raise_for_status(self, words: StatusWords | None, what: str) -> None:
        if words is not None and words.error:
            reason = reasons.reason_for_error("", words)
            if reason is not None:
                raise DeviceFaultError(reason, f"{what}: {' '.join(words.names())}")

    # -- one command, one reply --------------------------------------------

    def _counter(self, which: str) -> int:
        text = self._command("Rco", which)
        if not text.isdigit():
            raise ProtocolError(f"Rco;{which}: counter is not a number: {text!r}")
        return int(text)

    def _command(self, mnemonic: str, *params: object, timeout: float | None = None) -> str:
        name = ";".join([mnemonic, *map(str, params)])
        reply = self._link.command(mnemonic, *params, timeout=timeout)
        return self._check(reply, name)

    def _check(self, reply: Reply, name: str) -> str:
        if reply.kind is ReplyKind.NACK:
            raise self._nack_error(reply.code or "", name)
        if not reply.ok:
            reason = reasons.reason_for_error(reply.text, reply.status)
            if reason is None:
                raise ProtocolError(f"printer answered {reply.text!r} to {name}")
            if reason == reasons.MEDIA_EMPTY and reply.status is None:
                self._feeder_fault = reason
            raise DeviceFaultError(reason, f"{reply.text} to {name}")
        if name.split(";", 1)[0] in _CLEARS_FEEDER_FAULT:
            self._feeder_fault = None
        return reply.text

    def _nack_error(self, code: str, name: str) -> Exception:
        reason = reasons.NACK_REASONS.get(code)
        if reason is None:
            meaning = {"1": "rejected the command", "2": "rejected a parameter of"}.get(code, f"answered NACK {code!r} to")
            return ProtocolError(f"printer {meaning} {name}")
        if reason == reasons.MEDIA_EMPTY:
            self._feeder_fault = reason
        return DeviceFaultError(reason, f"NACK {code} to {name}")


def _leading_number(text: str) -> int | None:
    digits = text.split(";", 1)[0].strip()
    return int(digits) if digits.isdigit() else None

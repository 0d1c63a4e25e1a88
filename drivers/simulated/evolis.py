"""A simulated Evolis Primacy 2: the printer's wire protocol, state and faults over bytes.

``SimulatedEvolis.feed(bytes) -> bytes`` is the whole device: run it behind
``serve_over_pipe``, ``serve_over_pty`` or ``serve_over_tcp`` and drive it
with EvolisPrinter or any client that speaks to a real printer.

* On the wire it is a Primacy 2: ``Rtp`` answers ``Primacy 2``; every
  command gets one reply frame, ``<text> NUL 00 28`` + the 40-byte status
  block (see drivers.evolis.status); the vendor library's opening probe
  ``1C 6E 00 00 00 00`` is answered ``OK``. Over the simulated USB link
  (usb_backend) every bulk read returns ``current_frame()``: the last reply
  with the status as it is now.
* It takes the vendor library's whole stream (tags and NUL padding
  skipped, every setup command of its header, ``Psid`` sessions, the
  ``CLAIM`` flag raised by ``Pcla;1`` and cleared by ``Pcla;0``, downloads
  of 2, 128 and 256 levels consumed by length) and the Rev E driver's
  (``Pr;k``, ``Pmi;F;s``, ``Pc;k;=;10``, ``Db;k;2``, trailing NULs).
* An unknown command is answered ``ERROR CDE``, a bad parameter
  ``ERROR PARAMETRES``; a movement that fails answers ``ERROR FEEDER``,
  ``ERROR MECHANICAL``, ``ERROR COVER`` or ``ERROR RIBBON`` and raises its
  flag in the error word, cleared by the next good movement or ``Scs``.
* Counters, supplies, cleaning count and the card it holds persist in
  ``<state_dir>/evolis.json`` (see evolis_mechanics). ``Se`` renders the
  received panels with ``panels_to_image`` into ``png_dir``.
* Link honesty: ``bytes_per_s`` paces what arrives as the link would (a
  serial line's ``baud / 10``, about 1,000,000 for USB full speed, None for
  an in-process pipe); printing takes ``print_seconds`` plus
  ``panel_seconds`` a panel.
* Faults through the constructor or ``set_fault(name, value)``:
  ``cover_open``, ``jam_at_card``, ``feeder_cards``, ``ribbon_prints``,
  ``mechanical_error``, ``chip_unreadable`` and ``cards_since_cleaning``;
  ``jammed`` true jams the next card printed, false takes a jammed card out
  (a jam holds the card, and every movement, until then, across restarts).
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..evolis.protocol import ERROR_COMMAND, ERROR_PARAMETER, PROBE_MNEMONIC, Command, CommandParser, encode_reply
from ..evolis.status import ConfigFlag, ErrorFlag, InfoFlag, StatusWords, WarningFlag
from ..interfaces import CardPosition
from .evolis_mechanics import EvolisMechanics, MechanicalFaults, MechanismError, blank_chip_uid
from .evolis_state import EvolisState
from .faults import DEVICE_FAULTS

__all__ = ["SimulatedEvolis", "blank_chip_uid"]

_FAULTS = tuple(DEVICE_FAULTS["printer"])
#: Setup commands of the vendor's job header and face, taken as they come.
_SETTINGS = frozenset({"Psmgr", "Ppws", "Ppmode", "Pwres", "Psk", "Piqla", "Pmc", "Peoic", "Psync", "Mr",
                       "Pc", "Pl", "Pida", "Pmi"})
_RIBBON_CODES = {"0": "ymcko", "1": "ko", "ymcko": "ymcko", "ko": "ko", "k": "ko"}
_CONFIG = ConfigFlag.X20 | ConfigFlag.CONTACTLESS | ConfigFlag.FEED_BY_FEEDER
_RIBBON_LOW_AT = 10


class _ReplyError(Exception):
    """Internal: the command is answered with this error text."""


class SimulatedEvolis:
    """An Evolis Primacy 2's behaviour, state and faults, over bytes."""

    firmware = "SIM-1.0.0"
    head_kit = "KIT-SIM-300DPI"
    zone = "EUR"

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        print_seconds: float = 0.0,
        panel_seconds: float = 0.0,
        bytes_per_s: float | None = None,
        png_dir: str | os.PathLike[str] | None = None,
        feeder_cards: int | None = None,
        ribbon_type: str = "YMCKO",
        ribbon_prints: int | None = None,
        serial: str = "EVSIM0001",
        model: str = "Primacy 2",
        cover_open: bool = False,
        jam_at_card: int | None = None,
        cleaning_due_at: int | None = None,
        cleaning_mandatory_at: int | None = None,
    ) -> None:
        self.serial = serial
        self.model = model
        self.ribbon_type = ribbon_type
        self._print_seconds = print_seconds
        self._panel_seconds = panel_seconds
        self._bytes_per_s = bytes_per_s
        self._link_free_at = 0.0
        self._cleaning_due_at = cleaning_due_at
        self._cleaning_mandatory_at = cleaning_mandatory_at
        faults = MechanicalFaults(cover_open=cover_open, jam_at_card=jam_at_card)
        self._mechanics = EvolisMechanics(state_dir, serial, Path(png_dir) if png_dir is not None else None, faults)
        self._error_mode = "0"
        self._session = 0
        self._claimed = False
        self._job: list[tuple[str, int, bytes]] | None = None
        self._last_reply = ""
        self._parser = CommandParser()
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[Command], str]] = {
            PROBE_MNEMONIC: lambda c: "OK", "Pem": self._set_error_mode, "Rem": lambda c: self._error_mode,
            "Psid": self._set_session, "Pcla": self._set_claim, "Pr": self._set_ribbon,
            "Rfv": lambda c: self.firmware, "Rsn": lambda c: self.serial, "Rtp": lambda c: self.model,
            "Rkn": lambda c: self.head_kit, "Rok": lambda c: "OK", "Roem": lambda c: "EVOLIS",
            "Rzp": lambda c: self.zone, "Rr": lambda c: self.ribbon_type,
            "Rcr": lambda c: str(self._mechanics.state.ribbon_remaining),
            "Rco": self._read_counter, "Rlr": self._read_position, "Rse": self._read_sensor,
            "Ss": self._start_job, "Sr": self._select_side, "Sv": self._select_side, "Db": self._download,
            "Se": self._end_job, "Si": self._move(self._mechanics.insert),
            "Sic": self._move(self._mechanics.insert_to_contactless), "Ser": self._move(self._mechanics.reject),
            "St": self._move(self._mechanics.test_card), "Scp": self._move(self._mechanics.clean),
            "Srs": self._reset, "Scs": self._clear_status,
        }
        self._mechanics.persist_if_given(feeder_cards=feeder_cards, ribbon_remaining=ribbon_prints)
        self._mechanics.settle_printouts()
        self._mechanics.settle_contactless_station()

    # -- the device --------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """One reply frame for each command in ``data``."""
        self._pace(len(data))
        with self._lock:
            return b"".join(self._answer(command) for command in self._parser.feed(data))

    def current_frame(self) -> bytes:
        """What a USB bulk read returns: the last reply again, with the status as it is now."""
        with self._lock:
            return encode_reply(self._last_reply, self._status_words())

    def status_words(self) -> StatusWords:
        with self._lock:
            return self._status_words()

    def set_fault(self, name: str, value: object) -> None:
        """Set one fault while running (the control channel calls this)."""
        with self._lock:
            faults = self._mechanics.faults
            if name in ("cover_open", "mechanical_error", "chip_unreadable"):
                setattr(faults, name, bool(value))
            elif name == "jam_at_card":
                faults.jam_at_card = None if value is None else int(value)  # type: ignore[call-overload]
            elif name == "jammed":
                self._mechanics.jam_next_card() if value else self._mechanics.clear_jam()
            elif name == "feeder_cards":
                self._mechanics.persist_if_given(feeder_cards=int(value))  # type: ignore[call-overload]
            elif name == "ribbon_prints":
                self._mechanics.persist_if_given(ribbon_remaining=int(value))  # type: ignore[call-overload]
            elif name == "cards_since_cleaning":
                self._mechanics.persist_if_given(cards_since_cleaning=int(value))  # type: ignore[call-overload]
            else:
                raise ValueError(f"unknown printer fault {name!r} (known: {', '.join(_FAULTS)})")

    def drop_partial_command(self) -> None:
        """Forget a half-received command (a link was re-plugged mid-download),
        as the printer's receive timeout would; the print job itself stays."""
        with self._lock:
            self._parser.reset()

    @property
    def state(self) -> EvolisState:
        """A copy of the persisted state, for tests and the control channel."""
        with self._lock:
            return dataclasses.replace(self._mechanics.state)

    # -- framing -----------------------------------------------------------

    def _pace(self, nbytes: int) -> None:
        """Let ``nbytes`` take the time the link needs to carry them."""
        if not self._bytes_per_s:
            return
        now = time.monotonic()
        self._link_free_at = max(now, self._link_free_at) + nbytes / self._bytes_per_s
        if self._link_free_at > now:
            time.sleep(self._link_free_at - now)

    def _answer(self, command: Command) -> bytes:
        handler = self._handlers.get(command.mnemonic)
        try:
            if command.problem is not None:
                raise _ReplyError(ERROR_PARAMETER)
            if handler is None:
                if command.mnemonic not in _SETTINGS:
                    raise _ReplyError(ERROR_COMMAND)
                text = self._setting(command)
            else:
                text = handler(command)
        except _ReplyError as error:
            text = str(error)
        except MechanismError as error:
            text = error.reply
        self._last_reply = text
        return encode_reply(text, self._status_words())

    def _status_words(self) -> StatusWords:
        state, faults = self._mechanics.state, self._mechanics.faults
        info = InfoFlag(0)
        if self._claimed:
            info |= InfoFlag.CLAIM
        if self._error_mode == "0":
            info |= InfoFlag.PRINTER_MASTER
        if state.feeder_cards > 0:
            info |= InfoFlag.CARD_FEEDER
        if state.position is CardPosition.CONTACTLESS:
            info |= InfoFlag.CARD_CONTACTLESS
        elif state.position is CardPosition.IN_PRINTER:
            info |= InfoFlag.CARD_PRINT
        if 0 < state.ribbon_remaining <= _RIBBON_LOW_AT:
            info |= InfoFlag.RIBBON_LOW
        info |= self._cleaning_flags(state.cards_since_cleaning)
        warning = WarningFlag(0)
        if state.feeder_cards <= 0:
            warning |= WarningFlag.FEEDER_EMPTY
        if faults.cover_open:
            warning |= WarningFlag.COVER_OPEN
        if state.ribbon_remaining <= 0:
            warning |= WarningFlag.RIBBON_ENDED
        errors = self._mechanics.errors | (ErrorFlag.MECHANICAL if state.jammed else ErrorFlag(0))
        return StatusWords(_CONFIG, info, warning, errors, self._session)

    def _cleaning_flags(self, cards: int) -> InfoFlag:
        if self._cleaning_mandatory_at is not None and cards >= self._cleaning_mandatory_at:
            return InfoFlag.CLEANING_MANDATORY
        if self._cleaning_due_at is not None and cards >= self._cleaning_due_at:
            return InfoFlag.CLEANING
        return InfoFlag(0)

    # -- settings and reads ------------------------------------------------

    def _setting(self, command: Command) -> str:
        if command.mnemonic in ("Pc", "Pl") and len(command.params) != 3:
            raise _ReplyError(ERROR_PARAMETER)
        return "OK"

    def _set_error_mode(self, command: Command) -> str:
        mode = _one_param(command)
        if not mode.isdigit():
            raise _ReplyError(ERROR_PARAMETER)
        self._error_mode = str(int(mode))
        return "OK"

    def _set_session(self, command: Command) -> str:
        if len(command.params) not in (1, 2) or not all(p.isdigit() for p in command.params):
            raise _ReplyError(ERROR_PARAMETER)
        self._session = int(command.params[0]) & 0xFFFF
        return "OK"

    def _set_claim(self, command: Command) -> str:
        flag = _one_param(command)
        if flag not in ("0", "1"):
            raise _ReplyError(ERROR_PARAMETER)
        self._claimed = flag == "1"
        return "OK"

    def _set_ribbon(self, command: Command) -> str:
        if not command.params or command.params[0].lower() not in _RIBBON_CODES:
            raise _ReplyError(ERROR_PARAMETER)
        if _RIBBON_CODES[command.params[0].lower()] != self.ribbon_type.lower():
            raise _ReplyError("ERROR RIBBON")
        return "OK"

    def _read_counter(self, command: Command) -> str:
        state = self._mechanics.state
        counters = {"c": state.cards_inserted, "card": state.cards_inserted, "p": state.panels_printed,
                    "r": state.cards_rejected, "clean": state.cards_since_cleaning}
        which = _one_param(command)
        if which not in counters:
            raise _ReplyError(ERROR_PARAMETER)
        return str(counters[which])

    def _read_position(self, command: Command) -> str:
        if _one_param(command) != "p":
            raise _ReplyError(ERROR_PARAMETER)
        return self._mechanics.state.position.value

    def _read_sensor(self, command: Command) -> str:
        if _one_param(command) != "o":
            raise _ReplyError(ERROR_PARAMETER)
        return "OPEN" if self._mechanics.faults.cover_open else "CLOSED"

    # -- the print job and movements ----------------------------------------

    def _start_job(self, command: Command) -> str:
        _no_params(command)
        self._job = []
        return "OK"

    def _select_side(self, command: Command) -> str:
        _no_params(command)
        if self._job is None:
            raise _ReplyError(ERROR_COMMAND)
        return "OK"

    def _download(self, command: Command) -> str:
        if self._job is None:
            raise _ReplyError(ERROR_COMMAND)
        if command.data is None or len(command.params) != 2 or command.params[0] not in ("y", "m", "c", "k", "o"):
            raise _ReplyError(ERROR_PARAMETER)
        self._job.append((command.params[0], int(command.params[1]), command.data))
        return "OK"

    def _end_job(self, command: Command) -> str:
        _no_params(command)
        panels, self._job = self._job or [], None
        seconds = self._print_seconds + self._panel_seconds * len(panels)
        self._mechanics.print_and_eject(panels, seconds)
        return "OK"

    def _move(self, movement: Callable[[], None]) -> Callable[[Command], str]:
        def handle(command: Command) -> str:
            _no_params(command)
            movement()
            return "OK"
        return handle

    def _reset(self, command: Command) -> str:
        _no_params(command)
        self._job = None
        self._claimed = False
        self._mechanics.errors = type(self._mechanics.errors)(0)
        return "OK"

    def _clear_status(self, command: Command) -> str:
        _no_params(command)
        self._mechanics.errors = type(self._mechanics.errors)(0)
        return "OK"


def _one_param(command: Command) -> str:
    if len(command.params) != 1:
        raise _ReplyError(ERROR_PARAMETER)
    return command.params[0]


def _no_params(command: Command) -> None:
    if command.params:
        raise _ReplyError(ERROR_PARAMETER)

"""A simulated Evolis card printer that speaks the escape-command protocol.

``SimulatedEvolis.feed(bytes) -> bytes`` is the whole device: run it behind
``serve_over_pipe`` or ``serve_over_pty`` and drive it with EvolisPrinter.

* It starts outside ACK/NACK mode (plain text replies, ``ERR;<code>``) until
  a ``Pem`` with bit 4 set; the reply to ``Pem`` uses the new mode.
* Counters, supplies and the card it holds persist in
  ``<state_dir>/evolis.json`` (see evolis_state). ``feeder_cards`` and
  ``ribbon_prints`` given to the constructor override the persisted values;
  left as None they keep them (or the defaults, 100 cards and 200 prints,
  for a new state folder).
* ``Sic`` takes a blank to the contactless station and puts its chip on the
  SimBench; a card already inside is moved there instead of taking another.
  ``Se`` prints the downloaded panels (taking a blank first if none is
  inside), writes the printout as PNG into ``png_dir`` and ejects.
* Faults come through the constructor or ``set_fault(name, value)``:
  ``cover_open``, ``jam_at_card`` (the ``cards_inserted`` number of the card
  that jams in ``Se``), ``feeder_cards`` and ``ribbon_prints``;
  ``mechanical_error`` (every card movement, ``Si Sic Se Ser St``, is
  answered NACK ``T`` until the fault is cleared) and ``chip_unreadable``
  (``Sic`` places the card on the SimBench with ``readable=False``, so the
  reader sees no chip). Wire faults (no reply, garbage, slow replies) are
  not the printer's: see ``faults.FaultyLink``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..evolis.panels import RIBBON_PANELS, panel_size, panels_to_image
from ..evolis.protocol import NACK_CODES, Command, CommandParser
from ..interfaces import CardPosition
from .bench import SimBench
from .evolis_state import EvolisState, EvolisStateFile
from .files import atomic_write_bytes

_ACK_MODE_BIT = 4
_FAULTS = ("cover_open", "jam_at_card", "feeder_cards", "ribbon_prints", "mechanical_error", "chip_unreadable")
_CARD_MOVEMENTS = frozenset({"Si", "Sic", "Se", "Ser", "St"})


class _NackError(Exception):
    """Internal: the command is answered with a NACK code."""

    def __init__(self, code: str) -> None:
        assert code in NACK_CODES
        super().__init__(code)
        self.code = code


class SimulatedEvolis:
    """An Evolis printer's behaviour, state and faults, over bytes."""

    firmware = "SIM-1.0.0"
    head_kit = "KIT-SIM-300DPI"

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        print_seconds: float = 0.0,
        png_dir: str | os.PathLike[str] | None = None,
        feeder_cards: int | None = None,
        ribbon_type: str = "YMCKO",
        ribbon_prints: int | None = None,
        serial: str = "EVSIM0001",
        model: str = "Evolis Primacy (simulated)",
        cover_open: bool = False,
        jam_at_card: int | None = None,
    ) -> None:
        self.serial = serial
        self.model = model
        self.ribbon_type = ribbon_type
        self._print_seconds = print_seconds
        self._png_dir = Path(png_dir) if png_dir is not None else None
        self._bench = SimBench(state_dir)
        self._store = EvolisStateFile(state_dir)
        self._state = self._store.load() or EvolisState()
        self._cover_open = cover_open
        self._jam_at_card = jam_at_card
        self._mechanical_error = False
        self._chip_unreadable = False
        self._ack_mode = False
        self._job: list[tuple[str, int, bytes]] | None = None
        self._parser = CommandParser()
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[Command], str]] = {
            "Pem": self._set_error_mode, "Pr": self._set_ribbon, "Pmi": self._set_insertion,
            "Rfv": lambda c: self.firmware, "Rsn": lambda c: self.serial,
            "Rtp": lambda c: self.model, "Rkn": lambda c: self.head_kit,
            "Rr": lambda c: self.ribbon_type, "Rcr": lambda c: str(self._state.ribbon_remaining),
            "Rco": self._read_counter, "Rlr": self._read_position, "Rse": self._read_sensor,
            "Ss": self._start_job, "Sr": self._select_side, "Sv": self._select_side,
            "Db": self._download, "Se": self._end_job, "Si": self._insert,
            "Sic": self._insert_to_contactless, "Ser": self._reject, "Srs": self._reset,
            "Scs": self._clear_status, "St": self._test_card,
        }
        self._persist_if_given(feeder_cards=feeder_cards, ribbon_remaining=ribbon_prints)
        self._settle_printouts()
        self._settle_contactless_station()

    # -- the device --------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        with self._lock:
            return b"".join(self._answer(command) for command in self._parser.feed(data))

    def set_fault(self, name: str, value: object) -> None:
        """Set one fault while running (the control channel calls this)."""
        with self._lock:
            if name == "cover_open":
                self._cover_open = bool(value)
            elif name == "jam_at_card":
                self._jam_at_card = None if value is None else int(value)  # type: ignore[call-overload]
            elif name == "feeder_cards":
                self._persist_if_given(feeder_cards=int(value))  # type: ignore[call-overload]
            elif name == "ribbon_prints":
                self._persist_if_given(ribbon_remaining=int(value))  # type: ignore[call-overload]
            elif name == "mechanical_error":
                self._mechanical_error = bool(value)
            elif name == "chip_unreadable":
                self._chip_unreadable = bool(value)
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
            return dataclasses.replace(self._state)

    # -- framing -----------------------------------------------------------

    def _answer(self, command: Command) -> bytes:
        handler = self._handlers.get(command.mnemonic)
        try:
            if handler is None:
                raise _NackError("1")
            if self._mechanical_error and command.mnemonic in _CARD_MOVEMENTS:
                raise _NackError("T")
            text = handler(command)
        except _NackError as nack:
            if self._ack_mode:
                return b"\x15" + nack.code.encode() + b"\r"
            return b"ERR;" + nack.code.encode() + b"\r"
        prefix = b"\x06" if self._ack_mode else b""
        return prefix + text.encode("ascii") + b"\r"

    def _persist_if_given(self, **changes: int | None) -> None:
        given = {k: v for k, v in changes.items() if v is not None}
        if any(v < 0 for v in given.values()):
            raise ValueError(f"negative supply: {given}")
        for key, value in given.items():
            setattr(self._state, key, value)
        if given or not self._store.path.exists():
            self._store.save(self._state)

    def _save(self) -> None:
        self._store.save(self._state)

    # -- parameters and reads ----------------------------------------------

    def _set_error_mode(self, command: Command) -> str:
        mode = _one_param(command)
        if not mode.isdigit():
            raise _NackError("2")
        self._ack_mode = bool(int(mode) & _ACK_MODE_BIT)
        return "OK"

    def _set_ribbon(self, command: Command) -> str:
        ribbon = _one_param(command).lower()
        if ribbon not in RIBBON_PANELS:
            raise _NackError("2")
        if ribbon != self.ribbon_type.lower():
            raise _NackError("R")
        return "OK"

    def _set_insertion(self, command: Command) -> str:
        if _one_param(command) not in ("F", "M", "B"):
            raise _NackError("2")
        return "OK"

    def _read_counter(self, command: Command) -> str:
        which = _one_param(command)
        counters = {"c": self._state.cards_inserted, "p": self._state.panels_printed,
                    "r": self._state.cards_rejected}
        if which not in counters:
            raise _NackError("2")
        return str(counters[which])

    def _read_position(self, command: Command) -> str:
        if _one_param(command) != "p":
            raise _NackError("2")
        return self._state.position.value

    def _read_sensor(self, command: Command) -> str:
        if _one_param(command) != "o":
            raise _NackError("2")
        return "OPEN" if self._cover_open else "CLOSED"

    # -- the print job -----------------------------------------------------

    def _start_job(self, command: Command) -> str:
        _no_params(command)
        self._job = []
        return "OK"

    def _select_side(self, command: Command) -> str:
        _no_params(command)
        if self._job is None:
            raise _NackError("1")
        return "OK"

    def _download(self, command: Command) -> str:
        if self._job is None:
            raise _NackError("1")
        if command.data is None or len(command.params) != 2:
            raise _NackError("2")
        panel, levels = command.params[0], int(command.params[1])
        if panel not in ("y", "m", "c", "k", "o") or len(command.data) != panel_size(levels):
            raise _NackError("2")
        self._job.append((panel, levels, command.data))
        return "OK"

    def _end_job(self, command: Command) -> str:
        _no_params(command)
        self._check_cover()
        if not self._state.holds_card:
            self._take_blank(CardPosition.IN_PRINTER)
        panels, self._job = self._job or [], None
        if not panels:
            return self._eject()
        if self._state.ribbon_remaining <= 0:
            self._move_inside()
            raise _NackError("R")
        if self._jam_at_card is not None and self._jam_at_card == self._state.card_number:
            self._move_inside()
            raise _NackError("T")
        time.sleep(self._print_seconds)
        self._state.panels_printed += len(panels)
        self._state.ribbon_remaining -= 1
        pending = self._write_printout(panels)
        result = self._eject()  # saves the state: from here on the card is printed
        if pending is not None:
            os.replace(pending, pending.with_name(pending.name.removeprefix(".pending-")))
        return result

    def _write_printout(self, panels: list[tuple[str, int, bytes]]) -> Path | None:
        """Write the printout as a pending PNG; it becomes the card's PNG once the print is saved."""
        if self._png_dir is None:
            return None
        uid = (self._state.card_uid or b"").hex()
        path = self._png_dir / f".pending-card-{self._state.card_number or 0:06d}-{uid}.png"
        out = io.BytesIO()
        panels_to_image(panels).save(out, "PNG", compress_level=1)
        self._png_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, out.getvalue())
        return path

    def _settle_printouts(self) -> None:
        """After a crash: a pending printout whose print was saved is kept, any other dropped."""
        if self._png_dir is None or not self._png_dir.exists():
            return
        for pending in self._png_dir.glob(".pending-card-*.png"):
            number = int(pending.name.split("-")[2])
            printed = not (self._state.holds_card and self._state.card_number == number)
            if printed and number <= self._state.cards_inserted:
                os.replace(pending, pending.with_name(pending.name.removeprefix(".pending-")))
            else:
                pending.unlink()

    def _settle_contactless_station(self) -> None:
        """After a crash: the reader sees the card the saved state holds at the station.

        The state is saved before the shared station file is written, so a
        power cut between the two left a card at the station that the reader
        could not see.
        """
        state = self._state
        if state.position is CardPosition.CONTACTLESS and state.card_uid is not None:
            self._bench.place_card(state.card_uid)
        else:
            self._bench.remove_card()

    # -- card movement -----------------------------------------------------

    def _insert(self, command: Command) -> str:
        _no_params(command)
        self._check_cover()
        if self._state.holds_card:
            self._move_inside()
        else:
            self._take_blank(CardPosition.IN_PRINTER)
        return "OK"

    def _insert_to_contactless(self, command: Command) -> str:
        _no_params(command)
        self._check_cover()
        if not self._state.holds_card:
            self._take_blank(CardPosition.CONTACTLESS)
        elif self._state.position is not CardPosition.CONTACTLESS:
            self._state.position = CardPosition.CONTACTLESS
            self._save()
        assert self._state.card_uid is not None
        self._bench.place_card(self._state.card_uid, readable=not self._chip_unreadable)
        return "OK"

    def _reject(self, command: Command) -> str:
        _no_params(command)
        self._check_cover()
        if self._state.holds_card:
            self._state.cards_rejected += 1
            self._leave_printer()
        return "OK"

    def _test_card(self, command: Command) -> str:
        _no_params(command)
        self._check_cover()
        if not self._state.holds_card:
            self._take_blank(CardPosition.IN_PRINTER)
        if self._state.ribbon_remaining <= 0:
            self._move_inside()
            raise _NackError("R")
        self._state.ribbon_remaining -= 1
        return self._eject()

    def _reset(self, command: Command) -> str:
        _no_params(command)
        self._job = None
        return "OK"

    def _clear_status(self, command: Command) -> str:
        _no_params(command)
        return "OK"

    def _check_cover(self) -> None:
        if self._cover_open:
            raise _NackError("C")

    def _take_blank(self, position: CardPosition) -> None:
        """Feed one blank; the counter is on disk before anyone is told."""
        if self._state.feeder_cards <= 0:
            raise _NackError("F")
        state = self._state
        state.feeder_cards -= 1
        state.cards_inserted += 1
        state.card_number = state.cards_inserted
        state.card_uid = blank_chip_uid(self.serial, state.cards_inserted)
        state.position = position
        self._save()

    def _move_inside(self) -> None:
        if self._state.position is CardPosition.CONTACTLESS:
            self._bench.remove_card()
        if self._state.position is not CardPosition.IN_PRINTER:
            self._state.position = CardPosition.IN_PRINTER
            self._save()

    def _eject(self) -> str:
        self._leave_printer()
        return "OK"

    def _leave_printer(self) -> None:
        self._bench.remove_card()
        self._state.position = CardPosition.NONE
        self._state.card_number = None
        self._state.card_uid = None
        self._save()


def blank_chip_uid(serial: str, card_number: int) -> bytes:
    """The 7-byte UID of the blank fed as ``card_number``: 0x04 + 6 hash bytes."""
    return b"\x04" + hashlib.sha256(f"{serial}:{card_number}".encode()).digest()[:6]


def _one_param(command: Command) -> str:
    if len(command.params) != 1:
        raise _NackError("2")
    return command.params[0]


def _no_params(command: Command) -> None:
    if command.params:
        raise _NackError("2")

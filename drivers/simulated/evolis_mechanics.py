"""The simulated Evolis printer's mechanics: cards, supplies, printing and its faults.

``EvolisMechanics`` owns the persisted state (``evolis_state``) and the
contactless station it shares with the reader (``SimBench``). Every card
movement is saved before anyone is told, so counters and card position are
the printer's non-volatile evidence. A movement that cannot be done raises
``MechanismError`` with the reply text and the status flags the printer
then shows; a printout becomes the card's PNG only once the print is saved.
A jammed card stays inside, and the printer refuses to move anything (its
error word shows MECHANICAL) until a person takes the card out:
``clear_jam``, the control channel's ``{"fault": "jammed", "value": false}``.
"""
from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from ..evolis.panels import panels_to_image
from ..evolis.status import ErrorFlag
from ..interfaces import CardPosition
from .bench import SimBench
from .evolis_state import EvolisState, EvolisStateFile
from .files import atomic_write_bytes

_log = structlog.get_logger(__name__)


class MechanismError(Exception):
    """A movement the printer could not do: its error reply and the error flag it raises."""

    def __init__(self, reply: str, error: ErrorFlag = ErrorFlag(0)) -> None:
        super().__init__(reply)
        self.reply = reply
        self.error = error


@dataclass
class MechanicalFaults:
    cover_open: bool = False
    jam_at_card: int | None = None
    mechanical_error: bool = False
    chip_unreadable: bool = False


class EvolisMechanics:
    """Cards and supplies of one simulated printer, persisted in its state folder."""

    def __init__(self, state_dir: str | os.PathLike[str], serial: str, png_dir: Path | None,
                 faults: MechanicalFaults) -> None:
        self.serial = serial
        self.faults = faults
        self.errors = ErrorFlag(0)   # the error word: the last failed movement's, cleared by the next good one
        self._png_dir = png_dir
        self._bench = SimBench(state_dir)
        self._store = EvolisStateFile(state_dir)
        self.state = self._store.load() or EvolisState()

    def persist_if_given(self, **changes: int | None) -> None:
        given = {k: v for k, v in changes.items() if v is not None}
        if any(v < 0 for v in given.values()):
            raise ValueError(f"negative supply: {given}")
        for key, value in given.items():
            setattr(self.state, key, value)
        if given or not self._store.path.exists():
            self._store.save(self.state)

    # -- movements ---------------------------------------------------------

    def insert(self) -> None:
        self._ready_to_move()
        if self.state.holds_card:
            self._move_inside()
        else:
            self._take_blank(CardPosition.IN_PRINTER)
        self.errors = ErrorFlag(0)

    def insert_to_contactless(self) -> None:
        self._ready_to_move()
        if not self.state.holds_card:
            self._take_blank(CardPosition.CONTACTLESS)
        elif self.state.position is not CardPosition.CONTACTLESS:
            self.state.position = CardPosition.CONTACTLESS
            self._store.save(self.state)
        assert self.state.card_uid is not None
        self._bench.place_card(self.state.card_uid, readable=not self.faults.chip_unreadable)
        self.errors = ErrorFlag(0)

    def reject(self) -> None:
        self._ready_to_move()
        if self.state.holds_card:
            self.state.cards_rejected += 1
            self._leave_printer()
        self.errors = ErrorFlag(0)

    def print_and_eject(self, panels: list[tuple[str, int, bytes]], seconds: float) -> None:
        """``Se``: print the downloaded panels on the card inside (a blank if none) and eject it."""
        self._ready_to_move()
        if not self.state.holds_card:
            self._take_blank(CardPosition.IN_PRINTER)
        if not panels:
            self._leave_printer()
            return
        self._ribbon_for_one_card()
        if self.faults.jam_at_card is not None and self.faults.jam_at_card == self.state.card_number:
            self._move_inside()
            self.state.jammed = True
            self._store.save(self.state)
            raise self._fail("ERROR MECHANICAL", ErrorFlag.MECHANICAL)
        time.sleep(seconds)
        self.state.panels_printed += len(panels)
        self.state.ribbon_remaining -= 1
        self.state.cards_since_cleaning += 1
        pending = self._write_printout(panels)
        self._leave_printer()  # saves the state: from here on the card is printed
        if pending is not None:
            os.replace(pending, pending.with_name(pending.name.removeprefix(".pending-")))
        self.errors = ErrorFlag(0)

    def test_card(self) -> None:
        self._ready_to_move()
        if not self.state.holds_card:
            self._take_blank(CardPosition.IN_PRINTER)
        self._ribbon_for_one_card()
        self.state.ribbon_remaining -= 1
        self._leave_printer()

    def clean(self) -> None:
        """The cleaning card ran: the head is clean again."""
        self._ready_to_move()
        self.state.cards_since_cleaning = 0
        self.state.cleanings += 1
        self._store.save(self.state)

    def jam_next_card(self) -> None:
        """The card inside (or the next one fed) jams when it is printed."""
        state = self.state
        self.faults.jam_at_card = state.card_number if state.holds_card else state.cards_inserted + 1

    def clear_jam(self) -> None:
        """A person opened the printer and took the jammed card out (it is not counted as rejected)."""
        self.faults.jam_at_card = None
        if self.state.jammed:
            self.state.jammed = False
            self._leave_printer()
        self.errors = ErrorFlag(0)

    # -- after a restart ---------------------------------------------------

    def settle_printouts(self) -> None:
        """After a crash: a pending printout whose print was saved is kept, any other dropped."""
        if self._png_dir is None or not self._png_dir.exists():
            return
        for pending in self._png_dir.glob(".pending-card-*.png"):
            number = int(pending.name.split("-")[2])
            printed = not (self.state.holds_card and self.state.card_number == number)
            if printed and number <= self.state.cards_inserted:
                os.replace(pending, pending.with_name(pending.name.removeprefix(".pending-")))
            else:
                pending.unlink()

    def settle_contactless_station(self) -> None:
        """After a crash: the reader sees the card the saved state holds at the station.

        The state is saved before the shared station file is written, so a
        power cut between the two left a card at the station that the reader
        could not see.
        """
        state = self.state
        if state.position is CardPosition.CONTACTLESS and state.card_uid is not None:
            self._bench.place_card(state.card_uid)
        else:
            self._bench.remove_card()

    # -- inside ------------------------------------------------------------

    def _fail(self, reply: str, error: ErrorFlag) -> MechanismError:
        self.errors = error  # the error word tells the last failure
        return MechanismError(reply, error)

    def _ready_to_move(self) -> None:
        if self.faults.cover_open:
            raise self._fail("ERROR COVER", ErrorFlag.COVER_OPEN)
        if self.faults.mechanical_error or self.state.jammed:
            raise self._fail("ERROR MECHANICAL", ErrorFlag.MECHANICAL)

    def _ribbon_for_one_card(self) -> None:
        if self.state.ribbon_remaining <= 0:
            self._move_inside()
            raise self._fail("ERROR RIBBON", ErrorFlag.RIBBON_ENDED)

    def _take_blank(self, position: CardPosition) -> None:
        """Feed one blank; the counter is on disk before anyone is told."""
        if self.state.feeder_cards <= 0:
            raise self._fail("ERROR FEEDER", ErrorFlag.FEEDER_ERROR)
        state = self.state
        state.feeder_cards -= 1
        state.cards_inserted += 1
        state.card_number = state.cards_inserted
        state.card_uid = blank_chip_uid(self.serial, state.cards_inserted)
        state.position = position
        self._store.save(state)

    def _move_inside(self) -> None:
        if self.state.position is CardPosition.CONTACTLESS:
            self._bench.remove_card()
        if self.state.position is not CardPosition.IN_PRINTER:
            self.state.position = CardPosition.IN_PRINTER
            self._store.save(self.state)

    def _leave_printer(self) -> None:
        self._bench.remove_card()
        self.state.position = CardPosition.NONE
        self.state.card_number = None
        self.state.card_uid = None
        self._store.save(self.state)

    def _write_printout(self, panels: list[tuple[str, int, bytes]]) -> Path | None:
        """Write the printout as a pending PNG; it becomes the card's PNG once the print is saved.

        The picture is the simulator's record, not the card: when its folder takes no more (full,
        read-only), the card is printed all the same and one line says the picture was not kept.
        """
        if self._png_dir is None:
            return None
        uid = (self.state.card_uid or b"").hex()
        path = self._png_dir / f".pending-card-{self.state.card_number or 0:06d}-{uid}.png"
        out = io.BytesIO()
        panels_to_image(panels).save(out, "PNG", compress_level=1)
        try:
            self._png_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, out.getvalue())
        except OSError as exc:
            _log.warning("sim.printout_not_saved", card=self.state.card_number, folder=str(self._png_dir),
                         error=exc.strerror or str(exc))
            return None
        return path


def blank_chip_uid(serial: str, card_number: int) -> bytes:
    """The 7-byte UID of the blank fed as ``card_number``: 0x04 + 6 hash bytes."""
    return b"\x04" + hashlib.sha256(f"{serial}:{card_number}".encode()).digest()[:6]

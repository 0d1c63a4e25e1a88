"""What the agent may ask of a card printer and a contactless reader.

Every printer driver (Evolis over serial, USB or a simulator link) and every
reader driver (PN532 over HSU, ACR122U over USB) offers these operations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from PIL import Image

from .errors import StateReason

#: The card face as the agent renders it: ID-1 landscape at 300 dpi.
CARD_WIDTH = 1016
CARD_HEIGHT = 648


class CardPosition(Enum):
    """Where the printer says a card is (``Rlr;p``)."""

    NONE = "OK"
    IN_PRINTER = "CARD"
    CONTACTLESS = "CONTACTLESS CARD"


@dataclass(frozen=True)
class CardFace:
    """One side of a card, ready for any printer.

    ``color`` is RGB, ``CARD_WIDTH`` x ``CARD_HEIGHT`` landscape: photo and
    background, printed with the Y, M, C panels. ``black`` is mode "L" of the
    same size: 0 where sharp black resin (text, signature) goes, 255 elsewhere;
    it is printed with the K panel. ``overlay`` asks for the protective O panel.

    ``color_base`` and ``color_changed`` are an optional promise that lets a
    driver reuse work across cards: ``color`` equals ``color_base`` (an image
    shared by many faces and never changed) everywhere outside the box
    ``color_changed`` = (left, top, right, bottom). A face that does not make
    the promise leaves both None.
    """

    color: Image.Image
    black: Image.Image
    overlay: bool = True
    color_base: Image.Image | None = None
    color_changed: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class PrinterIdentity:
    model: str
    serial: str
    firmware: str
    head_kit: str


@dataclass(frozen=True)
class PrinterStatus:
    """A snapshot of the printer, derived from its replies."""

    reasons: tuple[StateReason, ...]
    card_position: CardPosition
    cards_inserted: int
    panels_printed: int
    ribbon_type: str
    ribbon_remaining: int | None = None
    detail: dict[str, str] = field(default_factory=dict)
    #: Cards printed since the print head was last cleaned, when the printer counts them.
    cards_since_cleaning: int | None = None

    @property
    def ready(self) -> bool:
        return not any(r.stops_printing for r in self.reasons)


class Printer(Protocol):
    """A plastic card printer."""

    def identity(self) -> PrinterIdentity: ...

    def status(self) -> PrinterStatus: ...

    def cards_inserted(self) -> int:
        """The non-volatile count of cards taken from the feeder."""

    def card_position(self) -> CardPosition: ...

    def insert_to_contactless(self) -> None:
        """Take a blank from the feeder to the contactless station."""

    def prepare(self, front: CardFace) -> object:
        """Encode ``front`` for this printer ahead of time. Pure CPU, no device I/O: may be
        called from another thread while a card prints; pass the result to print_card."""

    def print_card(self, front: object) -> None:
        """Print ``front`` (a CardFace, or what prepare returned) on the card in the printer,
        then eject it."""

    def reject_card(self) -> None:
        """Send the card in the printer to the reject box."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class ChipTarget:
    """A contactless card seen by the reader."""

    uid: bytes
    kind: str  # "A" (ISO 14443-A) or "B"

    @property
    def uid_hex(self) -> str:
        return self.uid.hex()

    @property
    def uid_is_random(self) -> bool:
        """ISO/IEC 14443-3: a single-size (4-byte) UID starting 0x08 is drawn anew at every
        activation, so it names no chip."""
        return len(self.uid) == 4 and self.uid[0] == 0x08


class Reader(Protocol):
    """A contactless reader positioned at the printer's contactless station."""

    def firmware(self) -> str: ...

    def find_card(self, timeout: float = 1.0) -> ChipTarget | None:
        """Poll for one card; None when no card answers in ``timeout``."""

    def release(self) -> None:
        """Release the selected card (InRelease)."""

    def close(self) -> None: ...

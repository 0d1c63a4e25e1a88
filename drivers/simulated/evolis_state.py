"""What a simulated Evolis printer remembers across restarts.

The non-volatile part of the printer lives in ``<state_dir>/evolis.json``:
its counters, its supplies, the card it holds and whether that card is jammed. The file is rewritten
atomically whenever one of them changes.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..interfaces import CardPosition
from .files import atomic_write_bytes

STATE_FILE = "evolis.json"
DEFAULT_FEEDER_CARDS = 100
DEFAULT_RIBBON_PRINTS = 200


@dataclass
class EvolisState:
    """Counters, supplies and the card in the printer."""

    cards_inserted: int = 0
    panels_printed: int = 0
    cards_rejected: int = 0
    feeder_cards: int = DEFAULT_FEEDER_CARDS
    ribbon_remaining: int = DEFAULT_RIBBON_PRINTS
    position: CardPosition = CardPosition.NONE
    card_number: int | None = None  # the cards_inserted number of the card inside
    card_uid: bytes | None = None
    cards_since_cleaning: int = 0  # cards printed since the print head was last cleaned
    cleanings: int = 0
    jammed: bool = False  # a card is stuck inside until a person takes it out (the control channel's jammed=false)

    @property
    def holds_card(self) -> bool:
        return self.position is not CardPosition.NONE

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc["position"] = self.position.name
        doc["card_uid"] = self.card_uid.hex() if self.card_uid is not None else None
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> "EvolisState":
        try:
            doc = json.loads(raw)
            known = {f.name for f in fields(cls)}
            doc = {k: v for k, v in doc.items() if k in known}
            doc["position"] = CardPosition[doc.get("position", "NONE")]
            uid = doc.get("card_uid")
            doc["card_uid"] = bytes.fromhex(uid) if uid else None
            return cls(**doc)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: unreadable simulator state: {exc!r}") from None


class EvolisStateFile:
    """Loads and saves one EvolisState in a state folder."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / STATE_FILE

    def load(self) -> EvolisState | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return EvolisState.from_json(raw, str(self.path))

    def save(self, state: EvolisState) -> None:
        atomic_write_bytes(self.path, state.to_json())

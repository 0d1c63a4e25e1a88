"""The physical link between a simulated printer and a simulated reader.

On a real station the reader's antenna sits at the printer's contactless
station: the reader sees a chip only while the printer holds a card there.
The simulators share that fact through a small file in a common state
folder, so they can run in one process or in two.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .files import atomic_write_bytes

_FILE = "contactless-station.json"


class SimBench:
    """The shared state folder of one simulated printer and reader pair."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def place_card(self, uid: bytes, readable: bool = True) -> None:
        """A card now sits at the contactless station."""
        body = json.dumps({"uid": uid.hex(), "readable": readable}).encode()
        atomic_write_bytes(self.state_dir / _FILE, body)

    def remove_card(self) -> None:
        """The contactless station is empty."""
        try:
            (self.state_dir / _FILE).unlink()
        except FileNotFoundError:
            pass

    def card_at_station(self) -> tuple[bytes, bool] | None:
        """(uid, readable) of the card at the station, or None."""
        try:
            raw = (self.state_dir / _FILE).read_bytes()
        except FileNotFoundError:
            return None
        doc = json.loads(raw)
        return bytes.fromhex(doc["uid"]), bool(doc.get("readable", True))

"""``state_dir/offline.json``: the last import and the last receipts written, for the status views.

It names files, counts and times only (no job content), so ``ktp-agent
status`` can tell them with the daemon down too. The bundles already read
are remembered by (name, size, modification time), so a stick left in is
not imported again after a restart.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .importer import ImportSummary
from .receipts import ReceiptsWritten, write_durably

RECORD_FILE = "offline.json"
SEEN_KEPT = 500


class OfflineRecord:
    """Read at start, written after each import or export; owned by whoever runs them."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / RECORD_FILE
        self.doc = read_record(state_dir)

    def imported(self, path: Path, summary: ImportSummary, at: float, error: str | None = None) -> None:
        self.doc["last_import"] = {"path": str(path), "at": at, "error": error, **asdict(summary)}
        self._save()

    def exported(self, written: ReceiptsWritten | None, at: float, error: str | None = None) -> None:
        self.doc["last_receipts"] = {"path": str(written.path) if written else None,
                                     "count": written.count if written else 0, "at": at, "error": error}
        self._save()

    def seen(self, fingerprint: str) -> bool:
        return fingerprint in self.doc["seen"]

    def remember(self, fingerprint: str) -> None:
        self.doc["seen"] = (self.doc["seen"] + [fingerprint])[-SEEN_KEPT:]
        self._save()

    def _save(self) -> None:
        write_durably(self.path, json.dumps(self.doc, indent=1).encode("utf-8"), mode=0o600)


def read_record(state_dir: Path) -> dict:
    """The record's last import and receipts (None when never), and the bundles already read."""
    try:
        doc = json.loads((Path(state_dir) / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    seen = doc.get("seen")
    return {"last_import": doc.get("last_import"), "last_receipts": doc.get("last_receipts"),
            "seen": [s for s in seen if isinstance(s, str)] if isinstance(seen, list) else []}

"""``OfflineStatus``: what the removable-media desk is doing and last did, as one frozen value.

It is the ``offline`` part of the station's status (``ktp-agent status``, the
``/status`` page, the control socket); its JSON form is what crosses the
control socket and what ``state_dir/offline.json`` keeps of the last import
and receipts. Files, counts, times and reasons only: no job content.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .record import read_record

#: The counts of an import, in the order they are told.
IMPORT_COUNTS = ("imported", "completed", "waiting", "known", "rejected")


@dataclass(frozen=True)
class ImportProgress:
    file: str
    done: int
    total: int

    def to_json(self) -> dict:
        return {"file": self.file, "done": self.done, "total": self.total}


@dataclass(frozen=True)
class LastImport:
    """The last import: where from, when, and every entry read in exactly one count."""

    path: str | None
    at: float | None
    error: str | None = None
    files: tuple[str, ...] = ()
    total: int = 0
    imported: int = 0
    completed: int = 0
    waiting: int = 0
    known: int = 0
    rejected: int = 0
    unreadable: int = 0
    interrupted: str | None = None   # why it stopped early (the medium went away, the station stopped)
    refused: tuple[str, ...] = ()    # bundles refused whole

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in IMPORT_COUNTS}

    def to_json(self) -> dict:
        return {"path": self.path, "at": self.at, "error": self.error, "files": list(self.files),
                "total": self.total, **self.counts(), "unreadable": self.unreadable,
                "interrupted": self.interrupted, "refused": list(self.refused)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LastImport:
        """Also reads a record an older station wrote: a count it lacks is 0."""
        return cls(path=doc.get("path"), at=doc.get("at"), error=doc.get("error"),
                   files=tuple(doc.get("files") or ()), total=doc.get("total", 0),
                   **{name: doc.get(name, 0) for name in IMPORT_COUNTS}, unreadable=doc.get("unreadable", 0),
                   interrupted=doc.get("interrupted"), refused=tuple(doc.get("refused") or ()))


@dataclass(frozen=True)
class LastReceipts:
    path: str | None     # None when writing failed
    count: int
    at: float | None
    error: str | None = None

    def to_json(self) -> dict:
        return {"path": self.path, "count": self.count, "at": self.at, "error": self.error}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LastReceipts:
        return cls(doc.get("path"), doc.get("count", 0), doc.get("at"), doc.get("error"))


@dataclass(frozen=True)
class OfflineStatus:
    watch_dir: str | None                 # the watched mount folder, when ``[offline] watch_dir`` is set
    busy: bool                            # an import is running or asked for
    progress: ImportProgress | None       # the import running now
    last_import: LastImport | None        # None: never
    last_receipts: LastReceipts | None    # None: never

    def to_json(self) -> dict:
        return {"watch_dir": self.watch_dir, "busy": self.busy,
                "progress": self.progress.to_json() if self.progress else None,
                "last_import": self.last_import.to_json() if self.last_import else None,
                "last_receipts": self.last_receipts.to_json() if self.last_receipts else None}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> OfflineStatus:
        progress, last, receipts = doc.get("progress"), doc.get("last_import"), doc.get("last_receipts")
        return cls(watch_dir=doc.get("watch_dir"), busy=bool(doc.get("busy")),
                   progress=ImportProgress(**progress) if progress else None,
                   last_import=LastImport.from_json(last) if last else None,
                   last_receipts=LastReceipts.from_json(receipts) if receipts else None)

    @classmethod
    def of_record(cls, record: Mapping[str, Any], watch_dir: Path | None,
                  progress: ImportProgress | None = None, busy: bool = False) -> OfflineStatus:
        """From ``offline.json``'s content (``read_record``) and what the desk is doing now."""
        return cls.from_json({"watch_dir": str(watch_dir) if watch_dir else None, "busy": busy,
                              "progress": progress.to_json() if progress else None,
                              "last_import": record.get("last_import"),
                              "last_receipts": record.get("last_receipts")})


def offline_at_rest(state_dir: Path, watch_dir: Path | None) -> OfflineStatus:
    """With the daemon down: the last import and receipts from ``offline.json``; nothing running."""
    return OfflineStatus.of_record(read_record(state_dir), watch_dir)

"""The daemon's offline desk: imports asked for over the control socket, and a watched mount folder.

One thread does every import, so the journal keeps one writer. With
``[offline] watch_dir`` set, it looks at that folder and each folder one
level down (where a stick is mounted, e.g. ``/media/ktp/KTP-STICK``): a
bundle not read before is imported, and a medium newly mounted, or one a
bundle was read from, gets a receipts file of the queued reports. What it
is doing and what it last did is ``snapshot()``, an ``OfflineStatus`` the
station's status carries.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import structlog

from ..journal import Journal
from ..os_faults import OsFaultError
from ..storage import StorageState
from .importer import BundleImporter, ImportSummary, bundle_files
from .receipts import ReceiptsWritten, write_receipts
from .record import OfflineRecord
from .status import ImportProgress, OfflineStatus

log = structlog.get_logger("ktp.offline")


class OfflineWorker:
    def __init__(self, importer: BundleImporter, journal: Journal, station_id: str, token: str,
                 state_dir: Path, watch_dir: Path | None, scan_seconds: float, stop: threading.Event,
                 clock: Callable[[], float] = time.time, storage: StorageState | None = None) -> None:
        """``storage``: while it holds (the state folder cannot be written), no import starts, and one
        that fails for it waits for the hold to end instead of ending this thread."""
        self.importer, self.journal = importer, journal
        self._storage = storage
        self._station_id, self._token = station_id, token
        self._watch_dir, self._scan_s = watch_dir, scan_seconds
        self._stop, self._clock = stop, clock
        self._record = OfflineRecord(state_dir)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._requests: deque[Path] = deque()
        self._progress: ImportProgress | None = None
        self._mounts_seen: set[str] = set()

    # -- asked by others -----------------------------------------------------
    def request_import(self, path: Path) -> None:
        with self._lock:
            self._requests.append(Path(path))
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def export(self, folder: Path) -> ReceiptsWritten:
        """The queued reports into a receipts file in ``folder`` (raises OSError when it cannot)."""
        try:
            written = write_receipts(self.journal, self._station_id, self._token, folder, self._clock())
        except OSError as exc:
            with self._lock:
                self._record.exported(None, self._clock(), f"{folder}: {exc.strerror or exc}")
            raise
        with self._lock:
            self._record.exported(written, self._clock())
        log.info("receipts.written", path=str(written.path), reports=written.count)
        return written

    def snapshot(self) -> OfflineStatus:
        with self._lock:
            return OfflineStatus.of_record(self._record.doc, self._watch_dir, self._progress,
                                           busy=self._progress is not None or bool(self._requests))

    # -- the thread ------------------------------------------------------------
    def run(self) -> None:
        while not self._stop.is_set():
            if self._storage is None or not self._storage.holds:
                try:
                    self._serve()
                except (OSError, OsFaultError) as exc:
                    if self._storage is None or not self._storage.took(exc):
                        raise
            self._wake.wait(self._scan_s if self._watch_dir is not None else 60.0)
            self._wake.clear()

    def _serve(self) -> None:
        while (path := self._next_request()) is not None and not self._stop.is_set():
            self.import_now(path)
        self.scan()

    def _next_request(self) -> Path | None:
        with self._lock:
            return self._requests.popleft() if self._requests else None

    def import_now(self, path: Path) -> ImportSummary:
        with self._lock:
            self._progress = ImportProgress(Path(path).name, 0, 0)
        try:
            summary = self.importer.import_path(path, progress=self._advance)
        except OSError as exc:  # the folder itself went away, or the state folder took no more
            summary = ImportSummary(interrupted=f"{path}: {exc.strerror or exc}")
            if self._storage is not None:
                self._storage.took(exc)  # the station holds; the bundle is read again when offered again
        with self._lock:
            self._progress = None
            self._record.imported(path, summary, self._clock())
        return summary

    def _advance(self, done: int, total: int) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress = ImportProgress(self._progress.file, done, total)

    def scan(self) -> None:
        """Look at the watched folder once: import new bundles, give new media their receipts."""
        watch_dir = self._watch_dir
        if watch_dir is None:
            return
        try:
            media = [watch_dir] + sorted(p for p in watch_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return  # not there (nothing mounted yet)
        for medium in media:
            try:
                self._visit(medium, is_mount=medium != watch_dir)
            except OSError as exc:
                log.warning("medium.unreadable", medium=str(medium), error=exc.strerror or str(exc))

    def _visit(self, medium: Path, is_mount: bool) -> None:
        fresh = [f for f in bundle_files(medium) if not self._record.seen(_fingerprint(f))]
        mount = _mount_id(medium) if is_mount else None
        if not fresh and (mount is None or mount in self._mounts_seen):
            return
        log.info("medium.found", medium=str(medium), bundles=len(fresh))
        for bundle in fresh:
            if self.import_now(bundle).interrupted:
                return  # pulled: when it comes back, it is read again
            with self._lock:
                self._record.remember(_fingerprint(bundle))
        try:
            self.export(medium)
        except OSError as exc:
            log.warning("receipts.not_written", medium=str(medium), error=exc.strerror or str(exc))
        if mount is not None:
            self._mounts_seen.add(mount)


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def _mount_id(folder: Path) -> str:
    """This mount of ``folder`` (a new id each time a stick is mounted there), else the folder's identity."""
    target = str(folder.resolve())
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 4 and fields[4].replace("\\040", " ") == target:
                    return f"mount:{fields[0]}"
    except OSError:
        pass
    st = folder.stat()
    return f"folder:{target}:{st.st_dev}:{st.st_ino}"

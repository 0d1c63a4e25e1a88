"""The state folder's storage, held as a state of the station.

Any worker whose write in the state folder fails for the machine's own reason
(no space, a read-only file system, no permission) hands the failure to
``StorageState.took``: the station then holds (no new blank, no download, no
poll, no report) instead of losing a thread. A probe thread looks again every
``probe_s``: while healthy, only at the free space (the station also holds
before the disk is full, when less than ``min_free_bytes`` is left); while
held, with a real small write and fsync in the folder and each extra probe
(the journal's own commit). When that succeeds, the station resumes by itself
and the workers are woken. One log line when a hold starts, one when it ends.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import structlog

from ..os_faults import OsFault, OsFaultError, OsFaultKind, classify_at, probe_path

log = structlog.get_logger("ktp.storage")

#: The faults the station rides out as a state; others (a real bug) still stop a worker.
STORAGE_KINDS = frozenset({OsFaultKind.NO_SPACE, OsFaultKind.READ_ONLY, OsFaultKind.PERMISSION})
#: Below this much free space in the state folder no new blank or download is started.
MIN_FREE_BYTES = 1 << 20
#: How often the folder is looked at (a statvfs while healthy; a real write while held).
PROBE_S = 2.0
#: How long a worker rests between looks while the station holds (it is woken on resume).
HOLD_REST_S = 5.0
_PROBE_FILE = ".storage-probe"
_PROBE_BYTES = 4096


_SPACE = ("(ruang kosong {free} MB; perlu {needed} MB)", "({free} MB free; {needed} MB needed)")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}"


@dataclass(frozen=True)
class StorageStatus:
    """A hold for storage: the fault, since when (unix time), the free space now and what resuming needs."""
    fault: OsFault
    since: float
    free_bytes: int | None
    needed_bytes: int

    def line(self, lang: str = "id") -> str:
        """The fault's one line, with the free space now and what resuming needs."""
        space = _SPACE[1 if lang == "en" else 0].format(
            free="?" if self.free_bytes is None else _mib(self.free_bytes), needed=_mib(self.needed_bytes))
        return f"{self.fault.line(lang)} {space}"

    def to_json(self) -> dict:
        return {"kind": self.fault.kind.value, "where": self.fault.where, "errno": self.fault.errno,
                "since": self.since, "free_bytes": self.free_bytes, "needed_bytes": self.needed_bytes}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StorageStatus:
        fault = OsFault(OsFaultKind(doc["kind"]), doc["where"], doc.get("errno"))
        return cls(fault, doc["since"], doc.get("free_bytes"), doc["needed_bytes"])


class StorageState:
    """The one owner of "the state folder cannot be written"; a ``BlankGate`` for the print worker."""

    def __init__(self, folder: Path, stop: threading.Event, *, min_free_bytes: int = MIN_FREE_BYTES,
                 probe_s: float = PROBE_S, probes: Sequence[Callable[[], None]] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        self.min_free_bytes = min_free_bytes
        self._stop, self._probe_s, self._probes, self._clock = stop, probe_s, tuple(probes), clock
        self._lock = threading.Lock()
        self._status: StorageStatus | None = None
        self._on_resume: list[Callable[[], None]] = []

    @property
    def needed_bytes(self) -> int:
        """Free space a hold for lack of it ends at: twice the floor, so it does not flap at the edge."""
        return 2 * self.min_free_bytes

    def on_resume(self, wake: Callable[[], None]) -> None:
        """``wake()`` is called when a hold ends (each worker's wake-up)."""
        self._on_resume.append(wake)

    def add_probe(self, probe: Callable[[], None]) -> None:
        """An extra write that must succeed before a hold ends (it raises when it cannot)."""
        self._probes += (probe,)

    @property
    def holds(self) -> bool:
        with self._lock:
            return self._status is not None

    def status(self) -> StorageStatus | None:
        with self._lock:
            status = self._status
        return None if status is None else replace(status, free_bytes=self.free_bytes())

    def free_bytes(self) -> int | None:
        try:
            fs = os.statvfs(self.folder)
        except OSError:
            return None
        return fs.f_bavail * fs.f_frsize

    # -- the gate the print worker asks (agent.power's BlankGate) ----------------
    def may_take_blank(self) -> bool:
        return not self.holds

    def held(self, job_id: str) -> None:
        """The card stays the worker's current one; the hold's own line already told why."""

    # -- what the workers hand in -----------------------------------------------
    def took(self, exc: BaseException, where: Path | str | None = None) -> bool:
        """Whether ``exc`` is the storage failing (then the station holds from now on)."""
        fault = exc.fault if isinstance(exc, OsFaultError) else classify_at(exc, Path(where or self.folder))
        if fault is None or fault.kind not in STORAGE_KINDS:
            return False
        self._enter(fault)
        return True

    def guarded(self, one_round: Callable[[], float]) -> Callable[[], float]:
        """``one_round`` of a worker's loop, skipped while the station holds, and resting (not
        dying) when a write in it fails for storage."""
        def round_() -> float:
            if self.holds:
                return HOLD_REST_S
            try:
                return one_round()
            except (OSError, OsFaultError) as exc:
                if not self.took(exc):
                    raise
                return HOLD_REST_S
        return round_

    # -- the probe thread ----------------------------------------------------------
    def run(self) -> None:
        while not self._stop.is_set():
            self.look()
            self._stop.wait(self._probe_s)

    def look(self) -> None:
        """One probe: enter a hold when the folder cannot take writes, end one when it can again."""
        holding = self.holds
        fault = probe_path(self.folder, min_free_bytes=self.needed_bytes if holding else self.min_free_bytes)
        if fault is None and holding:
            fault = self._try_writes()
        if fault is not None and fault.kind in STORAGE_KINDS:
            self._enter(fault)
        elif fault is None and holding:
            self._resume()

    def _try_writes(self) -> OsFault | None:
        try:
            self._write_probe_file()
            for probe in self._probes:
                probe()
        except (OSError, OsFaultError) as exc:
            fault = exc.fault if isinstance(exc, OsFaultError) else classify_at(exc, self.folder / _PROBE_FILE)
            with self._lock:  # a failure the probe cannot name keeps the hold as it was
                return fault if fault is not None else (self._status.fault if self._status else None)
        return None

    def _write_probe_file(self) -> None:
        path = self.folder / _PROBE_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * _PROBE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            path.unlink(missing_ok=True)

    def _enter(self, fault: OsFault) -> None:
        with self._lock:
            before = self._status
            if before is not None and before.fault.kind is fault.kind:
                return
            self._status = StorageStatus(fault, before.since if before else self._clock(), None, self.needed_bytes)
        free = self.free_bytes()
        log.error("storage.fault", kind=fault.kind.value, where=fault.where, free_bytes=free,
                  needed_bytes=self.needed_bytes, before=before.fault.kind.value if before else None,
                  line=fault.line())

    def _resume(self) -> None:
        with self._lock:
            status, self._status = self._status, None
        if status is None:
            return
        log.info("storage.resumed", kind=status.fault.kind.value, where=status.fault.where,
                 held_s=round(self._clock() - status.since, 1), free_bytes=self.free_bytes())
        for wake in self._on_resume:
            wake()

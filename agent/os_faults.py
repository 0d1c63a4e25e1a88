"""Faults of the machine itself, sorted into the few kinds a technician can act on.

An ``OSError`` (or an SQLite error that stands for one) becomes an ``OsFault``:
its kind, where it happened (a path, a config key, a port), one line in
Bahasa Indonesia or English saying what the station does about it and what to
do, and the exit code the service manager sees when the station cannot start.
None of these is ever corruption: a journal is called damaged only after it
was read and failed its integrity check (``journal_guard``).
"""
from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

from .errors import AgentError

__all__ = ["AcceptWatch", "ExitCode", "OsFault", "OsFaultError", "OsFaultKind", "classify", "classify_at", "classify_sqlite",
           "probe_path", "probe_write"]


class ExitCode(int, Enum):
    """The daemon's exit codes (sysexits.h names); the systemd unit keeps the ones a restart cannot fix
    in ``RestartPreventExitStatus=``."""
    OK = 0
    FAILED = 1            # stopped for another reason (a worker died); a restart may help
    DATA_ERROR = 65       # EX_DATAERR: the journal failed its integrity check; held for a technician
    NO_SERVICE = 69       # EX_UNAVAILABLE: the metrics port is taken by another program
    OS_ERROR = 71         # EX_OSERR: too many open files; a restart releases them
    CANT_CREATE = 73      # EX_CANTCREAT: the state folder is on a read-only file system
    TEMP_FAIL = 75        # EX_TEMPFAIL: no space left even to open the journal; a restart may help later
    NO_PERMISSION = 77    # EX_NOPERM: the station's user may not write its own files
    CONFIG = 78           # EX_CONFIG: the configuration file names something impossible


class OsFaultKind(str, Enum):
    PERMISSION = "permission-denied"
    READ_ONLY = "read-only"
    NO_SPACE = "no-space"
    ADDRESS_IN_USE = "address-in-use"
    DEVICE_BUSY = "device-busy"
    DEVICE_MISSING = "device-missing"
    TOO_MANY_FILES = "too-many-files"


_BY_ERRNO = {
    errno.EACCES: OsFaultKind.PERMISSION, errno.EPERM: OsFaultKind.PERMISSION,
    errno.EROFS: OsFaultKind.READ_ONLY,
    errno.ENOSPC: OsFaultKind.NO_SPACE, errno.EDQUOT: OsFaultKind.NO_SPACE,
    errno.EADDRINUSE: OsFaultKind.ADDRESS_IN_USE,
    errno.EBUSY: OsFaultKind.DEVICE_BUSY,
    errno.ENODEV: OsFaultKind.DEVICE_MISSING, errno.ENXIO: OsFaultKind.DEVICE_MISSING,
    errno.EMFILE: OsFaultKind.TOO_MANY_FILES, errno.ENFILE: OsFaultKind.TOO_MANY_FILES,
}

_EXIT = {
    OsFaultKind.PERMISSION: ExitCode.NO_PERMISSION, OsFaultKind.READ_ONLY: ExitCode.CANT_CREATE,
    OsFaultKind.NO_SPACE: ExitCode.TEMP_FAIL, OsFaultKind.ADDRESS_IN_USE: ExitCode.NO_SERVICE,
    OsFaultKind.DEVICE_BUSY: ExitCode.OS_ERROR, OsFaultKind.DEVICE_MISSING: ExitCode.OS_ERROR,
    OsFaultKind.TOO_MANY_FILES: ExitCode.OS_ERROR,
}

# (what happened at {where}; what the station does; what to do), Indonesian then English.
_TEXT: dict[OsFaultKind, tuple[str, str]] = {
    OsFaultKind.PERMISSION: (
        "izin ditolak untuk {where}: stasiun tidak menulis apa pun di sana dan tidak mencetak. "
        "Kembalikan pemiliknya ke pengguna layanan: `chown -R ktp-agent:ktp-agent {folder}` "
        "(biasanya akibat `sudo ktp-agent run`). Jurnal TIDAK rusak; jangan jalankan `journal release`.",
        "permission denied on {where}: the station writes nothing there and prints nothing. "
        "Give it back to the service's user: `chown -R ktp-agent:ktp-agent {folder}` "
        "(usually left by `sudo ktp-agent run`). The journal is NOT damaged; do not run `journal release`."),
    OsFaultKind.READ_ONLY: (
        "sistem berkas untuk {where} hanya-baca: stasiun berhenti mengambil blanko dan mengunduh, "
        "menyimpan semua yang sudah ada. Periksa disk (`dmesg`, `mount`), pasang kembali dengan izin tulis; "
        "stasiun lanjut sendiri. Jurnal TIDAK rusak.",
        "the file system of {where} is read-only: the station stops taking blanks and downloading and keeps "
        "everything it holds. Check the disk (`dmesg`, `mount`) and remount it read-write; the station "
        "resumes by itself. The journal is NOT damaged."),
    OsFaultKind.NO_SPACE: (
        "disk penuh di {where}: stasiun berhenti mengambil blanko dan mengunduh, menyimpan semua yang sudah "
        "ada, dan lanjut sendiri bila ruang kembali. Kosongkan ruang di disk itu (`df -h {where}`).",
        "the disk is full at {where}: the station stops taking blanks and downloading, keeps everything it "
        "holds, and resumes by itself when space returns. Free space on that disk (`df -h {where}`)."),
    OsFaultKind.ADDRESS_IN_USE: (
        "{where} sudah dipakai program lain: stasiun tidak dijalankan. Hentikan program itu "
        "(`ss -lntxp` menunjukkan siapa) atau ubah alamatnya di konfigurasi.",
        "{where} is already in use by another program: the station did not start. Stop that program "
        "(`ss -lntxp` shows which) or change the address in the configuration."),
    OsFaultKind.DEVICE_BUSY: (
        "perangkat {where} sedang dipakai program lain: stasiun mencoba lagi terus. Tutup program itu "
        "(`fuser -v {where}`).",
        "the device {where} is held by another program: the station keeps retrying. Close that program "
        "(`fuser -v {where}`)."),
    OsFaultKind.DEVICE_MISSING: (
        "perangkat {where} tidak ada: stasiun mencoba lagi terus. Periksa kabel dan daya perangkat.",
        "the device {where} is not there: the station keeps retrying. Check the device's cable and power."),
    OsFaultKind.TOO_MANY_FILES: (
        "terlalu banyak berkas terbuka ({where}): stasiun berhenti agar layanan menjalankannya ulang. "
        "Bila berulang, kirim `ktp-agent diagnose --bundle` ke help desk.",
        "too many open files ({where}): the station stops so the service manager restarts it. "
        "If it happens again, send `ktp-agent diagnose --bundle` to the help desk."),
}


# At start-up a read-only state folder stops the station (it does not wait): the line says how to go on.
_AT_START: dict[OsFaultKind, tuple[str, str]] = {
    OsFaultKind.READ_ONLY: (
        "sistem berkas untuk {where} hanya-baca: stasiun tidak dijalankan dan tidak mengubah apa pun. "
        "Periksa disk (`dmesg`, `mount`), pasang kembali dengan izin tulis, lalu jalankan stasiun "
        "(`systemctl restart ktp-agent`). Jurnal TIDAK rusak.",
        "the file system of {where} is read-only: the station did not start and changed nothing. "
        "Check the disk (`dmesg`, `mount`), remount it read-write, then start the station "
        "(`systemctl restart ktp-agent`). The journal is NOT damaged."),
}


@dataclass(frozen=True)
class OsFault:
    """One fault of the machine: its kind, where (a path, ``[section] key`` or ``host:port``), the errno,
    and the folder the advice names when it is not ``where`` itself (a journal file in the state folder)."""
    kind: OsFaultKind
    where: str
    errno: int | None = None
    folder: str | None = None

    def line(self, lang: str = "id", *, at_start: bool = False) -> str:
        """The one line for the log and the CLI; ``at_start``: the station stopped before it ran."""
        text = (_AT_START if at_start and self.kind in _AT_START else _TEXT)[self.kind][1 if lang == "en" else 0]
        return text.format(where=self.where, folder=self.folder or self.where)

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self.kind]

    @property
    def waits_for_space(self) -> bool:
        """Faults the station rides out as a state (holds, resumes by itself) rather than a stop."""
        return self.kind in (OsFaultKind.NO_SPACE, OsFaultKind.READ_ONLY)


class OsFaultError(AgentError):
    """An operation failed for a reason of the machine itself; ``fault`` says which and where."""

    def __init__(self, fault: OsFault, lang: str = "id") -> None:
        self.fault = fault
        super().__init__(fault.line(lang))


def classify(exc: BaseException, where: str) -> OsFault | None:
    """The fault behind ``exc`` (an OSError, or an SQLite error standing for one); None when it is none
    of these kinds (a real bug or a damaged file is not the machine's fault)."""
    if isinstance(exc, sqlite3.Error):
        return classify_sqlite(exc, where)
    if isinstance(exc, OSError) and exc.errno in _BY_ERRNO:
        return OsFault(_BY_ERRNO[exc.errno], where, exc.errno)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        return classify(cause, where)
    return None


_SQLITE = {
    "SQLITE_FULL": OsFaultKind.NO_SPACE,
    "SQLITE_READONLY": OsFaultKind.READ_ONLY,
    "SQLITE_READONLY_DBMOVED": OsFaultKind.READ_ONLY,
    "SQLITE_PERM": OsFaultKind.PERMISSION,
    "SQLITE_AUTH": OsFaultKind.PERMISSION,
}


def classify_sqlite(exc: sqlite3.Error, where: str) -> OsFault | None:
    """SQLite's own code for the fault, when it names one. SQLite says READONLY both for a read-only file
    system and for a file the process may not write, and CANTOPEN/IOERR for many causes: a caller that knows
    the path asks ``probe_path`` which it is."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    kind = _SQLITE.get(name)
    if kind is None and name.startswith("SQLITE_READONLY"):
        kind = OsFaultKind.READ_ONLY
    if kind is None and name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR")):
        return None  # the caller probes the path itself (probe_path) to say which
    return OsFault(kind, where) if kind is not None else None


def probe_path(path: Path, *, min_free_bytes: int = 0) -> OsFault | None:
    """What stops this process writing ``path`` (a file, or a folder to create files in), looked at
    directly: a read-only file system, no write permission (the file or its folder), or less free space
    than ``min_free_bytes``. None when nothing does."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    try:
        fs = os.statvfs(folder)
    except FileNotFoundError:
        return probe_path(folder.parent, min_free_bytes=min_free_bytes) if folder.parent != folder else None
    except OSError as exc:
        return classify(exc, str(folder))
    if fs.f_flag & os.ST_RDONLY:
        return OsFault(OsFaultKind.READ_ONLY, str(folder), errno.EROFS)
    for candidate in (folder, *([path] if path.exists() and not path.is_dir() else [])):
        if not os.access(candidate, os.W_OK):
            return OsFault(OsFaultKind.PERMISSION, str(candidate), errno.EACCES)
    if fs.f_bavail * fs.f_frsize < min_free_bytes:
        return OsFault(OsFaultKind.NO_SPACE, str(folder), errno.ENOSPC)
    return None


def classify_at(exc: BaseException, path: Path) -> OsFault | None:
    """``classify``, and where the error does not say (SQLite's IOERR and CANTOPEN, a bare EIO), what a
    look at ``path`` says: a read-only file system, no permission or no free space at all."""
    fault = classify(exc, str(path))
    if fault is not None:
        return fault
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or getattr(exc, "errno", None) == errno.EIO:
        return probe_path(path, min_free_bytes=1) or probe_write(path)
    return None


def probe_write(path: Path) -> OsFault | None:
    """What a real small write (and fsync) in ``path``'s folder meets, for what ``probe_path`` cannot
    see: a file system the kernel made read-only after an error while its mount still says rw."""
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
    except OSError as exc:
        return classify(exc, str(folder))
    try:
        os.write(fd, b"\0")
        os.fsync(fd)
    except OSError as exc:
        return classify(exc, str(folder))
    finally:
        os.close(fd)
        try:
            os.unlink(name)
        except OSError:
            pass
    return None


class AcceptWatch:
    """A socketserver mixin: an accept() that fails for want of file descriptors is told to
    ``on_fault`` (the station's exit with its one line), since socketserver would drop it silently
    and spin on the full table."""
    on_fault: Callable[[OSError], None] | None = None

    def get_request(self):
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE) and self.on_fault is not None:
                self.on_fault(exc)
            raise

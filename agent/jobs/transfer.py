"""Resumable payload downloads into the spool.

Partial bytes live in ``<job>.part``; the offset is the file's own length, so
a killed or power-cut agent resumes from what reached the disk. Beside it,
``<job>.etag`` holds the strong ETag those bytes belong to and ``<job>.fetch``
a small durable record (whole fetches that failed SHA-256, time of the last
progress). A resume asks ``Range: bytes=N-`` with ``If-Range`` on that ETag.

Answers are taken as RFC 9110 reads them: a 200 is the whole representation
(what we held is discarded, counted as wasted); a 206 is spliced only when its
Content-Range starts at our offset, ends inside the payload, names the
manifest's size and carries the same ETag; a 416 or a mismatch drops the
partial and starts over. Never more than ``payload.size`` bytes are read for
a job, and nothing is trusted until its SHA-256 equals the manifest's.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Callable

import urllib3

from ..errors import LinkError, LinkTimeoutError
from ..os_faults import OsFaultError, classify
from .link import ServerLink, read_some
from .manifest import PayloadRef

CHUNK = 16 * 1024
FSYNC_EVERY = 256 * 1024
FSYNC_SECONDS = 5.0
_CONTENT_RANGE = re.compile(r"\Abytes (\d+)-(\d+)/(\d+|\*)\Z")
_UNSATISFIED_RANGE = re.compile(r"\Abytes \*/(\d+)\Z")
_STRONG_ETAG = re.compile(r'\A"[\x21\x23-\x7e\x80-\xff]*"\Z')


class TransferBrokenError(LinkError):
    """This attempt ended before the payload was whole; what arrived is kept.

    ``gained`` is how many bytes this attempt added to the partial file;
    ``retry_now`` says the server answered and the next attempt will differ
    (after a restart from zero), so no back-off is needed; ``stalled`` says
    no byte came for the stall window.
    """

    def __init__(self, message: str, *, gained: int = 0, retry_now: bool = False,
                 stalled: bool = False) -> None:
        super().__init__(message)
        self.gained, self.retry_now, self.stalled = gained, retry_now, stalled


class PayloadCorruptError(LinkError):
    """The server's payload is not the manifest's (SHA-256 or size); it was discarded.

    ``fetches`` is how many such whole fetches this job has had, kept on disk.
    """

    def __init__(self, message: str, fetches: int) -> None:
        super().__init__(message)
        self.fetches = fetches


class FetchRecord:
    """``<job>.fetch``: corrupt-fetch count and last progress time, durable across restarts."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path, self._clock = path, clock
        try:
            doc = json.loads(path.read_text())
            self.corrupt = int(doc["corrupt"])
            self.progress_at = float(doc["progress_at"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            self.corrupt, self.progress_at = 0, 0.0

    def started(self) -> None:
        if not self.progress_at:
            self.progress_at = self._clock()
            self.save()

    def progressed(self) -> None:
        self.progress_at = self._clock()
        self.save()

    def note_corrupt(self) -> int:
        self.corrupt += 1
        self.save()
        return self.corrupt

    def idle_seconds(self) -> float:
        return max(0.0, self._clock() - self.progress_at) if self.progress_at else 0.0

    def save(self) -> None:
        _write_atomic(self.path, json.dumps({"corrupt": self.corrupt, "progress_at": self.progress_at}).encode())


class PayloadDownload:
    """Fetch one job's ciphertext into the spool, resuming whatever is there."""

    def __init__(self, link: ServerLink, spool_dir: Path, job_id: str, ref: PayloadRef, *,
                 stall_seconds: float = 60.0, fsync_bytes: int = FSYNC_EVERY,
                 count_bytes: Callable[[str, int], None] = lambda kind, n: None,
                 on_resume: Callable[[int], None] = lambda offset: None,
                 on_transfer: Callable[[int, float], None] = lambda nbytes, seconds: None,
                 should_stop: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.time) -> None:
        self.link, self.ref, self.job_id = link, ref, job_id
        self.final = spool_dir / f"{job_id}.payload"
        self.part = spool_dir / f"{job_id}.part"
        self.etag_file = spool_dir / f"{job_id}.etag"
        self.record = FetchRecord(spool_dir / f"{job_id}.fetch", clock)
        self._stall_s, self._fsync_bytes = stall_seconds, fsync_bytes
        self._count, self._on_resume, self._on_transfer = count_bytes, on_resume, on_transfer
        self._should_stop = should_stop

    def run(self) -> Path:
        """Return the verified payload path, or raise LinkError and its kinds."""
        if self.final.exists():
            return self.final
        self.record.started()
        offset = self._usable_offset()
        if offset < self.ref.size:
            self._fetch(offset)
        return self._verify_and_keep()

    def held(self) -> int:
        """Bytes of this payload on disk now (partial or whole)."""
        for path in (self.final, self.part):
            try:
                return path.stat().st_size
            except FileNotFoundError:
                continue
        return 0

    def discard(self) -> None:
        for p in (self.part, self.etag_file, self.final, self.record.path):
            p.unlink(missing_ok=True)

    # -- one attempt -------------------------------------------------------
    def _usable_offset(self) -> int:
        try:
            offset = self.part.stat().st_size
        except FileNotFoundError:
            return 0
        if offset > self.ref.size:
            self._restart(offset)
            return 0
        return offset

    def _fetch(self, offset: int) -> None:
        headers = {"Accept-Encoding": "identity"}
        etag = self._stored_etag()
        if offset and etag and _STRONG_ETAG.match(etag):
            headers.update({"Range": f"bytes={offset}-", "If-Range": etag})
            self._on_resume(offset)
        elif offset:
            self._restart(offset)  # bytes of unknown version are never spliced
            offset = 0
        response = self.link.request("GET", self.ref.url, headers=headers, preload=False,
                                     read_timeout=self._stall_s)
        whole = False
        try:
            start, length = self._accept(response, offset)
            whole = self._stream(response, start, length)
        finally:
            if not whole:
                response.close()  # body not read to its end: this connection is not reusable
            response.release_conn()

    def _accept(self, response: urllib3.BaseHTTPResponse, offset: int) -> tuple[int, int]:
        """Decide, from status and headers, where the body's first byte goes and how long it is."""
        status, size = response.status, self.ref.size
        etag = response.headers.get("ETag")
        if status == 200:
            self._check_total(_int_header(response, "Content-Length"), offset)
            if offset:
                self._restart(offset)  # the whole representation again: what we held goes
            self._store_etag(etag)
            return 0, size
        if status == 206:
            return self._accept_range(response, offset, etag)
        if status == 416:
            match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
            self._check_total(int(match.group(1)) if match else None, offset)
            self._restart(offset)
            raise TransferBrokenError(f"payload {self.job_id}: range not satisfiable; starting over",
                                      retry_now=bool(offset))
        raise LinkError(f"payload {self.job_id}: server answered {status}")

    def _accept_range(self, response: urllib3.BaseHTTPResponse, offset: int, etag: str | None) -> tuple[int, int]:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            self._check_total(int(match.group(3)), offset)
        problem = None
        if not match:
            problem = "206 without a usable Content-Range"
        else:
            first, last = int(match.group(1)), int(match.group(2))
            length = _int_header(response, "Content-Length")
            if first != offset or last < first or last >= self.ref.size:
                problem = f"Content-Range {first}-{last} does not continue at {offset}"
            elif length is not None and length != last - first + 1:
                problem = "Content-Length does not match Content-Range"
            elif offset and etag is not None and etag != self._stored_etag():
                problem = "a range of another ETag"
        if problem:
            self._restart(offset)  # never splice what does not provably continue our bytes
            raise TransferBrokenError(f"payload {self.job_id}: {problem}; starting over", retry_now=bool(offset))
        if not offset:
            self._store_etag(etag)
        return first, last - first + 1

    def _check_total(self, total: int | None, offset: int) -> None:
        """A representation of another size can never be the manifest's payload."""
        if total is not None and total != self.ref.size:
            self._restart(offset)
            fetches = self.record.note_corrupt()
            raise PayloadCorruptError(f"payload {self.job_id}: server's payload is {total} bytes, "
                                      f"manifest says {self.ref.size}", fetches)

    def _stream(self, response: urllib3.BaseHTTPResponse, offset: int, length: int) -> bool:
        """Append the body at ``offset``; True when it was read to its announced end."""
        limit = min(length, self.ref.size - offset)
        started, unsynced, last_sync = time.monotonic(), 0, time.monotonic()
        broke: Exception | None = None
        # Unbuffered: every received chunk is in the page cache at once, so a killed
        # process loses nothing it received; fsync (by bytes and time) covers power cuts.
        with open(self.part, "r+b" if offset else "wb", buffering=0) as fh:
            fh.seek(offset)
            fh.truncate()
            try:
                while limit > 0:
                    # whatever one receive brings, so a break loses nothing received
                    chunk = read_some(response, min(CHUNK, limit))
                    if not chunk:
                        break
                    chunk = chunk[:limit]  # never take more than payload.size
                    _write_all(fh, chunk)
                    limit -= len(chunk)
                    unsynced += len(chunk)
                    self._count("payload", len(chunk))
                    if unsynced >= self._fsync_bytes or time.monotonic() - last_sync >= FSYNC_SECONDS:
                        _sync(fh)
                        unsynced, last_sync = 0, time.monotonic()
                        self.record.progressed()
                    if self._should_stop():
                        break
            except (LinkError, OSError) as exc:  # the link broke, or the spool's disk failed
                broke = exc
            finally:
                broke = _synced(fh) or broke
                gained = fh.tell() - offset
        if gained:
            self.record.progressed()
            self._on_transfer(gained, time.monotonic() - started)
        disk = classify(broke, str(self.part)) if isinstance(broke, OSError) else None
        if disk is not None:  # no space, read-only, no permission: the station holds, the bytes kept stay
            raise OsFaultError(disk) from broke
        if limit == 0:
            return response.length_remaining == 0  # else unread bytes remain: do not reuse
        stalled = isinstance(broke, LinkTimeoutError)
        why = ("stalled" if stalled else _named(broke)) if broke else (
            "stopping" if self._should_stop() else "body ended short")
        raise TransferBrokenError(f"payload {self.job_id}: transfer broke at {offset + gained} of "
                                  f"{self.ref.size} bytes ({why})", gained=gained, stalled=stalled)

    def _verify_and_keep(self) -> Path:
        digest = hashlib.sha256()
        with open(self.part, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
        if digest.hexdigest() != self.ref.sha256:
            self._restart(self.ref.size)
            fetches = self.record.note_corrupt()
            raise PayloadCorruptError(f"payload {self.job_id}: SHA-256 does not match the manifest", fetches)
        os.replace(self.part, self.final)
        _fsync_dir(self.final.parent)
        self.etag_file.unlink(missing_ok=True)
        self.record.path.unlink(missing_ok=True)
        return self.final

    def _restart(self, wasted: int) -> None:
        """Drop the partial bytes (counted as wasted) and the ETag they belonged to."""
        if wasted:
            self._count("wasted", wasted)
        if self.part.exists():
            os.truncate(self.part, 0)
        self.etag_file.unlink(missing_ok=True)

    def _stored_etag(self) -> str | None:
        try:
            return self.etag_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def _store_etag(self, etag: str | None) -> None:
        if etag and _STRONG_ETAG.match(etag):
            _write_atomic(self.etag_file, etag.encode())
        else:
            self.etag_file.unlink(missing_ok=True)  # weak or none: these bytes cannot be resumed


def _named(exc: Exception) -> str:
    """What broke an attempt: the link names the library's failure; the disk's by its class."""
    return str(exc) if isinstance(exc, LinkError) else exc.__class__.__name__


def _int_header(response: urllib3.BaseHTTPResponse, name: str) -> int | None:
    raw = response.headers.get(name)
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _write_all(fh, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


def _sync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _synced(fh) -> OSError | None:
    """``_sync``, returning its failure (a full disk refuses the fsync too) rather than raising it."""
    try:
        _sync(fh)
    except OSError as exc:
        return exc
    return None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        _sync(fh)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

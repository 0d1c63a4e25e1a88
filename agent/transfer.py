"""Resumable payload downloads into the spool.

Partial bytes live in ``<job>.part`` beside the ETag they belong to; the
offset is the file's own length. A resume asks ``Range: bytes=N-`` with
``If-Range`` on the strong ETag. Nothing is trusted until its SHA-256 equals
the manifest's, and never more than ``payload.size`` bytes are taken.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable

import urllib3

from .errors import LinkError
from .link import ServerLink
from .manifest import PayloadRef

CHUNK = 16 * 1024
FSYNC_EVERY = 256 * 1024
_CONTENT_RANGE = re.compile(r"\Abytes (\d+)-(\d+)/(\d+|\*)\Z")


class PayloadCorruptError(LinkError):
    """The complete payload's SHA-256 does not match the manifest; it was discarded."""


class PayloadDownload:
    """Fetch one job's ciphertext into the spool, resuming whatever is there."""

    def __init__(self, link: ServerLink, spool_dir: Path, job_id: str, ref: PayloadRef,
                 count_bytes: Callable[[str, int], None] = lambda kind, n: None,
                 on_resume: Callable[[int], None] = lambda offset: None) -> None:
        self.link, self.ref, self.job_id = link, ref, job_id
        self.final = spool_dir / f"{job_id}.payload"
        self.part = spool_dir / f"{job_id}.part"
        self.etag_file = spool_dir / f"{job_id}.etag"
        self._count = count_bytes
        self._on_resume = on_resume

    def run(self) -> Path:
        """Return the verified payload path, or raise LinkError / PayloadCorruptError."""
        if self.final.exists():
            return self.final
        offset = self._usable_offset()
        if offset < self.ref.size:
            self._fetch(offset)
        return self._verify_and_keep()

    def discard(self) -> None:
        for p in (self.part, self.etag_file, self.final):
            p.unlink(missing_ok=True)

    def _usable_offset(self) -> int:
        try:
            offset = self.part.stat().st_size
        except FileNotFoundError:
            return 0
        if offset > self.ref.size:
            self._waste(offset, truncate_to=0)
            return 0
        return offset

    def _fetch(self, offset: int) -> None:
        headers = {}
        etag = self._stored_etag()
        if offset and etag:
            headers = {"Range": f"bytes={offset}-", "If-Range": etag}
            self._on_resume(offset)
        elif offset:
            self._waste(offset, truncate_to=0)  # bytes of unknown version are never trusted
            offset = 0
        response = self.link.request("GET", self.ref.url, headers=headers, preload=False)
        try:
            offset = self._accept(response, offset)
            self._stream(response, offset)
        finally:
            response.release_conn()

    def _accept(self, response: urllib3.BaseHTTPResponse, offset: int) -> int:
        """Decide, from status and headers, where the body's first byte goes."""
        if response.status == 416:
            self._waste(offset, truncate_to=0)
            raise LinkError(f"payload {self.job_id}: range not satisfiable; restarting from zero")
        etag = response.headers.get("ETag")
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            total_ok = match and match.group(3) in ("*", str(self.ref.size))
            if not match or int(match.group(1)) != offset or not total_ok:
                self._waste(offset, truncate_to=0)
                raise LinkError(f"payload {self.job_id}: Content-Range does not match the request")
        elif response.status == 200:
            if offset:
                self._waste(offset, truncate_to=0)  # the server sent the whole body again
            offset = 0
        else:
            raise LinkError(f"payload {self.job_id}: server answered {response.status}")
        if etag and etag != self._stored_etag():
            if offset:  # a 206 for another version: never splice two versions
                self._waste(offset, truncate_to=0)
                raise LinkError(f"payload {self.job_id}: ETag changed; restarting from zero")
            self._store_etag(etag)
        return offset

    def _stream(self, response: urllib3.BaseHTTPResponse, offset: int) -> None:
        limit = self.ref.size - offset
        unsynced = 0
        with open(self.part, "r+b" if offset else "wb") as fh:
            fh.seek(offset)
            fh.truncate()
            try:
                for chunk in response.stream(CHUNK, decode_content=False):
                    if len(chunk) > limit:
                        chunk = chunk[:limit]  # never take more than payload.size
                    fh.write(chunk)
                    limit -= len(chunk)
                    unsynced += len(chunk)
                    self._count("payload", len(chunk))
                    if unsynced >= FSYNC_EVERY:
                        fh.flush()
                        os.fsync(fh.fileno())
                        unsynced = 0
                    if limit == 0:
                        break
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise LinkError(f"payload {self.job_id}: transfer broke at {self.ref.size - limit} bytes"
                                f" ({exc.__class__.__name__})") from None
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        if limit:
            raise LinkError(f"payload {self.job_id}: body ended {limit} bytes short")

    def _verify_and_keep(self) -> Path:
        digest = hashlib.sha256()
        with open(self.part, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
        if digest.hexdigest() != self.ref.sha256:
            self._waste(self.ref.size, truncate_to=0)
            raise PayloadCorruptError(f"payload {self.job_id}: SHA-256 does not match the manifest")
        os.replace(self.part, self.final)
        _fsync_dir(self.final.parent)
        self.etag_file.unlink(missing_ok=True)
        return self.final

    def _waste(self, nbytes: int, truncate_to: int) -> None:
        if nbytes:
            self._count("wasted", nbytes)
        if self.part.exists():
            os.truncate(self.part, truncate_to)
        self.etag_file.unlink(missing_ok=True)

    def _stored_etag(self) -> str | None:
        try:
            return self.etag_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def _store_etag(self, etag: str) -> None:
        self.etag_file.write_text(etag)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

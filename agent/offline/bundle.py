"""Reading an offline job bundle (protocol section 5) from a removable medium.

A bundle adds no trust of its own: this module only takes the archive apart.
``bundle.json`` must be whole and well formed, or the bundle is refused
(``BundleError``). A payload member that is missing, or whose size or
SHA-256 is not the manifest's, is *damaged* (``None``: the job waits for the
network). A medium that stops answering mid-read (pulled, truncated, an I/O
error) raises ``MediumGoneError``: the import stops before the job it was
reading, and a later read of the same bundle carries on.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import AgentError
from ..jobs import SignedEntry, decode_entry

BUNDLE_SUFFIX = ".ktpjobs"
BUNDLE_VERSION = 1
#: bundle.json of a few thousand jobs is a few MB; anything bigger is not a bundle.
MAX_INDEX_BYTES = 32 << 20


class BundleError(AgentError):
    """The file is not a readable bundle for this station (bad ZIP, index, version or station)."""


class MediumGoneError(BundleError):
    """The medium stopped answering in the middle of a read (pulled, truncated, I/O error)."""


@dataclass(frozen=True)
class BundleIndex:
    station_id: str
    created_at: str
    entries: list[SignedEntry]
    damaged_entries: int  # entries whose base64url did not decode (never imported)


class BundleReader:
    """One open bundle; use as a context manager."""

    def __init__(self, path: Path, stream: BinaryIO | None = None) -> None:
        """``stream``: the file already opened (a medium's own file object); by default ``path`` is opened."""
        self.path = Path(path)
        try:
            self._seen = _identity(self.path)
            self._zip = zipfile.ZipFile(stream if stream is not None else self.path)
        except FileNotFoundError:
            raise MediumGoneError(f"{self.path}: no longer there") from None
        except OSError as exc:
            raise MediumGoneError(f"{self.path}: cannot be read: {exc.strerror or exc}") from None
        except (zipfile.BadZipFile, ValueError, EOFError, struct.error, NotImplementedError) as exc:
            raise BundleError(f"{self.path}: not a ZIP archive ({exc.__class__.__name__})") from None

    def __enter__(self) -> "BundleReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def index(self, station_id: str) -> BundleIndex:
        """``bundle.json``, checked for form, version and station; its entries decoded."""
        raw = self._member("bundle.json", MAX_INDEX_BYTES)
        if raw is None:
            raise BundleError(f"{self.path}: bundle.json missing or damaged")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BundleError(f"{self.path}: bundle.json is not UTF-8 JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
            raise BundleError(f"{self.path}: bundle.json has no jobs list")
        if doc.get("v") != BUNDLE_VERSION:
            raise BundleError(f"{self.path}: bundle version {doc.get('v')!r} is not {BUNDLE_VERSION}")
        if doc.get("station_id") != station_id:
            raise BundleError(f"{self.path}: bundle is for station {doc.get('station_id')!r}, not {station_id}")
        entries, damaged = [], 0
        for item in doc["jobs"]:
            try:
                entries.append(decode_entry(item))
            except ValueError:
                damaged += 1
        return BundleIndex(station_id, str(doc.get("created_at")), entries, damaged)

    def payload(self, sha256_hex: str, size: int) -> bytes | None:
        """The ciphertext named ``sha256_hex``, if it is whole: exactly ``size`` bytes with that hash."""
        data = self._member(f"payloads/{sha256_hex}", size)
        if data is None or len(data) != size or hashlib.sha256(data).hexdigest() != sha256_hex:
            return None
        return data

    def _member(self, name: str, limit: int) -> bytes | None:
        """A member's bytes (at most ``limit`` + 1 read); None when missing or damaged in the archive."""
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            return None
        if info.file_size > limit:
            return None
        try:
            with self._zip.open(info) as member:
                return member.read(limit + 1)
        except FileNotFoundError:
            raise MediumGoneError(f"{self.path}: no longer there") from None
        except OSError as exc:
            raise MediumGoneError(f"{self.path}: read failed: {exc.strerror or exc}") from None
        except EOFError:
            raise MediumGoneError(f"{self.path}: ends in the middle of {name}") from None
        except (zipfile.BadZipFile, zlib.error, ValueError, struct.error, NotImplementedError):
            if _identity(self.path) != self._seen:
                raise MediumGoneError(f"{self.path}: changed or gone in the middle of {name}") from None
            return None  # a damaged member (bad CRC, bad header, unknown compression)


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, size) of the file now; None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size

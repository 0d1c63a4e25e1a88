"""Key and token files: loaded once at start, refused when unsafe or unreadable.

Never fail open: a missing or unreadable key stops the daemon with a message
naming the file.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from Crypto.PublicKey import ECC

from .errors import KeyFileError


def _read(path: Path, what: str, private: bool) -> bytes:
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if private and stat.S_IMODE(st.st_mode) & 0o077:
        raise KeyFileError(f"{path}: {what} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600")
    return data


def load_signing_key(path: Path) -> ECC.EccKey:
    """The server's pinned Ed25519 public key (PEM)."""
    data = _read(path, "server signing key", private=False)
    try:
        key = ECC.import_key(data)
    except (ValueError, IndexError, TypeError):
        raise KeyFileError(f"{path}: not a PEM public key") from None
    if key.curve != "Ed25519" or key.has_private():
        raise KeyFileError(f"{path}: expected an Ed25519 public key, found {key.curve}"
                           f"{' private key' if key.has_private() else ''}")
    return key


def load_station_key(path: Path) -> ECC.EccKey:
    """This station's X25519 private key (PEM, PKCS#8), mode 0600."""
    data = _read(path, "station key", private=True)
    try:
        key = ECC.import_key(data)
    except (ValueError, IndexError, TypeError):
        raise KeyFileError(f"{path}: not a PEM private key (PKCS#8)") from None
    if key.curve != "Curve25519" or not key.has_private():
        raise KeyFileError(f"{path}: expected an X25519 private key")
    return key


def load_token(path: Path) -> str:
    data = _read(path, "station token", private=True)
    token = data.decode("ascii", errors="replace").strip()
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise KeyFileError(f"{path}: token file must hold one printable token")
    return token


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)

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


def load_station_key(path: Path, passphrase_file: Path | None = None) -> ECC.EccKey:
    """This station's X25519 private key (PEM, PKCS#8): mode 0600, or encrypted PKCS#8.

    An encrypted key (``ENCRYPTED PRIVATE KEY``) is opened with the passphrase
    held in ``passphrase_file`` (mode 0600); the key file itself may then be
    readable by its group. Without a passphrase file it is refused.
    """
    encrypted = _is_encrypted_pem(path)
    data = _read(path, "station key", private=not encrypted)
    passphrase = None
    if encrypted:
        if passphrase_file is None:
            raise KeyFileError(f"{path}: station key is encrypted; set [server] station_key_passphrase_file")
        passphrase = _read(passphrase_file, "station key passphrase", private=True).rstrip(b"\r\n")
        if not passphrase:
            raise KeyFileError(f"{passphrase_file}: station key passphrase file is empty")
    try:
        key = ECC.import_key(data, passphrase=passphrase)
    except (ValueError, IndexError, TypeError):
        what = "cannot decrypt it with the passphrase given" if encrypted else "not a PEM private key (PKCS#8)"
        raise KeyFileError(f"{path}: {what}") from None
    if key.curve != "Curve25519" or not key.has_private():
        raise KeyFileError(f"{path}: expected an X25519 private key")
    return key


def _is_encrypted_pem(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in fh.read(4096)
    except OSError:
        return False  # _read names the file and the problem


def check_private_file(path: Path, what: str) -> None:
    """A private file (a TLS client key): present, readable, mode 0600; raises KeyFileError."""
    _read(path, what, private=True)


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

"""Key files of the reference job server and of the stations it serves.

The server signs manifests with an Ed25519 key; each station holds an X25519
key pair whose public half the server seals payloads to. Private keys are
written with mode 0600. Every load error names the file.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from Crypto.PublicKey import ECC

from .files import write_atomic

_X25519 = "Curve25519"  # pycryptodome's name for the X25519 curve
_ED25519 = "Ed25519"


class KeyFileError(Exception):
    """A key or token file is missing, unreadable or holds the wrong kind of key."""


def generate_station_keypair(private_path: Path, public_path: Path) -> ECC.EccKey:
    """Write a new X25519 key pair: PKCS#8 PEM private (0600) and SPKI PEM public."""
    key = ECC.generate(curve="X25519")
    write_atomic(Path(private_path), key.export_key(format="PEM").encode("ascii"), mode=0o600)
    write_atomic(Path(public_path), key.public_key().export_key(format="PEM").encode("ascii"))
    return key


def generate_signing_keypair(private_path: Path, public_path: Path) -> ECC.EccKey:
    """Write a new Ed25519 server signing key pair: private PEM (0600) and public PEM."""
    key = ECC.generate(curve="Ed25519")
    write_atomic(Path(private_path), key.export_key(format="PEM").encode("ascii"), mode=0o600)
    write_atomic(Path(public_path), key.public_key().export_key(format="PEM").encode("ascii"))
    return key


def write_public_key(key: ECC.EccKey, public_path: Path) -> None:
    """Write the public half of ``key`` as SPKI PEM."""
    write_atomic(Path(public_path), key.public_key().export_key(format="PEM").encode("ascii"))


def generate_token(path: Path) -> str:
    """Write a new random bearer token (0600) and return it."""
    token = secrets.token_urlsafe(32)
    write_atomic(Path(path), (token + "\n").encode("ascii"), mode=0o600)
    return token


def load_signing_key(path: Path) -> ECC.EccKey:
    """The server's Ed25519 private signing key."""
    return _load(Path(path), "server signing key", _ED25519, private=True)


def load_verify_key(path: Path) -> ECC.EccKey:
    """The server's Ed25519 public key, as a station pins it."""
    return _load(Path(path), "server public key", _ED25519, private=False)


def load_station_private_key(path: Path) -> ECC.EccKey:
    """A station's X25519 private key (PKCS#8 PEM)."""
    return _load(Path(path), "station private key", _X25519, private=True)


def load_station_public_key(path: Path) -> ECC.EccKey:
    """A station's X25519 public key (SPKI PEM); a private key file is refused."""
    return _load(Path(path), "station public key", _X25519, private=False)


def load_token(path: Path) -> str:
    """The single bearer token held in ``path``."""
    text = _read(Path(path), "token").decode("ascii", errors="replace").strip()
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        raise KeyFileError(f"{path}: token file must hold exactly one printable token")
    return text


def _load(path: Path, what: str, curve: str, *, private: bool) -> ECC.EccKey:
    data = _read(path, what)
    try:
        key = ECC.import_key(data)
    except (ValueError, IndexError, TypeError):
        raise KeyFileError(f"{path}: {what}: not a PEM key") from None
    if key.curve != curve:
        raise KeyFileError(f"{path}: {what}: expected a {curve} key, found {key.curve}")
    if key.has_private() != private:
        found = "private" if key.has_private() else "public"
        raise KeyFileError(f"{path}: {what}: expected a {'private' if private else 'public'} key, found a {found} key")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read {what}: {exc.strerror}") from None

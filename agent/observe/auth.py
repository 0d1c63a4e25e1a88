"""Access to the metrics endpoint: optional TLS and HTTP basic auth with bcrypt hashes.

``metrics.basic_auth_file`` holds ``user:bcrypt-hash`` lines (``#`` comments
and blank lines allowed), as ``htpasswd -B`` writes them. The hashes are
checked with the ``bcrypt`` package, an optional dependency (the
``metrics-auth`` extra): configuring a file without it installed stops the
station at start, it never serves unauthenticated.
"""
from __future__ import annotations

import base64
import binascii
import ssl
import stat
from pathlib import Path

from ..errors import ConfigError, KeyFileError
from ..keys import check_private_file

_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")
REALM = "ktp-agent"


class BasicAuth:
    """Users and their bcrypt hashes; ``allows`` checks one Authorization header."""

    def __init__(self, users: dict[str, bytes]) -> None:
        import bcrypt  # the metrics-auth extra; checked by load_basic_auth

        self._bcrypt = bcrypt
        self._users = dict(users)
        # Checked when the user is unknown, so a wrong user costs as much time as a wrong password.
        rounds = max((_cost(h) for h in self._users.values()), default=12)
        self._dummy = bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=rounds))

    def allows(self, header: str | None) -> bool:
        credentials = _decode_basic(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        try:
            ok = self._bcrypt.checkpw(password.encode("utf-8"), hashed or self._dummy)
        except ValueError:
            return False
        return ok and hashed is not None


def _cost(hashed: bytes) -> int:
    try:
        return min(max(int(hashed[4:6]), 4), 16)
    except ValueError:
        return 12


def _decode_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and len(password) <= 1024 else None


def load_basic_auth(path: Path | None) -> BasicAuth | None:
    """The users of ``path``, or None when no file is configured; problems name the file."""
    if path is None:
        return None
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        raise ConfigError(f"{path}: [metrics] basic_auth_file needs the bcrypt package "
                          "(pip install 'ktp-agent[metrics-auth]')") from None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: metrics basic auth file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read metrics basic auth file ({exc.__class__.__name__})") from None
    if mode & 0o007:
        raise KeyFileError(f"{path}: metrics basic auth file is readable by others (mode {mode:04o}); chmod 640")
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed.encode().startswith(_BCRYPT_PREFIXES):
            raise KeyFileError(f"{path}: line {number}: expected user:bcrypt-hash")
        users[user] = hashed.encode("ascii", errors="replace")
    if not users:
        raise KeyFileError(f"{path}: metrics basic auth file holds no user")
    return BasicAuth(users)


def server_tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server-side TLS context for the metrics endpoint, or None when TLS is not configured."""
    if cert is None or key is None:
        return None
    check_private_file(key, "metrics TLS key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise KeyFileError(f"{cert}: cannot load the metrics TLS certificate and key "
                           f"({exc.__class__.__name__})") from None
    return context

"""Keeping citizen data out of logs: a structlog processor and the rules it applies.

Two rules, applied at every depth of an event (dicts, lists, tuples,
rendered exceptions):

* a value under a key that names a ``card.json`` field (``nik``, ``nama``,
  ``alamat``, ...) or another personal item (``photo``, ``plaintext``) is
  replaced by ``"<redacted>"``, whatever it holds;
* anything shaped like a NIK in a string (16 digits, or 16 digits written
  in groups 6-6-4 or 4-4-4-4 with spaces, dots or hyphens) becomes ``<nik>``,
  except inside a hexadecimal token of 32 characters or more (a payload's
  SHA-256, an ETag): a hash that happens to hold 16 digits in a row is a
  hash, and masking part of it would only spoil the log line.

Numbers, booleans and None pass through; bytes become their length; any
other object becomes its (masked) ``repr``, or ``Class: message`` for an
exception, before a renderer can stringify it unmasked. The classes that
carry citizen data (``CardData``, ``CardPayload``) have redacted reprs.
"""
from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"

#: ``card.json`` field names (job protocol section 4) and the payload's members.
PERSONAL_KEYS = frozenset({
    "nik", "nama", "tempat_lahir", "tanggal_lahir", "jenis_kelamin", "golongan_darah", "alamat",
    "rt_rw", "kel_desa", "kecamatan", "kabupaten", "provinsi", "agama", "status_perkawinan",
    "pekerjaan", "kewarganegaraan", "berlaku_hingga", "tempat_terbit", "tanggal_terbit",
    "card_json", "card.json", "photo", "photo.jpg", "signature.png", "signature_png", "chip",
    "chip.bin", "plaintext", "card_data", "holder",
})

#: One pass over a string: a hash-like token (32 or more hexadecimal characters standing alone) is
#: matched first and kept; a NIK shape anywhere else becomes ``<nik>``.
_MASKED = re.compile(
    r"(?P<hash>(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z]))"
    r"|(?<!\d)\d{16}(?!\d)"                                          # 3319054512880001
    r"|(?<![\w-])\d{6}[ .-]\d{6}[ .-]\d{4}(?![\w-])"                # 331905 451288 0001
    r"|(?<![\w-])\d{4}(?P<sep>[ .-])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?![\w-])"  # 3319 0545 1288 0001
)


def _mask(match: re.Match[str]) -> str:
    return match.group() if match.group("hash") else "<nik>"


def redact_text(text: str) -> str:
    return _MASKED.sub(_mask, text)


def redact(value: Any) -> Any:
    """``value`` with every NIK-shaped string masked and every personal key's value replaced."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _personal(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v) for v in value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, BaseException):
        return redact_text(f"{value.__class__.__name__}: {value}")
    return redact_text(repr(value))  # what the renderer would write, masked first


def _personal(key: object) -> bool:
    return isinstance(key, str) and key.lower() in PERSONAL_KEYS


def redact_event(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """The structlog processor: runs after exceptions are rendered, before anything is written."""
    return redact(event)

"""The decrypted job payload: unpack it, check every field, keep it redacted.

The payload plaintext (job protocol section 4) is a ZIP archive, stored, not
deflated, holding ``card.json``, ``photo.jpg``, an optional ``signature.png``
and an optional ``chip.bin``. Two families of failure:

* :class:`PayloadError` (reason ``bad-payload``): the archive itself is wrong.
  Not a ZIP, a deflated or encrypted entry, a duplicate or unknown entry name
  (which includes any path such as ``../card.json`` or ``x/card.json``), an
  entry over its size limit, a CRC mismatch.
* :class:`CardDataError` (reason ``bad-card-data``): the archive is sound but
  what it carries is not a printable card. A *missing* ``card.json`` or
  ``photo.jpg`` is a CardDataError with field ``"card.json"`` /
  ``"photo.jpg"``: the server built a well-formed archive without the holder's
  data, which is a card-data problem, not a transport one.

``card.json`` is checked strictly: a field the contract does not list is an
error (field ``"card.json"``), so a renamed or misspelt field never prints a
card with a hole in it. Field limits are in :data:`FIELD_MAX_LENGTH`.

Citizen data never leaves this module in a message: errors name the field
and the rule, never the value; they are raised outside ``except`` blocks so
no library exception holding a value rides along as ``__context__``; and
:class:`CardData` / :class:`CardPayload` have redacted reprs.
"""
from __future__ import annotations

import io
import json
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass, fields
from datetime import date
from types import MappingProxyType

from PIL import Image

#: Longest accepted value per card.json field, in characters after stripping,
#: in the contract's order. ``nik`` must be exactly 16 digits.
FIELD_MAX_LENGTH = MappingProxyType({
    "nik": 16,
    "nama": 60,
    "tempat_lahir": 40,
    "tanggal_lahir": 40,
    "jenis_kelamin": 40,
    "golongan_darah": 40,
    "alamat": 100,
    "rt_rw": 40,
    "kel_desa": 40,
    "kecamatan": 40,
    "kabupaten": 40,
    "provinsi": 40,
    "agama": 40,
    "status_perkawinan": 40,
    "pekerjaan": 40,
    "kewarganegaraan": 40,
    "berlaku_hingga": 40,
    "tempat_terbit": 40,
    "tanggal_terbit": 40,
})

#: Largest accepted entry per archive member, in bytes.
ENTRY_MAX_SIZE = MappingProxyType({
    "card.json": 16 * 1024,
    "photo.jpg": 256 * 1024,
    "signature.png": 128 * 1024,
    "chip.bin": 4 * 1024,
})

#: Largest accepted plaintext: every entry at its limit plus ZIP headers.
PAYLOAD_MAX_SIZE = sum(ENTRY_MAX_SIZE.values()) + 64 * 1024

#: Largest accepted photo or signature, in pixels per side.
IMAGE_MAX_SIDE = 2000
#: Smallest accepted photo, in pixels per side.
PHOTO_MIN_SIDE = 32

SEX_MALE = "LAKI-LAKI"
SEX_FEMALE = "PEREMPUAN"
LIFETIME = "SEUMUR HIDUP"
BLOOD_GROUPS = frozenset(
    {"A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "-"}
)
PROVINCE_CODES = range(11, 95)  # 11 (Aceh) .. 94 (Papua)
EARLIEST_YEAR = 1900

_NIK_SHAPE = re.compile(r"[0-9]{16}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DMY_DATE = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class CardDataError(Exception):
    """The payload does not describe a printable card (``bad-card-data``).

    ``field`` is a card.json field name, or an archive member name
    (``card.json``, ``photo.jpg``, ``signature.png``); ``problem`` says which
    rule failed. Neither ever holds the offending value.
    """

    reason = "bad-card-data"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        if field in ENTRY_MAX_SIZE:
            super().__init__(f"{field}: {problem}")
        else:
            super().__init__(f"card.json field '{field}': {problem}")


class PayloadError(Exception):
    """The payload archive is malformed (``bad-payload``)."""

    reason = "bad-payload"


@dataclass(frozen=True, repr=False)
class CardData:
    """The holder's fields, checked and stripped. Its repr shows no value."""

    nik: str
    nama: str
    tempat_lahir: str
    tanggal_lahir: date
    jenis_kelamin: str  # SEX_MALE or SEX_FEMALE
    golongan_darah: str
    alamat: str
    rt_rw: str
    kel_desa: str
    kecamatan: str
    kabupaten: str
    provinsi: str
    agama: str
    status_perkawinan: str
    pekerjaan: str
    kewarganegaraan: str
    berlaku_hingga: str  # LIFETIME or a date as DD-MM-YYYY
    tempat_terbit: str
    tanggal_terbit: date

    def __repr__(self) -> str:
        return f"CardData(<{len(fields(self))} fields, redacted>)"


@dataclass(frozen=True, repr=False)
class CardPayload:
    """One job's printable content. Its repr shows sizes only."""

    card: CardData
    photo: bytes
    signature: bytes | None = None
    chip: bytes | None = None

    def __repr__(self) -> str:
        def size(blob: bytes | None) -> str:
            return "None" if blob is None else f"<{len(blob)} bytes>"

        return (
            f"CardPayload(card=<redacted>, photo={size(self.photo)}, "
            f"signature={size(self.signature)}, chip={size(self.chip)})"
        )


def parse_payload(plaintext: bytes, today: date | None = None) -> CardPayload:
    """Unpack and check a decrypted payload.

    Raises PayloadError for a malformed archive and CardDataError for content
    that is missing or not printable. ``today`` defaults to the local date.
    """
    entries = _read_archive(plaintext)
    if "card.json" not in entries:
        raise CardDataError("card.json", "missing from payload")
    if "photo.jpg" not in entries:
        raise CardDataError("photo.jpg", "missing from payload")
    card = validate_card(_decode_card_json(entries["card.json"]), today)
    photo = entries["photo.jpg"]
    _check_image(photo, "photo.jpg", "JPEG", PHOTO_MIN_SIDE)
    signature = entries.get("signature.png")
    if signature is not None:
        _check_image(signature, "signature.png", "PNG", 1)
    return CardPayload(card, photo, signature, entries.get("chip.bin"))


def validate_card(doc: object, today: date | None = None) -> CardData:
    """Check a decoded card.json document and return its typed fields.

    Raises CardDataError, and only CardDataError, for any document that is
    not a complete, self-consistent card. ``today`` bounds the birth date.
    """
    if not isinstance(doc, dict):
        raise CardDataError("card.json", "is not a JSON object")
    unknown = sum(1 for key in doc if key not in FIELD_MAX_LENGTH)
    if unknown:
        # The names are not echoed: a malformed document may key on a value.
        raise CardDataError("card.json", f"has {unknown} field(s) the contract does not list")
    text = {name: _checked_text(doc, name) for name in FIELD_MAX_LENGTH}
    if text["jenis_kelamin"] not in (SEX_MALE, SEX_FEMALE):
        raise CardDataError("jenis_kelamin", f"is not {SEX_MALE} or {SEX_FEMALE}")
    if text["golongan_darah"] not in BLOOD_GROUPS:
        raise CardDataError("golongan_darah", "is not a known blood group")
    born = _date_field(text, "tanggal_lahir")
    if born > (today or date.today()):
        raise CardDataError("tanggal_lahir", "is in the future")
    issued = _date_field(text, "tanggal_terbit")
    if issued < born:
        raise CardDataError("tanggal_terbit", "is before tanggal_lahir")
    valid_until = text["berlaku_hingga"]
    if valid_until != LIFETIME:
        valid_until = _date_field(text, "berlaku_hingga").strftime("%d-%m-%Y")
    _check_nik(text["nik"], born, text["jenis_kelamin"] == SEX_FEMALE)
    return CardData(**{
        **text,
        "tanggal_lahir": born,
        "tanggal_terbit": issued,
        "berlaku_hingga": valid_until,
    })


def _read_archive(plaintext: bytes) -> dict[str, bytes]:
    """The archive's members by name, each checked against the rules."""
    if not isinstance(plaintext, (bytes, bytearray)):
        raise PayloadError("payload is not bytes")
    if len(plaintext) > PAYLOAD_MAX_SIZE:
        raise PayloadError(f"payload is over {PAYLOAD_MAX_SIZE} bytes")
    archive = _open_zip(bytes(plaintext))
    if archive is None:
        raise PayloadError("payload is not a ZIP archive")
    with archive:
        infos = archive.infolist()
        _check_members(infos)
        entries: dict[str, bytes] = {}
        for info in infos:
            data = _read_member(archive, info)
            if data is None:
                raise PayloadError(f"entry {info.filename} is corrupt")
            entries[info.filename] = data
    return entries


def _open_zip(plaintext: bytes) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(io.BytesIO(plaintext))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError,
            EOFError, NotImplementedError, struct.error, UnicodeDecodeError):
        return None


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if "/" in name or "\\" in name or ".." in name or name.startswith("."):
            raise PayloadError(f"entry {_label(name)} has a path in its name")
        if name not in ENTRY_MAX_SIZE:
            raise PayloadError(f"unknown entry {_label(name)}")
        if name in seen:
            raise PayloadError(f"entry {name} appears twice")
        seen.add(name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise PayloadError(f"entry {name} is compressed, not stored")
        if info.flag_bits & 0x1:
            raise PayloadError(f"entry {name} is encrypted")
        limit = ENTRY_MAX_SIZE[name]
        if info.file_size > limit or info.compress_size > limit:
            raise PayloadError(f"entry {name} is over {limit} bytes")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """The member's bytes, or None when it does not read back intact."""
    limit = ENTRY_MAX_SIZE[info.filename]
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError,
            NotImplementedError, RuntimeError, struct.error):
        return None
    if len(data) != info.file_size or len(data) > limit:
        return None
    return data


def _decode_card_json(raw: bytes) -> object:
    doc = _parse_json(raw)
    if doc is _NOT_JSON:
        raise CardDataError("card.json", "is not UTF-8 JSON with unique keys")
    return doc


_NOT_JSON = object()


def _parse_json(raw: bytes) -> object:
    def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("duplicate key")
        return result

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON


def _checked_text(doc: dict, name: str) -> str:
    if name not in doc:
        raise CardDataError(name, "is missing")
    value = doc[name]
    if not isinstance(value, str):
        raise CardDataError(name, "is not a string")
    value = value.strip()
    if not value:
        raise CardDataError(name, "is empty")
    if any(unicodedata.category(ch) in _UNPRINTABLE for ch in value):
        raise CardDataError(name, "contains a control or line-separator character")
    limit = FIELD_MAX_LENGTH[name]
    if len(value) > limit:
        raise CardDataError(name, f"is longer than {limit} characters")
    return value


def _date_field(text: dict[str, str], name: str) -> date:
    parsed = _parse_date(text[name])
    if parsed is None:
        raise CardDataError(name, "is not a real date as YYYY-MM-DD or DD-MM-YYYY")
    return parsed


def _parse_date(value: str) -> date | None:
    """A date written YYYY-MM-DD or DD-MM-YYYY, or None."""
    if match := _ISO_DATE.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DMY_DATE.fullmatch(value):
        day, month, year = (int(part) for part in match.groups())
    else:
        return None
    if year < EARLIEST_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:  # no such day; the caller raises outside this block
        return None


def _check_nik(nik: str, born: date, female: bool) -> None:
    """NIK: PP KK CC DDMMYY SSSS, with DD + 40 for women."""
    if len(nik) != 16:
        raise CardDataError("nik", "is not exactly 16 digits")
    if not _NIK_SHAPE.fullmatch(nik):
        raise CardDataError("nik", "is not 16 ASCII digits")
    if int(nik[0:2]) not in PROVINCE_CODES:
        raise CardDataError("nik", "province code is not within 11..94")
    if nik[2:4] == "00":
        raise CardDataError("nik", "kabupaten code is 00")
    if nik[4:6] == "00":
        raise CardDataError("nik", "kecamatan code is 00")
    day = born.day + (40 if female else 0)
    if int(nik[6:8]) != day:
        rule = "day + 40 for PEREMPUAN" if female else "day for LAKI-LAKI"
        raise CardDataError("nik", f"birth day does not match tanggal_lahir ({rule})")
    if nik[8:12] != born.strftime("%m%y"):
        raise CardDataError("nik", "birth month/year does not match tanggal_lahir")
    if nik[12:16] == "0000":
        raise CardDataError("nik", "serial is 0000")


def _check_image(blob: bytes, member: str, kind: str, min_side: int) -> None:
    problem = _image_problem(blob, kind, min_side)
    if problem is not None:
        raise CardDataError(member, problem)


def _image_problem(blob: bytes, kind: str, min_side: int) -> str | None:
    """Why ``blob`` is not a usable image of format ``kind``, or None."""
    try:
        with Image.open(io.BytesIO(blob)) as image:
            if image.format != kind:
                return f"is not a {kind} image"
            width, height = image.size
            if max(width, height) > IMAGE_MAX_SIDE:
                return f"is larger than {IMAGE_MAX_SIDE}x{IMAGE_MAX_SIDE} pixels"
            if min(width, height) < min_side:
                return f"is smaller than {min_side}x{min_side} pixels"
            image.load()
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
            KeyError, struct.error, Image.DecompressionBombError):
        return f"is not a decodable {kind} image"
    return None


def _label(name: object) -> str:
    """An archive entry name fit for a message: quoted if plain, else hidden."""
    if isinstance(name, str) and _SAFE_LABEL.fullmatch(name):
        return f"'{name}'"
    return "(unprintable name)"

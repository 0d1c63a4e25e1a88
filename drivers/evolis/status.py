"""The Primacy generation's status block: four state words, a session and four extensions.

Every reply of a Primacy-generation printer is followed by ``00 28`` and this
40-byte block (all numbers big-endian)::

    0x10  config u32  information u32  warning u32  error u32
    0x02  session u16
    0x04  extension-1 u32   0x04  extension-2 u32
    0x04  extension-3 u32   0x04  extension-4 u32

The flag names and masks are the vendor SDK's (``Status.py`` of the
``evolis-sdk`` wheel, the masks of ``evolis.h`` in ``Evolis-SA``'s public
SDK), without their ``CFG_`` / ``INF_`` / ``WAR_`` / ``ERR_`` prefixes: the
class says which word a flag belongs to.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntFlag

STATUS_BLOCK_LENGTH = 40
_WORDS_TAG, _SESSION_TAG, _EXTENSION_TAG = 0x10, 0x02, 0x04
_LAYOUT = struct.Struct(">BIIIIBHBIBIBIBI")
assert _LAYOUT.size == STATUS_BLOCK_LENGTH


class StatusBlockError(ValueError):
    """Forty bytes that are not a status block; the message names the offending byte."""


class ConfigFlag(IntFlag):
    X01 = 0x80000000          # Primacy, KC200B, KC200, Issengo
    X02 = 0x40000000          # Zenius
    R02 = 0x20000000          # Agilia
    X04 = 0x10000000          # Elypso
    EXTENSION_1 = 0x08000000
    S01 = 0x04000000          # Badgy, Apteo
    X20 = 0x02000000          # Primacy 2
    KC200 = 0x01000000
    WIFI = 0x00800000
    ETHERNET = 0x00400000
    USB_OVER_IP = 0x00200000
    FLIP = 0x00100000
    CONTACTLESS = 0x00080000
    SMART = 0x00040000
    MAGNETIC = 0x00020000
    REWRITE = 0x00010000
    FEED_MANUALLY = 0x00008000
    FEED_BY_CDE = 0x00004000
    FEED_BY_FEEDER = 0x00002000
    EJECT_REVERSE = 0x00001000
    FEED_CDE_REVERSE = 0x00000800
    EXTENDED_RESOLUTION = 0x00000400
    LCD = 0x00000200
    LOCK = 0x00000100
    OEM = 0x00000080
    JIS_MAG_HEAD = 0x00000040
    REJECT_SLOT = 0x00000020
    IO_EXT = 0x00000010
    MONO_ONLY = 0x00000008
    KC100 = 0x00000004
    KINE = 0x00000002
    WIFI_ENA = 0x00000001


class InfoFlag(IntFlag):
    CLAIM = 0x80000000               # a print job holds the printer (Pcla;1 .. Pcla;0)
    CARD_HOPPER = 0x40000000
    CARD_FEEDER = 0x20000000
    CARD_FLIP = 0x10000000
    CARD_CONTACTLESS = 0x08000000
    CARD_SMART = 0x04000000
    CARD_PRINT = 0x02000000
    CARD_EJECT = 0x01000000
    PRINTER_MASTER = 0x00800000      # error management is the printer's
    PCSVC_LOCKED = 0x00400000
    SLEEP_MODE = 0x00200000
    UNKNOWN_RIBBON = 0x00100000
    RIBBON_LOW = 0x00080000
    CLEANING_MANDATORY = 0x00040000
    CLEANING = 0x00020000            # cleaning recommended
    RESET = 0x00010000
    CLEAN_OUTWARRANTY = 0x00008000
    CLEAN_LAST_OUTWARRANTY = 0x00004000
    CLEAN_2ND_PASS = 0x00002000
    READY_FOR_CLEANING = 0x00001000
    CLEANING_ADVANCED = 0x00000800
    WRONG_ZONE_RIBBON = 0x00000400
    RIBBON_CHANGED = 0x00000200
    CLEANING_REQUIRED = 0x00000100
    PRINTING_RUNNING = 0x00000080
    ENCODING_RUNNING = 0x00000040
    CLEANING_RUNNING = 0x00000020
    WRONG_ZONE_ALERT = 0x00000010
    WRONG_ZONE_EXPIRED = 0x00000008
    SYNCH_PRINT_CENTER = 0x00000004
    UPDATING_FIRMWARE = 0x00000002
    BUSY = 0x00000001


class WarningFlag(IntFlag):
    POWER_SUPPLY = 0x80000000
    REMOVE_RIBBON = 0x40000000
    RECEPTACLE_OPEN = 0x10000000
    REJECT_BOX_FULL = 0x08000000
    CARD_ON_EJECT = 0x04000000
    WAIT_CARD = 0x02000000
    FEEDER_EMPTY = 0x01000000
    COOLING = 0x00200000
    HOPPER_FULL = 0x00100000
    RIBBON_ENDED = 0x00080000
    PRINTER_LOCKED = 0x00040000
    COVER_OPEN = 0x00020000
    NO_RIBBON = 0x00010000
    UNSUPPORTED_RIBBON = 0x00008000
    NO_CLEAR = 0x00002000
    CLEAR_END = 0x00001000
    CLEAR_UNSUPPORTED = 0x00000800
    REJECT_BOX_COVER_OPEN = 0x00000400
    EPS_NO_AUTO = 0x00000200
    FEEDER_OPEN = 0x00000100


class ErrorFlag(IntFlag):
    HEAD_TEMP = 0x20000000
    NO_OPTION = 0x10000000
    FEEDER_ERROR = 0x08000000
    RIBBON_ERROR = 0x04000000
    COVER_OPEN = 0x02000000
    MECHANICAL = 0x01000000
    REJECT_BOX_FULL = 0x00800000
    BAD_RIBBON = 0x00400000
    RIBBON_ENDED = 0x00200000
    HOPPER_FULL = 0x00100000
    BLANK_TRACK = 0x00080000
    MAGNETIC_DATA = 0x00040000
    READ_MAGNETIC = 0x00020000
    WRITE_MAGNETIC = 0x00010000
    FEATURE = 0x00008000
    RET_TEMPERATURE = 0x00004000
    CLEAR_ERROR = 0x00002000
    CLEAR_ENDED = 0x00001000
    BAD_CLEAR = 0x00000800
    REJECT_BOX_COVER_OPEN = 0x00000400
    CARD_ON_EJECT = 0x00000200
    NO_CARD_INSERTED = 0x00000100
    FEEDER_OPEN = 0x00000080


class Extension1Flag(IntFlag):
    """The first extension word, as far as this station reads it."""

    QUANTUM = 0x20000000
    DUALYS = 0x08000000
    PEBBLE = 0x04000000
    FEEDER_NEAR_EMPTY = 0x00000100


@dataclass(frozen=True)
class StatusWords:
    """One decoded status block: the printer's state model at the time of a reply."""

    config: ConfigFlag = ConfigFlag(0)
    information: InfoFlag = InfoFlag(0)
    warning: WarningFlag = WarningFlag(0)
    error: ErrorFlag = ErrorFlag(0)
    session: int = 0
    extensions: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def claimed(self) -> bool:
        """A print job holds the printer (its ``Pcla;1`` ran, its ``Pcla;0`` not yet)."""
        return InfoFlag.CLAIM in self.information

    @property
    def busy(self) -> bool:
        return bool(self.information & (InfoFlag.BUSY | InfoFlag.PRINTING_RUNNING))

    def names(self) -> tuple[str, ...]:
        """Every raised flag as ``word.NAME`` (``warning.COVER_OPEN``), for logs and traces."""
        named = []
        for word, value in (("config", self.config), ("information", self.information),
                            ("warning", self.warning), ("error", self.error)):
            named.extend(f"{word}.{flag.name}" for flag in type(value) if flag in value)
        return tuple(named)


def encode_status_block(words: StatusWords) -> bytes:
    """The 40 bytes of ``words`` as a printer sends them."""
    ext = words.extensions
    return _LAYOUT.pack(_WORDS_TAG, int(words.config), int(words.information), int(words.warning),
                        int(words.error), _SESSION_TAG, words.session, _EXTENSION_TAG, ext[0],
                        _EXTENSION_TAG, ext[1], _EXTENSION_TAG, ext[2], _EXTENSION_TAG, ext[3])


def decode_status_block(block: bytes) -> StatusWords:
    """StatusWords from exactly 40 bytes; StatusBlockError names a wrong length or tag."""
    if len(block) != STATUS_BLOCK_LENGTH:
        raise StatusBlockError(f"status block of {len(block)} bytes, expected {STATUS_BLOCK_LENGTH}")
    (words_tag, config, information, warning, error, session_tag, session,
     t1, e1, t2, e2, t3, e3, t4, e4) = _LAYOUT.unpack(block)
    for offset, tag, expected in ((0, words_tag, _WORDS_TAG), (17, session_tag, _SESSION_TAG),
                                  (20, t1, _EXTENSION_TAG), (25, t2, _EXTENSION_TAG),
                                  (30, t3, _EXTENSION_TAG), (35, t4, _EXTENSION_TAG)):
        if tag != expected:
            raise StatusBlockError(f"status block byte {offset} is 0x{tag:02x}, expected 0x{expected:02x}")
    return StatusWords(ConfigFlag(config), InfoFlag(information), WarningFlag(warning), ErrorFlag(error),
                       session, (e1, e2, e3, e4))

"""Wire format of card images: a card face to Evolis panels and back.

A panel is one ribbon pass over the card: ``PANEL_WIDTH`` (648) dots across
the print head by ``PANEL_HEIGHT`` (1016) lines along the card. The facts
below are those of the printer vendor's own library (libevolis) and of a
field-proven open-source driver; both agree.

* **Orientation.** The landscape face (1016 x 648) is turned 90 degrees
  clockwise into the panel (``Image.Transpose.ROTATE_270``): panel line L
  is face column L, left column first, and the first dot of each line is
  the face's bottom row. The printout turns it back (``ROTATE_90``).
* **K and O, 2 levels.** One bit a dot, most significant bit first, 81
  bytes a line, no padding: 82,296 bytes. 1 lays resin (K) or overlay (O)
  on that dot. O covers every dot.
* **Y, M, C, 256 levels** (Primacy, Primacy 2): one byte of ink a dot,
  0 none .. 255 full: 658,368 bytes.
* **Y, M, C, 128 levels** (Zenius, Quantum 2): seven bits a dot (the ink
  shifted right by one), packed dot after dot, most significant bit first,
  567 bytes a line: 576,072 bytes. Never bit planes.
* **Ink.** RGB becomes Y, M, C ink through :mod:`.ink` (a table fitted to
  the vendor's colour profile). Dots that get resin get no dye, as the
  vendor's library does for its black points.
* **Empty panels.** A Y, M, C or K panel with no ink or resin at all is
  left out, as the vendor's library does; O is sent whenever asked for.

Everything runs as Pillow C operations (point, filter, transpose, paste,
tobytes, frombytes) and bytes slicing; there are no per-pixel Python loops.

Most of a card's colour is a background every card shares. A face that
promises so (``CardFace.color_base`` and ``color_changed``) is encoded by
:class:`PanelEncoder` from the base's ink, kept between cards, with only
the changed box converted anew and copied in line by line: the bytes are
the same as a full encoding, at a fraction of the work.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from PIL import Image

from ..interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace
from . import ink
from .dots import pack_ink, resin_panel, unpack_ink

PANEL_WIDTH = 648
PANEL_HEIGHT = 1016
LINE_BYTES = PANEL_WIDTH // 8
PLANE_BYTES = LINE_BYTES * PANEL_HEIGHT  # 82,296: a 2-level panel
COLOUR_LEVELS = 256
MONO_LEVELS = 2

#: Bytes of one panel download, by its level count.
PANEL_SIZES: dict[int, int] = {
    2: PANEL_WIDTH * PANEL_HEIGHT // 8,
    128: PANEL_WIDTH * PANEL_HEIGHT * 7 // 8,
    256: PANEL_WIDTH * PANEL_HEIGHT,
}

#: Panels each ribbon type prints, in order.
RIBBON_PANELS: dict[str, tuple[str, ...]] = {
    "ymcko": ("y", "m", "c", "k", "o"),
    "ko": ("k", "o"),
}

_PANEL_SIZE = (PANEL_WIDTH, PANEL_HEIGHT)
_TO_PANEL = Image.Transpose.ROTATE_270
_TO_FACE = Image.Transpose.ROTATE_90
_FULL_PLANE = b"\xff" * PLANE_BYTES  # the overlay: every dot
_RESIN_LUT = tuple(255 if v < 128 else 0 for v in range(256))
_KO_GREY_LUT = tuple(0 if v <= 114 else 255 for v in range(256))
_NOT_LUT = tuple(255 - v for v in range(256))


def panel_size(levels: int) -> int:
    """Bytes of one panel download at ``levels`` (2, 128 or 256) levels."""
    size = PANEL_SIZES.get(levels)
    if size is None:
        raise ValueError(f"a panel has 2, 128 or 256 levels, not {levels}")
    return size


def bit_planes(levels: int) -> int:
    """Bits a dot carries at ``levels`` (1, 7 or 8); raises ValueError like ``panel_size``.

    Kept for callers that only check a level count; prefer ``panel_size``.
    """
    return {2: 1, 128: 7, 256: 8}[levels] if levels in PANEL_SIZES else panel_size(levels)


def face_to_panels(face: CardFace, ribbon: str, colour_levels: int = COLOUR_LEVELS) -> list[tuple[str, int, bytes]]:
    """The ``(panel, levels, data)`` downloads that print ``face`` on ``ribbon``."""
    return _panels(face, ribbon, colour_levels, lambda: _ink_panels(_checked(face.color, "RGB", "colour")))


def face_from_image(image: Image.Image, ribbon: str, overlay: bool = True) -> CardFace:
    """One RGB picture split as the vendor's library splits it.

    On a colour ribbon its black points (see :mod:`.ink`) become resin and
    the rest dye; on a KO ribbon every dot whose grey (Pillow's "L") is
    114 or darker becomes resin (the vendor's threshold for greys; for
    other colours its conversion differs and is not modelled).
    """
    rgb = _checked(image, "RGB", "picture")
    if "y" in _ribbon(ribbon):
        black = ink.black_points(rgb).point(_NOT_LUT)
    else:
        black = rgb.convert("L").point(_KO_GREY_LUT)
    return CardFace(color=rgb, black=black, overlay=overlay)


class PanelEncoder:
    """``face_to_panels`` that keeps the ink of shared base images between cards.

    ``colour_levels`` is 256 or 128, as the printer model takes. Safe to use
    from several threads; holds at most ``bases`` base images.
    """

    def __init__(self, bases: int = 2, colour_levels: int = COLOUR_LEVELS) -> None:
        panel_size(colour_levels)
        self._capacity = bases
        self._levels = colour_levels
        self._bases: OrderedDict[int, tuple[Image.Image, tuple[bytes, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, face: CardFace, ribbon: str) -> list[tuple[str, int, bytes]]:
        if face.color_base is None or face.color_changed is None or self._capacity <= 0:
            return face_to_panels(face, ribbon, self._levels)
        return _panels(face, ribbon, self._levels, lambda: self._ink_from_base(face))

    def _ink_from_base(self, face: CardFace) -> tuple[bytes, ...]:
        assert face.color_base is not None and face.color_changed is not None
        base = self._base_ink(face.color_base)
        patch, changed = _changed_ink(_checked(face.color, "RGB", "colour"), face.color_changed)
        return tuple(_splice(whole, part, patch) for whole, part in zip(base, changed))

    def _base_ink(self, base: Image.Image) -> tuple[bytes, ...]:
        with self._lock:
            held = self._bases.get(id(base))
            if held is not None and held[0] is base:
                self._bases.move_to_end(id(base))
                return held[1]
        planes = _ink_panels(_checked(base, "RGB", "base colour"))
        with self._lock:
            self._bases[id(base)] = (base, planes)  # holding the image keeps its id unique
            while len(self._bases) > self._capacity:
                self._bases.popitem(last=False)
        return planes


def panels_to_image(panels: Iterable[tuple[str, int, bytes]]) -> Image.Image:
    """The printout (the simulated printer's picture of the card): dye, then resin on top."""
    inks: dict[str, Image.Image] = {}
    resin: Image.Image | None = None
    for name, levels, data in panels:
        if len(data) != panel_size(levels):
            raise ValueError(f"panel {name!r}: {len(data)} bytes, expected {panel_size(levels)}")
        if name in ("y", "m", "c"):
            inks[name] = unpack_ink(levels, data, _PANEL_SIZE)
        elif name == "k":
            if levels != MONO_LEVELS:
                raise ValueError(f"panel 'k' has {levels} levels; resin takes 2")
            resin = Image.frombytes("1", _PANEL_SIZE, data)
        elif name != "o":
            raise ValueError(f"unknown panel {name!r}")
    none = Image.new("L", _PANEL_SIZE, 0)
    card = ink.ink_to_rgb(Image.merge("RGB", tuple(inks.get(n, none) for n in ("y", "m", "c"))))
    if resin is not None:
        card.paste((0, 0, 0), mask=resin)
    return card.transpose(_TO_FACE)


def _ribbon(ribbon: str) -> tuple[str, ...]:
    names = RIBBON_PANELS.get(ribbon.lower())
    if names is None:
        raise ValueError(f"ribbon type {ribbon!r} is not supported (known: {', '.join(RIBBON_PANELS)})")
    return names


def _checked(image: Image.Image, mode: str, what: str) -> Image.Image:
    if image.size != (CARD_WIDTH, CARD_HEIGHT):
        raise ValueError(f"{what} image is {image.size[0]}x{image.size[1]}, expected {CARD_WIDTH}x{CARD_HEIGHT}")
    return image if image.mode == mode else image.convert(mode)


def _panels(face: CardFace, ribbon: str, colour_levels: int, colour) -> list[tuple[str, int, bytes]]:
    names = _ribbon(ribbon)
    panel_size(colour_levels)
    resin = _checked(face.black, "L", "black").transpose(_TO_PANEL).point(_RESIN_LUT, "1")
    panels: list[tuple[str, int, bytes]] = []
    has_resin = resin.getbbox() is not None
    if "y" in names:
        mask = resin if has_resin else None
        for name, data in zip(("y", "m", "c"), colour()):
            packed = pack_ink(colour_levels, data, _PANEL_SIZE, mask)
            if packed != bytes(len(packed)):
                panels.append((name, colour_levels, packed))
    if has_resin:
        panels.append(("k", MONO_LEVELS, resin_panel(resin)))
    if face.overlay and "o" in names:
        panels.append(("o", MONO_LEVELS, _FULL_PLANE))
    return panels


def _ink_panels(color: Image.Image) -> tuple[bytes, ...]:
    """Y, M, C ink of a whole face, in panel order, one byte a dot."""
    return tuple(band.tobytes() for band in ink.rgb_to_ink(color).transpose(_TO_PANEL).split())


class _Patch:
    """Where a changed rectangle sits in a panel: first line, line count, first dot, dots a line."""

    __slots__ = ("line", "lines", "dot", "dots")

    def __init__(self, line: int, lines: int, dot: int, dots: int) -> None:
        self.line, self.lines, self.dot, self.dots = line, lines, dot, dots


def _changed_ink(color: Image.Image, box: tuple[int, int, int, int]) -> tuple[_Patch, tuple[bytes, ...]]:
    """The Y, M, C ink of the panel rectangle that holds ``box``, ``patch.dots`` bytes a line."""
    left, top, right, bottom = box
    if not (0 <= left < right <= CARD_WIDTH and 0 <= top < bottom <= CARD_HEIGHT):
        raise ValueError(f"changed box {box} is not inside the {CARD_WIDTH}x{CARD_HEIGHT} card")
    # The face's x is the panel's line; its y runs backwards along each line.
    # The ink table interpolates each dot on its own, so a crop converts exactly as the whole.
    bands = ink.rgb_to_ink(color.crop(box)).transpose(_TO_PANEL).split()
    patch = _Patch(line=left, lines=right - left, dot=CARD_HEIGHT - bottom, dots=bottom - top)
    return patch, tuple(band.tobytes() for band in bands)


def _splice(base: bytes, changed: bytes, patch: _Patch) -> bytes:
    """``base`` (one byte a dot, a whole panel) with ``changed`` copied in at ``patch``."""
    out = bytearray(base)
    source = memoryview(changed)
    into, read = patch.line * PANEL_WIDTH + patch.dot, 0
    for _ in range(patch.lines):
        out[into:into + patch.dots] = source[read:read + patch.dots]
        into += PANEL_WIDTH
        read += patch.dots
    return bytes(out)

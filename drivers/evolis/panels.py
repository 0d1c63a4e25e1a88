"""Wire format of card images: a card face to Evolis panels and back.

A panel is one ribbon pass over the card: ``PANEL_WIDTH`` (648) dots across
the print head by ``PANEL_HEIGHT`` (1016) lines along the card.

Project choices (the public sources leave these open):

* **Orientation.** The landscape face (1016 x 648) is rotated 90 degrees
  counter-clockwise into the portrait panel (``Image.Transpose.ROTATE_90``);
  the printout is rotated back clockwise (``ROTATE_270``).
* **Bit plane.** The 648 x 1016 dots row-major, most significant bit first,
  81 bytes per line (82,296 bytes), zero-padded to ``PLANE_SIZE`` (84,624
  bytes, the figure the printer expects for a 2-level panel).
* **Levels.** A panel of ``2 ** n`` levels is ``n`` bit planes, most
  significant plane first, each padded as above: 2 levels = 84,624 bytes,
  32 levels = 5 planes = 423,120 bytes.
* **Meaning.** K and O: bit 1 puts resin / overlay on that dot. Y, M, C:
  the 5-bit value is the amount of ink, 0 (none) .. 31 (full), derived from
  RGB as C = 255 - R, M = 255 - G, Y = 255 - B, each shifted right by 3.

Everything runs as Pillow C operations (point, split, merge, tobytes,
frombytes, ImageChops); there are no per-pixel Python loops.

Most of a card's colour is a background every card shares. A face that
promises so (``CardFace.color_base`` and ``color_changed``) is encoded by
:class:`PanelEncoder` from the base's planes, kept between cards, with only
the changed box encoded anew and copied in line by line: the bytes are the
same as a full encoding, at a fraction of the work.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from PIL import Image, ImageChops

from ..interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace

PANEL_WIDTH = 648
PANEL_HEIGHT = 1016
LINE_BYTES = PANEL_WIDTH // 8
PLANE_BYTES = LINE_BYTES * PANEL_HEIGHT  # 82,296 bytes of dots
PLANE_SIZE = 84_624  # one bit plane on the wire, zero-padded
COLOUR_LEVELS = 32
MONO_LEVELS = 2

#: Panels each ribbon type prints, in order.
RIBBON_PANELS: dict[str, tuple[str, ...]] = {
    "ymcko": ("y", "m", "c", "k", "o"),
    "ko": ("k", "o"),
}

_PANEL_SIZE = (PANEL_WIDTH, PANEL_HEIGHT)
_PADDING = bytes(PLANE_SIZE - PLANE_BYTES)
_TO_PANEL = Image.Transpose.ROTATE_90
_TO_FACE = Image.Transpose.ROTATE_270
_COLOUR_BITS = 5
_FULL_PLANE = b"\xff" * PLANE_BYTES + _PADDING  # the overlay: every dot

# Look-up tables for Image.point; tuples so nothing module-level is mutable.
_INK_BIT_LUTS = tuple(
    tuple(255 if ((255 - v) >> 3) >> bit & 1 else 0 for v in range(256))
    for bit in range(_COLOUR_BITS)
)
_RESIN_LUT = tuple(255 if v < 128 else 0 for v in range(256))
_INK_TO_LIGHT_LUT = tuple(255 - round(min(v, 31) * 255 / 31) for v in range(256))


def bit_planes(levels: int) -> int:
    """How many bit planes a panel of ``levels`` grey levels carries."""
    if levels < 2 or levels & (levels - 1) or levels > COLOUR_LEVELS:
        raise ValueError(f"panel levels must be a power of two from 2 to 32, not {levels}")
    return levels.bit_length() - 1


def panel_size(levels: int) -> int:
    """Bytes of one panel download at ``levels`` grey levels."""
    return bit_planes(levels) * PLANE_SIZE


def face_to_panels(face: CardFace, ribbon: str) -> list[tuple[str, int, bytes]]:
    """The ``(panel, levels, data)`` downloads that print ``face`` on ``ribbon``."""
    return _panels(face, ribbon, lambda: _colour_panels(face.color))


class PanelEncoder:
    """``face_to_panels`` that keeps the colour planes of shared base images between cards.

    Safe to use from several threads; holds at most ``bases`` base images.
    """

    def __init__(self, bases: int = 2) -> None:
        self._capacity = bases
        self._bases: OrderedDict[int, tuple[Image.Image, dict[str, bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, face: CardFace, ribbon: str) -> list[tuple[str, int, bytes]]:
        if face.color_base is None or face.color_changed is None or self._capacity <= 0:
            return face_to_panels(face, ribbon)
        return _panels(face, ribbon, lambda: self._colour_from_base(face))

    def _colour_from_base(self, face: CardFace) -> list[tuple[str, int, bytes]]:
        assert face.color_base is not None and face.color_changed is not None
        base = self._base_planes(face.color_base)
        patch, changed = _changed_planes(_checked(face.color, "RGB", "colour"), face.color_changed)
        return [(name, COLOUR_LEVELS, _splice(base[name], changed[name], patch))
                for name in ("y", "m", "c")]

    def _base_planes(self, base: Image.Image) -> dict[str, bytes]:
        with self._lock:
            held = self._bases.get(id(base))
            if held is not None and held[0] is base:
                self._bases.move_to_end(id(base))
                return held[1]
        planes = dict((name, data) for name, _, data in _colour_panels(base))
        with self._lock:
            self._bases[id(base)] = (base, planes)  # holding the image keeps its id unique
            while len(self._bases) > self._capacity:
                self._bases.popitem(last=False)
        return planes


def panels_to_image(panels: Iterable[tuple[str, int, bytes]]) -> Image.Image:
    """The simulated printout: a white card, Y/M/C subtractive, K black on top."""
    light = {"y": None, "m": None, "c": None}
    resin: Image.Image | None = None
    for name, levels, data in panels:
        if len(data) != panel_size(levels):
            raise ValueError(f"panel {name!r}: {len(data)} bytes, expected {panel_size(levels)}")
        if name in light:
            light[name] = _decode_ink(levels, data).point(_INK_TO_LIGHT_LUT)
        elif name == "k":
            resin = _plane_image(data, 0)
        elif name != "o":
            raise ValueError(f"unknown panel {name!r}")
    white = Image.new("L", _PANEL_SIZE, 255)
    card = Image.merge("RGB", tuple(light[n] or white for n in ("c", "m", "y")))
    if resin is not None:
        card.paste((0, 0, 0), mask=resin)
    return card.transpose(_TO_FACE)


def _checked(image: Image.Image, mode: str, what: str) -> Image.Image:
    if image.size != (CARD_WIDTH, CARD_HEIGHT):
        raise ValueError(f"{what} image is {image.size[0]}x{image.size[1]}, expected {CARD_WIDTH}x{CARD_HEIGHT}")
    return image if image.mode == mode else image.convert(mode)


def _panels(face: CardFace, ribbon: str, colour) -> list[tuple[str, int, bytes]]:
    names = RIBBON_PANELS.get(ribbon.lower())
    if names is None:
        raise ValueError(f"ribbon type {ribbon!r} is not supported (known: {', '.join(RIBBON_PANELS)})")
    panels: list[tuple[str, int, bytes]] = []
    if "y" in names:
        panels.extend(colour())
    panels.append(("k", MONO_LEVELS, _black_panel(face.black)))
    if face.overlay and "o" in names:
        panels.append(("o", MONO_LEVELS, _FULL_PLANE))
    return panels


def _changed_planes(color: Image.Image, box: tuple[int, int, int, int]) -> tuple["_Patch", dict[str, bytes]]:
    """The ink planes of the panel rectangle that holds ``box``, widened to whole bytes.

    Per colour, five planes packed ``patch.width`` bytes a line, most
    significant first, unpadded.
    """
    left, top, right, bottom = box
    if not (0 <= left < right <= CARD_WIDTH and 0 <= top < bottom <= CARD_HEIGHT):
        raise ValueError(f"changed box {box} is not inside the {CARD_WIDTH}x{CARD_HEIGHT} card")
    # The face's y is the panel's dot column; its x runs backwards along the panel's lines.
    col0, col1 = top // 8 * 8, -(-bottom // 8) * 8
    red, green, blue = color.crop((left, col0, right, col1)).transpose(_TO_PANEL).split()
    planes = {name: _ink_planes(channel, padded=False)
              for name, channel in (("y", blue), ("m", green), ("c", red))}
    return _Patch(line=CARD_WIDTH - right, lines=right - left, byte=col0 // 8, width=(col1 - col0) // 8), planes


class _Patch:
    """Where a changed rectangle sits in a plane: first line, line count, first byte, bytes a line."""

    __slots__ = ("line", "lines", "byte", "width")

    def __init__(self, line: int, lines: int, byte: int, width: int) -> None:
        self.line, self.lines, self.byte, self.width = line, lines, byte, width


def _splice(base: bytes, changed: bytes, patch: _Patch) -> bytes:
    """``base`` (padded planes of a whole panel) with each plane of ``changed`` copied in at ``patch``."""
    out = bytearray(base)
    source = memoryview(changed)
    read = 0
    for plane in range(len(base) // PLANE_SIZE):
        into = plane * PLANE_SIZE + patch.line * LINE_BYTES + patch.byte
        for _ in range(patch.lines):
            out[into:into + patch.width] = source[read:read + patch.width]
            into += LINE_BYTES
            read += patch.width
    return bytes(out)


def _colour_panels(color: Image.Image) -> list[tuple[str, int, bytes]]:
    red, green, blue = _checked(color, "RGB", "colour").transpose(_TO_PANEL).split()
    return [
        (name, COLOUR_LEVELS, _ink_planes(channel))
        for name, channel in (("y", blue), ("m", green), ("c", red))
    ]


def _ink_planes(channel: Image.Image, padded: bool = True) -> bytes:
    """Five bit planes of ink, most significant first, from a light channel."""
    planes = []
    for bit in reversed(range(_COLOUR_BITS)):
        planes.append(channel.point(_INK_BIT_LUTS[bit], "1").tobytes())
        if padded:
            planes.append(_PADDING)
    return b"".join(planes)


def _black_panel(black: Image.Image) -> bytes:
    plane = _checked(black, "L", "black").transpose(_TO_PANEL).point(_RESIN_LUT, "1")
    return plane.tobytes() + _PADDING




def _plane_image(data: bytes, index: int) -> Image.Image:
    start = index * PLANE_SIZE
    return Image.frombytes("1", _PANEL_SIZE, data[start:start + PLANE_BYTES])


def _decode_ink(levels: int, data: bytes) -> Image.Image:
    """The ink amount per dot (0 .. levels-1) as an "L" image."""
    count = bit_planes(levels)
    total = Image.new("L", _PANEL_SIZE, 0)
    for index in range(count):
        weight = 1 << (count - 1 - index)
        layer = _plane_image(data, index).convert("L").point(_weight_lut(weight))
        total = ImageChops.add(total, layer)
    if count != _COLOUR_BITS:
        total = total.point(_rescale_lut(levels))
    return total


def _weight_lut(weight: int) -> Sequence[int]:
    return [0] * 255 + [weight]


def _rescale_lut(levels: int) -> Sequence[int]:
    """Map 0 .. levels-1 onto the 0 .. 31 ink scale."""
    top = levels - 1
    return [round(min(v, top) * 31 / top) for v in range(256)]

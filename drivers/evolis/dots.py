"""Panel images to download bytes and back: 1 bit, 7 bits or 8 bits a dot.

* 2 levels: a mode "1" image as Pillow packs it, most significant bit
  first (PANEL_WIDTH is a multiple of 8, so lines need no padding).
* 256 levels: one byte of ink a dot.
* 128 levels: the ink shifted right by one, seven bits a dot, each dot's
  bits following the previous dot's, most significant bit first. A line
  of 648 dots is 567 bytes, so lines need no padding either.

Seven-bit packing spreads each dot over seven columns of a 7-times-wider
"1" image (column 7x + j holds bit 6 - j of dot x), which Pillow then
packs eight columns a byte; unpacking samples every seventh column back.
"""
from __future__ import annotations

from PIL import Image, ImageChops

_BITS = 7
_NEAREST = Image.Resampling.NEAREST
_BIT_LUTS = tuple(tuple(255 if (v >> 1) >> bit & 1 else 0 for v in range(256)) for bit in range(_BITS))
_WEIGHT_LUTS = tuple(tuple(1 << bit if v else 0 for v in range(256)) for bit in range(_BITS))
_FROM_SEVEN_BITS = tuple(round(min(v, 127) * 255 / 127) for v in range(256))


def resin_panel(resin: Image.Image) -> bytes:
    """A 2-level panel from a mode "1" image (1 = resin)."""
    return resin.tobytes()


def pack_ink(levels: int, ink: bytes, size: tuple[int, int], clear: Image.Image | None = None) -> bytes:
    """A colour panel at ``levels`` (256 or 128) from one byte of ink a dot.

    ``clear`` (mode "1", the panel's size) marks dots that get no ink.
    """
    if levels not in (128, 256):
        raise ValueError(f"a colour panel has 128 or 256 levels, not {levels}")
    if clear is None and levels == 256:
        return ink
    image = Image.frombytes("L", size, ink)
    if clear is not None:
        image.paste(0, mask=clear)
    return image.tobytes() if levels == 256 else _seven_bits(image)


def unpack_ink(levels: int, data: bytes, size: tuple[int, int]) -> Image.Image:
    """Mode "L" ink, 0 none .. 255 full, of a panel at ``levels`` (2, 128 or 256)."""
    if levels == 256:
        return Image.frombytes("L", size, data)
    if levels == 2:
        return Image.frombytes("1", size, data).convert("L")
    if levels != 128:
        raise ValueError(f"a colour panel has 2, 128 or 256 levels, not {levels}")
    width, height = size
    wide = Image.frombytes("1", (width * _BITS, height), data).convert("L")
    total = Image.new("L", size, 0)
    for column in range(_BITS):
        # Output dot x samples wide column 7x + column (Pillow samples at pixel centres).
        bits = wide.transform(size, Image.Transform.AFFINE, (_BITS, 0, column - 3, 0, 1, 0), _NEAREST)
        total = ImageChops.add(total, bits.point(_WEIGHT_LUTS[_BITS - 1 - column]))
    return total.point(_FROM_SEVEN_BITS)


def _seven_bits(image: Image.Image) -> bytes:
    width, height = image.size
    wide_size = (width * _BITS, height)
    wide = image.resize(wide_size, _NEAREST)
    packed = Image.new("L", wide_size, 0)
    for column in range(_BITS):
        pattern = (bytes(column) + b"\xff" + bytes(_BITS - 1 - column)) * width
        mask = Image.frombytes("L", (wide_size[0], 1), pattern).resize(wide_size, _NEAREST)
        packed.paste(wide.point(_BIT_LUTS[_BITS - 1 - column]), mask=mask)
    return packed.convert("1", dither=Image.Dither.NONE).tobytes()

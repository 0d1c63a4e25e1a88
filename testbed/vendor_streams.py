"""The printer vendor's own streams, as references for tests and benches.

``evolis-sdk`` (libevolis behind a ctypes wrapper) writes the exact byte
stream it would send to a Primacy 2, with no printer attached. This module
makes such streams for a face, cuts them into their panel downloads by
length, and offers a few reference faces. Where the wheel cannot be
imported ``vendor_sdk`` raises ``VendorSdkUnavailableError`` naming the
reason (the tests' ``vendor_streams`` fixture skips with it)::

    streams = VendorStreams(directory)
    data = streams.stream(reference_faces()["text"], "YMCKO")
    for panel, levels, payload in split_downloads(data): ...
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FACE_SIZE = (1016, 648)
MODEL_URI = "model://Evolis Primacy 2"
RIBBONS = ("YMCKO", "KO")

#: Bytes of one download by its level count, as the vendor sends them.
VENDOR_PANEL_SIZES = {2: 648 * 1016 // 8, 128: 648 * 1016 * 7 // 8, 256: 648 * 1016}

_DOWNLOAD = re.compile(rb"\x1bDb;([a-z]+);(\d+);")
_HEADER_MAX = 24  # "ESC Db;<panel>;<levels>;" is far shorter


class VendorSdkUnavailableError(Exception):
    """The vendor's library cannot be imported here; the message says why."""


def vendor_sdk():
    """The ``evolis`` module; VendorSdkUnavailableError says why it cannot be had."""
    try:
        import evolis
    except Exception as error:  # an ImportError, or OSError when the bundled .so cannot load
        raise VendorSdkUnavailableError(
            f"evolis-sdk (the printer vendor's library) cannot be imported: {error!r}") from None
    return evolis


def vendor_stream(face: Image.Image, ribbon: str, directory: Path) -> bytes:
    """The bytes libevolis writes for a Primacy 2 printing ``face`` (RGB, 1016 x 648) on ``ribbon``."""
    evolis = vendor_sdk()
    if face.size != FACE_SIZE:
        raise ValueError(f"a vendor face is {FACE_SIZE[0]}x{FACE_SIZE[1]}, not {face.size[0]}x{face.size[1]}")
    ribbon_type = {"YMCKO": evolis.RibbonType.YMCKO, "KO": evolis.RibbonType.KO}[ribbon.upper()]
    directory.mkdir(parents=True, exist_ok=True)
    bmp, prn = directory / "face.bmp", directory / "card.prn"
    face.convert("RGB").save(bmp, "BMP")
    # The connection must outlive the session: the session borrows its context.
    with evolis.Connection(MODEL_URI) as connection:
        session = evolis.PrintSession(connection)
        if not session.init_with_ribbon(ribbon_type):
            raise RuntimeError(f"libevolis refused ribbon {ribbon}: {session.get_last_error()}")
        if not session.set_image(evolis.CardFace.FRONT, str(bmp)):
            raise RuntimeError(f"libevolis refused the face: {session.get_last_error()}")
        result = session.print_to_file(str(prn))
    if result != evolis.ReturnCode.OK:
        raise RuntimeError(f"libevolis could not write the stream: {result}")
    data = prn.read_bytes()
    bmp.unlink()
    prn.unlink()
    return data


class VendorStreams:
    """Vendor streams made at most once per face and ribbon (each is about 2 MB)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._made: dict[tuple[str, str], bytes] = {}

    def stream(self, face: Image.Image, ribbon: str) -> bytes:
        rgb = face.convert("RGB")
        key = (hashlib.sha256(rgb.tobytes()).hexdigest(), ribbon.upper())
        if key not in self._made:
            self._made[key] = vendor_stream(rgb, ribbon, self._directory / f"{key[0][:16]}-{key[1]}")
        return self._made[key]

    def downloads(self, face: Image.Image, ribbon: str) -> list[tuple[str, int, bytes]]:
        return split_downloads(self.stream(face, ribbon))


def split_downloads(stream: bytes) -> list[tuple[str, int, bytes]]:
    """The ``(panel, levels, payload)`` downloads of a stream, in order.

    A download is ``ESC Db;<panel>;<levels>;`` and exactly the panel's bytes;
    payloads are taken by length and never searched. Everything else
    (commands, the vendor's tag text, padding) is stepped over.
    """
    downloads: list[tuple[str, int, bytes]] = []
    pos = 0
    for _ in range(len(stream)):  # each round moves on by at least one byte
        pos = stream.find(b"\x1b", pos)
        if pos < 0:
            break
        header = _DOWNLOAD.match(stream, pos, pos + _HEADER_MAX)
        if header is None:
            pos += 1
            continue
        levels = int(header.group(2))
        if levels not in VENDOR_PANEL_SIZES:
            raise ValueError(f"download at byte {pos} has {levels} levels, not one of {sorted(VENDOR_PANEL_SIZES)}")
        start, size = header.end(), VENDOR_PANEL_SIZES[levels]
        if start + size > len(stream):
            raise ValueError(f"download at byte {pos} is cut short: {len(stream) - start} of {size} bytes")
        downloads.append((header.group(1).decode("ascii"), levels, stream[start:start + size]))
        pos = start + size
    return downloads


# -- reference faces -----------------------------------------------------------

LIGHT_BLUE = (200, 228, 250)


def text_face(background: tuple[int, int, int] = LIGHT_BLUE) -> Image.Image:
    """Black text on a plain background (white or light blue), with sharp and anti-aliased edges."""
    face = Image.new("RGB", FACE_SIZE, background)
    draw = ImageDraw.Draw(face)
    font = _font(34)
    draw.text((300, 24), "CONTOH KARTU - DATA SINTETIS", fill=(0, 0, 0), font=font)
    draw.text((40, 110), "NIK : 0000000000000000", fill=(0, 0, 0), font=_font(44))
    for row, label in enumerate(("Nama", "Tempat/Tgl Lahir", "Alamat", "Agama", "Berlaku Hingga")):
        draw.text((40, 190 + 60 * row), f"{label:<18}: CONTOH {row}", fill=(0, 0, 0), font=font)
    draw.rectangle((780, 150, 980, 420), outline=(0, 0, 0), width=5)
    return face


def photo_face() -> Image.Image:
    """A photo-like face: smooth colour gradients, soft shapes and fine noise, no real photo."""
    gx = Image.linear_gradient("L").rotate(90).resize(FACE_SIZE)
    gy = Image.linear_gradient("L").resize(FACE_SIZE)
    noise = Image.effect_noise(FACE_SIZE, 60).filter(ImageFilter.GaussianBlur(4))
    face = Image.merge("RGB", (gx, gy, Image.blend(gx.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise, 0.5)))
    shapes = Image.new("RGB", FACE_SIZE, (0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    draw.ellipse((620, 120, 900, 520), fill=(230, 170, 140))
    draw.ellipse((120, 300, 420, 600), fill=(40, 90, 200))
    mask = shapes.convert("L").point(lambda v: 200 if v else 0).filter(ImageFilter.GaussianBlur(25))
    face.paste(shapes.filter(ImageFilter.GaussianBlur(8)), mask=mask)
    return face


def gradient_face() -> Image.Image:
    """Red ramps along x, green along y, blue along the diagonal: every level of each channel."""
    ramp = Image.linear_gradient("L")  # 256 x 256, 0 at the top
    red = ramp.rotate(90, expand=True).transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(FACE_SIZE)
    green = ramp.resize(FACE_SIZE)
    blue = Image.blend(red, green, 0.5)
    return Image.merge("RGB", (red, green, blue))


def asymmetric_face() -> Image.Image:
    """White, with a black mark only near the top-left corner and a red one near the bottom-left."""
    face = Image.new("RGB", FACE_SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(face)
    draw.rectangle((0, 0, 39, 19), fill=(0, 0, 0))
    draw.rectangle((0, 600, 99, 647), fill=(255, 0, 0))
    return face


def reference_faces() -> dict[str, Image.Image]:
    """The faces every conformance test runs on, by name."""
    return {
        "text-white": text_face((255, 255, 255)),
        "text-blue": text_face(),
        "photo": photo_face(),
        "gradient": gradient_face(),
    }


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow older than 10.1 has only the fixed bitmap font
        return ImageFont.load_default()

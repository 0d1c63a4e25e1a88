"""Generated photo and signature: formats, proportions, sizes."""
from __future__ import annotations

import io

from PIL import Image

from jobserver.artwork import render_photo, render_signature


def test_photo_is_a_3_by_4_jpeg_between_15_and_40_kb():
    for seed in range(25):
        data = render_photo(seed)
        assert 15_000 <= len(data) <= 40_000, (seed, len(data))
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG"
        width, height = image.size
        assert width * 4 == height * 3


def test_photo_background_is_red_or_blue_and_varies_with_seed():
    corners = set()
    for seed in range(12):
        image = Image.open(io.BytesIO(render_photo(seed))).convert("RGB")
        red, green, blue = image.resize((1, 1), box=(0, 0, 30, 30)).getpixel((0, 0))
        assert red > green + 60 or blue > red + 60
        corners.add("red" if red > blue else "blue")
    assert corners == {"red", "blue"}
    assert render_photo(1) != render_photo(2)
    assert render_photo(5) == render_photo(5)


def test_signature_is_a_png_with_dark_ink():
    image = Image.open(io.BytesIO(render_signature(3)))
    assert image.format == "PNG" and image.size == (300, 100)
    rgba = image.convert("RGBA")
    ink = rgba.getchannel("A").point(lambda a: 255 if a > 128 else 0)
    dark = rgba.convert("L").point(lambda v: 255 if v < 80 else 0)
    inked = sum(Image.composite(dark, Image.new("L", image.size, 0), ink).histogram()[255:])
    assert inked > 300

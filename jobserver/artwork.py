"""Generated holder artwork: a portrait silhouette photo and a signature scribble.

Pillow only, deterministic from a seed. The photo carries a little sensor-like
grain so its JPEG lands in the size band real e-KTP photos have (15-40 KB).
"""
from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw, ImageFilter

PHOTO_SIZE = (300, 400)  # 3:4, as the card's photo window
SIGNATURE_SIZE = (300, 100)
PHOTO_MIN_BYTES = 15_000
PHOTO_MAX_BYTES = 40_000
_BACKGROUNDS = ((196, 32, 38), (178, 24, 30), (30, 70, 160), (22, 88, 180))  # red or blue
_SKIN = ((224, 182, 150), (198, 150, 112), (168, 118, 84), (140, 96, 66))
_HAIR = ((20, 16, 14), (40, 30, 24), (60, 44, 30))
_CLOTHES = ((30, 30, 34), (240, 240, 236), (60, 80, 120), (110, 40, 40))
_QUALITIES = (88, 82, 76, 70, 62, 54, 46)


def render_photo(seed: int) -> bytes:
    """A 300x400 JPEG portrait silhouette on a red or blue background."""
    rng = random.Random(f"ktp-photo:{seed}")
    portrait = _draw_portrait(rng)
    grain = Image.frombytes("L", PHOTO_SIZE, rng.randbytes(PHOTO_SIZE[0] * PHOTO_SIZE[1]))
    grain = grain.filter(ImageFilter.GaussianBlur(0.6)).convert("RGB")
    for strength in (0.10, 0.16, 0.24):
        photo = Image.blend(portrait, grain, strength)
        encoded = _encode_within_band(photo)
        if encoded is not None:
            return encoded
    return _encode_jpeg(photo, _QUALITIES[-1])


def _draw_portrait(rng: random.Random) -> Image.Image:
    width, height = PHOTO_SIZE
    image = Image.new("RGB", PHOTO_SIZE, rng.choice(_BACKGROUNDS))
    draw = ImageDraw.Draw(image)
    skin, hair, clothes = rng.choice(_SKIN), rng.choice(_HAIR), rng.choice(_CLOTHES)
    cx = width // 2 + rng.randint(-12, 12)
    head_w, head_h = rng.randint(100, 124), rng.randint(130, 156)
    head_top = rng.randint(70, 95)
    shoulder_top = head_top + head_h + rng.randint(10, 26)
    draw.ellipse((cx - 150, shoulder_top, cx + 150, shoulder_top + 320), fill=clothes)
    draw.rectangle((cx - 24, head_top + head_h - 30, cx + 24, shoulder_top + 30), fill=skin)
    draw.ellipse((cx - head_w // 2 - 6, head_top - 14, cx + head_w // 2 + 6, head_top + head_h // 2 + 10),
                 fill=hair)
    draw.ellipse((cx - head_w // 2, head_top, cx + head_w // 2, head_top + head_h), fill=skin)
    draw.chord((cx - head_w // 2 - 4, head_top - 12, cx + head_w // 2 + 4, head_top + head_h // 2),
               180, 360, fill=hair)
    eye_y = head_top + head_h * 11 // 24
    for side in (-1, 1):
        ex = cx + side * head_w // 5
        draw.ellipse((ex - 7, eye_y - 4, ex + 7, eye_y + 4), fill=(40, 30, 26))
    mouth_y = head_top + head_h * 3 // 4
    draw.arc((cx - 18, mouth_y - 8, cx + 18, mouth_y + 8), 20, 160, fill=(120, 60, 50), width=3)
    return image.filter(ImageFilter.GaussianBlur(1.2))


def _encode_within_band(photo: Image.Image) -> bytes | None:
    for quality in _QUALITIES:
        encoded = _encode_jpeg(photo, quality)
        if len(encoded) <= PHOTO_MAX_BYTES:
            return encoded if len(encoded) >= PHOTO_MIN_BYTES else None
    return None


def _encode_jpeg(photo: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def render_signature(seed: int) -> bytes:
    """A 300x100 PNG: a looping black pen scribble on a transparent background."""
    rng = random.Random(f"ktp-signature:{seed}")
    image = Image.new("RGBA", SIGNATURE_SIZE, (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    width, height = SIGNATURE_SIZE
    speed, radius = rng.uniform(1.6, 2.4), rng.uniform(10, 18)
    turn, wobble = rng.uniform(0.22, 0.34), rng.uniform(0.03, 0.07)
    points, step = [], 0
    x = rng.randint(18, 36)
    while x < width - 20:
        angle = step * turn
        x = 18 + step * speed + radius * math.cos(angle)
        y = height / 2 + radius * 1.6 * math.sin(angle) * (0.6 + 0.4 * math.sin(step * wobble))
        points.append((x, y))
        step += 1
    draw.line(points, fill=(0, 0, 0, 255), width=rng.randint(2, 3), joint="curve")
    tail_y = height - rng.randint(10, 18)
    draw.line((points[0][0] + 6, tail_y, points[-1][0] - rng.randint(0, 50), tail_y - rng.randint(0, 8)),
              fill=(0, 0, 0, 255), width=2)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

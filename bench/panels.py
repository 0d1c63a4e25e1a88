"""Time to encode one YMCKO card face into Evolis panels, with and without the shared background.

    .venv/bin/python bench/panels.py [--cards N]

Prints milliseconds a card (median and 90th percentile) for ``face_to_panels``
(the whole face converted) and ``PanelEncoder.encode`` with the face's
promise (only the changed box converted; the base's ink kept between cards).
"""
from __future__ import annotations

import argparse
import statistics
import time

from PIL import Image, ImageDraw

from drivers.evolis.panels import PanelEncoder, face_to_panels
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace

PHOTO_BOX = (772, 150, 992, 443)


def faces(count: int) -> list[CardFace]:
    base = Image.linear_gradient("L").resize((CARD_WIDTH, CARD_HEIGHT)).convert("RGB")
    ImageDraw.Draw(base).rectangle((0, 0, CARD_WIDTH, 40), fill=(200, 228, 250))
    out = []
    for n in range(count):
        color = base.copy()
        ImageDraw.Draw(color).ellipse(PHOTO_BOX, fill=(180 + n % 50, 140, 120))
        black = Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255)
        ImageDraw.Draw(black).text((40, 100 + n % 7), f"CONTOH {n:016d}", fill=0)
        out.append(CardFace(color=color, black=black, color_base=base, color_changed=PHOTO_BOX))
    return out


def timed(encode, cards: list[CardFace]) -> tuple[float, float]:
    spent = []
    for face in cards:
        start = time.perf_counter()
        encode(face)
        spent.append((time.perf_counter() - start) * 1000)
    spent.sort()
    return statistics.median(spent), spent[int(len(spent) * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=60)
    cards = faces(parser.parse_args().cards)
    encoder = PanelEncoder()
    encoder.encode(cards[0], "ymcko")  # the base's ink, once
    for name, encode in (("full", lambda f: face_to_panels(f, "ymcko")),
                         ("shared background", lambda f: encoder.encode(f, "ymcko"))):
        median, p90 = timed(encode, cards)
        print(f"{name:18s} median {median:6.1f} ms  p90 {p90:6.1f} ms  a YMCKO card")


if __name__ == "__main__":
    main()

"""Measure the vendor library's RGB-to-ink mapping and print the tables of drivers/evolis/ink.py.

Needs evolis-sdk (the test extra) and numpy (only for this script):

    .venv/bin/python bench/ink_profile.py

Forward table: the Y, M, C ink libevolis writes for a flat patch of each
colour of a 9 x 9 x 9 lattice (channel values round(i * 255 / 8)), with
its black-point extraction turned off so that the darkest node keeps its
ink. Inverse table: for each node of the same lattice in ink space, the
colour whose forward ink (trilinear in the forward table) lies nearest,
as an inverse-distance average of the 8 nearest of a dense sample.
"""
from __future__ import annotations

import base64
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testbed.vendor_streams import MODEL_URI, split_downloads, vendor_sdk  # noqa: E402

SIZE = 9
KNOTS = [round(i * 255 / (SIZE - 1)) for i in range(SIZE)]
COLUMNS, ROWS = 16, 8


def measure(colours: list[tuple[int, int, int]], directory: Path) -> np.ndarray:
    evolis = vendor_sdk()
    out = []
    width, height = 1016 // COLUMNS, 648 // ROWS
    for start in range(0, len(colours), COLUMNS * ROWS):
        chunk = colours[start:start + COLUMNS * ROWS]
        face = Image.new("RGB", (1016, 648), (255, 255, 255))
        draw = ImageDraw.Draw(face)
        centres = []
        for i, colour in enumerate(chunk):
            x0, y0 = i % COLUMNS * width, i // COLUMNS * height
            draw.rectangle((x0, y0, x0 + width - 1, y0 + height - 1), fill=colour)
            centres.append((x0 + width // 2, y0 + height // 2))
        face.save(directory / "f.bmp")
        with evolis.Connection(MODEL_URI) as connection:
            session = evolis.PrintSession(connection)
            session.init_with_ribbon(evolis.RibbonType.YMCKO)
            session.set_setting(evolis.SettingKey.FBlackManagement, "NOBLACKPOINT")
            session.set_image(evolis.CardFace.FRONT, str(directory / "f.bmp"))
            session.print_to_file(str(directory / "f.prn"))
        panels = {name: np.frombuffer(data, np.uint8).reshape(1016, 648)
                  for name, levels, data in split_downloads((directory / "f.prn").read_bytes()) if levels == 256}
        for x, y in centres:  # panel line = face column, dot = 647 - face row
            out.append([int(panels[name][x, 647 - y]) if name in panels else 0 for name in "ymc"])
    return np.array(out, float)


def trilinear(table: np.ndarray, points: np.ndarray) -> np.ndarray:
    knots = np.array(KNOTS, float)
    index = [np.clip(np.searchsorted(knots, points[:, a], side="right") - 1, 0, SIZE - 2) for a in range(3)]
    frac = [(points[:, a] - knots[index[a]]) / (knots[index[a] + 1] - knots[index[a]]) for a in range(3)]
    out = np.zeros((len(points), 3))
    for corner in itertools.product((0, 1), repeat=3):
        weight = np.prod([frac[a] if corner[a] else 1 - frac[a] for a in range(3)], axis=0)
        out += weight[:, None] * table[index[0] + corner[0], index[1] + corner[1], index[2] + corner[2]]
    return out


def invert(forward: np.ndarray) -> np.ndarray:
    sample = np.array(list(itertools.product(np.linspace(0, 255, 52), repeat=3)))
    inks = trilinear(forward, sample)
    nodes = np.array(list(itertools.product(KNOTS, repeat=3)), float)
    out = np.zeros_like(nodes)
    for start in range(0, len(nodes), 64):
        query = nodes[start:start + 64]
        dist = ((query[:, None, :] - inks[None]) ** 2).sum(-1)
        near = np.argsort(dist, axis=1)[:, :8]
        weight = 1 / (np.take_along_axis(dist, near, 1) + 1.0)
        out[start:start + 64] = (sample[near] * weight[..., None]).sum(1) / weight.sum(1, keepdims=True)
    return out.reshape(SIZE, SIZE, SIZE, 3)


def packed(table: np.ndarray) -> str:
    """Pillow's Color3DLUT order (first channel fastest), three bytes a node, base64."""
    flat = np.rint(table.transpose(2, 1, 0, 3)).clip(0, 255).astype(np.uint8).tobytes()
    return base64.b64encode(flat).decode("ascii")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        colours = list(itertools.product(KNOTS, repeat=3))  # R slowest
        forward = measure(colours, Path(tmp)).reshape(SIZE, SIZE, SIZE, 3)
    inverse = invert(forward)
    for name, table in (("_FORWARD", forward), ("_INVERSE", inverse)):
        text = packed(table)
        print(f"{name} = (")
        for start in range(0, len(text), 96):
            print(f'    "{text[start:start + 96]}"')
        print(")")


if __name__ == "__main__":
    main()

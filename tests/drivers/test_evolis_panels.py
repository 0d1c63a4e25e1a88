"""Card face <-> Evolis panel wire format."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from drivers.evolis.panels import (
    LINE_BYTES,
    PANEL_HEIGHT,
    PANEL_WIDTH,
    PLANE_BYTES,
    PLANE_SIZE,
    PanelEncoder,
    face_to_panels,
    panel_size,
    panels_to_image,
)
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace

BACKGROUND = (200, 230, 255)
TEXT_BOX = (60, 80, 420, 120)
RED_BOX = (720, 100, 880, 300)


def sample_face(overlay: bool = True) -> CardFace:
    color = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), BACKGROUND)
    ImageDraw.Draw(color).rectangle(RED_BOX, fill=(255, 0, 0))
    black = Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255)
    ImageDraw.Draw(black).rectangle(TEXT_BOX, fill=0)
    return CardFace(color=color, black=black, overlay=overlay)


def blank_face() -> CardFace:
    return CardFace(
        color=Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (255, 255, 255)),
        black=Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255),
    )


def test_panel_sizes_match_the_printer_figures():
    assert (PANEL_WIDTH, PANEL_HEIGHT) == (648, 1016)
    assert panel_size(2) == 84_624
    assert panel_size(32) == 423_120
    assert PLANE_SIZE == 84_624 and PLANE_BYTES == 81 * 1016


@pytest.mark.parametrize("levels", [0, 1, 3, 64])
def test_panel_size_rejects_levels_that_are_not_2_to_32_powers_of_two(levels):
    with pytest.raises(ValueError):
        panel_size(levels)


def test_ymcko_face_gives_five_panels_in_ribbon_order():
    panels = face_to_panels(sample_face(), "YMCKO")
    assert [(name, levels, len(data)) for name, levels, data in panels] == [
        ("y", 32, 423_120), ("m", 32, 423_120), ("c", 32, 423_120), ("k", 2, 84_624), ("o", 2, 84_624),
    ]


def test_ko_ribbon_prints_only_resin_and_overlay():
    assert [name for name, _, _ in face_to_panels(sample_face(), "ko")] == ["k", "o"]


def test_face_without_overlay_skips_the_o_panel():
    assert [name for name, _, _ in face_to_panels(sample_face(overlay=False), "ymcko")] == ["y", "m", "c", "k"]


def test_overlay_covers_every_dot_and_padding_stays_zero():
    o_data = dict((n, d) for n, _, d in face_to_panels(blank_face(), "ko"))["o"]
    assert o_data[:PLANE_BYTES] == b"\xff" * PLANE_BYTES
    assert o_data[PLANE_BYTES:] == bytes(PLANE_SIZE - PLANE_BYTES)


def test_blank_face_puts_no_ink_and_no_resin():
    for name, _, data in face_to_panels(blank_face(), "ymcko"):
        if name != "o":
            assert not any(data), name


def test_face_is_rotated_counter_clockwise_into_the_panel():
    # The face's top-right dot becomes the first dot of the panel's first line.
    face = blank_face()
    face.black.putpixel((CARD_WIDTH - 1, 0), 0)
    k_data = dict((n, d) for n, _, d in face_to_panels(face, "ko"))["k"]
    assert k_data[0] == 0x80
    assert not any(k_data[1:])


def test_colour_is_five_planes_most_significant_first():
    # Light 255 - 0b10100 << 3 gives ink 0b10100: planes 4 and 2 set, the rest clear.
    face = blank_face()
    face.color.paste((255 - (0b10100 << 3),) * 3, (0, 0, CARD_WIDTH, CARD_HEIGHT))
    y_data = face_to_panels(face, "ymcko")[0][2]
    planes = [y_data[i * PLANE_SIZE:i * PLANE_SIZE + LINE_BYTES] for i in range(5)]
    assert planes == [b"\xff" * LINE_BYTES if bit in (4, 2) else bytes(LINE_BYTES) for bit in (4, 3, 2, 1, 0)]


def test_round_trip_keeps_black_text_and_red_square():
    image = panels_to_image(face_to_panels(sample_face(), "ymcko"))
    assert image.mode == "RGB" and image.size == (CARD_WIDTH, CARD_HEIGHT)
    assert image.getpixel((200, 100)) == (0, 0, 0)
    assert image.getpixel((800, 200)) == (255, 0, 0)
    background = image.getpixel((20, 600))
    assert all(abs(a - b) <= 8 for a, b in zip(background, BACKGROUND))
    # Edges of the boxes land on the same dots.
    assert image.getpixel((TEXT_BOX[0] - 1, 100)) != (0, 0, 0)
    assert image.getpixel((RED_BOX[2] + 1, 200)) != (255, 0, 0)


def test_ko_printout_is_white_card_with_black_text():
    image = panels_to_image(face_to_panels(sample_face(), "ko"))
    assert image.getpixel((200, 100)) == (0, 0, 0)
    assert image.getpixel((800, 200)) == (255, 255, 255)


def test_face_of_wrong_size_is_refused():
    face = CardFace(color=Image.new("RGB", (648, 1016)), black=Image.new("L", (648, 1016)))
    with pytest.raises(ValueError, match="1016x648"):
        face_to_panels(face, "ymcko")


def test_unknown_ribbon_is_refused():
    with pytest.raises(ValueError, match="ribbon"):
        face_to_panels(sample_face(), "ymckok")


def test_panels_to_image_refuses_truncated_panel():
    with pytest.raises(ValueError):
        panels_to_image([("k", 2, bytes(10))])


# -- the changed-box promise --------------------------------------------------

def _promised_face(base: Image.Image, box: tuple[int, int, int, int], fill: tuple[int, int, int]) -> CardFace:
    color = base.copy()
    ImageDraw.Draw(color).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=fill)
    color.putpixel((box[0], box[3] - 1), (0, 0, 0))  # a dot at the box's corner
    black = Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255)
    return CardFace(color=color, black=black, color_base=base, color_changed=box)


def _gradient_base() -> Image.Image:
    base = Image.linear_gradient("L").resize((CARD_WIDTH, CARD_HEIGHT)).convert("RGB")
    ImageDraw.Draw(base).line((0, 0, CARD_WIDTH, CARD_HEIGHT), fill=(10, 200, 90), width=7)
    return base


@pytest.mark.parametrize("box", [
    (772, 150, 992, 443),           # the e-KTP photo box
    (0, 0, 1, 1),                   # one dot in a corner
    (3, 5, 1016, 648),              # to the far edges, unaligned start
    (500, 7, 509, 9),               # inside one byte of the column
])
def test_encoder_with_a_changed_box_gives_the_bytes_of_a_full_encoding(box):
    base = _gradient_base()
    face = _promised_face(base, box, (200, 30, 60))
    encoder = PanelEncoder()
    assert encoder.encode(face, "ymcko") == face_to_panels(face, "ymcko")
    again = _promised_face(base, box, (0, 120, 255))  # the base's planes now come from the cache
    assert encoder.encode(again, "ymcko") == face_to_panels(again, "ymcko")


def test_encoder_holds_a_bounded_number_of_bases_and_tells_them_apart():
    encoder = PanelEncoder(bases=1)
    first, second = _gradient_base(), Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (9, 9, 9))
    box = (100, 100, 200, 200)
    for base in (first, second, first):
        face = _promised_face(base, box, (1, 2, 3))
        assert encoder.encode(face, "ymcko") == face_to_panels(face, "ymcko")


def test_encoder_refuses_a_changed_box_outside_the_card():
    face = _promised_face(_gradient_base(), (10, 10, 20, 20), (0, 0, 0))
    bad = CardFace(color=face.color, black=face.black, color_base=face.color_base, color_changed=(10, 10, 2000, 20))
    with pytest.raises(ValueError, match="not inside"):
        PanelEncoder().encode(bad, "ymcko")


def test_ko_ribbon_ignores_the_colour_promise():
    face = _promised_face(_gradient_base(), (10, 10, 20, 20), (0, 0, 0))
    assert [name for name, _, _ in PanelEncoder().encode(face, "ko")] == ["k", "o"]

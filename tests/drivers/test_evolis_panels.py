"""Card face <-> Evolis panel wire format."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from drivers.evolis.dots import pack_ink, unpack_ink
from drivers.evolis.panels import (
    LINE_BYTES,
    PANEL_HEIGHT,
    PANEL_WIDTH,
    PLANE_BYTES,
    PanelEncoder,
    face_from_image,
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


def test_panel_sizes_are_the_vendors():
    assert (PANEL_WIDTH, PANEL_HEIGHT) == (648, 1016)
    assert panel_size(2) == 82_296 == PLANE_BYTES == 81 * 1016
    assert panel_size(256) == 658_368
    assert panel_size(128) == 576_072


@pytest.mark.parametrize("levels", [0, 1, 3, 32, 64, 255, 512])
def test_panel_size_refuses_other_level_counts_naming_them(levels):
    with pytest.raises(ValueError, match=str(levels)):
        panel_size(levels)


def test_ymcko_face_gives_five_panels_in_ribbon_order():
    panels = face_to_panels(sample_face(), "YMCKO")
    assert [(name, levels, len(data)) for name, levels, data in panels] == [
        ("y", 256, 658_368), ("m", 256, 658_368), ("c", 256, 658_368), ("k", 2, 82_296), ("o", 2, 82_296),
    ]


def test_colour_levels_can_be_128_for_models_that_take_them():
    panels = face_to_panels(sample_face(), "ymcko", colour_levels=128)
    assert [(name, levels, len(data)) for name, levels, data in panels][:3] == [
        ("y", 128, 576_072), ("m", 128, 576_072), ("c", 128, 576_072),
    ]
    with pytest.raises(ValueError, match="64"):
        PanelEncoder(colour_levels=64)


def test_ko_ribbon_prints_only_resin_and_overlay():
    assert [name for name, _, _ in face_to_panels(sample_face(), "ko")] == ["k", "o"]


def test_face_without_overlay_skips_the_o_panel():
    assert [name for name, _, _ in face_to_panels(sample_face(overlay=False), "ymcko")] == ["y", "m", "c", "k"]


def test_overlay_covers_every_dot():
    o_data = dict((n, d) for n, _, d in face_to_panels(blank_face(), "ko"))["o"]
    assert o_data == b"\xff" * 82_296


def test_blank_face_sends_only_the_overlay():
    assert [name for name, _, _ in face_to_panels(blank_face(), "ymcko")] == ["o"]
    assert [name for name, _, _ in face_to_panels(blank_face(), "ko")] == ["o"]


def test_face_is_turned_clockwise_into_the_panel():
    # The face's bottom-left dot is the first dot of the first line; its top-left the last.
    face = blank_face()
    face.black.putpixel((0, CARD_HEIGHT - 1), 0)
    face.black.putpixel((1, 0), 0)
    k_data = dict((n, d) for n, _, d in face_to_panels(face, "ko"))["k"]
    assert k_data[0] == 0x80
    assert k_data[2 * LINE_BYTES - 1] == 0x01
    assert k_data.count(0) == len(k_data) - 2


def test_colour_is_one_byte_of_ink_a_dot_in_panel_order():
    face = blank_face()
    face.color.putpixel((3, CARD_HEIGHT - 1 - 5), (255, 255, 0))  # panel line 3, dot 5
    y_data = face_to_panels(face, "ymcko")[0][2]
    assert y_data[3 * PANEL_WIDTH + 5] == 164  # the vendor's ink for pure yellow
    assert y_data.count(0) == len(y_data) - 1


def test_dots_under_resin_get_no_ink():
    face = sample_face()
    panels = dict((n, d) for n, _, d in face_to_panels(face, "ymcko"))
    line, dot = 200, CARD_HEIGHT - 1 - 100  # inside TEXT_BOX, on the light-blue background
    assert all(panels[name][line * PANEL_WIDTH + dot] == 0 for name in "ymc")
    assert panels["y"][20 * PANEL_WIDTH + (CARD_HEIGHT - 1 - 600)] > 0  # background elsewhere


def test_black_points_of_a_picture_become_resin_on_a_colour_ribbon():
    picture = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), BACKGROUND)
    for x, colour in enumerate([(0, 0, 0), (4, 0, 0), (0, 0, 3), (1, 2, 1), (5, 0, 0), (10, 10, 10)]):
        picture.putpixel((x, 0), colour)
    black = face_from_image(picture, "ymcko").black
    assert [black.getpixel((x, 0)) for x in range(6)] == [0, 0, 0, 255, 255, 255]


def test_dark_greys_become_resin_on_a_ko_ribbon():
    picture = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (255, 255, 255))
    for x, grey in enumerate([0, 114, 115, 200]):
        picture.putpixel((x, 0), (grey, grey, grey))
    black = face_from_image(picture, "ko").black
    assert [black.getpixel((x, 0)) for x in range(4)] == [0, 0, 255, 255]


def test_round_trip_keeps_black_text_and_red_square():
    image = panels_to_image(face_to_panels(sample_face(), "ymcko"))
    assert image.mode == "RGB" and image.size == (CARD_WIDTH, CARD_HEIGHT)
    assert image.getpixel((200, 100)) == (0, 0, 0)
    red = image.getpixel((800, 200))
    assert red[0] > 230 and red[1] < 40 and red[2] < 40
    background = image.getpixel((20, 600))
    assert all(abs(a - b) <= 8 for a, b in zip(background, BACKGROUND))
    # Edges of the boxes land on the same dots.
    assert image.getpixel((TEXT_BOX[0] - 1, 100)) != (0, 0, 0)
    assert image.getpixel((RED_BOX[2] + 1, 200)) == background


def test_ko_printout_is_white_card_with_black_text():
    image = panels_to_image(face_to_panels(sample_face(), "ko"))
    assert image.getpixel((200, 100)) == (0, 0, 0)
    assert all(v >= 250 for v in image.getpixel((800, 200)))


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
    ImageDraw.Draw(black).rectangle((box[0], 300, box[0] + 40, 330), fill=0)  # text across the box's edge
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


def test_encoder_at_128_levels_gives_the_bytes_of_a_full_encoding():
    base = _gradient_base()
    face = _promised_face(base, (772, 150, 992, 443), (200, 30, 60))
    encoder = PanelEncoder(colour_levels=128)
    for _ in range(2):  # the second time from the cached base
        assert encoder.encode(face, "ymcko") == face_to_panels(face, "ymcko", colour_levels=128)


# -- dot packing ---------------------------------------------------------------

def test_128_levels_pack_seven_bits_a_dot_one_after_another():
    ink = bytes([0xFE, 0x02, 0xFF, 0x00, 0x80, 0x7F, 0x55, 0xAA]) + bytes(PANEL_WIDTH - 8)
    packed = pack_ink(128, ink * PANEL_HEIGHT, (PANEL_WIDTH, PANEL_HEIGHT))
    sevens = [v >> 1 for v in ink[:8]]  # 127, 1, 127, 0, 64, 63, 42, 85
    bits = "".join(f"{v:07b}" for v in sevens)
    assert packed[:7] == int(bits, 2).to_bytes(7, "big")
    assert packed[567:574] == packed[:7]  # every line starts on a byte: 648 x 7 / 8 = 567


@given(st.binary(min_size=PANEL_WIDTH, max_size=PANEL_WIDTH), st.integers(0, PANEL_HEIGHT - 1))
@settings(max_examples=25)
def test_ink_survives_packing_at_256_and_128_levels(line, at):
    ink = bytes(at * PANEL_WIDTH) + line + bytes((PANEL_HEIGHT - 1 - at) * PANEL_WIDTH)
    size = (PANEL_WIDTH, PANEL_HEIGHT)
    assert unpack_ink(256, pack_ink(256, ink, size), size).tobytes() == ink
    back = unpack_ink(128, pack_ink(128, ink, size), size).tobytes()
    assert back[at * PANEL_WIDTH:(at + 1) * PANEL_WIDTH] == bytes(round((v >> 1) * 255 / 127) for v in line)
    assert back.count(0) >= len(back) - PANEL_WIDTH


@given(st.lists(st.tuples(st.integers(0, CARD_WIDTH - 1), st.integers(0, CARD_HEIGHT - 1)), max_size=40))
@settings(max_examples=50)
def test_resin_dots_print_where_the_face_put_them(dots):
    face = blank_face()
    for dot in dots:
        face.black.putpixel(dot, 0)
    printout = panels_to_image(face_to_panels(face, "ko"))
    black = {(x, y) for x, y in dots}
    assert ImageChops.difference(printout.convert("L").point(lambda v: 255 if v == 0 else 0),
                                 face.black.point(lambda v: 255 - v)).getbbox() is None
    assert all(printout.getpixel(dot) == (0, 0, 0) for dot in black)

"""agent.render: the e-KTP front, with DejaVu when present and without."""
from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from agent.card import layout as layout
from agent.card.data import CardPayload, validate_card
from agent.card.render import CardRenderer, FontBook, header_lines
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH

from tests.agent.card.test_carddata import TODAY, card_dict, jpeg_bytes, png_bytes

PHOTO_COLOR = (20, 160, 60)
LEFT_REGION = (0, layout.NIK_TOP, layout.PHOTO_BOX[0], CARD_HEIGHT)


@pytest.fixture(scope="module", params=["discovered", "builtin"])
def renderer(request) -> CardRenderer:
    fonts = FontBook.discover() if request.param == "discovered" else FontBook()
    return CardRenderer(fonts)


def payload(signature: bool = True, photo: bytes | None = None, **fields) -> CardPayload:
    card = validate_card(card_dict(), TODAY)
    card = dataclasses.replace(card, **fields)
    return CardPayload(card, photo or jpeg_bytes(color=PHOTO_COLOR),
                       png_bytes() if signature else None)


def has_black(layer: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return layer.crop(box).getextrema()[0] == 0


def test_faces_have_card_size_and_modes(renderer):
    face = renderer.render_front(payload())
    assert face.color.mode == "RGB" and face.color.size == (CARD_WIDTH, CARD_HEIGHT)
    assert face.black.mode == "L" and face.black.size == (CARD_WIDTH, CARD_HEIGHT)
    assert face.overlay is True


def test_black_layer_holds_only_resin_or_nothing(renderer):
    face = renderer.render_front(payload())
    assert set(face.black.histogram()[1:255]) == {0}


def test_text_lands_on_the_black_layer_left_of_the_photo(renderer):
    face = renderer.render_front(payload())
    assert has_black(face.black, LEFT_REGION)
    assert has_black(face.black, (0, 0, CARD_WIDTH, layout.NIK_TOP))  # header


def test_photo_region_of_colour_layer_shows_the_photo(renderer):
    face = renderer.render_front(payload())
    left, top, right, bottom = layout.PHOTO_BOX
    centre = face.color.getpixel(((left + right) // 2, (top + bottom) // 2))
    assert all(abs(got - want) < 12 for got, want in zip(centre, PHOTO_COLOR))
    background = face.color.getpixel((left - 40, (top + bottom) // 2))
    assert background[2] > background[0] + 30  # light blue around it


def test_no_text_is_drawn_into_the_photo(renderer):
    face = renderer.render_front(payload())
    assert not has_black(face.black, layout.PHOTO_BOX)


def test_very_long_values_never_reach_the_photo(renderer):
    long = payload(
        alamat="JL. " + "PANGERAN WIRASUKMA " * 5,
        nama="W" * 60, tempat_lahir="M" * 40, pekerjaan="PEGAWAI " * 5,
        kel_desa="W" * 40, kecamatan="W" * 40, agama="W" * 40,
        golongan_darah="W" * 40, jenis_kelamin="W" * 40,
    )
    face = renderer.render_front(long)
    left, top, right, bottom = layout.PHOTO_BOX
    assert not has_black(face.black, (left - layout.VALUE_GAP // 2, top, right, bottom))


def test_very_long_alamat_wraps_without_reaching_the_photo(renderer):
    short = renderer.render_front(payload())
    wrapped = renderer.render_front(payload(alamat="JL. " + "KENANGA RAYA " * 7))
    left, top, right, bottom = layout.PHOTO_BOX
    assert not has_black(wrapped.black, (left - layout.VALUE_GAP // 2, top, right, bottom))
    assert ImageChops.difference(short.black, wrapped.black).getbbox() is not None


def test_long_places_under_the_photo_stay_on_the_card(renderer):
    face = renderer.render_front(payload(tempat_terbit="KOTA ADMINISTRASI " * 2 + "JAKARTA"))
    left, right = layout.ISSUE_SPAN
    top, bottom = layout.ISSUE_TOPS[0], layout.SIGNATURE_BOX[1]
    assert has_black(face.black, (left, top, right, bottom))
    assert not has_black(face.black, (right, 0, CARD_WIDTH, CARD_HEIGHT))


def test_signature_goes_onto_the_black_layer(renderer):
    signed = renderer.render_front(payload(signature=True))
    unsigned = renderer.render_front(payload(signature=False))
    assert has_black(signed.black, layout.SIGNATURE_BOX)
    assert not has_black(unsigned.black, layout.SIGNATURE_BOX)
    assert ImageChops.difference(signed.color, unsigned.color).getbbox() is None


def test_opaque_signature_with_white_paper_is_thresholded(renderer):
    scan = Image.new("L", (300, 100), 235)
    scan.paste(20, (30, 45, 270, 55))
    out = io.BytesIO()
    scan.save(out, "PNG")
    face = renderer.render_front(dataclasses.replace(payload(), signature=out.getvalue()))
    box = face.black.crop(layout.SIGNATURE_BOX)
    black_share = box.histogram()[0] / (box.width * box.height)
    assert 0 < black_share < 0.3


def test_wide_photo_is_contained_in_its_box(renderer):
    tall = renderer.render_front(payload(photo=jpeg_bytes((300, 400), PHOTO_COLOR)))
    wide = renderer.render_front(payload(photo=jpeg_bytes((800, 200), PHOTO_COLOR)))
    changed = ImageChops.difference(tall.color, wide.color).getbbox()
    left, top, right, bottom = layout.PHOTO_BOX
    assert changed is not None
    assert left <= changed[0] and top <= changed[1]
    assert changed[2] <= right and changed[3] <= bottom


def test_renders_are_repeatable_and_independent(renderer):
    first = renderer.render_front(payload())
    renderer.render_front(payload(nama="SOMEONE ELSE", alamat="JL. " + "LAIN " * 20))
    again = renderer.render_front(payload())
    assert ImageChops.difference(first.black, again.black).getbbox() is None
    assert ImageChops.difference(first.color, again.color).getbbox() is None


@pytest.mark.parametrize("kabupaten, provinsi, expected", [
    ("KOTA BANDUNG", "JAWA BARAT", ("PROVINSI JAWA BARAT", "KOTA BANDUNG")),
    ("BANDUNG", "JAWA BARAT", ("PROVINSI JAWA BARAT", "KABUPATEN BANDUNG")),
    ("Kabupaten Sleman", "Provinsi DI Yogyakarta",
     ("PROVINSI DI YOGYAKARTA", "KABUPATEN SLEMAN")),
])
def test_header_says_kota_or_kabupaten(kabupaten, provinsi, expected):
    card = dataclasses.replace(validate_card(card_dict(), TODAY),
                               kabupaten=kabupaten, provinsi=provinsi)
    assert header_lines(card) == expected


def test_missing_font_directory_falls_back_to_the_builtin_font(tmp_path):
    fonts = FontBook.discover((tmp_path / "nowhere", tmp_path))
    assert fonts.regular_path is None and fonts.fake_bold
    face = CardRenderer(fonts).render_front(payload())
    assert has_black(face.black, LEFT_REGION)


def test_font_found_below_a_custom_root(tmp_path):
    real = FontBook.discover()
    if real.regular_path is None:
        pytest.skip("no DejaVu Sans on this machine")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "DejaVuSans.ttf").write_bytes(real.regular_path.read_bytes())
    fonts = FontBook.discover((tmp_path,))
    assert fonts.regular_path == nested / "DejaVuSans.ttf"
    assert fonts.fake_bold  # no bold file there


value_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F,
                                   blacklist_categories=("Cc", "Cs")),
                     min_size=1, max_size=40)


@settings(max_examples=20, deadline=None)
@given(nama=value_text, alamat=value_text.map(lambda text: text * 3),
       pekerjaan=value_text, kecamatan=value_text)
def test_arbitrary_values_stay_out_of_the_photo(renderer, nama, alamat, pekerjaan,
                                                kecamatan):
    face = renderer.render_front(payload(nama=nama, alamat=alamat[:100],
                                         pekerjaan=pekerjaan, kecamatan=kecamatan))
    assert not has_black(face.black, layout.PHOTO_BOX)

"""Render the e-KTP front from a checked payload.

:class:`CardRenderer` draws text and the signature on the black (K resin)
layer and the background and photo on the colour layer, per devices.md "The
card face"; the geometry is in :mod:`agent.card_layout`. It prepares what
does not change between cards (fonts, the background, the labels) once, so
a render is a copy plus the holder's values.

Long values are fitted: the font shrinks down to a minimum size, then Alamat
wraps onto a second line, then the value is cut with an ellipsis. A value
never reaches the photo column.

Fonts: DejaVu Sans (and its bold, for the header and the NIK) when found
under /usr/share/fonts, else Pillow's built-in scalable font, drawn twice a
dot apart where bold is wanted. Text is drawn without anti-aliasing, so the
black layer holds only 0 and 255. The payload is expected to have passed
:func:`agent.carddata.parse_payload`; an undecodable image raises Pillow's
own error here.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from drivers.interfaces import CardFace

from . import layout as layout
from .data import CardData, CardPayload

FONT_ROOTS = (Path("/usr/share/fonts"),)
REGULAR_FONT_FILE = "DejaVuSans.ttf"
BOLD_FONT_FILE = "DejaVuSans-Bold.ttf"
ELLIPSIS = "\u2026"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class FontBook:
    """Regular and bold faces by pixel size, each loaded once."""

    def __init__(self, regular: Path | None = None, bold: Path | None = None) -> None:
        self.regular_path = regular
        self.bold_path = bold if regular is not None else None
        self._cache: dict[tuple[int, bool], Font] = {}

    @classmethod
    def discover(cls, roots: tuple[Path, ...] = FONT_ROOTS) -> FontBook:
        """DejaVu Sans from the first root holding it, else the built-in font."""
        for root in roots:
            regular = _find_font(root, REGULAR_FONT_FILE)
            if regular is not None:
                return cls(regular, _find_font(root, BOLD_FONT_FILE))
        return cls()

    @property
    def fake_bold(self) -> bool:
        """True when bold is drawn as a doubled regular face."""
        return self.bold_path is None

    def get(self, size: int, bold: bool = False) -> Font:
        key = (size, bold and not self.fake_bold)
        font = self._cache.get(key)
        if font is None:
            path = self.bold_path if key[1] else self.regular_path
            if path is None:
                font = ImageFont.load_default(size=size)
            else:
                font = ImageFont.truetype(str(path), size=size)
            self._cache[key] = font
        return font


def _find_font(root: Path, name: str) -> Path | None:
    for candidate in (root / "truetype" / "dejavu" / name, root / "dejavu" / name,
                      root / "TTF" / name, root / name):
        if candidate.is_file():
            return candidate
    if not root.is_dir():
        return None
    return next(root.rglob(name), None)


class CardRenderer:
    """Draws card fronts; holds the fonts, background and labels it reuses."""

    def __init__(self, fonts: FontBook | None = None) -> None:
        self.fonts = fonts if fonts is not None else FontBook.discover()
        self._background = _make_background()
        label_font = self.fonts.get(layout.ROW_SIZE)
        widest = max(
            label_font.getlength(label) + (layout.SUB_INDENT if indented else 0)
            for _, label, indented in layout.ROWS
        )
        self._colon_x = round(layout.LABEL_LEFT + widest + layout.COLON_GAP)
        self._value_x = round(
            self._colon_x + label_font.getlength(":") + layout.COLON_GAP
        )
        self._value_right = layout.PHOTO_BOX[0] - layout.VALUE_GAP
        self._labels = {wrapped: self._make_labels(wrapped) for wrapped in (False, True)}

    def render_front(self, payload: CardPayload) -> CardFace:
        """The front face of ``payload``'s card."""
        card = payload.card
        alamat_font, alamat_lines = self._fit_alamat(card.alamat.upper())
        wrapped = len(alamat_lines) == 2
        color = self._background.copy()
        black = self._labels[wrapped].copy()
        draw = _draw_on(black)
        self._draw_header(draw, card)
        self._draw_nik(draw, card.nik)
        self._draw_values(draw, card, alamat_font, alamat_lines)
        self._draw_issue(draw, card)
        _paste_photo(color, payload.photo)
        if payload.signature is not None:
            _paste_signature(black, payload.signature)
        # Only the photo box differs from the shared background: drivers may reuse its encoding.
        return CardFace(color=color, black=black, overlay=True,
                        color_base=self._background, color_changed=layout.PHOTO_BOX)

    # --- static parts -------------------------------------------------------

    def _make_labels(self, wrapped: bool) -> Image.Image:
        layer = Image.new("L", layout.CARD_SIZE, 255)
        draw = _draw_on(layer)
        font = self.fonts.get(layout.ROW_SIZE)
        baselines = self._baselines(wrapped)
        for key, label, indented in layout.ROWS:
            left = layout.LABEL_LEFT + (layout.SUB_INDENT if indented else 0)
            draw.text((left, baselines[key]), label, font=font, fill=0, anchor="ls")
            draw.text((self._colon_x, baselines[key]), ":", font=font, fill=0, anchor="ls")
        nik_font = self.fonts.get(layout.NIK_SIZE, bold=True)
        nik_base = layout.NIK_TOP + _ascent(nik_font)
        self._text(draw, (layout.LABEL_LEFT, nik_base), layout.NIK_LABEL, nik_font, True)
        self._text(draw, (self._colon_x, nik_base), ":", nik_font, True)
        return layer

    def _baselines(self, wrapped: bool) -> dict[str, int]:
        """Baseline per row key; "alamat_2" is Alamat's second line if wrapped."""
        keys = [key for key, _, _ in layout.ROWS]
        if wrapped:
            keys.insert(keys.index("alamat") + 1, "alamat_2")
        pitch = min(layout.ROW_MAX_PITCH, (layout.ROWS_BOTTOM - layout.ROWS_TOP) // len(keys))
        ascent = _ascent(self.fonts.get(layout.ROW_SIZE))
        return {key: layout.ROWS_TOP + i * pitch + ascent for i, key in enumerate(keys)}

    # --- the holder's values ------------------------------------------------

    def _draw_header(self, draw: ImageDraw.ImageDraw, card: CardData) -> None:
        width = layout.CARD_SIZE[0] - 2 * layout.HEADER_MARGIN
        centre = layout.CARD_SIZE[0] // 2
        for top, line in zip(layout.HEADER_TOPS, header_lines(card)):
            font, text = self._fit(line, width, layout.HEADER_SIZE,
                                   layout.HEADER_MIN_SIZE, bold=True)
            self._text(draw, (centre, top + _ascent(font)), text, font, True, "ms")

    def _draw_nik(self, draw: ImageDraw.ImageDraw, nik: str) -> None:
        full = self.fonts.get(layout.NIK_SIZE, bold=True)
        left = round(self._colon_x + full.getlength(":") + layout.COLON_GAP)
        font, text = self._fit(nik, self._value_right - left,
                               layout.NIK_SIZE, layout.ROW_SIZE, bold=True)
        base = layout.NIK_TOP + _ascent(full)
        self._text(draw, (left, base), text, font, True)

    def _draw_values(self, draw: ImageDraw.ImageDraw, card: CardData,
                     alamat_font: Font, alamat_lines: list[str]) -> None:
        baselines = self._baselines(len(alamat_lines) == 2)
        full_width = self._value_right - self._value_x
        for key, _, _ in layout.ROWS:
            x, y = self._value_x, baselines[key]
            if key == "alamat":
                draw.text((x, y), alamat_lines[0], font=alamat_font, fill=0, anchor="ls")
                if len(alamat_lines) == 2:
                    draw.text((x, baselines["alamat_2"]), alamat_lines[1],
                              font=alamat_font, fill=0, anchor="ls")
                continue
            if key == "tempat_tgl_lahir":
                font, text = self._fit_birth(card, full_width)
            elif key == "jenis_kelamin":
                font, text = self._row_fit(card.jenis_kelamin,
                                           layout.BLOOD_LEFT - layout.COLON_GAP - x)
                self._draw_blood(draw, y, card.golongan_darah)
            else:
                font, text = self._row_fit(str(getattr(card, key)).upper(), full_width)
            draw.text((x, y), text, font=font, fill=0, anchor="ls")

    def _draw_blood(self, draw: ImageDraw.ImageDraw, baseline: int, blood: str) -> None:
        font = self.fonts.get(layout.ROW_SIZE)
        x = layout.BLOOD_LEFT
        draw.text((x, baseline), layout.BLOOD_LABEL, font=font, fill=0, anchor="ls")
        x += round(font.getlength(layout.BLOOD_LABEL)) + layout.COLON_GAP
        draw.text((x, baseline), ":", font=font, fill=0, anchor="ls")
        x += round(font.getlength(":")) + layout.COLON_GAP
        width = self._value_right - x
        font, text = self._row_fit(blood, width)
        draw.text((x, baseline), text, font=font, fill=0, anchor="ls")

    def _draw_issue(self, draw: ImageDraw.ImageDraw, card: CardData) -> None:
        left, right = layout.ISSUE_SPAN
        centre = (left + right) // 2
        lines = (card.tempat_terbit.upper(), card.tanggal_terbit.strftime("%d-%m-%Y"))
        for top, line in zip(layout.ISSUE_TOPS, lines):
            font, text = self._fit(line, right - left, layout.ISSUE_SIZE,
                                   layout.ISSUE_MIN_SIZE)
            draw.text((centre, top + _ascent(font)), text, font=font, fill=0, anchor="ms")

    # --- fitting ------------------------------------------------------------

    def _fit(self, text: str, width: int, size: int, min_size: int,
             bold: bool = False) -> tuple[Font, str]:
        """The largest face from ``size`` down to ``min_size`` that fits,
        else ``text`` cut to fit at ``min_size``."""
        extra = 1 if bold and self.fonts.fake_bold else 0
        for step in range(size, min_size - 1, -1):
            font = self.fonts.get(step, bold)
            if font.getlength(text) + extra <= width:
                return font, text
        return font, _truncate(text, font, width - extra)

    def _row_fit(self, text: str, width: int) -> tuple[Font, str]:
        return self._fit(text, width, layout.ROW_SIZE, layout.ROW_MIN_SIZE)

    def _fit_birth(self, card: CardData, width: int) -> tuple[Font, str]:
        """Place and date of birth; the place is cut before the date is."""
        place = card.tempat_lahir.upper()
        suffix = card.tanggal_lahir.strftime(", %d-%m-%Y")
        font, text = self._row_fit(place + suffix, width)
        if text != place + suffix:
            text = _truncate(place, font, width - font.getlength(suffix)) + suffix
        return font, text

    def _fit_alamat(self, alamat: str) -> tuple[Font, list[str]]:
        """One line if it fits at any row size, else two, the second cut."""
        width = self._value_right - self._value_x
        font, text = self._row_fit(alamat, width)
        if text == alamat:
            return font, [alamat]
        for size in range(layout.ROW_SIZE, layout.ROW_MIN_SIZE - 1, -1):
            font = self.fonts.get(size)
            first, rest = _split_line(alamat, font, width)
            if font.getlength(rest) <= width:
                return font, [first, rest]
        return font, [first, _truncate(rest, font, width)]

    def _text(self, draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str,
              font: Font, bold: bool = False, anchor: str = "ls") -> None:
        draw.text(xy, text, font=font, fill=0, anchor=anchor)
        if bold and self.fonts.fake_bold:
            # Pillow anti-aliases strokes whatever the font mode, so bold is
            # a second pass one dot to the right: the layer stays two-level.
            draw.text((xy[0] + 1, xy[1]), text, font=font, fill=0, anchor=anchor)


def header_lines(card: CardData) -> tuple[str, str]:
    """"PROVINSI <NAME>" and "KABUPATEN <NAME>" or "KOTA <NAME>"."""
    provinsi = card.provinsi.upper()
    if not provinsi.startswith("PROVINSI "):
        provinsi = f"PROVINSI {provinsi}"
    kabupaten = card.kabupaten.upper()
    if not kabupaten.startswith(("KOTA ", "KABUPATEN ")):
        kabupaten = f"KABUPATEN {kabupaten}"
    return provinsi, kabupaten


def _draw_on(layer: Image.Image) -> ImageDraw.ImageDraw:
    draw = ImageDraw.Draw(layer)
    draw.fontmode = "1"  # no anti-aliasing: resin is either there or not
    return draw


def _ascent(font: Font) -> int:
    return font.getmetrics()[0]


def _truncate(text: str, font: Font, width: float) -> str:
    """The longest prefix of ``text`` plus an ellipsis within ``width``."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(text[:mid].rstrip() + ELLIPSIS) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + ELLIPSIS


def _split_line(text: str, font: Font, width: float) -> tuple[str, str]:
    """``text`` split at the last space that lets the first part fit."""
    words = text.split(" ")
    first = words[0]
    taken = 1
    for word in words[1:]:
        if font.getlength(f"{first} {word}") > width:
            break
        first = f"{first} {word}"
        taken += 1
    if font.getlength(first) > width:  # one word wider than the line
        cut = len(_truncate(first, font, width)) - 1
        return first[:cut], text[cut:].lstrip()
    return first, " ".join(words[taken:])


def _make_background() -> Image.Image:
    """Light-blue vertical gradient under faint crossing waves."""
    size = layout.CARD_SIZE
    gradient = Image.linear_gradient("L").resize(size)
    top = Image.new("RGB", size, layout.BACKGROUND_TOP)
    bottom = Image.new("RGB", size, layout.BACKGROUND_BOTTOM)
    background = Image.composite(bottom, top, gradient)
    draw = ImageDraw.Draw(background)
    width, height = size
    spacing = height / layout.PATTERN_WAVES
    for wave in range(-1, layout.PATTERN_WAVES + 1):
        for phase, period in ((0.0, 300.0), (math.pi, 420.0)):
            base = wave * spacing + spacing / 2
            points = [
                (x, base + 0.45 * spacing * math.sin(2 * math.pi * x / period + phase + wave))
                for x in range(0, width + 8, 8)
            ]
            draw.line(points, fill=layout.PATTERN_COLOR, width=1)
    return background


def _paste_photo(color: Image.Image, photo: bytes) -> None:
    left, top, right, bottom = layout.PHOTO_BOX
    box_size = (right - left, bottom - top)
    with Image.open(io.BytesIO(photo)) as image:
        image.draft("RGB", box_size)
        image = ImageOps.exif_transpose(image).convert("RGB")
    fitted = ImageOps.contain(image, box_size, Image.Resampling.BICUBIC)
    if fitted.size != box_size:
        color.paste(layout.PHOTO_BACKDROP, layout.PHOTO_BOX)
    color.paste(fitted, (left + (box_size[0] - fitted.width) // 2,
                         top + (box_size[1] - fitted.height) // 2))


def _paste_signature(black: Image.Image, signature: bytes) -> None:
    left, top, right, bottom = layout.SIGNATURE_BOX
    box_size = (right - left, bottom - top)
    with Image.open(io.BytesIO(signature)) as image:
        image.load()
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image.alpha_composite(rgba)
        gray = image.convert("L")
    fitted = ImageOps.contain(gray, box_size, Image.Resampling.BILINEAR)
    threshold = layout.SIGNATURE_THRESHOLD
    ink = fitted.point([255 if value < threshold else 0 for value in range(256)])
    x = left + (box_size[0] - fitted.width) // 2
    y = top + (box_size[1] - fitted.height) // 2
    black.paste(0, (x, y, x + fitted.width, y + fitted.height), ink)

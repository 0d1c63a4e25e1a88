"""Where everything sits on the e-KTP front: 1016 x 648 dots at 300 dpi.

Boxes are ``(left, top, right, bottom)`` in dots, right and bottom exclusive.
Font sizes are in pixels (dots). Everything here is immutable.
"""
from __future__ import annotations

from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH

CARD_SIZE = (CARD_WIDTH, CARD_HEIGHT)

# --- colour layer -----------------------------------------------------------
#: Light-blue background, top and bottom of a vertical gradient.
BACKGROUND_TOP = (214, 234, 248)
BACKGROUND_BOTTOM = (176, 212, 240)
#: The faint guilloche lines laid over the gradient.
PATTERN_COLOR = (160, 200, 234)
PATTERN_WAVES = 14
#: What shows around a photo whose aspect is not 3:4.
PHOTO_BACKDROP = (236, 240, 244)

# --- header -----------------------------------------------------------------
HEADER_TOPS = (16, 54)
HEADER_SIZE = 31
HEADER_MIN_SIZE = 22
HEADER_MARGIN = 40

# --- NIK --------------------------------------------------------------------
NIK_TOP = 100
NIK_SIZE = 40
NIK_LABEL = "NIK"

# --- label / colon / value rows --------------------------------------------
LABEL_LEFT = 30
#: Extra indent of the rows that belong to Alamat.
SUB_INDENT = 30
#: Gap between the widest label and the colon, and colon to value.
COLON_GAP = 12
ROWS_TOP = 160
ROWS_BOTTOM = 640
ROW_MAX_PITCH = 40
ROW_SIZE = 25
ROW_MIN_SIZE = 18
#: Where "Gol. Darah" starts on the Jenis Kelamin row.
BLOOD_LEFT = 500
#: Values stop this far left of the photo.
VALUE_GAP = 18

#: (key, label, indented) in card order. Keys name CardData fields except
#: "tempat_tgl_lahir", which joins place and date of birth.
ROWS = (
    ("nama", "Nama", False),
    ("tempat_tgl_lahir", "Tempat/Tgl Lahir", False),
    ("jenis_kelamin", "Jenis Kelamin", False),
    ("alamat", "Alamat", False),
    ("rt_rw", "RT/RW", True),
    ("kel_desa", "Kel/Desa", True),
    ("kecamatan", "Kecamatan", True),
    ("agama", "Agama", False),
    ("status_perkawinan", "Status Perkawinan", False),
    ("pekerjaan", "Pekerjaan", False),
    ("kewarganegaraan", "Kewarganegaraan", False),
    ("berlaku_hingga", "Berlaku Hingga", False),
)
BLOOD_LABEL = "Gol. Darah"

# --- right column -----------------------------------------------------------
PHOTO_BOX = (772, 150, 992, 443)  # 220 x 293, 3:4
ISSUE_TOPS = (452, 480)
ISSUE_SIZE = 22
ISSUE_MIN_SIZE = 16
ISSUE_SPAN = (760, 1004)
SIGNATURE_BOX = (782, 512, 982, 632)
#: Signature pixels darker than this become black resin.
SIGNATURE_THRESHOLD = 140

"""agent.card.data: the payload archive and card.json rules."""
from __future__ import annotations

import io
import json
import traceback
import warnings
import zipfile
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from agent.card.data import (FIELD_MAX_LENGTH, CardData, CardDataError, CardPayload, PayloadError, parse_payload,
                             validate_card)

TODAY = date(2024, 6, 1)


def card_dict(**overrides: object) -> dict[str, object]:
    """A valid card.json document: a woman born 5 July 1990 (DD 05 + 40)."""
    doc: dict[str, object] = {
        "nik": "3273014507900003",
        "nama": "SITI AMINAH",
        "tempat_lahir": "BANDUNG",
        "tanggal_lahir": "1990-07-05",
        "jenis_kelamin": "PEREMPUAN",
        "golongan_darah": "O",
        "alamat": "JL. MERDEKA NO. 45",
        "rt_rw": "004/011",
        "kel_desa": "CITARUM",
        "kecamatan": "BANDUNG WETAN",
        "kabupaten": "KOTA BANDUNG",
        "provinsi": "JAWA BARAT",
        "agama": "ISLAM",
        "status_perkawinan": "KAWIN",
        "pekerjaan": "KARYAWAN SWASTA",
        "kewarganegaraan": "WNI",
        "berlaku_hingga": "SEUMUR HIDUP",
        "tempat_terbit": "KOTA BANDUNG",
        "tanggal_terbit": "2019-03-12",
    }
    doc.update(overrides)
    return doc


def male_card(**overrides: object) -> dict[str, object]:
    """A valid man born 5 July 1990 (DD 05)."""
    man: dict[str, object] = {"nik": "3273010507900003", "nama": "BUDI SANTOSO",
                              "jenis_kelamin": "LAKI-LAKI"}
    return card_dict(**{**man, **overrides})


def jpeg_bytes(size: tuple[int, int] = (300, 400), color=(20, 160, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=90)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (400, 160)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (20, size[1] // 2 - 3, size[0] - 20, size[1] // 2 + 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def zip_bytes(entries: list[tuple[str, bytes]],
              compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        with zipfile.ZipFile(out, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return out.getvalue()


def payload_bytes(doc: dict | None = None, **extra: bytes) -> bytes:
    entries = [("card.json", json.dumps(doc or card_dict()).encode()),
               ("photo.jpg", jpeg_bytes())]
    entries += [(name.replace("_", "."), data) for name, data in extra.items()]
    return zip_bytes(entries)


def card_error(doc: object) -> CardDataError:
    with pytest.raises(CardDataError) as caught:
        validate_card(doc, TODAY)
    return caught.value


# --- card.json --------------------------------------------------------------

def test_valid_card_passes_with_typed_fields():
    card = validate_card(card_dict(), TODAY)
    assert card.nik == "3273014507900003"
    assert card.tanggal_lahir == date(1990, 7, 5)
    assert card.tanggal_terbit == date(2019, 3, 12)
    assert card.berlaku_hingga == "SEUMUR HIDUP"


def test_valid_man_passes():
    assert validate_card(male_card(), TODAY).jenis_kelamin == "LAKI-LAKI"


def test_values_are_stripped():
    assert validate_card(card_dict(nama="  SITI AMINAH "), TODAY).nama == "SITI AMINAH"


def test_issue_date_accepts_day_first_form():
    card = validate_card(card_dict(tanggal_terbit="12-03-2019"), TODAY)
    assert card.tanggal_terbit == date(2019, 3, 12)


def test_expiry_date_is_kept_as_day_first_text():
    card = validate_card(card_dict(berlaku_hingga="2029-03-12"), TODAY)
    assert card.berlaku_hingga == "12-03-2029"


@pytest.mark.parametrize("nik, sex", [
    ("327301450790003", "PEREMPUAN"),    # 15 digits
    ("32730145079000031", "PEREMPUAN"),  # 17 digits
    ("32730145079O0003", "PEREMPUAN"),   # letter O
    ("３２７３０１４５０７９００００３", "PEREMPUAN"),  # full-width digits
    ("3273014607900003", "PEREMPUAN"),   # day 06, born on the 5th
    ("3273010507900003", "PEREMPUAN"),   # woman without + 40
    ("3273014507900003", "LAKI-LAKI"),   # man with + 40
    ("3273014508900003", "PEREMPUAN"),   # month 08, born in July
    ("3273014507910003", "PEREMPUAN"),   # year 91, born in 1990
    ("3273014507900000", "PEREMPUAN"),   # serial 0000
    ("1073014507900003", "PEREMPUAN"),   # province 10
    ("9573014507900003", "PEREMPUAN"),   # province 95
    ("3200014507900003", "PEREMPUAN"),   # kabupaten 00
    ("3273004507900003", "PEREMPUAN"),   # kecamatan 00
])
def test_nik_rule_violation_names_field_nik(nik, sex):
    error = card_error(card_dict(nik=nik, jenis_kelamin=sex))
    assert error.field == "nik"
    assert error.reason == "bad-card-data"
    assert nik not in str(error)


def test_nik_mismatch_message_names_the_rule():
    error = card_error(card_dict(nik="3273014607900003"))
    assert str(error).startswith("card.json field 'nik': ")
    assert "tanggal_lahir" in str(error)


@pytest.mark.parametrize("field, value", [
    ("nama", "ZQXV" * 16),                 # over-long (64 > 60)
    ("alamat", "JL. ZQXV\x07WUNIQ"),       # control character
    ("tanggal_lahir", "1990-02-30"),       # not a real date
    ("jenis_kelamin", "ZQXVWANITA"),       # not a sex of the contract
    ("golongan_darah", "ZQXV"),
    ("nik", "9912345678901234"),
    ("berlaku_hingga", "ZQXV SELAMANYA"),
])
def test_error_never_carries_the_value(field, value):
    error = card_error(card_dict(**{field: value}))
    assert error.field == field
    shown = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
    assert value not in shown
    assert "ZQXV" not in shown
    assert error.__context__ is None and error.__cause__ is None


@pytest.mark.parametrize("field", sorted(FIELD_MAX_LENGTH))
def test_missing_field_is_named(field):
    doc = card_dict()
    del doc[field]
    error = card_error(doc)
    assert error.field == field
    assert "missing" in error.problem


@pytest.mark.parametrize("field, limit", [("nama", 60), ("alamat", 100), ("agama", 40)])
def test_over_long_field_is_rejected_at_its_limit(field, limit):
    assert validate_card(card_dict(**{field: "A" * limit}), TODAY)
    assert card_error(card_dict(**{field: "A" * (limit + 1)})).field == field


@pytest.mark.parametrize("char", ["\n", "\t", "\x00", "\x1b", "\u200b", "\u2028", "\ud800"])
def test_control_character_is_rejected(char):
    assert card_error(card_dict(nama=f"SITI{char}AMINAH")).field == "nama"


@pytest.mark.parametrize("value", [5, None, ["SITI"], {"a": 1}, True])
def test_non_string_value_is_rejected(value):
    assert card_error(card_dict(nama=value)).problem == "is not a string"


def test_blank_value_is_rejected():
    assert card_error(card_dict(kel_desa="   ")).problem == "is empty"


@pytest.mark.parametrize("value", ["1990-7-5", "1990/07/05", "05-07-90", "1990-13-05",
                                   "1900-02-29", "1899-12-31", "tomorrow"])
def test_bad_birth_date_is_rejected(value):
    assert card_error(card_dict(tanggal_lahir=value)).field == "tanggal_lahir"


def test_birth_date_in_the_future_is_rejected():
    doc = male_card(tanggal_lahir="2024-06-02", nik="3273010206240003",
                    tanggal_terbit="2024-06-02")
    assert card_error(doc).problem == "is in the future"


@pytest.mark.parametrize("value", ["2019-02-29", "12/03/2019", ""])
def test_bad_issue_date_is_rejected(value):
    assert card_error(card_dict(tanggal_terbit=value)).field == "tanggal_terbit"


@pytest.mark.parametrize("value", ["perempuan", "WANITA", "P", "LAKI LAKI"])
def test_bad_sex_is_rejected(value):
    assert card_error(card_dict(jenis_kelamin=value)).field == "jenis_kelamin"


@pytest.mark.parametrize("value", ["A", "AB-", "O+", "-"])
def test_known_blood_groups_pass(value):
    assert validate_card(card_dict(golongan_darah=value), TODAY).golongan_darah == value


def test_unknown_blood_group_is_rejected():
    assert card_error(card_dict(golongan_darah="C")).field == "golongan_darah"


def test_unknown_field_is_rejected_without_echoing_its_name():
    error = card_error(card_dict(ZQXV_SITI="x"))
    assert error.field == "card.json"
    assert "ZQXV" not in str(error)


@pytest.mark.parametrize("doc", [[], "card", 3, None])
def test_document_that_is_not_an_object_is_rejected(doc):
    assert card_error(doc).field == "card.json"


def test_reprs_show_no_value():
    card = validate_card(card_dict(), TODAY)
    payload = CardPayload(card, jpeg_bytes(), png_bytes(), b"\x01\x02")
    for shown in (repr(card), str(card), repr(payload), str(payload)):
        assert "SITI" not in shown and "3273" not in shown and "BANDUNG" not in shown
        assert "1990" not in shown
    assert repr(card) == "CardData(<19 fields, redacted>)"
    assert "chip=<2 bytes>" in repr(payload)


# --- the archive ------------------------------------------------------------

def test_valid_payload_parses_with_optional_entries():
    payload = parse_payload(
        payload_bytes(signature_png=png_bytes(), chip_bin=b"\xAA" * 4096), TODAY)
    assert payload.card.nama == "SITI AMINAH"
    assert payload.photo[:2] == b"\xff\xd8"
    assert payload.signature is not None and payload.chip == b"\xAA" * 4096


def test_payload_without_optional_entries_has_none():
    payload = parse_payload(payload_bytes(), TODAY)
    assert payload.signature is None and payload.chip is None


@pytest.mark.parametrize("plaintext", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_not_a_zip_is_a_payload_error(plaintext):
    with pytest.raises(PayloadError) as caught:
        parse_payload(plaintext, TODAY)
    assert caught.value.reason == "bad-payload"


def test_deflated_entry_is_a_payload_error():
    entries = [("card.json", json.dumps(card_dict()).encode()), ("photo.jpg", jpeg_bytes())]
    with pytest.raises(PayloadError, match="compressed"):
        parse_payload(zip_bytes(entries, zipfile.ZIP_DEFLATED), TODAY)


def test_oversize_chip_is_a_payload_error():
    with pytest.raises(PayloadError, match="chip.bin"):
        parse_payload(payload_bytes(chip_bin=b"\x00" * 4097), TODAY)


def test_oversize_card_json_is_a_payload_error():
    doc = card_dict(nama="A" * 17000)
    with pytest.raises(PayloadError, match="card.json"):
        parse_payload(payload_bytes(doc), TODAY)


@pytest.mark.parametrize("name", ["../card.json", "x/photo.jpg", "/chip.bin", "notes.txt"])
def test_unknown_or_pathed_entry_is_a_payload_error(name):
    with pytest.raises(PayloadError):
        parse_payload(payload_bytes(**{name: b"x"}), TODAY)


def test_duplicate_entry_is_a_payload_error():
    entries = [("card.json", json.dumps(card_dict()).encode()), ("photo.jpg", jpeg_bytes()),
               ("card.json", json.dumps(male_card()).encode())]
    with pytest.raises(PayloadError, match="twice"):
        parse_payload(zip_bytes(entries), TODAY)


def test_crc_mismatch_is_a_payload_error():
    good = payload_bytes()
    spot = good.index(b"SITI AMINAH")
    tampered = good[:spot] + b"SITI AMINAX" + good[spot + 11:]
    with pytest.raises(PayloadError, match="corrupt"):
        parse_payload(tampered, TODAY)


@pytest.mark.parametrize("missing", ["card.json", "photo.jpg"])
def test_missing_required_entry_is_a_card_data_error(missing):
    entries = [("card.json", json.dumps(card_dict()).encode()), ("photo.jpg", jpeg_bytes())]
    plaintext = zip_bytes([entry for entry in entries if entry[0] != missing])
    with pytest.raises(CardDataError) as caught:
        parse_payload(plaintext, TODAY)
    assert caught.value.field == missing


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"{not json", b'{"nik": "1", "nik": "2"}'])
def test_card_json_that_is_not_utf8_json_is_a_card_data_error(raw):
    plaintext = zip_bytes([("card.json", raw), ("photo.jpg", jpeg_bytes())])
    with pytest.raises(CardDataError) as caught:
        parse_payload(plaintext, TODAY)
    assert caught.value.field == "card.json"


def test_corrupt_jpeg_is_a_card_data_error_on_photo():
    jpeg = jpeg_bytes()
    corrupt = jpeg[:200] + b"\x00" * 50  # header intact, scan data cut off
    with pytest.raises(CardDataError) as caught:
        parse_payload(zip_bytes([("card.json", json.dumps(card_dict()).encode()),
                                 ("photo.jpg", corrupt)]), TODAY)
    assert caught.value.field == "photo.jpg"
    assert str(caught.value).startswith("photo.jpg: ")


@pytest.mark.parametrize("photo", [png_bytes((300, 400)), jpeg_bytes((2001, 100)),
                                   jpeg_bytes((20, 20)), b""])
def test_photo_not_a_sane_jpeg_is_a_card_data_error(photo):
    plaintext = zip_bytes([("card.json", json.dumps(card_dict()).encode()),
                           ("photo.jpg", photo)])
    with pytest.raises(CardDataError) as caught:
        parse_payload(plaintext, TODAY)
    assert caught.value.field == "photo.jpg"


def test_signature_that_is_not_a_png_is_a_card_data_error():
    with pytest.raises(CardDataError) as caught:
        parse_payload(payload_bytes(signature_png=jpeg_bytes()), TODAY)
    assert caught.value.field == "signature.png"


# --- properties -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=120),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)
field_values = st.text(max_size=120) | json_values | st.sampled_from(
    ["SEUMUR HIDUP", "PEREMPUAN", "LAKI-LAKI", "AB+", "1990-07-05", "05-07-1990",
     "3273014507900003", "29-02-2000", "0000-00-00"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(FIELD_MAX_LENGTH)) | st.text(max_size=10),
                       field_values, max_size=22))
def test_arbitrary_documents_raise_only_card_data_error(doc):
    try:
        validate_card(doc, TODAY)
    except CardDataError:
        pass


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(sorted(FIELD_MAX_LENGTH)), field_values, max_size=6))
def test_valid_card_with_arbitrary_fields_replaced_raises_only_card_data_error(changes):
    try:
        card = validate_card(card_dict(**changes), TODAY)
    except CardDataError:
        return
    assert isinstance(card, CardData)


@settings(max_examples=200)
@given(st.binary(max_size=400), st.integers(min_value=0))
def test_damaged_archives_raise_only_payload_or_card_data_error(noise, where):
    good = payload_bytes()
    spot = where % len(good)
    damaged = good[:spot] + noise + good[spot + len(noise):]
    try:
        parse_payload(damaged, TODAY)
    except (PayloadError, CardDataError):
        pass

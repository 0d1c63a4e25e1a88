"""Synthetic holders: NIK rule, distinctness, field limits, determinism."""
from __future__ import annotations

from datetime import date

from hypothesis import given, strategies as st

from jobserver.citizens import make_citizen

FIELDS = ("nik", "nama", "tempat_lahir", "tanggal_lahir", "jenis_kelamin", "golongan_darah", "alamat",
          "rt_rw", "kel_desa", "kecamatan", "kabupaten", "provinsi", "agama", "status_perkawinan",
          "pekerjaan", "kewarganegaraan", "berlaku_hingga", "tempat_terbit", "tanggal_terbit")


def nik_obeys_rule(card: dict, station_id: str) -> bool:
    """Written from the protocol text, independently of jobserver.citizens."""
    nik = card["nik"]
    if len(nik) != 16 or not nik.isdigit():
        return False
    if nik[:6] != station_id.replace("-", ""):
        return False
    born = date.fromisoformat(card["tanggal_lahir"])
    day = int(nik[6:8])
    if card["jenis_kelamin"] == "PEREMPUAN":
        day -= 40
    return (day, int(nik[8:10]), int(nik[10:12])) == (born.day, born.month, born.year % 100) \
        and 1 <= int(nik[12:]) <= 9999


def test_every_card_has_all_protocol_fields_within_limits():
    for serial in range(1, 200):
        card = make_citizen("3319-05", serial)
        assert tuple(card) == FIELDS
        assert all(isinstance(value, str) and value for value in card.values())
        assert len(card["nama"]) <= 40 and len(card["alamat"]) <= 60
        assert all(len(card[f]) <= 40 for f in FIELDS if f != "alamat")
        assert card["jenis_kelamin"] in ("LAKI-LAKI", "PEREMPUAN")
        assert card["golongan_darah"] in ("A", "B", "AB", "O", "-")
        assert card["kewarganegaraan"] == "WNI" and card["berlaku_hingga"] == "SEUMUR HIDUP"
        date.fromisoformat(card["tanggal_lahir"])
        date.fromisoformat(card["tanggal_terbit"])
        rt, rw = card["rt_rw"].split("/")
        assert len(rt) == len(rw) == 3 and rt.isdigit() and rw.isdigit()


def test_every_nik_obeys_the_protocol_rule():
    for serial in range(1, 500):
        assert nik_obeys_rule(make_citizen("3319-05", serial), "3319-05")


def test_all_serials_of_a_station_give_distinct_niks_and_names():
    cards = [make_citizen("3319-05", serial, seed=7) for serial in range(1, 10_000)]
    assert len({card["nik"] for card in cards}) == len(cards)
    assert len({card["nama"] for card in cards}) == len(cards)


def test_holders_are_deterministic_from_the_seed():
    assert make_citizen("3319-05", 12, seed=3) == make_citizen("3319-05", 12, seed=3)
    assert make_citizen("3319-05", 12, seed=3) != make_citizen("3319-05", 12, seed=4)


def test_both_sexes_appear_and_women_carry_day_plus_forty():
    cards = [make_citizen("3319-05", serial) for serial in range(1, 100)]
    women = [card for card in cards if card["jenis_kelamin"] == "PEREMPUAN"]
    assert women and len(women) < len(cards)
    assert all(int(card["nik"][6:8]) > 40 for card in women)


@given(kabupaten=st.integers(1100, 9499), kecamatan=st.integers(1, 99), serial=st.integers(1, 9999),
       seed=st.integers(0, 2**32))
def test_nik_rule_holds_for_any_station_and_serial(kabupaten, kecamatan, serial, seed):
    station_id = f"{kabupaten}-{kecamatan:02d}"
    card = make_citizen(station_id, serial, seed)
    assert nik_obeys_rule(card, station_id)
    assert card["nik"].endswith(f"{serial:04d}")

"""Synthetic e-KTP holders, deterministic from a seed.

Every value is drawn from small word lists and combined, so no record names a
real person. Within one station each serial (0001..9999) gives a distinct NIK
and a distinct name: the name index is a bijection of the serial.

Dates: ``tanggal_lahir`` and ``tanggal_terbit`` are both YYYY-MM-DD (the
protocol fixes the first; the second follows it so one parser reads both).
"""
from __future__ import annotations

import random
import re
from datetime import date, timedelta

MAX_SERIAL = 9999
NAME_MAX = 40
ALAMAT_MAX = 60
TEXT_MAX = 40
_STATION_ID = re.compile(r"\A(\d{4})-(\d{2})\Z")

PROVINCES = {
    "11": "ACEH", "12": "SUMATERA UTARA", "13": "SUMATERA BARAT", "14": "RIAU",
    "15": "JAMBI", "16": "SUMATERA SELATAN", "17": "BENGKULU", "18": "LAMPUNG",
    "19": "KEPULAUAN BANGKA BELITUNG", "21": "KEPULAUAN RIAU", "31": "DKI JAKARTA",
    "32": "JAWA BARAT", "33": "JAWA TENGAH", "34": "DI YOGYAKARTA", "35": "JAWA TIMUR",
    "36": "BANTEN", "51": "BALI", "52": "NUSA TENGGARA BARAT", "53": "NUSA TENGGARA TIMUR",
    "61": "KALIMANTAN BARAT", "62": "KALIMANTAN TENGAH", "63": "KALIMANTAN SELATAN",
    "64": "KALIMANTAN TIMUR", "65": "KALIMANTAN UTARA", "71": "SULAWESI UTARA",
    "72": "SULAWESI TENGAH", "73": "SULAWESI SELATAN", "74": "SULAWESI TENGGARA",
    "75": "GORONTALO", "76": "SULAWESI BARAT", "81": "MALUKU", "82": "MALUKU UTARA",
}
KABUPATEN = {
    "3319": ("KUDUS", ("KALIWUNGU", "KOTA KUDUS", "JATI", "UNDAAN", "MEJOBO",
                       "JEKULO", "BAE", "GEBOG", "DAWE")),
    "3318": ("PATI", ("SUKOLILO", "KAYEN", "TAMBAKROMO", "WINONG", "PUCAKWANGI",
                      "JAKEN", "BATANGAN", "JUWANA", "JAKENAN", "PATI")),
    "3320": ("JEPARA", ("KEDUNG", "PECANGAAN", "WELAHAN", "MAYONG", "BATEALIT",
                        "JEPARA", "MLONGGO", "BANGSRI", "KELING")),
}
_GENERIC_KABUPATEN = ("SUKAMAJU", "MEKARSARI", "TANJUNGSARI", "SIDOMULYO", "KARANGANYAR")
_GENERIC_KECAMATAN = ("SUKARAME", "SUMBERREJO", "MARGOMULYO", "KEBONAGUNG",
                      "PANDANSARI", "WONOREJO", "SINDANGLAYA", "TEGALREJO")
_KEL_DESA = ("PURWOSARI", "NGEMBAL KULON", "GETAS PEJATEN", "TANJUNGREJO", "SIDOREKSO",
             "KRAMAT", "PLOSO", "BARONGAN", "DEMANGAN", "MLATI NORGO", "RENDENG", "JANGGALAN")
_STREETS = ("MELATI", "KENANGA", "MAWAR", "DAHLIA", "CEMPAKA", "ANGGREK", "FLAMBOYAN",
            "BERINGIN", "SAWO", "DURIAN", "MANGGA", "NANGKA", "PAHLAWAN", "MERDEKA")
_BIRTH_PLACES = ("SEMARANG", "SURAKARTA", "DEMAK", "PATI", "JEPARA", "REMBANG",
                 "BLORA", "GROBOGAN", "SALATIGA", "MAGELANG", "PEKALONGAN", "TEGAL")
_MALE_FIRST = ("AGUS", "BUDI", "CAHYO", "DEDI", "EKO", "FAJAR", "GUNAWAN", "HARI",
               "IRFAN", "JOKO", "KURNIAWAN", "LUKMAN", "MUHAMAD", "NUGROHO", "OKTA",
               "PRASETYO", "RUDI", "SLAMET", "TEGUH", "UMAR", "WAHYU", "YUDI", "ZAINAL",
               "ARIF", "BAMBANG")
_FEMALE_FIRST = ("ANI", "BUDIARTI", "CITRA", "DEWI", "ENDANG", "FITRI", "GITA", "HANDAYANI",
                 "INDAH", "JUMIATI", "KARTIKA", "LESTARI", "MAYA", "NUR", "OKTAVIA", "PUJI",
                 "RATNA", "SITI", "TUTIK", "UMI", "WULAN", "YULIANA", "ZAHRA", "AYU", "DIAH")
_MALE_SECOND = ("ADI", "BAYU", "DWI", "EKA", "HADI", "IMAM", "KUSNO", "NUR", "PUTRA",
                "RAHMAT", "SURYA", "TRI", "WIDODO", "YOGA", "ARI", "BIMA", "DANU",
                "GILANG", "HERU", "ILHAM")
_FEMALE_SECOND = ("AYU", "DWI", "EKA", "INTAN", "KUSUMA", "MEGA", "NOVI", "PUTRI", "RINI",
                  "SARI", "TRI", "WATI", "YANTI", "ASIH", "DEWANTI", "FEBRI", "LARAS",
                  "MULYANI", "PRATIWI", "RAHAYU")
_FAMILY = ("SANTOSO", "WIJAYA", "HIDAYAT", "SETIAWAN", "HARTONO", "SUGIHARTO", "PURNOMO",
           "SUSANTO", "WIBOWO", "NUGRAHA", "SAPUTRO", "HAKIM", "SUBAGYO", "LAKSONO",
           "HARYANTO", "MARTONO", "SULISTYO", "PRABOWO", "KURNIA", "SUDARSO")
_NAME_SPACE = len(_MALE_FIRST) * len(_MALE_SECOND) * len(_FAMILY)  # 10 000, same for women
_NAME_STRIDE = 7919  # prime, coprime to the name space: serial -> index is a bijection
_BLOOD = ("A", "B", "AB", "O", "-")
_RELIGIONS = ("ISLAM", "ISLAM", "ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU")
_MARITAL = ("BELUM KAWIN", "KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI")
_JOBS = ("PELAJAR/MAHASISWA", "KARYAWAN SWASTA", "WIRASWASTA", "PETANI/PEKEBUN",
         "MENGURUS RUMAH TANGGA", "PEGAWAI NEGERI SIPIL", "GURU", "PEDAGANG",
         "BURUH HARIAN LEPAS", "NELAYAN/PERIKANAN", "SOPIR", "PENJAHIT")


class StationIdError(ValueError):
    """A station id is not of the form ``KKKK-CC`` (kabupaten code, kecamatan number)."""


def region_code(station_id: str) -> str:
    """The six NIK region digits of a station: ``"3319-05"`` -> ``"331905"``."""
    match = _STATION_ID.match(station_id)
    if match is None:
        raise StationIdError(f"station id {station_id!r} is not KKKK-CC (e.g. 3319-05)")
    return match.group(1) + match.group(2)


def make_nik(station_id: str, birth: date, female: bool, serial: int) -> str:
    """NIK: region (6), birth DDMMYY with DD+40 for women (6), serial (4)."""
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"NIK serial {serial} outside 1..{MAX_SERIAL}")
    day = birth.day + (40 if female else 0)
    return f"{region_code(station_id)}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def make_citizen(station_id: str, serial: int, seed: int = 0) -> dict[str, str]:
    """The ``card.json`` fields of holder number ``serial`` at ``station_id``."""
    rng = random.Random(f"ktp-citizen:{seed}:{station_id}:{serial}")
    female = rng.random() < 0.5
    birth = date(1955, 1, 1) + timedelta(days=rng.randrange(52 * 365))
    issued = date(2024, 1, 1) + timedelta(days=rng.randrange(1000))
    region = region_names(station_id)
    return {
        "nik": make_nik(station_id, birth, female, serial),
        "nama": holder_name(serial, female, seed),
        "tempat_lahir": rng.choice(_BIRTH_PLACES + (region["kabupaten"],)),
        "tanggal_lahir": birth.isoformat(),
        "jenis_kelamin": "PEREMPUAN" if female else "LAKI-LAKI",
        "golongan_darah": rng.choice(_BLOOD),
        "alamat": f"JL. {rng.choice(_STREETS)} NO. {rng.randint(1, 120)}",
        "rt_rw": f"{rng.randint(1, 12):03d}/{rng.randint(1, 9):03d}",
        "kel_desa": rng.choice(_KEL_DESA),
        "kecamatan": region["kecamatan"],
        "kabupaten": region["kabupaten"],
        "provinsi": region["provinsi"],
        "agama": rng.choice(_RELIGIONS),
        "status_perkawinan": rng.choice(_MARITAL),
        "pekerjaan": rng.choice(_JOBS),
        "kewarganegaraan": "WNI",
        "berlaku_hingga": "SEUMUR HIDUP",
        "tempat_terbit": region["kabupaten"],
        "tanggal_terbit": issued.isoformat(),
    }


def holder_name(serial: int, female: bool, seed: int = 0) -> str:
    """A three-part synthetic name; distinct for distinct serials of one seed."""
    index = (serial * _NAME_STRIDE + seed) % _NAME_SPACE
    firsts, seconds = (_FEMALE_FIRST, _FEMALE_SECOND) if female else (_MALE_FIRST, _MALE_SECOND)
    index, family = divmod(index, len(_FAMILY))
    first, second = divmod(index, len(seconds))
    return f"{firsts[first]} {seconds[second]} {_FAMILY[family]}"


def region_names(station_id: str) -> dict[str, str]:
    """Province, kabupaten and kecamatan names for a station (synthetic when unknown)."""
    code = region_code(station_id)
    province = PROVINCES.get(code[:2], f"PROVINSI {code[:2]}")
    kabupaten, kecamatans = KABUPATEN.get(
        code[:4], (_GENERIC_KABUPATEN[int(code[:4]) % len(_GENERIC_KABUPATEN)], _GENERIC_KECAMATAN))
    kecamatan = kecamatans[(int(code[4:]) - 1) % len(kecamatans)]
    return {"provinsi": province, "kabupaten": kabupaten, "kecamatan": kecamatan}


def contradict_birth_date(card: dict[str, str]) -> dict[str, str]:
    """A copy whose birth date no longer matches the NIK's DDMMYY digits."""
    birth = date.fromisoformat(card["tanggal_lahir"]) + timedelta(days=1)
    return {**card, "tanggal_lahir": birth.isoformat()}

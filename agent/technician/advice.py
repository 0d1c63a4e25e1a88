"""What each printer-state reason and spoil reason means, and what to do, in Bahasa Indonesia and English.

Keys are PWG ``printer-state-reasons`` keywords without the severity suffix
(``cover-open``), the station's own ``offline``, and the reasons a card is
spoiled or a job held (``chip-unreadable``, ``interrupted``, ...). The
technician's CLI and the status page read the same entries.
"""
from __future__ import annotations

from dataclasses import dataclass

LANGS = ("id", "en")


@dataclass(frozen=True)
class Advice:
    keyword: str
    meaning: dict[str, str]
    action: dict[str, str]

    def text(self, lang: str) -> tuple[str, str]:
        """(what it means, what to do) in ``lang``; Indonesian when the language is unknown."""
        lang = lang if lang in LANGS else "id"
        return self.meaning[lang], self.action[lang]


def _a(keyword: str, id_meaning: str, id_action: str, en_meaning: str, en_action: str) -> Advice:
    return Advice(keyword, {"id": id_meaning, "en": en_meaning}, {"id": id_action, "en": en_action})


_CATALOGUE = (
    _a("media-empty",
       "Tempat blanko (feeder) kosong: printer tidak bisa mengambil kartu.",
       "Isi feeder dengan blanko KTP-el, lalu catat jumlahnya: `ktp-agent stock load N`. "
       "Pencetakan lanjut sendiri dalam beberapa detik.",
       "The card feeder is empty: the printer cannot take a blank.",
       "Load blank e-KTP cards into the feeder, then record them: `ktp-agent stock load N`. "
       "Printing resumes by itself within seconds."),
    _a("media-jam",
       "Kartu macet atau ada gangguan mekanis di jalur kartu.",
       "Buka penutup, keluarkan kartu yang macet dengan hati-hati, tutup kembali. "
       "Kartu itu dicatat rusak (spoiled) dan dikirim ulang oleh pusat; jangan diserahkan.",
       "A card is jammed or the card path has a mechanical fault.",
       "Open the cover, gently remove the jammed card, close the cover. That card is recorded as "
       "spoiled and reissued by the centre; do not hand it out."),
    _a("cover-open",
       "Penutup printer terbuka; printer tidak mau bergerak.",
       "Tutup penutup printer sampai terkunci (bunyi klik). Pencetakan lanjut sendiri.",
       "The printer cover is open; the printer will not move.",
       "Close the printer cover until it latches (click). Printing resumes by itself."),
    _a("marker-supply-low",
       "Ribbon hampir habis (peringatan; pencetakan masih berjalan).",
       "Siapkan ribbon baru di dekat printer. Ganti saat ribbon habis.",
       "The ribbon is nearly used up (a warning; printing goes on).",
       "Have a new ribbon ready next to the printer. Replace it when it runs out."),
    _a("marker-supply-empty",
       "Ribbon habis; pencetakan berhenti tanpa membuang blanko.",
       "Buka penutup, ganti ribbon dengan jenis yang sama (YMCKO), tutup penutup. "
       "Pencetakan lanjut sendiri.",
       "The ribbon has run out; printing stopped without wasting a blank.",
       "Open the cover, fit a new ribbon of the same type (YMCKO), close the cover. "
       "Printing resumes by itself."),
    _a("marker-supply-missing",
       "Ribbon tidak terpasang atau jenisnya tidak bisa mencetak kartu ini.",
       "Pasang ribbon YMCKO yang benar, lalu jalankan `ktp-agent diagnose` untuk memeriksa.",
       "No ribbon is fitted, or its type cannot print this card.",
       "Fit the correct YMCKO ribbon, then run `ktp-agent diagnose` to check."),
    _a("cleaning-due",
       "Kepala cetak printer perlu dibersihkan (peringatan; pencetakan masih berjalan).",
       "Dalam hari ini jalankan kartu pembersih: buka penutup, lepas ribbon, tutup penutup, masukkan "
       "kartu pembersih ke feeder dan ikuti layar printer. Pasang ribbon kembali sesudahnya.",
       "The printer's print head is due for cleaning (a warning; printing goes on).",
       "Today, run a cleaning card: open the cover, take the ribbon out, close the cover, put the "
       "cleaning card in the feeder and follow the printer's display. Refit the ribbon afterwards."),
    _a("cleaning-mandatory",
       "Pembersihan kepala cetak wajib: pencetakan dihentikan agar garansi kepala cetak tidak hilang.",
       "Jalankan kartu pembersih sekarang (lepas ribbon, masukkan kartu pembersih, ikuti layar printer), "
       "lalu pasang ribbon kembali. Pencetakan lanjut sendiri setelah printer selesai membersihkan.",
       "Cleaning the print head is mandatory: printing stopped so the head keeps its warranty.",
       "Run a cleaning card now (take the ribbon out, insert the cleaning card, follow the printer's "
       "display), then refit the ribbon. Printing resumes by itself once the printer has cleaned."),
    _a("output-area-full",
       "Kotak tolak atau tempat keluaran kartu penuh.",
       "Kosongkan kotak tolak dan tempat keluaran; kartu di kotak tolak dimusnahkan sesuai prosedur.",
       "The reject box or the output hopper is full.",
       "Empty the reject box and the output hopper; destroy the cards from the reject box as the "
       "procedure says."),
    _a("media-low",
       "Blanko di feeder hampir habis (peringatan; pencetakan masih berjalan).",
       "Siapkan blanko KTP-el baru; isi feeder dan catat jumlahnya: `ktp-agent stock load N`.",
       "The card feeder is nearly empty (a warning; printing goes on).",
       "Have new e-KTP blanks ready; load the feeder and record them: `ktp-agent stock load N`."),
    _a("offline",
       "Printer atau pembaca kartu tidak menjawab (kabel, daya, atau perangkat mati).",
       "Periksa daya printer dan kabel USB/serial printer serta pembaca kartu; nyalakan ulang printer. "
       "Agen menyambung lagi sendiri; periksa dengan `ktp-agent status`.",
       "The printer or the card reader does not answer (cable, power, or device off).",
       "Check the printer's power and the USB/serial cables of the printer and the reader; "
       "power-cycle the printer. The agent reconnects by itself; check with `ktp-agent status`."),
    _a("chip-unreadable",
       "Chip blanko tidak terbaca di stasiun nirkontak; blanko dibuang ke kotak tolak.",
       "Jika terjadi sekali, abaikan. Jika berulang: periksa kabel pembaca kartu dan posisinya "
       "di printer, lalu coba satu blanko lain dari kotak berbeda.",
       "The blank's chip could not be read at the contactless station; the blank went to the reject box.",
       "Once is nothing to worry about. If it repeats: check the reader's cable and its position "
       "in the printer, then try a blank from another box."),
    _a("interrupted",
       "Pencetakan terputus (listrik padam atau agen dihentikan) saat kartu di dalam printer.",
       "Tidak perlu tindakan: kartu itu dicatat rusak dan pusat menerbitkan ulang. Ambil kartu "
       "dari kotak tolak dan musnahkan sesuai prosedur.",
       "Printing was interrupted (power cut or agent stopped) with a card inside the printer.",
       "Nothing to do: that card is recorded as spoiled and the centre reissues it. Take the card "
       "from the reject box and destroy it as the procedure says."),
    _a("insert-failed",
       "Blanko gagal dibawa ke stasiun nirkontak dan dibuang ke kotak tolak.",
       "Periksa feeder: blanko harus rata dan tidak menempel satu sama lain.",
       "A blank could not be moved to the contactless station and went to the reject box.",
       "Check the feeder: blanks must lie flat and not stick together."),
    _a("in-doubt",
       "Bukti dari printer tidak cukup untuk tahu apakah kartu tercetak.",
       "Lihat kartu di tempat keluaran atau kotak tolak, lalu putuskan: "
       "`ktp-agent jobs resolve JOB_ID printed|spoiled`.",
       "The printer's evidence cannot tell whether the card was printed.",
       "Look at the card in the output hopper or the reject box, then decide: "
       "`ktp-agent jobs resolve JOB_ID printed|spoiled`."),
    _a("link-down",
       "Server pusat tidak bisa dihubungi; pekerjaan yang sudah diunduh tetap dicetak.",
       "Periksa jaringan kantor. Sebelum pemadaman yang direncanakan jalankan `ktp-agent sync`.",
       "The central server cannot be reached; jobs already downloaded still print.",
       "Check the office network. Before a planned outage, run `ktp-agent sync`."),
    _a("ups-on-battery",
       "Listrik PLN padam; stasiun berjalan dengan baterai UPS dan tetap mencetak selama baterai cukup.",
       "Jangan matikan UPS atau printer. Hemat beban UPS: matikan perangkat lain yang tersambung ke UPS. "
       "Bila baterai hampir habis, stasiun menyelesaikan kartu yang sedang dicetak lalu menunggu sendiri.",
       "Mains power is out; the station runs on the UPS battery and keeps printing while it lasts.",
       "Do not switch the UPS or the printer off. Spare the UPS: switch off other equipment on it. When the "
       "battery runs low the station finishes the card in progress, then waits by itself."),
    _a("ups-battery-low",
       "Baterai UPS hampir habis: kartu yang sedang dicetak diselesaikan, kartu baru ditahan agar tidak ada "
       "blanko terbuang.",
       "Tidak perlu tindakan pada printer; pencetakan lanjut sendiri saat listrik PLN kembali. Jika ada "
       "genset, nyalakan dan sambungkan ke UPS. Jangan mencabut printer yang sedang mencetak.",
       "The UPS battery is nearly empty: the card in progress is finished and new cards are held so no blank "
       "is wasted.",
       "Nothing to do at the printer; printing resumes by itself when mains returns. If there is a generator, "
       "start it and feed the UPS. Do not unplug a printer that is printing."),
    _a("ups-unreachable",
       "Agen tidak bisa membaca UPS (upsd tidak menjawab, jawabannya rusak, atau terlalu lambat); pencetakan "
       "tetap berjalan, tetapi pemadaman listrik tidak akan terlihat sebelumnya.",
       "Periksa kabel USB/serial UPS dan layanan NUT: `systemctl status nut-server nut-driver.target`, "
       "lalu `upsc NAMA@HOST`. Alamat UPS ada di [power] ups pada konfigurasi.",
       "The agent cannot read the UPS (upsd does not answer, answers garbage, or too slowly); printing goes on, "
       "but a power cut will not be seen coming.",
       "Check the UPS's USB/serial cable and the NUT services: `systemctl status nut-server nut-driver.target`, "
       "then `upsc NAME@HOST`. The UPS address is [power] ups in the configuration."),
)

_LINK_QUOTA = (
    _a("link-quota-near",
       "Kuota data bulan ini hampir habis: stasiun berhemat (menunggu pekerjaan lebih lama, memeriksa server "
       "lebih jarang, hanya mengunduh satu-dua kartu berikutnya). Pencetakan berjalan.",
       "Minta pengelola kantor menambah paket data sebelum habis, lalu naikkan [link] monthly_quota_mb di "
       "konfigurasi dan mulai ulang agen. Pakai data kantor hanya untuk pencetakan.",
       "This month's data quota is nearly spent: the station saves bytes (longer waits for jobs, fewer checks "
       "with the server, only the next card or two downloaded). Printing goes on.",
       "Ask the office to top up the data package before it runs out, then raise [link] monthly_quota_mb in "
       "the configuration and restart the agent. Keep the office's data for printing only."),
    _a("link-quota-spent",
       "Kuota data bulan ini habis: stasiun tidak mengunduh kartu baru sampai bulan kuota berikutnya. Kartu "
       "yang sudah ada di spool tetap dicetak dan hasilnya tetap dikirim ke pusat.",
       "Tambah paket data lalu naikkan [link] monthly_quota_mb dan mulai ulang agen; atau minta pusat "
       "mengirim pekerjaan lewat flashdisk (`ktp-agent import`). Kuota mulai dari nol pada [link] quota_reset_day.",
       "This month's data quota is spent: the station downloads no new cards until the next quota month. "
       "Cards already in the spool still print and their results still go to the centre.",
       "Top up the data package, then raise [link] monthly_quota_mb and restart the agent; or ask the centre "
       "to send jobs on a USB stick (`ktp-agent import`). The quota starts from zero on [link] quota_reset_day."),
    _a("link-quota-over",
       "Kuota data bulan ini habis, tetapi konfigurasi (at_quota = \"continue\") menyuruh stasiun tetap "
       "mengunduh dengan hemat: tagihan atau pemotongan oleh penyedia bisa terjadi.",
       "Tambah paket data segera dan naikkan [link] monthly_quota_mb, atau setel at_quota = \"stop-downloads\".",
       "This month's data quota is spent, but the configuration (at_quota = \"continue\") keeps the station "
       "downloading, sparingly: the provider may charge extra or cut the line.",
       "Top up the data package now and raise [link] monthly_quota_mb, or set at_quota = \"stop-downloads\"."),
)

CATALOGUE: dict[str, Advice] = {entry.keyword: entry for entry in _CATALOGUE + _LINK_QUOTA}
#: Spoil reasons that are printer faults carry the fault's own keyword (media-jam, ...).
SPOIL_REASONS = frozenset({"chip-unreadable", "interrupted", "insert-failed"})

_UNKNOWN = {
    "id": ("Kondisi '{k}' belum ada dalam katalog saran.",
           "Jalankan `ktp-agent diagnose --bundle` dan kirim berkasnya ke help desk."),
    "en": ("Condition '{k}' is not in the advice catalogue.",
           "Run `ktp-agent diagnose --bundle` and send the file to the help desk."),
}


def advise(keyword: str, lang: str = "id") -> tuple[str, str]:
    """(meaning, action) for a reason keyword; a severity suffix (``-error``) is ignored."""
    entry = CATALOGUE.get(base_keyword(keyword))
    if entry is not None:
        return entry.text(lang)
    meaning, action = _UNKNOWN["en" if lang == "en" else "id"]
    return meaning.format(k=keyword), action


def base_keyword(keyword: str) -> str:
    for suffix in ("-error", "-warning", "-report"):
        if keyword.endswith(suffix):
            return keyword[: -len(suffix)]
    return keyword

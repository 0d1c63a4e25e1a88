"""What the station says about removable media, in Bahasa Indonesia (default) and English."""
from __future__ import annotations

import time

_T = {
    "watching": ("Media lepas: folder {dir} dipantau; stik berisi pekerjaan diimpor otomatis",
                 "Removable media: watching {dir}; a stick with jobs is imported by itself"),
    "importing": ("Mengimpor pekerjaan dari {file}: {done}/{total} — jangan cabut stik",
                  "Importing jobs from {file}: {done}/{total} — do not pull the stick"),
    "imported": ("Impor terakhir {at}: {imported} pekerjaan baru siap dicetak tanpa jaringan, "
                 "{completed} dilengkapi, {waiting} menunggu jaringan, {known} sudah ada, {rejected} ditolak",
                 "Last import {at}: {imported} new jobs ready to print offline, {completed} completed, "
                 "{waiting} waiting for the network, {known} already here, {rejected} rejected"),
    "interrupted": ("Impor terputus: stik dicabut atau rusak sebelum selesai. Pasang lagi untuk melanjutkan; "
                    "pekerjaan yang sudah masuk tidak hilang atau terulang.",
                    "Import interrupted: the stick was pulled or failed before the end. Insert it again to "
                    "carry on; jobs already taken are neither lost nor repeated."),
    "refused": ("Berkas ditolak (bukan bundel untuk stasiun ini): {why}",
                "File refused (not a bundle for this station): {why}"),
    "receipts": ("Tanda terima terakhir {at}: {count} laporan ditulis ke {path}; laporan tetap antre sampai "
                 "server pusat mengonfirmasi",
                 "Last receipts {at}: {count} reports written to {path}; they stay queued until the central "
                 "server confirms them"),
    "receipts_failed": ("Tanda terima GAGAL ditulis {at}: {error}", "Receipts NOT written {at}: {error}"),
    "import_label": ("Mengimpor pekerjaan", "Importing jobs"),
    "import_done": ("Selesai: {imported} pekerjaan baru siap dicetak tanpa jaringan; {completed} dilengkapi; "
                    "{waiting} menunggu jaringan; {known} sudah ada; {rejected} ditolak.",
                    "Done: {imported} new jobs ready to print offline; {completed} completed; "
                    "{waiting} waiting for the network; {known} already here; {rejected} rejected."),
    "import_none": ("Tidak ada berkas .ktpjobs di {path}.", "No .ktpjobs file in {path}."),
    "exported": ("Tanda terima ditulis: {path} ({count} laporan). Bawa ke kantor pusat; laporan tetap antre "
                 "sampai server mengonfirmasi.",
                 "Receipts written: {path} ({count} reports). Take it to the central office; the reports "
                 "stay queued until the server confirms them."),
}


def t(key: str, lang: str, **values: object) -> str:
    text = _T[key][1 if lang == "en" else 0]
    return text.format(**values) if values else text


def _when(at: float | None) -> str:
    return time.strftime("%d-%m %H:%M", time.localtime(at)) if at else "—"


def offline_lines(view: dict | None, lang: str = "id") -> list[str]:
    """The status lines about removable media (none when nothing was ever imported or watched)."""
    if not view:
        return []
    lines = []
    if view.get("watch_dir"):
        lines.append(t("watching", lang, dir=view["watch_dir"]))
    progress = view.get("progress")
    if progress:
        lines.append(t("importing", lang, **progress))
    last = view.get("last_import")
    if last:
        lines.append(t("imported", lang, at=_when(last.get("at")), **{k: last.get(k, 0) for k in (
            "imported", "completed", "waiting", "known", "rejected")}))
        if last.get("interrupted"):
            lines.append(t("interrupted", lang))
        lines += [t("refused", lang, why=why) for why in last.get("refused") or []]
    receipts = view.get("last_receipts")
    if receipts:
        lines.append(t("receipts_failed", lang, at=_when(receipts.get("at")), error=receipts["error"])
                     if receipts.get("error") else
                     t("receipts", lang, at=_when(receipts.get("at")), count=receipts.get("count", 0),
                       path=receipts.get("path")))
    return lines

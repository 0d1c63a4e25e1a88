"""What the station says about removable media, in Bahasa Indonesia (default) and English."""
from __future__ import annotations

import time

from .status import LastImport, OfflineStatus

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
}


def t(key: str, lang: str, **values: object) -> str:
    text = _T[key][1 if lang == "en" else 0]
    return text.format(**values) if values else text


def _when(at: float | None) -> str:
    return time.strftime("%d-%m %H:%M", time.localtime(at)) if at else "—"


def offline_lines(view: OfflineStatus | None, lang: str = "id") -> list[str]:
    """The status lines about removable media (none when nothing was ever imported or watched)."""
    if view is None:
        return []
    lines = []
    if view.watch_dir:
        lines.append(t("watching", lang, dir=view.watch_dir))
    if view.progress:
        p = view.progress
        lines.append(t("importing", lang, file=p.file, done=p.done, total=p.total))
    last = view.last_import
    if last:
        lines.append(t("imported", lang, at=_when(last.at), **last.counts()))
        lines += import_trouble_lines(last, lang)
    receipts = view.last_receipts
    if receipts:
        lines.append(t("receipts_failed", lang, at=_when(receipts.at), error=receipts.error)
                     if receipts.error else
                     t("receipts", lang, at=_when(receipts.at), count=receipts.count, path=receipts.path))
    return lines


def import_trouble_lines(last: LastImport, lang: str = "id") -> list[str]:
    """What kept an import from taking every job: the medium gone, bundles refused."""
    return ([t("interrupted", lang)] if last.interrupted else []) + [t("refused", lang, why=why)
                                                                   for why in last.refused]

"""The status page for the office PC's browser, in Bahasa Indonesia: ``/status`` on the metrics listener.

Plain server-rendered HTML of the station's ``StationStatus``: station
state, active faults with advice, queue, supplies, link, an inline SVG chart
of today's cards per hour and the recent faults. No scripts, no external
assets; the page reloads itself every ``REFRESH_S`` seconds.
"""
from __future__ import annotations

import time
from html import escape

from .advice import advise
from ..offline import offline_lines
from .station_status import StationStatus

REFRESH_S = 10

_STATE = {
    "ready": ("ok", "SIAP MENCETAK", "Printer siap; pekerjaan dicetak begitu tiba."),
    "stopped": ("bad", "BERHENTI — PERLU TINDAKAN", "Pencetakan ditahan sampai gangguan di bawah ditangani."),
    "offline": ("bad", "PRINTER TIDAK TERHUBUNG", "Agen mencoba menyambung lagi sendiri."),
    "held-for-power": ("bad", "DITAHAN — BATERAI UPS RENDAH",
                       "Kartu yang sedang dicetak diselesaikan; kartu baru menunggu listrik PLN kembali."),
    "held-for-storage": ("bad", "DITAHAN — FOLDER DATA STASIUN TIDAK BISA DITULIS", ""),
}
_POWER = {"mains": "listrik PLN", "battery": "BATERAI UPS", "low-battery": "BATERAI UPS RENDAH",
          "unknown": "tidak diketahui"}
_SEVERITY = {"error": "galat", "warning": "peringatan", "report": "info"}
_LINK = {"ok": "tersambung", "down": "terputus", "never": "belum pernah tersambung sejak agen mulai"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f3f6f9;color:#1b2733}
header{background:#0b4f8a;color:#fff;padding:12px 20px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.85}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:14px;padding:14px 20px}
section{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}
section h2{font-size:16px;margin:0 0 8px}.wide{grid-column:1/-1}
.banner{grid-column:1/-1;border-radius:8px;padding:14px 18px;font-size:20px;font-weight:700}
.banner small{display:block;font-size:14px;font-weight:400;margin-top:4px}
.ok{background:#d8f3dc;color:#1b5e20}.bad{background:#fde2e1;color:#8a1c1c}
table{border-collapse:collapse;width:100%}td{padding:3px 4px;border-bottom:1px solid #eef1f4}
td.n{text-align:right;font-weight:600;font-variant-numeric:tabular-nums}
.fault{border-left:5px solid #c62828;padding:6px 10px;margin:8px 0;background:#fff6f6}
.fault.warning{border-color:#ef8f00;background:#fffaf0}.fault b{font-family:monospace}
.todo{margin-top:4px}.muted{color:#667}
"""


def render_status_page(s: StationStatus) -> bytes:
    kind, headline, sub = _STATE.get(s.state.value, _STATE["offline"])
    sub = s.storage.line("id") if s.storage is not None else sub
    when = time.strftime("%d-%m-%Y %H:%M:%S", time.localtime(s.at))
    body = "".join([
        f'<div class="banner {kind}" id="state">{escape(headline)}<small>{escape(sub)}</small></div>',
        _faults(s), _queue(s), _supplies(s), _link(s), _offline(s), _chart(s), _history(s),
    ])
    page = (f'<!doctype html><html lang="id"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{REFRESH_S}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>Status stasiun {escape(s.station_id)}</title><style>{_CSS}</style></head><body>'
            f'<header><h1>Stasiun Cetak KTP-el {escape(s.station_id)}</h1>'
            f'<p>Diperbarui {escape(when)} · halaman memuat ulang sendiri tiap {REFRESH_S} detik</p></header>'
            f'<main>{body}</main></body></html>')
    return page.encode("utf-8")


def _faults(s: StationStatus) -> str:
    reasons = s.active_reasons()
    if not reasons:
        return '<section class="wide" id="faults"><h2>Gangguan aktif</h2><p>Tidak ada gangguan.</p></section>'
    items = []
    for r in reasons:
        meaning, action = advise(r.keyword, "id")
        items.append(f'<div class="fault {escape(r.severity)}"><b>{escape(r.keyword)}</b> '
                     f'({escape(_SEVERITY.get(r.severity, r.severity))}): {escape(meaning)}'
                     f'<div class="todo"><strong>Yang harus dilakukan:</strong> {escape(action)}</div></div>')
    return f'<section class="wide" id="faults"><h2>Gangguan aktif</h2>{"".join(items)}</section>'


def _rows(rows: list[tuple[str, object]]) -> str:
    return "<table>" + "".join(f'<tr><td>{escape(k)}</td><td class="n">{escape(str(v))}</td></tr>'
                               for k, v in rows) + "</table>"


def _queue(s: StationStatus) -> str:
    q, today = s.queue, s.today
    rows = [("Siap dicetak", q.get("downloaded", 0)),
            ("Sedang diunduh", s.downloading),
            ("Menunggu giliran unduh", s.waiting_to_download()),
            ("Sedang dicetak", q.get("printing", 0)),
            ("Perlu keputusan teknisi", q.get("in-doubt", 0)),
            ("Laporan menunggu dikirim", s.outbox),
            ("Tercetak hari ini", sum(today.printed)),
            ("Rusak hari ini", sum(today.spoiled))]
    return f'<section id="queue"><h2>Antrean</h2>{_rows(rows)}</section>'


def _supplies(s: StationStatus) -> str:
    stock, printer = s.stock, s.printer
    if stock.blanks_left is None:
        blanks = "belum dihitung (ktp-agent stock load N)"
    else:
        days = f" (±{stock.days_left} hari)" if stock.days_left is not None else ""
        blanks = f"{stock.blanks_left}{days}"
    ribbon = printer.ribbon_remaining
    rows = [("Blanko tersisa", blanks),
            ("Ribbon", printer.ribbon_type or "tidak diketahui"),
            ("Sisa cetakan ribbon", "tidak diketahui" if ribbon is None else ribbon),
            ("Penghitung kartu printer", "—" if printer.cards_inserted is None else printer.cards_inserted)]
    return f'<section id="supplies"><h2>Persediaan</h2>{_rows(rows)}</section>'


_QUOTA = {"normal": "normal", "near": "hampir habis: unduhan dibatasi",
          "spent": "HABIS: hanya mencetak isi spool"}


def _link(s: StationStatus) -> str:
    link = s.link
    age = "—" if link.age_s is None else f"{link.age_s:.0f} detik lalu"
    rows = [("Server pusat", _LINK[link.state.value]), ("Kontak terakhir", age),
            ("Printer", "terhubung" if s.printer.online else "tidak terhubung"),
            ("Pembaca kartu", "terhubung" if s.reader_online else "tidak terhubung")]
    quota = link.quota
    if quota is not None:
        mb = 1_000_000
        rows.append(("Kuota data bulan ini", f"{quota.used_bytes / mb:.1f} dari {quota.quota_bytes / mb:.1f} MB "
                     f"sejak {quota.month_start} ({_QUOTA[quota.state]})"))
    power = s.power
    if power is not None:
        runtime = "—" if power.runtime_s is None else f"{power.runtime_s:.0f} detik"
        rows += [("Daya", _POWER[power.state.value]), ("Sisa waktu baterai UPS", runtime),
                 ("Koneksi ke UPS (upsd)", "tersambung" if power.link_up else "TERPUTUS")]
    return f'<section id="link"><h2>Koneksi</h2>{_rows(rows)}</section>'


def _offline(s: StationStatus) -> str:
    lines = offline_lines(s.offline, "id")
    if not lines:
        return ""
    items = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return f'<section class="wide" id="offline"><h2>Media lepas (stik USB)</h2>{items}</section>'


def _chart(s: StationStatus) -> str:
    printed, spoiled = s.today.printed, s.today.spoiled
    top = max([p + q for p, q in zip(printed, spoiled)] + [4])
    width, height, left, base = 720, 190, 30, 160
    bar = (width - left) / 24
    parts = [f'<svg id="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="Kartu hari ini per jam" xmlns="http://www.w3.org/2000/svg">']
    for tick in (0, top // 2, top):
        y = base - tick * 140 / top
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde3ea"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>')
    for hour in range(24):
        x = left + hour * bar + 2
        h_ok, h_bad = printed[hour] * 140 / top, spoiled[hour] * 140 / top
        if printed[hour]:
            parts.append(f'<rect x="{x:.1f}" y="{base - h_ok:.1f}" width="{bar - 4:.1f}" height="{h_ok:.1f}" '
                         f'fill="#1565c0"><title>{hour:02d}.00: {printed[hour]} tercetak</title></rect>')
        if spoiled[hour]:
            parts.append(f'<rect x="{x:.1f}" y="{base - h_ok - h_bad:.1f}" width="{bar - 4:.1f}" '
                         f'height="{h_bad:.1f}" fill="#c62828"><title>{hour:02d}.00: {spoiled[hour]} rusak'
                         f'</title></rect>')
        if hour % 3 == 0:
            parts.append(f'<text x="{x + bar / 2 - 2:.1f}" y="{base + 16}" font-size="11" '
                         f'text-anchor="middle">{hour:02d}</text>')
    parts.append(f'<text x="{left}" y="{height - 2}" font-size="11" fill="#1565c0">■ tercetak</text>'
                 f'<text x="{left + 80}" y="{height - 2}" font-size="11" fill="#c62828">■ rusak</text></svg>')
    return (f'<section class="wide"><h2>Kartu hari ini per jam ({escape(s.today.date)}, '
            f'{sum(printed)} tercetak)</h2>{"".join(parts)}</section>')


def _history(s: StationStatus) -> str:
    events = s.history(12)
    if not events:
        return '<section class="wide" id="history"><h2>Riwayat gangguan</h2><p>Belum ada.</p></section>'
    rows = []
    for at, keyword, job_id in events:
        meaning, _ = advise(keyword, "id")
        job = f' <span class="muted">pekerjaan {escape(job_id)}</span>' if job_id else ""
        rows.append(f'<tr><td>{time.strftime("%d-%m %H:%M:%S", time.localtime(at))}</td>'
                    f'<td><b>{escape(keyword)}</b>{job}</td><td>{escape(meaning)}</td></tr>')
    return f'<section class="wide" id="history"><h2>Riwayat gangguan</h2><table>{"".join(rows)}</table></section>'

"""Technician commands that talk to the running daemon: ``status``, ``diagnose``, ``sync``.

Each asks the daemon over its control socket; with the daemon down, it opens
the devices (and the journal) itself. Bahasa Indonesia by default, English
with ``--lang en``. Exit status 0 when the station can print, 1 when it
cannot (a fault holds it, a device is offline) or the command failed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from ..offline import offline_lines
from ..power import PowerState, PowerStatus
from .advice import advise
from .station_status import QuotaView, Reason, StationState, StationStatus

if TYPE_CHECKING:
    from .diagnose import Diagnosis

_T = {
    "station": ("Stasiun {id} · daemon {d}", "Station {id} · daemon {d}"),
    "running": ("berjalan", "running"),
    "down": ("TIDAK berjalan (perangkat dibuka langsung)", "NOT running (devices opened directly)"),
    "state": ("Keadaan", "State"),
    "ready": ("SIAP MENCETAK", "READY TO PRINT"),
    "stopped": ("BERHENTI — perlu tindakan", "STOPPED — needs action"),
    "offline": ("PRINTER TIDAK TERHUBUNG", "PRINTER NOT CONNECTED"),
    "not-running": ("TIDAK MENCETAK — daemon tidak berjalan (`systemctl start ktp-agent`)",
                    "NOT PRINTING — the daemon is not running (`systemctl start ktp-agent`)"),
    "held-for-power": ("DITAHAN — baterai UPS rendah, menunggu listrik PLN",
                       "HELD — UPS battery low, waiting for mains"),
    "held-for-storage": ("DITAHAN — folder data stasiun tidak bisa ditulis", "HELD — the state folder cannot be written"),
    "storage": ("Penyimpanan: {line}", "Storage: {line}"),
    "queue": ("Antrean: {dl} siap dicetak, {down} sedang diunduh, {wait} menunggu giliran unduh, "
              "{pr} sedang dicetak, {doubt} perlu keputusan; {out} laporan menunggu dikirim",
              "Queue: {dl} ready to print, {down} downloading, {wait} waiting to download, {pr} printing, "
              "{doubt} in doubt; {out} reports waiting to be sent"),
    "today": ("Hari ini: {p} tercetak, {s} rusak", "Today: {p} printed, {s} spoiled"),
    "stock": ("Blanko: {left}{days}", "Blanks: {left}{days}"),
    "stock_none": ("Blanko: belum dihitung (`ktp-agent stock load N`)",
                   "Blanks: never counted (`ktp-agent stock load N`)"),
    "days": (" (±{d} hari)", " (about {d} days)"),
    "ribbon": ("Ribbon: {type}, sisa {left} cetakan", "Ribbon: {type}, {left} prints left"),
    "printer": ("Printer: {on}; penghitung kartu {c}, panel {p}, posisi kartu {pos}",
                "Printer: {on}; card counter {c}, panels {p}, card position {pos}"),
    "printer_off": ("Printer: tidak terhubung{why}", "Printer: not connected{why}"),
    "reader": ("Pembaca kartu: {on}", "Card reader: {on}"),
    "on": ("terhubung", "connected"),
    "off": ("tidak terhubung", "not connected"),
    "unknown": ("tidak diketahui", "unknown"),
    "link": ("Server pusat: {state}{age}", "Central server: {state}{age}"),
    "link_ok": ("tersambung", "connected"),
    "link_down": ("TERPUTUS", "DOWN"),
    "link_never": ("belum tersambung sejak agen mulai", "not reached since the agent started"),
    "age": (", kontak terakhir {s:.0f} detik lalu", ", last contact {s:.0f} s ago"),
    "active": ("Gangguan aktif:", "Active faults:"),
    "none_active": ("Gangguan aktif: tidak ada", "Active faults: none"),
    "means": ("Artinya", "Means"),
    "todo": ("Lakukan", "Do"),
    "history": ("Riwayat gangguan (terbaru dulu):", "Fault history (newest first):"),
    "job": (" pekerjaan {j}", " job {j}"),
    "identity": ("Identitas printer: {model}, nomor seri {serial}, firmware {firmware}, head kit {head_kit}",
                 "Printer identity: {model}, serial {serial}, firmware {firmware}, head kit {head_kit}"),
    "counters": ("Penghitung: kartu masuk {c}, panel tercetak {p}, ribbon {rt} sisa {rl}, tutup {cover}",
                 "Counters: cards inserted {c}, panels printed {p}, ribbon {rt} {rl} left, cover {cover}"),
    "reader_fw": ("Pembaca kartu: firmware {fw}", "Card reader: firmware {fw}"),
    "test_ok": ("Kartu uji: dicetak (penghitung kartu {a} → {b})", "Test card: printed (card counter {a} → {b})"),
    "test_fail": ("Kartu uji: GAGAL — {e}", "Test card: FAILED — {e}"),
    "bundle": ("Berkas untuk help desk: {path}", "Bundle for the help desk: {path}"),
    "bundle_failed": ("Berkas untuk help desk TIDAK tertulis di {out}: {why}",
                      "The help-desk bundle was NOT written to {out}: {why}"),
    "synced": ("Selesai: {f} pekerjaan baru diunduh; {r} siap dicetak tanpa jaringan.",
               "Done: {f} new jobs downloaded; {r} ready to print offline."),
    "contacting": ("(menghubungi server)", "(contacting the server)"),
    "cover_open": ("terbuka", "open"),
    "cover_closed": ("tertutup", "closed"),
    "sync_cap": ("(daemon menyimpan paling banyak {n} pekerjaan: spool.prefetch_jobs)",
                 "(the daemon keeps at most {n} jobs: spool.prefetch_jobs)"),
    "sync_timeout": ("Waktu habis: {r} siap, {w} belum terunduh. Periksa jaringan dan coba lagi.",
                     "Timed out: {r} ready, {w} not yet downloaded. Check the network and try again."),
    "sync_unreached": ("Server pusat tidak menjawab selama sinkronisasi.", "The central server did not answer."),
    "sync_label": ("Mengunduh pekerjaan", "Downloading jobs"),
}


#: The power line (with a UPS configured), by the same two languages.
_POWER_T = {
    "line": ("Daya: {state}; UPS {ups} {link}, baterai {charge}, sisa waktu {runtime} (minimum {min:.0f} s)",
             "Power: {state}; UPS {ups} {link}, charge {charge}, runtime {runtime} (minimum {min:.0f} s)"),
    PowerState.MAINS: ("listrik PLN", "mains"),
    PowerState.BATTERY: ("BATERAI UPS (tetap mencetak)", "ON BATTERY (still printing)"),
    PowerState.LOW: ("BATERAI UPS RENDAH (kartu baru ditahan)", "UPS BATTERY LOW (new cards held)"),
    PowerState.UNKNOWN: ("tidak diketahui", "unknown"),
    "up": ("tersambung", "connected"),
    "down": ("TIDAK TERBACA ({p}); pencetakan tetap berjalan", "NOT READABLE ({p}); printing goes on"),
}


def t(key: str, lang: str, **values: object) -> str:
    text = _T[key][1 if lang == "en" else 0]
    return text.format(**values) if values else text


def _pt(key: str | PowerState, lang: str, **values: object) -> str:
    text = _POWER_T[key][1 if lang == "en" else 0]
    return text.format(**values) if values else text


def add_technician_commands(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="station state: queue, supplies, printer, reader, link, faults")
    _common(status)
    status.set_defaults(handler=_status)
    diagnose = sub.add_parser("diagnose", help="printer identity and counters, faults with advice, test card, "
                                               "help-desk bundle",
                              description="Exit status: 0 when the station can print; 1 when it cannot (the "
                                          "reason is printed) or the test card failed. With --bundle the "
                                          "command's work is the bundle: 0 once it is written, whatever the "
                                          "station's state (the state is printed, and is in the bundle); 1 when "
                                          "it could not be written (or a --test-card asked for failed).")
    _common(diagnose)
    diagnose.add_argument("--test-card", action="store_true", help="print the printer's own test card (uses a blank)")
    diagnose.add_argument("--bundle", action="store_true", help="also write a .tar.gz for the help desk")
    diagnose.add_argument("--out", default=".", help="folder for the bundle (default: here)")
    diagnose.set_defaults(handler=_diagnose)
    sync = sub.add_parser("sync", help="download jobs ahead now, e.g. before a planned network outage")
    _common(sync, json_flag=False)
    sync.add_argument("--jobs", type=int, help="how many jobs to have ready (default: spool.prefetch_jobs)")
    sync.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    sync.set_defaults(handler=_sync)


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--config", required=True, help="the station's TOML configuration file")
    parser.add_argument("--lang", choices=("id", "en"), default="id", help="message language (default: id)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _setup(args: argparse.Namespace):
    from ..config import load_config
    from ..observe import configure_logs

    configure_logs(level="warning")  # driver and fetcher logs to stderr, only when something is wrong
    return load_config(args.config)


def _status(args: argparse.Namespace) -> int:
    from .diagnose import collect_status

    status = collect_status(_setup(args))
    if args.json:
        print(json.dumps(status.to_json(), indent=2, default=str))
    else:
        print("\n".join(format_status(status, args.lang)))
    return 0 if status.state is StationState.READY else 1


def _diagnose(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .diagnose import collect_bundle, collect_diagnose, write_bundle

    config = _setup(args)
    found = collect_diagnose(config, test_card=args.test_card)
    if args.json:
        print(json.dumps(found.to_json(), indent=2, default=str))
    else:
        print("\n".join(format_diagnose(found, args.lang)))
    if args.bundle:
        try:
            path = write_bundle(config, collect_bundle(config), Path(args.out))
        except OSError as exc:
            print(t("bundle_failed", args.lang, out=args.out, why=exc.strerror or exc), file=sys.stderr)
            return 1
        print(t("bundle", args.lang, path=path))
    test = found.devices["printer"].get("test_card")
    failed = test is not None and not test.get("done")
    if args.bundle:  # the bundle was written: that is what --bundle was asked for
        return 1 if failed else 0
    return 0 if found.status.state is StationState.READY and not failed else 1


def _sync(args: argparse.Namespace) -> int:
    from .control import DaemonNotRunningError
    from .diagnose import client_for
    from .sync import ProgressBar, sync_directly, sync_via_daemon

    config = _setup(args)
    lang = args.lang
    if args.jobs is not None and args.jobs < 1:
        print("ktp-agent sync: --jobs must be at least 1", file=sys.stderr)
        return 2
    bar = ProgressBar(t("sync_label", lang))
    daemon = True
    try:
        try:
            result = sync_via_daemon(client_for(config, timeout=15), config, args.jobs, args.timeout, bar,
                                     t("contacting", lang))
        except DaemonNotRunningError:
            daemon = False
            result = sync_directly(config, args.jobs, args.timeout, bar)
    finally:
        bar.close()
    if not result.polled:
        print(t("sync_unreached", lang))
    if not result.finished:
        print(t("sync_timeout", lang, r=result.ready, w=result.waiting))
        return 1
    print(t("synced", lang, f=result.fetched, r=result.ready))
    if daemon and args.jobs and args.jobs > config.spool.prefetch_jobs:
        print(t("sync_cap", lang, n=config.spool.prefetch_jobs))
    return 0 if result.polled else 1


# -- text -------------------------------------------------------------------------

def format_status(s: StationStatus, lang: str) -> list[str]:
    q, p = s.queue, s.printer
    lines = [t("station", lang, id=s.station_id, d=t("running" if s.daemon else "down", lang)),
             f"{t('state', lang)}: {t(s.state.value, lang)}",
             t("queue", lang, dl=q.get("downloaded", 0), down=s.downloading, wait=s.waiting_to_download(),
               pr=q.get("printing", 0), doubt=q.get("in-doubt", 0), out=s.outbox),
             t("today", lang, p=sum(s.today.printed), s=sum(s.today.spoiled))]
    if s.stock.blanks_left is None:
        lines.append(t("stock_none", lang))
    else:
        days = t("days", lang, d=s.stock.days_left) if s.stock.days_left is not None else ""
        lines.append(t("stock", lang, left=s.stock.blanks_left, days=days))
    if p.online and p.cards_inserted is not None:
        left = p.ribbon_remaining
        lines.append(t("ribbon", lang, type=p.ribbon_type, left=t("unknown", lang) if left is None else left))
        lines.append(t("printer", lang, on=t("on", lang), c=p.cards_inserted, p=p.panels_printed,
                       pos=p.card_position))
    else:
        lines.append(t("printer_off", lang, why=f" ({p.error})" if p.error else ""))
    reader = s.reader_online
    lines.append(t("reader", lang, on=t("unknown" if reader is None else "on" if reader else "off", lang)))
    if s.daemon:
        age = t("age", lang, s=s.link.age_s) if s.link.age_s is not None else ""
        lines.append(t("link", lang, state=t(f"link_{s.link.state.value}", lang), age=age))
    lines += format_quota(s.link.quota, lang)
    lines += offline_lines(s.offline, lang)
    lines += format_power(s.power, lang)
    lines += [t("storage", lang, line=s.storage.line(lang))] if s.storage is not None else []
    lines += format_reasons(s.active_reasons(), lang)
    lines += format_history(s, lang)
    return lines


_QUOTA = {
    "line": ("Kuota data bulan ini (sejak {start}): terpakai {used:.1f} dari {quota:.1f} MB, sisa {left:.1f} MB — {state}",
             "Data quota this month (since {start}): {used:.1f} of {quota:.1f} MB used, {left:.1f} MB left — {state}"),
    "normal": ("normal", "normal"),
    "near": ("HEMAT: hampir habis, unduhan dibatasi", "SAVING: nearly spent, downloads limited"),
    "spent": ("HABIS: tidak mengunduh kartu baru; mencetak isi spool, hasil tetap dikirim",
              "SPENT: no new cards downloaded; printing the spool, results still sent"),
    "over": ("HABIS, tetapi dikonfigurasi untuk tetap mengunduh (hemat)",
             "SPENT, but configured to keep downloading (saving)"),
}


def format_quota(quota: QuotaView | None, lang: str) -> list[str]:
    """One line for a metered link; none when unmetered."""
    if quota is None:
        return []
    i = 1 if lang == "en" else 0
    state = "over" if quota.state == "spent" and not quota.stops_downloads else quota.state
    mb = 1_000_000
    return [_QUOTA["line"][i].format(start=quota.month_start, used=quota.used_bytes / mb,
                                     quota=quota.quota_bytes / mb, left=max(0, quota.quota_bytes - quota.used_bytes) / mb,
                                     state=_QUOTA[state][i])]


def format_power(power: PowerStatus | None, lang: str) -> list[str]:
    if power is None:
        return []
    link = _pt("up", lang) if power.link_up else _pt("down", lang, p=power.link)
    charge = "—" if power.charge_ratio is None else f"{power.charge_ratio:.0%}"
    runtime = "—" if power.runtime_s is None else f"{power.runtime_s:.0f} s"
    return [_pt("line", lang, state=_pt(power.state, lang), ups=power.ups, link=link,
                charge=charge, runtime=runtime, min=power.min_runtime_s)]


def format_reasons(reasons: tuple[Reason, ...], lang: str) -> list[str]:
    if not reasons:
        return [t("none_active", lang)]
    lines = [t("active", lang)]
    for r in reasons:
        meaning, action = advise(r.keyword, lang)
        lines += [f"  ✗ {r.keyword}-{r.severity}",
                  f"    {t('means', lang)}: {meaning}",
                  f"    {t('todo', lang)}: {action}"]
    return lines


def format_history(s: StationStatus, lang: str, limit: int = 10) -> list[str]:
    events = s.history(limit)
    if not events:
        return []
    lines = [t("history", lang)]
    for at, keyword, job_id in events:
        job = t("job", lang, j=job_id) if job_id else ""
        lines.append(f"  {time.strftime('%d-%m %H:%M:%S', time.localtime(at))}  {keyword}{job}"
                     f" — {advise(keyword, lang)[0]}")
    return lines


def format_diagnose(found: Diagnosis, lang: str) -> list[str]:
    devices, lines = found.devices, []
    printer = devices["printer"]
    if printer.get("identity"):
        lines.append(t("identity", lang, **printer["identity"]))
        st = printer["status"]
        lines.append(t("counters", lang, c=st["cards_inserted"], p=st["panels_printed"], rt=st["ribbon_type"],
                       rl=st["ribbon_remaining"], cover=t(f"cover_{st['cover']}", lang)
                       if st["cover"] in ("open", "closed") else st["cover"]))
    elif printer.get("error"):
        lines.append(t("printer_off", lang, why=f" ({printer['error']})"))
    if devices["reader"].get("firmware"):
        lines.append(t("reader_fw", lang, fw=devices["reader"]["firmware"]))
    test = printer.get("test_card")
    if test is not None:
        lines.append(t("test_ok", lang, a=test["cards_before"], b=test["cards_after"]) if test["done"]
                     else t("test_fail", lang, e=test.get("reason") or test.get("error")))
        if test.get("reason"):
            meaning, action = advise(test["reason"], lang)
            lines += [f"    {t('means', lang)}: {meaning}", f"    {t('todo', lang)}: {action}"]
    return lines + [""] + format_status(found.status, lang)

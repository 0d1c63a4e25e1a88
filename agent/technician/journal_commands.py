"""Technician commands that work on the journal: list jobs, resolve in-doubt ones, the blank stock,
releasing a damaged journal. Bahasa Indonesia by default, English with ``--lang en``, JSON with ``--json``."""
from __future__ import annotations

import argparse
import json

from ..config import load_config
from ..journal import JobRecord, JobState, Journal
from ..journal_guard import JOURNAL_FILE

_T = {
    "loaded": ("Tercatat {n:+d} blanko; sisa {left}", "Recorded {n:+d} blanks; {left} left"),
    "never": ("Stok blanko belum pernah dihitung: catat pengiriman dengan `ktp-agent stock load N`",
              "Blank stock was never counted: record a delivery with `ktp-agent stock load N`"),
    "left": ("Sisa {left} blanko; {days}", "{left} blanks left; {days}"),
    "days": ("±{d:.1f} hari dengan {r:.1f} kartu sehari", "{d:.1f} days at {r:.1f} a day"),
    "idle": ("tidak ada kartu dalam 7 hari terakhir", "no cards in the last 7 days"),
    "released": ("Penahanan dicabut; start berikutnya membuka jurnal baru. Jurnal yang rusak tetap di sebelahnya.",
                 "The hold is lifted; the next start opens a fresh journal. The damaged one stays beside it."),
    "not_held": ("Tidak ada jurnal rusak yang menahan stasiun ini", "No damaged journal is holding this station"),
    "row": ("{job}  {state:<10}  seq={seq}  blanko={counter}  uid={uid}{random}  alasan={reason}",
            "{job}  {state:<10}  seq={seq}  blank={counter}  uid={uid}{random}  reason={reason}"),
    "random": (" (acak)", " (random)"),
    "no_jobs": ("(tidak ada pekerjaan)", "(no jobs)"),
    "resolved": ("Pekerjaan {job}: dicatat sebagai {status} (blanko: {blank}); laporannya antre untuk dikirim ke server",
                 "Job {job}: recorded as {status} (blank: {blank}); the report is queued for the server"),
    "blank_no": ("kartu no. {n} menurut penghitung printer", "card no. {n} by the printer's counter"),
    "blank_unknown": ("tidak diketahui", "unknown"),
    "chip": (", chip {uid}", ", chip {uid}"),
}


def t(key: str, lang: str, **values: object) -> str:
    text = _T[key][1 if lang == "en" else 0]
    return text.format(**values) if values else text


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the station's TOML configuration file")
    parser.add_argument("--lang", choices=("id", "en"), default="id", help="message language (default: id)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_jobs_commands(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help="list jobs or resolve an in-doubt job")
    jobs_sub = jobs.add_subparsers(metavar="ACTION")
    listing = jobs_sub.add_parser("list", help="jobs by state")
    _options(listing)
    listing.add_argument("--state", choices=[s.value for s in JobState])
    listing.set_defaults(handler=_list)
    resolve = jobs_sub.add_parser("resolve", help="decide an in-doubt job after looking at the card")
    resolve.add_argument("job_id")
    resolve.add_argument("outcome", choices=["printed", "spoiled"])
    _options(resolve)
    resolve.set_defaults(handler=_resolve)


def add_journal_commands(sub: argparse._SubParsersAction) -> None:
    journal = sub.add_parser("journal", help="journal maintenance")
    journal_sub = journal.add_subparsers(metavar="ACTION")
    release = journal_sub.add_parser("release", help="start a fresh journal after a damaged one was moved aside")
    _options(release)
    release.set_defaults(handler=_release)


def add_stock_commands(sub: argparse._SubParsersAction) -> None:
    stock = sub.add_parser("stock", help="blank card stock: record a delivery, show what is left")
    stock_sub = stock.add_subparsers(metavar="ACTION")
    load = stock_sub.add_parser("load", help="record blanks put into the feeder")
    load.add_argument("count", type=int)
    load.add_argument("--note", help="e.g. the delivery note number")
    _options(load)
    load.set_defaults(handler=_stock_load)
    show = stock_sub.add_parser("show", help="blanks left and days of stock (exit 1: never counted)")
    _options(show)
    show.set_defaults(handler=_stock_show)


def _say(args: argparse.Namespace, doc: object, text: str) -> None:
    print(json.dumps(doc, indent=2) if args.json else text)


def _stock_load(args: argparse.Namespace) -> int:
    journal, _ = _open(args.config)
    try:
        journal.load_blanks(args.count, args.note)
        left, _ = journal.blank_stock()
    finally:
        journal.close()
    _say(args, {"recorded": args.count, "blanks_left": left}, t("loaded", args.lang, n=args.count, left=left))
    return 0


def _stock_show(args: argparse.Namespace) -> int:
    journal, _ = _open(args.config)
    try:
        left, per_day = journal.blank_stock()
    finally:
        journal.close()
    days_left = round(left / per_day, 1) if left is not None and per_day else None
    doc = {"blanks_left": left, "per_day": round(per_day, 2), "days_left": days_left}
    if left is None:
        _say(args, doc, t("never", args.lang))
        return 1
    days = t("days", args.lang, d=left / per_day, r=per_day) if per_day else t("idle", args.lang)
    _say(args, doc, t("left", args.lang, left=left, days=days))
    return 0


def _release(args: argparse.Namespace) -> int:
    from ..journal_guard import release

    config = load_config(args.config)
    released = release(config.station.state_dir)
    _say(args, {"released": released}, t("released" if released else "not_held", args.lang))
    return 0 if released else 1


def _open(config_path: str) -> tuple[Journal, str]:
    config = load_config(config_path)
    return Journal(config.station.state_dir / JOURNAL_FILE), config.station.id


def _list(args: argparse.Namespace) -> int:
    journal, _ = _open(args.config)
    try:
        states = [JobState(args.state)] if args.state else list(JobState)
        records = journal.jobs_in(*states, limit=10_000)
    finally:
        journal.close()
    if args.json:
        print(json.dumps([_job_json(r) for r in records], indent=2))
    else:
        print("\n".join(_row(r, args.lang) for r in records) if records else t("no_jobs", args.lang))
    return 0


def _row(record: JobRecord, lang: str) -> str:
    """The job, its state, its blank: its number by the printer's card counter, its chip UID (random marked)."""
    return t("row", lang, job=record.job_id, state=record.state.value, seq=record.seq,
             counter="-" if record.blank_counter is None else record.blank_counter, uid=record.blank_serial or "-",
             random=t("random", lang) if record.blank_uid_random else "", reason=record.reason or "-")


def _job_json(record: JobRecord) -> dict:
    return {"job_id": record.job_id, "state": record.state.value, "seq": record.seq,
            "blank_counter": record.blank_counter, "blank_serial": record.blank_serial,
            "blank_uid_random": record.blank_uid_random, "reason": record.reason}


def _resolve(args: argparse.Namespace) -> int:
    journal, station_id = _open(args.config)
    try:
        body = journal.resolve_in_doubt(args.job_id, JobState(args.outcome), station_id)
    finally:
        journal.close()
    counter, lang = body.get("blank_counter"), args.lang
    blank = t("blank_no", lang, n=counter) if counter is not None else t("blank_unknown", lang)
    if body["blank_serial"]:
        blank += t("chip", lang, uid=body["blank_serial"])
    doc = {"job_id": args.job_id, "status": body["status"], "blank_counter": counter,
           "blank_serial": body["blank_serial"], "report": "queued"}
    _say(args, doc, t("resolved", lang, job=args.job_id, status=body["status"], blank=blank))
    return 0

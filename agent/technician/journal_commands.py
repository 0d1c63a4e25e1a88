"""Technician commands that work on the journal: list jobs, resolve in-doubt ones."""
from __future__ import annotations

import argparse
import sys

from ..config import load_config
from ..journal import JobRecord, JobState, Journal
from ..journal_guard import JOURNAL_FILE


def add_jobs_commands(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help="list jobs or resolve an in-doubt job")
    jobs_sub = jobs.add_subparsers(metavar="ACTION")
    listing = jobs_sub.add_parser("list", help="jobs by state")
    listing.add_argument("--config", required=True)
    listing.add_argument("--state", choices=[s.value for s in JobState])
    listing.set_defaults(handler=_list)
    resolve = jobs_sub.add_parser("resolve", help="decide an in-doubt job after looking at the card")
    resolve.add_argument("job_id")
    resolve.add_argument("outcome", choices=["printed", "spoiled"])
    resolve.add_argument("--config", required=True)
    resolve.set_defaults(handler=_resolve)


def add_journal_commands(sub: argparse._SubParsersAction) -> None:
    journal = sub.add_parser("journal", help="journal maintenance")
    journal_sub = journal.add_subparsers(metavar="ACTION")
    release = journal_sub.add_parser("release", help="start a fresh journal after a damaged one was moved aside")
    release.add_argument("--config", required=True)
    release.set_defaults(handler=_release)


def add_stock_commands(sub: argparse._SubParsersAction) -> None:
    stock = sub.add_parser("stock", help="blank card stock: record a delivery, show what is left")
    stock_sub = stock.add_subparsers(metavar="ACTION")
    load = stock_sub.add_parser("load", help="record blanks put into the feeder")
    load.add_argument("count", type=int)
    load.add_argument("--note", help="e.g. the delivery note number")
    load.add_argument("--config", required=True)
    load.set_defaults(handler=_stock_load)
    show = stock_sub.add_parser("show", help="blanks left and days of stock")
    show.add_argument("--config", required=True)
    show.set_defaults(handler=_stock_show)


def _stock_load(args: argparse.Namespace) -> int:
    journal, _ = _open(args.config)
    try:
        journal.load_blanks(args.count, args.note)
        left, _ = journal.blank_stock()
    finally:
        journal.close()
    print(f"recorded {args.count:+d} blanks; {left} left")
    return 0


def _stock_show(args: argparse.Namespace) -> int:
    journal, _ = _open(args.config)
    try:
        left, per_day = journal.blank_stock()
    finally:
        journal.close()
    if left is None:
        print("blank stock was never counted: record a delivery with `ktp-agent stock load N`")
        return 1
    days = f"{left / per_day:.1f} days at {per_day:.1f} a day" if per_day else "no cards in the last 7 days"
    print(f"{left} blanks left; {days}")
    return 0


def _release(args: argparse.Namespace) -> int:
    from ..journal_guard import release

    config = load_config(args.config)
    if release(config.station.state_dir):
        print("the hold is lifted; the next start opens a fresh journal. The damaged one stays beside it.")
        return 0
    print("no damaged journal is holding this station")
    return 1


def _open(config_path: str) -> tuple[Journal, str]:
    config = load_config(config_path)
    return Journal(config.station.state_dir / JOURNAL_FILE), config.station.id


def _list(args: argparse.Namespace) -> int:
    journal, _ = _open(args.config)
    try:
        states = [JobState(args.state)] if args.state else list(JobState)
        for record in journal.jobs_in(*states, limit=10_000):
            print(f"{record.job_id}  {record.state.value:<10}  seq={record.seq}  {_blank(record)}  "
                  f"reason={record.reason or '-'}")
    finally:
        journal.close()
    return 0


def _resolve(args: argparse.Namespace) -> int:
    journal, station_id = _open(args.config)
    try:
        body = journal.resolve_in_doubt(args.job_id, JobState(args.outcome), station_id)
    finally:
        journal.close()
    counter = body.get("blank_counter")
    blank = f"card no. {counter} by the printer's counter" if counter is not None else "unknown"
    if body["blank_serial"]:
        blank += f", chip {body['blank_serial']}"
    print(f"job {args.job_id}: recorded as {body['status']} (blank: {blank});"
          " the report is queued for the server", file=sys.stdout)
    return 0


def _blank(record: JobRecord) -> str:
    """The job's blank: its number by the printer's card counter, its chip UID (random ones marked)."""
    counter = "-" if record.blank_counter is None else str(record.blank_counter)
    uid = record.blank_serial or "-"
    return f"blank={counter}  uid={uid}{' (random)' if record.blank_uid_random else ''}"

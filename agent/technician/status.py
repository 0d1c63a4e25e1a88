"""``gather``: the station's status, read from its owners at the moment it is asked.

The journal gives the queue, the outbox, the blank stock, today's cards and
the spoiled ones; the print worker gives what the printer last said and the
faults it saw; the link's tally gives the last contact with the job server;
the offline desk tells its imports and receipts.
the power monitor gives the UPS's state (``PowerStatus``, None without a UPS).
``gather`` only reads; the value it makes is ``StationStatus``.
"""
from __future__ import annotations

import calendar
import time
from types import MappingProxyType
from typing import Iterable

from drivers.errors import StateReason
from drivers.interfaces import PrinterStatus

from ..journal import Journal
from ..offline import OfflineStatus
from ..power import PowerStatus
from ..journal_faults import FaultEvent
from ..storage import StorageStatus
from .station_status import (LinkState, LinkView, PrinterView, QuotaView, Reason, SpoiledCard, StationState,
                             StationStatus, Stock, Today, state_of)

#: No exchange with the job server for this long: the link is shown as down.
LINK_STALE_S = 600.0
_OFFLINE = Reason("offline", "error")


def printer_view(online: bool, reasons: Iterable[StateReason], status: PrinterStatus | None,
                 error: str | None = None) -> PrinterView:
    shown = tuple(Reason(r.keyword, r.severity.value) for r in reasons)
    if not online:
        shown = (_OFFLINE, *shown)
    if status is None:
        return PrinterView(online, shown, error=error)
    return PrinterView(online, shown, cards_inserted=status.cards_inserted, panels_printed=status.panels_printed,
                       ribbon_type=status.ribbon_type, ribbon_remaining=status.ribbon_remaining,
                       card_position=status.card_position.name.lower(), cover=status.detail.get("cover"),
                       error=error)


def station_state(printer: PrinterView, power: PowerStatus | None = None) -> StationState:
    return state_of(printer, power)


def gather(station_id: str, journal: Journal, printer: PrinterView, *, reader_online: bool | None,
           last_contact: float | None, daemon: bool, faults: Iterable[FaultEvent] | None = None,
           offline: OfflineStatus | None = None, now: float | None = None,
           power: PowerStatus | None = None, storage: StorageStatus | None = None,
           downloading: int = 0, quota: QuotaView | None = None) -> StationStatus:
    """Everything ``ktp-agent status`` and the status page show; the fault episodes from the journal
    unless ``faults`` are given."""
    now = time.time() if now is None else now
    left, per_day = journal.blank_stock()
    return StationStatus(
        station_id=station_id, at=now, daemon=daemon, state=state_of(printer, power, daemon, storage),
        queue=MappingProxyType({s.value: n for s, n in journal.counts_by_state().items()}),
        outbox=journal.outbox_depth(),
        stock=Stock(left, round(per_day, 2), round(left / per_day, 1) if left is not None and per_day > 0 else None),
        printer=printer, reader_online=reader_online, link=link_view(last_contact, now, quota),
        faults=tuple(journal.faults.recent() if faults is None else faults),
        spoiled=recent_spoiled(journal), today=cards_per_hour(journal, now), offline=offline, power=power,
        storage=storage,
        downloading=downloading,
    )


def link_view(last_contact: float | None, now: float, quota: QuotaView | None = None) -> LinkView:
    if not last_contact:
        return LinkView(LinkState.NEVER, None, None, quota)
    age = max(0.0, now - last_contact)
    return LinkView(LinkState.OK if age < LINK_STALE_S else LinkState.DOWN, last_contact, round(age, 1), quota)


def quota_view(reading, stops_downloads: bool) -> QuotaView | None:
    """The quota's reading (``jobs.quota.QuotaReading``) as the status shows it; None when unmetered."""
    if not reading.quota_bytes:
        return None
    return QuotaView(reading.state.value, reading.quota_bytes, reading.used_bytes, reading.month_start,
                     stops_downloads)


def cards_per_hour(journal: Journal, now: float) -> Today:
    """Today's printed and spoiled cards per local hour."""
    printed, spoiled = [0] * 24, [0] * 24
    for outcome, finished in journal.finished_since(_local_midnight(now)):
        at = _parse_utc(finished)
        if at is None:
            continue
        hour = time.localtime(at).tm_hour
        (printed if outcome == "printed" else spoiled)[hour] += 1
    return Today(time.strftime("%Y-%m-%d", time.localtime(now)), tuple(printed), tuple(spoiled))


def recent_spoiled(journal: Journal, limit: int = 10) -> tuple[SpoiledCard, ...]:
    """The jobs in doubt, then the last spoiled cards with their reason (the journal's durable fault record)."""
    spoiled, in_doubt = journal.spoiled_and_in_doubt(limit)
    return (tuple(SpoiledCard(job_id, "in-doubt", at) for job_id, at in in_doubt)
            + tuple(SpoiledCard(job_id, reason or "unknown", _parse_utc(at)) for job_id, reason, at in spoiled))


def journal_statistics(journal: Journal) -> dict:
    """For the help-desk bundle: counts and health, no job content."""
    return {
        "schema_path": str(journal.path),
        "size_bytes": journal.path.stat().st_size if journal.path.exists() else 0,
        "integrity_ok": journal.integrity_ok(),
        "jobs_by_state": {s.value: n for s, n in journal.counts_by_state().items()},
        "outcomes": journal.outcome_counts(),
        "outbox_depth": journal.outbox_depth(),
        "blank_stock": list(journal.blank_stock()),
    }


def _local_midnight(now: float) -> float:
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def _parse_utc(text: str | None) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None

"""The station's status: one frozen value, and its JSON form for the control socket and ``--json``.

``ktp-agent status``, ``diagnose``, the control socket and the ``/status`` page
all show this value; ``agent.technician.status.gather`` builds it from its
owners (the journal, the print worker, the link's tally, the offline desk, the power monitor). Nothing in it is
citizen data: job ids, states, counters, reason keywords, times.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping

from ..offline import OfflineStatus
from ..power import PowerStatus
from ..journal_faults import FaultEvent
from ..storage import StorageStatus


class StationState(str, Enum):
    READY = "ready"        # the printer answers and no error reason holds the queue
    STOPPED = "stopped"    # an error reason holds the queue
    OFFLINE = "offline"    # the printer does not answer
    HELD_FOR_POWER = "held-for-power"  # the UPS battery is low: no new blank until mains returns
    NOT_RUNNING = "not-running"  # the daemon is down: nothing prints, whatever the printer says
    HELD_FOR_STORAGE = "held-for-storage"  # the state folder cannot be written: nothing new until it can


class LinkState(str, Enum):
    OK = "ok"
    DOWN = "down"          # no exchange with the job server for LINK_STALE_S
    NEVER = "never"        # none since the agent started


@dataclass(frozen=True)
class Reason:
    keyword: str
    severity: str


@dataclass(frozen=True)
class PrinterView:
    """What the printer last said; the counters are None until it gave a status."""

    online: bool
    reasons: tuple[Reason, ...]
    cards_inserted: int | None = None
    panels_printed: int | None = None
    ribbon_type: str | None = None
    ribbon_remaining: int | None = None
    card_position: str | None = None
    cover: str | None = None
    error: str | None = None

    def to_json(self) -> dict:
        doc: dict = {"online": self.online, "reasons": [_reason_json(r) for r in self.reasons]}
        if self.cards_inserted is not None:
            doc.update(cards_inserted=self.cards_inserted, panels_printed=self.panels_printed,
                       ribbon_type=self.ribbon_type, ribbon_remaining=self.ribbon_remaining,
                       card_position=self.card_position, cover=self.cover)
        if self.error is not None:
            doc["error"] = self.error
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PrinterView:
        return cls(online=bool(doc["online"]), reasons=tuple(Reason(**r) for r in doc.get("reasons", ())),
                   cards_inserted=doc.get("cards_inserted"), panels_printed=doc.get("panels_printed"),
                   ribbon_type=doc.get("ribbon_type"), ribbon_remaining=doc.get("ribbon_remaining"),
                   card_position=doc.get("card_position"), cover=doc.get("cover"), error=doc.get("error"))


@dataclass(frozen=True)
class Stock:
    blanks_left: int | None   # None: never counted (`ktp-agent stock load N`)
    per_day: float
    days_left: float | None


@dataclass(frozen=True)
class QuotaView:
    """The metered link's month: ``state`` is ``normal``, ``near`` or ``spent`` (an unmetered link has none)."""

    state: str
    quota_bytes: int
    used_bytes: int
    month_start: str            # YYYY-MM-DD, station local time
    stops_downloads: bool       # at_quota = "stop-downloads"

    def reason(self) -> Reason | None:
        """What the technician is told: nothing below the near mark."""
        if self.state == "near":
            return Reason("link-quota-near", "warning")
        if self.state == "spent":
            return Reason("link-quota-spent" if self.stops_downloads else "link-quota-over", "warning")
        return None

    def to_json(self) -> dict:
        return {"state": self.state, "quota_bytes": self.quota_bytes, "used_bytes": self.used_bytes,
                "month_start": self.month_start, "stops_downloads": self.stops_downloads}


@dataclass(frozen=True)
class LinkView:
    state: LinkState
    last_contact: float | None
    age_s: float | None
    quota: QuotaView | None = None  # None: unmetered

    def to_json(self) -> dict:
        doc = {"state": self.state.value, "last_contact": self.last_contact, "age_s": self.age_s}
        if self.quota is not None:  # metered links only
            doc["quota"] = self.quota.to_json()
        return doc


@dataclass(frozen=True)
class SpoiledCard:
    """A card the journal holds as spoiled, or a job in doubt (keyword ``in-doubt``)."""

    job_id: str
    keyword: str
    at: float | None


@dataclass(frozen=True)
class Today:
    """Today's printed and spoiled cards per local hour (24 buckets each)."""

    date: str
    printed: tuple[int, ...]
    spoiled: tuple[int, ...]


@dataclass(frozen=True)
class StationStatus:
    station_id: str
    at: float
    daemon: bool                     # False: the daemon is down and the devices were opened directly
    state: StationState
    queue: Mapping[str, int]         # jobs by JobState value
    outbox: int
    stock: Stock
    printer: PrinterView
    reader_online: bool | None       # None: not known
    link: LinkView
    faults: tuple[FaultEvent, ...]   # newest first
    spoiled: tuple[SpoiledCard, ...]
    today: Today
    offline: OfflineStatus | None = None   # removable media; None where the station has no offline desk
    power: PowerStatus | None = None  # None: no UPS configured
    storage: StorageStatus | None = None  # None: the state folder takes writes (or the daemon is down)
    downloading: int = 0              # payloads being downloaded now (0 with the daemon down)

    def waiting_to_download(self) -> int:
        """Jobs not yet downloaded and not downloading now: they wait for a download slot (or the link)."""
        return max(0, self.queue.get("verified", 0) + self.queue.get("received", 0) - self.downloading)

    def history(self, limit: int) -> list[tuple[float, str, str | None]]:
        """(time, keyword, job id) of the faults seen and the journal's spoiled cards, newest first;
        a spoiled card the fault history already tells of is told once."""
        events = [(e.at, e.keyword, e.job_id) for e in self.faults]
        seen = {(e.job_id, e.keyword) for e in self.faults}
        events += [(c.at or 0, c.keyword, c.job_id) for c in self.spoiled if (c.job_id, c.keyword) not in seen]
        events.sort(key=lambda e: e[0], reverse=True)
        return events[:limit]

    def with_printer(self, printer: PrinterView) -> StationStatus:
        """This status with a fresher look at the printer (and the state that follows from it)."""
        return replace(self, printer=printer, state=state_of(printer, self.power, self.daemon, self.storage))

    def active_reasons(self) -> tuple[Reason, ...]:
        """The printer's active reasons, then what the power and the link's quota ask of a person."""
        power = () if self.power is None else tuple(Reason(k, s) for k, s in self.power.reasons)
        quota = self.link.quota.reason() if self.link.quota is not None else None
        return self.printer.reasons + power + ((quota,) if quota else ())

    def to_json(self) -> dict:
        return {
            "station_id": self.station_id, "at": self.at, "daemon": self.daemon, "state": self.state.value,
            "queue": dict(self.queue), "outbox": self.outbox,
            "stock": {"blanks_left": self.stock.blanks_left, "per_day": self.stock.per_day,
                      "days_left": self.stock.days_left},
            "printer": self.printer.to_json(),
            "reader": {"online": self.reader_online},
            "link": self.link.to_json(),
            "faults": [_fault_json(e) for e in self.faults],
            "spoiled": [{"job_id": c.job_id, "keyword": c.keyword, "at": c.at} for c in self.spoiled],
            "today": {"date": self.today.date, "printed": list(self.today.printed),
                      "spoiled": list(self.today.spoiled)},
            "offline": self.offline.to_json() if self.offline else None,
            "power": None if self.power is None else self.power.to_json(),
            "storage": None if self.storage is None else self.storage.to_json(),
            "downloading": self.downloading,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StationStatus:
        link, today, power, storage = doc["link"], doc["today"], doc.get("power"), doc.get("storage")
        return cls(
            station_id=doc["station_id"], at=doc["at"], daemon=bool(doc["daemon"]),
            state=StationState(doc["state"]), queue=MappingProxyType(dict(doc["queue"])), outbox=doc["outbox"],
            stock=Stock(**doc["stock"]), printer=PrinterView.from_json(doc["printer"]),
            reader_online=doc["reader"]["online"],
            link=LinkView(LinkState(link["state"]), link["last_contact"], link["age_s"],
                          QuotaView(**link["quota"]) if link.get("quota") else None),
            faults=tuple(FaultEvent(**e) for e in doc["faults"]),
            spoiled=tuple(SpoiledCard(**c) for c in doc["spoiled"]),
            today=Today(today["date"], tuple(today["printed"]), tuple(today["spoiled"])),
            offline=OfflineStatus.from_json(doc["offline"]) if doc.get("offline") else None,
            power=None if power is None else PowerStatus.from_json(power),
            storage=None if storage is None else StorageStatus.from_json(storage),
            downloading=int(doc.get("downloading", 0)),
        )


def state_of(printer: PrinterView, power: PowerStatus | None = None, daemon: bool = True,
             storage: StorageStatus | None = None) -> StationState:
    """``not-running`` (no daemon, so nothing prints), ``held-for-storage`` (its state folder cannot be
    written), ``offline``, ``stopped`` (an error reason holds the queue), ``held-for-power`` or ``ready``."""
    if not daemon:
        return StationState.NOT_RUNNING
    if storage is not None:
        return StationState.HELD_FOR_STORAGE
    if not printer.online:
        return StationState.OFFLINE
    if any(r.severity == "error" for r in printer.reasons):
        return StationState.STOPPED
    if power is not None and power.held:
        return StationState.HELD_FOR_POWER
    return StationState.READY


def _reason_json(reason: Reason) -> dict:
    return {"keyword": reason.keyword, "severity": reason.severity}


def _fault_json(event: FaultEvent) -> dict:
    return {"at": event.at, "keyword": event.keyword, "severity": event.severity, "source": event.source,
            "job_id": event.job_id, "device": event.device, "ended_at": event.ended_at}

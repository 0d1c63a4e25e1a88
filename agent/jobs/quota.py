"""The metered link's monthly quota: bytes used this quota month, and how the link behaves because of it.

Bytes are the link's own socket count (``wire.WireCounter``: HTTP and TLS,
both ways). They are kept in the journal's ``tallies`` table under
``link_bytes:<first day of the quota month>``, so they survive restarts and a
new quota month starts from zero by itself: a quota month begins at 00:00 on
``[link] quota_reset_day`` in the station's local time (the system's time
zone, e.g. WIB), and the tally of the month before is dropped then.

How the link behaves (``LinkPolicy``), by quota state:
- unmetered or below ``near_quota_ratio``: long polls of ``long_poll_s``,
  the server's ``poll_after_s``, prefetch as ``[spool]`` allows;
- near the quota: the longest long poll the protocol allows, at most one poll
  every ``NEAR_POLL_GAP_S``, and only the next ``NEAR_READ_AHEAD`` payloads;
- spent, ``at_quota = "stop-downloads"``: no payload is fetched and the only
  poll is a heartbeat every ``HEARTBEAT_S``, answered at once (no long poll),
  so the server still sees the station alive and its queue known, for a few
  kilobytes a day; printing from the spool and result reports go on, since
  reports are small and the server needs them to account for blanks;
- spent, ``at_quota = "continue"``: as near the quota.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Callable

from ..config import AtQuota, LinkConfig
from ..journal import Journal
from .wire import WireCounter

#: Name prefix of the quota months' tallies in the journal.
TALLY_FAMILY = "link_bytes:"
#: The protocol's longest long poll.
MAX_WAIT_S = 300
#: Near the quota: the least time between two polls, and the payloads fetched ahead of the printer.
NEAR_POLL_GAP_S = 900.0
NEAR_READ_AHEAD = 2
#: Quota spent (stop-downloads): one poll this often, answered at once.
HEARTBEAT_S = 6 * 3600.0


class QuotaState(Enum):
    UNMETERED = "unmetered"
    NORMAL = "normal"
    NEAR = "near"
    SPENT = "spent"


@dataclass(frozen=True)
class QuotaReading:
    state: QuotaState
    quota_bytes: int        # 0: unmetered
    used_bytes: int         # this quota month, both directions
    month_start: str        # YYYY-MM-DD, the station's local date the quota month began

    @property
    def left_bytes(self) -> int:
        return max(0, self.quota_bytes - self.used_bytes)


@dataclass(frozen=True)
class LinkPolicy:
    wait_s: int                 # the long poll asked of the server
    poll_gap_s: float           # at least this long from one poll's start to the next one's
    read_ahead: int | None      # most payloads downloaded or being downloaded (None: as [spool] says)
    downloads: bool             # whether new payloads are fetched at all


def month_start(day: date, reset_day: int) -> date:
    """The first day of the quota month holding ``day``."""
    if day.day >= reset_day:
        return day.replace(day=reset_day)
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, reset_day)


def policy(reading: QuotaReading, config: LinkConfig) -> LinkPolicy:
    """How the link behaves at this reading (see the module's docstring)."""
    if reading.state is QuotaState.SPENT and config.at_quota is AtQuota.STOP_DOWNLOADS:
        return LinkPolicy(wait_s=0, poll_gap_s=HEARTBEAT_S, read_ahead=0, downloads=False)
    if reading.state in (QuotaState.NEAR, QuotaState.SPENT):
        wait_s = MAX_WAIT_S if config.long_poll_s else 0  # long_poll_s = 0: no long polls at all
        return LinkPolicy(wait_s=wait_s, poll_gap_s=NEAR_POLL_GAP_S, read_ahead=NEAR_READ_AHEAD, downloads=True)
    return LinkPolicy(wait_s=config.long_poll_s, poll_gap_s=0.0, read_ahead=None, downloads=True)


class LinkQuota:
    """Bytes used this quota month: the journal's tally plus what the link moved since the last ``sync``."""

    def __init__(self, config: LinkConfig, journal: Journal, wire: WireCounter,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self._journal, self._wire, self._clock = config, journal, wire, clock
        self._lock = threading.Lock()
        self._synced = wire.totals().total  # wire bytes already in the journal

    def month(self) -> str:
        """This quota month's first day (station local time), YYYY-MM-DD."""
        today = datetime.fromtimestamp(self._clock()).date()
        return month_start(today, self.config.quota_reset_day).isoformat()

    def sync(self) -> QuotaReading:
        """Add the bytes moved since the last sync to this quota month's tally (one journal write, only
        when there are some); returns the reading."""
        with self._lock:
            total = self._wire.totals().total
            fresh = total - self._synced
            month = self.month()
            if fresh:  # a write the state folder refuses raises here and keeps the bytes for the next sync
                self._journal.tallies.add(TALLY_FAMILY + month, fresh, TALLY_FAMILY)
            self._synced = total
            return self._read(month, 0)

    def reading(self) -> QuotaReading:
        """The state now, without writing."""
        with self._lock:
            return self._read(self.month(), self._wire.totals().total - self._synced)

    def policy(self) -> LinkPolicy:
        return policy(self.reading(), self.config)

    def _read(self, month: str, unsynced: int) -> QuotaReading:
        used = self._journal.tallies.get(TALLY_FAMILY + month) + unsynced
        quota = self.config.quota_bytes
        if not quota:
            state = QuotaState.UNMETERED
        elif used >= quota:
            state = QuotaState.SPENT
        elif used >= quota * self.config.near_quota_ratio:
            state = QuotaState.NEAR
        else:
            state = QuotaState.NORMAL
        return QuotaReading(state, quota, used, month)

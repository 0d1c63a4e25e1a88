"""What the station's link to the job server has done: bytes by kind and the last successful exchange.

Written by the link's users (the link itself counts overhead, a download
counts payload and wasted bytes, the fetcher and the reporter note each
exchange the server answered), read by anyone: the station's status, the
run summary, and the metrics at scrape time.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from ..observe import LINK_KINDS


class LinkTally:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._bytes = dict.fromkeys(LINK_KINDS, 0)
        self._last_contact: float | None = None
        self._clock = clock

    def count(self, kind: str, n: int) -> None:
        """``n`` bytes of ``kind`` (one of LINK_KINDS) crossed the link."""
        with self._lock:
            self._bytes[kind] += n

    def bytes_by_kind(self) -> dict[str, int]:
        with self._lock:
            return dict(self._bytes)

    def contact(self) -> None:
        """The job server has just answered an exchange."""
        at = self._clock()
        with self._lock:
            self._last_contact = at

    def last_contact(self) -> float | None:
        """Unix time of the last exchange the server answered; None before the first."""
        with self._lock:
            return self._last_contact

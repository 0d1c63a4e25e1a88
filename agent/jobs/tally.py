"""What the station's link to the job server has done: bytes by kind and the last successful exchange.

Written by the link's users (the link's sockets count every byte in
``wire``, a download counts payload and wasted bytes, the fetcher and the
reporter note each exchange the server answered), read by anyone: the
station's status, the run summary, the quota and the metrics at scrape time.
Overhead is what the wire carried beyond payload bodies: headers, requests,
polls, reports and TLS.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from ..observe import LINK_KINDS
from .wire import WireBytes, WireCounter


class LinkTally:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._bytes = dict.fromkeys(LINK_KINDS, 0)
        self._last_contact: float | None = None
        self._clock = clock
        self.wire = WireCounter()  # given to the link (``ServerAccess.open_link(wire=...)``)

    def count(self, kind: str, n: int) -> None:
        """``n`` bytes of ``kind`` ("payload" or "wasted") were received or thrown away."""
        with self._lock:
            self._bytes[kind] += n

    def bytes_by_kind(self) -> dict[str, int]:
        """Payload bytes received, wasted (received, then dropped), and overhead: every other byte
        the sockets moved either way."""
        wire = self.wire.totals()
        with self._lock:
            counted = dict(self._bytes)
        counted["overhead"] = max(0, wire.total - counted["payload"])
        return counted

    def wire_bytes(self) -> WireBytes:
        return self.wire.totals()

    def contact(self) -> None:
        """The job server has just answered an exchange."""
        at = self._clock()
        with self._lock:
            self._last_contact = at

    def last_contact(self) -> float | None:
        """Unix time of the last exchange the server answered; None before the first."""
        with self._lock:
            return self._last_contact

"""``ktp-agent sync``: download jobs ahead now, before a planned link outage, with a progress bar.

With the daemon running it asks the daemon to poll now (control op ``sync``)
and watches its queue over the control socket until the server has nothing
more or the spool is full (the daemon keeps ``spool.prefetch_jobs``). With
the daemon down it runs the agent's own Fetcher here, one download per
``cycle()``, with ``prefetch_jobs`` raised to ``--jobs``.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Mapping, TextIO

from ..config import Config
from ..errors import AgentError, LinkError
from .control import ControlClient
from .station_status import StationStatus

#: Two equal looks this far apart: the daemon's queue has settled after its poll.
SETTLE_S = 0.5


@dataclass
class SyncResult:
    fetched: int      # payloads downloaded during this sync (some may have printed already)
    ready: int        # jobs downloaded and waiting for the printer
    waiting: int      # jobs known but not yet downloaded
    target: int
    polled: bool      # the job server answered at least once during the sync
    finished: bool    # False: timed out


class ProgressBar:
    """One line, redrawn with ``\\r``: ``label [#####.....] 3/8``. No dependency needed for that."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.width = label, width
        self.stream = stream or sys.stdout
        self._last = ""

    def update(self, done: int, total: int, note: str = "") -> None:
        total = max(total, done)
        filled = 0 if total == 0 else min(self.width, round(self.width * done / total))
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {note}".rstrip()
        if line != self._last:
            self.stream.write("\r" + line.ljust(len(self._last)))
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self._last:
            self.stream.write("\n")
            self.stream.flush()


def _counts(queue: Mapping[str, int]) -> tuple[int, int, int]:
    """(jobs whose payload is here or done, ready to print, known but not downloaded)."""
    waiting = queue.get("verified", 0) + queue.get("received", 0)
    return sum(queue.values()) - waiting, queue.get("downloaded", 0), waiting


def sync_via_daemon(client: ControlClient, config: Config, jobs: int | None, timeout: float,
                    bar: ProgressBar, contacting: str = "") -> SyncResult:
    target = min(jobs or config.spool.prefetch_jobs, config.spool.prefetch_jobs)
    started = time.time()
    deadline = time.monotonic() + timeout
    status = StationStatus.from_json(client.request("sync")["status"])
    have_before = _counts(status.queue)[0]
    settled_at, last = None, None
    while True:
        have, ready, waiting = _counts(status.queue)
        fetched = have - have_before
        polled = (status.link.last_contact or 0) >= started
        bar.update(fetched, fetched + waiting, "" if polled else contacting)
        if ready >= target:
            return SyncResult(fetched, ready, waiting, target, polled, True)
        if polled and waiting == 0:
            if last == have and settled_at is not None and time.monotonic() - settled_at >= SETTLE_S:
                return SyncResult(fetched, ready, waiting, target, polled, True)
            if last != have or settled_at is None:
                settled_at = time.monotonic()
        else:
            settled_at = None
        last = have
        if time.monotonic() >= deadline:
            return SyncResult(fetched, ready, waiting, target, polled, False)
        time.sleep(0.2)
        status = StationStatus.from_json(client.request("status")["status"])


def sync_directly(config: Config, jobs: int | None, timeout: float, bar: ProgressBar) -> SyncResult:
    """The daemon is down: poll and download here with the agent's own link, intake and fetcher."""
    from ..jobs import Fetcher, Intake, LinkQuota, LinkTally, ManifestVerifier, ServerAccess, Spool
    from ..journal_guard import open_checked
    from ..keys import load_signing_key
    from ..observe import StationMetrics

    if config.server.is_demo:
        raise AgentError("sync: the built-in demo server runs only inside the daemon; start it first")
    access = ServerAccess.from_config(config)
    target = jobs or config.spool.prefetch_jobs
    # No long poll: the technician waits for the answer.
    wide = replace(config, spool=replace(config.spool, prefetch_jobs=max(target, config.spool.prefetch_jobs)),
                   link=replace(config.link, long_poll_s=0))
    state = config.station.state_dir
    verifier = ManifestVerifier(load_signing_key(access.signing_key), config.station.id)
    metrics = StationMetrics(config.station.id)
    tally = LinkTally()
    link = access.open_link(wire=tally.wire)
    journal = open_checked(state)
    intake = Intake(journal, verifier, metrics)
    quota = LinkQuota(wide.link, journal, tally.wire)  # this command's bytes count in the quota month too
    fetcher = Fetcher(wide, link, journal, intake, Spool(state / "spool"), metrics, threading.Event(),
                      job_ready=lambda: None, tally=tally, quota=quota)
    deadline = time.monotonic() + timeout
    have_before = _counts({s.value: n for s, n in journal.counts_by_state().items()})[0]
    try:
        intake.resume_received(datetime.now(timezone.utc))
        while True:
            try:
                delay = fetcher.cycle()
            except LinkError as exc:
                raise AgentError(f"sync: the job server could not be reached: {exc}") from None
            have, ready, waiting = _counts({s.value: n for s, n in journal.counts_by_state().items()})
            fetched = have - have_before
            bar.update(fetched, fetched + min(waiting, max(target - ready, 0)))
            # delay > 0.1: nothing downloaded this round and the next poll is not due at once.
            if ready >= target or (waiting == 0 and delay > 0.1):
                return SyncResult(fetched, ready, waiting, target, True, True)
            if time.monotonic() >= deadline:
                return SyncResult(fetched, ready, waiting, target, True, False)
    finally:
        link.close()
        quota.sync()
        journal.close()

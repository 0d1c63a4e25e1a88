"""The UPS monitor: the one thread that asks ``upsd`` and owns the station's power state.

It asks every ``POLL_S`` (each exchange bounded by ``EXCHANGE_DEADLINE_S``),
so a change ``upsd`` reports is seen within two seconds. The print worker
only asks ``may_take_blank()`` (a lock and a field: it never waits on the
network); when the answer changes the monitor wakes the worker. A UPS that
cannot be read never holds the queue: the station keeps printing and says
so (``link``). Nothing this thread meets stops it: every failure is logged
once, counted, and the next poll tries again.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import structlog

from .nut import LinkProblem, NutClient, UpsAddress, UpsLinkError
from .policy import (PowerState, ReadingError, UpsReading, hold_reason, min_runtime, next_state,
                     parse_reading)

log = structlog.get_logger("ktp.power")

POLL_S = 0.5
EXCHANGE_DEADLINE_S = 1.0


@dataclass(frozen=True)
class PowerSnapshot:
    ups: str
    state: PowerState = PowerState.UNKNOWN
    reading: UpsReading | None = None
    link_problem: LinkProblem | None = None   # None: the last exchange worked
    link_detail: str | None = None
    ever_read: bool = False
    min_runtime_s: float = 0.0
    since: float = field(default_factory=time.time)
    held_cards: int = 0
    link_errors: tuple[tuple[str, int], ...] = tuple((p.value, 0) for p in LinkProblem)

    @property
    def reason(self) -> str | None:
        return hold_reason(self.state, self.reading, self.min_runtime_s)


class PowerMonitor:
    def __init__(self, address: UpsAddress, configured_min_runtime_s: float | None, stop: threading.Event,
                 card_seconds: Callable[[], float | None], changed: Callable[[], None]) -> None:
        self._client = NutClient(address, EXCHANGE_DEADLINE_S)
        self._configured = configured_min_runtime_s
        self._stop, self._card_seconds, self._changed = stop, card_seconds, changed
        self._lock = threading.Lock()
        self._snapshot = PowerSnapshot(str(address), min_runtime_s=min_runtime(configured_min_runtime_s, None))
        self._held_jobs: set[str] = set()

    # -- read by other threads ------------------------------------------------
    def may_take_blank(self) -> bool:
        with self._lock:
            return not self._snapshot.state.holds

    def snapshot(self) -> PowerSnapshot:
        with self._lock:
            return self._snapshot

    def held(self, job_id: str) -> None:
        """The print worker had ``job_id`` ready and did not start it for power (counted once a hold)."""
        with self._lock:
            if job_id in self._held_jobs:
                return
            self._held_jobs.add(job_id)
            self._snapshot = replace(self._snapshot, held_cards=self._snapshot.held_cards + 1)
        log.info("power.card_held", job_id=job_id, reason=self._snapshot.reason)

    # -- the thread -----------------------------------------------------------
    def run(self) -> None:
        log.info("power.monitoring", ups=self._snapshot.ups)
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(POLL_S)
        self.close()

    def close(self) -> None:
        self._client.close()

    def poll_once(self) -> None:
        try:
            reading, problem, detail = self._read()
        except Exception as exc:  # noqa: BLE001 - the monitor must outlive anything it meets
            log.error("power.monitor_failed", error=repr(exc))
            reading, problem, detail = None, LinkProblem.GARBAGE, f"unexpected: {type(exc).__name__}"
        self._publish(reading, problem, detail)

    def _read(self) -> tuple[UpsReading | None, LinkProblem | None, str | None]:
        try:
            return parse_reading(self._client.list_vars()), None, None
        except UpsLinkError as exc:
            return None, exc.problem, str(exc)
        except ReadingError as exc:
            self._client.close()
            return None, LinkProblem.GARBAGE, f"upsd garbage: {exc}"

    def _publish(self, reading: UpsReading | None, problem: LinkProblem | None, detail: str | None) -> None:
        limit = min_runtime(self._configured, self._card_seconds())
        with self._lock:
            before = self._snapshot
            state = next_state(before.state, reading, limit)
            errors = before.link_errors
            if problem is not None:
                errors = tuple((p, n + (p == problem.value)) for p, n in errors)
            self._snapshot = replace(
                before, state=state, reading=reading, link_problem=problem, link_detail=detail,
                ever_read=before.ever_read or reading is not None, min_runtime_s=limit, link_errors=errors,
                since=before.since if state is before.state else time.time())
            if not state.holds:
                self._held_jobs.clear()
            after = self._snapshot
        self._report_change(before, after)

    def _report_change(self, before: PowerSnapshot, after: PowerSnapshot) -> None:
        if before.link_problem is not after.link_problem:
            if after.link_problem is None:
                log.info("power.ups_link_up", ups=after.ups)
            else:
                log.warning("power.ups_link_down", ups=after.ups, problem=after.link_problem.value,
                            detail=after.link_detail, printing="continues")
        if before.state is not after.state:
            reading = after.reading
            (log.warning if after.state.holds else log.info)(
                f"power.{after.state.value}", ups=after.ups, reason=after.reason,
                runtime_s=reading.runtime_s if reading else None,
                charge_ratio=reading.charge_ratio if reading else None, min_runtime_s=after.min_runtime_s)
        if before.state.holds != after.state.holds:
            self._changed()


"""What the fetcher and the reporter share: a loop that retries link failures.

A failed exchange waits as the server asked (``Retry-After``) or, without
that, exponentially longer with jitter (tenacity); the wait ends early when
the worker is woken or the station stops.
"""
from __future__ import annotations

import threading
from typing import Callable

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from ..errors import LinkError
from ..observe import StationMetrics
from .link import RetryLaterError

log = structlog.get_logger("ktp.link")


class LinkLoop:
    def __init__(self, metrics: StationMetrics, stop: threading.Event,
                 initial_s: float = 1.0, max_s: float = 300.0) -> None:
        self.metrics = metrics
        self._stop = stop
        self._wake = threading.Event()
        self._expo = wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s)

    def wake(self) -> None:
        self._wake.set()

    def sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def run(self, one_round: Callable[[], float]) -> None:
        """Call ``one_round`` until the station stops; it returns seconds to wait before the next."""
        retrying = Retrying(retry=retry_if_exception_type(LinkError), wait=self._wait,
                            stop=lambda state: self._stop.is_set(), sleep=self.sleep, reraise=True)
        while not self._stop.is_set():
            try:
                for attempt in retrying:
                    with attempt:
                        delay = one_round()
            except LinkError:
                return  # only reached when stopping
            self.sleep(delay)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        self.metrics.link_retries.inc()
        if isinstance(exc, RetryLaterError):
            log.info("link.retry_later", status=exc.status, retry_after=exc.retry_after)
            return exc.retry_after
        self.metrics.link_errors.inc()
        log.warning("link.error", error=str(exc), attempt=state.attempt_number)
        return self._expo(state)

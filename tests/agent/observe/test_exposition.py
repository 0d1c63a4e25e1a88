"""/metrics rendering shared between scrapes that arrive together, over real HTTP on loopback."""
from __future__ import annotations

import threading
import time

import urllib3
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agent.observe.endpoint import MetricsServer, SharedExposition


class _GatedCollector(Collector):
    """Counts its collections; each one waits for the gate, and the first may fail."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()
        self._fail_first = fail_first

    def collect(self):
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        if self._fail_first and self.calls == 1:
            raise RuntimeError("journal unreadable")
        yield GaugeMetricFamily("ktp_test_collections", "Collections so far", value=self.calls)


def _waiters(exposition: SharedExposition) -> int:
    return len(exposition._cond._waiters)


def _wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def _render_in_threads(exposition: SharedExposition, n: int) -> tuple[list[threading.Thread], list]:
    results: list = []

    def render() -> None:
        try:
            results.append(exposition.render())
        except RuntimeError as exc:
            results.append(exc)

    threads = [threading.Thread(target=render) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


def _render_while_one_is_under_way(collector: _GatedCollector, waiting: int):
    """One rendering held at the collector's gate, ``waiting`` more scrapes arriving meanwhile;
    then the gate opens. Returns the exposition, the first result and the others'."""
    registry = CollectorRegistry()
    registry.register(collector)
    exposition = SharedExposition(registry)
    first, first_result = _render_in_threads(exposition, 1)
    assert collector.entered.wait(10)
    others, results = _render_in_threads(exposition, waiting)
    _wait_until(lambda: _waiters(exposition) == waiting)
    collector.gate.set()
    for t in first + others:
        t.join(10)
    return exposition, first_result, results


def test_scrapes_arriving_during_a_rendering_take_that_rendering():
    collector = _GatedCollector()
    exposition, first_result, results = _render_while_one_is_under_way(collector, 5)
    assert collector.calls == 1
    assert len(set(first_result + results)) == 1
    assert b"ktp_test_collections 1.0" in results[0]
    assert b"ktp_test_collections 2.0" in exposition.render()  # a later scrape renders anew


def test_a_failed_rendering_leaves_the_waiting_scrapes_to_render_for_themselves():
    collector = _GatedCollector(fail_first=True)
    _, first_result, results = _render_while_one_is_under_way(collector, 3)
    assert isinstance(first_result[0], RuntimeError)
    assert len(results) == 3 and all(isinstance(body, bytes) for body in results)
    assert 2 <= collector.calls <= 4


def test_concurrent_scrapes_over_http_all_get_whole_expositions():
    registry = CollectorRegistry()
    registry.register(_OpenCollector())
    server = MetricsServer(registry, "127.0.0.1", 0).start()
    host, port = server.address
    bodies: list[bytes] = []
    lock = threading.Lock()

    def scrape() -> None:
        http = urllib3.PoolManager(retries=False)
        for _ in range(20):
            body = http.request("GET", f"http://{host}:{port}/metrics", timeout=10).data
            with lock:
                bodies.append(body)

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        server.stop()
    assert len(bodies) == 160
    assert all(body.endswith(b"ktp_test_open 1.0\n") for body in bodies)


class _OpenCollector(Collector):
    def collect(self):
        yield GaugeMetricFamily("ktp_test_open", "Always one", value=1)


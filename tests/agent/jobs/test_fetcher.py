"""The Fetcher's policy against the real reference server: resume at once while
progress is made, back off otherwise, honour Retry-After, bound corrupt
fetches, give up after the no-progress window, prefetch within its limits."""
from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time

import pytest

from agent.config import LinkConfig, TransferConfig, load_config
from agent.errors import LinkError
from agent.jobs.fetcher import Fetcher, Rest
from agent.jobs.intake import Intake
from agent.journal import JobState, Journal
from agent.jobs.manifest import ManifestVerifier
from agent.observe.metrics import StationMetrics
from agent.jobs.spool import Spool
from agent.jobs.tally import LinkTally

from tests.agent.jobs.test_transfer import STATION, Served
from tests.agent.station_config import write_station_config


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Station:
    """The fetcher's collaborators, real ones, in a temporary folder."""

    def __init__(self, tmp_path, served: Served, *, prefetch_jobs: int = 8, prefetch_bytes: int = 1 << 26,
                 **transfer) -> None:
        toml = write_station_config(tmp_path, state_dir=tmp_path / "state", url=served.server.url,
                                    extra=f"[spool]\nprefetch_jobs = {prefetch_jobs}\nprefetch_bytes = {prefetch_bytes}\n")
        config = load_config(toml)
        # No long polls: these tests step the fetcher round by round (tests/agent/jobs/test_quota.py holds them).
        self.config = dataclasses.replace(config, transfer=TransferConfig(**transfer), link=LinkConfig(long_poll_s=0))
        self.served = served
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.metrics = StationMetrics(STATION)
        self.tally = LinkTally()  # the link's bytes and contact, read by the metrics as in the station
        self.metrics.watch_link(self.tally.bytes_by_kind, self.tally.last_contact)
        self.spool = Spool(tmp_path / "spool")
        self.stop = threading.Event()
        self.clock = Clock()
        self.events = threading.Condition()  # notified at every job_ready and every rest
        self.ready = 0
        self.rests: list[tuple[Rest, int]] = []  # why a worker rested, and payloads downloaded by then
        self.fetcher = self.new_fetcher()

    def new_fetcher(self) -> Fetcher:
        """A fresh Fetcher over the same journal and spool, as after a restart."""
        intake = Intake(self.journal, ManifestVerifier(self.served.signing_key.public_key(), STATION),
                        self.metrics)
        return Fetcher(self.config, self.served.link, self.journal, intake, self.spool, self.metrics,
                       self.stop, self._ready, clock=self.clock, on_rest=self._rested, tally=self.tally)

    def _ready(self) -> None:
        with self.events:
            self.ready += 1
            self.events.notify_all()

    def _rested(self, why: Rest, seconds: float) -> None:
        downloaded = self.journal.counts_by_state()[JobState.DOWNLOADED]
        with self.events:
            self.rests.append((why, downloaded))
            self.events.notify_all()

    def wait_until(self, predicate, timeout: float = 10.0) -> bool:
        """Wait, woken by each job_ready and rest, until ``predicate()`` holds."""
        with self.events:
            return self.events.wait_for(predicate, timeout)

    def state(self, job_id: str) -> JobState:
        return self.journal.get(job_id).state

    def metric(self, name: str) -> float:
        return self.metrics.registry.get_sample_value(name) or 0.0

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def served():
    s = Served(jobs=3)
    yield s
    s.close()


@pytest.fixture
def station(tmp_path, served):
    st = Station(tmp_path, served)
    yield st
    st.close()


def test_broken_transfers_are_resumed_at_once_within_one_cycle(station, served):
    served.server.set_payload_fault("truncate", 4, cut_at=3000)
    station.fetcher.cycle()
    first = served.job_ids[0]
    assert station.state(first) == JobState.DOWNLOADED
    assert station.spool.read(first) == served.payload(0)
    assert [r["range"] for r in served.server.payload_requests()] == \
        [None, "bytes=3000-", "bytes=6000-", "bytes=9000-", "bytes=12000-"]
    assert station.metric("ktp_payload_resumes_total") == 4
    assert station.metric("ktp_link_retries_total") == 4
    assert station.metrics.registry.get_sample_value("ktp_link_bytes_total", {"kind": "wasted"}) == 0
    assert station.metric("ktp_link_throughput_bytes_per_second") > 0


def test_prefetch_stops_at_the_configured_number_of_jobs(tmp_path, served):
    station = Station(tmp_path, served, prefetch_jobs=2)
    try:
        for _ in range(6):
            station.fetcher.cycle()
        counts = station.journal.counts_by_state()
        assert counts[JobState.DOWNLOADED] == 2 and station.ready == 2
        assert len(served.server.payload_requests()) == 2
    finally:
        station.close()


def test_prefetch_stops_at_the_configured_spool_bytes(tmp_path, served):
    station = Station(tmp_path, served, prefetch_bytes=served.ref(0).size + 10)
    try:
        for _ in range(6):
            station.fetcher.cycle()
        assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 1
    finally:
        station.close()


def test_corrupt_payload_is_fetched_again_then_rejected_bad_payload(tmp_path, served):
    station = Station(tmp_path, served, max_corrupt_fetches=3)
    try:
        served.server.set_payload_fault("corrupt", 100, cut_at=10)
        station.fetcher.cycle()                    # poll + first corrupt fetch
        station.fetcher = station.new_fetcher()    # a restart in the middle: the count is on disk
        station.fetcher.cycle()
        station.fetcher.cycle()
        first = served.job_ids[0]
        assert station.state(first) == JobState.REJECTED
        report = station.journal.pending_reports()[0]
        assert report.body["status"] == "rejected" and report.body["reason"] == "bad-payload"
        assert len(served.server.payload_requests()) == 3
        assert not list(station.spool.directory.glob(f"{first}.*"))
        assert station.metric("ktp_payload_corrupt_fetches_total") == 3
        assert station.metrics.registry.get_sample_value("ktp_jobs_rejected_total",
                                                         {"reason": "bad-payload"}) == 1
    finally:
        station.close()


def test_no_progress_for_the_give_up_window_rejects_the_job(tmp_path, served):
    station = Station(tmp_path, served, give_up_days=7)
    try:
        served.server.set_payload_fault("truncate", 100, cut_at=0)  # answers, never a byte
        with pytest.raises(LinkError):
            station.fetcher.cycle()
        first = served.job_ids[0]
        assert station.state(first) == JobState.VERIFIED  # a failure is not a verdict
        station.clock.now += 6 * 86400
        station.fetcher.poll_now()
        with pytest.raises(LinkError):
            station.fetcher.cycle()
        assert station.state(first) == JobState.VERIFIED
        station.clock.now += 2 * 86400
        station.fetcher.poll_now()
        station.fetcher.cycle()
        assert station.state(first) == JobState.REJECTED
        assert station.journal.pending_reports()[0].body["reason"] == "bad-payload"
    finally:
        station.close()


def test_an_outage_longer_than_the_window_does_not_reject(tmp_path, served):
    station = Station(tmp_path, served, give_up_days=7)
    try:
        served.server.set_payload_fault("truncate", 100, cut_at=0)
        with pytest.raises(LinkError):
            station.fetcher.cycle()
        station.clock.now += 10 * 86400  # no poll answered in all that time
        with pytest.raises(LinkError):
            station.fetcher.cycle()
        assert station.state(served.job_ids[0]) == JobState.VERIFIED
    finally:
        station.close()


def test_retry_after_from_a_throttled_server_is_the_wait(tmp_path):
    served = Served(jobs=1)
    station = Station(tmp_path, served, retry_initial_seconds=0.5, retry_max_seconds=300)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 1:
            served.server.stop()  # now the link is down
        if len(waits) == 4:
            station.stop.set()

    try:
        served.server.set_throttle(429, 42, 1)
        station.fetcher._loop.sleep = sleep
        station.fetcher.run()
        assert waits[0] == 42
        backoff = waits[1:]
        for n, wait in enumerate(backoff, start=2):  # the attempt after the 429 is the second
            low = 0.5 * 2 ** (n - 1)
            assert low <= wait <= low + 0.5, backoff
        assert station.metric("ktp_link_retries_total") >= 4
    finally:
        station.close()
        served.close()


def test_no_request_is_made_while_the_spool_is_full(tmp_path, served):
    station = Station(tmp_path, served, prefetch_jobs=1)
    try:
        for _ in range(3):
            station.fetcher.cycle()
        assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 1
        station.fetcher.poll_now()  # a poll is due, but there is no room for what it brings
        before = dict(served.bytes)
        station.fetcher.cycle()
        assert dict(served.bytes) == before
    finally:
        station.close()


def test_a_poll_that_brings_nothing_new_writes_nothing_to_the_journal(tmp_path, served):
    station = Station(tmp_path, served)
    watcher = sqlite3.connect(tmp_path / "journal.sqlite3")
    try:
        for _ in range(5):
            station.fetcher.cycle()
        assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 3
        polls = lambda: station.metrics.registry.get_sample_value(  # noqa: E731
            "ktp_stage_duration_seconds_count", {"stage": "poll"})
        before, polled = watcher.execute("PRAGMA data_version").fetchone()[0], polls()
        station.fetcher.poll_now()  # the server has nothing after our cursor
        station.fetcher.cycle()
        assert polls() == polled + 1
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == before  # no commit: no fsync
    finally:
        watcher.close()
        station.close()


def _state(station: Station, job_id: str) -> JobState | None:
    record = station.journal.get(job_id)
    return record.state if record else None


def _link_bytes(station: Station, kind: str) -> float:
    return station.metrics.registry.get_sample_value("ktp_link_bytes_total", {"kind": kind}) or 0.0


def _run_workers(station: Station, until, timeout: float = 20.0) -> None:
    """Run the fetch workers until ``until()``, asked again at each job_ready and each rest."""
    threads = [threading.Thread(target=run, name=name, daemon=True) for name, run in station.fetcher.workers()]
    for t in threads:
        t.start()
    try:
        station.wait_until(until, timeout)
    finally:
        station.stop.set()
        station.fetcher.wake()
        for t in threads:
            t.join(10)
    assert not any(t.is_alive() for t in threads)


def _overtaken(states: tuple) -> bool:
    """A job still waits for its payload while a later one (in seq order) has its own."""
    return any(states[i] is JobState.VERIFIED and JobState.DOWNLOADED in states[i + 1:]
               for i in range(len(states)))


def _watch_downloads(station: Station, served: Served, stall_s: float) -> list[tuple]:
    """Run the workers until all three payloads are in; the first payload request stalls ``stall_s``.

    Returns the jobs' states as seen after each payload arrived (and each rest).
    """
    seen: list[tuple] = []
    served.server.set_payload_fault("stall", 1, cut_at=1000, stall_s=stall_s)

    def all_downloaded() -> bool:
        seen.append(tuple(_state(station, j) for j in served.job_ids))
        return station.journal.counts_by_state()[JobState.DOWNLOADED] == 3
    _run_workers(station, all_downloaded)
    return seen


def test_a_second_worker_fetches_on_while_the_first_one_stalls(tmp_path, served):
    station = Station(tmp_path, served, parallel_downloads=2)
    try:
        seen = _watch_downloads(station, served, stall_s=3.0)
        # Whichever job met the stall, the other worker fetched a later one meanwhile.
        assert any(_overtaken(states) for states in seen), seen[-5:]
        sizes = sum(served.ref(i).size for i in range(3))
        assert _link_bytes(station, "payload") == sizes  # every payload byte fetched exactly once
        assert _link_bytes(station, "wasted") == 0
    finally:
        station.close()


def test_one_worker_fetches_in_turn(tmp_path, served):
    station = Station(tmp_path, served, parallel_downloads=1)
    try:
        assert [name for name, _ in station.fetcher.workers()] == ["fetcher"]
        seen = _watch_downloads(station, served, stall_s=1.0)
        assert not any(_overtaken(states) for states in seen)
        assert seen[-1] == (JobState.DOWNLOADED,) * 3
    finally:
        station.close()


def test_workers_in_flight_count_against_the_prefetch_limit(tmp_path, served):
    station = Station(tmp_path, served, prefetch_jobs=2, parallel_downloads=3)
    served.server.set_payload_fault("stall", 2, cut_at=1000, stall_s=1.0)  # two downloads stay in flight
    try:
        _run_workers(station, lambda: station.journal.counts_by_state()[JobState.DOWNLOADED] >= 2, timeout=10)
        # A worker found no room while nothing was downloaded yet: the two in flight filled the spool.
        assert (Rest.SPOOL_FULL, 0) in station.rests, station.rests
        assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 2
        assert _link_bytes(station, "payload") == served.ref(0).size + served.ref(1).size
    finally:
        station.close()


def test_a_full_spool_waits_for_room_and_a_job_leaving_it_wakes_the_worker_at_once(tmp_path, served):
    station = Station(tmp_path, served, prefetch_jobs=1, parallel_downloads=1)
    first, second, _ = served.job_ids
    thread = threading.Thread(target=station.fetcher.run, daemon=True)
    thread.start()
    try:
        # The worker has seen the full spool and waits for room (5 s unless woken).
        assert station.wait_until(lambda: any(why is Rest.SPOOL_FULL for why, _ in station.rests)), station.rests
        assert _state(station, first) is JobState.DOWNLOADED
        assert _state(station, second) is JobState.VERIFIED
        station.journal.record_intent(first, 0, 0)
        station.journal.finish(first, JobState.PRINTED, STATION)
        woken = time.monotonic()
        station.fetcher.room_freed()
        assert station.wait_until(lambda: station.ready >= 2), "the second payload never came"
        assert time.monotonic() - woken < 2.5, "the worker slept its full recheck instead of being woken"
        assert _state(station, second) is JobState.DOWNLOADED
    finally:
        station.stop.set()
        station.fetcher.wake()
        thread.join(10)
        station.close()

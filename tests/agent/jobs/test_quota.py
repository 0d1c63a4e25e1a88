"""The metered link's quota against the real reference server and a real journal: bytes counted at the
socket are kept per quota month across restarts and roll over on the reset day (the clock is injected);
near the quota the fetcher long-polls longest, polls seldom and reads only two payloads ahead; at the
quota it downloads nothing new and polls only a heartbeat, while reports still go."""
from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime

import pytest

from agent.config import AtQuota, LinkConfig
from agent.jobs.fetcher import Fetcher
from agent.jobs.intake import Intake
from agent.jobs.link import ServerLink
from agent.jobs.manifest import ManifestVerifier
from agent.jobs.quota import (HEARTBEAT_S, MAX_WAIT_S, NEAR_POLL_GAP_S, TALLY_FAMILY, LinkQuota, QuotaState,
                              month_start)
from agent.jobs.reporter import Reporter
from agent.journal import JobState, Journal

from tests.agent.jobs.test_fetcher import Station
from tests.agent.jobs.test_transfer import STATION, Served


class Clock:
    """Station local time, set by the test."""

    def __init__(self, *when: int) -> None:
        self.set(*when)

    def set(self, *when: int) -> None:
        self.now = datetime(*when).timestamp()  # naive: the station's local time zone

    def __call__(self) -> float:
        return self.now


class RecordingLink(ServerLink):
    """The real link, noting the wait each poll asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waits: list[int] = []

    def poll(self, cursor, limit, wait_s=0):
        self.waits.append(wait_s)
        return super().poll(cursor, limit, wait_s)


def metered(mb: int = 1, **options) -> LinkConfig:
    return LinkConfig(monthly_quota_mb=mb, **options)


@pytest.mark.parametrize("day, reset_day, start", [
    ((2026, 11, 30), 1, "2026-11-01"), ((2026, 11, 14), 15, "2026-10-15"), ((2026, 11, 15), 15, "2026-11-15"),
    ((2026, 1, 3), 28, "2025-12-28"),
])
def test_the_quota_month_starts_on_the_reset_day(day, reset_day, start):
    assert month_start(datetime(*day).date(), reset_day).isoformat() == start


def test_bytes_used_survive_a_restart_and_roll_over_on_the_reset_day(tmp_path):
    served = Served(jobs=2)
    clock = Clock(2026, 11, 14, 23, 59)
    config = metered(quota_reset_day=15)
    try:
        journal = Journal(tmp_path / "journal.sqlite3")
        link = ServerLink(served.server.url, STATION, "token-a")
        quota = LinkQuota(config, journal, link.wire, clock)
        link.poll(None, 10)
        reading = quota.sync()
        assert reading.used_bytes == link.wire_bytes().total > 500 and reading.month_start == "2026-10-15"
        link.close()
        journal.close()

        journal = Journal(tmp_path / "journal.sqlite3")  # a restart: a new link, a new socket count
        link = ServerLink(served.server.url, STATION, "token-a")
        quota = LinkQuota(config, journal, link.wire, clock)
        assert quota.reading().used_bytes == reading.used_bytes
        link.poll(None, 10)
        assert quota.sync().used_bytes == reading.used_bytes + link.wire_bytes().total

        clock.set(2026, 11, 15, 0, 0)  # the reset day, local midnight: a new quota month
        assert quota.reading().used_bytes == 0 and quota.reading().month_start == "2026-11-15"
        link.poll(None, 10)
        after = quota.sync()
        assert 0 < after.used_bytes < reading.used_bytes * 2
        assert journal.tallies.get(TALLY_FAMILY + "2026-10-15") == 0  # the month before is dropped
        link.close()
        journal.close()
    finally:
        served.close()


def quota_station(tmp_path, served: Served, config: LinkConfig, used: int, **spool):
    """The fetcher's collaborators with a quota already ``used`` bytes into this month."""
    station = Station(tmp_path, served, **spool)
    station.config = dataclasses.replace(station.config, link=config)
    link = RecordingLink(served.server.url, STATION, "token-a")
    clock = Clock(2026, 11, 20, 10, 0)
    quota = LinkQuota(config, station.journal, link.wire, clock)
    station.journal.tallies.add(TALLY_FAMILY + quota.month(), used, TALLY_FAMILY)
    intake = Intake(station.journal, ManifestVerifier(served.signing_key.public_key(), STATION), station.metrics)
    fetcher = Fetcher(station.config, link, station.journal, intake, station.spool, station.metrics,
                      station.stop, lambda: None, quota=quota)
    return station, link, quota, fetcher


def test_near_the_quota_the_station_long_polls_seldom_and_reads_two_payloads_ahead(tmp_path):
    served = Served(jobs=5)
    station, link, quota, fetcher = quota_station(tmp_path, served, metered(1), used=920_000)
    try:
        assert quota.reading().state is QuotaState.NEAR
        started = time.monotonic()
        for _ in range(6):
            fetcher.cycle()
        counts = station.journal.counts_by_state()
        assert counts[JobState.DOWNLOADED] == 2 and counts[JobState.VERIFIED] == 3
        assert len(served.server.payload_requests()) == 2
        assert link.waits == [MAX_WAIT_S]  # one poll, the longest the protocol allows
        assert fetcher._next_poll - started >= NEAR_POLL_GAP_S - 1
    finally:
        link.close()
        station.close()
        served.close()


def test_a_long_poll_near_the_quota_is_held_until_a_job_is_issued(tmp_path):
    served = Served(jobs=1)
    station, link, quota, fetcher = quota_station(tmp_path, served, metered(1), used=950_000)
    try:
        fetcher.cycle()  # the one job, fetched
        fetcher._next_poll = 0.0  # the next poll now, not in a quarter of an hour
        polling = threading.Thread(target=fetcher.cycle, daemon=True)
        polling.start()
        polling.join(1.0)
        assert polling.is_alive()  # held by the server
        served.store.add_jobs(STATION, 1)
        polling.join(5)
        assert not polling.is_alive()
        assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 2
        assert link.waits == [MAX_WAIT_S, MAX_WAIT_S]
    finally:
        link.close()
        station.close()
        served.close()


def test_at_the_quota_no_new_payload_is_fetched_a_heartbeat_polls_and_reports_still_go(tmp_path):
    served = Served(jobs=3)
    station, link, quota, fetcher = quota_station(tmp_path, served, metered(1), used=1_000_000)
    try:
        assert quota.reading().state is QuotaState.SPENT
        started = time.monotonic()
        for _ in range(4):
            fetcher.cycle()
        assert served.server.payload_requests() == []
        assert station.journal.counts_by_state()[JobState.VERIFIED] == 3  # known, waiting for bytes
        assert link.waits == [0]  # one heartbeat poll, answered at once
        assert fetcher._next_poll - started >= HEARTBEAT_S - 1
        job_id = served.job_ids[0]
        station.journal.finish(job_id, JobState.REJECTED, STATION, reason="bad-card-data")
        reporter = Reporter(link, station.journal, station.spool, station.metrics, station.stop)
        assert reporter.drain() == 1
        assert served.store.results()[job_id]["status"] == "rejected"
        assert quota.sync().used_bytes > 1_000_000  # the report's bytes count too
    finally:
        link.close()
        station.close()
        served.close()


def test_at_the_quota_with_continue_downloads_go_on_as_near_the_quota(tmp_path):
    served = Served(jobs=3)
    station, link, quota, fetcher = quota_station(tmp_path, served, metered(1, at_quota=AtQuota.CONTINUE),
                                                  used=2_000_000)
    try:
        for _ in range(4):
            fetcher.cycle()
        assert station.journal.counts_by_state()[JobState.DOWNLOADED] == 2
        assert link.waits == [MAX_WAIT_S]
    finally:
        link.close()
        station.close()
        served.close()


def test_a_held_long_poll_gives_way_to_poll_now_and_to_the_stop(tmp_path):
    served = Served(jobs=1)
    station, link, quota, fetcher = quota_station(tmp_path, served, LinkConfig(long_poll_s=30), used=0)
    worker = threading.Thread(target=fetcher.run, daemon=True)
    try:
        worker.start()
        deadline = time.monotonic() + 10
        while link.waits[-2:] != [30, 30] and time.monotonic() < deadline:  # the job, then a held poll
            time.sleep(0.02)
        assert link.waits[-2:] == [30, 30]
        time.sleep(0.2)
        fetcher.poll_now()  # `ktp-agent sync`: the server's answer now, not in 30 s
        deadline = time.monotonic() + 3
        while 0 not in link.waits and time.monotonic() < deadline:
            time.sleep(0.02)
        assert 0 in link.waits
        assert station.metric("ktp_link_errors_total") == 0  # ending the hold is no link failure
        station.stop.set()
        link.end_long_poll()
        worker.join(3)
        assert not worker.is_alive()
    finally:
        station.stop.set()
        link.end_long_poll()
        link.close()
        station.close()
        served.close()

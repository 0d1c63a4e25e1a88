"""The card preparer's thread: asleep while there is nothing to prepare, awake the moment there is."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from Crypto.PublicKey import ECC

from agent.journal import Journal
from agent.jobs.manifest import parse_manifest
from agent.observe.metrics import StationMetrics
from agent.printing.preparer import IDLE_RECHECK_S, CardPreparer, Waiter
from agent.jobs.spool import Spool
from jobserver.store import JobStore

STATION = "3319-05"


class Sleeps:
    """Counts the threads going to sleep on the preparer's condition (its ``on_wait``).

    The preparer calls this with its lock held, right before it sleeps: a ``job_ready`` or
    ``interrupt`` made after a count was seen finds that thread asleep.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.counts: Counter[Waiter] = Counter()

    def __call__(self, waiter: Waiter) -> None:
        with self._cond:
            self.counts[waiter] += 1
            self._cond.notify_all()

    def reached(self, waiter: Waiter, times: int, timeout: float = 5.0) -> bool:
        """Wait until ``waiter`` has gone to sleep ``times`` times in all; False if not, or if more often."""
        with self._cond:
            return self._cond.wait_for(lambda: self.counts[waiter] >= times, timeout) \
                and self.counts[waiter] == times


class Bench:
    """A preparer over a real journal and spool, fed by the reference server's job store."""

    def __init__(self, tmp_path) -> None:
        self.station_key = ECC.generate(curve="X25519")
        self.store = JobStore(None, ECC.generate(curve="Ed25519"), {STATION: self.station_key.public_key()})
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.spool = Spool(tmp_path / "spool")
        self.stop = threading.Event()
        self.sleeps = Sleeps()
        self.preparer = CardPreparer(self.journal, self.spool, self.station_key, StationMetrics(STATION),
                                     self.stop, on_wait=self.sleeps)
        self.thread = threading.Thread(target=self.preparer.run, daemon=True)

    def download(self) -> str:
        """A new job, received, verified and its payload spooled, as the fetcher leaves it."""
        [job_id] = self.store.add_jobs(STATION, 1)
        stored = self.store.job(job_id)
        manifest = parse_manifest(stored.manifest)
        self.journal.receive(job_id, stored.manifest, stored.signature)
        self.journal.mark_verified(job_id, manifest.seq, manifest.payload.size, manifest.payload.sha256,
                                   manifest.expires_at.isoformat())
        self.spool.payload_path(job_id).write_bytes(self.store.payload(manifest.payload.sha256))
        self.journal.mark_downloaded(job_id)
        return job_id

    def close(self) -> None:
        self.stop.set()
        self.preparer.job_ready()
        self.thread.join(5)
        self.journal.close()


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path)
    yield b
    b.close()


def test_a_job_downloaded_while_the_thread_sleeps_is_prepared_without_waiting_for_the_recheck(bench):
    bench.thread.start()
    slept = 1
    for _ in range(3):
        # The thread has looked, found nothing and sleeps. Only this test wakes it, and each wake-up
        # ends in exactly one more sleep, so job_ready below always lands on a sleeping thread.
        assert bench.sleeps.reached(Waiter.PREPARER, slept), "the thread is not asleep"
        job_id = bench.download()
        bench.preparer.job_ready()
        slept += 1
        assert bench.sleeps.reached(Waiter.PREPARER, slept, timeout=IDLE_RECHECK_S / 2), \
            "the thread slept through job_ready"
        card = bench.preparer.take(timeout=IDLE_RECHECK_S / 2)
        assert card is not None, "the thread slept through job_ready"
        assert card.job.job_id == job_id and card.rejection is None and card.face is not None
        slept += 1  # taking the card woke the thread: it looked again and found nothing
        assert bench.sleeps.reached(Waiter.PREPARER, slept), "the thread is not asleep"
        bench.journal.record_intent(job_id, 0, 0)  # no longer waiting to print
        bench.preparer.done(job_id)
        slept += 1


def test_interrupt_ends_a_waiting_take_empty_handed(bench):
    bench.thread.start()
    taken: list[object] = []
    taker = threading.Thread(target=lambda: taken.append(bench.preparer.take(timeout=IDLE_RECHECK_S)))
    taker.start()
    assert bench.sleeps.reached(Waiter.TAKER, 1), "take never waited"
    bench.preparer.interrupt()
    taker.join(IDLE_RECHECK_S / 2)
    assert not taker.is_alive() and taken == [None]


def test_stopping_wakes_the_sleeping_thread(bench):
    bench.thread.start()
    assert bench.sleeps.reached(Waiter.PREPARER, 1), "the thread never went to sleep"
    bench.stop.set()
    bench.preparer.job_ready()
    bench.thread.join(IDLE_RECHECK_S / 2)
    assert not bench.thread.is_alive()

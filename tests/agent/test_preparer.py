"""The card preparer's thread: asleep while there is nothing to prepare, awake the moment there is."""
from __future__ import annotations

import threading
import time

import pytest
from Crypto.PublicKey import ECC

from agent.journal import Journal
from agent.manifest import parse_manifest
from agent.metrics import StationMetrics
from agent.preparer import IDLE_RECHECK_S, CardPreparer
from agent.spool import Spool
from jobserver.store import JobStore

STATION = "3319-05"


class Bench:
    """A preparer over a real journal and spool, fed by the reference server's job store."""

    def __init__(self, tmp_path) -> None:
        self.station_key = ECC.generate(curve="X25519")
        self.store = JobStore(None, ECC.generate(curve="Ed25519"), {STATION: self.station_key.public_key()})
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.spool = Spool(tmp_path / "spool")
        self.stop = threading.Event()
        self.preparer = CardPreparer(self.journal, self.spool, self.station_key, StationMetrics(STATION),
                                     self.stop)
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
    for _ in range(3):  # each time the thread has looked, found nothing, and gone to sleep
        time.sleep(0.2)
        job_id = bench.download()
        bench.preparer.job_ready()
        card = bench.preparer.take(timeout=IDLE_RECHECK_S / 2)
        assert card is not None, "the thread slept through job_ready"
        assert card.job.job_id == job_id and card.rejection is None and card.face is not None
        bench.preparer.done(job_id)
        bench.journal.record_intent(job_id, 0, 0)  # no longer waiting to print


def test_interrupt_ends_a_waiting_take_empty_handed(bench):
    bench.thread.start()
    taken: list[object] = []
    taker = threading.Thread(target=lambda: taken.append(bench.preparer.take(timeout=IDLE_RECHECK_S)))
    taker.start()
    time.sleep(0.2)
    bench.preparer.interrupt()
    taker.join(IDLE_RECHECK_S / 2)
    assert not taker.is_alive() and taken == [None]


def test_stopping_wakes_the_sleeping_thread(bench):
    bench.thread.start()
    time.sleep(0.2)
    bench.stop.set()
    bench.preparer.job_ready()
    bench.thread.join(IDLE_RECHECK_S / 2)
    assert not bench.thread.is_alive()

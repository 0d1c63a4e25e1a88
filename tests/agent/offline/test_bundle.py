"""Offline job bundles on the station: each job checked as if polled, imported whole or not at all.

Bundles are written by the reference server's own writer; the station's real
journal, intake, verifier and spool take them in.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from datetime import datetime, timezone

import pytest
from Crypto.PublicKey import ECC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.jobs import Intake, ManifestVerifier, SignedEntry, Spool, parse_manifest
from agent.journal import JobState, Journal
from agent.observe import StationMetrics
from agent.offline import BundleImporter, BundleReader
from jobserver.bundles import bundle_bytes, pending_jobs, write_bundle
from jobserver.store import JobStore

STATION = "3319-05"


class Central:
    """The reference server's store: jobs issued for the station, and one for a neighbour."""

    def __init__(self, jobs: int = 4) -> None:
        self.station_key = ECC.generate(curve="X25519")
        self.signing_key = ECC.generate(curve="Ed25519")
        self.store = JobStore(None, self.signing_key, {STATION: self.station_key.public_key(),
                                                        "3319-06": ECC.generate(curve="X25519").public_key()})
        self.job_ids = self.store.add_jobs(STATION, jobs)

    def bundle(self, folder, station: str = STATION):
        return write_bundle(self.store, station, folder).path

    def sha(self, job_id: str) -> str:
        return self.store.job(job_id).payload_sha256


class StationSide:
    def __init__(self, tmp_path, central: Central, journal_name: str = "journal.sqlite3") -> None:
        self.journal = Journal(tmp_path / journal_name)
        self.metrics = StationMetrics(STATION)
        self.intake = Intake(self.journal, ManifestVerifier(central.signing_key.public_key(), STATION), self.metrics)
        self.spool = Spool(tmp_path / "spool")
        self.importer = BundleImporter(self.journal, self.intake, self.spool, STATION,
                                       mark_ready=self.journal.mark_downloaded)

    def state(self, job_id: str) -> JobState | None:
        record = self.journal.get(job_id)
        return record.state if record else None

    def counts(self) -> dict[JobState, int]:
        return {s: n for s, n in self.journal.counts_by_state().items() if n}

    def assert_consistent(self) -> None:
        """Every downloaded job has its whole ciphertext in the spool; no other payload file is there."""
        held = {p.name[:-len(".payload")] for p in self.spool.directory.glob("*.payload")}
        for record in self.journal.jobs_in(*JobState, limit=10_000):
            if record.state is JobState.DOWNLOADED:
                data = self.spool.read(record.job_id)
                assert hashlib.sha256(data).hexdigest() == record.payload_sha256
        ready = {r.job_id for r in self.journal.jobs_in(JobState.DOWNLOADED, JobState.VERIFIED, limit=10_000)}
        assert held <= ready
        assert not list(self.spool.directory.glob("*.import")) and not list(self.spool.directory.glob(".*tmp"))


@pytest.fixture
def central() -> Central:
    return Central()


def test_a_whole_bundle_is_ready_to_print_offline_with_the_ciphertext_in_the_spool(tmp_path, central):
    station = StationSide(tmp_path, central)
    summary = station.importer.import_path(central.bundle(tmp_path))
    assert (summary.total, summary.imported, summary.known, summary.rejected) == (4, 4, 0, 0)
    assert station.counts() == {JobState.DOWNLOADED: 4}
    for job_id in central.job_ids:
        assert station.spool.read(job_id) == central.store.payload(central.sha(job_id))
    station.assert_consistent()


def test_the_same_bundle_read_twice_adds_nothing(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = central.bundle(tmp_path)
    station.importer.import_path(path)
    again = station.importer.import_path(path)
    assert (again.imported, again.known) == (0, 4)
    assert station.counts() == {JobState.DOWNLOADED: 4}


def test_jobs_that_also_arrived_online_are_not_duplicated(tmp_path, central):
    station = StationSide(tmp_path, central)
    first = central.store.job(central.job_ids[0])
    station.intake.accept(SignedEntry(first.manifest, first.signature), datetime.now(timezone.utc))
    summary = station.importer.import_path(central.bundle(tmp_path))
    # The polled job was waiting for its payload: the bundle's copy completes it.
    assert (summary.imported, summary.completed, summary.known) == (3, 1, 0)
    assert station.counts() == {JobState.DOWNLOADED: 4}
    station.assert_consistent()


def test_a_folder_of_bundles_is_read_in_name_order(tmp_path, central):
    station = StationSide(tmp_path, central)
    first = central.bundle(tmp_path / "a.ktpjobs")
    central.job_ids += central.store.add_jobs(STATION, 2)
    central.bundle(tmp_path / "b.ktpjobs")
    summary = station.importer.import_path(tmp_path)
    assert summary.files == [str(first), str(tmp_path / "b.ktpjobs")]
    assert (summary.imported, summary.known) == (6, 4)


def _rewrite(path, transform) -> None:
    """Rewrite a bundle member by member through ``transform(name, data) -> data | None`` (None drops it)."""
    with zipfile.ZipFile(path) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for name, data in members:
            data = transform(name, data)
            if data is not None:
                dst.writestr(name, data)
    path.write_bytes(out.getvalue())


def test_a_missing_or_damaged_payload_leaves_the_job_waiting_for_the_network(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = central.bundle(tmp_path)
    gone, flipped = central.sha(central.job_ids[0]), central.sha(central.job_ids[1])

    def damage(name, data):
        if name == f"payloads/{gone}":
            return None
        return bytes([data[0] ^ 1]) + data[1:] if name == f"payloads/{flipped}" else data
    _rewrite(path, damage)
    summary = station.importer.import_path(path)
    assert (summary.imported, summary.waiting) == (2, 2)
    assert station.state(central.job_ids[0]) is JobState.VERIFIED
    assert station.state(central.job_ids[1]) is JobState.VERIFIED
    station.assert_consistent()
    # The job is known; a whole copy later (another stick, or the network) completes it.
    again = station.importer.import_path(central.bundle(tmp_path / "whole.ktpjobs"))
    assert (again.completed, again.known) == (2, 2)
    assert station.counts() == {JobState.DOWNLOADED: 4}


def test_a_tampered_manifest_is_rejected_as_a_polled_one_would_be_and_reported(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = central.bundle(tmp_path)
    target = central.job_ids[2]

    def tamper(name, data):
        if name != "bundle.json":
            return data
        doc = json.loads(data)
        for entry in doc["jobs"]:
            manifest = SignedEntry(*(_b64(entry[k]) for k in ("manifest", "signature"))).manifest
            if target in manifest.decode():
                doc_m = json.loads(manifest)
                doc_m["card"]["copies"] = 2
                entry["manifest"] = _b64e(json.dumps(doc_m).encode())
        return json.dumps(doc).encode()
    _rewrite(path, tamper)
    summary = station.importer.import_path(path)
    assert (summary.imported, summary.rejected) == (3, 1)
    assert station.state(target) is JobState.REJECTED
    [report] = station.journal.pending_reports()
    assert (report.job_id, report.body["status"], report.body["reason"]) == (target, "rejected", "bad-signature")
    assert not station.spool.payload_path(target).exists()


def test_a_bundle_for_another_station_is_refused_whole(tmp_path, central):
    station = StationSide(tmp_path, central)
    central.store.add_jobs("3319-06", 2)
    summary = station.importer.import_path(central.bundle(tmp_path, station="3319-06"))
    assert summary.imported == 0 and summary.refused and "3319-06" in summary.refused[0]
    assert station.counts() == {}


def test_jobs_of_another_station_inside_a_bundle_naming_this_one_are_rejected_wrong_station(tmp_path, central):
    station = StationSide(tmp_path, central)
    foreign = central.store.add_jobs("3319-06", 1)
    jobs = [central.store.job(foreign[0])]
    payloads = {j.payload_sha256: central.store.payload(j.payload_sha256) for j in jobs}
    path = tmp_path / "forged.ktpjobs"
    path.write_bytes(bundle_bytes(jobs, payloads, STATION, datetime.now(timezone.utc)))
    summary = station.importer.import_path(path)
    assert summary.rejected == 1
    assert station.journal.pending_reports()[0].body["reason"] == "wrong-station"


def test_a_bundle_truncated_in_the_middle_of_the_import_stops_and_a_second_read_carries_on(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = central.bundle(tmp_path)
    whole = path.read_bytes()
    seen = []

    def pull_after_two(done, total):
        seen.append(done)
        if done == 2:
            os.truncate(path, len(whole) // 2)  # the stick is pulled: the rest reads short
    summary = station.importer.import_path(path, progress=pull_after_two)
    assert summary.interrupted and summary.imported == 2
    station.assert_consistent()
    assert station.counts() == {JobState.DOWNLOADED: 2}  # nothing half-imported
    path.write_bytes(whole)  # inserted again
    again = station.importer.import_path(path)
    assert (again.imported, again.known, again.interrupted) == (2, 2, None)
    assert station.counts() == {JobState.DOWNLOADED: 4}
    station.assert_consistent()


def test_a_bundle_removed_while_being_read_is_finished_from_the_open_file_and_nothing_doubles(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = central.bundle(tmp_path)
    whole = path.read_bytes()
    summary = station.importer.import_path(path, progress=lambda done, total: done == 1 and path.unlink())
    assert (summary.imported, summary.interrupted) == (4, None)  # the open file still reads whole
    path.write_bytes(whole)
    assert station.importer.import_path(path).known == 4
    assert station.counts() == {JobState.DOWNLOADED: 4}
    station.assert_consistent()


class FailingMedium(io.FileIO):
    """The bundle's real file, whose reads fail with EIO once ``fail`` is set (a stick's I/O error)."""

    def __init__(self, path) -> None:
        super().__init__(path, "rb")
        self.fail = threading.Event()

    def readinto(self, buffer):
        if self.fail.is_set():
            raise OSError(5, "Input/output error")
        return super().readinto(buffer)

    def read(self, size=-1):
        if self.fail.is_set():
            raise OSError(5, "Input/output error")
        return super().read(size)


def test_an_io_error_mid_import_stops_before_the_job_being_read_and_a_reread_completes(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = central.bundle(tmp_path)
    medium = FailingMedium(path)
    summary = station.importer.import_path(
        path, progress=lambda done, total: done == 3 and medium.fail.set(),
        opener=lambda p: BundleReader(p, medium))
    assert summary.interrupted and "Input/output error" in summary.interrupted
    assert summary.imported == 3 and station.counts() == {JobState.DOWNLOADED: 3}
    station.assert_consistent()
    again = station.importer.import_path(path)
    assert (again.imported, again.known) == (1, 3)


def test_an_import_stops_between_jobs_when_the_station_stops(tmp_path, central):
    station = StationSide(tmp_path, central)
    stopping = threading.Event()
    station.importer = BundleImporter(station.journal, station.intake, station.spool, STATION,
                                      mark_ready=station.journal.mark_downloaded, should_stop=stopping.is_set)
    summary = station.importer.import_path(central.bundle(tmp_path),
                                           progress=lambda done, total: done == 1 and stopping.set())
    assert summary.imported == 1 and summary.interrupted == "the station is stopping"
    station.assert_consistent()


def test_not_a_zip_is_refused_without_touching_the_journal(tmp_path, central):
    station = StationSide(tmp_path, central)
    path = tmp_path / "x.ktpjobs"
    path.write_bytes(b"PK\x03\x04 not really")
    summary = station.importer.import_path(path)
    assert summary.refused and station.counts() == {}


def _b64(text: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_FUZZ_CENTRAL = Central(jobs=3)
_FUZZ_BUNDLE = bundle_bytes(pending_jobs(_FUZZ_CENTRAL.store, STATION),
                            {j.payload_sha256: _FUZZ_CENTRAL.store.payload(j.payload_sha256)
                             for j in _FUZZ_CENTRAL.store.station_jobs(STATION)},
                            STATION, datetime.now(timezone.utc))


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(_FUZZ_BUNDLE) - 1), st.integers(0, 255)), max_size=8),
       st.one_of(st.none(), st.integers(0, len(_FUZZ_BUNDLE))))
def test_a_damaged_bundle_never_crashes_the_import_nor_leaves_a_partial_job(tmp_path_factory, flips, cut):
    data = bytearray(_FUZZ_BUNDLE)
    for index, value in flips:
        data[index] = value
    if cut is not None:
        del data[cut:]
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "damaged.ktpjobs"
    path.write_bytes(bytes(data))
    station = StationSide(folder, _FUZZ_CENTRAL)
    summary = station.importer.import_path(path)
    station.assert_consistent()
    assert summary.imported + summary.waiting + summary.known + summary.rejected + summary.unreadable \
        + summary.completed <= max(summary.total, 0)
    for record in station.journal.jobs_in(*JobState, limit=100):
        if record.state is JobState.DOWNLOADED:  # only a job whose manifest verified gets a payload
            assert record.job_id in _FUZZ_CENTRAL.job_ids
            manifest = parse_manifest(record.manifest)
            assert manifest.payload.sha256 == record.payload_sha256
    station.journal.close()

"""The reference server's state: issued jobs, their payloads, and the reports received.

With a ``state_dir`` every change is written before it is acknowledged, so a
restarted server serves the same jobs and remembers the same results::

    state_dir/jobs/<job_id>.json      one per job (manifest, signature, seq, position)
    state_dir/payloads/<sha256>.bin   the bytes served at /v1/payloads/<sha256>
    state_dir/results.json            accepted reports and the log of every POST
    state_dir/epoch                   id of this state; cursors of another state start over

Jobs are served per station in issue order (``position``, 1-based); for sound
jobs that is seq order, and the replay and rollback defects still reach a
station whose cursor has passed their seq.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Mapping

from Crypto.PublicKey import ECC

from .files import write_atomic
from .issuing import IssuedJob, JobOrder, check_defect, choose_seq, citizen_serial, issue_job
from .reports import ReportFieldError, audit_blanks, same_outcome, validate_report
from .sealing import rfc3339

Clock = Callable[[], datetime]
MAX_JOBS_PER_CALL = 1000


class StoreError(Exception):
    """Base of the job store's errors."""


class UnknownStationError(StoreError):
    """Jobs were asked for a station whose public key the store does not hold."""


class StoreCorruptError(StoreError):
    """A state file cannot be read back; the message names it."""


@dataclass(frozen=True)
class StoredJob:
    """One issued job as the store keeps it (the payload bytes are kept by hash)."""

    job_id: str
    station_id: str
    position: int
    seq: int
    manifest: bytes
    signature: bytes
    payload_sha256: str
    defect: str | None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class JobStore:
    """Jobs per station, payloads by SHA-256, accepted reports by job id."""

    def __init__(self, state_dir: Path | None, signing_key: ECC.EccKey,
                 station_keys: Mapping[str, ECC.EccKey], *, seed: int = 0, clock: Clock = utc_now) -> None:
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._signing_key = signing_key
        self._station_keys = dict(station_keys)
        self._seed = seed
        self._clock = clock
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # notified when jobs are issued (long polls wait on it)
        self._waiting = 0  # long polls waiting now
        self._jobs: dict[str, StoredJob] = {}
        self._by_station: dict[str, list[StoredJob]] = {}
        self._payloads: dict[str, bytes] = {}
        self._payload_station: dict[str, str] = {}
        self._results: dict[str, dict] = {}
        self._log: list[dict] = []
        self.epoch = secrets.token_hex(8)
        if self._state_dir is not None:
            self._load()

    # -- jobs ---------------------------------------------------------------

    def add_jobs(self, station_id: str, count: int, *, defect: str | None = None,
                 ttl_days: float = 30) -> list[str]:
        """Issue ``count`` jobs for ``station_id``, each carrying ``defect`` (or none)."""
        check_defect(defect)
        if not isinstance(count, int) or not 0 <= count <= MAX_JOBS_PER_CALL:
            raise ValueError(f"job count must be 0..{MAX_JOBS_PER_CALL}, got {count!r}")
        station_key = self._station_keys.get(station_id)
        if station_key is None:
            raise UnknownStationError(f"no public key held for station {station_id}")
        job_ids = []
        for _ in range(count):
            with self._lock:
                held = self._by_station.setdefault(station_id, [])
                order = JobOrder(
                    station_id=station_id, seq=choose_seq(defect, [job.seq for job in held]),
                    serial=citizen_serial(len(held)), issued_at=self._clock(),
                    ttl=timedelta(days=ttl_days), defect=defect, seed=self._seed)
                issued = issue_job(order, self._signing_key, station_key)
                self._keep(issued, position=len(held) + 1)
                self._arrived.notify_all()
            job_ids.append(issued.job_id)
        return job_ids

    def jobs_after(self, station_id: str, position: int, limit: int) -> list[StoredJob]:
        """Up to ``limit`` jobs of the station issued after ``position``, in issue order."""
        with self._lock:
            held = self._by_station.get(station_id, [])
            return held[max(position, 0):max(position, 0) + limit]

    def wait_for_jobs(self, station_id: str, position: int, limit: int, timeout: float,
                      stopping: Callable[[], bool]) -> list[StoredJob]:
        """``jobs_after``, waiting up to ``timeout`` seconds for one to be issued (a long poll);
        returns at once, empty, when ``stopping()`` says so (``wake_waiters`` makes waiters look)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            self._waiting += 1
            try:
                while True:
                    held = self._by_station.get(station_id, [])
                    jobs = held[max(position, 0):max(position, 0) + limit]
                    remaining = deadline - time.monotonic()
                    if jobs or remaining <= 0 or stopping():
                        return jobs
                    self._arrived.wait(remaining)
            finally:
                self._waiting -= 1
                self._arrived.notify_all()

    def wake_waiters(self, within_s: float = 1.0) -> None:
        """Make every waiter look again now, and wait (up to ``within_s``) until none is left waiting."""
        with self._arrived:
            self._arrived.notify_all()
            self._arrived.wait_for(lambda: self._waiting == 0, within_s)

    def station_jobs(self, station_id: str) -> list[StoredJob]:
        with self._lock:
            return list(self._by_station.get(station_id, []))

    def job(self, job_id: str) -> StoredJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def payload(self, sha256_hex: str) -> bytes | None:
        """The bytes served at ``/v1/payloads/<sha256_hex>``."""
        with self._lock:
            return self._payloads.get(sha256_hex)

    def payload_station(self, sha256_hex: str) -> str | None:
        """The station whose job names this payload."""
        with self._lock:
            return self._payload_station.get(sha256_hex)

    def has_station(self, station_id: str) -> bool:
        return station_id in self._station_keys

    # -- reports ------------------------------------------------------------

    def record(self, job_id: str, report: object) -> tuple[int, dict]:
        """Accept a result report: (HTTP status, JSON body) as protocol section 3 says."""
        with self._lock:
            status, body = self._judge(job_id, report)
            self._log.append({"job_id": job_id, "report": report, "http_status": status,
                              "received_at": rfc3339(self._clock())})
            self._save_results()
            return status, body

    def results(self) -> dict[str, dict]:
        """Accepted reports by job id: the first of each job (with the ``blank_counter`` a
        repeat added, when the first had none)."""
        with self._lock:
            return {job_id: dict(report) for job_id, report in self._results.items()}

    def blank_audit(self, station_id: str) -> dict:
        """Whether every blank the station's reports consumed appears in exactly one (``audit_blanks``)."""
        with self._lock:
            own = {job.job_id for job in self._by_station.get(station_id, [])}
            return audit_blanks({job_id: r for job_id, r in self._results.items() if job_id in own})

    def report_log(self) -> list[dict]:
        """Every report POST received, in order: job_id, report, http_status, received_at."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def _judge(self, job_id: str, report: object) -> tuple[int, dict]:
        job = self._jobs.get(job_id)
        if job is None:
            return 404, {"error": "unknown job", "job_id": job_id}
        try:
            checked = validate_report(report, job.station_id)
        except ReportFieldError as exc:
            return 400, {"error": f"bad report: {exc}", "field": exc.field, "job_id": job_id}
        accepted = self._results.get(job_id)
        if accepted is None:
            self._results[job_id] = checked
            return 200, {"ok": True}
        if same_outcome(accepted, checked):
            if accepted.get("blank_counter") is None and checked.get("blank_counter") is not None:
                accepted["blank_counter"] = checked["blank_counter"]  # a queued report, sent again after an upgrade
            return 200, {"ok": True}
        return 409, {"error": "report contradicts the one already accepted", "job_id": job_id,
                     "accepted": accepted}

    # -- persistence --------------------------------------------------------

    def _keep(self, issued: IssuedJob, position: int) -> None:
        job = StoredJob(job_id=issued.job_id, station_id=issued.station_id, position=position,
                        seq=issued.seq, manifest=issued.manifest, signature=issued.signature,
                        payload_sha256=issued.payload_sha256, defect=issued.defect)
        if self._state_dir is not None:
            write_atomic(self._state_dir / "payloads" / f"{job.payload_sha256}.bin", issued.ciphertext)
            write_atomic(self._state_dir / "jobs" / f"{job.job_id}.json", _job_to_json(job))
        self._index(job, issued.ciphertext)

    def _index(self, job: StoredJob, ciphertext: bytes) -> None:
        self._jobs[job.job_id] = job
        self._by_station.setdefault(job.station_id, []).append(job)
        self._payloads[job.payload_sha256] = ciphertext
        self._payload_station[job.payload_sha256] = job.station_id

    def _save_results(self) -> None:
        if self._state_dir is None:
            return
        doc = {"results": self._results, "log": self._log}
        write_atomic(self._state_dir / "results.json", json.dumps(doc, indent=1, default=repr).encode("utf-8"))

    def _load(self) -> None:
        assert self._state_dir is not None
        self.epoch = self._load_epoch(self._state_dir / "epoch")
        jobs = [_job_from_file(path) for path in sorted((self._state_dir / "jobs").glob("*.json"))]
        for job in sorted(jobs, key=lambda j: (j.station_id, j.position)):
            payload_path = self._state_dir / "payloads" / f"{job.payload_sha256}.bin"
            try:
                ciphertext = payload_path.read_bytes()
            except OSError as exc:
                raise StoreCorruptError(f"{payload_path}: payload of job {job.job_id} unreadable: "
                                        f"{exc.strerror}") from None
            self._index(job, ciphertext)
        results_path = self._state_dir / "results.json"
        if results_path.exists():
            doc = _read_json(results_path)
            self._results = dict(doc.get("results", {}))
            self._log = list(doc.get("log", []))


    def _load_epoch(self, path: Path) -> str:
        """An id of this state directory, so cursors from a wiped server start over."""
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            write_atomic(path, self.epoch.encode("ascii"))
            return self.epoch
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreCorruptError(f"{path}: unreadable ({exc.__class__.__name__})") from None


def _job_to_json(job: StoredJob) -> bytes:
    doc = asdict(job)
    doc["manifest"] = base64.b64encode(job.manifest).decode("ascii")
    doc["signature"] = base64.b64encode(job.signature).decode("ascii")
    return json.dumps(doc, indent=1).encode("utf-8")


def _job_from_file(path: Path) -> StoredJob:
    doc = _read_json(path)
    try:
        return StoredJob(
            job_id=doc["job_id"], station_id=doc["station_id"], position=int(doc["position"]),
            seq=int(doc["seq"]), manifest=base64.b64decode(doc["manifest"]),
            signature=base64.b64decode(doc["signature"]), payload_sha256=doc["payload_sha256"],
            defect=doc.get("defect"))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreCorruptError(f"{path}: not a job record ({exc.__class__.__name__}: {exc})") from None


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StoreCorruptError(f"{path}: unreadable state file ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise StoreCorruptError(f"{path}: not a JSON object")
    return doc

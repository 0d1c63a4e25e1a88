"""Power-cut torture: the real daemon, SIGKILLed again and again, then audited.

    python -m bench.torture --jobs 500 --kills 1000 --seed 1 [--random-uid] [--power-cut]

The daemon runs against the reference job server with simulated devices
whose state persists. Each cycle starts it and kills it with SIGKILL, either
at a random instant or at a named point of the pipeline (KTP_CRASH_AT).
After every kill the journal must pass integrity_check. At the end a clean
run drains the queue (in-doubt jobs are decided the way a technician would,
by looking at the card: the simulator's printout for that blank), and the
server's reports, the printer's counters and the journal are checked
against each other. Blanks are accounted by the printer's card counter: the
consumed reports' ``blank_counter`` values must be exactly 1 .. the counter,
each once, and the printouts (named by counter) must match the printed
reports. With ``--random-uid`` every chip answers a fresh random UID, so
no report may name a blank by UID and the counter is all there is. With
``--power-cut`` every cycle is a UPS power cut instead (bench/power_cut.py):
NUT's upsd reports low battery at a random point of a card, then SIGKILL.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.crashpoints import POINTS
from bench.power_cut import PowerCutFigures, one_power_cut
from testbed.station import REPO, STATION, StationHarness

#: Crash points the daemon passes for every job (the payload ones live in the fetcher).
JOB_POINTS = tuple(p for p in POINTS if not p.startswith("payload."))


@dataclass
class Audit:
    random_uid: bool = False
    jobs_issued: int = 0
    kills: int = 0
    kills_at_points: dict[str, int] = field(default_factory=dict)
    integrity_failures: int = 0
    jobs_lost: int = 0
    reports_conflicting: int = 0
    blanks_consumed: int = 0
    blanks_reported: int = 0
    blanks_unreported: int = 0
    blank_serials_repeated: int = 0
    blank_counters_repeated: int = 0
    blank_counters_unmatched: int = 0  # reported counters vs the printer's counter advance, either way
    consumed_without_counter: int = 0
    random_uids_reported: int = 0
    server_audit_clean: bool = True
    printouts_without_report: int = 0
    printed_reports_without_printout: int = 0
    in_doubt_resolved: int = 0
    power_cut: PowerCutFigures | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.server_audit_clean and not (
            self.integrity_failures or self.jobs_lost or self.reports_conflicting
            or self.blanks_unreported or self.blank_serials_repeated or self.blank_counters_repeated
            or self.blank_counters_unmatched or self.consumed_without_counter or self.random_uids_reported
            or self.printouts_without_report or self.printed_reports_without_printout
            or (self.power_cut is not None and self.power_cut.blanks_taken_after_notice))


def integrity_ok(station: StationHarness) -> bool:
    path = station.state / "journal.sqlite3"
    if not path.exists():
        return True
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def one_kill(station: StationHarness, rng: random.Random, audit: Audit) -> None:
    if rng.random() < 0.5:
        point = rng.choice(JOB_POINTS)
        station.start_daemon(wait=False, env_extra={"KTP_CRASH_AT": f"{point}:{rng.randint(1, 3)}"})
        try:
            station.process.wait(timeout=4)
            audit.kills_at_points[point] = audit.kills_at_points.get(point, 0) + 1
            station._log.close()
        except subprocess.TimeoutExpired:
            station.kill_daemon()  # the point was not reached in time: a plain kill instead
    else:
        station.start_daemon(wait=rng.random() < 0.5)
        time.sleep(rng.uniform(0.0, 2.0))
        station.kill_daemon()
    audit.kills += 1
    if not integrity_ok(station):
        audit.integrity_failures += 1


def in_doubt_jobs(station: StationHarness) -> list[tuple[str, int | None]]:
    db = sqlite3.connect(station.state / "journal.sqlite3", timeout=30)
    try:
        return db.execute("SELECT job_id, blank_counter FROM jobs WHERE state='in-doubt'").fetchall()
    finally:
        db.close()


def resolve_like_a_technician(station: StationHarness, audit: Audit) -> None:
    """The card of an in-doubt job is found by the printer's counter (`jobs list` shows it)."""
    printed = set(station.printout_counters())
    for job_id, counter in in_doubt_jobs(station):
        outcome = "printed" if counter is not None and counter in printed else "spoiled"
        subprocess.run([sys.executable, "-m", "agent", "jobs", "resolve", job_id, outcome,
                        "--config", str(station.config_path)], cwd=REPO, check=True, timeout=60,
                       capture_output=True)
        audit.in_doubt_resolved += 1


def drain(station: StationHarness, job_ids: list[str], audit: Audit, timeout: float) -> None:
    station.start_daemon()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resolve_like_a_technician(station, audit)
        results = station.server.store.results()
        if all(j in results for j in job_ids) and not in_doubt_jobs(station):
            break
        time.sleep(0.2)
    station.stop_daemon()


def check(station: StationHarness, job_ids: list[str], audit: Audit) -> None:
    results = station.server.store.results()
    audit.jobs_lost = sum(j not in results for j in job_ids)
    audit.reports_conflicting = sum(e["http_status"] == 409 for e in station.server.store.report_log())
    consumed = [r for r in results.values() if r["status"] in ("printed", "spoiled")]
    for r in results.values():
        audit.outcomes[r["status"]] = audit.outcomes.get(r["status"], 0) + 1
    audit.blanks_consumed = station.printer_state()["cards_inserted"]
    audit.blanks_reported = len(consumed)
    audit.blanks_unreported = abs(audit.blanks_consumed - audit.blanks_reported)
    serials = [r["blank_serial"] for r in consumed if r["blank_serial"]]
    audit.blank_serials_repeated = len(serials) - len(set(serials))
    if audit.random_uid:
        audit.random_uids_reported = len(serials)  # a random UID names no blank: reported as null
    check_counters(station, consumed, audit)


def check_counters(station: StationHarness, consumed: list[dict], audit: Audit) -> None:
    """Blanks by the printer's counter: each of 1 .. cards_inserted in exactly one report, and
    each printout (named by counter) is a blank reported printed."""
    counters = [r["blank_counter"] for r in consumed if "blank_counter" in r]
    audit.consumed_without_counter = len(consumed) - len(counters)
    audit.blank_counters_repeated = len(counters) - len(set(counters))
    audit.blank_counters_unmatched = len(set(counters) ^ set(range(1, audit.blanks_consumed + 1)))
    audit.server_audit_clean = station.server.store.blank_audit(STATION)["each_blank_once"]
    reported = set(counters)
    printed = {r["blank_counter"] for r in consumed if r["status"] == "printed" and "blank_counter" in r}
    printouts = station.printout_counters()
    audit.printouts_without_report = sum(counter not in reported for counter in printouts)
    audit.printed_reports_without_printout = sum(counter not in printouts for counter in printed)


def torture(root: Path, jobs: int, kills: int, seed: int, print_ms: int, random_uid: bool = False,
            power_cut: bool = False) -> Audit:
    rng = random.Random(seed)
    audit = Audit(random_uid=random_uid, power_cut=PowerCutFigures() if power_cut else None)
    started = time.monotonic()
    ups = None
    if power_cut:
        from tests.power.upsd import DummyUps

        ups = DummyUps(root / "nut")
    power = f'[power]\nups = "{ups.address}"\n' if ups else ""
    # A feeder and a ribbon that last the whole run: an empty feeder holds the queue, rightly.
    station = StationHarness(root, print_ms=print_ms, extra_printer="&cards=1000000&ribbon=1000000",
                             extra_reader="&random_uid=1" if random_uid else "", extra_config=power)
    try:
        job_ids: list[str] = []
        per_batch = 8  # keep a few jobs waiting, so every named point is soon reached
        while audit.kills < kills:
            waiting = len(job_ids) - len(station.server.store.results())
            if waiting < per_batch and len(job_ids) < jobs * (audit.kills + 1) / kills + per_batch:
                job_ids += station.issue(min(per_batch, jobs - len(job_ids)))
            if ups is not None:
                one_power_cut(station, ups, rng, print_ms / 1000, audit.power_cut)
                audit.kills += 1
                audit.integrity_failures += not integrity_ok(station)
            else:
                one_kill(station, rng, audit)
        drain(station, job_ids, audit, timeout=max(120.0, len(job_ids) * 1.0))
        audit.jobs_issued = len(job_ids)
        check(station, job_ids, audit)
    finally:
        station.close()
        if ups is not None:
            ups.stop()
    audit.seconds = round(time.monotonic() - started, 1)
    return audit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--print-ms", type=int, default=50)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--random-uid", action="store_true",
                        help="every chip answers a fresh random UID: blanks are accounted by counter only")
    parser.add_argument("--power-cut", action="store_true",
                        help="each kill follows low battery reported by NUT's upsd at a random point of a card")
    args = parser.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="ktp-torture-"))
    audit = torture(root, args.jobs, args.kills, args.seed, args.print_ms, random_uid=args.random_uid,
                    power_cut=args.power_cut)
    print(json.dumps({**asdict(audit), "clean": audit.clean}, indent=2))
    return 0 if audit.clean else 1


if __name__ == "__main__":
    sys.exit(main())

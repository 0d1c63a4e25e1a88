"""A week without network, on a shortened clock: the station prints from a stick and its results
travel back on one.

The daemon runs in its own network namespace behind a veth link to the
reference server (``station_link``), over TLS. The scenario, day by day:

- day 0: the link works; ``online`` jobs are polled, printed and reported;
- day 1: the link goes down (the station's interface is set down: no route to
  the server); the central office issues ``offline`` more jobs;
- day 2: the central office writes them to a bundle with ``ktp-agent
  jobserver bundle`` and the stick reaches the station (mounted in the
  watched folder, or read with ``ktp-agent import``); every job prints;
- last day but one: a stick takes the results back (written there by the
  station itself on mounting, or with ``ktp-agent export-results``) and the
  central office applies them with ``ktp-agent jobserver import-results``;
- last day: the link returns; the station's queued reports go out, and the
  server answers them as the duplicates they are.

Shortened clock: a scenario day lasts ``day_s`` seconds of wall time; a step
that needs longer (printing) stretches its day and the next starts when it
ends. The station's back-off is capped at a quarter day (at least 1 s), its poll is the
server's ``poll_after_s`` (1 s), and the watched folder is scanned every
0.2 s. The jobs' expiry (30 days of real time) lies far beyond the run.
The reference server's offline commands work on its stopped state folder,
so the central office stops its server around each, as the commands ask.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .pki import make_server_pki
from .station import STATION, StationHarness
from .station_link import StationLink


class OutageError(Exception):
    """A step of the scenario did not happen in its time (the message says which, with the daemon's log)."""


@dataclass
class OutageOutcome:
    """What the server, the station and the printer hold at the end, and when each day's step ended."""

    online: list[str]
    offline: list[str]
    timeline: list[tuple[int, str, float]] = field(default_factory=list)  # (day, step, seconds since start)
    bundle_jobs: int = 0
    receipts: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    conflicts: int = 0
    outbox: int = -1
    audit: dict = field(default_factory=dict)
    cards_inserted: int = -1  # the printer's own counter of blanks taken
    printouts: list[int] = field(default_factory=list)  # the card counter of each printout
    link_was_down: bool = False  # still down when every bundled job had printed
    payloads_after_return: int = -1  # payload downloads the server saw after the results came home

    def failures(self) -> list[str]:
        """Each end condition the week missed, said in a line (none: the week went as it must)."""
        jobs = self.online + self.offline
        missed = []
        unreported = sum(1 for j in jobs if j not in self.results)
        if unreported:
            missed.append(f"{unreported} jobs without a report at the server")
        not_printed = sum(1 for j in jobs if j in self.results and self.results[j].get("status") != "printed")
        if not_printed:
            missed.append(f"{not_printed} jobs reported other than printed")
        if self.conflicts:
            missed.append(f"{self.conflicts} reports refused by the server")
        if (self.receipts.get("applied"), self.receipts.get("conflicts"), self.receipts.get("refused")) \
                != (len(self.offline), [], {}):
            missed.append(f"receipts applied {self.receipts}, expected {len(self.offline)} and nothing refused")
        if self.outbox != 0:
            missed.append(f"{self.outbox} reports left in the station's outbox")
        if not (self.audit.get("each_blank_once") and self.audit.get("consumed_reports") == len(jobs)):
            missed.append(f"blank audit: {self.audit}")
        if self.cards_inserted != len(jobs) or self.printouts != list(range(1, len(jobs) + 1)):
            missed.append(f"printer took {self.cards_inserted} blanks, printouts {self.printouts}, jobs {len(jobs)}")
        if not self.link_was_down:
            missed.append("the link was up while the bundle printed")
        if self.payloads_after_return:
            missed.append(f"{self.payloads_after_return} payloads downloaded after the link returned")
        return missed


class OutageScenario:
    def __init__(self, root: Path, *, online: int = 2, offline: int = 6, day_s: float = 2.0, days: int = 7,
                 print_ms: int = 0, via: str = "watch", results_via: str = "stick") -> None:
        if via not in ("watch", "import") or results_via not in ("stick", "export"):
            raise ValueError("via is watch|import, results_via stick|export")
        if days < 5:
            raise ValueError("the scenario needs at least 5 days")
        self.root, self.online_jobs, self.offline_jobs = root, online, offline
        self.day_s, self.days, self.print_ms, self.via, self.results_via = day_s, days, print_ms, via, results_via
        self.media = root / "media"
        self.central = root / "central-office"

    @property
    def retry_max_s(self) -> int:
        return max(1, round(self.day_s / 4))

    def clock_note(self) -> str:
        return (f"shortened clock: a day is {self.day_s:g} s; the station's back-off is capped at "
                f"{self.retry_max_s} s, the server asks for a poll every 1 s, the watched folder is scanned "
                "every 0.2 s; the jobs expire 30 days after issue, in real time, far beyond the run")

    def run(self) -> OutageOutcome:
        self.media.mkdir(parents=True)
        self.central.mkdir()
        with StationLink() as link:
            station = self._station(link)
            try:
                return self._week(link, station)
            finally:
                station.close()

    def _station(self, link: StationLink) -> StationHarness:
        pki = make_server_pki(self.root / "pki", [link.server_address])
        clock = (f"[transfer]\nretry_initial_seconds = 0.2\nretry_max_seconds = {self.retry_max_s}\n"
                 f'[offline]\nwatch_dir = "{self.media}"\nscan_seconds = 0.2\n')
        return StationHarness(self.root / "station-root", print_ms=self.print_ms, server_host=link.server_address,
                              server_pki=pki, launcher=link.argv([]), extra_config=clock)

    def _week(self, link: StationLink, station: StationHarness) -> OutageOutcome:
        started = time.monotonic()
        outcome = OutageOutcome(online=station.issue(self.online_jobs), offline=[])
        day = _Days(started, self.day_s, outcome.timeline)
        station.start_daemon()
        self._wait(station, lambda: all(j in station.server.store.results() for j in outcome.online),
                   "the online jobs reported", 60)
        day.done(0, f"{self.online_jobs} jobs printed and reported online")

        day.start(1)
        link.down()
        outcome.offline = station.issue(self.offline_jobs)
        day.done(1, f"link down; {self.offline_jobs} jobs issued at the centre")

        day.start(2)
        outcome.bundle_jobs = self._deliver_bundle(station)
        day.done(2, f"bundle of {outcome.bundle_jobs} jobs arrived ({self.via})")
        # printed and not yet reported: the bundled jobs, with the link down
        self._wait(station, lambda: station.status()["queue"].get("printed", 0) >= self.offline_jobs,
                   "every bundled job printed with the link down", 60 + self.offline_jobs * (self.print_ms / 1000 + 3))
        outcome.link_was_down = not link.is_up()
        day.done(2, "every job printed")

        day.start(self.days - 2)
        outcome.receipts = self._return_results(station)
        day.done(self.days - 2, f"{outcome.receipts.get('applied', 0)} results imported at the centre")

        day.start(self.days - 1)
        link.up()
        self._wait(station, lambda: station.status()["outbox"] == 0, "the outbox drained once the link returned", 60)
        day.done(self.days - 1, "link up; outbox empty")
        self._close_books(station, outcome)
        return outcome

    def _deliver_bundle(self, station: StationHarness) -> int:
        out = station.while_server_stopped(lambda: self._cli(
            station, "jobserver", "bundle", "--station", STATION, "--out", str(self.central),
            "--state", str(station.root / "server-keys")))
        bundle = next(self.central.glob("*.ktpjobs"))
        if self.via == "watch":
            _mount(self.media, "KTP-JOBS", [bundle])
            self._wait(station, lambda: (station.status().get("offline") or {}).get("last_import"),
                       "the stick imported by itself", 30)
        else:
            stick = self.root / "stick-in"
            stick.mkdir()
            (stick / bundle.name).write_bytes(bundle.read_bytes())
            self._cli(station, "import", str(stick), "--config", str(station.config_path))
        return int(re.search(r": (\d+) jobs, ", out).group(1))

    def _return_results(self, station: StationHarness) -> dict:
        if self.results_via == "stick":
            stick = _mount(self.media, "KTP-RESULTS")
            self._wait(station, lambda: list(stick.glob("*.ktpresults")), "receipts written on the stick", 30)
        else:
            stick = self.root / "stick-out"
            stick.mkdir()
            self._cli(station, "export-results", str(stick), "--config", str(station.config_path))
        [receipts] = list(stick.glob("*.ktpresults"))
        carried = self.central / receipts.name
        carried.write_bytes(receipts.read_bytes())
        out = station.while_server_stopped(lambda: self._cli(
            station, "jobserver", "import-results", str(carried), "--state", str(station.root / "server-keys")))
        return json.loads(out)

    def _close_books(self, station: StationHarness, outcome: OutageOutcome) -> None:
        outcome.outbox = station.status()["outbox"]
        if station.stop_daemon() != 0:
            raise OutageError(f"the daemon did not stop cleanly:\n{station.log()[-3000:]}")
        store = station.server.store
        mine = set(outcome.online + outcome.offline)
        outcome.results = {j: r for j, r in store.results().items() if j in mine}
        outcome.conflicts = sum(1 for e in store.report_log() if e["job_id"] in mine and e["http_status"] != 200)
        outcome.audit = store.blank_audit(STATION)
        outcome.cards_inserted = station.printer_state()["cards_inserted"]
        outcome.payloads_after_return = len(station.server.payload_requests())
        outcome.printouts = sorted(station.printout_counters())

    def _wait(self, station: StationHarness, predicate, what: str, timeout: float):
        try:
            return station.wait_for(predicate, what, timeout)
        except AssertionError as exc:
            raise OutageError(str(exc)) from None

    def _cli(self, station: StationHarness, *args: str) -> str:
        env = dict(os.environ, PYTHONPATH=str(station.code_root))
        done = subprocess.run([station.python, "-m", "agent", *args], cwd=station.root, env=env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise OutageError(f"ktp-agent {' '.join(args[:2])}: exit {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout


class _Days:
    """The shortened clock: day ``n`` starts ``n * day_s`` seconds after the start, or when day n-1 ended."""

    def __init__(self, started: float, day_s: float, timeline: list) -> None:
        self.started, self.day_s, self.timeline = started, day_s, timeline

    def start(self, day: int) -> None:
        time.sleep(max(0.0, self.started + day * self.day_s - time.monotonic()))

    def done(self, day: int, step: str) -> None:
        self.timeline.append((day, step, round(time.monotonic() - self.started, 1)))


def _mount(media: Path, name: str, files=()) -> Path:
    """A stick appearing in the watched folder at once, as a mount does."""
    hidden = media / f".{name}"
    hidden.mkdir()
    for file in files:
        (hidden / file.name).write_bytes(file.read_bytes())
    os.rename(hidden, media / name)
    return media / name


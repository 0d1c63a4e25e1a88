"""Station benchmarks: printer utilization, agent-bound throughput, footprint, scrape, scale.

    python -m bench.station utilization --jobs 500 --print-ms 200
    python -m bench.station utilization --jobs 3 --panel-ms 3200 --link usb|serial [--ribbon KO]
    python -m bench.station throughput --jobs 300
    python -m bench.station footprint --jobs 1000 --idle-seconds 60 [--poll-after-s 30]
    python -m bench.station scrape --jobs 150 --scrapers 10 [--client prometheus|python]
    python -m bench.station scale --jobs 100000

Each prints one JSON object. The station runs in this process (utilization,
throughput) with the simulated printer behind the real Evolis driver on an
in-process byte pipe, so the simulator can time its own work; or as the real
daemon process (footprint, scrape, scale) against the reference job server.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent.config import load_config
from agent.jobs import ServerAccess
from agent.station import Station
from drivers.evolis.printer import EvolisPrinter
from drivers.registry import open_reader
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.host import serve_over_pipe
from testbed.station import StationHarness


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class TimedPrinter:
    """A simulated Evolis that notes when each print starts and ends and when each command arrives."""

    def __init__(self, state: Path, print_ms: int, panel_ms: int = 0, bytes_per_s: float | None = None,
                 ribbon: str = "YMCKO") -> None:
        self.sim = SimulatedEvolis(state, print_seconds=print_ms / 1000, feeder_cards=100_000,
                                   ribbon_prints=100_000, panel_seconds=panel_ms / 1000,
                                   bytes_per_s=bytes_per_s, ribbon_type=ribbon)
        self.prints: list[tuple[float, float]] = []
        self.commands: list[float] = []
        self.bytes_in = 0
        end_job = self.sim._handlers["Se"]

        def timed_end_job(command):
            started = time.perf_counter()
            try:
                return end_job(command)
            finally:
                self.prints.append((started, time.perf_counter()))

        self.sim._handlers["Se"] = timed_end_job
        feed = self.sim.feed

        def timed_feed(data: bytes) -> bytes:
            self.commands.append(time.perf_counter())
            self.bytes_in += len(data)
            return feed(data)

        self.sim.feed = timed_feed  # type: ignore[method-assign]

    def open(self) -> EvolisPrinter:
        transport, _host = serve_over_pipe(self.sim, "bench-printer")
        return EvolisPrinter(transport)

    def overheads(self) -> list[float]:
        """From each eject to the next command the printer receives."""
        gaps, i = [], 0
        for _, ended in self.prints[:-1]:
            while i < len(self.commands) and self.commands[i] <= ended:
                i += 1
            if i < len(self.commands):
                gaps.append(self.commands[i] - ended)
        return gaps


#: Bytes a second the printer's link carries: USB full speed (12 Mbit/s, about 1 MB/s of bulk data
#: in practice) and a 115,200-baud serial line (8N1: 10 bits a byte); "pipe" has no limit.
LINK_BYTES_PER_S = {"pipe": None, "usb": 1_000_000.0, "serial": 115_200 / 10}


def in_process_station(root: Path, jobs: int, print_ms: int, gate: threading.Event | None = None,
                       printer: TimedPrinter | None = None):
    harness = StationHarness(root, print_ms=print_ms)
    text = harness.config_path.read_text().replace(f"&png={harness.cards_dir}", "")
    harness.config_path.write_text(text + "\n[spool]\nprefetch_jobs = %d\n" % (jobs + 1))
    config = load_config(harness.config_path)
    printer = printer or TimedPrinter(root / "sim", print_ms)
    access = ServerAccess(harness.server.url, config.station.id, harness.creds.token_file,
                          harness.creds.server_public_key, harness.creds.station_private_key)

    def open_printer():
        if gate is not None:
            gate.wait()
        return printer.open()

    station = Station(config, access, open_printer, lambda: open_reader(config.reader.uri))
    return harness, station, printer


def wait_printed(station: Station, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if station.journal.outcome_counts()["printed"] >= count:
            return
        time.sleep(0.05)
    raise SystemExit(f"only {station.journal.outcome_counts()['printed']} of {count} printed in {timeout}s")


def utilization(args: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix="ktp-bench-"))
    rate = LINK_BYTES_PER_S[args.link]
    printer = TimedPrinter(root / "sim", args.print_ms, args.panel_ms, rate, args.ribbon)
    harness, station, printer = in_process_station(root, args.jobs, args.print_ms, printer=printer)
    per_card = args.print_ms / 1000 + 5 * args.panel_ms / 1000 + (2_200_000 / rate if rate else 0) + 1
    try:
        harness.issue(args.jobs)
        station.start()
        wait_printed(station, args.jobs, timeout=args.jobs * per_card + 60)
    finally:
        station.stop()
        harness.close()
    result = _utilization_figures(printer)
    result.update({"print_ms": args.print_ms, "panel_ms": args.panel_ms, "link": args.link,
                   "link_bytes_per_s": rate, "ribbon": args.ribbon,
                   # everything the printer received over the run (status reads included), a card
                   "bytes_per_card": round(printer.bytes_in / len(printer.prints))})
    return result


def _utilization_figures(printer: TimedPrinter) -> dict:
    first, last = printer.prints[0][0], printer.prints[-1][1]
    wall = last - first
    mechanical = sum(end - start for start, end in printer.prints)
    gaps = printer.overheads()
    # The printer is busy from a card's first command to its eject; it waits for the agent
    # from an eject to the next command. Print time proper (inside Se) is reported beside it.
    return {"bench": "utilization", "cards": len(printer.prints),
            "wall_s": round(wall, 3), "utilization": round(1 - sum(gaps) / wall, 4),
            # from one eject to the next: a card's whole cycle (commands, link, mechanics)
            "s_per_card": round((last - printer.prints[0][1]) / max(len(printer.prints) - 1, 1), 3),
            "mechanical_s_per_card": round(mechanical / len(printer.prints), 3),
            "print_time_fraction": round(mechanical / wall, 4),
            # the share of a card's cycle the print mechanism works: the printer's real utilization
            "mechanism_busy": round(mechanical / len(printer.prints)
                                    / ((last - printer.prints[0][1]) / max(len(printer.prints) - 1, 1)), 4),
            "overhead_ms_p50": round(percentile(gaps, 0.5) * 1000, 2),
            "overhead_ms_p99": round(percentile(gaps, 0.99) * 1000, 2),
            "overhead_ms_max": round(max(gaps) * 1000, 2)}


def throughput(args: argparse.Namespace) -> dict:
    import cProfile
    import pstats

    root = Path(tempfile.mkdtemp(prefix="ktp-bench-"))
    gate = threading.Event()
    harness, station, printer = in_process_station(root, args.jobs, 0, gate)
    # One per thread (a profile is not shared), timed by the thread's CPU clock, not the wall.
    profiles = (cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time))
    try:
        harness.issue(args.jobs)
        station.start()
        deadline = time.monotonic() + 300
        while station.journal.counts_by_state()[_downloaded()] < args.jobs and time.monotonic() < deadline:
            time.sleep(0.1)
        if args.profile:
            _profile_threads(station, *profiles)
        started, cpu_started = time.perf_counter(), time.process_time()
        gate.set()
        wait_printed(station, args.jobs, timeout=600)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        station.stop()
        harness.close()
    if args.profile:
        stats = pstats.Stats(profiles[0])
        stats.add(profiles[1])
    result = {"bench": "throughput", "cards": args.jobs, "seconds": round(seconds, 3),
              "cards_per_s": round(args.jobs / seconds, 1), "profiled": args.profile,
              # the whole process: the agent's threads, and the job server taking their reports
              "process_cpu_ms_per_card": round(cpu * 1000 / args.jobs, 2)}
    if args.profile:
        result["cpu_ms_per_card_by_stage"] = _by_stage(stats, args.jobs)
    return result


def _downloaded():
    from agent.journal import JobState

    return JobState.DOWNLOADED


def _profile_threads(station: Station, worker_profile, preparer_profile) -> None:
    """Profile the print worker's steps and the preparer's work, each on its own thread."""
    worker = station.printing
    step = worker._step

    def profiled_step():
        worker_profile.enable()
        try:
            return step()
        finally:
            worker_profile.disable()
    worker._step = profiled_step
    preparer = worker.preparer
    prepare = preparer._prepare

    def profiled_prepare(job):
        preparer_profile.enable()
        try:
            return prepare(job)
        finally:
            preparer_profile.disable()
    preparer._prepare = profiled_prepare


#: Entry points whose cumulative CPU time is each stage's cost: (file suffix, function names).
STAGE_ENTRIES = {
    "crypto": [("agent/manifest.py", {"open_payload"})],
    "render": [("agent/preparer.py", {"_parse"}), ("agent/render.py", {"render_front"}),
               ("drivers/evolis/printer.py", {"prepare"})],
    "journal": [("agent/journal.py", {"record_intent", "record_blank", "finish", "get", "jobs_in",
                                      "release_intent"})],
    "driver": [("drivers/evolis/printer.py", {"status", "insert_to_contactless", "print_card",
                                              "reject_card"}),
               ("drivers/pn532/reader.py", {"find_card", "release"})],
}


def _by_stage(stats, cards: int) -> dict[str, float]:
    totals = {stage: 0.0 for stage in STAGE_ENTRIES}
    everything = 0.0
    for (filename, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        everything += tottime
        for stage, entries in STAGE_ENTRIES.items():
            if any(filename.endswith(suffix) and name in names for suffix, names in entries):
                totals[stage] += cumtime
    totals["all"] = everything
    return {stage: round(seconds * 1000 / cards, 2) for stage, seconds in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    u = sub.add_parser("utilization")
    u.add_argument("--jobs", type=int, default=500)
    u.add_argument("--print-ms", type=int, default=200, help="mechanical time a card, besides its panels")
    u.add_argument("--panel-ms", type=int, default=0, help="mechanical time a panel")
    u.add_argument("--link", choices=sorted(LINK_BYTES_PER_S), default="pipe",
                   help="the printer link's byte rate: pipe (none), usb (1 MB/s), serial (115,200 baud)")
    u.add_argument("--ribbon", choices=("YMCKO", "KO"), default="YMCKO")
    t = sub.add_parser("throughput")
    t.add_argument("--jobs", type=int, default=300)
    t.add_argument("--profile", action="store_true", help="split CPU by stage (cProfile slows the run)")
    from bench.station_process import add_process_benches

    add_process_benches(sub)
    args = parser.parse_args(argv)
    from agent.observe import configure_logs

    configure_logs(level="warning")
    runner = {"utilization": utilization, "throughput": throughput}.get(args.bench) or args.runner
    print(json.dumps(runner(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks of the real daemon process: footprint, scrape latency, start-up at scale."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path


from agent.journal_guard import JOURNAL_FILE
from testbed.station import REPO, StationHarness


def add_process_benches(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("footprint")
    f.add_argument("--jobs", type=int, default=1000)
    f.add_argument("--idle-seconds", type=float, default=60.0)
    f.add_argument("--poll-after-s", type=float, default=30.0,
                   help="the poll interval the job server asks for (the protocol's example is 30 s)")
    f.add_argument("--devices", choices=("process", "in-daemon"), default="process",
                   help="simulated printer and reader in processes of their own (only the agent is "
                        "measured, as on a station with real devices), or inside the daemon")
    f.set_defaults(runner=footprint)
    s = sub.add_parser("scrape")
    s.add_argument("--jobs", type=int, default=300)
    s.add_argument("--scrapers", type=int, default=10)
    s.add_argument("--print-ms", type=int, default=50)
    s.add_argument("--devices", choices=("process", "in-daemon"), default="process",
                   help="simulated printer and reader in processes of their own (as real devices are "
                        "outside the agent), or inside the daemon")
    s.add_argument("--client", choices=("prometheus", "python"), default="prometheus",
                   help="scrape with urllib3 threads in a process of their own, or with a real Prometheus "
                        "server (one scrape job per scraper) and read its scrape_duration_seconds")
    s.set_defaults(runner=scrape)
    c = sub.add_parser("scale")
    c.add_argument("--jobs", type=int, default=100_000)
    c.set_defaults(runner=scale)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _proc(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds) of a process, from /proc."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def _daemon_station(jobs: int, print_ms: int = 0, devices: str = "in-daemon",
                    poll_after_s: float = 1) -> StationHarness:
    """A station whose printer never runs out; its devices simulated in the daemon or in processes of their own."""
    root = Path(tempfile.mkdtemp(prefix="ktp-bench-"))
    if devices == "process":
        return StationHarness(root, print_ms=print_ms, printouts=False, poll_after_s=poll_after_s,
                              standalone=["--cards", "1000000", "--ribbon", "1000000"])
    return StationHarness(root, print_ms=print_ms, printouts=False, poll_after_s=poll_after_s,
                          extra_printer="&cards=1000000&ribbon=1000000")


def footprint(args: argparse.Namespace) -> dict:
    harness = _daemon_station(args.jobs, devices=args.devices, poll_after_s=args.poll_after_s)
    try:
        job_ids = []
        for start in range(0, args.jobs, 200):
            job_ids += harness.issue(min(200, args.jobs - start))
        harness.start_daemon()
        harness.wait_reported(job_ids, timeout=args.jobs * 1.0 + 120)
        time.sleep(2)
        pid = harness.process.pid
        rss, cpu_before = _proc(pid)
        time.sleep(args.idle_seconds)
        rss_idle, cpu_after = _proc(pid)
        harness.stop_daemon()
    finally:
        harness.close()
    return {"bench": "footprint", "devices": args.devices, "poll_after_s": args.poll_after_s,
            "cards": len(job_ids), "rss_mb_after_cards": round(rss / 2**20, 1),
            "rss_mb_after_idle": round(rss_idle / 2**20, 1), "idle_seconds": args.idle_seconds,
            "idle_cpu_percent_of_a_core": round(100 * (cpu_after - cpu_before) / args.idle_seconds, 3)}


def scrape(args: argparse.Namespace) -> dict:
    if args.client == "prometheus":
        return _scrape_by_prometheus(args)
    harness = _daemon_station(args.jobs, args.print_ms, args.devices)
    try:
        job_ids = harness.issue(args.jobs)
        harness.start_daemon()
        url = f"http://127.0.0.1:{harness.metrics_port}/metrics"
        scrapers = subprocess.Popen(
            [sys.executable, "-m", "bench.scrapers", url, "--scrapers", str(args.scrapers), "--pause", "0.05",
             "--max-seconds", str(_printing_deadline(args))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
        try:
            harness.wait_reported(job_ids, timeout=_printing_deadline(args))
        finally:
            out, _ = scrapers.communicate(b"", timeout=60)
        harness.stop_daemon()
    finally:
        harness.close()
    seen = json.loads(out)
    return _scrape_result(args, "python", seen["latencies"], seen["failures"], seen["series"])


def _printing_deadline(args: argparse.Namespace) -> float:
    """Seconds the scrape bench's jobs may take to print and be reported, generously."""
    return args.jobs * (args.print_ms / 1000 + 1) + 120


def _scrape_result(args: argparse.Namespace, client: str, latencies: list[float], failures: int,
                   series: int, **extra: object) -> dict:
    return {"bench": "scrape", "client": client, "devices": args.devices, "print_ms": args.print_ms,
            "scrapers": args.scrapers, **extra, "scrapes": len(latencies), "failures": failures, "series": series,
            "latency_ms_p50": round(_percentile(latencies, 0.5) * 1000, 2),
            "latency_ms_p99": round(_percentile(latencies, 0.99) * 1000, 2),
            "latency_ms_max": round(max(latencies) * 1000, 2)}


#: Each Prometheus scrape job scrapes this often (and gives up after as long).
PROMETHEUS_INTERVAL = "50ms"


def _scrape_by_prometheus(args: argparse.Namespace) -> dict:
    """A real Prometheus scrapes the daemon with ``--scrapers`` jobs while it prints; its own
    ``scrape_duration_seconds`` (request sent .. body read and appended) is the latency."""
    from testbed.prometheus import PrometheusServer

    if shutil.which("prometheus") is None:
        raise SystemExit("scrape --client prometheus needs the prometheus binary on PATH "
                         "(apt-get install prometheus), or use --client python")

    harness = _daemon_station(args.jobs, args.print_ms, args.devices)
    prometheus = None
    try:
        harness.start_daemon()
        target = f"127.0.0.1:{harness.metrics_port}"
        prometheus = PrometheusServer(
            harness.root, global_config={"scrape_interval": PROMETHEUS_INTERVAL,
                                         "scrape_timeout": PROMETHEUS_INTERVAL},
            scrape_configs=[{"job_name": f"scraper-{n}", "static_configs": [{"targets": [target]}]}
                            for n in range(args.scrapers)])
        # Every scrape job under way before the jobs arrive, so the window covers all the printing.
        prometheus.wait_for(lambda: len(prometheus.query('up{job=~"scraper-.*"} == 1')) == args.scrapers,
                            "every scrape job scraping", time.monotonic() + 60)
        started = time.time()
        job_ids = harness.issue(args.jobs)
        harness.wait_reported(job_ids, timeout=_printing_deadline(args))
        ended = time.time()
        window = f"{int(ended - started) + 5}s"

        def while_printing(promql: str) -> list[float]:
            """Every raw sample of ``promql`` taken from the jobs' issue to their last report."""
            return [float(v) for series in prometheus.query(f"{promql}[{window}]")
                    for at, v in series["values"] if started <= float(at) <= ended]
        durations = while_printing('scrape_duration_seconds{job=~"scraper-.*"}')
        failed = sum(v == 0 for v in while_printing('up{job=~"scraper-.*"}'))
        series = max(float(s["value"][1]) for s in prometheus.query('scrape_samples_scraped{job=~"scraper-.*"}'))
        harness.stop_daemon()
    finally:
        if prometheus is not None:
            prometheus.stop()
        harness.close()
    return _scrape_result(args, "prometheus", durations, int(failed), int(series), interval=PROMETHEUS_INTERVAL)


def _fill_journal(path: Path, jobs: int) -> None:
    """Write ``jobs`` reported jobs straight into a journal made by the agent's own schema."""
    from agent.journal import Journal

    Journal(path).close()
    db = sqlite3.connect(path)
    now = time.time()
    rows = ((str(uuid.uuid4()), 1000 + i, "reported", "printed", b"{}", b"s", 30000, "00" * 32,
             "2030-01-01T00:00:00+00:00", i, 5 * i, f"04{i:012x}", 1, None, now, now,
             "2026-11-22T00:00:00Z") for i in range(jobs))
    db.executemany("INSERT INTO jobs (job_id, seq, state, outcome, manifest, signature, payload_size,"
                   " payload_sha256, expires_at, cards_before, panels_before, blank_serial, attempts, reason,"
                   " received_at, updated_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


def _per_job_cost(path: Path, samples: int = 200) -> float:
    """Milliseconds for one job's whole journal life: receive .. reported."""
    from agent.journal import JobState, Journal

    journal = Journal(path)
    started = time.perf_counter()
    for n in range(samples):
        job = f"bench-{uuid.uuid4()}"
        journal.receive(job, b"{}", b"s")
        journal.mark_verified(job, 10_000_000 + n + int(time.time() * 1000) % 1_000_000 * 1000, 1,
                              "00" * 32, "2030-01-01T00:00:00+00:00")
        journal.mark_downloaded(job)
        journal.jobs_in(JobState.DOWNLOADED, limit=3)
        journal.record_intent(job, 1, 1)
        journal.record_blank(job, "04aa")
        journal.finish(job, JobState.PRINTED, "3319-05")
        journal.pending_reports()
        journal.mark_reported(job)
        journal.counts_by_state()
    seconds = time.perf_counter() - started
    journal.close()
    return seconds * 1000 / samples


def scale(args: argparse.Namespace) -> dict:
    results = {}
    for jobs in (1_000, args.jobs):
        harness = _daemon_station(0)
        try:
            path = harness.state / JOURNAL_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            _fill_journal(path, jobs)
            started = time.perf_counter()
            harness.start_daemon()  # returns once /metrics answers: journal checked, workers running
            start_s = time.perf_counter() - started
            harness.stop_daemon()
            results[jobs] = {"start_s": round(start_s, 3), "per_job_ms": round(_per_job_cost(path), 3)}
        finally:
            harness.close()
    small, large = results[1_000], results[args.jobs]
    return {"bench": "scale", "jobs": args.jobs, "start_s": large["start_s"],
            "start_s_at_1000": small["start_s"], "per_job_ms": large["per_job_ms"],
            "per_job_ms_at_1000": small["per_job_ms"],
            "per_job_ratio": round(large["per_job_ms"] / small["per_job_ms"], 2)}

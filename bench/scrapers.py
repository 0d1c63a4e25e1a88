"""Concurrent /metrics scrapers in a process of their own.

    python -m bench.scrapers URL --scrapers 10 --pause 0.05 --max-seconds 600

Scrapes until standard input closes (or ``--max-seconds``), then prints one
JSON object: every scrape's latency in seconds, and the series count of the
last body. Kept apart from the benchmark's process so that the job server
living there does not slow the scrapers' own clocks.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import urllib3


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scrapers")
    parser.add_argument("url")
    parser.add_argument("--scrapers", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between one scraper's scrapes")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    latencies: list[float] = []
    failures = 0
    series = 0
    lock = threading.Lock()
    done = threading.Event()

    def scraper() -> None:
        nonlocal failures, series
        http = urllib3.PoolManager(retries=False)
        while not done.is_set():
            started = time.perf_counter()
            try:
                response = http.request("GET", args.url, timeout=10)
            except urllib3.exceptions.HTTPError:
                with lock:
                    failures += 1
                done.wait(args.pause)
                continue
            elapsed = time.perf_counter() - started
            with lock:
                if response.status == 200:
                    latencies.append(elapsed)
                    series = sum(1 for line in response.data.splitlines() if line and not line.startswith(b"#"))
                else:
                    failures += 1
            done.wait(args.pause)

    threads = [threading.Thread(target=scraper, daemon=True) for _ in range(args.scrapers)]
    for t in threads:
        t.start()
    closer = threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True)
    closer.start()
    done.wait(args.max_seconds)
    done.set()
    for t in threads:
        t.join(15)
    json.dump({"latencies": latencies, "failures": failures, "series": series}, sys.stdout)


if __name__ == "__main__":
    main()

"""The seven-day outage on a shortened clock: the link is cut, a bundle arrives on day two, every job
prints, the results go home on a stick, then the link returns (``testbed/outage.py`` says how).

    sudo .venv/bin/python -m bench.outage                          # 2 online + 20 offline jobs, 10 s days
    sudo .venv/bin/python -m bench.outage --via import --results-via export --day-seconds 5

Prints the week's timeline and its end conditions from the server's side:
every job's report held once and none refused, the receipts applied, the
station's outbox empty, each blank the printer took accounted for by exactly
one report. Exits 1 when a condition is missed, 2 when no namespace can be made.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from testbed.outage import OutageScenario
from testbed.station_link import unavailable_reason


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--online", type=int, default=2, help="jobs printed on day 0, before the cut")
    parser.add_argument("--offline", type=int, default=20, help="jobs issued during the outage, sent on the stick")
    parser.add_argument("--day-seconds", type=float, default=10.0, help="wall-clock seconds a scenario day lasts")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--print-ms", type=int, default=200, help="the simulated printer's time a card")
    parser.add_argument("--via", choices=("watch", "import"), default="watch",
                        help="the bundle arrives on a stick in the watched folder, or by `ktp-agent import`")
    parser.add_argument("--results-via", choices=("stick", "export"), default="stick",
                        help="receipts written on a mounted stick by the station, or by `ktp-agent export-results`")
    parser.add_argument("--json", type=Path, help="also write the outcome here")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"bench/outage.py: cannot build the station's link: {reason}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ktp-outage-") as tmp:
        scenario = OutageScenario(Path(tmp), online=args.online, offline=args.offline, day_s=args.day_seconds,
                                  days=args.days, print_ms=args.print_ms, via=args.via,
                                  results_via=args.results_via)
        outcome = scenario.run()
    seconds = time.monotonic() - started
    print(scenario.clock_note())
    report(outcome, seconds)
    if args.json:
        args.json.write_text(json.dumps({"seconds": seconds, **asdict(outcome)}, indent=1))
    return 1 if outcome.failures() else 0


def report(outcome, seconds: float) -> None:
    print("\n| day | s | what happened |\n|---:|---:|---|")
    for day, step, at in outcome.timeline:
        print(f"| {day} | {at:.1f} | {step} |")
    jobs = len(outcome.online) + len(outcome.offline)
    receipts = outcome.receipts
    print("\n| jobs (online + offline) | reports held at the server | refused | receipts applied / duplicates / "
          "conflicts | outbox at the end | blanks taken / reported (audit) | payloads fetched after the return "
          "| run s |")
    print("|---|---:|---:|---|---:|---|---:|---:|")
    print(f"| {jobs} ({len(outcome.online)} + {len(outcome.offline)}) | {len(outcome.results)} | {outcome.conflicts}"
          f" | {receipts.get('applied')} / {receipts.get('duplicates')} / {len(receipts.get('conflicts', []))} | "
          f"{outcome.outbox} | {outcome.cards_inserted} / {outcome.audit.get('consumed_reports')} "
          f"({'each once' if outcome.audit.get('each_blank_once') else 'NOT each once'}) | "
          f"{outcome.payloads_after_return} | {seconds:.0f} |")
    missed = outcome.failures()
    print("\nend conditions: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))


if __name__ == "__main__":
    sys.exit(main())

"""Wire bytes: what a batch of cards and an idle hour cost on the station's link, counted by nftables.

    sudo .venv/bin/python bench/wire_bytes.py                       # this tree's code, 20 cards, 300 s idle
    sudo .venv/bin/python bench/wire_bytes.py --checkout /work/wt-before18

The reference job server runs in this process, over TLS (its own
``ssl_context``, a CA made for the run and pinned by the station as
``[server] ca_file``), on the near end of a veth pair; the real daemon runs
in a network namespace at the far end (``testbed/station_link.py``). The
link has MTU 1,500 and no segmentation offload, so nftables in the station's
namespace counts every IP packet as it would cross a real link, IP and TCP
headers, TLS records and handshakes included, both ways. The station runs
with its default settings (only ids, keys, devices and paths configured) and
the server with its default poll interval; devices are the simulated ones
inside the daemon, printing at once (``--print-ms``), printouts off.

Batch: from just before N jobs are issued until the server holds all N
reports (the station picks them up at its next poll). Payload bytes are the
N payloads' sizes (the encrypted card data); everything else on the wire is
overhead: polls, manifests, headers, reports, TLS, TCP/IP.

Idle: after the batch, a window starting 1 s after a request to the server
ended and ending 1 s after the first request to end once ``--idle-seconds``
have passed, so it spans whole poll intervals at the real default rate;
bytes in it are scaled to an hour.

``--checkout PATH`` measures another checkout's agent and job server with
this harness (the bench re-runs itself with PATH's ``.venv`` when it has one).
The last line printed is a markdown table row for docs/benchmarks.md.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1]


def _checkout_from_argv(argv: list[str]) -> Path:
    for i, arg in enumerate(argv):
        if arg == "--checkout" and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if arg.startswith("--checkout="):
            return Path(arg.split("=", 1)[1]).resolve()
    return HARNESS


def _use_checkout(checkout: Path) -> None:
    """The harness (bench, testbed) from this tree; agent, drivers and jobserver from ``checkout``."""
    python = checkout / ".venv" / "bin" / "python"
    if checkout != HARNESS and python.exists() and Path(sys.executable) != python \
            and not os.environ.get("KTP_BENCH_CHECKOUT"):
        os.environ["KTP_BENCH_CHECKOUT"] = str(checkout)
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.path.insert(0, str(HARNESS))
    import bench  # noqa: F401  (bound to this tree before the checkout joins the path)
    import testbed  # noqa: F401
    if checkout != HARNESS:
        sys.path.insert(0, str(checkout))


CHECKOUT = _checkout_from_argv(sys.argv)
_use_checkout(CHECKOUT)

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from testbed.pki import make_server_pki  # noqa: E402
from testbed.station import StationHarness  # noqa: E402
from testbed.station_link import ImpairedLinkError, StationLink, WireCount, unavailable_reason  # noqa: E402


class RequestTally:
    """When each request the server answered ended, and its path's kind (poll, payload, result, ...);
    how many reached it (a held long poll has started but not ended)."""

    def __init__(self, server) -> None:
        self.ended: list[tuple[float, str]] = []
        self.started = 0
        self._lock = threading.Lock()
        api = getattr(server, "_api", None)  # the reference server's router: wrapped on this instance, to observe
        self.observing = callable(getattr(api, "handle", None))
        if not self.observing:  # a server built otherwise: windows by the clock alone, requests not counted
            return
        handle = api.handle

        def observed(request):
            with self._lock:
                self.started += 1
            try:
                return handle(request)
            finally:
                kind = request.target.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                kind = "payload" if re.fullmatch(r"[0-9a-f]{64}", kind) else kind
                with self._lock:
                    self.ended.append((time.monotonic(), kind))

        api.handle = observed

    def any_started(self) -> bool:
        """A request reached the server (a long poll may hold it open for minutes)."""
        with self._lock:
            return self.started > 0

    def last_end(self) -> float | None:
        with self._lock:
            return self.ended[-1][0] if self.ended else None

    def kinds_between(self, start: float, end: float) -> dict[str, int]:
        with self._lock:
            seen: dict[str, int] = {}
            for at, kind in self.ended:
                if start <= at <= end:
                    seen[kind] = seen.get(kind, 0) + 1
            return seen


def wait_until(predicate, what: str, timeout: float, daemon=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if daemon is not None and daemon.process.poll() is not None:
            raise SystemExit(f"daemon exited while waiting for {what}:\n{daemon.log()[-3000:]}")
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def station_bytes(link: StationLink, station: StationHarness) -> int | None:
    """The station's own ``ktp_link_bytes_total``, all kinds, scraped inside its namespace."""
    try:
        text = link.exec_checked(["curl", "-s", "-m", "5", f"http://127.0.0.1:{station.metrics_port}/metrics"])
    except ImpairedLinkError:  # curl missing or the scrape failed: the figure is optional
        return None
    found = re.findall(r"^ktp_link_bytes_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    return int(sum(float(v) for v in found)) if found else None


def settle_after_request(tally: RequestTally, after: float, timeout: float, daemon) -> float:
    """1 s after the first request to end at or after ``after``; returns that instant (``after``
    itself when requests cannot be observed)."""
    if not tally.observing:
        return after
    ended = wait_until(lambda: (t := tally.last_end()) is not None and t >= after and t, "a request to the server",
                       timeout, daemon)
    time.sleep(max(0.0, ended + 1.0 - time.monotonic()))
    return ended + 1.0


def run_batch(link, station, tally, cards: int) -> dict:
    before, est_before = link.count(), station_bytes(link, station)
    started = time.monotonic()
    job_ids = station.issue(cards)
    payload = sum(json.loads(station.server.store.job(j).manifest)["payload"]["size"] for j in job_ids)
    results = station.server.store.results
    wait_until(lambda: all(j in results() for j in job_ids), f"{cards} reports", 120 + 5 * cards, station)
    ended = time.monotonic()
    time.sleep(1.0)  # the last report's answer and its ACKs
    count = link.count().minus(before)
    est_after = station_bytes(link, station)
    return {"cards": cards, "payload_bytes": payload, "wire": count.__dict__, "wire_bytes": count.total_bytes,
            "wire_per_payload": count.total_bytes / payload,
            "overhead_per_card": (count.total_bytes - payload) / cards,
            "batch_seconds": ended - started, "requests": tally.kinds_between(started, ended + 1),
            "station_counted_bytes": None if est_before is None or est_after is None else est_after - est_before}


def run_idle(link, station, tally, idle_s: float) -> dict:
    poll_wait = idle_s + 600  # a poll is due within the server's interval (or the long poll's wait)
    start = settle_after_request(tally, time.monotonic(), poll_wait, station)
    before = link.count()
    time.sleep(idle_s)
    end = settle_after_request(tally, time.monotonic(), poll_wait, station)
    count: WireCount = link.count().minus(before)
    window = end - start
    return {"idle_seconds": window, "idle_wire": count.__dict__, "idle_bytes": count.total_bytes,
            "idle_requests": tally.kinds_between(start, end) if tally.observing else None,
            "idle_bytes_per_hour": count.total_bytes * 3600 / window}


def measure(args: argparse.Namespace, work: Path) -> dict:
    daemon_python = CHECKOUT / ".venv" / "bin" / "python"
    with StationLink(mtu=args.mtu, rate_kbit=args.rate_kbit) as link:
        pki = make_server_pki(work / "pki", [link.server_address])
        station = StationHarness(work / "station", printouts=False, print_ms=args.print_ms, poll_after_s=None,
                                 server_host=link.server_address, server_pki=pki, launcher=link.argv([]),
                                 code_root=CHECKOUT,
                                 python=str(daemon_python) if daemon_python.exists() else sys.executable)
        try:
            tally = RequestTally(station.server)
            station.start_daemon()
            if tally.observing:
                wait_until(tally.any_started, "the station's first request", 60, station)
            time.sleep(1.0 if tally.observing else 10.0)
            batch = run_batch(link, station, tally, args.cards)
            idle = run_idle(link, station, tally, args.idle_seconds) if args.idle_seconds > 0 else {}
            oversize = link.count().oversize
        finally:
            station.close()
    if oversize:
        raise SystemExit(f"{oversize} packets longer than the MTU were counted: offload is on, the count is wrong")
    return {"code": describe(CHECKOUT), "checkout": str(CHECKOUT), "mtu": args.mtu, "rate_kbit": args.rate_kbit,
            "tls": True, **batch, **idle}


def describe(checkout: Path) -> str:
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), *argv], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def markdown_row(r: dict) -> str:
    wire = r["wire"]
    requests = "requests not observed" if r.get("idle_requests") is None else \
        f"{sum(r['idle_requests'].values())} requests"
    idle = (f"{r['idle_seconds']:.0f} s, {requests} | "
            f"{r['idle_bytes']:,} | **{r['idle_bytes_per_hour'] / 1000:,.1f} KB**") if "idle_bytes" in r else "- | - | -"
    return (f"| {r['code']} | {r['cards']} | {r['payload_bytes']:,} | {r['wire_bytes']:,} "
            f"({wire['up_bytes']:,} up / {wire['down_bytes']:,} down, {wire['up_packets'] + wire['down_packets']:,}"
            f" packets) | **{r['wire_per_payload']:.3f}** | {r['overhead_per_card']:,.0f} | {idle} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=HARNESS, help="the checkout whose code is measured")
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=300, help="0 skips the idle window")
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--rate-kbit", type=int, default=None, help="shape both directions with tc tbf")
    parser.add_argument("--print-ms", type=int, default=0, help="the simulated printer's time a card")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"bench/wire_bytes.py: cannot build the station's link: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ktp-wire-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        result = measure(args, work)
    print(json.dumps(result, indent=1))
    polls = (result.get("idle_requests") or {}).get("jobs")
    if polls is not None and polls < 2:
        print(f"warning: {polls} polls in the idle window; raise --idle-seconds to span two or more", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print("| code | cards | payload B | wire B | wire ÷ payload | overhead a card, B | idle window | "
          "idle wire B | idle an hour |")
    print(markdown_row(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

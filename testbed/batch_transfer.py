"""Both ends of a batch transfer, runnable inside a namespace (``python -m testbed.batch_transfer``).

``serve``: the reference job server with N jobs for one station; writes the
payload references (url, size, sha256) and the token to a JSON file.
``fetch``: the agent's download code over a list of references, ``--parallel``
payloads at a time (each worker takes the next in list order), with the
Fetcher's policy (``fetch_until_done``: resume at once while progress is
made; otherwise exponential back-off with jitter; Retry-After honoured;
corrupt fetches bounded); prints a JSON summary.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

STATION = "3319-05"
TOKEN = "netlink-token"


def serve(args: argparse.Namespace) -> None:
    from Crypto.PublicKey import ECC

    from jobserver.server import JobServer
    from jobserver.store import JobStore

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    store = JobStore(None, ECC.generate(curve="Ed25519"), {STATION: ECC.generate(curve="X25519").public_key()})
    job_ids = store.add_jobs(STATION, args.jobs)
    refs = []
    for job_id in job_ids:
        payload = json.loads(store.job(job_id).manifest)["payload"]
        refs.append({"url": payload["url"], "size": payload["size"], "sha256": payload["sha256"]})
    server = JobServer(store, "127.0.0.1", args.port, tokens={TOKEN: STATION}).start()
    Path(args.out).write_text(json.dumps({"url": server.url, "token": TOKEN, "refs": refs}))
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


def fetch(args: argparse.Namespace) -> dict:
    from agent.config import TransferConfig
    from agent.errors import LinkError
    from agent.jobs.fetcher import fetch_until_done
    from agent.jobs.link import RetryLaterError, ServerLink
    from agent.jobs.manifest import PayloadRef
    from agent.jobs.transfer import PayloadCorruptError, PayloadDownload

    doc = json.loads(Path(args.refs).read_text())
    policy = TransferConfig(stall_seconds=args.stall_seconds)
    counted: Counter = Counter()
    events: Counter = Counter()

    tally = threading.Lock()  # the download threads count into the same tallies

    def count(kind: str, n: int) -> None:
        with tally:
            counted[kind] += n

    def note(event: str, n: int = 1) -> None:
        with tally:
            events[event] += n

    def broken(exc) -> None:
        note("broken")
        note("stalls", int(exc.stalled))

    link = ServerLink(doc["url"], STATION, doc.get("token", "none"))
    spool = Path(args.spool)
    spool.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.deadline
    started = time.monotonic()

    def fetch_one(i: int, raw: dict) -> bool:
        ref = PayloadRef(url=raw["url"], size=raw["size"], sha256=raw["sha256"], enc_key=b"")
        failures = 0
        while time.monotonic() < deadline:
            download = PayloadDownload(link, spool, f"job-{i:03d}", ref, stall_seconds=policy.stall_seconds,
                                       count_bytes=count, on_resume=lambda offset: note("resumes"))
            try:
                path = fetch_until_done(download, lambda: False, broken)
            except PayloadCorruptError as exc:
                note("corrupt")
                if exc.fetches >= policy.max_corrupt_fetches:
                    return False
                continue
            except RetryLaterError as exc:
                time.sleep(exc.retry_after)
                continue
            except LinkError:
                failures += 1
                note("backoffs")
                wait = min(policy.retry_max_seconds, policy.retry_initial_seconds * 2 ** (failures - 1))
                time.sleep(wait + random.uniform(0, policy.retry_initial_seconds))
                continue
            return hashlib.sha256(path.read_bytes()).hexdigest() == ref.sha256
        return False

    # Each thread takes the next payload in list order as it finishes one.
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        good = sum(pool.map(fetch_one, range(len(doc["refs"])), doc["refs"]))
    summary = {"client": "agent", "parallel": args.parallel, "seconds": time.monotonic() - started,
               "payloads": len(doc["refs"]),
               "verified": good, "payload_bytes": sum(r["size"] for r in doc["refs"]),
               "bytes": dict(counted), **{k: events[k] for k in ("resumes", "broken", "stalls", "backoffs",
                                                                   "corrupt")}}
    link.close()
    summary["wire"] = vars(link.wire_bytes())  # the link's own socket count, its connections' close included
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.batch_transfer")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--jobs", type=int, default=5)
    s.add_argument("--out", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("--refs", required=True)
    f.add_argument("--spool", required=True)
    f.add_argument("--stall-seconds", type=int, default=10)
    f.add_argument("--deadline", type=float, default=60.0, help="give up the batch after this many seconds")
    f.add_argument("--parallel", type=int, default=1, help="payloads in flight at once")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    else:
        json.dump(fetch(args), sys.stdout)


if __name__ == "__main__":
    main()

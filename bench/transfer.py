"""Transfer benchmark: a batch of payloads over a slow, lossy, resetting link.

    sudo .venv/bin/python bench/transfer.py            # 50 x 40 KB, 256 kbit/s, 2% drops, reset/~64 KB

The bench makes its own network namespace (testbed/impaired_link.py): ``lo``
shaped by ``tc tbf`` to the rate, nftables dropping 1 packet in 50 at random
and resetting the connection with a TCP reset on about one client ACK per
64 KB of payload (the ACK rate per byte is measured first with a short,
reset-free calibration batch). nginx serves the payload files with ranges and
ETags inside the namespace. The same batch is then fetched, one after the
other on the same link, by:

- ``agent:2``: PayloadDownload with the Fetcher's policy (testbed/batch_transfer.py),
  two payloads in flight as the Fetcher's default ``parallel_downloads``;
  ``agent``: one at a time,
- ``curl``: ``curl --continue-at - --retry 5`` per file, re-run in a loop until it succeeds,
- ``aria2``: ``aria2c -i list`` (one download at a time, one connection, unlimited tries);
  ``aria2:2``: two at a time.

Reported per client: batch seconds against the physical limit (payload bits /
rate), payload verified, the agent's wasted-bytes ratio (received then
discarded) and, for every client, the body bytes nginx sent beyond the batch
(lost in resets or sent again), resets and drops the link applied.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed.impaired_link import ImpairedLink, unavailable_reason  # noqa: E402

PORT = 8080
NGINX_CONF = """
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    default_type application/octet-stream;
    log_format bench escape=none '$status $body_bytes_sent';
    access_log {root}/access.log bench;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port};
        location /v1/payloads/ {{ alias {root}/www/; }}
    }}
}}
"""


def make_payloads(root: Path, count: int, size: int) -> list[dict]:
    www = root / "www"
    www.mkdir(parents=True)
    refs = []
    for _ in range(count):
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        (www / digest).write_bytes(data)
        refs.append({"url": f"/v1/payloads/{digest}", "size": size, "sha256": digest})
    return refs


def start_nginx(link: ImpairedLink, root: Path) -> subprocess.Popen:
    (root / "tmp").mkdir(exist_ok=True)
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=PORT))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = link.popen([nginx, "-c", str(root / "nginx.conf"), "-p", str(root)],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        probe = subprocess.run(link.argv(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{PORT}"]),
                               capture_output=True)
        if probe.returncode == 0:
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start in the namespace")


def served_bytes(root: Path) -> int:
    log = root / "access.log"
    total = 0
    for line in log.read_text().splitlines() if log.exists() else []:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            total += int(parts[1])
    return total


def verified(out_dir: Path, refs: list[dict], name) -> int:
    good = 0
    for i, ref in enumerate(refs):
        path = out_dir / name(i, ref)
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]:
            good += 1
    return good


def run_agent(link, work: Path, refs, stall_s: int, deadline_s: float, parallel: int = 1) -> dict:
    refs_file = work / "agent-refs.json"
    refs_file.write_text(json.dumps({"url": f"http://127.0.0.1:{PORT}", "token": "bench", "refs": refs}))
    spool = work / "agent-spool"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "testbed.batch_transfer", "fetch", "--refs", str(refs_file), "--spool", str(spool),
            "--stall-seconds", str(stall_s), "--deadline", str(deadline_s), "--parallel", str(parallel)]
    out = subprocess.run(link.argv(argv), capture_output=True, cwd=REPO, env=env, timeout=deadline_s + 60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode()[-2000:])
    summary = json.loads(out.stdout)
    summary["verified"] = verified(spool, refs, lambda i, r: f"job-{i:03d}.payload")
    return summary


def run_curl(link, work: Path, refs, stall_s: int, deadline_s: float) -> dict:
    out_dir = work / "curl"
    out_dir.mkdir()
    lines = []
    for i, ref in enumerate(refs):
        url = f"http://127.0.0.1:{PORT}{ref['url']}"
        lines.append(f"n=0; until curl -sS --continue-at - --retry 5 --speed-limit 1 --speed-time {stall_s} "
                     f"-o {out_dir}/{i:03d} {url} 2>>{work}/curl.err; do n=$((n+1)); "
                     f"[ $n -ge 200 ] && break; done; echo $n >> {work}/curl.reruns")
    script = work / "curl.sh"
    script.write_text("set -u\n" + "\n".join(lines) + "\n")
    started = time.monotonic()
    subprocess.run(link.argv(["bash", str(script)]), timeout=deadline_s + 60)
    seconds = time.monotonic() - started
    reruns = sum(int(x) for x in (work / "curl.reruns").read_text().split())
    return {"client": "curl", "seconds": seconds, "payloads": len(refs), "reruns": reruns,
            "verified": verified(out_dir, refs, lambda i, r: f"{i:03d}")}


def run_aria2(link, work: Path, refs, stall_s: int, deadline_s: float, parallel: int = 1) -> dict:
    out_dir = work / "aria2"
    out_dir.mkdir()
    listing = work / "aria2.list"
    listing.write_text("".join(f"http://127.0.0.1:{PORT}{r['url']}\n  out={i:03d}\n" for i, r in enumerate(refs)))
    argv = ["aria2c", "-q", "-i", str(listing), "-d", str(out_dir), "-j", str(parallel), "-x", "1", "-s", "1",
            "--max-tries=0", f"--timeout={stall_s}", "--continue=true", "--file-allocation=none",
            "--auto-file-renaming=false", "--summary-interval=0", "--console-log-level=error"]
    started = time.monotonic()
    subprocess.run(link.argv(argv), timeout=deadline_s + 60, capture_output=True)
    return {"client": "aria2", "seconds": time.monotonic() - started, "payloads": len(refs),
            "verified": verified(out_dir, refs, lambda i, r: f"{i:03d}")}


def calibrate(link, work: Path, refs: list[dict], stall_s: int) -> float:
    """Client pure ACKs per payload byte, from a reset-free batch (curl, a handful of payloads)."""
    link.reset_counters()
    sample = refs[:5]
    calib = work / "calibration"
    calib.mkdir()
    run_curl(link, calib, sample, stall_s, 120)
    counters = link.counters()
    return counters["acks"] / sum(r["size"] for r in sample)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payloads", type=int, default=50)
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--rate-kbit", type=int, default=256)
    parser.add_argument("--drop-one-in", type=int, default=50)
    parser.add_argument("--reset-every-kb", type=float, default=64.0)
    parser.add_argument("--stall-seconds", type=int, default=10)
    parser.add_argument("--clients", default="agent:2,agent,curl,aria2,aria2:2",
                        help="comma-separated; agent:N and aria2:N fetch N payloads at a time")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"bench/transfer.py: cannot build the impaired link: {reason}", file=sys.stderr)
        return 2
    physical = args.payloads * args.size * 8 / (args.rate_kbit * 1000)
    deadline = physical * 6
    runners = {"agent": run_agent, "curl": run_curl, "aria2": run_aria2}
    with tempfile.TemporaryDirectory(prefix="ktp-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        refs = make_payloads(work / "nginx", args.payloads, args.size)
        with ImpairedLink(args.rate_kbit, drop_one_in=args.drop_one_in, reset_one_in=None,
                          reset_port=PORT) as link:
            nginx = start_nginx(link, work / "nginx")
            try:
                acks_per_byte = calibrate(link, work, refs, args.stall_seconds)
                reset_one_in = max(2, round(args.reset_every_kb * 1024 * acks_per_byte))
                link.set_reset_one_in(reset_one_in)
                results = []
                for spec in args.clients.split(","):
                    name, _, parallel = spec.partition(":")
                    (work / "nginx" / "access.log").write_text("")
                    subprocess.run(link.argv(["kill", "-USR1", str(nginx.pid)]))  # reopen the log
                    time.sleep(0.2)
                    link.reset_counters()
                    run_dir = work / spec.replace(":", "-")
                    run_dir.mkdir()
                    extra = {"parallel": int(parallel)} if parallel else {}
                    result = runners[name](link, run_dir, refs, args.stall_seconds, deadline, **extra)
                    result["client"] = spec
                    counters = link.counters()
                    result.update(served=served_bytes(work / "nginx"), resets=counters["resets"],
                                  drops=counters["drops"])
                    results.append(result)
                    print(json.dumps(result), file=sys.stderr)
            finally:
                nginx.terminate()
                nginx.wait(10)
    report(args, physical, acks_per_byte, reset_one_in, results)
    if args.json:
        Path(args.json).write_text(json.dumps({"physical_s": physical, "reset_one_in": reset_one_in,
                                               "acks_per_byte": acks_per_byte, "results": results}, indent=1))
    return 0


def report(args, physical: float, acks_per_byte: float, reset_one_in: int, results: list[dict]) -> None:
    batch = args.payloads * args.size
    print(f"link: {args.rate_kbit} kbit/s tbf, 1/{args.drop_one_in} packets dropped, reset on 1/{reset_one_in}"
          f" client ACKs (measured {acks_per_byte * 1024:.3f} ACKs/KB -> ~1 reset per {args.reset_every_kb:.0f} KB)")
    print(f"batch: {args.payloads} x {args.size} B = {batch} B; physical limit {physical:.1f} s")
    print(f"{'client':8} {'seconds':>8} {'x limit':>8} {'verified':>9} {'resets':>7} {'KB/reset':>9} "
          f"{'drops':>6} {'served/batch':>13} {'wasted/payload':>15}")
    for r in results:
        wasted = ""
        if "bytes" in r:
            wasted = f"{r['bytes'].get('wasted', 0) / batch:.2%}"
        per_reset = f"{batch / 1024 / r['resets']:.0f}" if r["resets"] else "-"
        print(f"{r['client']:8} {r['seconds']:8.1f} {r['seconds'] / physical:8.2f} "
              f"{r['verified']:>4}/{r['payloads']:<4} {r['resets']:7d} {per_reset:>9} {r['drops']:6d} "
              f"{r['served'] / batch:13.3f} {wasted:>15}")


if __name__ == "__main__":
    sys.exit(main())
